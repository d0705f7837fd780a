package bgpchurn

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// params are the run's settings (from the environment).
type params struct {
	duration, warmup, every time.Duration
	rate                    float64 // UPDATEs per second over both sessions
	fresh                   float64 // percent of updates for never-seen more-specifics
}

func loadParams(tb testing.TB) params {
	p := params{
		duration: benchutil.EnvDuration(tb, "BENCH_BGPCHURN_DURATION", 10*time.Minute),
		every:    benchutil.EnvDuration(tb, "BENCH_BGPCHURN_SAMPLE", 5*time.Second),
		rate:     envFloat(tb, "BENCH_BGPCHURN_RATE", 1000),
		fresh:    envFloat(tb, "BENCH_BGPCHURN_FRESH", 2),
	}
	p.warmup = min(benchutil.EnvDuration(tb, "BENCH_BGPCHURN_WARMUP", 2*time.Minute), p.duration/4)
	if p.rate <= 0 || p.fresh > 30 {
		tb.Fatalf("BENCH_BGPCHURN_RATE must be > 0 and BENCH_BGPCHURN_FRESH at most 30")
	}
	return p
}

// Flat memory, the definition the verdict uses. Over the steady window
// (the churn after the warm-up), for RSS and for Go heap in use alike:
//
//   - the least-squares slope is at most flatSlope MiB per minute, and
//   - the end-minus-start difference (mean of the samples in the last
//     minute of the window minus mean of those in its first minute) is at
//     most flatDelta MiB.
//
// The bounds are the resolution of an 8-minute window here: transient
// allocations (the /metrics scrape itself, status snapshots, GoBGP's
// watch events) make heap in use swing by ±10-20 MiB between samples, so
// the slope's standard error is 0.2-0.5 MiB/min and the edge means
// differ by a few MiB in runs that do not grow. Slower growth needs a
// longer run, or TestChurnProfile's live heap after a forced GC.
const (
	flatSlope = 1.0 // MiB/min: 60 MiB/hour
	flatDelta = 8.0 // MiB
	edgeSecs  = 60
)

// runResult is one churn run, seen from the outside.
type runResult struct {
	samples   []sample
	t0        time.Time     // when the churn started
	churn     time.Duration // actual length of the churn
	initial   time.Duration // sessions up to both peers synced
	sent      int           // UPDATEs during the churn
	watched   int           // of which about watched prefixes or their more-specifics
	expected  int           // changes reachmon should count
	mix       string
	classSent map[string]int
	expect    string
	events    map[string]int
	base      sample  // reading when the churn started
	final     sample  // reading after the drain
	scrapeCPU float64 // reachmon's CPU seconds per /metrics scrape, measured after the drain
	failures  int
}

// scrapeCost measures what one scrape of reachmon's /metrics costs it in
// CPU (10,000 watched prefixes make 20,000-30,000 series): 20 scrapes back
// to back once the churn is over, reachmon's CPU from /proc around them.
func scrapeCost(tb testing.TB, tg target) float64 {
	tb.Helper()
	const n = 20
	time.Sleep(time.Second) // let the drain's work end
	p0, err := benchutil.ReadProc(tg.pid)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := benchutil.Scrape("http://"+tg.http+"/metrics", 20*time.Second); err != nil {
			tb.Fatal(err)
		}
	}
	p1, err := benchutil.ReadProc(tg.pid)
	if err != nil {
		tb.Fatal(err)
	}
	return (p1.CPUSeconds - p0.CPUSeconds) / n
}

// hooks let the in-process profile run act at the phase changes.
type hooks struct {
	churn  func() // the churn is about to start
	steady func() // the warm-up is over
	end    func() // the churn and drain are over
}

// runChurn connects the two senders to reachmon's BGP port, sends the
// initial table, waits until reachmon has it (both peers synced with
// every watched prefix), then churns for pr.duration at pr.rate UPDATEs
// per second, sampling tg every pr.every throughout.
func runChurn(tb testing.TB, tg target, alive func() error, bgpAddr string, c *churner, pr params, h hooks) runResult {
	tb.Helper()
	var phase atomic.Value
	phase.Store("start")
	var sentA, expA atomic.Int64
	smp := startSampler(tg, pr.every, func() (string, int, int) {
		return phase.Load().(string), int(sentA.Load()), int(expA.Load())
	})
	var res runResult
	var t0 time.Time
	closed := false
	defer func() {
		if !closed {
			smp.close(time.Now())
		}
	}()

	// Sessions, initial table.
	var ss [2]*session
	for i, p := range peerDefs {
		s, err := dialSession(p.addr, bgpAddr, p.as, time.Now().Add(60*time.Second))
		if err != nil {
			tb.Fatal(err)
		}
		defer s.close()
		ss[i] = s
	}
	phase.Store("initial")
	up := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(ss))
	for i := range ss {
		stream := c.initial(i)
		wg.Go(func() { errs[i] = ss[i].write(stream) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("initial table to peer %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if err := alive(); err != nil {
			tb.Fatal(err)
		}
		v, err := peers(tg.http)
		n := 0
		for _, p := range v.Peers {
			if p.Synced && p.Routes == nWatched {
				n++
			}
		}
		if err == nil && n == len(peerDefs) {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("reachmon did not sync both peers with %d routes in 3 minutes: %+v (%v)", nWatched, v, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.initial = time.Since(up)
	// Let the initial table's events settle (the evaluator's queue).
	time.Sleep(5 * time.Second)
	base, err := tg.read()
	if err != nil {
		tb.Fatal(err)
	}
	res.base = base

	// Churn.
	if h.churn != nil {
		h.churn()
	}
	c.resetCounts()
	t0 = time.Now()
	res.t0 = t0
	base.at, base.T, base.Phase = t0, 0, "churn"
	phase.Store("churn")
	const tick = 10 * time.Millisecond
	maxBurst := int(math.Max(pr.rate/5, 1)) // at most 200 ms worth at once after a stall
	var bufs [2][]byte
	emit := func(peer int, m []byte) { bufs[peer] = append(bufs[peer], m...) }
	steadyDone := false
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	maxTicks := int(pr.duration/tick) * 4 // bound: the ticker never falls that far behind
	for n := 0; n < maxTicks; n++ {
		<-ticker.C
		el := time.Since(t0)
		if el >= pr.duration {
			break
		}
		if !steadyDone && el >= pr.warmup {
			steadyDone = true
			if h.steady != nil {
				h.steady()
			}
		}
		due := int(pr.rate*el.Seconds()) - c.total
		if due <= 0 {
			continue
		}
		c.step(el, min(due, maxBurst), emit)
		for i := range bufs {
			if len(bufs[i]) == 0 {
				continue
			}
			if err := ss[i].write(bufs[i]); err != nil {
				tb.Fatalf("writing to reachmon as %s: %v", peerDefs[i].addr, err)
			}
			bufs[i] = bufs[i][:0]
		}
		sentA.Store(int64(c.total))
		expA.Store(int64(c.expectedTotal()))
		if n%100 == 0 {
			if err := alive(); err != nil {
				tb.Fatal(err)
			}
			for i, s := range ss {
				if err := s.failed(); err != nil {
					tb.Fatalf("session %s: %v", peerDefs[i].addr, err)
				}
			}
		}
	}
	res.churn = time.Since(t0)
	res.sent, res.watched, res.expected = c.total, c.watchedN, c.expectedTotal()
	res.mix, res.expect, res.classSent = c.mixLine(), c.expectLine(), c.sent
	res.events = c.events

	// Drain: until reachmon counted every expected change, or its counter
	// stood still for 5 s (at most 60 s).
	phase.Store("drain")
	var final sample
	last, still := -1.0, time.Now()
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		final, err = tg.read()
		if err != nil {
			tb.Fatal(err)
		}
		if final.Updates-base.Updates >= float64(res.expected) {
			break
		}
		if final.Updates != last {
			last, still = final.Updates, time.Now()
		} else if time.Since(still) > 5*time.Second {
			break
		}
	}
	final.at, final.Phase = time.Now(), "drain"
	res.final = final
	if h.end != nil {
		h.end()
	}
	res.samples = smp.close(t0)
	closed = true
	res.scrapeCPU = scrapeCost(tb, tg)
	res.failures, _ = smp.failures()
	final.T = final.at.Sub(t0).Seconds()
	res.samples = append(res.samples, base, final)
	sort.SliceStable(res.samples, func(i, j int) bool { return res.samples[i].T < res.samples[j].T })
	return res
}

// summary is what a run reports.
type summary struct {
	rss, heap, goal, gor trend
	steadyFrom, to       float64 // seconds
	cpuPer1k             float64 // reachmon CPU ms per 1,000 UPDATEs, steady window
	cpuPer1kNet          float64 // the same without the benchmark's own /metrics scrapes
	cores                float64 // reachmon CPU cores, steady window
	flat                 bool
	why                  []string
}

func summarize(r runResult, pr params) summary {
	var s summary
	s.steadyFrom, s.to = pr.warmup.Seconds(), r.churn.Seconds()
	b := func(v float64) float64 { return v / mib }
	s.rss = trendOf(r.samples, s.steadyFrom, s.to, edgeSecs, func(x sample) float64 { return b(float64(x.RSS)) })
	s.heap = trendOf(r.samples, s.steadyFrom, s.to, edgeSecs, func(x sample) float64 { return b(x.HeapInuse) })
	s.goal = trendOf(r.samples, s.steadyFrom, s.to, edgeSecs, func(x sample) float64 { return b(x.NextGC) })
	s.gor = trendOf(r.samples, s.steadyFrom, s.to, edgeSecs, func(x sample) float64 { return x.Goroutines })
	// CPU per 1,000 UPDATEs between the first and last steady samples.
	var first, last *sample
	for i := range r.samples {
		x := &r.samples[i]
		if x.Phase != "churn" || x.T < s.steadyFrom || x.T > s.to {
			continue
		}
		if first == nil {
			first = x
		}
		last = x
	}
	s.cpuPer1k, s.cpuPer1kNet, s.cores = math.NaN(), math.NaN(), math.NaN()
	if first != nil && last != first && last.Sent > first.Sent {
		k := float64(last.Sent-first.Sent) / 1000
		cpu := last.CPU - first.CPU
		s.cpuPer1k = cpu * 1000 / k
		s.cores = cpu / (last.T - first.T)
		// The scrapes between the two samples (one per sample after the first).
		scrapes := 0
		for _, x := range r.samples {
			if x.Phase == "churn" && x.T > first.T && x.T <= last.T {
				scrapes++
			}
		}
		s.cpuPer1kNet = (cpu - float64(scrapes)*r.scrapeCPU) * 1000 / k
	}
	s.flat = true
	for _, x := range []struct {
		name string
		t    trend
	}{{"RSS", s.rss}, {"heap in use", s.heap}} {
		if !(x.t.Slope <= flatSlope) {
			s.flat = false
			s.why = append(s.why, fmt.Sprintf("%s slope > %g MiB/min", x.name, flatSlope))
		}
		if !(x.t.Delta <= flatDelta) {
			s.flat = false
			s.why = append(s.why, fmt.Sprintf("%s end − start > %g MiB", x.name, flatDelta))
		}
	}
	return s
}

// keepSeries writes the time series beside the results
// ($BENCH_BGPCHURN_OUT, else the work directory); it returns the path.
func keepSeries(tb testing.TB, dir string, ss []sample) string {
	out := os.Getenv("BENCH_BGPCHURN_OUT")
	if out == "" {
		out = dir
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(out, "series-"+filepath.Base(dir)+".csv")
	for i := 2; i < 100; i++ {
		if _, err := os.Stat(path); err != nil {
			break
		}
		path = filepath.Join(out, fmt.Sprintf("series-%s-%d.csv", filepath.Base(dir), i))
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := writeCSV(f, ss); err != nil {
		tb.Fatal(err)
	}
	return path
}

// BenchmarkChurn runs `reachmon run` under the churn once per iteration
// (run it with -benchtime 1x) and reports its memory trend, CPU and what
// it processed. Lines starting with "# bgpchurn" on stdout describe the
// run for scripts/bench.d/bgpchurn.sh.
func BenchmarkChurn(b *testing.B) {
	pr := loadParams(b)
	reachmonBinary(b) // skip early without it
	root := workDir.Path(b)
	var r runResult
	var s summary
	var gapsN int
	var gapsMax time.Duration
	for i := 0; i < b.N; i++ {
		dir := root
		if i > 0 {
			dir = filepath.Join(root, fmt.Sprintf("run-%d", i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		c := newChurner(pr.fresh)
		d := startReachmon(b, dir, c)
		loadStart := benchutil.LoadAvg()
		r = runChurn(b, d.target(), d.p.Exited, fmt.Sprintf("127.0.0.1:%d", d.bgpPort), c, pr, hooks{})
		loadEnd := benchutil.LoadAvg()
		if err := d.p.Stop(); err != nil {
			b.Fatal(err)
		}
		s = summarize(r, pr)
		path := keepSeries(b, dir, r.samples)
		gaps, err := logGaps(d.p.LogPath, r.t0, r.t0.Add(r.churn), time.Second)
		if err != nil {
			b.Fatal(err)
		}
		gapsN, gapsMax = gaps.n, gaps.max
		fmt.Printf("# bgpchurn-params: duration=%s warmup=%s sample=%s rate=%.0f fresh=%.1f watched=%d watched6=%d noise=%d pool=%d hot=%d flat_slope=%g flat_delta=%g\n",
			pr.duration, pr.warmup, pr.every, pr.rate, pr.fresh, nWatched, c.watchedV6(), nNoise, nPool, nHot, flatSlope, flatDelta)
		fmt.Printf("# bgpchurn-mix: %s\n", r.mix)
		for _, k := range classOrder {
			fmt.Printf("# bgpchurn-class: %s %.4f %s\n", k, float64(r.classSent[k])/float64(max(r.sent, 1)), classDesc[k])
		}
		fmt.Printf("# bgpchurn-events: %s\n", eventsLine(r.events))
		fmt.Printf("# bgpchurn-expected: %s\n", r.expect)
		fmt.Printf("# bgpchurn-load: start=%s end=%s\n", loadStart, loadEnd)
		fmt.Printf("# bgpchurn-series: %s\n", path)
		fmt.Printf("# bgpchurn-stalls: %s\n", gaps)
		fmt.Printf("# bgpchurn-rss: %s\n", s.rss)
		fmt.Printf("# bgpchurn-heap: %s\n", s.heap)
		fmt.Printf("# bgpchurn-heapgoal: %s\n", s.goal)
		fmt.Printf("# bgpchurn-goroutines: %s\n", s.gor)
		verdict := "flat"
		if !s.flat {
			verdict = "GROWTH (" + strings.Join(s.why, "; ") + ")"
		}
		fmt.Printf("# bgpchurn-verdict: %s: RSS %+.2f MiB/min (standard error %.2f), end − start %+.1f MiB; heap in use %+.2f MiB/min (%.2f), end − start %+.1f MiB; heap goal %+.2f MiB/min\n",
			verdict, s.rss.Slope, s.rss.SE, s.rss.Delta, s.heap.Slope, s.heap.SE, s.heap.Delta, s.goal.Slope)
		if r.failures > 0 {
			b.Logf("%d samples failed", r.failures)
		}
	}
	secs := r.churn.Seconds()
	seen := r.final.Updates - r.base.Updates
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(r.sent)/secs, "updates/s")
	b.ReportMetric(float64(r.watched)/secs, "watched-updates/s")
	b.ReportMetric(seen/secs, "counted/s")
	b.ReportMetric(seen/math.Max(float64(r.expected), 1), "counted-ratio")
	b.ReportMetric(r.final.DropFeed-r.base.DropFeed+r.final.DropEval-r.base.DropEval, "dropped")
	b.ReportMetric(r.final.Resyncs-r.base.Resyncs, "resyncs")
	b.ReportMetric(r.initial.Seconds(), "initial-s")
	b.ReportMetric(s.rss.Mean, "rss-MiB")
	b.ReportMetric(s.rss.Slope, "rss-slope-MiB/min")
	b.ReportMetric(s.rss.Delta, "rss-delta-MiB")
	b.ReportMetric(float64(r.final.HWM)/mib, "peak-MiB")
	b.ReportMetric(s.heap.Mean, "heap-MiB")
	b.ReportMetric(s.heap.Slope, "heap-slope-MiB/min")
	b.ReportMetric(s.heap.Delta, "heap-delta-MiB")
	b.ReportMetric(s.goal.Slope, "goal-slope-MiB/min")
	b.ReportMetric(s.gor.Max, "goroutines-max")
	b.ReportMetric(s.gor.Delta, "goroutines-delta")
	b.ReportMetric(s.cpuPer1k, "cpu-ms/1k-updates")
	b.ReportMetric(s.cpuPer1kNet, "net-cpu-ms/1k-updates")
	b.ReportMetric(r.scrapeCPU*1000, "scrape-cpu-ms")
	b.ReportMetric(s.rss.SE, "rss-slope-se")
	b.ReportMetric(s.heap.SE, "heap-slope-se")
	b.ReportMetric(s.cores, "cpu-cores")
	b.ReportMetric(r.final.IncOpen, "incidents-open")
	b.ReportMetric(r.final.IncOpened-r.base.IncOpened, "incidents-opened")
	b.ReportMetric(r.final.IncClosed-r.base.IncClosed, "incidents-resolved")
	b.ReportMetric(float64(r.final.StoreBytes)/1024, "store-KiB")
	b.ReportMetric(float64(r.final.LogBytes-r.base.LogBytes)/1024/secs, "log-KiB/s")
	b.ReportMetric(float64(gapsN), "stalls")
	b.ReportMetric(gapsMax.Seconds(), "stall-max-s")
	b.ReportMetric(b2f(s.flat), "flat")
}

func b2f(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

func eventsLine(m map[string]int) string {
	var parts []string
	for _, k := range classOrder {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// gapReport sums up the silences in reachmon's log during the churn. At
// info level reachmon logs the route events that can page (withdrawals,
// origin changes, more-specifics) from its event loop (the goroutine that
// owns the evaluator), about 300 lines a second here, so a
// silence of a second or more is that loop standing still (or its log
// writes blocking); the feed drops events meanwhile once the loop's
// 1,024-event queue is full.
type gapReport struct {
	n     int
	max   time.Duration
	total time.Duration
	lines []string // the line that ended each of the longest gaps
}

func (g gapReport) String() string {
	if g.n == 0 {
		return "none (no silence of 1 s or more in reachmon's log during the churn)"
	}
	return fmt.Sprintf("%d silences of 1 s or more in reachmon's log during the churn, %.1f s in all, longest %.1f s; lines ending the longest: %s",
		g.n, g.total.Seconds(), g.max.Seconds(), strings.Join(g.lines, " | "))
}

// logGaps scans a slog text log for gaps of at least least between
// consecutive lines stamped within [from, to].
func logGaps(path string, from, to time.Time, least time.Duration) (gapReport, error) {
	var g gapReport
	f, err := os.Open(path)
	if err != nil {
		return g, err
	}
	defer f.Close()
	type gap struct {
		d    time.Duration
		line string
	}
	var top []gap
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var prev time.Time
	for sc.Scan() {
		line := sc.Text()
		ts, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		ts, _, _ = strings.Cut(ts, " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || t.Before(from) || t.After(to) {
			continue
		}
		if !prev.IsZero() {
			if d := t.Sub(prev); d >= least {
				g.n++
				g.total += d
				g.max = max(g.max, d)
				if len(line) > 160 {
					line = line[:160] + "…"
				}
				top = append(top, gap{d, fmt.Sprintf("+%.1fs %s", d.Seconds(), line)})
			}
		}
		prev = t
	}
	sort.SliceStable(top, func(i, j int) bool { return top[i].d > top[j].d })
	for i := 0; i < len(top) && i < 3; i++ {
		g.lines = append(g.lines, top[i].line)
	}
	return g, sc.Err()
}
