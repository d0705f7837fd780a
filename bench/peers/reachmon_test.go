package benchpeers

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// reachmonBinEnv names the reachmon binary to run (scripts/bench.d/
// dnspeers.sh builds one); default bin/reachmon.
const reachmonBinEnv = "BENCH_REACHMON_BIN"

func reachmonBinary(tb testing.TB) string { return benchutil.ReachmonBinary(tb, reachmonBinEnv) }

// reachmonVersion is `reachmon version`'s output.
func reachmonVersion(bin string) string {
	out, _ := exec.Command(bin, "version").Output()
	return strings.TrimSpace(string(out))
}

const scrapeTimeout = 10 * time.Second

// perfEnv names a directory: when set, every reachmon
// (and blackbox_exporter) window is also recorded with `perf record -g`
// (perf.data files there, for `perf report`).
// For finding where the time goes; perf's sampling adds a little CPU.
const perfEnv = "BENCH_DNSPEERS_PERF"

// perfRecord starts perf record on p if perfEnv is set; the returned
// function stops it and waits for it to write its file.
func perfRecord(b *testing.B, p *benchutil.Daemon, name string) func() {
	dir := os.Getenv(perfEnv)
	if dir == "" {
		return func() {}
	}
	out := filepath.Join(dir, name+".perf.data")
	pp, err := startProc(workDir.Path(b), "perf-"+name, "perf", "record", "-F", "499", "-g", "-p", fmt.Sprint(p.Pid()), "-o", out)
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		_ = syscall.Kill(pp.Pid(), syscall.SIGINT)
		if !pp.Wait(30 * time.Second) {
			b.Errorf("perf record did not stop (log %s)", pp.LogPath)
		}
		_ = pp.Stop()
	}
}

// runReachmon runs `reachmon run` on the check set at rate checks/s: it
// waits warm, then measures window from the outside (/proc for CPU and
// memory, reachmon's own /metrics for the checks, errors, skipped rounds
// and schedule lag) and stops it.
//
// With bursts set, reachmon runs with jitter a tenth of the interval
// (probeSettings.bursts, its former default) instead of the even spread.
func runReachmon(b *testing.B, bl *benchLab, rate float64, warm, window time.Duration, bursts bool) measurement {
	b.Helper()
	dir := workDir.Path(b)
	bin := reachmonBinary(b)
	ps := bl.set.settingsFor(rate)
	if bursts {
		ps = ps.bursts()
	}
	window = wholeIntervals(window, ps.interval)
	listen := fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort(b))
	conf := filepath.Join(dir, "reachmon.toml")
	state := filepath.Join(dir, "reachmon-state")
	_ = os.RemoveAll(state) // a fresh daemon: no incidents restored
	if err := os.WriteFile(conf, []byte(bl.set.reachmonConfig(listen, state, ps)), 0o644); err != nil {
		b.Fatal(err)
	}
	started := time.Now() // the schedule's origin, within a few ms
	p, err := startProc(dir, "reachmon", bin, "run", "--config", conf)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := p.Stop(); err != nil {
			b.Error(err)
		}
	}()
	base := "http://" + listen
	waitHTTP(b, p, base+"/readyz")
	sleepWatching(b, p, max(warm, ps.interval))
	if bursts {
		sleepWatching(b, p, toQuietPhase(started, ps.interval))
	}

	m := measurement{tool: "reachmon", offered: float64(len(bl.set.checks)) / ps.interval.Seconds()}
	// The window runs from one /metrics request to the next, exactly
	// window apart (reachmon reads its counters as the request comes in);
	// /proc and the lab's CPU are read just before each request. Parsing
	// the answer (~0.1 s) falls outside the window.
	c0 := readProc(b, p)
	s0, k0 := bl.serversCPU(), benchutil.ReadMachineCPU()
	t0 := time.Now()
	m0 := scrape(b, p, base+"/metrics")
	stopPerf := perfRecord(b, p, fmt.Sprintf("reachmon-%.0f%s", rate, map[bool]string{true: "-bursts"}[bursts]))
	sleepWatching(b, p, time.Until(t0.Add(window)))
	stopPerf()
	c1 := readProc(b, p)
	s1, k1 := bl.serversCPU(), benchutil.ReadMachineCPU()
	t1 := time.Now()
	m1 := scrape(b, p, base+"/metrics")
	m.window = t1.Sub(t0)
	m.toolCPU = time.Duration((c1.CPUSeconds - c0.CPUSeconds) * float64(time.Second))
	m.servers, m.machine = s1-s0, k1.Sub(k0)
	m.rss, m.hwm = c1.RSS, c1.HWM

	// Counter vectors appear with their first series: a missing family
	// is zero, but the duration histogram must be there.
	if _, ok := m1.Sum("reachmon_dns_probe_duration_seconds"); !ok {
		b.Fatal("reachmon /metrics has no reachmon_dns_probe_duration_seconds")
	}
	delta := func(name string, labels ...string) float64 {
		v1, _ := m1.Sum(name, labels...)
		v0, _ := m0.Sum(name, labels...)
		return v1 - v0
	}
	// One duration observation per probe (metrics.DNS.Observe), answered
	// or not: the count of checks.
	m.checks = delta("reachmon_dns_probe_duration_seconds")
	m.errors = delta("reachmon_dns_probe_errors_total") +
		delta("reachmon_dns_responses_total") - delta("reachmon_dns_responses_total", "rcode", "NOERROR")
	m.skipped = delta("reachmon_probe_skipped_total")
	m.lateFrac, m.lagP99 = lag(b, m0, m1)
	m.series = lastResults(b, base, bl.set.zones)
	if m.series != len(bl.set.checks) {
		b.Errorf("reachmon's zone details hold %d last results, want one per check (%d)", m.series, len(bl.set.checks))
	}
	// Per zone, reachmon exports its health (one series each) and a
	// reachmon_dns_probe_failing series for each check whose last probe
	// failed, none other (issue 18: no series per check and server).
	if fam := m1["reachmon_zone_health"]; len(fam.GetMetric()) != len(bl.set.zones) {
		b.Errorf("reachmon reports %d reachmon_zone_health series, want one per zone (%d)", len(fam.GetMetric()), len(bl.set.zones))
	}
	m.failing = len(m1["reachmon_dns_probe_failing"].GetMetric())
	if bad := bl.set.failingNotChecks(m1["reachmon_dns_probe_failing"]); len(bad) > 0 {
		b.Errorf("reachmon reports %d reachmon_dns_probe_failing series that are no check of the set, e.g. %q", len(bad), bad[0])
	}
	var notes []string
	if n, _ := m1.Sum("reachmon_incidents_open"); n > 0 {
		notes = append(notes, fmt.Sprintf("%g incidents open", n))
	}
	if m.failing > 0 {
		notes = append(notes, fmt.Sprintf("%d checks failing at the end", m.failing))
	}
	m.note = strings.Join(notes, "; ")
	return m
}

// lag returns the fraction of probes started more than lagBound late and
// the upper bound of the bucket holding the 99th percentile of
// reachmon_probe_schedule_lag_seconds between two scrapes.
func lag(b *testing.B, m0, m1 benchutil.Metrics) (late, p99 float64) {
	const name = "reachmon_probe_schedule_lag_seconds"
	b1, n1, _, ok := m1.Histogram(name)
	if !ok {
		b.Fatalf("reachmon /metrics has no %s", name)
	}
	b0, n0, _, _ := m0.Histogram(name)
	n := float64(n1 - n0)
	if n == 0 {
		return 0, 0
	}
	bounds := make([]float64, 0, len(b1))
	for ub := range b1 {
		bounds = append(bounds, ub)
	}
	slices.Sort(bounds)
	p99 = math.Inf(1)
	for _, ub := range bounds {
		c := float64(b1[ub] - b0[ub])
		if ub == lagBound.Seconds() {
			late = 1 - c/n
		}
		if c/n >= 0.99 && math.IsInf(p99, 1) {
			p99 = ub
		}
	}
	if math.IsInf(p99, 1) {
		p99 = 999 // beyond the largest bucket
	}
	return late, p99
}

func readProc(b *testing.B, p *benchutil.Daemon) benchutil.Proc {
	b.Helper()
	r, err := benchutil.ReadProc(p.Pid())
	if err != nil {
		b.Fatalf("%s: %v", p.Name, err)
	}
	return r
}

func scrape(b *testing.B, p *benchutil.Daemon, url string) benchutil.Metrics {
	b.Helper()
	m, err := benchutil.Scrape(url, scrapeTimeout)
	if err != nil {
		if e := p.Exited(); e != nil {
			b.Fatal(e)
		}
		b.Fatal(err)
	}
	return m
}

// waitHTTP waits (at most 30 s) until url answers 200.
func waitHTTP(b *testing.B, p *benchutil.Daemon, url string) {
	b.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if err := p.Exited(); err != nil {
			b.Fatal(err)
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("%s: %s not ready within 30 s: %s (log %s)", p.Name, url, last, p.LogPath)
}

// lastResults is the number of queries with a last result in the zone
// details (/api/v1/status?zone=) of zones, over every server: one per
// check reachmon ran. Prometheus has no per-query series since issue 18
// (reachmon_dns_probe_failing exists only while a query fails).
func lastResults(b *testing.B, base string, zones []zoneServers) int {
	b.Helper()
	client := &http.Client{Timeout: scrapeTimeout}
	n := 0
	for _, z := range zones {
		resp, err := client.Get(base + "/api/v1/status?zone=" + url.QueryEscape(z.name))
		if err != nil {
			b.Fatal(err)
		}
		var d struct {
			Servers []struct {
				Results []json.RawMessage `json:"results"`
			} `json:"servers"`
		}
		err = json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("zone detail of %s: HTTP %d: %v", z.name, resp.StatusCode, err)
		}
		for _, s := range d.Servers {
			n += len(s.Results)
		}
	}
	return n
}
