// Package metrics turns reachmon's events into Prometheus metrics. Label
// values are bounded: configured zone, name and server names, server kind,
// query type, transport, rcode names and error classes; never a raw
// address or free text.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/reachmon/reachmon/internal/model"
)

// DNS holds the DNS probe metrics.
type DNS struct {
	// zoneLatency: the duration histogram has a zone label.
	zoneLatency bool
	success     *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
	responses   *prometheus.CounterVec
	errors      *prometheus.CounterVec
	ede         *prometheus.CounterVec
	cdRetry     *prometheus.CounterVec
	soaSerial   *prometheus.GaugeVec
	dsStatus    *prometheus.GaugeVec
	authCount   *prometheus.GaugeVec
	forecast    *forecast
}

// NewDNS registers the DNS metrics with reg. Without zoneLatency the
// probe duration histogram has no zone label: one histogram per server.
func NewDNS(reg prometheus.Registerer, zoneLatency bool) *DNS {
	f := promauto.With(reg)
	probe := []string{"zone", "name", "qtype", "server", "kind", "transport"}
	server := []string{"zone", "server", "kind", "transport"}
	latency := server
	if !zoneLatency {
		latency = server[1:]
	}
	return &DNS{
		zoneLatency: zoneLatency,
		forecast:    newForecast(f),
		success: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_dns_probe_success",
			Help: "1 if the last probe got a NOERROR answer holding the asked type (or a CNAME to follow), else 0 (errors, NXDOMAIN, NODATA).",
		}, probe),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reachmon_dns_probe_duration_seconds",
			Help:    "Time from sending a query to its answer (or to giving up), including a TCP retry.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, latency),
		responses: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_dns_responses_total",
			Help: "DNS responses received, by response code.",
		}, append(server, "rcode")),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_dns_probe_errors_total",
			Help: "Probes that got no usable answer, by error class (timeout, refused, unreachable, malformed, truncated, tls, http, network).",
		}, append(server, "class")),
		ede: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_dns_ede_total",
			Help: "Extended DNS Errors (RFC 8914) received, by info code.",
		}, append(server, "code")),
		cdRetry: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_dns_cd_retry_total",
			Help: "SERVFAILs from validating resolvers retried with CD=1, by outcome: success points at DNSSEC.",
		}, []string{"zone", "server", "result"}),
		soaSerial: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_dns_soa_serial",
			Help: "SOA serial last served by each authoritative server.",
		}, []string{"zone", "server"}),
		dsStatus: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_dns_ds_check_status",
			Help: "1 for the current result of the DS-vs-DNSKEY check of each zone (ok, mismatch, no-dnskey, unsigned, incomplete).",
		}, []string{"zone", "status"}),
		authCount: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_dns_authoritative_servers",
			Help: "Authoritative server addresses known for each zone (discovered or configured).",
		}, []string{"zone"}),
	}
}

// maxEDECode bounds the ede code label: codes above it (unassigned today)
// are counted as "other".
const maxEDECode = 49

// Observe records one probe result.
func (m *DNS) Observe(o model.Observation) {
	zone, srv, kind, tr := o.Target, o.Server.Name, string(o.Server.Kind), string(o.Server.Transport)
	ok := 0.0
	if o.Answered() && o.Rcode == "NOERROR" && o.Negative() == "" {
		ok = 1
	}
	m.success.WithLabelValues(zone, o.Name, o.Type, srv, kind, tr).Set(ok)
	if m.zoneLatency {
		m.duration.WithLabelValues(zone, srv, kind, tr).Observe(o.Latency.Seconds())
	} else {
		m.duration.WithLabelValues(srv, kind, tr).Observe(o.Latency.Seconds())
	}
	if o.Error != model.ErrNone {
		m.errors.WithLabelValues(zone, srv, kind, tr, string(o.Error)).Inc()
	} else if o.Rcode != "" {
		m.responses.WithLabelValues(zone, srv, kind, tr, o.Rcode).Inc()
	}
	for _, e := range o.EDE {
		code := "other"
		if e.Code <= maxEDECode {
			code = strconv.Itoa(int(e.Code))
		}
		m.ede.WithLabelValues(zone, srv, kind, tr, code).Inc()
	}
	if o.CDRetry != nil {
		res := "failure"
		if o.CDRetry.Succeeded {
			res = "success"
		}
		m.cdRetry.WithLabelValues(zone, srv, res).Inc()
	}
	if o.SOASerial != nil && o.Server.Kind == model.KindAuthoritative {
		m.soaSerial.WithLabelValues(zone, srv).Set(float64(*o.SOASerial))
	}
	m.forecast.observe(o)
}

var dsStatuses = []model.DSStatus{model.DSOK, model.DSMismatch, model.DSNoDNSKEY, model.DSUnsigned, model.DSIncomplete}

// ObserveDS records the result of a DS-vs-DNSKEY check.
func (m *DNS) ObserveDS(zone string, c model.DSCheck) {
	for _, s := range dsStatuses {
		v := 0.0
		if s == c.Status {
			v = 1
		}
		m.dsStatus.WithLabelValues(zone, string(s)).Set(v)
	}
	m.forecast.observeDS(zone, c)
}

// ObserveDiscovery records a zone's authoritative server count.
func (m *DNS) ObserveDiscovery(zone string, d model.Discovery) {
	m.authCount.WithLabelValues(zone).Set(float64(len(d.Servers)))
	m.forecast.keepServers(zone, d)
}

// ForgetZone drops every series of a zone a reload removed.
func (m *DNS) ForgetZone(zone string) {
	match := prometheus.Labels{"zone": zone}
	vecs := []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.success, m.responses, m.errors, m.ede, m.cdRetry, m.soaSerial, m.dsStatus, m.authCount}
	if m.zoneLatency {
		vecs = append(vecs, m.duration)
	}
	for _, v := range vecs {
		v.DeletePartialMatch(match)
	}
	m.forecast.forgetZone(zone)
}

// ForgetResolver drops every series of a resolver a reload removed.
func (m *DNS) ForgetResolver(name string) {
	match := prometheus.Labels{"server": name, "kind": string(model.KindResolver)}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.success, m.duration, m.responses, m.errors, m.ede} {
		v.DeletePartialMatch(match)
	}
	m.cdRetry.DeletePartialMatch(prometheus.Labels{"server": name}) // only resolvers are retried
}

// ForgetServer drops the per-server series of an authoritative server that
// is no longer in the zone's set, so stale series do not linger.
func (m *DNS) ForgetServer(zone, server string) {
	match := prometheus.Labels{"zone": zone, "server": server}
	vecs := []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.success, m.responses, m.errors, m.ede, m.soaSerial}
	if m.zoneLatency {
		// Without the zone label the server's histogram is shared by
		// every zone it serves and stays.
		vecs = append(vecs, m.duration)
	}
	for _, v := range vecs {
		v.DeletePartialMatch(match)
	}
	m.cdRetry.DeletePartialMatch(match)
	m.forecast.forget(zone, server)
}
