package schedule

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/model"
)

// slowLookups is a Prober whose discoveries and DS checks each take hold
// (as against a resolver with a cold cache) while probes answer at once;
// it records the most lookups it saw at once and when each probe ran.
type slowLookups struct {
	hold time.Duration

	mu         sync.Mutex
	lookups    int
	maxLookups int
	discovered map[string]bool
	probes     map[string]int
}

func (p *slowLookups) lookup(ctx context.Context) {
	p.mu.Lock()
	p.lookups++
	p.maxLookups = max(p.maxLookups, p.lookups)
	p.mu.Unlock()
	select {
	case <-time.After(p.hold):
	case <-ctx.Done():
	}
	p.mu.Lock()
	p.lookups--
	p.mu.Unlock()
}

func (p *slowLookups) Probe(_ context.Context, q dnsprobe.Query) model.Observation {
	p.mu.Lock()
	p.probes[q.Server.Name+" "+q.Target]++
	p.mu.Unlock()
	return model.Observation{Time: time.Now(), Target: q.Target, Server: q.Server, Name: q.Name, Type: q.Type, Rcode: "NOERROR"}
}

func (p *slowLookups) Discover(ctx context.Context, zone string, _ []model.Server) model.Discovery {
	p.lookup(ctx)
	p.mu.Lock()
	p.discovered[zone] = true
	p.mu.Unlock()
	return model.Discovery{Time: time.Now(), Zone: zone, Servers: []model.AuthServer{auth("ns1.example.", "127.0.0.1:5310")}, TTL: time.Hour}
}

func (p *slowLookups) CheckDS(ctx context.Context, zone string, _ []model.Server, _ []model.AuthServer) model.DSCheck {
	p.lookup(ctx)
	return model.DSCheck{Time: time.Now(), Zone: zone, Status: model.DSOK}
}

// TestLookupsPaced: 40 zones' discoveries and DS checks, all due in the
// first tenth of the interval, run at most lookup_concurrency at once;
// every zone is still discovered, and the resolver probes, which do not
// wait for lookups, keep their rounds meanwhile.
func TestLookupsPaced(t *testing.T) {
	const zones = 40
	var b strings.Builder
	for i := range zones {
		fmt.Fprintf(&b, "[[zone]]\nname = \"z%02d.example\"\n", i)
	}
	cfg := testConfigProbe(t, `
interval = "100ms"
timeout = "50ms"
jitter = "100ms"
lookup_concurrency = 3
discovery_min = "1s"
discovery_max = "1h"
ds_check_interval = "1h"
`, b.String())
	p := &slowLookups{hold: 20 * time.Millisecond, discovered: map[string]bool{}, probes: map[string]int{}}
	s, _, stop := run(t, cfg, p)
	defer stop()
	// 80 lookups of 20 ms, 3 at a time: about 550 ms.
	waitFor(t, "every zone discovered", func() bool { return s.Ready() == nil })
	time.Sleep(100 * time.Millisecond) // the DS checks that follow
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.maxLookups > 3 {
		t.Errorf("%d lookups ran at once, want at most lookup_concurrency = 3", p.maxLookups)
	}
	if len(p.discovered) != zones {
		t.Errorf("%d zones discovered, want %d", len(p.discovered), zones)
	}
	for i := range zones {
		if n := p.probes[fmt.Sprintf("r1 z%02d.example", i)]; n < 4 {
			t.Errorf("z%02d.example asked of r1 %d times while the lookups ran (about 6 intervals), want at least 4", i, n)
		}
	}
}
