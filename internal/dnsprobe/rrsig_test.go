package dnsprobe

import (
	"crypto"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// signer signs RRsets of one zone with an ECDSA P-256 key.
type signer struct {
	key  *dns.DNSKEY
	priv crypto.Signer
}

func newSigner(t *testing.T, zone string) signer {
	t.Helper()
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := k.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: k, priv: priv.(crypto.Signer)}
}

// sign returns a real RRSIG over rrset valid from inception to expiration.
func (s signer) sign(t *testing.T, rrset []dns.RR, inception, expiration time.Time) *dns.RRSIG {
	t.Helper()
	h := rrset[0].Header()
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Name: h.Name, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: h.Ttl},
		Inception:  uint32(inception.Unix()),
		Expiration: uint32(expiration.Unix()),
		KeyTag:     s.key.KeyTag(),
		SignerName: s.key.Hdr.Name,
		Algorithm:  s.key.Algorithm,
	}
	if err := sig.Sign(s.priv, rrset); err != nil {
		t.Fatal(err)
	}
	if err := sig.Verify(s.key, rrset); err != nil {
		t.Fatalf("the test signature does not verify: %v", err)
	}
	return sig
}

// TestProbeRecordsSignatureValidity: an authoritative server's signed
// answers carry the earliest RRSIG expiration, the latest inception and
// the longest TTL of the signed data; a resolver's and an unsigned answer
// carry none.
func TestProbeRecordsSignatureValidity(t *testing.T) {
	t.Parallel()
	const zone = "example.test."
	now := time.Now().UTC().Truncate(time.Second)
	sg := newSigner(t, zone)
	data := mustRRs(t,
		zone+" 300 IN SOA ns1.example.test. h.example.test. 7 7200 3600 1209600 300",
		"www.example.test. 600 IN A 192.0.2.1",
		"www.example.test. 600 IN A 192.0.2.2",
		"plain.example.test. 60 IN A 192.0.2.3",
	)
	soaExp, soaInc := now.Add(50*time.Hour), now.Add(-time.Hour)
	data.add(sg.sign(t, data.get(zone, dns.TypeSOA), soaInc, soaExp))
	// Two signatures over www (a key rollover): the earliest expiration
	// and the latest inception count; the later one starts in the future.
	wwwExp1, wwwInc1 := now.Add(20*time.Minute), now.Add(-2*time.Hour)
	wwwExp2, wwwInc2 := now.Add(9*24*time.Hour), now.Add(10*time.Minute)
	data.add(sg.sign(t, data.get("www.example.test.", dns.TypeA), wwwInc1, wwwExp1))
	second := sg.sign(t, data.get("www.example.test.", dns.TypeA), wwwInc2, wwwExp2)
	second.OrigTtl = 900 // a longer original TTL than the served one
	data.add(second)
	aa := func(_, resp *dns.Msg) { resp.Authoritative = true }
	srv := startServer(t, answerFrom(data, aa))
	p := New(Options{Timeout: 2 * time.Second, Now: func() time.Time { return now }})

	tests := []struct {
		name  string
		srv   model.Server
		qname string
		qtype string
		want  *model.SigValidity
	}{
		{"authoritative SOA", authAt(srv.Addr, model.TransportUDP), zone, "SOA",
			&model.SigValidity{Expiration: soaExp, Inception: soaInc, TTL: 300}},
		{"authoritative A with two signatures", authAt(srv.Addr, model.TransportTCP), "www.example.test.", "A",
			&model.SigValidity{Expiration: wwwExp1, Inception: wwwInc2, TTL: 900}},
		{"unsigned answer", authAt(srv.Addr, model.TransportUDP), "plain.example.test.", "A", nil},
		{"resolver answers are not read", resolverAt(srv.Addr, model.TransportUDP), zone, "SOA", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := p.Probe(ctxTimeout(t, 5*time.Second), Query{Server: tc.srv, Name: tc.qname, Type: tc.qtype})
			if !o.Answered() || o.Rcode != "NOERROR" {
				t.Fatalf("probe failed: %+v", o)
			}
			switch {
			case tc.want == nil && o.RRSIG != nil:
				t.Errorf("RRSIG = %+v, want none", *o.RRSIG)
			case tc.want != nil && o.RRSIG == nil:
				t.Errorf("RRSIG missing, want %+v", *tc.want)
			case tc.want != nil && *o.RRSIG != *tc.want:
				t.Errorf("RRSIG = %+v, want %+v", *o.RRSIG, *tc.want)
			}
		})
	}
}

// TestDNSKEYSignatureValidity: the DNSKEY set's signatures are summarised
// over every authoritative server that answered, naming the server whose
// signature expires first.
func TestDNSKEYSignatureValidity(t *testing.T) {
	t.Parallel()
	const zone = "example.test."
	now := time.Now().UTC().Truncate(time.Second)
	sg := newSigner(t, zone)
	serve := func(host string, exp time.Time) model.AuthServer {
		data := mustRRs(t, zone+" 300 IN SOA ns1.example.test. h.example.test. 7 7200 3600 1209600 300")
		data.add(sg.key)
		data.add(sg.sign(t, []dns.RR{sg.key}, now.Add(-time.Hour), exp))
		s := startServer(t, answerFrom(data, func(_, resp *dns.Msg) { resp.Authoritative = true }))
		return model.AuthServer{Host: host, Addr: mustAddrPort(t, s.Addr)}
	}
	early := serve("ns2.example.test.", now.Add(3*time.Hour))
	late := serve("ns1.example.test.", now.Add(30*24*time.Hour))
	p := New(Options{Timeout: 2 * time.Second, Now: func() time.Time { return now }})
	ks := p.dnskeys(ctxTimeout(t, 5*time.Second), zone, []model.AuthServer{late, early})
	if ks.err != nil {
		t.Fatal(ks.err)
	}
	want := model.SigValidity{Expiration: now.Add(3 * time.Hour), Inception: now.Add(-time.Hour), TTL: 3600,
		Server: "ns2.example.test. (" + early.Addr.String() + ")"}
	if ks.sig == nil || *ks.sig != want {
		t.Errorf("DNSKEY signature summary = %+v, want %+v", ks.sig, want)
	}
}

// TestSigTime reads RRSIG timestamps in serial number arithmetic: a
// 32-bit time past 2106 wraps, and an expiration just after the wrap is
// in the near future, not 136 years in the past.
func TestSigTime(t *testing.T) {
	at := time.Unix(1<<32-3600, 0).UTC() // an hour before the 32-bit wrap (2106)
	tests := []struct {
		ts   uint32
		want time.Time
	}{
		{uint32(at.Unix()), at},
		{1800, at.Add(time.Hour + 30*time.Minute)},
		{uint32(at.Unix()) - 7200, at.Add(-2 * time.Hour)},
	}
	for _, tc := range tests {
		if got := sigTime(tc.ts, at); !got.Equal(tc.want) {
			t.Errorf("sigTime(%d) = %v, want %v", tc.ts, got, tc.want)
		}
	}
	now := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	if got := sigTime(uint32(now.Add(72*time.Hour).Unix()), now); !got.Equal(now.Add(72 * time.Hour)) {
		t.Errorf("sigTime 72 h ahead = %v", got)
	}
}

// TestDiscoverApexNS: Discover records the NS set the zone's own servers
// serve next to the parent's: the parent delegates example.test. to ns1
// and ns2, the zone itself lists ns1 and ns3.
func TestDiscoverApexNS(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	p := New(Options{Timeout: time.Second})
	p.authPort = w.authPort
	d := p.Discover(ctxTimeout(t, 10*time.Second), "example.test.", []model.Server{resolverAt(w.resolver, model.TransportUDP)})
	if d.Error != "" {
		t.Fatal(d.Error)
	}
	if want := []string{"ns1.example.test.", "ns2.example.test."}; !slices.Equal(d.ParentNS, want) {
		t.Errorf("ParentNS = %v, want %v", d.ParentNS, want)
	}
	if want := []string{"ns1.example.test.", "ns3.example.test."}; !slices.Equal(d.ApexNS, want) {
		t.Errorf("ApexNS = %v, want %v", d.ApexNS, want)
	}
}
