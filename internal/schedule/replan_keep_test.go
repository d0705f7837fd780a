package schedule

import (
	"testing"

	"github.com/reachmon/reachmon/internal/model"
)

// TestSetPlanChangedZoneKeepsServers: a zone whose settings a reload
// changes is scheduled again as if new, but keeps the servers its
// discovery found: its new queries go to them even while its next
// discoveries fail.
func TestSetPlanChangedZoneKeepsServers(t *testing.T) {
	zone := func(types string) string {
		return "\n[[zone]]\nname = \"c.example\"\ndnssec = false\ntypes = " + types + "\n"
	}
	r := &recorder{probes: map[string]int{}, servers: func(n int) []model.AuthServer {
		if n == 0 {
			return []model.AuthServer{auth("ns1.c.example.", "127.0.0.1:5330")}
		}
		return nil // every later discovery fails
	}}
	s, _, stop := run(t, testConfig(t, zone(`["SOA"]`)), r)
	defer stop()
	waitFor(t, "c.example discovered and probed", func() bool { return r.count("ns1.c.example. c.example. SOA") >= 1 })

	s.SetPlan(testConfig(t, zone(`["SOA", "TXT"]`)))
	waitFor(t, "the new type asked of the discovered server", func() bool { return r.count("ns1.c.example. c.example. TXT") >= 2 })
	if got := s.AuthServers()["c.example."]; len(got) != 1 || got[0].Host != "ns1.c.example." {
		t.Errorf("AuthServers[c.example.] = %v after the reload, want the discovered server", got)
	}
}
