// Package metrics turns reachmon's events into Prometheus metrics. Label
// values are bounded: configured zone, name and server names, server kind,
// query type, transport, rcode names and error classes; never a raw
// address or free text.
//
// At many zones the per-zone series are most of a scrape, so the DNS
// metrics are per server (counters, the latency histogram unless
// [metrics] zone_latency) or sparse (reachmon_dns_probe_failing exists
// only while a query fails); the per-zone state is emitted at scrape time
// by the zone collector (zone.go) from the evaluator's published status.
package metrics

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/reachmon/reachmon/internal/model"
)

// DNS holds the DNS probe metrics.
type DNS struct {
	// zoneLatency: the duration histogram has a zone label.
	zoneLatency bool
	failing     *prometheus.GaugeVec
	duration    *prometheus.HistogramVec
	responses   *prometheus.CounterVec
	errors      *prometheus.CounterVec
	ede         *prometheus.CounterVec
	cdRetry     *prometheus.CounterVec

	// mu guards series: the series of failing, by zone (a handful while
	// the fleet is healthy), so that a success deletes only a series that
	// exists and a departed server's or a removed zone's series can be
	// found without walking the vector.
	mu     sync.Mutex
	series map[string]map[failKey]struct{}
}

// failKey is one series of reachmon_dns_probe_failing within its zone.
type failKey struct {
	name, qtype, server, kind, transport string
}

func (k failKey) labels(zone string) []string {
	return []string{zone, k.name, k.qtype, k.server, k.kind, k.transport}
}

// NewDNS registers the DNS metrics with reg. Without zoneLatency the
// probe duration histogram has no zone label: one histogram per server.
func NewDNS(reg prometheus.Registerer, zoneLatency bool) *DNS {
	f := promauto.With(reg)
	probe := []string{"zone", "name", "qtype", "server", "kind", "transport"}
	server := []string{"server", "kind", "transport"}
	latency := server
	if zoneLatency {
		latency = append([]string{"zone"}, server...)
	}
	return &DNS{
		zoneLatency: zoneLatency,
		series:      map[string]map[failKey]struct{}{},
		failing: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_dns_probe_failing",
			Help: "1 while the last probe of the query at the server failed (no answer, an rcode other than NOERROR, or NXDOMAIN/NODATA); absent while it succeeds.",
		}, probe),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reachmon_dns_probe_duration_seconds",
			Help:    "Time from sending a query to its answer (or to giving up), including a TCP retry.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, latency),
		responses: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_dns_responses_total",
			Help: "DNS responses received, by server and response code (every zone).",
		}, append(slices.Clip(server), "rcode")),
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_dns_probe_errors_total",
			Help: "Probes that got no usable answer, by server and error class (timeout, refused, unreachable, malformed, truncated, tls, http, network).",
		}, append(slices.Clip(server), "class")),
		ede: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_dns_ede_total",
			Help: "Extended DNS Errors (RFC 8914) received, by server and info code.",
		}, append(slices.Clip(server), "code")),
		cdRetry: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_dns_cd_retry_total",
			Help: "SERVFAILs from validating resolvers retried with CD=1, by outcome: success points at DNSSEC.",
		}, []string{"server", "result"}),
	}
}

// maxEDECode bounds the ede code label: codes above it (unassigned today)
// are counted as "other".
const maxEDECode = 49

// probeFailed is the test of reachmon_dns_probe_failing: no answer, an
// rcode other than NOERROR, or a negative answer (NXDOMAIN, NODATA).
func probeFailed(o model.Observation) bool {
	return !o.Answered() || o.Rcode != "NOERROR" || o.Negative() != ""
}

// Observe records one probe result.
func (m *DNS) Observe(o model.Observation) {
	zone, srv, kind, tr := o.Target, o.Server.Name, string(o.Server.Kind), string(o.Server.Transport)
	m.setFailing(zone, failKey{o.Name, o.Type, srv, kind, tr}, probeFailed(o))
	if m.zoneLatency {
		m.duration.WithLabelValues(zone, srv, kind, tr).Observe(o.Latency.Seconds())
	} else {
		m.duration.WithLabelValues(srv, kind, tr).Observe(o.Latency.Seconds())
	}
	if o.Error != model.ErrNone {
		m.errors.WithLabelValues(srv, kind, tr, string(o.Error)).Inc()
	} else if o.Rcode != "" {
		m.responses.WithLabelValues(srv, kind, tr, o.Rcode).Inc()
	}
	for _, e := range o.EDE {
		code := "other"
		if e.Code <= maxEDECode {
			code = strconv.Itoa(int(e.Code))
		}
		m.ede.WithLabelValues(srv, kind, tr, code).Inc()
	}
	if o.CDRetry != nil {
		res := "failure"
		if o.CDRetry.Succeeded {
			res = "success"
		}
		m.cdRetry.WithLabelValues(srv, res).Inc()
	}
}

// setFailing creates (failed) or deletes the query's failing series.
func (m *DNS) setFailing(zone string, k failKey, failed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	byZone := m.series[zone]
	_, was := byZone[k]
	switch {
	case failed && !was:
		if byZone == nil {
			byZone = map[failKey]struct{}{}
			m.series[zone] = byZone
		}
		byZone[k] = struct{}{}
		m.failing.WithLabelValues(k.labels(zone)...).Set(1)
	case !failed && was:
		m.deleteFailing(zone, k)
	}
}

// deleteFailing deletes one failing series; m.mu is held.
func (m *DNS) deleteFailing(zone string, k failKey) {
	m.failing.DeleteLabelValues(k.labels(zone)...)
	delete(m.series[zone], k)
	if len(m.series[zone]) == 0 {
		delete(m.series, zone)
	}
}

// forgetFailing deletes the failing series of zone (every zone when zone
// is "") that drop says to.
func (m *DNS) forgetFailing(zone string, drop func(failKey) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if zone != "" {
		for k := range m.series[zone] {
			if drop(k) {
				m.deleteFailing(zone, k)
			}
		}
		return
	}
	for z, byZone := range m.series {
		for k := range byZone {
			if drop(k) {
				m.deleteFailing(z, k)
			}
		}
	}
}

// FailingSeries is the number of reachmon_dns_probe_failing series.
func (m *DNS) FailingSeries() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, byZone := range m.series {
		n += len(byZone)
	}
	return n
}

// ObserveDiscovery forgets the failing series of the zone's
// authoritative servers that its discovered set no longer holds (server
// names are the host, or "host#v6", "host#2" …). A failed discovery keeps
// the previous set.
func (m *DNS) ObserveDiscovery(zone string, d model.Discovery) {
	if d.Error != "" || len(d.Servers) == 0 {
		return
	}
	hosts := make(map[string]bool, len(d.Servers))
	for _, s := range d.Servers {
		hosts[s.Host] = true
	}
	m.forgetFailing(zone, func(k failKey) bool {
		h, _, _ := strings.Cut(k.server, "#")
		return k.kind == string(model.KindAuthoritative) && !hosts[h]
	})
}

// KeepQueries forgets the failing series of the zone's queries that asked
// says are no longer asked (a reload changed the zone's names or types).
func (m *DNS) KeepQueries(zone string, asked func(name, qtype string, kind model.ServerKind) bool) {
	m.forgetFailing(zone, func(k failKey) bool { return !asked(k.name, k.qtype, model.ServerKind(k.kind)) })
}

// ForgetZone drops every series of a zone a reload removed.
func (m *DNS) ForgetZone(zone string) {
	m.forgetFailing(zone, func(failKey) bool { return true })
	if m.zoneLatency {
		m.duration.DeletePartialMatch(prometheus.Labels{"zone": zone})
	}
}

// ForgetResolver drops every series of a resolver a reload removed.
func (m *DNS) ForgetResolver(name string) {
	m.forgetFailing("", func(k failKey) bool { return k.kind == string(model.KindResolver) && k.server == name })
	match := prometheus.Labels{"server": name, "kind": string(model.KindResolver)}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.duration, m.responses, m.errors, m.ede} {
		v.DeletePartialMatch(match)
	}
	m.cdRetry.DeletePartialMatch(prometheus.Labels{"server": name}) // only resolvers are retried
}
