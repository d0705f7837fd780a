package benchscale

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
	ilab "github.com/reachmon/reachmon/integration/lab"
	"github.com/reachmon/reachmon/internal/config"
)

// settings are the benchmark's parameters, from the environment.
type settings struct {
	shape    labShape
	interval time.Duration
	jitter   time.Duration // 0: reachmon's default (the whole interval)
	duration time.Duration
}

func envInt(tb testing.TB, name string, def, lo, hi int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		tb.Fatalf("%s=%q: want an integer in %d..%d", name, v, lo, hi)
	}
	return n
}

func settingsFromEnv(tb testing.TB) settings {
	s := settings{
		shape: labShape{
			Zones:     envInt(tb, "BENCH_SCALE_ZONES", 10000, 1, 99999),
			NS:        envInt(tb, "BENCH_SCALE_NS", 2, 1, maxNS),
			Resolvers: 3,
			TTL:       benchutil.EnvDuration(tb, "BENCH_SCALE_TTL", 300*time.Second),
		},
		interval: benchutil.EnvDuration(tb, "BENCH_SCALE_INTERVAL", 60*time.Second),
		jitter:   benchutil.EnvDuration(tb, "BENCH_SCALE_JITTER", 0),
		duration: benchutil.EnvDuration(tb, "BENCH_SCALE_DURATION", 10*time.Minute),
	}
	if s.jitter >= s.interval {
		tb.Fatalf("BENCH_SCALE_JITTER %v: must be shorter than the interval %v", s.jitter, s.interval)
	}
	if s.interval < 10*time.Second {
		tb.Fatalf("BENCH_SCALE_INTERVAL %v: at least 10s (the probe timeout is reachmon's default 5s)", s.interval)
	}
	if s.duration < 3*s.interval {
		tb.Fatalf("BENCH_SCALE_DURATION %v: at least three intervals (%v): a first interval, one of warm-up, one steady", s.duration, 3*s.interval)
	}
	return s
}

// Timing of the run.
const (
	readyPoll     = 250 * time.Millisecond
	scrapeTimeout = 50 * time.Second
	// promScrapeTimeout is Prometheus's default scrape_timeout: a slower
	// /metrics would fail a default Prometheus.
	promScrapeTimeout = 10 * time.Second
)

// BenchmarkScale runs the lab and `reachmon run` for BENCH_SCALE_DURATION
// and reports what the issue asks for (see doc.go and the section written
// by scripts/bench.d/scale.sh). It runs once whatever b.N: run it with
// -benchtime 1x.
func BenchmarkScale(b *testing.B) {
	requireLab(b)
	bin := reachmonBinary(b)
	set := settingsFromEnv(b)

	dir := os.Getenv(workDirEnv)
	if dir == "" {
		d, err := os.MkdirTemp("", "benchscale-")
		if err != nil {
			b.Fatal(err)
		}
		dir = d
		if os.Getenv("BENCH_SCALE_KEEP") == "" {
			defer os.RemoveAll(d)
		} else {
			defer fmt.Printf("# scale: kept %s\n", d)
		}
	}
	results := filepath.Join(dir, "results")
	if err := os.MkdirAll(results, 0o755); err != nil {
		b.Fatal(err)
	}

	began := time.Now()
	l, err := buildLab(filepath.Join(dir, "lab"), set.shape)
	if err != nil {
		b.Fatalf("lab: %v", err)
	}
	defer func() {
		if err := l.stop(); err != nil {
			b.Error(err)
		}
	}()
	built := time.Now()
	if err := l.start(); err != nil {
		b.Fatalf("lab: %v", err)
	}
	labStart := time.Since(built)
	res, auth := set.shape.planned()
	info := []string{
		fmt.Sprintf("zones=%d ns=%d resolvers=%d ttl=%s interval=%s jitter=%s duration=%s base=%s",
			set.shape.Zones, set.shape.NS, set.shape.Resolvers, set.shape.TTL, set.interval, jitterText(set.jitter), set.duration, l.plan.prefix()),
		fmt.Sprintf("planned=%d resolver_checks=%d auth_checks=%d", res+auth, res, auth),
		fmt.Sprintf("signed_in=%.1fs zone_files_mib=%.1f lab_start=%.1fs build=%.1fs",
			l.signTime.Seconds(), l.zoneMiB, labStart.Seconds(), built.Sub(began).Seconds()),
		"nsd=" + version("nsd", "-v"),
		"unbound=" + version("unbound", "-V"),
		"reachmon=" + version(bin, "version"),
		"probe: " + probeSettings(set),
	}
	for _, s := range info {
		fmt.Printf("# scale: %s\n", s)
	}
	_ = os.WriteFile(filepath.Join(results, "settings.txt"), []byte(strings.Join(info, "\n")+"\n"), 0o644)

	r, err := runReachmon(l, bin, dir, results, set)
	if err != nil {
		b.Fatal(err)
	}
	r.report(b, set)
	b.ReportMetric(l.signTime.Seconds(), "sign-s")
	b.ReportMetric(labStart.Seconds(), "lab-start-s")
}

// probeSettings is the [probe] section reachmon runs with, defaults
// filled in, as this tree's configuration package reads the generated
// file (the binary is normally built from the same tree).
func probeSettings(set settings) string {
	l := &lab{shape: set.shape}
	cfg, err := config.Parse("bench.toml", []byte(reachmonConfig(l, "state", set.interval, set.jitter)))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	p := cfg.Probe
	conc := fmt.Sprint(p.Concurrency)
	if p.Concurrency == 0 {
		conc = "automatic"
	}
	return fmt.Sprintf("interval=%s timeout=%s jitter=%s concurrency=%s discovery_min=%s discovery_max=%s ds_check_interval=%s",
		p.Interval.Duration, p.Timeout.Duration, p.Jitter.Duration, conc, p.DiscoveryMin.Duration, p.DiscoveryMax.Duration, p.DSCheckInterval.Duration)
}

func jitterText(j time.Duration) string {
	if j == 0 {
		return "default"
	}
	return j.String()
}

// version returns the first line of a binary's version output.
func version(bin string, arg string) string {
	p, err := ilab.BinPath(bin)
	if err != nil {
		p = bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, p, arg).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	line = strings.TrimPrefix(strings.TrimPrefix(line, "NSD version "), "Version ")
	return strings.TrimSpace(line)
}

// run is what one run of reachmon gave.
type run struct {
	ready     time.Duration // /readyz first answered 200
	phase     time.Duration // scrapes at phase + n × interval
	scrapes   []scrape
	intervals []interval // intervals[i] between scrapes[i] and scrapes[i+1]
	t0Sample  sample
	first     sample // 1-s sample nearest the end of the first interval
	readySmp  sample
	steadyOne []sample // 1-s samples of the steady window
	hwm       int64
	shutdown  time.Duration
	exitErr   error
	warnLines map[string]int // reachmon log lines by level (WARN, ERROR)
	planned   float64
}

// scrapePhase is when, after reachmon's start, the scrapes happen (then
// every interval): in the part of the interval where no probe is due.
// Every probe of a zone is due at the same offset in every interval:
// resolver probes within the jitter (interval/10) of the start, the
// authoritative ones within the jitter of their zone's first discovery;
// the first discoveries are done by /readyz. So 20 s after ready is past
// them, with room for lag; at least half an interval, and no later than
// interval × 11/12 (55 s of 60).
func scrapePhase(ready, every time.Duration) time.Duration {
	return min(max(ready+20*time.Second, every/2), every*11/12)
}

func runReachmon(l *lab, bin, dir, results string, set settings) (*run, error) {
	conf := filepath.Join(dir, "reachmon.toml")
	if err := os.WriteFile(conf, []byte(reachmonConfig(l, filepath.Join(dir, "reachmon-state"), set.interval, set.jitter)), 0o644); err != nil {
		return nil, err
	}
	files := map[string]*os.File{}
	for _, f := range []string{"cpu-1s.tsv", "samples.tsv", "scrapes.tsv", "intervals.tsv"} {
		fh, err := os.Create(filepath.Join(results, f))
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		files[f] = fh
	}
	res, auth := set.shape.planned()
	r := &run{planned: float64(res + auth), warnLines: map[string]int{}}

	rm, err := startProc(dir, "reachmon", false, bin, "run", "--config", conf)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	stopped := false
	defer func() {
		if !stopped {
			_ = rm.Stop()
		}
	}()
	var nsdPG, unbPG []int
	for _, p := range []*benchutil.Daemon{l.root, l.tld, l.auth} {
		nsdPG = append(nsdPG, p.Pid())
	}
	for _, p := range l.unbounds {
		unbPG = append(unbPG, p.Pid())
	}
	smp := &sampler{t0: t0, rm: rm, nsdPG: nsdPG, unbPG: unbPG,
		every1: bufio.NewWriter(files["cpu-1s.tsv"]), every10: bufio.NewWriter(files["samples.tsv"]),
		stop: make(chan struct{}), done: make(chan struct{})}
	go smp.run()
	samplerOpen := true
	defer func() {
		if samplerOpen {
			smp.close()
		}
		smp.every1.(*bufio.Writer).Flush()
		smp.every10.(*bufio.Writer).Flush()
	}()
	alive := func() error {
		if err := rm.Exited(); err != nil {
			return err
		}
		return l.firstExited()
	}

	// Readiness: every zone had its first discovery attempt. Polled until
	// the first scrape, then between scrapes.
	base := "http://" + l.plan.listen()
	end := t0.Add(set.duration)
	r.ready = -1
	checkReady := func() {
		if r.ready < 0 {
			if code, _, err := httpGet(base+"/readyz", 2*time.Second); err == nil && code == http.StatusOK {
				r.ready = time.Since(t0)
			}
		}
	}
	latest := scrapePhase(set.interval, set.interval)
	for r.ready < 0 && time.Since(t0) < latest {
		if err := alive(); err != nil {
			return nil, err
		}
		checkReady()
		time.Sleep(readyPoll)
	}
	r.phase = latest
	if r.ready >= 0 {
		r.phase = scrapePhase(r.ready, set.interval)
		fmt.Printf("# scale: ready after %.1fs; scrapes at %.0fs + n × %v\n", r.ready.Seconds(), r.phase.Seconds(), set.interval)
	} else {
		fmt.Printf("# scale: not ready after %.0fs; scrapes at %.0fs + n × %v\n", latest.Seconds(), r.phase.Seconds(), set.interval)
	}

	sw := bufio.NewWriter(files["scrapes.tsv"])
	defer sw.Flush()
	fmt.Fprintf(sw, "t_s\tscrape_s\tscrape_mib\tscrape_cpu_s\tchecks\tresolver_checks\tauth_checks\tnoerror\tskipped\tin_flight\tlag_count\tlag_sum_s\theap_inuse_mib\tgoroutines\tauth_servers_known\tzones_complete\tds_ok\tds_not_ok\treachmon_rss_mib\tfailures\n")
	sample := sampleOf(set.shape.Zones)
	for n := 0; ; n++ {
		due := t0.Add(r.phase + time.Duration(n)*set.interval)
		if due.After(end) {
			break
		}
		for time.Now().Before(due) {
			if err := alive(); err != nil {
				return nil, err
			}
			checkReady()
			wait := time.Second
			if r.ready < 0 {
				wait = readyPoll
			}
			time.Sleep(min(time.Until(due), wait))
		}
		pre := smp.take()
		m, size, took, err := scrapeAll(base+"/metrics", scrapeTimeout)
		if err != nil {
			return nil, fmt.Errorf("scrape %d at %.0fs: %w", n, pre.at.Seconds(), err)
		}
		s := readScrape(m, set.shape.NS)
		m = nil
		post := smp.take()
		if err := readSample(base, sample, s.series); err != nil {
			return nil, fmt.Errorf("scrape %d at %.0fs: %w", n, pre.at.Seconds(), err)
		}
		s.at, s.took, s.bytes, s.pre, s.cpu = pre.at, took, size, pre, post.reachmon.CPUSeconds-pre.reachmon.CPUSeconds
		r.scrapes = append(r.scrapes, s)
		fmt.Fprintf(sw, "%.1f\t%.2f\t%.1f\t%.2f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%.3f\t%.1f\t%.0f\t%.0f\t%d\t%.0f\t%.0f\t%.1f\t%s\n",
			s.at.Seconds(), took.Seconds(), float64(size)/(1<<20), s.cpu, s.checks, s.res, s.auth, s.noerror, s.skipped,
			s.inFlight, s.lag.count, s.lag.sum, s.heapInuse/(1<<20), s.goroutines, s.authKnown, s.zonesComplete,
			s.dsOK, s.dsNotOK, mib(pre.reachmon.RSS), failureList(s.errors))
		sw.Flush()
		fmt.Printf("# scale: scrape %d at %.0fs: %.0f checks (%.0f planned per interval), %.1f MiB in %.1fs, reachmon %.0f MiB\n",
			n, s.at.Seconds(), s.checks, r.planned, float64(size)/(1<<20), took.Seconds(), mib(pre.reachmon.RSS))
	}
	if len(r.scrapes) < 3 {
		return nil, fmt.Errorf("only %d scrapes in %v (phase %v): make BENCH_SCALE_DURATION longer", len(r.scrapes), set.duration, r.phase)
	}
	if last, err := benchutil.ReadProc(rm.Pid()); err == nil {
		r.hwm = last.HWM
	}
	smp.close()
	samplerOpen = false
	err = rm.Stop()
	r.shutdown = rm.StopTook()
	stopped = true
	if err == nil && rm.ExitErr() != nil {
		err = fmt.Errorf("reachmon exited with %v after SIGTERM", rm.ExitErr())
	}
	r.exitErr = err
	r.levels(rm.LogPath)

	for i := 1; i < len(r.scrapes); i++ {
		iv := between(r.scrapes[i-1], r.scrapes[i])
		iv.n = i
		r.intervals = append(r.intervals, iv)
	}
	r.writeIntervals(files["intervals.tsv"])
	smp.mu.Lock()
	if len(smp.one) > 0 {
		r.t0Sample = smp.one[0]
	}
	smp.mu.Unlock()
	r.first = smp.at(set.interval)
	if r.ready >= 0 {
		r.readySmp = smp.at(r.ready)
	}
	w := r.warm()
	r.steadyOne = smp.window(r.scrapes[w].at, r.scrapes[len(r.scrapes)-1].at)
	return r, nil
}

// levels counts reachmon's log lines by level.
func (r *run) levels(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, lv := range []string{"WARN", "ERROR"} {
			if strings.Contains(line, " level="+lv+" ") {
				r.warnLines[lv]++
			}
		}
	}
}

func failureList(m map[string]float64) string {
	var keys []string
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%.0f", k, m[k]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// warm is the index of the scrape that ends the warm-up: two intervals
// after the first scrape (one with the shortest runs).
func (r *run) warm() int { return min(2, len(r.scrapes)-2) }

func (r *run) writeIntervals(f *os.File) {
	w := bufio.NewWriter(f)
	defer w.Flush()
	fmt.Fprintf(w, "n\tfrom_s\tto_s\tchecks\tplanned\tresolver\tauth\tseries_0\tseries_1\tseries_2\tseries_3plus\tnew_series\tnoerror\tfailed\tskipped\tlag_p50_le_s\tlag_p99_le_s\tlag_max_le_s\tlag_mean_ms\treachmon_cores\tnsd_cores\tunbound_cores\tharness_cores\tother_cores\n")
	for _, iv := range r.intervals {
		fmt.Fprintf(w, "%d\t%.1f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%g\t%g\t%g\t%.2f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n",
			iv.n, iv.from.Seconds(), iv.to.Seconds(), iv.checks, r.planned, iv.res, iv.auth,
			iv.perSeries[0], iv.perSeries[1], iv.perSeries[2], iv.perSeries[3], iv.newSeries,
			iv.noerror, iv.failed, iv.skipped, iv.lag.quantile(0.5), iv.lag.quantile(0.99), iv.lag.quantile(1),
			iv.lag.mean()*1000, iv.reachmon, iv.nsd, iv.unbound, iv.self, iv.other)
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// report turns the run into benchmark metrics (see scripts/bench.d/scale.sh
// for their meaning in the write-up).
func (r *run) report(b *testing.B, set settings) {
	w := r.warm()
	first, last := r.scrapes[0], r.scrapes[len(r.scrapes)-1]
	warm := r.scrapes[w]
	steady := r.intervals[w:]
	span := (last.pre.at - warm.pre.at).Seconds()
	rep := func(v float64, unit string) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			b.ReportMetric(v, unit)
		}
	}

	// Start-up and the first interval.
	if r.ready >= 0 {
		rep(r.ready.Seconds(), "ready-s")
		rep(r.readySmp.reachmon.CPUSeconds, "ready-cpu-s")
		rep(mib(r.readySmp.reachmon.RSS), "rss-ready-MiB")
	}
	rep(first.at.Seconds(), "first-scrape-s")
	rep(first.checks, "first-checks")
	rep(r.first.reachmon.CPUSeconds/r.first.at.Seconds(), "first-cores")
	rep(reportable(first.lag.quantile(0.5)), "first-lag-p50-s")
	rep(reportable(first.lag.quantile(0.99)), "first-lag-p99-s")
	rep(reportable(first.lag.quantile(1)), "first-lag-max-s")
	rep(first.lag.mean()*1000, "first-lag-mean-ms")
	rep((first.pre.nsd-r.t0Sample.nsd)/first.pre.at.Seconds(), "first-nsd-cores")
	rep((first.pre.unbound-r.t0Sample.unbound)/first.pre.at.Seconds(), "first-unbound-cores")

	// Steady state: from the end of the warm-up to the last scrape, whole
	// intervals (each with one read of /metrics, as a Prometheus with the
	// default 1 m scrape_interval).
	cpu := func(f func(sample) float64) float64 { return (f(last.pre) - f(warm.pre)) / span }
	rm := cpu(func(s sample) float64 { return s.reachmon.CPUSeconds })
	nsd := cpu(func(s sample) float64 { return s.nsd })
	unb := cpu(func(s sample) float64 { return s.unbound })
	self := cpu(func(s sample) float64 { return s.self })
	rep(rm, "cpu-cores")
	rep(peakCores(r.steadyOne, 10*time.Second), "peak10s-cores")
	rep(nsd, "nsd-cores")
	rep(unb, "unbound-cores")
	rep(self, "harness-cores")
	rep(max(0, cpu(func(s sample) float64 { return s.machine })-rm-nsd-unb-self), "other-cores")

	rep(mib(warm.pre.reachmon.RSS), "rss-warm-MiB")
	rep(mib(last.pre.reachmon.RSS), "rss-end-MiB")
	rep(mib(r.hwm), "rss-peak-MiB")
	// RSS just before each scrape: the same offset in every interval, so
	// the rounds' and scrapes' own sawtooth does not tilt the slope.
	var aligned []sample
	for _, s := range r.scrapes[w:] {
		aligned = append(aligned, s.pre)
	}
	rep(slopePerHour(aligned), "rss-slope-MiB/h")
	rep(last.heapInuse/(1<<20), "heap-end-MiB")

	lag := last.lag.sub(warm.lag)
	rep(reportable(lag.quantile(0.5)), "lag-p50-s")
	rep(reportable(lag.quantile(0.99)), "lag-p99-s")
	rep(reportable(lag.quantile(1)), "lag-max-s")
	rep(lag.mean()*1000, "lag-mean-ms")
	rep(float64(last.lag.above(1)), "lag-over-1s")
	rep(float64(last.lag.above(30)), "lag-over-30s")

	// Missed intervals.
	rep(last.skipped, "skipped")
	rep(r.planned, "planned")
	var checks []float64
	for _, iv := range steady {
		checks = append(checks, iv.checks)
	}
	rep(median(checks), "checks-median")
	rep(slices.Min(checks), "checks-min")
	rep(slices.Max(checks), "checks-max")
	rep(float64(len(r.intervals)), "intervals")
	rep(float64(len(steady)), "steady-intervals")
	// Every series over every interval after the first scrape, and over
	// the steady window.
	all, late := seriesExcess(first, last, len(r.intervals))
	st, stLate := seriesExcess(warm, last, len(steady))
	rep(float64(all[0]), "series-missed")
	rep(float64(all[4]), "series-repeated")
	rep(float64(all[1]+all[3]), "series-straddled")
	rep(float64(late), "series-late")
	rep(float64(st[0]), "steady-series-missed")
	rep(float64(st[4]), "steady-series-repeated")
	rep(float64(st[1]+st[3]+stLate), "steady-series-straddled")
	rep(r.planned*float64(len(steady))-(last.checks-warm.checks), "steady-deficit")
	rep(last.skipped-warm.skipped, "steady-skipped")

	ck := last.checks - warm.checks
	rep(100*(1-(last.failRes+last.failAuth-warm.failRes-warm.failAuth)/ck), "success-%")
	rep(100*(1-(last.failRes-warm.failRes)/(last.res-warm.res)), "res-success-%")
	rep(100*(1-(last.failAuth-warm.failAuth)/(last.auth-warm.auth)), "auth-success-%")
	rep(float64(last.zonesComplete), "zones-discovered")
	rep(last.dsOK, "ds-ok")

	var sz, took, scpu []float64
	for _, s := range r.scrapes[w:] {
		sz = append(sz, float64(s.bytes)/1e6)
		took = append(took, s.took.Seconds())
		scpu = append(scpu, s.cpu)
	}
	rep(median(sz), "scrape-MB")
	rep(median(took), "scrape-s")
	rep(slices.Max(took), "scrape-max-s")
	rep(median(scpu), "scrape-cpu-s")
	rep(r.shutdown.Seconds(), "shutdown-s")
	rep(float64(r.warnLines["WARN"]), "log-warn")
	rep(float64(r.warnLines["ERROR"]), "log-error")

	if r.exitErr != nil {
		b.Errorf("reachmon shutdown: %v", r.exitErr)
	}
	if slices.Max(took) > promScrapeTimeout.Seconds() {
		b.Logf("a read of /metrics took %.1fs, more than Prometheus's default scrape_timeout %v", slices.Max(took), promScrapeTimeout)
	}
}
