package dnsprobe

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

// benchServer is an in-process UDP server with a typical small signed
// answer (two A records and an RRSIG).
func benchServer(b *testing.B) string {
	b.Helper()
	data := mustRRs(b,
		"www.example.test. 300 IN A 192.0.2.1",
		"www.example.test. 300 IN A 192.0.2.2",
		"www.example.test. 300 IN RRSIG A 13 3 300 20300101000000 20240101000000 4711 example.test. dGVzdHNpZ25hdHVyZXRlc3RzaWduYXR1cmV0ZXN0c2lnbmF0dXJldGVzdHNpZ25hdHVyZQ==",
	)
	return startServerNets(b, answerFrom(data, func(req, resp *dns.Msg) { resp.RecursionAvailable = true }), true, false).Addr
}

// BenchmarkProbe is one full Probe over UDP: query, parse, normalise.
func BenchmarkProbe(b *testing.B) {
	addr := benchServer(b)
	p := New(Options{Timeout: 2 * time.Second})
	q := Query{Target: "example.test.", Server: resolverAt(addr, model.TransportUDP), Name: "www.example.test.", Type: "A"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if o := p.Probe(ctx, q); o.Error != model.ErrNone || len(o.Answers) != 2 {
			b.Fatalf("probe: %s %s %q", o.Error, o.ErrorDetail, o.Answers)
		}
	}
}

// BenchmarkBareExchange is the floor: dns.Client.Exchange of an equivalent
// query (EDNS0 1232, DO, NSID) against the same kind of server.
func BenchmarkBareExchange(b *testing.B) {
	addr := benchServer(b)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion("www.example.test.", dns.TypeA)
	m.SetEdns0(1232, true)
	m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}}
	b.ReportAllocs()
	for b.Loop() {
		m.Id = dns.Id()
		r, _, err := c.Exchange(m, addr)
		if err != nil || len(r.Answer) != 3 {
			b.Fatalf("exchange: %v", err)
		}
	}
}

// BenchmarkProbeParallel measures throughput with many concurrent probes.
func BenchmarkProbeParallel(b *testing.B) {
	addr := benchServer(b)
	p := New(Options{Timeout: 2 * time.Second})
	q := Query{Server: resolverAt(addr, model.TransportUDP), Name: "www.example.test.", Type: "A"}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if o := p.Probe(context.Background(), q); o.Error != model.ErrNone {
				b.Errorf("probe: %s %s", o.Error, o.ErrorDetail)
				return
			}
		}
	})
}

// BenchmarkBareExchangeParallel is the floor for BenchmarkProbeParallel.
func BenchmarkBareExchangeParallel(b *testing.B) {
	addr := benchServer(b)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		m := new(dns.Msg)
		m.SetQuestion("www.example.test.", dns.TypeA)
		m.SetEdns0(1232, true)
		m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}}
		for pb.Next() {
			m.Id = dns.Id()
			if _, _, err := c.Exchange(m, addr); err != nil {
				b.Errorf("exchange: %v", err)
				return
			}
		}
	})
}
