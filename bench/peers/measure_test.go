package benchpeers

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// measurement is one run of a tool at one offered rate: what happened in
// the measured window (after the warm-up).
type measurement struct {
	tool    string
	offered float64 // checks/s the schedule asks for
	window  time.Duration
	checks  float64 // checks completed in the window (answered or failed)
	errors  float64 // of which failed: no answer, or not NOERROR
	// skipped are rounds not run because the previous round of the same
	// check was still running (reachmon_probe_skipped_total; the scraper
	// skips like Prometheus, whose scrape loop drops ticks that fall
	// during a scrape).
	skipped float64
	// lateFrac is the fraction of reachmon's probes that started more than
	// lagBound after they were due (reachmon_probe_schedule_lag_seconds);
	// lagP99 the histogram bucket holding the 99th percentile (seconds).
	// Both -1 for blackbox_exporter, which has no such measure.
	lateFrac, lagP99 float64
	toolCPU          time.Duration        // the tool's CPU time (all threads) in the window
	scraper          time.Duration        // this process's CPU time in the window (the scraper)
	servers          time.Duration        // the lab's daemons' CPU time in the window
	machine          benchutil.MachineCPU // every CPU's time in the window
	rss, hwm         int64                // the tool's, at the end of the window
	series           int                  // reachmon: queries with a last result in the zone details
	// failing is reachmon's reachmon_dns_probe_failing series at the end
	// of the window: the checks whose last probe failed (none when all is
	// well; the per-check detail is in its zone detail API, not /metrics).
	failing int
	note    string
}

// Sustainable: the rate held for the whole window with at most these
// losses. The same rule for both tools, plus the schedule lag for
// reachmon (blackbox_exporter has no schedule of its own).
const (
	minAchieved = 0.97                  // achieved/offered
	maxErrors   = 0.01                  // failed/completed
	maxSkipped  = 0.01                  // skipped rounds/offered checks in the window
	lagBound    = 50 * time.Millisecond // reachmon: p99 schedule lag at most this
)

func (m measurement) achieved() float64 { return m.checks / m.window.Seconds() }

// per10k is a CPU time per 10,000 checks, in seconds.
func (m measurement) per10k(d time.Duration) float64 {
	if m.checks == 0 {
		return math.NaN()
	}
	return d.Seconds() / m.checks * 1e4
}

// cores is a CPU time over the window.
func (m measurement) cores(d time.Duration) float64 { return d.Seconds() / m.window.Seconds() }

// other is the CPU used meanwhile by every other process on the machine,
// in cores (clamped at 0: the accounting differs slightly).
func (m measurement) other() float64 {
	return max(0, m.cores(m.machine.Procs-m.toolCPU-m.scraper-m.servers))
}

func (m measurement) errFrac() float64 {
	if m.checks == 0 {
		return 1
	}
	return m.errors / m.checks
}

func (m measurement) skipFrac() float64 {
	return m.skipped / (m.offered * m.window.Seconds())
}

// held reports whether the offered rate was sustained, and if not why.
func (m measurement) held() (bool, string) {
	var why []string
	if a := m.achieved() / m.offered; a < minAchieved {
		why = append(why, fmt.Sprintf("achieved %.1f%% of the offered rate", 100*a))
	}
	if e := m.errFrac(); e > maxErrors {
		why = append(why, fmt.Sprintf("%.2f%% errors", 100*e))
	}
	if s := m.skipFrac(); s > maxSkipped {
		why = append(why, fmt.Sprintf("%.2f%% rounds skipped", 100*s))
	}
	if m.lateFrac > 0.01 {
		why = append(why, fmt.Sprintf("%.2f%% of probes started over %v late", 100*m.lateFrac, lagBound))
	}
	return len(why) == 0, strings.Join(why, ", ")
}

// line is a one-line summary for the output (parsed by scripts/bench.d).
func (m measurement) line(phase string) string {
	ok, why := m.held()
	verdict := "held"
	if !ok {
		verdict = "failed: " + why
	}
	lag := "-"
	if m.lagP99 >= 0 {
		lag = fmt.Sprintf("%g", m.lagP99*1000)
	}
	return fmt.Sprintf("# step %s %s offered=%.0f achieved=%.0f errors=%.3f%% skipped=%.3f%% lag_p99_ms=%s cpu_us_per_check=%.1f tool_cores=%.2f servers_cores=%.2f scraper_cores=%.2f irq_cores=%.2f other_cores=%.2f rss_mib=%.1f load=%q %s",
		phase, m.tool, m.offered, m.achieved(), 100*m.errFrac(), 100*m.skipFrac(), lag,
		m.per10k(m.toolCPU)*100, m.cores(m.toolCPU), m.cores(m.servers), m.cores(m.scraper), m.cores(m.machine.IRQ), m.other(),
		float64(m.rss)/(1<<20), benchutil.LoadAvg(), verdict)
}

// print writes the summary line, and a note line if there is a note.
func (m measurement) print(phase string) {
	fmt.Println(m.line(phase))
	if m.note != "" {
		fmt.Printf("# note %s %s: %s\n", phase, m.tool, m.note)
	}
}

// report reports the measurement as benchmark metrics.
func (m measurement) report(b *testing.B) {
	const mib = 1 << 20
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(m.offered, "offered-checks/s")
	b.ReportMetric(m.achieved(), "checks/s")
	b.ReportMetric(m.per10k(m.toolCPU), "cpu-s/10k-checks")
	b.ReportMetric(m.per10k(m.servers), "servers-cpu-s/10k-checks")
	if strings.HasPrefix(m.tool, "blackbox") {
		b.ReportMetric(m.per10k(m.scraper), "scraper-cpu-s/10k-checks")
	}
	b.ReportMetric(float64(m.rss)/mib, "rss-MiB")
	b.ReportMetric(float64(m.hwm)/mib, "hwm-MiB")
	b.ReportMetric(100*m.errFrac(), "error-%")
	b.ReportMetric(m.other(), "other-cores")
	b.ReportMetric(m.cores(m.machine.IRQ), "irq-cores")
	if m.lagP99 >= 0 {
		b.ReportMetric(m.lagP99*1000, "lag-p99-ms")
	}
}

// wholeIntervals rounds window up to a whole number of intervals, so that
// a window holds every check equally often whatever the spread.
func wholeIntervals(window, interval time.Duration) time.Duration {
	n := (window + interval - 1) / interval
	return max(n, 1) * interval
}

// toQuietPhase is how long to wait from now until the middle of the
// quiet part of the interval of a schedule that started at origin with
// every check in the first tenth of each interval (bursts): a window
// starting there, of whole intervals, ends there too, and holds every
// burst whole even if a /metrics request is answered late.
func toQuietPhase(origin time.Time, interval time.Duration) time.Duration {
	const quiet = 55 // percent of the interval
	phase := time.Since(origin) % interval
	return (interval*quiet/100 - phase + interval) % interval
}

// sleepWatching sleeps d, failing early if p exits.
func sleepWatching(tb testing.TB, p *benchutil.Daemon, d time.Duration) {
	tb.Helper()
	if p.Wait(d) {
		if err := p.Exited(); err != nil {
			tb.Fatal(err)
		}
		tb.Fatalf("%s exited (log %s)", p.Name, p.LogPath)
	}
}
