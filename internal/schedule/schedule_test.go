package schedule

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/model"
)

// recorder is a Prober that records what the scheduler asks of it. The
// DNS protocol itself is tested in dnsprobe against real servers; here
// only the schedule matters.
type recorder struct {
	mu        sync.Mutex
	probes    map[string]int // "server name type" -> count
	noDL      int            // probes whose context had no deadline
	inFlight  atomic.Int32
	maxFlight atomic.Int32
	hold      time.Duration
	servers   func(n int) []model.AuthServer // discovery result for call n
	discCalls int
	dsCalls   int
	starts    []time.Time // when each probe started (when not nil)
}

func (r *recorder) Probe(ctx context.Context, q dnsprobe.Query) model.Observation {
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	r.mu.Lock()
	if r.starts != nil {
		r.starts = append(r.starts, time.Now())
	}
	r.mu.Unlock()
	for {
		m := r.maxFlight.Load()
		if n <= m || r.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		r.mu.Lock()
		r.noDL++
		r.mu.Unlock()
	}
	select {
	case <-time.After(r.hold):
	case <-ctx.Done():
	}
	r.mu.Lock()
	r.probes[q.Server.Name+" "+q.Name+" "+q.Type]++
	r.mu.Unlock()
	return model.Observation{Time: time.Now(), Target: q.Target, Server: q.Server, Name: q.Name, Type: q.Type, Rcode: "NOERROR"}
}

func (r *recorder) Discover(ctx context.Context, zone string, _ []model.Server) model.Discovery {
	r.mu.Lock()
	n := r.discCalls
	r.discCalls++
	r.mu.Unlock()
	return model.Discovery{Time: time.Now(), Zone: zone, Servers: r.servers(n), TTL: time.Millisecond}
}

func (r *recorder) CheckDS(ctx context.Context, zone string, _ []model.Server, auth []model.AuthServer) model.DSCheck {
	r.mu.Lock()
	r.dsCalls++
	r.mu.Unlock()
	return model.DSCheck{Time: time.Now(), Zone: zone, Status: model.DSOK}
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.probes[key]
}

// testProbe is the [probe] section of testConfig.
const testProbe = `
interval = "100ms"
timeout = "50ms"
jitter = "10ms"
concurrency = 3
discovery_min = "60ms"
discovery_max = "60ms"
ds_check_interval = "100ms"
`

func testConfig(t *testing.T, extra string) *config.Plan {
	return testConfigProbe(t, testProbe, extra)
}

// testConfigProbe is testConfig with probe as the [probe] section: the
// zones' intervals are resolved from it at load.
func testConfigProbe(t *testing.T, probe, extra string) *config.Plan {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte(`
[probe]
`+probe+`
[[resolver]]
name = "r1"
address = "127.0.0.1:5301"
[[resolver]]
name = "r2"
address = "127.0.0.1:5302"
`+extra))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func auth(host, addr string) model.AuthServer {
	return model.AuthServer{Host: host, Addr: netip.MustParseAddrPort(addr), Sources: []model.AuthSource{model.SourceResolver}}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func run(t *testing.T, cfg *config.Plan, p Prober) (*Scheduler, *prometheus.Registry, func()) {
	t.Helper()
	out := make(chan model.Event, 64)
	reg := prometheus.NewRegistry()
	s, err := New(cfg, p, out, Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-out:
			case <-ctx.Done():
				return
			}
		}
	}()
	return s, reg, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		<-drained
	}
}

func TestEveryTargetProbedRepeatedlyWithinConcurrency(t *testing.T) {
	cfg := testConfig(t, `
[[zone]]
name = "a.example"
names = ["@", "www"]
types = ["A", "AAAA"]
authoritative = ["127.0.0.1:5310"]
dnssec = false
`)
	r := &recorder{probes: map[string]int{}, hold: 20 * time.Millisecond}
	_, reg, stop := run(t, cfg, r)
	keys := []string{}
	for _, srv := range []string{"r1", "r2", "127.0.0.1:5310"} {
		for _, n := range []string{"a.example.", "www.a.example."} {
			for _, ty := range []string{"A", "AAAA"} {
				keys = append(keys, fmt.Sprintf("%s %s %s", srv, n, ty))
			}
		}
	}
	// The authoritative server is also asked for the apex SOA (its serial).
	keys = append(keys, "127.0.0.1:5310 a.example. SOA")
	waitFor(t, "three rounds of every probe", func() bool {
		for _, k := range keys {
			if r.count(k) < 3 {
				return false
			}
		}
		return true
	})
	stop()
	if got := r.maxFlight.Load(); got > 3 {
		t.Errorf("%d probes ran at once; concurrency is 3", got)
	}
	if r.noDL != 0 {
		t.Errorf("%d probes ran without a deadline", r.noDL)
	}
	if n := testutil.CollectAndCount(reg, "reachmon_probe_schedule_lag_seconds"); n != 1 {
		t.Errorf("lag histogram series = %d, want 1", n)
	}
}

func TestConfiguredServersReportedAsDiscovery(t *testing.T) {
	cfg := testConfig(t, `
[[zone]]
name = "d.example"
authoritative = ["127.0.0.1:5330", "127.0.0.2"]
`)
	out := make(chan model.Event, 64)
	s, err := New(cfg, &recorder{probes: map[string]int{}}, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-out:
			d, ok := ev.(model.Discovery)
			if !ok {
				continue
			}
			if d.Zone != "d.example." || len(d.Servers) != 2 || d.Servers[1].Addr.String() != "127.0.0.2:53" {
				t.Fatalf("discovery = %+v", d)
			}
			return
		case <-deadline:
			t.Fatal("no discovery event for the configured servers")
		}
	}
}

func TestDiscoveryReplacesAuthoritativeProbes(t *testing.T) {
	cfg := testConfig(t, `
[[zone]]
name = "b.example"
types = ["SOA"]
`)
	old := auth("ns-old.b.example.", "127.0.0.1:5320")
	fresh := auth("ns-new.b.example.", "127.0.0.1:5321")
	r := &recorder{probes: map[string]int{}, servers: func(n int) []model.AuthServer {
		if n < 2 {
			return []model.AuthServer{old}
		}
		return []model.AuthServer{fresh}
	}}
	s, _, stop := run(t, cfg, r)
	defer stop()
	waitFor(t, "the first server to be probed", func() bool { return r.count("ns-old.b.example. b.example. SOA") > 0 })
	waitFor(t, "the rediscovered server to be probed", func() bool { return r.count("ns-new.b.example. b.example. SOA") > 1 })
	before := r.count("ns-old.b.example. b.example. SOA")
	time.Sleep(300 * time.Millisecond) // three intervals
	if after := r.count("ns-old.b.example. b.example. SOA"); after > before+1 {
		t.Errorf("the server that left the NS set is still probed: %d -> %d", before, after)
	}
	got := s.AuthServers()["b.example."]
	if len(got) != 1 || got[0].Host != "ns-new.b.example." {
		t.Errorf("AuthServers = %v", got)
	}
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after discovery: %v", err)
	}
	r.mu.Lock()
	ds := r.dsCalls
	r.mu.Unlock()
	if ds == 0 {
		t.Error("DS check never ran")
	}
}

func TestReadyWaitsForDiscovery(t *testing.T) {
	cfg := testConfig(t, `
[[zone]]
name = "c.example"
`)
	s, err := New(cfg, &recorder{}, make(chan model.Event), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); err == nil {
		t.Error("ready before any discovery")
	}
}

func TestAuthModelServersNamesAreUnique(t *testing.T) {
	got := AuthModelServers([]model.AuthServer{
		auth("ns1.x.", "192.0.2.1:53"), auth("ns1.x.", "192.0.2.2:53"), auth("ns1.x.", "[2001:db8::1]:53"), auth("ns1.x.", "[2001:db8::2]:53"),
	})
	want := []string{"ns1.x.", "ns1.x.#2", "ns1.x.#v6", "ns1.x.#v6-2"}
	for i, s := range got {
		if s.Name != want[i] || s.Kind != model.KindAuthoritative {
			t.Errorf("server %d = %+v, want name %s", i, s, want[i])
		}
	}
}
