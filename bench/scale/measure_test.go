package benchscale

import (
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// --- histograms ----------------------------------------------------------------

// hist is a cumulative Prometheus histogram: counts at each upper bound
// (sorted, +Inf last).
type hist struct {
	bounds []float64
	cum    []uint64
	count  uint64
	sum    float64
}

func histOf(m benchutil.Metrics, name string) hist {
	b, count, sum, ok := m.Histogram(name)
	if !ok {
		return hist{}
	}
	h := hist{count: count, sum: sum}
	for ub := range b {
		h.bounds = append(h.bounds, ub)
	}
	slices.Sort(h.bounds)
	for _, ub := range h.bounds {
		h.cum = append(h.cum, b[ub])
	}
	return h
}

// sub is h minus an earlier reading of the same histogram: what was
// observed between the two.
func (h hist) sub(earlier hist) hist {
	if len(earlier.bounds) == 0 {
		return h
	}
	d := hist{bounds: h.bounds, count: h.count - earlier.count, sum: h.sum - earlier.sum}
	for i := range h.bounds {
		var e uint64
		if i < len(earlier.cum) {
			e = earlier.cum[i]
		}
		d.cum = append(d.cum, h.cum[i]-e)
	}
	return d
}

// quantile returns the upper bound of the bucket holding the q-quantile:
// the value is at most this (+Inf beyond the last finite bound; NaN when
// empty). With buckets this coarse an interpolated value would be made up.
func (h hist) quantile(q float64) float64 {
	if h.count == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	rank = max(rank, 1)
	for i, c := range h.cum {
		if c >= rank {
			return h.bounds[i]
		}
	}
	return math.Inf(1)
}

// mean is the exact mean (sum / count).
func (h hist) mean() float64 {
	if h.count == 0 {
		return math.NaN()
	}
	return h.sum / float64(h.count)
}

// above returns how many observations exceeded bound (which must be a
// bucket bound).
func (h hist) above(bound float64) uint64 {
	for i, ub := range h.bounds {
		if ub == bound {
			return h.count - h.cum[i]
		}
	}
	return 0
}

// infReport is what a +Inf quantile is reported as (b.ReportMetric and the
// section script need a number); the script prints "> 30".
const infReport = 1e9

func reportable(v float64) float64 {
	if math.IsInf(v, 1) {
		return infReport
	}
	return v
}

// --- one scrape ------------------------------------------------------------------

// scrape is what one read of reachmon's /metrics says.
type scrape struct {
	at    time.Duration // since reachmon started
	took  time.Duration
	bytes int64
	cpu   float64 // reachmon's CPU seconds during the scrape
	pre   sample  // processes just before the scrape

	// series: probes done so far per (zone, server) of the sampled zones
	// (sampleOf), from their /api/v1/status?zone= detail, keyed
	// "zone server kind": one per check, answered or not.
	series                    map[string]uint64
	checks, res, auth         float64
	noerror, noerrRes, noAuth float64
	errors                    map[string]float64 // class or rcode -> probes without a NOERROR answer
	failRes, failAuth         float64            // the same, by kind of server
	skipped, inFlight         float64
	lag                       hist
	heapInuse, goroutines     float64
	authKnown                 float64 // sum of reachmon_dns_authoritative_servers
	zonesComplete             int     // zones with every nameserver address known
	dsOK, dsNotOK             float64 // zones whose DS check says ok / something else
}

func readScrape(m benchutil.Metrics, nsPerZone int) scrape {
	s := scrape{series: map[string]uint64{}, errors: map[string]float64{}}
	s.checks, _ = m.Sum("reachmon_dns_probe_duration_seconds")
	s.res, _ = m.Sum("reachmon_dns_probe_duration_seconds", "kind", "resolver")
	s.auth, _ = m.Sum("reachmon_dns_probe_duration_seconds", "kind", "authoritative")
	s.noerror, _ = m.Sum("reachmon_dns_responses_total", "rcode", "NOERROR")
	s.noerrRes, _ = m.Sum("reachmon_dns_responses_total", "rcode", "NOERROR", "kind", "resolver")
	s.noAuth, _ = m.Sum("reachmon_dns_responses_total", "rcode", "NOERROR", "kind", "authoritative")
	fail := func(x *dto.Metric, what string) {
		v := x.GetCounter().GetValue()
		s.errors[what] += v
		if label(x, "kind") == "resolver" {
			s.failRes += v
		} else {
			s.failAuth += v
		}
	}
	if fam, ok := m["reachmon_dns_probe_errors_total"]; ok {
		for _, x := range fam.GetMetric() {
			fail(x, label(x, "class"))
		}
	}
	if fam, ok := m["reachmon_dns_responses_total"]; ok {
		for _, x := range fam.GetMetric() {
			if rc := label(x, "rcode"); rc != "NOERROR" {
				fail(x, rc)
			}
		}
	}
	s.skipped, _ = m.Sum("reachmon_probe_skipped_total")
	s.inFlight, _ = m.Sum("reachmon_probe_in_flight")
	s.lag = histOf(m, "reachmon_probe_schedule_lag_seconds")
	s.heapInuse, _ = m.Sum("go_memstats_heap_inuse_bytes")
	s.goroutines, _ = m.Sum("go_goroutines")
	if fam, ok := m["reachmon_dns_authoritative_servers"]; ok {
		for _, x := range fam.GetMetric() {
			v := x.GetGauge().GetValue()
			s.authKnown += v
			if int(v) >= nsPerZone {
				s.zonesComplete++
			}
		}
	}
	if fam, ok := m["reachmon_dns_ds_check_status"]; ok {
		for _, x := range fam.GetMetric() {
			if x.GetGauge().GetValue() != 1 {
				continue
			}
			if label(x, "status") == "ok" {
				s.dsOK++
			} else {
				s.dsNotOK++
			}
		}
	}
	return s
}

// interval is what happened between two scrapes one probe interval apart.
type interval struct {
	n                      int // 1 = between scrape 0 and scrape 1
	from, to               time.Duration
	checks, res, auth      float64
	noerror, failed        float64
	perSeries              [4]int // series with 0, 1, 2, more checks in the interval
	newSeries              int    // series absent at the start
	lag                    hist
	skipped                float64
	reachmon, nsd, unbound float64 // cores
	machine, self, other   float64 // cores
}

func between(a, b scrape) interval {
	iv := interval{
		from: a.at, to: b.at,
		checks: b.checks - a.checks, res: b.res - a.res, auth: b.auth - a.auth,
		noerror: b.noerror - a.noerror,
		lag:     b.lag.sub(a.lag), skipped: b.skipped - a.skipped,
	}
	iv.failed = b.failRes + b.failAuth - a.failRes - a.failAuth
	for k, c := range b.series {
		prev, ok := a.series[k]
		if !ok {
			iv.newSeries++
		}
		iv.perSeries[min(int(c-prev), 3)]++
	}
	secs := (b.pre.at - a.pre.at).Seconds()
	iv.reachmon = (b.pre.reachmon.CPUSeconds - a.pre.reachmon.CPUSeconds) / secs
	iv.nsd = (b.pre.nsd - a.pre.nsd) / secs
	iv.unbound = (b.pre.unbound - a.pre.unbound) / secs
	iv.machine = (b.pre.machine - a.pre.machine) / secs
	iv.self = (b.pre.self - a.pre.self) / secs
	iv.other = max(0, iv.machine-iv.reachmon-iv.nsd-iv.unbound-iv.self)
	return iv
}

// seriesExcess compares every series' checks between scrapes a and b, k
// intervals apart, with k: excess[e+2] counts series with e = done - k
// (e clamped to -2..2); series absent from a are counted in late.
// Each probe of a zone is due at a fixed offset in every interval, so a
// series does exactly k checks unless a round ran late enough to cross a
// scrape (then k-1 or k+1, and the next window makes up for it) or was
// skipped or repeated: |e| >= 2 is a definite miss or repeat.
func seriesExcess(a, b scrape, k int) (excess [5]int, late int) {
	for key, c := range b.series {
		prev, ok := a.series[key]
		if !ok {
			late++
			continue
		}
		e := int(c) - int(prev) - k
		excess[min(max(e, -2), 2)+2]++
	}
	return excess, late
}

// --- process samples ----------------------------------------------------------------

// sample is one reading of every process of the benchmark.
type sample struct {
	at       time.Duration // since reachmon started
	reachmon benchutil.Proc
	nsd      float64 // CPU seconds of the three NSDs' live processes
	unbound  float64 // CPU seconds of the resolvers
	machine  float64 // busy CPU seconds of the whole machine since boot
	self     float64 // this test process's CPU seconds
	load     string  // /proc/loadavg's first three fields
}

// sampler reads reachmon every second (CPU, RSS) and everything every
// tenth second; it writes both series as it goes.
type sampler struct {
	t0      time.Time
	rm      *benchutil.Daemon
	nsdPG   []int
	unbPG   []int
	every1  io.Writer // cpu-1s.tsv
	every10 io.Writer // samples.tsv

	mu   sync.Mutex
	one  []sample // every second (reachmon only)
	ten  []sample // every ten seconds (everything)
	stop chan struct{}
	done chan struct{}
}

func (s *sampler) take() sample {
	at := time.Since(s.t0)
	sm := sample{at: at}
	sm.reachmon, _ = benchutil.ReadProc(s.rm.Pid())
	cpu := benchutil.GroupCPU(append(slices.Clone(s.nsdPG), s.unbPG...)...)
	for _, g := range s.nsdPG {
		sm.nsd += cpu[g]
	}
	for _, g := range s.unbPG {
		sm.unbound += cpu[g]
	}
	sm.machine = benchutil.ReadMachineCPU().Busy().Seconds()
	sm.self = benchutil.SelfCPU().Seconds()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			sm.load = strings.Join(f[:3], " ")
		}
	}
	return sm
}

func (s *sampler) run() {
	defer close(s.done)
	fmt.Fprintf(s.every1, "t_s\treachmon_cpu_s\treachmon_rss_mib\n")
	fmt.Fprintf(s.every10, "t_s\treachmon_cpu_s\treachmon_rss_mib\treachmon_hwm_mib\treachmon_threads\tnsd_cpu_s\tunbound_cpu_s\tmachine_busy_s\tharness_cpu_s\tload\n")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		var sm sample
		if i%10 == 0 {
			sm = s.take()
			fmt.Fprintf(s.every10, "%.1f\t%.2f\t%.1f\t%.1f\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%s\n", sm.at.Seconds(),
				sm.reachmon.CPUSeconds, mib(sm.reachmon.RSS), mib(sm.reachmon.HWM), sm.reachmon.Threads,
				sm.nsd, sm.unbound, sm.machine, sm.self, sm.load)
		} else {
			sm = sample{at: time.Since(s.t0)}
			sm.reachmon, _ = benchutil.ReadProc(s.rm.Pid())
		}
		fmt.Fprintf(s.every1, "%.1f\t%.2f\t%.1f\n", sm.at.Seconds(), sm.reachmon.CPUSeconds, mib(sm.reachmon.RSS))
		s.mu.Lock()
		s.one = append(s.one, sm)
		if i%10 == 0 {
			s.ten = append(s.ten, sm)
		}
		s.mu.Unlock()
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

func (s *sampler) close() { close(s.stop); <-s.done }

// at returns the 1-s sample nearest to t.
func (s *sampler) at(t time.Duration) sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := sample{}
	for i, sm := range s.one {
		if i == 0 || (sm.at-t).Abs() < (best.at-t).Abs() {
			best = sm
		}
	}
	return best
}

// window returns the 1-s samples with from <= at <= to.
func (s *sampler) window(from, to time.Duration) []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sample
	for _, sm := range s.one {
		if sm.at >= from && sm.at <= to {
			out = append(out, sm)
		}
	}
	return out
}

// peakCores is the highest reachmon CPU use over any span of the given
// length among the samples.
func peakCores(ss []sample, span time.Duration) float64 {
	peak := 0.0
	j := 0
	for i := range ss {
		for j < i && ss[i].at-ss[j].at > span {
			j++
		}
		if d := ss[i].at - ss[j].at; d >= span*9/10 {
			peak = max(peak, (ss[i].reachmon.CPUSeconds-ss[j].reachmon.CPUSeconds)/d.Seconds())
		}
	}
	return peak
}

// slopePerHour is the least-squares slope of RSS over time, in MiB per
// hour.
func slopePerHour(ss []sample) float64 {
	if len(ss) < 2 {
		return math.NaN()
	}
	var sx, sy, sxx, sxy float64
	n := float64(len(ss))
	for _, s := range ss {
		x, y := s.at.Hours(), mib(s.reachmon.RSS)
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / d
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
