package dnsprobe

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

func genKey(t *testing.T, zone string, flags uint16, alg uint8) *dns.DNSKEY {
	t.Helper()
	k := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     flags,
		Protocol:  3,
		Algorithm: alg,
	}
	bits := 256
	if alg == dns.RSASHA256 {
		bits = 1024
	}
	if _, err := k.Generate(bits); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheckDS(t *testing.T) {
	t.Parallel()
	const zone = "example.test."
	ksk := genKey(t, zone, 257, dns.ECDSAP256SHA256)
	zsk := genKey(t, zone, 256, dns.ECDSAP256SHA256)
	other := genKey(t, zone, 257, dns.ECDSAP256SHA256)
	for other.KeyTag() == ksk.KeyTag() || other.KeyTag() == zsk.KeyTag() {
		other = genKey(t, zone, 257, dns.ECDSAP256SHA256)
	}
	good := ksk.ToDS(dns.SHA256)
	goodSHA1 := ksk.ToDS(dns.SHA1)
	badTag := other.ToDS(dns.SHA256)
	badDigest := ksk.ToDS(dns.SHA256)
	badDigest.Digest = strings.Repeat("AB", 32)
	badAlg := ksk.ToDS(dns.SHA256)
	badAlg.Algorithm = dns.RSASHA256
	badType := ksk.ToDS(dns.SHA256)
	badType.DigestType = 5

	tagsOfZone := fmt.Sprintf("%d, %d", min(ksk.KeyTag(), zsk.KeyTag()), max(ksk.KeyTag(), zsk.KeyTag()))
	ksktag := ksk.KeyTag()

	// An authoritative server serving the given DNSKEYs.
	auth := func(keys ...dns.RR) model.AuthServer {
		data := mustRRs(t, zone+" 3600 IN SOA ns1.example.test. h.example.test. 1 2 3 4 5")
		data.add(keys...)
		s := startServer(t, authHandler(zone, data))
		return model.AuthServer{Host: "ns.example.test.", Addr: mustAddrPort(t, s.Addr), Sources: []model.AuthSource{model.SourceConfig}}
	}
	signed := auth(ksk, zsk)
	rolled := auth(other, zsk)
	empty := auth()
	refusing := startServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeRefused)
		_ = w.WriteMsg(m)
	})
	down := model.AuthServer{Host: "down.example.test.", Addr: mustAddrPort(t, closedPort(t))}

	// A resolver holding the given DS set; like a validating resolver in
	// front of a bogus zone it SERVFAILs unless CD=1.
	resolver := func(ds ...dns.RR) []model.Server {
		data := mustRRs(t, "test. 86400 IN SOA ns.parent.test. h.test. 1 7200 3600 1209600 300",
			zone+" 3600 IN NS ns1.example.test.")
		data.add(ds...)
		s := startServer(t, resolverHandler(data, func(req *dns.Msg) bool { return !req.CheckingDisabled }, nil))
		return []model.Server{resolverAt(s.Addr, model.TransportUDP)}
	}

	tests := []struct {
		name      string
		resolvers []model.Server
		auth      []model.AuthServer
		status    model.DSStatus
		ds        []model.DSRecord // Digest not compared
		detail    []string         // substrings of Detail
		dnskeys   int
	}{
		{
			name: "matching DS", resolvers: resolver(good), auth: []model.AuthServer{signed}, status: model.DSOK,
			ds:      []model.DSRecord{{KeyTag: ksktag, Algorithm: 13, DigestType: 2, Matched: true}},
			detail:  []string{fmt.Sprintf("DS key tag %d (algorithm 13) matches a DNSKEY served by the zone", ksktag)},
			dnskeys: 2,
		},
		{
			name: "SHA1 and SHA256 DS both match", resolvers: resolver(good, goodSHA1), auth: []model.AuthServer{signed}, status: model.DSOK,
			ds: []model.DSRecord{
				{KeyTag: ksktag, Algorithm: 13, DigestType: 2, Matched: true},
				{KeyTag: ksktag, Algorithm: 13, DigestType: 1, Matched: true},
			},
			detail:  []string{fmt.Sprintf("DS key tag %d (algorithm 13) matches a DNSKEY", ksktag)},
			dnskeys: 2,
		},
		{
			name: "one good DS among stale ones", resolvers: resolver(badTag, good), auth: []model.AuthServer{signed}, status: model.DSOK,
			ds: []model.DSRecord{
				{KeyTag: other.KeyTag(), Algorithm: 13, DigestType: 2, Problem: fmt.Sprintf("no DNSKEY with key tag %d", other.KeyTag())},
				{KeyTag: ksktag, Algorithm: 13, DigestType: 2, Matched: true},
			},
			detail:  []string{fmt.Sprintf("DS key tag %d (algorithm 13) matches none", other.KeyTag())},
			dnskeys: 2,
		},
		{
			name: "mismatched key tag (Slack)", resolvers: resolver(badTag), auth: []model.AuthServer{signed}, status: model.DSMismatch,
			ds: []model.DSRecord{{KeyTag: other.KeyTag(), Algorithm: 13, DigestType: 2, Problem: fmt.Sprintf("no DNSKEY with key tag %d", other.KeyTag())}},
			detail: []string{fmt.Sprintf("DS key tag %d (algorithm 13) matches no DNSKEY served by the zone (it serves key tags %s)",
				other.KeyTag(), tagsOfZone)},
			dnskeys: 2,
		},
		{
			name: "digest differs", resolvers: resolver(badDigest), auth: []model.AuthServer{signed}, status: model.DSMismatch,
			ds:      []model.DSRecord{{KeyTag: ksktag, Algorithm: 13, DigestType: 2, Problem: "digest differs"}},
			detail:  []string{"digest differs"},
			dnskeys: 2,
		},
		{
			name: "algorithm differs", resolvers: resolver(badAlg), auth: []model.AuthServer{signed}, status: model.DSMismatch,
			ds:      []model.DSRecord{{KeyTag: ksktag, Algorithm: 8, DigestType: 2, Problem: fmt.Sprintf("DNSKEY %d has algorithm 13, DS says 8", ksktag)}},
			dnskeys: 2,
		},
		{
			name: "unsupported digest type", resolvers: resolver(badType), auth: []model.AuthServer{signed}, status: model.DSMismatch,
			ds:      []model.DSRecord{{KeyTag: ksktag, Algorithm: 13, DigestType: 5, Problem: "unsupported digest type 5"}},
			dnskeys: 2,
		},
		{
			name: "no DNSKEY", resolvers: resolver(good), auth: []model.AuthServer{empty}, status: model.DSNoDNSKEY,
			ds:     []model.DSRecord{{KeyTag: ksktag, Algorithm: 13, DigestType: 2, Problem: fmt.Sprintf("no DNSKEY with key tag %d", ksktag)}},
			detail: []string{"but the zone serves no DNSKEY"},
		},
		{
			name: "unsigned", resolvers: resolver(), auth: []model.AuthServer{empty}, status: model.DSUnsigned,
			detail: []string{"no DS record for example.test."},
		},
		{
			name: "unsigned parent, signed child", resolvers: resolver(), auth: []model.AuthServer{signed}, status: model.DSUnsigned,
			detail: []string{", although the zone serves DNSKEY key tags " + tagsOfZone}, dnskeys: 2,
		},
		{
			name: "authoritative servers down", resolvers: resolver(good), auth: []model.AuthServer{down}, status: model.DSIncomplete,
			ds:     []model.DSRecord{{KeyTag: ksktag, Algorithm: 13, DigestType: 2, Problem: fmt.Sprintf("no DNSKEY with key tag %d", ksktag)}},
			detail: []string{"DNSKEY set could not be read", "refused"},
		},
		{
			name: "refusing server skipped", resolvers: resolver(good), status: model.DSOK,
			auth:    []model.AuthServer{{Host: "r.example.test.", Addr: mustAddrPort(t, refusing.Addr)}, down, signed},
			ds:      []model.DSRecord{{KeyTag: ksktag, Algorithm: 13, DigestType: 2, Matched: true}},
			dnskeys: 2,
		},
		{
			name: "servers disagree", resolvers: resolver(good), auth: []model.AuthServer{signed, rolled}, status: model.DSOK,
			ds:      []model.DSRecord{{KeyTag: ksktag, Algorithm: 13, DigestType: 2, Matched: true}},
			detail:  []string{"the authoritative servers disagree", "key tags " + tagsOfZone},
			dnskeys: 2,
		},
		{
			name: "resolver down", resolvers: []model.Server{resolverAt(closedPort(t), model.TransportUDP)}, auth: []model.AuthServer{signed},
			status: model.DSIncomplete, detail: []string{"could not get the DS set of example.test."},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Options{Timeout: time.Second})
			p.authPort = closedUDPPort(t) // no parent fallback in these tests
			c := p.CheckDS(ctxTimeout(t, 10*time.Second), "Example.Test", tc.resolvers, tc.auth)
			t.Logf("detail: %s", c.Detail)
			if c.Zone != zone || c.Status != tc.status {
				t.Fatalf("zone %q status %q (%s), want %q", c.Zone, c.Status, c.Detail, tc.status)
			}
			if len(c.DS) != len(tc.ds) {
				t.Fatalf("DS %+v, want %+v", c.DS, tc.ds)
			}
			for i, d := range c.DS {
				w := tc.ds[i]
				if d.KeyTag != w.KeyTag || d.Algorithm != w.Algorithm || d.DigestType != w.DigestType ||
					d.Matched != w.Matched || d.Problem != w.Problem || d.Digest == "" {
					t.Errorf("DS %d = %+v, want %+v", i, d, w)
				}
			}
			for _, s := range tc.detail {
				if !strings.Contains(c.Detail, s) {
					t.Errorf("detail %q lacks %q", c.Detail, s)
				}
			}
			if len(c.DNSKEYs) != tc.dnskeys {
				t.Errorf("DNSKEYs %+v, want %d", c.DNSKEYs, tc.dnskeys)
			}
			if !slices.IsSortedFunc(c.DNSKEYs, func(a, b model.DNSKEYInfo) int { return int(a.KeyTag) - int(b.KeyTag) }) {
				t.Errorf("DNSKEYs not sorted: %+v", c.DNSKEYs)
			}
		})
	}
}

// TestCheckDSParentFallback: when no resolver answers for the DS set, it is
// read from the parent zone's own servers.
func TestCheckDSParentFallback(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	// The world's parent serves no DS for example.test.: unsigned, learnt
	// from the parent because the resolver SERVFAILs DS queries even with CD.
	data := mustRRs(t,
		"test. 86400 IN SOA ns.parent.test. h.test. 1 7200 3600 1209600 300",
		"test. 86400 IN NS ns.parent.test.",
		"ns.parent.test. 86400 IN A 127.0.0.1")
	r := startServer(t, resolverHandler(data, func(req *dns.Msg) bool { return req.Question[0].Qtype == dns.TypeDS }, nil))
	p := New(Options{Timeout: time.Second})
	p.authPort = w.authPort
	c := p.CheckDS(ctxTimeout(t, 10*time.Second), "example.test.", []model.Server{resolverAt(r.Addr, model.TransportUDP)}, nil)
	if c.Status != model.DSUnsigned {
		t.Fatalf("status %q (%s), want unsigned from the parent", c.Status, c.Detail)
	}
}
