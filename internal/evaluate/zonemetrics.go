package evaluate

import "github.com/prometheus/client_golang/prometheus"

// ZoneCollector emits the per-zone series at scrape time from the last
// published Status, so that they cost no memory between scrapes (a
// GaugeVec keeps a map entry, label strings and a hash per series: at
// 10,000 zones most of the daemon's heap) and disappear with the zone
// the moment a reload removes it from the evaluator:
//
//	reachmon_zone_health{zone,health}                  1; health as /api/v1/status zones[].health
//	reachmon_dns_authoritative_servers{zone}           authoritative server addresses known
//	reachmon_dns_ds_check_status{zone,status}          1 for the last DS check's status; none before the first
//	reachmon_dnssec_signature_expiry_seconds{zone}     from the status time to the earliest RRSIG expiration; absent unsigned
//	reachmon_dns_lame_servers{zone}                    lame servers, only while there are any
//	reachmon_dns_soa_serial_spread{zone}               SOA serial spread, only while the serials differ
//
// The status is published by the evaluator's owner (internal/app) every
// few seconds, and within a second of an incident change.
//
// Labels every series carries (the vantage) are const labels of its
// Desc rather than added by prometheus.WrapRegistererWith, which rewrites
// every metric at every scrape: at 10,000 zones (40,000 series) a read
// of these series costs 0.22 s of CPU wrapped, 0.09 s with const labels
// (BenchmarkZoneCollectorScrape).
type ZoneCollector struct {
	status                                    func() *Status
	health, servers, ds, expiry, lame, spread *prometheus.Desc
}

// NewZoneCollector registers the zone collector with reg; status returns
// the status to read (Publisher.Load; nil: no series), constLabels are
// labels of every series (nil: none).
func NewZoneCollector(reg prometheus.Registerer, status func() *Status, constLabels prometheus.Labels) *ZoneCollector {
	zone := []string{"zone"}
	c := &ZoneCollector{
		status: status,
		health: prometheus.NewDesc("reachmon_zone_health",
			"1 for each watched zone, its health as /api/v1/status has it: ok, degraded (some servers failing), failing (a zone incident is open or its condition holds), unknown (no server decided yet).",
			[]string{"zone", "health"}, constLabels),
		servers: prometheus.NewDesc("reachmon_dns_authoritative_servers",
			"Authoritative server addresses known for the zone (discovered or configured).", zone, constLabels),
		ds: prometheus.NewDesc("reachmon_dns_ds_check_status",
			"1 for the status of the zone's last DS-vs-DNSKEY check (ok, mismatch, no-dnskey, unsigned, incomplete); no series before the first.",
			[]string{"zone", "status"}, constLabels),
		expiry: prometheus.NewDesc("reachmon_dnssec_signature_expiry_seconds",
			"Seconds from the status time to the earliest RRSIG expiration the zone's authoritative servers serve (apex SOA, probed RRsets, DNSKEY set); negative once expired; absent for unsigned zones.",
			zone, constLabels),
		lame: prometheus.NewDesc("reachmon_dns_lame_servers",
			"Authoritative servers of the zone that answer, but not authoritatively (REFUSED, SERVFAIL, NOTAUTH or AA=0), while another answers well; present only while there are any.",
			zone, constLabels),
		spread: prometheus.NewDesc("reachmon_dns_soa_serial_spread",
			"Distance between the lowest and the highest SOA serial the zone's authoritative servers serve (RFC 1982 arithmetic); present only while they differ.",
			zone, constLabels),
	}
	reg.MustRegister(c)
	return c
}

// Describe implements prometheus.Collector.
func (c *ZoneCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.health, c.servers, c.ds, c.expiry, c.lame, c.spread} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *ZoneCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	if st == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for i := range st.Zones {
		z := &st.Zones[i]
		gauge(c.health, 1, z.Zone, z.Health)
		gauge(c.servers, float64(z.AuthServers), z.Zone)
		if z.DSCheck != "" {
			gauge(c.ds, 1, z.Zone, string(z.DSCheck))
		}
		if !z.SignatureExpiry.IsZero() {
			gauge(c.expiry, z.SignatureExpiry.Sub(st.Time).Seconds(), z.Zone)
		}
		if z.LameServers > 0 {
			gauge(c.lame, float64(z.LameServers), z.Zone)
		}
		if z.SerialSpread > 0 {
			gauge(c.spread, float64(z.SerialSpread), z.Zone)
		}
	}
}
