package metrics

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/model"
)

func TestObserve(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewDNS(reg, true)
	srv := model.Server{Name: "ns1.example.", Kind: model.KindAuthoritative, Transport: model.TransportUDP}
	serial := uint32(2026112301)
	m.Observe(model.Observation{Target: "example.com", Server: srv, Name: "example.com.", Type: "SOA", Rcode: "NOERROR", SOASerial: &serial, Latency: 3 * time.Millisecond,
		Answers: []string{"example.com. IN SOA ns1.example. hostmaster.example. 2026112301 7200 3600 1209600 300"}})
	// NODATA: the configured www AAAA is gone (NOERROR without the type).
	m.Observe(model.Observation{Target: "example.com", Server: srv, Name: "www.example.com.", Type: "AAAA", Rcode: "NOERROR", AA: true,
		Answers: []string{"www.example.com. IN A 192.0.2.80"}})
	res := model.Server{Name: "cloudflare", Kind: model.KindResolver, Transport: model.TransportUDP, Validating: true}
	m.Observe(model.Observation{Target: "example.com", Server: res, Name: "example.com.", Type: "A", Rcode: "SERVFAIL",
		EDE: []model.EDE{{Code: 9}, {Code: 65000}}, CDRetry: &model.CDRetry{Rcode: "NOERROR", Succeeded: true}})
	m.Observe(model.Observation{Target: "example.com", Server: res, Name: "www.example.com.", Type: "A", Error: model.ErrTimeout})
	// Another zone on the same resolver adds to the same counters.
	m.Observe(model.Observation{Target: "example.org", Server: res, Name: "example.org.", Type: "A", Error: model.ErrTimeout})

	want := `
# HELP reachmon_dns_probe_failing 1 while the last probe of the query at the server failed (no answer, an rcode other than NOERROR, or NXDOMAIN/NODATA); absent while it succeeds.
# TYPE reachmon_dns_probe_failing gauge
reachmon_dns_probe_failing{kind="authoritative",name="www.example.com.",qtype="AAAA",server="ns1.example.",transport="udp",zone="example.com"} 1
reachmon_dns_probe_failing{kind="resolver",name="example.com.",qtype="A",server="cloudflare",transport="udp",zone="example.com"} 1
reachmon_dns_probe_failing{kind="resolver",name="example.org.",qtype="A",server="cloudflare",transport="udp",zone="example.org"} 1
reachmon_dns_probe_failing{kind="resolver",name="www.example.com.",qtype="A",server="cloudflare",transport="udp",zone="example.com"} 1
# HELP reachmon_dns_ede_total Extended DNS Errors (RFC 8914) received, by server and info code.
# TYPE reachmon_dns_ede_total counter
reachmon_dns_ede_total{code="9",kind="resolver",server="cloudflare",transport="udp"} 1
reachmon_dns_ede_total{code="other",kind="resolver",server="cloudflare",transport="udp"} 1
# HELP reachmon_dns_probe_errors_total Probes that got no usable answer, by server and error class (timeout, refused, unreachable, malformed, truncated, tls, http, network).
# TYPE reachmon_dns_probe_errors_total counter
reachmon_dns_probe_errors_total{class="timeout",kind="resolver",server="cloudflare",transport="udp"} 2
# HELP reachmon_dns_responses_total DNS responses received, by server and response code (every zone).
# TYPE reachmon_dns_responses_total counter
reachmon_dns_responses_total{kind="authoritative",rcode="NOERROR",server="ns1.example.",transport="udp"} 2
reachmon_dns_responses_total{kind="resolver",rcode="SERVFAIL",server="cloudflare",transport="udp"} 1
# HELP reachmon_dns_cd_retry_total SERVFAILs from validating resolvers retried with CD=1, by outcome: success points at DNSSEC.
# TYPE reachmon_dns_cd_retry_total counter
reachmon_dns_cd_retry_total{result="success",server="cloudflare"} 1
`
	names := []string{"reachmon_dns_probe_failing", "reachmon_dns_ede_total", "reachmon_dns_probe_errors_total", "reachmon_dns_responses_total", "reachmon_dns_cd_retry_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := m.FailingSeries(); n != 4 {
		t.Errorf("FailingSeries() = %d, want 4", n)
	}
}

// failing lists the reachmon_dns_probe_failing series of reg as
// "zone name qtype server" lines, sorted.
func failing(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "reachmon_dns_probe_failing" {
			continue
		}
		for _, x := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range x.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if x.GetGauge().GetValue() != 1 {
				t.Errorf("a failing series of value %v", x.GetGauge().GetValue())
			}
			out = append(out, l["zone"]+" "+l["name"]+" "+l["qtype"]+" "+l["server"])
		}
	}
	slices.Sort(out)
	return out
}

// TestProbeFailing: a query's failing series appears when its probe fails
// (no answer, SERVFAIL, NXDOMAIN, NODATA) and disappears when it succeeds
// again, when its authoritative server leaves the zone's discovered set,
// when a reload stops asking it, or when its zone or resolver is removed.
func TestProbeFailing(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewDNS(reg, false)
	res := model.Server{Name: "r1", Kind: model.KindResolver, Transport: model.TransportUDP}
	ns1 := model.Server{Name: "ns1.a.example.", Kind: model.KindAuthoritative, Transport: model.TransportUDP}
	ns1v6 := model.Server{Name: "ns1.a.example.#v6", Kind: model.KindAuthoritative, Transport: model.TransportUDP}
	ns2 := model.Server{Name: "ns2.a.example.", Kind: model.KindAuthoritative, Transport: model.TransportUDP}
	ok := func(zone string, s model.Server, name, qtype string) model.Observation {
		return model.Observation{Target: zone, Server: s, Name: name, Type: qtype, Rcode: "NOERROR", AA: true,
			Answers: []string{name + " IN " + qtype + " ..."}}
	}
	check := func(when string, want ...string) {
		t.Helper()
		if got := failing(t, reg); !slices.Equal(got, want) {
			t.Errorf("%s: failing series\n%q\nwant\n%q", when, got, want)
		}
		if n := m.FailingSeries(); n != len(want) {
			t.Errorf("%s: FailingSeries() = %d, want %d", when, n, len(want))
		}
	}
	m.Observe(ok("a.example", res, "a.example.", "SOA"))
	m.Observe(ok("a.example", ns1, "a.example.", "SOA"))
	check("healthy")

	for _, tc := range []struct {
		what string
		o    model.Observation
	}{
		{"timeout", model.Observation{Error: model.ErrTimeout}},
		{"SERVFAIL", model.Observation{Rcode: "SERVFAIL"}},
		{"NXDOMAIN", model.Observation{Rcode: "NXDOMAIN", AA: true}},
		{"NODATA", model.Observation{Rcode: "NOERROR", AA: true}},
	} {
		o := tc.o
		o.Target, o.Server, o.Name, o.Type = "a.example", res, "www.a.example.", "A"
		m.Observe(o)
		check(tc.what, "a.example www.a.example. A r1")
		m.Observe(o) // still failing: one series
		check(tc.what+" twice", "a.example www.a.example. A r1")
		m.Observe(ok("a.example", res, "www.a.example.", "A"))
		check(tc.what + " then an answer")
	}

	fail := func(zone string, s model.Server, name, qtype string) {
		m.Observe(model.Observation{Target: zone, Server: s, Name: name, Type: qtype, Error: model.ErrTimeout})
	}
	fail("a.example", ns1, "a.example.", "SOA")
	fail("a.example", ns1v6, "a.example.", "SOA")
	fail("a.example", ns2, "a.example.", "SOA")
	fail("a.example", ns2, "www.a.example.", "A")
	fail("a.example", res, "www.a.example.", "A")
	fail("b.example", res, "b.example.", "SOA")
	check("outage", "a.example a.example. SOA ns1.a.example.", "a.example a.example. SOA ns1.a.example.#v6", "a.example a.example. SOA ns2.a.example.",
		"a.example www.a.example. A ns2.a.example.", "a.example www.a.example. A r1", "b.example b.example. SOA r1")

	// A failed discovery keeps the previous set; a new set without ns1
	// drops both of its addresses.
	m.ObserveDiscovery("a.example", model.Discovery{Error: "timeout"})
	m.ObserveDiscovery("a.example", model.Discovery{Servers: []model.AuthServer{{Host: "ns2.a.example."}}})
	check("ns1 left a.example", "a.example a.example. SOA ns2.a.example.", "a.example www.a.example. A ns2.a.example.", "a.example www.a.example. A r1", "b.example b.example. SOA r1")

	// A reload stops asking www A.
	m.KeepQueries("a.example", func(name, qtype string, _ model.ServerKind) bool { return name == "a.example." && qtype == "SOA" })
	check("www no longer asked", "a.example a.example. SOA ns2.a.example.", "b.example b.example. SOA r1")

	m.ForgetResolver("r1")
	check("r1 removed", "a.example a.example. SOA ns2.a.example.")
	m.ForgetZone("a.example")
	check("a.example removed")
}

// The probe duration histogram is one histogram per server by default
// and has a zone label with [metrics] zone_latency = true; forgetting a
// zone keeps the server's shared histogram.
func TestZoneLatency(t *testing.T) {
	res := model.Server{Name: "cloudflare", Kind: model.KindResolver, Transport: model.TransportUDP, Validating: true}
	observe := func(m *DNS) {
		for _, zone := range []string{"a.example", "b.example", "c.example"} {
			m.Observe(model.Observation{Target: zone, Server: res, Name: zone + ".", Type: "SOA", Rcode: "NOERROR", Latency: 20 * time.Millisecond})
		}
	}
	for _, tc := range []struct {
		zoneLatency bool
		histograms  int
		labels      string
	}{
		{true, 3, `kind="resolver",server="cloudflare",transport="udp",vantage="v",zone="a.example"`},
		{false, 1, `kind="resolver",server="cloudflare",transport="udp",vantage="v"`},
	} {
		reg := prometheus.NewRegistry()
		m := NewDNS(prometheus.WrapRegistererWith(prometheus.Labels{"vantage": "v"}, reg), tc.zoneLatency)
		observe(m)
		// Each histogram is 12 buckets, +Inf, _sum and _count.
		if n := testutil.CollectAndCount(reg, "reachmon_dns_probe_duration_seconds"); n != tc.histograms {
			t.Errorf("zone_latency=%v: %d duration histograms, want %d", tc.zoneLatency, n, tc.histograms)
		}
		var out strings.Builder
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() != "reachmon_dns_probe_duration_seconds" {
				continue
			}
			for _, x := range f.GetMetric() {
				var kv []string
				for _, l := range x.GetLabel() {
					kv = append(kv, l.GetName()+"=\""+l.GetValue()+"\"")
				}
				out.WriteString(strings.Join(kv, ",") + "\n")
				if tc.zoneLatency {
					continue
				}
				if got := x.GetHistogram().GetSampleCount(); got != 3 {
					t.Errorf("zone_latency=false: the server's histogram counted %d probes, want 3 (one per zone)", got)
				}
			}
		}
		if !strings.Contains(out.String(), tc.labels+"\n") {
			t.Errorf("zone_latency=%v: no histogram labelled %s in\n%s", tc.zoneLatency, tc.labels, out.String())
		}
		m.ForgetZone("a.example")
		if n := testutil.CollectAndCount(reg, "reachmon_dns_probe_duration_seconds"); n != max(tc.histograms-1, 1) {
			t.Errorf("zone_latency=%v: %d duration histograms after forgetting a.example, want %d", tc.zoneLatency, n, max(tc.histograms-1, 1))
		}
	}
}
