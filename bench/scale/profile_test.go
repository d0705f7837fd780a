package benchscale

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/app"
	"github.com/reachmon/reachmon/internal/config"
)

// TestProfile runs the daemon (internal/app, as `reachmon run` builds it)
// in this process against the same lab and configuration as
// BenchmarkScale, and writes into $BENCH_SCALE_PROFILE:
//
//	cpu-startup.pprof  from the start until /readyz says ready, plus 30 s
//	cpu-steady.pprof   the next two intervals, with one /metrics read per
//	                   interval (the body discarded, not parsed)
//	heap.pprof         at the end (after a GC)
//	goroutine.txt      at the end
//
// reachmon has no pprof endpoint; this is the way to see where its time
// goes. Skipped without BENCH_SCALE_PROFILE. Needs what BenchmarkScale
// needs (root, NSD, Unbound); BENCH_SCALE_ZONES, _NS, _TTL and _INTERVAL
// apply.
func TestProfile(t *testing.T) {
	out := os.Getenv("BENCH_SCALE_PROFILE")
	if out == "" {
		t.Skip("BENCH_SCALE_PROFILE not set")
	}
	requireLab(t)
	set := settingsFromEnv(t)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l, err := buildLab(filepath.Join(dir, "lab"), set.shape)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.stop(); err != nil {
			t.Error(err)
		}
	}()
	if err := l.start(); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("bench.toml", []byte(reachmonConfig(l, filepath.Join(dir, "state"), set.interval, set.jitter)))
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(out, "reachmon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	log, err := app.NewLogger(logf, "text", "info")
	if err != nil {
		t.Fatal(err)
	}
	d, err := app.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}

	cpu, err := os.Create(filepath.Join(out, "cpu-startup.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the daemon did not stop within 30 s")
		}
	}()
	base := "http://" + l.plan.listen()
	deadline := t0.Add(set.duration)
	for {
		if code, _, err := httpGet(base+"/readyz", 2*time.Second); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			pprof.StopCPUProfile()
			t.Fatalf("not ready within %v", set.duration)
		}
		time.Sleep(readyPoll)
	}
	ready := time.Since(t0)
	time.Sleep(30 * time.Second)
	pprof.StopCPUProfile()
	cpu.Close()
	t.Logf("ready after %v; start-up profile until %v", ready.Round(time.Millisecond), time.Since(t0).Round(time.Second))

	cpu, err = os.Create(filepath.Join(out, "cpu-steady.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		began := time.Now()
		n, err := discardGet(base+"/metrics", scrapeTimeout)
		if err != nil {
			t.Error(err)
		}
		t.Logf("scrape %d: %.1f MiB in %v", i, float64(n)/(1<<20), time.Since(began).Round(time.Millisecond))
		time.Sleep(time.Until(began.Add(set.interval)))
	}
	pprof.StopCPUProfile()
	cpu.Close()

	runtime.GC()
	for name, debug := range map[string]int{"heap.pprof": 0, "goroutine.txt": 1} {
		f, err := os.Create(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup(map[string]string{"heap.pprof": "heap", "goroutine.txt": "goroutine"}[name]).WriteTo(f, debug); err != nil {
			t.Error(err)
		}
		f.Close()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	_ = os.WriteFile(filepath.Join(out, "memstats.txt"), fmt.Appendf(nil, "HeapInuse %d\nHeapAlloc %d\nSys %d\nNumGC %d\n",
		ms.HeapInuse, ms.HeapAlloc, ms.Sys, ms.NumGC), 0o644)
}

// discardGet reads url to the end and returns the body's size.
func discardGet(url string, timeout time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(io.Discard, resp.Body)
}
