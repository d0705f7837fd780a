package evaluate

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/reachmon/reachmon/internal/model"
)

// zoneSeries gathers reg into "name{label=value,…}" -> value, labels in
// name order.
func zoneSeries(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var kv []string
			for _, l := range m.GetLabel() {
				kv = append(kv, l.GetName()+"="+l.GetValue())
			}
			out[mf.GetName()+"{"+strings.Join(kv, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestZoneCollector follows example.com (signed, two nameservers, one
// validating resolver) and quiet.example (never probed) through the
// published status: the series of each zone, present only while they
// have something to say, and gone with a zone a reload removed.
func TestZoneCollector(t *testing.T) {
	w, sz := forecastWorld(t, testConfig())
	tg := Targets{Vantage: "test", Zones: []Zone{{Name: "example.com."}, {Name: "quiet.example."}},
		Resolvers: []Resolver{{Name: "cloudflare", Validating: true, Addr: mustAddr("1.1.1.1")}}}
	w.e.Reconfigure(testConfig(), tg, w.now)
	var pub Publisher
	reg := prometheus.NewRegistry()
	NewZoneCollector(reg, pub.Load, nil)
	check := func(when string, want map[string]float64) {
		t.Helper()
		pub.Publish(w.e.Snapshot(w.now))
		if got := zoneSeries(t, reg); !maps.Equal(got, want) {
			var b strings.Builder
			for _, k := range slices.Sorted(maps.Keys(got)) {
				fmt.Fprintf(&b, "%s %v\n", k, got[k])
			}
			t.Errorf("%s: series\n%swant %v", when, b.String(), want)
		}
	}
	if got := zoneSeries(t, reg); len(got) != 0 {
		t.Errorf("series before any status was published: %v", got)
	}

	expiry := t0.Add(20 * 24 * time.Hour)
	sz.signAll(t0.Add(-time.Hour), expiry, 3600)
	w.runFor(2*time.Minute, 30*time.Second)
	left := expiry.Sub(w.now).Seconds()
	check("healthy", map[string]float64{
		"reachmon_zone_health{health=ok,zone=example.com}":           1,
		"reachmon_zone_health{health=unknown,zone=quiet.example}":    1,
		"reachmon_dns_authoritative_servers{zone=example.com}":       2,
		"reachmon_dns_authoritative_servers{zone=quiet.example}":     0,
		"reachmon_dnssec_signature_expiry_seconds{zone=example.com}": left,
	})

	// ns2 serves an older serial and a signature that expires sooner; the
	// DS check fails: a DNSSEC incident, one DS series (the current
	// status).
	w.apply(model.DSCheck{Time: w.now, Zone: "example.com.", Status: model.DSOK})
	sz.sig["ns2.example.com."] = &model.SigValidity{Inception: t0.Add(-time.Hour), Expiration: expiry.Add(-time.Hour), TTL: 3600}
	sz.serial["ns2.example.com."] = 8
	w.runFor(time.Minute, 30*time.Second)
	w.apply(model.DSCheck{Time: w.now, Zone: "example.com.", Status: model.DSMismatch, Detail: "DS key tag 296 has no matching DNSKEY"})
	w.runFor(2*time.Minute, 30*time.Second)
	d := w.e.ZoneDetail("example.com", w.now)
	if d.Health != HealthFailing || d.SignatureExpiry == nil || d.Serials == nil {
		t.Fatalf("detail %+v: want failing, with a signature expiry and serials", d)
	}
	check("DS mismatch, serials apart", map[string]float64{
		"reachmon_zone_health{health=failing,zone=example.com}":          1,
		"reachmon_zone_health{health=unknown,zone=quiet.example}":        1,
		"reachmon_dns_authoritative_servers{zone=example.com}":           2,
		"reachmon_dns_authoritative_servers{zone=quiet.example}":         0,
		"reachmon_dns_ds_check_status{status=mismatch,zone=example.com}": 1,
		"reachmon_dnssec_signature_expiry_seconds{zone=example.com}":     d.SignatureExpiry.Seconds,
		"reachmon_dns_soa_serial_spread{zone=example.com}":               float64(d.Serials.Spread),
	})
	if d.SignatureExpiry.Seconds != expiry.Add(-time.Hour).Sub(w.now).Seconds() || d.Serials.Spread != 1 {
		t.Errorf("detail: expiry %v, spread %d; want ns2's signature and 1", d.SignatureExpiry, d.Serials.Spread)
	}

	// The DS check passes again, the serials agree; ns2 turns lame.
	w.apply(model.DSCheck{Time: w.now, Zone: "example.com.", Status: model.DSOK})
	sz.serial["ns2.example.com."] = 7
	w.runFor(time.Minute, 30*time.Second)
	sz.rcode["ns2.example.com."] = "REFUSED"
	w.runFor(3*time.Minute, 30*time.Second)
	d = w.e.ZoneDetail("example.com", w.now)
	if !slices.Equal(d.LameServers, []string{"ns2.example.com."}) {
		t.Fatalf("lame servers %v, want ns2", d.LameServers)
	}
	pub.Publish(w.e.Snapshot(w.now))
	got := zoneSeries(t, reg)
	if got["reachmon_dns_lame_servers{zone=example.com}"] != 1 || got["reachmon_dns_ds_check_status{status=ok,zone=example.com}"] != 1 {
		t.Errorf("after ns2 turned lame and the DS check passed: %v", got)
	}
	for k := range got {
		if strings.HasPrefix(k, "reachmon_dns_soa_serial_spread") || strings.Contains(k, "status=mismatch") {
			t.Errorf("%s still present", k)
		}
	}

	// A reload removes quiet.example: its series go with the next status.
	tg.Zones = tg.Zones[:1]
	w.e.Reconfigure(testConfig(), tg, w.now)
	pub.Publish(w.e.Snapshot(w.now))
	got = zoneSeries(t, reg)
	for k := range got {
		if strings.Contains(k, "quiet.example") {
			t.Errorf("%s after the reload removed quiet.example", k)
		}
	}
	if n := len(got); n != 5 { // example.com's health, servers, DS, expiry, lame
		t.Errorf("%d series after the reload, want 5: %v", n, got)
	}
}

// scrapeStatus is a published status of n zones as the scale benchmark
// has them: signed, DS checked, two servers each, all healthy.
func scrapeStatus(n int) *Status {
	st := &Status{Time: t0}
	for i := range n {
		st.Zones = append(st.Zones, ZoneStatus{Zone: fmt.Sprintf("z%05d.test", i), Health: HealthOK, AuthServers: 2,
			DSCheck: model.DSOK, SignatureExpiry: t0.Add(30 * 24 * time.Hour)})
	}
	return st
}

// BenchmarkZoneCollectorScrape is one /metrics read of the zone
// collector's series at 10,000 zones (Gather and the text encoding, as
// promhttp does), with the vantage label added by wrapping the registerer
// (as internal/app does) or as a const label of each Desc.
func BenchmarkZoneCollectorScrape(b *testing.B) {
	st := scrapeStatus(10000)
	vantage := prometheus.Labels{"vantage": "bench"}
	for _, tc := range []struct {
		name        string
		reg         func(*prometheus.Registry) prometheus.Registerer
		constLabels prometheus.Labels
	}{
		{"const-label", func(r *prometheus.Registry) prometheus.Registerer { return r }, vantage},
		{"wrapped", func(r *prometheus.Registry) prometheus.Registerer { return prometheus.WrapRegistererWith(vantage, r) }, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			NewZoneCollector(tc.reg(reg), func() *Status { return st }, tc.constLabels)
			var size int
			for b.Loop() {
				mfs, err := reg.Gather()
				if err != nil {
					b.Fatal(err)
				}
				var buf bytes.Buffer
				for _, mf := range mfs {
					if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
						b.Fatal(err)
					}
				}
				size = buf.Len()
			}
			b.ReportMetric(float64(size)/(1<<20), "MiB")
		})
	}
}
