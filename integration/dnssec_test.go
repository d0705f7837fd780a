package integration

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/integration/lab"
)

// TestDNSSEC checks the lab reproduces the Slack 2021 shape: a child zone
// whose DNSKEY no longer matches the DS at its parent fails validation
// (SERVFAIL with an Extended DNS Error) while the same query with CD=1
// succeeds and the authoritative servers answer normally.
func TestDNSSEC(t *testing.T) {
	t.Parallel()
	l := lab.StartDNS(t, lab.DNSOptions{})
	resolver := l.ResolverAddrs[0]
	good, broken := l.Zones["good.test."], l.Zones["broken.test."]

	r := query(t, resolver, "www.good.test.", lab.QueryFlags{RD: true})
	wantAnswer(t, r, dns.RcodeSuccess, true, good.WWW)

	// Valid before the break, so the break must also get past the cache.
	r = query(t, resolver, "www.broken.test.", lab.QueryFlags{RD: true})
	wantAnswer(t, r, dns.RcodeSuccess, true, broken.WWW)

	newTag := l.BreakDNSKEY("broken.test.")
	if newTag == broken.DSKeyTag {
		t.Fatalf("BreakDNSKEY kept key tag %d", newTag)
	}

	// The authoritative servers are fine: they serve the new key only.
	for _, ns := range broken.NS {
		r := query(t, ns.AddrPort(), "www.broken.test.", lab.QueryFlags{})
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
			t.Errorf("@%s (%s): rcode %s aa=%v, want NOERROR with AA", ns.AddrPort(), ns.Host, dns.RcodeToString[r.Rcode], r.Authoritative)
		}
		keys := dnskeyTags(query(t, ns.AddrPort(), "broken.test.", lab.QueryFlags{}, dns.TypeDNSKEY))
		if !slices.Equal(keys, []uint16{newTag}) {
			t.Errorf("@%s serves DNSKEY tags %v, want [%d]", ns.AddrPort(), keys, newTag)
		}
	}

	// Validation fails: SERVFAIL with an EDE, first fresh, then from cache.
	var codes []uint16
	for _, when := range []string{"first query", "repeated (bogus cache)"} {
		r := query(t, resolver, "www.broken.test.", lab.QueryFlags{RD: true})
		if r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("%s: www.broken.test. rcode %s, want SERVFAIL\n%v", when, dns.RcodeToString[r.Rcode], r)
		}
		ede := lab.EDE(r)
		if len(ede) == 0 {
			t.Fatalf("%s: SERVFAIL without an Extended DNS Error\n%v", when, r)
		}
		for _, e := range ede {
			t.Logf("%s: SERVFAIL with EDE %d (%s) %q", when, e.InfoCode, dns.ExtendedErrorCodeToString[e.InfoCode], e.ExtraText)
			// 6..12 are the DNSSEC codes (Bogus, Signature Expired, ...
			// DNSKEY Missing, RRSIGs Missing, No Zone Key Bit Set).
			if e.InfoCode < dns.ExtendedErrorCodeDNSBogus || e.InfoCode > dns.ExtendedErrorCodeNoZoneKeyBitSet {
				t.Errorf("%s: EDE %d is not a DNSSEC error code (6-12)", when, e.InfoCode)
			}
		}
		codes = append(codes, ede[0].InfoCode)
	}
	// Unbound 1.17 says why on the fresh failure (9, DNSKEY Missing: no
	// DNSKEY matches the DS) and only "bogus" (6) from its cache.
	if codes[0] != dns.ExtendedErrorCodeDNSKEYMissing {
		t.Errorf("fresh failure: EDE %d, want %d (DNSKEY Missing)", codes[0], dns.ExtendedErrorCodeDNSKEYMissing)
	}

	// CD=1: the resolver hands over the data without validating it.
	r = query(t, resolver, "www.broken.test.", lab.QueryFlags{RD: true, CD: true})
	wantAnswer(t, r, dns.RcodeSuccess, false, broken.WWW)

	// A sibling zone is unaffected.
	r = query(t, resolver, "www.good.test.", lab.QueryFlags{RD: true})
	wantAnswer(t, r, dns.RcodeSuccess, true, good.WWW)

	l.RestoreDNSKEY("broken.test.")
	r = query(t, resolver, "www.broken.test.", lab.QueryFlags{RD: true})
	wantAnswer(t, r, dns.RcodeSuccess, true, broken.WWW)
}

// query asks server for name (type A unless given) and fails the test on a
// network error.
func query(t *testing.T, server, name string, f lab.QueryFlags, qtype ...uint16) *dns.Msg {
	t.Helper()
	typ := dns.TypeA
	if len(qtype) > 0 {
		typ = qtype[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := lab.Query(ctx, server, name, typ, f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantAnswer checks rcode, the AD bit and that the answer holds an A record
// with addr.
func wantAnswer(t *testing.T, r *dns.Msg, rcode int, ad bool, addr netip.Addr) {
	t.Helper()
	q := r.Question[0].Name
	if r.Rcode != rcode || r.AuthenticatedData != ad {
		t.Fatalf("%s: rcode %s ad=%v, want %s ad=%v\n%v", q, dns.RcodeToString[r.Rcode], r.AuthenticatedData,
			dns.RcodeToString[rcode], ad, r)
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.String() == addr.String() {
			return
		}
	}
	t.Fatalf("%s: no A %s in the answer\n%v", q, addr, r)
}

func dnskeyTags(r *dns.Msg) []uint16 {
	var tags []uint16
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			tags = append(tags, k.KeyTag())
		}
	}
	slices.Sort(tags)
	return tags
}
