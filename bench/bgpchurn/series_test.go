package bgpchurn

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// sample is one outside reading of reachmon.
type sample struct {
	at    time.Time
	T     float64 // seconds since the churn started (negative before)
	Phase string  // start, initial, churn, drain

	RSS, HWM int64   // bytes
	CPU      float64 // seconds, all threads
	Threads  int

	HeapInuse, HeapAlloc, HeapSys, NextGC float64 // bytes (go_memstats_*)
	HeapIdle, HeapReleased, StackInuse    float64
	Goroutines                            float64

	Updates              float64 // reachmon_bgp_updates_total, every peer and kind
	DropFeed, DropEval   float64 // reachmon_bgp_events_dropped_total
	Resyncs              float64
	IncOpen              float64 // reachmon_incidents_open, every kind and severity
	IncOpened, IncClosed float64 // reachmon_incident_transitions_total open / resolve
	IncUpdated           float64

	StoreBytes   int64 // state_dir/incidents/incidents.json
	StoreRecords int
	LogBytes     int64 // reachmon's log so far

	Sent     int // UPDATEs the sender wrote since the churn started
	Expected int // changes to watched routes among them
}

var csvHeader = []string{
	"t_s", "phase", "rss_bytes", "hwm_bytes", "cpu_s", "threads",
	"heap_inuse_bytes", "heap_alloc_bytes", "heap_sys_bytes", "next_gc_bytes",
	"heap_idle_bytes", "heap_released_bytes", "stack_inuse_bytes", "goroutines",
	"bgp_updates_total", "dropped_feed", "dropped_evaluator", "resyncs",
	"incidents_open", "incidents_opened", "incidents_updated", "incidents_resolved",
	"store_bytes", "store_records", "log_bytes", "sent_updates", "expected_changes",
}

func (s sample) record() []string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	i := func(x int64) string { return strconv.FormatInt(x, 10) }
	return []string{
		strconv.FormatFloat(s.T, 'f', 3, 64), s.Phase, i(s.RSS), i(s.HWM), f(s.CPU), strconv.Itoa(s.Threads),
		f(s.HeapInuse), f(s.HeapAlloc), f(s.HeapSys), f(s.NextGC),
		f(s.HeapIdle), f(s.HeapReleased), f(s.StackInuse), f(s.Goroutines),
		f(s.Updates), f(s.DropFeed), f(s.DropEval), f(s.Resyncs),
		f(s.IncOpen), f(s.IncOpened), f(s.IncUpdated), f(s.IncClosed),
		i(s.StoreBytes), strconv.Itoa(s.StoreRecords), i(s.LogBytes), strconv.Itoa(s.Sent), strconv.Itoa(s.Expected),
	}
}

func writeCSV(w io.Writer, ss []sample) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, s := range ss {
		if err := cw.Write(s.record()); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// target is the reachmon being measured.
type target struct {
	pid      int
	http     string // host:port
	storeDoc string // incidents.json
	logPath  string // "" when not a file
}

// read takes one sample (phase and T are the caller's).
func (tg target) read() (sample, error) {
	var s sample
	p, err := benchutil.ReadProc(tg.pid)
	if err != nil {
		return s, err
	}
	s.RSS, s.HWM, s.CPU, s.Threads = p.RSS, p.HWM, p.CPUSeconds, p.Threads
	m, err := benchutil.Scrape("http://"+tg.http+"/metrics", 20*time.Second)
	if err != nil {
		return s, err
	}
	get := func(name string, labels ...string) float64 {
		v, _ := m.Sum(name, labels...)
		return v
	}
	s.HeapInuse = get("go_memstats_heap_inuse_bytes")
	s.HeapAlloc = get("go_memstats_heap_alloc_bytes")
	s.HeapSys = get("go_memstats_heap_sys_bytes")
	s.NextGC = get("go_memstats_next_gc_bytes")
	s.HeapIdle = get("go_memstats_heap_idle_bytes")
	s.HeapReleased = get("go_memstats_heap_released_bytes")
	s.StackInuse = get("go_memstats_stack_inuse_bytes")
	s.Goroutines = get("go_goroutines")
	s.Updates = get("reachmon_bgp_updates_total")
	s.DropFeed = get("reachmon_bgp_events_dropped_total", "queue", "feed")
	s.DropEval = get("reachmon_bgp_events_dropped_total", "queue", "evaluator")
	s.Resyncs = get("reachmon_bgp_resyncs_total")
	s.IncOpen = get("reachmon_incidents_open")
	s.IncOpened = get("reachmon_incident_transitions_total", "transition", "open")
	s.IncUpdated = get("reachmon_incident_transitions_total", "transition", "update")
	s.IncClosed = get("reachmon_incident_transitions_total", "transition", "resolve")
	if fi, err := os.Stat(tg.storeDoc); err == nil {
		s.StoreBytes = fi.Size()
		s.StoreRecords = storeRecords(tg.storeDoc)
	}
	if tg.logPath != "" {
		if fi, err := os.Stat(tg.logPath); err == nil {
			s.LogBytes = fi.Size()
		}
	}
	return s, nil
}

// storeRecords counts the incidents in the store file (-1 if unreadable:
// it is replaced atomically, so a read sees a whole file).
func storeRecords(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	var doc struct {
		Records []json.RawMessage `json:"records"`
	}
	if json.Unmarshal(b, &doc) != nil {
		return -1
	}
	return len(doc.Records)
}

// sampler reads the target every interval until stopped.
type sampler struct {
	tg    target
	every time.Duration
	clock func() (phase string, sent, expected int)

	mu   sync.Mutex
	ss   []sample
	errs int
	last error
	stop chan struct{}
	done chan struct{}
}

func startSampler(tg target, every time.Duration, clock func() (string, int, int)) *sampler {
	s := &sampler{tg: tg, every: every, clock: clock, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.take()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) take() {
	at := time.Now()
	x, err := s.tg.read()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs++
		s.last = err
		return
	}
	x.at = at
	x.Phase, x.Sent, x.Expected = s.clock()
	s.ss = append(s.ss, x)
}

// close stops the sampler and returns the samples with T counted from t0.
func (s *sampler) close(t0 time.Time) []sample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]sample(nil), s.ss...)
	for i := range out {
		out[i].T = out[i].at.Sub(t0).Seconds()
	}
	return out
}

// failures returns how many readings failed, and the last error.
func (s *sampler) failures() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs, s.last
}

// --- analysis ---

// lsSlope is the least-squares slope of y over x.
func lsSlope(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 {
		return math.NaN()
	}
	var sx, sy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
	}
	mx, my := sx/n, sy/n
	var num, den float64
	for i := range x {
		num += (x[i] - mx) * (y[i] - my)
		den += (x[i] - mx) * (x[i] - mx)
	}
	if den == 0 {
		return math.NaN()
	}
	return num / den
}

// trend describes one series over the steady window.
type trend struct {
	Slope      float64 // per minute
	SE         float64 // the slope's standard error from the residuals (as if independent)
	Start, End float64 // means over the first and last edge of the window
	Delta      float64 // End - Start
	Mean       float64
	Min, Max   float64
	N          int
}

// trendOf fits v over the churn samples with from <= T <= to (seconds);
// Start and End average the samples within edge seconds of each end.
func trendOf(ss []sample, from, to, edge float64, v func(sample) float64) trend {
	var x, y []float64
	var st, en []float64
	tr := trend{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, s := range ss {
		if s.Phase != "churn" || s.T < from || s.T > to {
			continue
		}
		val := v(s)
		x = append(x, s.T/60)
		y = append(y, val)
		tr.Mean += val
		tr.Min, tr.Max = math.Min(tr.Min, val), math.Max(tr.Max, val)
		if s.T <= from+edge {
			st = append(st, val)
		}
		if s.T >= to-edge {
			en = append(en, val)
		}
	}
	tr.N = len(y)
	if tr.N == 0 {
		return trend{Slope: math.NaN(), Start: math.NaN(), End: math.NaN(), Delta: math.NaN(), Mean: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	tr.Mean /= float64(tr.N)
	tr.Slope = lsSlope(x, y)
	tr.SE = slopeSE(x, y, tr.Slope)
	tr.Start, tr.End = mean(st), mean(en)
	tr.Delta = tr.End - tr.Start
	return tr
}

// slopeSE is the standard error of a least-squares slope b of y over x,
// treating the residuals as independent (they are not quite: read it as
// a lower bound).
func slopeSE(x, y []float64, b float64) float64 {
	n := len(x)
	if n < 3 || math.IsNaN(b) {
		return math.NaN()
	}
	mx, my := mean(x), mean(y)
	var rss, sxx float64
	for i := range x {
		r := y[i] - (my + b*(x[i]-mx))
		rss += r * r
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	return math.Sqrt(rss / float64(n-2) / sxx)
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

const mib = 1 << 20

func (t trend) String() string {
	return fmt.Sprintf("slope %+.3f/min (standard error %.3f), start %.2f, end %.2f, delta %+.2f, mean %.2f, min %.2f, max %.2f (n=%d)",
		t.Slope, t.SE, t.Start, t.End, t.Delta, t.Mean, t.Min, t.Max, t.N)
}
