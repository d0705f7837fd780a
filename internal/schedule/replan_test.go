package schedule

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/model"
)

// TestSetPlanAddsAndRemovesZones reloads a running schedule: the zone that
// stays keeps being probed, the removed one stops, the added one (a
// discovered zone) starts with its discovery; no skipped-rounds series
// exists while no round was skipped (TestSkippedSeries).
func TestSetPlanAddsAndRemovesZones(t *testing.T) {
	zoneA := `
[[zone]]
name = "a.example"
authoritative = ["127.0.0.1:5310"]
dnssec = false
`
	zoneB := `
[[zone]]
name = "b.example"
authoritative = ["127.0.0.1:5320"]
dnssec = false
`
	zoneC := `
[[zone]]
name = "c.example"
dnssec = false
`
	r := &recorder{probes: map[string]int{}, servers: func(int) []model.AuthServer { return []model.AuthServer{auth("ns1.c.example.", "127.0.0.1:5330")} }}
	s, reg, stop := run(t, testConfig(t, zoneA+zoneB), r)
	defer stop()
	waitFor(t, "b.example probed", func() bool { return r.count("r1 b.example. SOA") >= 2 })

	s.SetPlan(testConfig(t, zoneA+zoneC))
	waitFor(t, "c.example discovered and probed", func() bool {
		return r.count("r1 c.example. SOA") >= 2 && r.count("ns1.c.example. c.example. SOA") >= 2
	})
	// Rounds of b.example that were running at the change may still
	// finish; none starts after that.
	time.Sleep(150 * time.Millisecond)
	before := r.count("r1 b.example. SOA")
	beforeA := r.count("r1 a.example. SOA")
	time.Sleep(400 * time.Millisecond)
	if got := r.count("r1 b.example. SOA"); got != before {
		t.Errorf("b.example probed %d more times after it was removed", got-before)
	}
	if got := r.count("r1 a.example. SOA"); got < beforeA+2 {
		t.Errorf("a.example probed %d times in 400ms after the reload, want it to go on", got-beforeA)
	}
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after adding a zone: %v (a reload must not make the daemon unready)", err)
	}
	if n := testutil.CollectAndCount(reg, "reachmon_probe_skipped_total"); n != 0 {
		t.Errorf("reachmon_probe_skipped_total has %d series, want none (no round was skipped)", n)
	}
	got := s.AuthServers()
	if _, ok := got["b.example."]; ok {
		t.Errorf("AuthServers still lists the removed zone: %v", got)
	}
	if len(got["c.example."]) != 1 {
		t.Errorf("AuthServers[c.example.] = %v, want the discovered server", got["c.example."])
	}
}

// TestSkippedSeries: reachmon_probe_skipped_total has no series for a zone
// until one of its rounds is skipped (at 10,000 zones, 10,000 series of
// zeros otherwise); the series of a zone a reload removed is deleted.
func TestSkippedSeries(t *testing.T) {
	zone := func(name string) string {
		return "\n[[zone]]\nname = \"" + name + "\"\nauthoritative = [\"127.0.0.1:5310\"]\ndnssec = false\n"
	}
	// Every probe lasts its whole timeout, which is the interval: each
	// round ends after the next was due, so every job skips rounds. (With
	// testProbe's 50 ms timeout and 3 workers, skips came only from
	// contention for the workers, and one zone's could stay at none.)
	r := &recorder{probes: map[string]int{}, hold: 300 * time.Millisecond}
	probe := `
interval = "100ms"
timeout = "100ms"
jitter = "10ms"
concurrency = 16
`
	s, reg, stop := run(t, testConfigProbe(t, probe, zone("a.example")+zone("b.example")), r)
	defer stop()
	if n := testutil.CollectAndCount(reg, "reachmon_probe_skipped_total"); n != 0 {
		t.Errorf("reachmon_probe_skipped_total has %d series before any round ran, want none", n)
	}
	skipped := func(z string) float64 {
		return testutil.ToFloat64(s.skipped.WithLabelValues(z))
	}
	waitFor(t, "both zones skip rounds", func() bool {
		return testutil.CollectAndCount(reg, "reachmon_probe_skipped_total") == 2
	})
	if v := skipped("a.example"); v < 1 {
		t.Errorf("a.example skipped %v rounds, want at least 1", v)
	}
	s.SetPlan(testConfigProbe(t, probe, zone("a.example")))
	waitFor(t, "b.example's series deleted", func() bool {
		return testutil.CollectAndCount(reg, "reachmon_probe_skipped_total") == 1
	})
}
