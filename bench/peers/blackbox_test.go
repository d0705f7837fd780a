package benchpeers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
	"github.com/reachmon/reachmon/integration/lab"
)

// blackboxBinEnv names the blackbox_exporter binary; default
// prometheus-blackbox-exporter from PATH (Debian package).
const blackboxBinEnv = "BENCH_BLACKBOX_BIN"

func blackboxBinary(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv(blackboxBinEnv); bin != "" {
		return bin
	}
	bin, err := exec.LookPath("prometheus-blackbox-exporter")
	if err != nil {
		lab.Missing(tb, "prometheus-blackbox-exporter is not installed (apt-get install -y prometheus-blackbox-exporter, or scripts/install-bench-deps.sh)")
	}
	return bin
}

// blackboxVersion returns "0.23.0" or the like.
func blackboxVersion(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	var v string
	_, _ = fmt.Sscanf(string(out), "blackbox_exporter, version %s", &v)
	return v
}

// timeoutOffset is blackbox_exporter's --timeout-offset (its default):
// it runs a probe for at most the scrape timeout Prometheus announces
// minus this.
const timeoutOffset = 500 * time.Millisecond

// runBlackbox runs prometheus-blackbox-exporter and a scraper that asks it
// for every check of the set at rate checks/s, as Prometheus would with
// one scrape target per check; it waits warm, measures window and stops
// both. With bursts set, the scraper's offsets are those of a jitter of
// a tenth of the interval (probeSettings.bursts): every check in the first tenth of
// the interval.
func runBlackbox(b *testing.B, bl *benchLab, rate float64, warm, window time.Duration, bursts bool) measurement {
	b.Helper()
	dir := workDir.Path(b)
	bin := blackboxBinary(b)
	ps := bl.set.settingsFor(rate)
	if bursts {
		ps = ps.bursts()
	}
	window = wholeIntervals(window, ps.interval)
	conf := filepath.Join(dir, "blackbox.yml")
	if err := os.WriteFile(conf, []byte(bl.set.blackboxConfig(ps.timeout)), 0o644); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, err := exec.CommandContext(ctx, bin, "--config.file="+conf, "--config.check").CombinedOutput()
	cancel()
	if err != nil {
		b.Fatalf("blackbox_exporter --config.check: %v: %s", err, out)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort(b))
	p, err := startProc(dir, "blackbox", bin, "--config.file="+conf, "--web.listen-address="+listen)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := p.Stop(); err != nil {
			b.Error(err)
		}
	}()
	base := "http://" + listen
	waitHTTP(b, p, base+"/metrics")

	s := newScraper(bl.set, base, ps)
	sctx, scancel := context.WithTimeout(context.Background(), warm+window+time.Minute)
	done := make(chan struct{})
	go func() { defer close(done); s.run(sctx) }()
	defer func() {
		scancel()
		<-done
		s.wait()
	}()
	sleepWatching(b, p, max(warm, ps.interval))
	if bursts {
		sleepWatching(b, p, toQuietPhase(s.started(), ps.interval))
	}

	m := measurement{tool: "blackbox", offered: float64(len(bl.set.checks)) / ps.interval.Seconds(), lateFrac: -1, lagP99: -1}
	c0 := readProc(b, p)
	s0, k0, self0 := bl.serversCPU(), benchutil.ReadMachineCPU(), benchutil.SelfCPU()
	t0 := time.Now()
	ok0, fail0, skip0 := s.counts()
	stopPerf := perfRecord(b, p, fmt.Sprintf("blackbox-%.0f%s", rate, map[bool]string{true: "-bursts"}[bursts]))
	sleepWatching(b, p, time.Until(t0.Add(window)))
	stopPerf()
	c1 := readProc(b, p)
	s1, k1, self1 := bl.serversCPU(), benchutil.ReadMachineCPU(), benchutil.SelfCPU()
	t1 := time.Now()
	ok1, fail1, skip1 := s.counts()
	m.window = t1.Sub(t0)
	m.toolCPU = time.Duration((c1.CPUSeconds - c0.CPUSeconds) * float64(time.Second))
	m.servers, m.machine, m.scraper = s1-s0, k1.Sub(k0), self1-self0
	m.rss, m.hwm = c1.RSS, c1.HWM
	m.checks = float64(ok1 - ok0 + fail1 - fail0)
	m.errors = float64(fail1 - fail0)
	m.skipped = float64(skip1 - skip0)
	if m.errors > 0 {
		m.note = "first failure: " + s.firstFailure()
	}
	return m
}

// promAccept is the Accept header of Prometheus 2.42's scrapes.
const promAccept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

// scraper asks blackbox_exporter for every check once per interval, each
// at its own fixed offset in the interval (uniform in [0, jitter), as
// reachmon places its probes; with the even spread like Prometheus's
// per-target offsets), the way Prometheus scrapes one target per check:
// the same request headers (gzip included: Go's transport asks for it and
// decompresses, as Prometheus does), keep-alive connections (up to 1,000
// idle per host, Prometheus's setting), a scrape timeout of the probe
// timeout plus blackbox_exporter's offset, and a round skipped when the
// check's previous scrape is still running. It reads each answer and looks
// for probe_success 1: a light stand-in for Prometheus, which also parses
// and stores every sample.
type scraper struct {
	client   *http.Client
	urls     []string
	offsets  []time.Duration
	order    []int // checks by offset
	interval time.Duration
	timeout  time.Duration // the HTTP request's
	header   string        // X-Prometheus-Scrape-Timeout-Seconds

	startMu sync.Mutex
	start   time.Time // of the first round

	busy                []atomic.Bool
	ok, failed, skipped atomic.Int64
	wg                  sync.WaitGroup
	failMu              sync.Mutex
	failure             string
}

func newScraper(set *checkSet, base string, ps probeSettings) *scraper {
	n := len(set.checks)
	s := &scraper{
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConns:        20000,
			MaxIdleConnsPerHost: 1000,
			IdleConnTimeout:     5 * time.Minute,
		}},
		urls:     make([]string, n),
		offsets:  make([]time.Duration, n),
		order:    make([]int, n),
		interval: ps.interval,
		timeout:  ps.timeout + timeoutOffset,
		busy:     make([]atomic.Bool, n),
	}
	s.header = strconv.FormatFloat(s.timeout.Seconds(), 'f', -1, 64)
	rng := rand.New(rand.NewPCG(1, 2))
	for i, c := range set.checks {
		s.urls[i] = c.probeURL(base)
		s.offsets[i] = time.Duration(rng.Int64N(int64(max(ps.jitter, 1))))
		s.order[i] = i
	}
	slices.SortFunc(s.order, func(a, b int) int { return int(s.offsets[a] - s.offsets[b]) })
	return s
}

// run dispatches scrapes until ctx ends.
func (s *scraper) run(ctx context.Context) {
	start := time.Now()
	s.startMu.Lock()
	s.start = start
	s.startMu.Unlock()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for round := 0; ; round++ {
		base := start.Add(time.Duration(round) * s.interval)
		for _, i := range s.order {
			// Sleep until due; checks due within a millisecond go at once.
			if d := time.Until(base.Add(s.offsets[i])); d > time.Millisecond {
				timer.Reset(d)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			} else if ctx.Err() != nil {
				return
			}
			if !s.busy[i].CompareAndSwap(false, true) {
				s.skipped.Add(1)
				continue
			}
			s.wg.Add(1)
			go s.scrape(ctx, i)
		}
	}
}

var probeSuccess = []byte("\nprobe_success 1\n")

func (s *scraper) scrape(ctx context.Context, i int) {
	defer s.wg.Done()
	defer s.busy[i].Store(false)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.urls[i], nil)
	if err != nil {
		s.fail(err.Error())
		return
	}
	req.Header.Set("Accept", promAccept)
	req.Header.Set("User-Agent", "Prometheus/2.42.0")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", s.header)
	resp, err := s.client.Do(req)
	if err != nil {
		s.fail(err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	switch {
	case err != nil:
		s.fail(err.Error())
	case resp.StatusCode != http.StatusOK:
		s.fail(fmt.Sprintf("%s: %.200s", resp.Status, body))
	case !bytes.Contains(body, probeSuccess):
		s.fail(fmt.Sprintf("%s: probe failed: %.600s", s.urls[i], body))
	default:
		s.ok.Add(1)
	}
}

// started is when the first round began (zero before run).
func (s *scraper) started() time.Time {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	return s.start
}

func (s *scraper) fail(msg string) {
	s.failed.Add(1)
	s.failMu.Lock()
	if s.failure == "" {
		s.failure = msg
	}
	s.failMu.Unlock()
}

func (s *scraper) firstFailure() string {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failure
}

func (s *scraper) counts() (ok, failed, skipped int64) {
	return s.ok.Load(), s.failed.Load(), s.skipped.Load()
}

// wait waits for the scrapes in flight (each bounded by its timeout).
func (s *scraper) wait() {
	s.wg.Wait()
	s.client.CloseIdleConnections()
}
