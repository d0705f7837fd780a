package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/model"
)

// TestForecastGauges: seconds to the earliest RRSIG expiration (probed
// RRsets and the DNSKEY set), lame servers and the SOA serial spread, one
// series per zone; a server that leaves the zone takes its part along.
func TestForecastGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewDNS(reg, true)
	now := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	auth := func(name string) model.Server {
		return model.Server{Name: name, Kind: model.KindAuthoritative, Transport: model.TransportUDP}
	}
	soa := func(srv string, serial uint32, exp time.Duration) model.Observation {
		o := model.Observation{Time: now, Target: "example.com", Server: auth(srv), Name: "example.com.", Type: "SOA",
			Rcode: "NOERROR", AA: true, SOASerial: &serial}
		if exp != 0 {
			o.RRSIG, o.Signed = &model.SigValidity{Expiration: now.Add(exp), Inception: now.Add(-time.Hour), TTL: 300}, true
		}
		return o
	}
	m.Observe(soa("ns1.example.", 4294967295, 50*time.Hour))
	m.Observe(soa("ns2.example.", 2, 3*time.Hour)) // wrapped past 2^32-1: 3 ahead of ns1
	m.Observe(model.Observation{Time: now, Target: "example.com", Server: auth("ns3.example."), Name: "www.example.com.", Type: "A", Rcode: "REFUSED"})
	m.Observe(model.Observation{Time: now, Target: "example.com", Server: auth("ns4.example."), Name: "www.example.com.", Type: "A", Rcode: "NOERROR"}) // AA=0
	m.Observe(model.Observation{Time: now, Target: "example.com", Server: auth("ns5.example."), Name: "www.example.com.", Type: "A", Error: model.ErrTimeout})
	m.ObserveDS("example.com", model.DSCheck{Time: now, Status: model.DSOK,
		DNSKEYRRSIG: &model.SigValidity{Expiration: now.Add(90 * time.Minute), Inception: now.Add(-time.Hour), TTL: 3600, Server: "ns1.example."}})
	want := `
# HELP reachmon_dnssec_signature_expiry_seconds Seconds from the last signed answer to the earliest RRSIG expiration the zone's authoritative servers serve (apex SOA, probed RRsets, DNSKEY set); negative once expired.
# TYPE reachmon_dnssec_signature_expiry_seconds gauge
reachmon_dnssec_signature_expiry_seconds{zone="example.com"} 5400
# HELP reachmon_dns_lame_servers Authoritative servers of the zone whose last answer was not authoritative (REFUSED, SERVFAIL, NOTAUTH or AA=0).
# TYPE reachmon_dns_lame_servers gauge
reachmon_dns_lame_servers{zone="example.com"} 2
# HELP reachmon_dns_soa_serial_spread Distance between the lowest and the highest SOA serial the zone's authoritative servers serve (RFC 1982 arithmetic); 0 when they agree.
# TYPE reachmon_dns_soa_serial_spread gauge
reachmon_dns_soa_serial_spread{zone="example.com"} 3
`
	names := []string{"reachmon_dnssec_signature_expiry_seconds", "reachmon_dns_lame_servers", "reachmon_dns_soa_serial_spread"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// The DNSKEY set is re-signed, ns2 leaves the zone, ns3 serves it.
	m.ObserveDS("example.com", model.DSCheck{Time: now, Status: model.DSOK,
		DNSKEYRRSIG: &model.SigValidity{Expiration: now.Add(30 * 24 * time.Hour), TTL: 3600}})
	m.ForgetServer("example.com", "ns2.example.")
	m.Observe(model.Observation{Time: now, Target: "example.com", Server: auth("ns3.example."), Name: "www.example.com.", Type: "A", Rcode: "NOERROR", AA: true})
	for name, v := range map[string]float64{
		"reachmon_dnssec_signature_expiry_seconds": 50 * 3600,
		"reachmon_dns_lame_servers":                1,
		"reachmon_dns_soa_serial_spread":           0,
	} {
		if got := testutil.ToFloat64(gaugeOf(t, m, name).WithLabelValues("example.com")); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	// ns3 leaves the delegation: discovery no longer lists it.
	m.ObserveDiscovery("example.com", model.Discovery{Servers: []model.AuthServer{{Host: "ns1.example."}, {Host: "ns4.example."}}})
	if got := testutil.ToFloat64(m.forecast.lame.WithLabelValues("example.com")); got != 1 {
		t.Errorf("lame servers after ns3 left = %v, want 1 (ns4, AA=0)", got)
	}
	m.ObserveDiscovery("example.com", model.Discovery{Servers: []model.AuthServer{{Host: "ns1.example."}}})
	if got := testutil.ToFloat64(m.forecast.lame.WithLabelValues("example.com")); got != 0 {
		t.Errorf("lame servers after ns4 left = %v, want 0", got)
	}
	// Served unsigned: the expiry series goes away.
	m.Observe(soa("ns1.example.", 5, 0))
	m.ObserveDS("example.com", model.DSCheck{Time: now, Status: model.DSUnsigned})
	if n := testutil.CollectAndCount(reg, "reachmon_dnssec_signature_expiry_seconds"); n != 0 {
		t.Errorf("an unsigned zone keeps %d expiry series", n)
	}
}

func gaugeOf(t *testing.T, m *DNS, name string) *prometheus.GaugeVec {
	t.Helper()
	switch name {
	case "reachmon_dnssec_signature_expiry_seconds":
		return m.forecast.expiry
	case "reachmon_dns_lame_servers":
		return m.forecast.lame
	case "reachmon_dns_soa_serial_spread":
		return m.forecast.spread
	}
	t.Fatalf("no gauge %s", name)
	return nil
}

func TestSerialSpread(t *testing.T) {
	for _, tc := range []struct {
		in   []uint32
		want uint32
	}{
		{nil, 0},
		{[]uint32{7}, 0},
		{[]uint32{7, 7}, 0},
		{[]uint32{2026120101, 2026120205, 2026120103}, 104},
		{[]uint32{4294967290, 3}, 9},
		{[]uint32{0, 1 << 31}, 1 << 31},
	} {
		if got := serialSpread(tc.in); got != tc.want {
			t.Errorf("serialSpread(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
