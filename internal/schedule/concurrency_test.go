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

func TestAutoLimit(t *testing.T) {
	for _, tc := range []struct {
		demand float64
		fds    int
		want   int
	}{
		{0, 0, minAutoConcurrency},
		{30, 0, minAutoConcurrency},       // 30 × 1.25 + 16 = 53.5
		{100, 0, 141},                     // 125 + 16
		{4166.7, 0, 5225},                 // 10,000 zones × 5 servers, 5 s timeout, 60 s interval
		{20000, 0, maxAutoConcurrency},    // capped
		{4166.7, 1024, 512},               // half the open-file limit
		{4166.7, 100, minAutoConcurrency}, // but never below the minimum
		{4166.7, 1 << 20, 5225},           // a generous limit does not matter
		{100, 4096, 141},                  // nor does one above the need
	} {
		if got := autoLimit(tc.demand, tc.fds); got != tc.want {
			t.Errorf("autoLimit(%v, %d) = %d, want %d", tc.demand, tc.fds, got, tc.want)
		}
	}
}

// silentProber answers every probe at once, except those to the server
// named silent, which wait for their deadline (a resolver that stopped
// answering).
type silentProber struct {
	silent string
	mu     sync.Mutex
	probes map[string]int
}

func (p *silentProber) Probe(ctx context.Context, q dnsprobe.Query) model.Observation {
	if q.Server.Name == p.silent {
		<-ctx.Done()
	}
	p.mu.Lock()
	p.probes[q.Server.Name+" "+q.Target]++
	p.mu.Unlock()
	return model.Observation{Time: time.Now(), Target: q.Target, Server: q.Server, Name: q.Name, Type: q.Type, Rcode: "NOERROR"}
}

func (p *silentProber) Discover(context.Context, string, []model.Server) model.Discovery {
	return model.Discovery{}
}

func (p *silentProber) CheckDS(context.Context, string, []model.Server, []model.AuthServer) model.DSCheck {
	return model.DSCheck{}
}

// A resolver that stops answering holds a worker for the whole timeout of
// each of its probes. With the automatic limit that must not delay the
// probes of the other servers: each of them keeps its rounds.
func TestSilentServerDoesNotDelayOthers(t *testing.T) {
	const zones = 60
	var b strings.Builder
	for i := range zones {
		fmt.Fprintf(&b, "[[zone]]\nname = \"z%02d.example\"\nauthoritative = [\"127.0.0.1:5310\"]\ndnssec = false\n", i)
	}
	cfg := testConfigProbe(t, `
interval = "200ms"
timeout = "150ms"
jitter = "200ms"
concurrency = 0
discovery_min = "60ms"
ds_check_interval = "100ms"
`, b.String())
	// r1's 60 probes hold a worker 150 ms of every 200: 45 at once on
	// average. With concurrency = 16 instead, the healthy servers' probes
	// got 4–6 rounds of 10 here; with the automatic limit, 9–10.
	p := &silentProber{silent: "r1", probes: map[string]int{}}
	_, reg, stop := run(t, cfg, p)
	const rounds = 10
	time.Sleep(rounds * cfg.Probe.Interval.Duration)
	stop()
	// 180 probe jobs (60 zones × r1, r2 and the authoritative server),
	// each needing 150/200 of a worker when it times out: demand 135.
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var limit float64
	for _, f := range fams {
		if f.GetName() == "reachmon_probe_concurrency_limit" {
			limit = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if want := autoLimit(135, openFileLimit()); limit != float64(want) {
		t.Errorf("reachmon_probe_concurrency_limit = %v, want %d", limit, want)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	low, hist := 0, map[int]int{}
	defer func() { t.Logf("rounds of the healthy servers' probes: %v", hist) }()
	for i := range zones {
		for _, srv := range []string{"r2", "127.0.0.1:5310"} {
			k := fmt.Sprintf("%s z%02d.example", srv, i)
			// Ten intervals: the first round starts somewhere in the
			// first, so nine or ten; a loaded machine may lose one more.
			hist[p.probes[k]]++
			if n := p.probes[k]; n < rounds-3 {
				low++
				if low <= 5 {
					t.Errorf("%s: %d rounds in %d intervals while r1 was silent", k, n, rounds)
				}
			}
		}
	}
	if low > 5 {
		t.Errorf("... %d probes of healthy servers in all lost rounds", low)
	}
}
