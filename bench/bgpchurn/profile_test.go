package bgpchurn

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
	"github.com/reachmon/reachmon/internal/app"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/model"
)

// TestChurnProfile runs the daemon as `reachmon run` builds it
// (internal/app, same configuration) in this process, feeds it the same
// churn as BenchmarkChurn and writes into $BENCH_BGPCHURN_PROFILE:
//
//   - heap-churn-start.pprof, heap-steady-start.pprof, heap-end.pprof:
//     heap profiles (after a GC) when the churn starts, when the warm-up
//     ends and when the churn ends; compare them with
//     go tool pprof -sample_index=inuse_space -base A B;
//   - live.csv: the live heap (HeapAlloc right after a forced GC) every
//     30 s, the precise form of "heap in use" that only the process itself
//     can read;
//   - cpu-steady.pprof: a CPU profile of the steady window (the sender
//     and the sampler, in this process too, show under bench/bgpchurn and
//     bench/benchutil);
//   - series.csv: the same outside samples as the benchmark (RSS and CPU
//     here include the sender, which runs in this process).
//
// Skipped without BENCH_BGPCHURN_PROFILE.
func TestChurnProfile(t *testing.T) {
	out := os.Getenv("BENCH_BGPCHURN_PROFILE")
	if out == "" {
		t.Skip("BENCH_BGPCHURN_PROFILE not set")
	}
	runtime.MemProfileRate = 64 << 10
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	pr := loadParams(t)
	c := newChurner(pr.fresh)
	dir := filepath.Join(workDir.Path(t), "profile")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bgpPort, httpPort := benchutil.FreePort(t), benchutil.FreePort(t)
	confPath := filepath.Join(dir, "reachmon.toml")
	if err := os.WriteFile(confPath, []byte(reachmonConfig(dir, bgpPort, httpPort, c)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(confPath)
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "reachmon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	log, err := app.NewLogger(logf, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		t.Fatal(err)
	}
	d, err := app.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	alive := func() error {
		select {
		case err := <-done:
			done <- err
			return fmt.Errorf("daemon stopped: %v", err)
		default:
			return nil
		}
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if v, err := peers(httpAddr); err == nil && v.Enabled {
			break
		}
		if err := alive(); err != nil || time.Now().After(deadline) {
			t.Fatalf("daemon API not up: %v", err)
		}
	}

	// Live heap every 30 s (forced GC), from the first UPDATE on.
	type live struct {
		at   time.Time
		heap uint64
		objs uint64
	}
	var (
		liveMu sync.Mutex
		lives  []live
	)
	stopLive := make(chan struct{})
	liveDone := make(chan struct{})
	go func() {
		defer close(liveDone)
		tk := time.NewTicker(30 * time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stopLive:
				return
			case <-tk.C:
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			liveMu.Lock()
			lives = append(lives, live{time.Now(), ms.HeapAlloc, ms.HeapObjects})
			liveMu.Unlock()
		}
	}()
	heapAt := func(name string) {
		// A heap profile shows the heap as of the last completed GC
		// cycle: two make it current.
		runtime.GC()
		runtime.GC()
		f, err := os.Create(filepath.Join(out, name))
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Error(err)
		}
	}
	tg := target{pid: os.Getpid(), http: httpAddr,
		storeDoc: filepath.Join(dir, "state", "incidents", "incidents.json"), logPath: logf.Name()}
	first := true
	var cpuf *os.File
	r := runChurn(t, tg, alive, fmt.Sprintf("127.0.0.1:%d", bgpPort), c, pr, hooks{
		steady: func() {
			heapAt("heap-steady-start.pprof")
			var err error
			if cpuf, err = os.Create(filepath.Join(out, "cpu-steady.pprof")); err == nil {
				err = pprof.StartCPUProfile(cpuf)
			}
			if err != nil {
				t.Error(err)
			}
		},
		end: func() {
			if cpuf != nil {
				pprof.StopCPUProfile()
				cpuf.Close()
			}
			heapAt("heap-end.pprof")
		},
		churn: func() {
			if first {
				first = false
				heapAt("heap-churn-start.pprof")
			}
		},
	})
	close(stopLive)
	<-liveDone
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Error("daemon did not stop within 30 s")
	}

	f, err := os.Create(filepath.Join(out, "series.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writeCSV(f, r.samples); err != nil {
		t.Fatal(err)
	}
	lf, err := os.Create(filepath.Join(out, "live.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	t0 := r.t0
	fmt.Fprintln(lf, "t_s,live_heap_bytes,heap_objects")
	var xs, ys []float64
	for _, l := range lives {
		ts := l.at.Sub(t0).Seconds()
		fmt.Fprintf(lf, "%.1f,%d,%d\n", ts, l.heap, l.objs)
		if ts >= pr.warmup.Seconds() && ts <= r.churn.Seconds() {
			xs, ys = append(xs, ts/60), append(ys, float64(l.heap)/mib)
		}
	}
	t.Logf("churn %s, %d updates (%d expected changes, %.0f counted); live heap slope over the steady window %+.3f MiB/min (%d points)",
		r.churn.Round(time.Second), r.sent, r.expected, r.final.Updates-r.base.Updates, lsSlope(xs, ys), len(xs))
	t.Logf("mix: %s", r.mix)
	t.Logf("profiles in %s: go tool pprof -sample_index=inuse_space -base %s %s",
		out, filepath.Join(out, "heap-steady-start.pprof"), filepath.Join(out, "heap-end.pprof"))
}

// TestEvaluatorRetention measures what reachmon's evaluator keeps of a
// more-specific that appeared and went: it drives internal/evaluate
// directly (no network) with 20,000 never-seen more-specifics of 1,000
// watched prefixes, each announced by two peers with an expected origin
// and withdrawn 10 s later, then lets two hours pass on the evaluator's
// clock (Ticks every second: fade_off, bgp_resolve_after and the like long
// over) and compares the live heap after a GC with the one before.
// Writes retention.txt into $BENCH_BGPCHURN_PROFILE; skipped without it.
func TestEvaluatorRetention(t *testing.T) {
	out := os.Getenv("BENCH_BGPCHURN_PROFILE")
	if out == "" {
		t.Skip("BENCH_BGPCHURN_PROFILE not set")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	const nW, n = 1000, 20_000
	var watched []model.WatchedPrefix
	for i := 0; i < nW; i++ {
		a := netip.AddrFrom4([4]byte{100, byte(64 + i>>6), byte(i & 63 << 2), 0})
		watched = append(watched, model.WatchedPrefix{Prefix: netip.PrefixFrom(a, 22), Origins: []uint32{64500, 64501}})
	}
	peerNames := []string{"127.0.0.2", "127.0.0.3"}
	tg := evaluate.Targets{Vantage: "bench", Prefixes: watched}
	for i, p := range peerNames {
		tg.Peers = append(tg.Peers, evaluate.Peer{Name: p, ASN: uint32(65101 + i)})
	}
	e := evaluate.New(config.Evaluate{}, tg)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, p := range peerNames {
		for _, k := range []model.PeerEventKind{model.PeerUp, model.PeerSynced} {
			e.Apply(model.PeerEvent{Time: now, Kind: k, Peer: p, PeerASN: uint32(65101 + i), ByEndOfRIB: true})
		}
	}
	tick := func(d time.Duration) {
		for end := now.Add(d); now.Before(end); {
			now = now.Add(time.Second)
			e.Tick(now)
		}
	}
	tick(3 * time.Minute) // past start_grace
	live := func() (uint64, uint64) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, ms.HeapObjects
	}
	h0, o0 := live()
	type pending struct {
		at time.Time
		p  netip.Prefix
		w  model.WatchedPrefix
	}
	var wd []pending
	for i := 0; i < n; i++ {
		w := watched[i%nW]
		// /27s inside the /22: 32 of them, i/nW picks one.
		a := w.Prefix.Addr().As4()
		k := i / nW
		a[2] += byte(k >> 3)
		a[3] = byte(k&7) << 5
		p := netip.PrefixFrom(netip.AddrFrom4(a), 27)
		for j, peer := range peerNames {
			kind := model.RouteMoreSpecific
			if j > 0 {
				kind = model.RouteAnnounce
			}
			e.Apply(model.RouteEvent{Time: now, Kind: kind, Peer: peer, PeerASN: uint32(65101 + j), Prefix: p,
				Origin: 64500, ASPath: []uint32{uint32(65101 + j), 3356, 64500}, Watched: w.Prefix, MoreSpecific: true,
				ExpectedOrigins: w.Origins, VisiblePeers: j + 1})
		}
		wd = append(wd, pending{now.Add(10 * time.Second), p, w})
		for len(wd) > 0 && !wd[0].at.After(now) {
			x := wd[0]
			wd = wd[1:]
			for j, peer := range peerNames {
				e.Apply(model.RouteEvent{Time: now, Kind: model.RouteWithdraw, Peer: peer, PeerASN: uint32(65101 + j), Prefix: x.p,
					PrevOrigin: 64500, Watched: x.w.Prefix, MoreSpecific: true, ExpectedOrigins: x.w.Origins, VisiblePeers: 1 - j})
			}
		}
		if i%20 == 19 { // 20 new more-specifics a second
			tick(time.Second)
		}
	}
	for _, x := range wd {
		for j, peer := range peerNames {
			e.Apply(model.RouteEvent{Time: now, Kind: model.RouteWithdraw, Peer: peer, PeerASN: uint32(65101 + j), Prefix: x.p,
				PrevOrigin: 64500, Watched: x.w.Prefix, MoreSpecific: true, ExpectedOrigins: x.w.Origins, VisiblePeers: 1 - j})
		}
	}
	h1, o1 := live()
	tick(2 * time.Hour)
	h2, o2 := live()
	runtime.KeepAlive(e)
	msg := fmt.Sprintf("evaluator, %d never-seen more-specifics announced by 2 peers and withdrawn 10 s later (20 a second):\n"+
		"  right after: %+.0f bytes and %+.1f heap objects per prefix\n"+
		"  2 h later:   %+.0f bytes and %+.1f heap objects per prefix (%.1f MiB in all) still live\n",
		n, float64(int64(h1)-int64(h0))/n, float64(int64(o1)-int64(o0))/n,
		float64(int64(h2)-int64(h0))/n, float64(int64(o2)-int64(o0))/n, float64(int64(h2)-int64(h0))/mib)
	t.Log(msg)
	if err := os.WriteFile(filepath.Join(out, "retention.txt"), []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
}
