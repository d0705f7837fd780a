package schedule

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/model"
)

// TestSetPlanAddsAndRemovesZones reloads a running schedule: the zone that
// stays keeps being probed, the removed one stops, the added one (a
// discovered zone) starts with its discovery, and the skipped-rounds
// series follow the zones.
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
	if n := testutil.CollectAndCount(reg, "reachmon_probe_skipped_total"); n != 2 {
		t.Errorf("reachmon_probe_skipped_total has %d series, want 2 (a.example, c.example)", n)
	}
	got := s.AuthServers()
	if _, ok := got["b.example."]; ok {
		t.Errorf("AuthServers still lists the removed zone: %v", got)
	}
	if len(got["c.example."]) != 1 {
		t.Errorf("AuthServers[c.example.] = %v, want the discovered server", got["c.example."])
	}
}
