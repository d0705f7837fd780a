package benchpeers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/metrics"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/schedule"
)

// testCheckSet is a check set on made-up addresses (nothing is contacted).
func testCheckSet() *checkSet {
	var res []string
	for j := range numResolvers {
		res = append(res, fmt.Sprintf("127.99.%d.53:53", 2+j))
	}
	var zones []zoneServers
	for i := range numZones {
		zones = append(zones, zoneServers{name: zoneName(i), auth: []string{
			fmt.Sprintf("127.99.%d.1:53", 10+2*i), fmt.Sprintf("127.99.%d.1:53", 11+2*i),
		}})
	}
	return newCheckSet(res, zones)
}

// recorder is a schedule.Prober that records each query once.
type recorder struct {
	mu   sync.Mutex
	seen map[string]dnsprobe.Query
}

func (r *recorder) Probe(_ context.Context, q dnsprobe.Query) model.Observation {
	r.mu.Lock()
	r.seen[checkKey(string(q.Server.Kind), q.Server.Addr, q.Name, q.Type)] = q
	r.mu.Unlock()
	return model.Observation{Target: q.Target, Server: q.Server, Name: q.Name, Type: q.Type, Rcode: "NOERROR"}
}

func (r *recorder) Discover(context.Context, string, []model.Server) model.Discovery {
	panic("discovery: the benchmark's zones list their authoritative servers")
}

func (r *recorder) CheckDS(context.Context, string, []model.Server, []model.AuthServer) model.DSCheck {
	panic("DS check: the benchmark's zones have dnssec = false")
}

func checkKey(kind, server, name, qtype string) string {
	return strings.Join([]string{kind, server, name, qtype}, " ")
}

// TestCheckSetMatchesSchedule keeps the comparison honest: the checks the
// scraper asks blackbox_exporter for are exactly the probes reachmon's
// scheduler runs for the generated configuration, each once per interval,
// and failingKey spells each check's reachmon_dns_probe_failing series as
// reachmon does.
func TestCheckSetMatchesSchedule(t *testing.T) {
	s := testCheckSet()
	if got, want := len(s.checks), numZones*(numResolvers*len(checkNames)*len(checkTypes)+2*(len(checkNames)*(len(checkTypes)-1)+1)); got != want {
		t.Fatalf("%d checks, want %d", got, want)
	}
	p := probeSettings{interval: 300 * time.Millisecond, timeout: 300 * time.Millisecond, jitter: 297 * time.Millisecond, concurrency: 64}
	cfg, err := config.Parse("bench.toml", []byte(s.reachmonConfig("127.0.0.1:0", t.TempDir(), p)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Probe.Jitter.Duration != p.jitter || cfg.Probe.Concurrency != p.concurrency {
		t.Fatalf("probe settings not taken: %+v", cfg.Probe)
	}
	rec := &recorder{seen: map[string]dnsprobe.Query{}}
	out := make(chan model.Event, 1024)
	sched, err := schedule.New(cfg, rec, out, schedule.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Run until every check has been probed (one interval, unless the
	// machine is very slow) or 10 s have passed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	go func() {
		for {
			select {
			case <-out:
			case <-ctx.Done():
				return
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		rec.mu.Lock()
		n := len(rec.seen)
		rec.mu.Unlock()
		if n >= len(s.checks) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(p.interval / 2) // anything else it would probe shows up
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	want := map[string]bool{}
	for _, c := range s.checks {
		k := model.KindResolver
		if c.kind == kindAuth {
			k = model.KindAuthoritative
		}
		want[checkKey(string(k), c.server, c.name, c.qtype)] = true
	}
	if len(want) != len(s.checks) {
		t.Fatalf("the check set has duplicates: %d distinct of %d", len(want), len(s.checks))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var extra, lacking []string
	for k := range rec.seen {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	for k := range want {
		if _, ok := rec.seen[k]; !ok {
			lacking = append(lacking, k)
		}
	}
	slices.Sort(extra)
	slices.Sort(lacking)
	if len(extra) > 0 || len(lacking) > 0 {
		t.Fatalf("reachmon's schedule and the check set differ: %d probes not in the set (%.3q), %d checks not probed (%.3q)",
			len(extra), extra, len(lacking), lacking)
	}

	// The benchmark finds a failing check's series by failingKey: every
	// probe answered SERVFAIL gives reachmon's metrics the series that
	// failingKey names for its check, and no other.
	reg := prometheus.NewRegistry()
	m := metrics.NewDNS(reg, false)
	for _, q := range rec.seen {
		m.Observe(model.Observation{Target: q.Target, Server: q.Server, Name: q.Name, Type: q.Type, Rcode: "SERVFAIL"})
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var failing *dto.MetricFamily
	for _, f := range fams {
		if f.GetName() == "reachmon_dns_probe_failing" {
			failing = f
		}
	}
	if n := len(failing.GetMetric()); n != len(s.checks) {
		t.Fatalf("%d reachmon_dns_probe_failing series for %d failing checks", n, len(s.checks))
	}
	if bad := s.failingNotChecks(failing); len(bad) > 0 {
		t.Errorf("%d of reachmon's failing series are spelled otherwise than failingKey's, e.g. %q (failingKey: %q)",
			len(bad), bad[0], s.failingKey(s.checks[0]))
	}
}

// TestBlackboxConfig checks the generated blackbox_exporter configuration
// (the benchmark also has blackbox_exporter check it, --config.check): one
// module per question, each with the check's name, type and RD flag.
func TestBlackboxConfig(t *testing.T) {
	s := testCheckSet()
	conf := s.blackboxConfig(1500 * time.Millisecond)
	if got, want := strings.Count(conf, "prober: dns"), len(s.questions(true))+len(s.questions(false)); got != want {
		t.Errorf("%d modules, want %d", got, want)
	}
	seen := map[string]bool{}
	for _, c := range s.checks {
		if seen[c.module()] {
			continue
		}
		seen[c.module()] = true
		want := fmt.Sprintf("  %s:\n    prober: dns\n    timeout: 1.5s\n    dns:\n      query_name: %q\n      query_type: %s\n", c.module(), c.name, c.qtype)
		i := strings.Index(conf, want)
		if i < 0 {
			t.Fatalf("check %+v: no module %q in\n%.600s", c, want, conf)
		}
		if rd := fmt.Sprintf("recursion_desired: %t\n", c.rd()); !strings.Contains(conf[i:min(len(conf), i+len(want)+200)], rd) {
			t.Fatalf("check %+v: module %q lacks %q", c, c.module(), rd)
		}
	}
	if u := s.checks[0].probeURL("http://127.0.0.1:1"); !strings.Contains(u, "module=res_z00.test_SOA") || !strings.Contains(u, "target=127.99.2.53%3A53") {
		t.Errorf("probe URL %s", u)
	}
}
