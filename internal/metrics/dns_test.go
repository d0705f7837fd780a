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
	m := NewDNS(reg)
	srv := model.Server{Name: "ns1.example.", Kind: model.KindAuthoritative, Transport: model.TransportUDP}
	serial := uint32(2026112301)
	m.Observe(model.Observation{Target: "example.com", Server: srv, Name: "example.com.", Type: "SOA", Rcode: "NOERROR", SOASerial: &serial, Latency: 3 * time.Millisecond})
	res := model.Server{Name: "cloudflare", Kind: model.KindResolver, Transport: model.TransportUDP, Validating: true}
	m.Observe(model.Observation{Target: "example.com", Server: res, Name: "example.com.", Type: "A", Rcode: "SERVFAIL",
		EDE: []model.EDE{{Code: 9}, {Code: 65000}}, CDRetry: &model.CDRetry{Rcode: "NOERROR", Succeeded: true}})
	m.Observe(model.Observation{Target: "example.com", Server: res, Name: "www.example.com.", Type: "A", Error: model.ErrTimeout})
	m.ObserveDS("example.com", model.DSCheck{Status: model.DSMismatch})

	want := `
# HELP reachmon_dns_probe_success 1 if the last probe got a NOERROR answer, else 0.
# TYPE reachmon_dns_probe_success gauge
reachmon_dns_probe_success{kind="authoritative",name="example.com.",qtype="SOA",server="ns1.example.",transport="udp",zone="example.com"} 1
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
