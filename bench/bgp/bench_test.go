package benchbgp

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// Ingest end: the receiver's CPU goes quiet. Every sampleEvery the
// sampler reads the receiver's CPU time from /proc (10 ms ticks); a
// sample with at least busyTicks of CPU is busy; the ingest ended at the
// last busy sample once quietFor has passed without one (and the sender
// wrote everything). The same rule for both receivers; reachmon's own
// End-of-RIB view (/api/v1/peers synced) is reported beside it.
const (
	sampleEvery = 50 * time.Millisecond
	busyTicks   = 2 // 20 ms of CPU in 50 ms: 40% of a core
	quietFor    = 3 * time.Second
	maxIngest   = 8 * time.Minute
)

type sample struct {
	t     time.Time
	ticks uint64 // utime+stime
	rss   uint64 // KiB
}

type sampler struct {
	pid  int
	mu   sync.Mutex
	s    []sample
	stop chan struct{}
	done chan struct{}
}

func procTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces).
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state); utime is field 14, stime 15.
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return u + s, nil
}

// procStatus returns VmRSS and VmHWM in KiB.
func procStatus(pid int) (rss, hwm uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm, nil
}

func startSampler(pid int) *sampler {
	s := &sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			ticks, err1 := procTicks(pid)
			rss, _, err2 := procStatus(pid)
			if err1 == nil && err2 == nil {
				s.mu.Lock()
				s.s = append(s.s, sample{time.Now(), ticks, rss})
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) close() { close(s.stop); <-s.done }

// lastBusy returns the time of the last busy sample after from, and the
// CPU ticks used from the first sample at or after from to it.
func (s *sampler) lastBusy(from time.Time) (t time.Time, ticks uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := -1
	for i := 1; i < len(s.s); i++ {
		if s.s[i].t.Before(from) {
			continue
		}
		if first < 0 {
			first = i - 1
		}
		if s.s[i].ticks-s.s[i-1].ticks >= busyTicks {
			t, ticks, ok = s.s[i].t, s.s[i].ticks-s.s[first].ticks, true
		}
	}
	return t, ticks, ok
}

func (s *sampler) maxRSS() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m uint64
	for _, x := range s.s {
		m = max(m, x.rss)
	}
	return m
}

func (s *sampler) last() sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.s[len(s.s)-1]
}

// result of one ingest.
type result struct {
	ingest, send, eor            time.Duration
	cpu                          time.Duration
	peakKiB, steadyKiB, startKiB uint64
	note                         string
}

// ingest runs one full-table transfer to a started receiver.
func ingest(tb testing.TB, t *table, r receiver) result {
	tb.Helper()
	p := r.proc()
	smp := startSampler(p.Pid())
	defer smp.close()
	time.Sleep(500 * time.Millisecond) // baseline samples
	var res result
	res.startKiB = smp.last().rss
	s, err := dialSession(r.bgpAddr(), time.Now().Add(60*time.Second))
	if err != nil {
		tb.Fatalf("%s: %v (log %s)", p.Name, err, p.LogPath)
	}
	defer s.close()
	if err := s.send(t.Updates); err != nil {
		tb.Fatalf("%s: sending: %v (log %s)", p.Name, err, p.LogPath)
	}
	res.send = s.sent.Sub(s.established)
	deadline := s.established.Add(maxIngest)
	var eorAt time.Time
	for {
		if err := p.Exited(); err != nil {
			tb.Fatal(err)
		}
		if err := s.failed(); err != nil {
			tb.Fatalf("%s: session: %v (log %s)", p.Name, err, p.LogPath)
		}
		if eorAt.IsZero() {
			if yes, ok := r.synced(); ok && yes {
				eorAt = time.Now()
			}
		}
		end, _, busy := smp.lastBusy(s.established)
		now := time.Now()
		if busy && now.Sub(end) >= quietFor && now.After(s.sent.Add(quietFor)) {
			if _, ok := r.synced(); !ok || !eorAt.IsZero() {
				break
			}
		}
		if now.After(deadline) {
			tb.Fatalf("%s: ingest not finished after %s (log %s)", p.Name, maxIngest, p.LogPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
	end, ticks, _ := smp.lastBusy(s.established)
	res.ingest = end.Sub(s.established)
	res.cpu = time.Duration(ticks) * 10 * time.Millisecond
	if !eorAt.IsZero() {
		res.eor = eorAt.Sub(s.established)
	}
	rss, hwm, err := procStatus(p.Pid())
	if err != nil {
		tb.Fatal(err)
	}
	res.peakKiB, res.steadyKiB = max(hwm, smp.maxRSS()), rss
	msg, err := r.verify(t)
	if err != nil {
		tb.Fatalf("%s: %v", p.Name, err)
	}
	res.note = msg
	return res
}

func report(b *testing.B, t *table, res result) {
	b.ReportMetric(res.ingest.Seconds(), "ingest-s")
	b.ReportMetric(float64(t.Routes())/res.ingest.Seconds(), "routes/s")
	b.ReportMetric(float64(res.peakKiB)/1024, "peak-MiB")
	b.ReportMetric(float64(res.steadyKiB)/1024, "steady-MiB")
	b.ReportMetric(float64(res.startKiB)/1024, "idle-MiB")
	b.ReportMetric(res.cpu.Seconds(), "cpu-s")
	b.ReportMetric(res.send.Seconds(), "send-s")
	if res.eor > 0 {
		b.ReportMetric(res.eor.Seconds(), "eor-s")
	}
	b.ReportMetric(float64(t.Routes()), "routes")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s; load %s", res.note, benchutil.LoadAvg())
}

var feedOnce sync.Once

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// BenchmarkIngest sends the same generated full table to gobgpd alone, to
// reachmon and to two alternative receivers (alt_test.go), one after the
// other in this process: each sub-benchmark
// starts a fresh receiver, sends the table once (run with -benchtime 1x)
// and stops it.
func BenchmarkIngest(b *testing.B) {
	t, err := feedTable()
	if err != nil {
		b.Fatal(err)
	}
	// On stdout, for scripts/bench.sh (a parent benchmark's log is not
	// shown when it has sub-benchmarks).
	feedOnce.Do(func() {
		fmt.Printf("# feed: %s IPv4 + %s IPv6 routes in %s UPDATEs (%.1f MB); %s watched prefixes (%s of them routes of the feed), %s routes of the feed inside them\n",
			thousands(len(t.V4)), thousands(len(t.V6)), thousands(t.NUpdates), float64(len(t.Updates))/1e6,
			thousands(len(t.Watched)), thousands(t.InFeed), thousands(t.Imported))
	})
	root := workDir.Path(b)
	type variant struct {
		name  string
		start func(testing.TB, string) receiver
	}
	variants := []variant{
		{"gobgpd", func(tb testing.TB, d string) receiver { return startGoBGPD(tb, d) }},
		{"reachmon", func(tb testing.TB, d string) receiver { return startReachmon(tb, d, t, false) }},
		// The same with the neighbor marked full_table = true: reachmon's
		// own session (internal/bgp/session) instead of GoBGP's server.
		{"reachmon-full_table", func(tb testing.TB, d string) receiver { return startReachmon(tb, d, t, true) }},
		// For comparison (alt_test.go): not reachmon, the floor of an
		// embedded GoBGP with the same policy, and a design without
		// GoBGP's RIB.
		{"embedded-policy", func(tb testing.TB, d string) receiver { return startAlt(tb, d, "embedded-policy", t) }},
		{"parse-filter", func(tb testing.TB, d string) receiver { return startAlt(tb, d, "parse-filter", t) }},
	}
	if os.Getenv("BENCH_BGP_EXTRA") != "" {
		// What each kind of table watch costs on top of embedded-policy.
		for _, k := range []string{"embedded-postwatch", "embedded-adjinwatch", "embedded-bestwatch"} {
			variants = append(variants, variant{k, func(tb testing.TB, d string) receiver { return startAlt(tb, d, k, t) }})
		}
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			var res result
			for i := 0; i < b.N; i++ {
				dir := filepath.Join(root, fmt.Sprintf("%s-%d", v.name, i))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				r := v.start(b, dir)
				res = ingest(b, t, r)
				if err := r.proc().Stop(); err != nil {
					b.Fatal(err)
				}
			}
			report(b, t, res)
		})
	}
}
