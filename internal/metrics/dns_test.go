package metrics

import (
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
	m.ObserveDS("example.com", model.DSCheck{Status: model.DSMismatch})

	want := `
# HELP reachmon_dns_probe_success 1 if the last probe got a NOERROR answer holding the asked type (or a CNAME to follow), else 0 (errors, NXDOMAIN, NODATA).
# TYPE reachmon_dns_probe_success gauge
reachmon_dns_probe_success{kind="authoritative",name="example.com.",qtype="SOA",server="ns1.example.",transport="udp",zone="example.com"} 1
reachmon_dns_probe_success{kind="authoritative",name="www.example.com.",qtype="AAAA",server="ns1.example.",transport="udp",zone="example.com"} 0
reachmon_dns_probe_success{kind="resolver",name="example.com.",qtype="A",server="cloudflare",transport="udp",zone="example.com"} 0
reachmon_dns_probe_success{kind="resolver",name="www.example.com.",qtype="A",server="cloudflare",transport="udp",zone="example.com"} 0
# HELP reachmon_dns_ede_total Extended DNS Errors (RFC 8914) received, by info code.
# TYPE reachmon_dns_ede_total counter
reachmon_dns_ede_total{code="9",kind="resolver",server="cloudflare",transport="udp",zone="example.com"} 1
reachmon_dns_ede_total{code="other",kind="resolver",server="cloudflare",transport="udp",zone="example.com"} 1
# HELP reachmon_dns_probe_errors_total Probes that got no usable answer, by error class (timeout, refused, unreachable, malformed, truncated, tls, http, network).
# TYPE reachmon_dns_probe_errors_total counter
reachmon_dns_probe_errors_total{class="timeout",kind="resolver",server="cloudflare",transport="udp",zone="example.com"} 1
# HELP reachmon_dns_cd_retry_total SERVFAILs from validating resolvers retried with CD=1, by outcome: success points at DNSSEC.
# TYPE reachmon_dns_cd_retry_total counter
reachmon_dns_cd_retry_total{result="success",server="cloudflare",zone="example.com"} 1
# HELP reachmon_dns_soa_serial SOA serial last served by each authoritative server.
# TYPE reachmon_dns_soa_serial gauge
reachmon_dns_soa_serial{server="ns1.example.",zone="example.com"} 2.026112301e+09
`
	names := []string{"reachmon_dns_probe_success", "reachmon_dns_ede_total", "reachmon_dns_probe_errors_total", "reachmon_dns_cd_retry_total", "reachmon_dns_soa_serial"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "reachmon_dns_ds_check_status"); n != 5 {
		t.Errorf("ds_check_status has %d series, want one per status (5)", n)
	}
	m.ForgetServer("example.com", "ns1.example.")
	if n := testutil.CollectAndCount(reg, "reachmon_dns_soa_serial"); n != 0 {
		t.Errorf("ForgetServer left %d soa_serial series", n)
	}
}

// The probe duration histogram has a zone label by default ([metrics]
// zone_latency = true) and one histogram per server without it; the other
// per-zone series keep their zone either way, and forgetting one zone's
// server keeps the server's shared histogram.
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
		if n := testutil.CollectAndCount(reg, "reachmon_dns_probe_success"); n != 3 {
			t.Errorf("zone_latency=%v: %d success series, want one per zone (3)", tc.zoneLatency, n)
		}
		m.ForgetServer("a.example", "cloudflare")
		if n := testutil.CollectAndCount(reg, "reachmon_dns_probe_duration_seconds"); n != max(tc.histograms-1, 1) {
			t.Errorf("zone_latency=%v: %d duration histograms after forgetting a.example's server, want %d", tc.zoneLatency, n, max(tc.histograms-1, 1))
		}
		if n := testutil.CollectAndCount(reg, "reachmon_dns_probe_success"); n != 2 {
			t.Errorf("zone_latency=%v: %d success series after forgetting a.example's server, want 2", tc.zoneLatency, n)
		}
	}
}
