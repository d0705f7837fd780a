package benchpeers

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// The cost comparison: both tools run the whole check set at costRate,
// measured over costWindow after costWarm.
const (
	costRate   = 1000.0 // checks/s: 30,000 checks every 30 s
	costWarm   = 3 * time.Second
	costWindow = 10 * time.Second // rounded up to whole intervals: 4 x 2.64 s
)

// The highest sustainable rate: steps of rampWindow (after rampWarm, each
// a fresh process), doubling from the start rate until a step fails, then
// halving the gap (geometrically) between the highest step that held and
// the lowest that failed until it is within rampResolution; at most
// rampSteps steps and rampBudget per tool.
const (
	rampWarm       = 2 * time.Second
	rampWindow     = 5 * time.Second
	rampSteps      = 8
	rampBudget     = 100 * time.Second
	rampResolution = 1.2
	rampCap        = 512000.0
)

// ramp finds the highest offered rate run sustains (measurement.held),
// starting at start. It returns the measurement of that step (offered 0
// if none held) and the lowest rate that failed (0 if none did).
func ramp(start float64, run func(rate float64) measurement) (best measurement, failedAt float64, steps int) {
	began := time.Now()
	var pass, fail float64
	rate := start
	for steps < rampSteps && time.Since(began) < rampBudget {
		m := run(rate)
		steps++
		ok, _ := m.held()
		m.print("maxrate")
		if ok {
			pass, best = rate, m
		} else if fail == 0 || rate < fail {
			fail = rate
		}
		switch {
		case fail == 0:
			rate *= 2
			if rate > rampCap {
				return best, fail, steps
			}
		case pass == 0:
			rate /= 2
			if rate < start/16 {
				return best, fail, steps
			}
		default:
			if fail/pass <= rampResolution {
				return best, fail, steps
			}
			rate = math.Round(math.Sqrt(pass * fail))
		}
	}
	return best, fail, steps
}

func reportRamp(b *testing.B, best measurement, failedAt float64, steps int) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(best.offered, "max-checks/s")
	b.ReportMetric(failedAt, "failed-checks/s")
	b.ReportMetric(float64(steps), "steps")
	if best.offered > 0 {
		b.ReportMetric(best.achieved(), "checks/s")
		b.ReportMetric(best.per10k(best.toolCPU), "cpu-s/10k-checks")
		b.ReportMetric(best.cores(best.toolCPU), "tool-cores")
		b.ReportMetric(best.cores(best.servers), "servers-cores")
		b.ReportMetric(best.cores(best.scraper), "scraper-cores")
		b.ReportMetric(best.other(), "other-cores")
	}
}

// BenchmarkPeers runs, against one DNS lab: the cost of the check set at
// the same rate in reachmon and in blackbox_exporter driven by a scraper;
// the highest sustainable rate of each; and dnsperf against the same
// servers with the same questions, as the ceiling. Run it with
// -benchtime 1x: each sub-benchmark is one experiment of fixed length.
func BenchmarkPeers(b *testing.B) {
	bl := startLab(b)
	fmt.Printf("# tools: %s, blackbox_exporter %s, dnsperf %s\n",
		reachmonVersion(reachmonBinary(b)), blackboxVersion(blackboxBinary(b)), dnsperfVersion(dnsperfBinary(b)))
	fmt.Printf("# settings: cost at %.0f checks/s (interval %v) for %v after %v; ramp steps of %v after %v; reachmon concurrency %d\n",
		costRate, bl.set.settingsFor(costRate).interval, wholeIntervals(costWindow, bl.set.settingsFor(costRate).interval), costWarm, rampWindow, rampWarm, concurrency)
	queryShapes(b, bl)

	b.Run("cost/reachmon", func(b *testing.B) {
		m := runReachmon(b, bl, costRate, costWarm, costWindow, false)
		m.print("cost")
		m.report(b)
	})
	b.Run("cost/blackbox", func(b *testing.B) {
		m := runBlackbox(b, bl, costRate, costWarm, costWindow, false)
		m.print("cost")
		m.report(b)
	})
	// For information: the same average rate with jitter a tenth of the
	// interval (reachmon's former default; every check in the first
	// tenth of its interval: bursts of
	// ten times the rate), for both tools.
	b.Run("cost/reachmon-bursts", func(b *testing.B) {
		m := runReachmon(b, bl, costRate, costWarm, costWindow, true)
		m.tool = "reachmon-bursts"
		m.print("cost")
		m.report(b)
	})
	b.Run("cost/blackbox-bursts", func(b *testing.B) {
		m := runBlackbox(b, bl, costRate, costWarm, costWindow, true)
		m.tool = "blackbox-bursts"
		m.print("cost")
		m.report(b)
	})
	b.Run("maxrate/reachmon", func(b *testing.B) {
		best, failed, steps := ramp(4000, func(rate float64) measurement {
			return runReachmon(b, bl, rate, rampWarm, rampWindow, false)
		})
		reportRamp(b, best, failed, steps)
	})
	b.Run("maxrate/blackbox", func(b *testing.B) {
		best, failed, steps := ramp(500, func(rate float64) measurement {
			return runBlackbox(b, bl, rate, rampWarm, rampWindow, false)
		})
		reportRamp(b, best, failed, steps)
	})

	// dnsperf: the authoritative questions against the child zones' NSD
	// (one process serving every zone on every nameserver address, asked
	// at ns1 of the first zone), the resolver questions against every
	// resolver at once (one dnsperf each, a thread each), then the rate at
	// which the check set's mix of the two would complete.
	var nsd, unbound perfResult
	b.Run("dnsperf/nsd", func(b *testing.B) {
		nsd = runDNSPerf(b, bl, "dnsperf-nsd", []string{bl.set.zones[0].auth[0]}, bl.set.questions(false), dnsperfThreads)
		reportPerf(b, "nsd", nsd)
	})
	b.Run("dnsperf/unbound", func(b *testing.B) {
		unbound = runDNSPerf(b, bl, "dnsperf-unbound", bl.set.resolvers, bl.set.questions(true), 1)
		reportPerf(b, "unbound", unbound)
	})
	b.Run("dnsperf/mix", func(b *testing.B) {
		if nsd.qps == 0 || unbound.qps == 0 {
			b.Skip("needs dnsperf/nsd and dnsperf/unbound")
		}
		fa := float64(bl.set.count(kindAuth)) / float64(len(bl.set.checks))
		mix := 1 / (fa/nsd.qps + (1-fa)/unbound.qps)
		fmt.Printf("# dnsperf mix: %.1f%% authoritative at %.0f/s, the rest via resolvers at %.0f/s: %.0f checks/s\n", 100*fa, nsd.qps, unbound.qps, mix)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(mix, "max-checks/s")
	})
}

func reportPerf(b *testing.B, name string, r perfResult) {
	// Cores over the run time: the processes ran for wall (dnsperf waits
	// for late answers at the end) but worked for dnsperfSeconds.
	run := float64(dnsperfSeconds)
	tool, servers := r.cpu.Seconds()/run, r.servers.Seconds()/run
	irq, other := r.machine.IRQ.Seconds()/run, max(0, (r.machine.Procs-r.cpu-r.servers).Seconds()/run)
	fmt.Printf("# dnsperf %s: %.0f queries/s, %.0f completed, %.0f lost, %.0f NOERROR; dnsperf %.2f cores, servers %.2f cores, irq %.2f cores, other processes %.2f cores (over %d s; the processes ran %v); load %s\n",
		name, r.qps, r.completed, r.lost, r.noerror, tool, servers, irq, other, dnsperfSeconds, r.wall.Round(10*time.Millisecond), benchutil.LoadAvg())
	if r.lost > 0.01*r.completed || r.noerror < 0.99*r.completed {
		b.Errorf("dnsperf %s: %.0f lost, %.0f NOERROR of %.0f completed", name, r.lost, r.noerror, r.completed)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.qps, "max-checks/s")
	b.ReportMetric(r.cpu.Seconds()/r.completed*1e4, "cpu-s/10k-checks")
	b.ReportMetric(tool, "tool-cores")
	b.ReportMetric(servers, "servers-cores")
	b.ReportMetric(other, "other-cores")
}
