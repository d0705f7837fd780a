package schedule

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/model"
)

// goneProber answers every probe until gone is set, then NXDOMAIN; its
// discoveries last an hour.
type goneProber struct {
	gone  atomic.Bool
	mu    sync.Mutex
	discN int
}

func (g *goneProber) Probe(_ context.Context, q dnsprobe.Query) model.Observation {
	o := model.Observation{Time: time.Now(), Target: q.Target, Server: q.Server, Name: q.Name, Type: q.Type, Rcode: "NOERROR",
		Answers: []string{q.Name + " IN A 192.0.2.1"}}
	if g.gone.Load() {
		o.Rcode, o.Answers = "NXDOMAIN", nil
	}
	return o
}

func (g *goneProber) Discover(_ context.Context, zone string, _ []model.Server) model.Discovery {
	g.mu.Lock()
	g.discN++
	g.mu.Unlock()
	return model.Discovery{Time: time.Now(), Zone: zone, Servers: []model.AuthServer{auth("ns1.g.example.", "127.0.0.1:5340")},
		TTL: time.Hour, Delegation: model.DelegationOK}
}

func (g *goneProber) CheckDS(_ context.Context, zone string, _ []model.Server, _ []model.AuthServer) model.DSCheck {
	return model.DSCheck{Time: time.Now(), Zone: zone, Status: model.DSOK}
}

func (g *goneProber) discoveries() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.discN
}

// TestNegativeAnswerRediscovers: when resolvers begin to say a name of a
// discovered zone does not exist, the zone is discovered again at once
// (the parent's answer tells a removed delegation from a resolver-side
// problem), once per onset rather than every round.
func TestNegativeAnswerRediscovers(t *testing.T) {
	cfg, err := config.Parse("t.toml", []byte(`
[probe]
interval = "50ms"
timeout = "40ms"
jitter = "10ms"
discovery_min = "50ms"
discovery_max = "1h"
ds_check_interval = "1h"
[[resolver]]
name = "r1"
address = "127.0.0.1:5301"
[[resolver]]
name = "r2"
address = "127.0.0.1:5302"
[[zone]]
name = "g.example"
names = ["www"]
types = ["A"]
`))
	if err != nil {
		t.Fatal(err)
	}
	g := &goneProber{}
	_, _, stop := run(t, cfg, g)
	defer stop()
	waitFor(t, "the first discovery", func() bool { return g.discoveries() == 1 })
	time.Sleep(300 * time.Millisecond) // six probe rounds
	if n := g.discoveries(); n != 1 {
		t.Fatalf("%d discoveries while every name answers and the set lasts an hour, want 1", n)
	}
	g.gone.Store(true)
	waitFor(t, "a discovery after the resolvers said NXDOMAIN", func() bool { return g.discoveries() >= 2 })
	time.Sleep(500 * time.Millisecond) // ten probe rounds of NXDOMAIN
	// Each of the two resolver probes may ask once at its onset.
	if n := g.discoveries(); n > 3 {
		t.Errorf("%d discoveries after ten rounds of NXDOMAIN, want at most 3 (once per onset, not every round)", n)
	}
}
