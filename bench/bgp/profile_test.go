package benchbgp

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/bench/benchutil"
	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// TestHeapProfile runs reachmon's BGP feed (internal/bgp.Feed, as `reachmon
// run` builds it) in this process, sends it the full table and writes
// into $BENCH_BGP_PROFILE: cpu.pprof (the ingest), heap-peak.pprof (the
// heap profile when the live heap was largest, sampled every 250 ms with
// a forced GC, after the ingest) and heap-steady.pprof (after ingest and
// GC), plus memstats.txt. Skipped without BENCH_BGP_PROFILE.
//
// The sender runs in the same process here, so this run's RSS is not
// comparable with BenchmarkIngest's: use the heap profiles.
func TestHeapProfile(t *testing.T) {
	dir := os.Getenv("BENCH_BGP_PROFILE")
	if dir == "" {
		t.Skip("BENCH_BGP_PROFILE not set")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tb, err := feedTable()
	if err != nil {
		t.Fatal(err)
	}
	port := benchutil.FreePort(t)
	cfg := config.BGP{
		ASN: receiverAS, RouterID: "127.0.0.1", ListenPort: port, ListenAddresses: []string{"127.0.0.1"},
		Neighbor: []config.Neighbor{{Address: senderAddr, PeerASN: senderAS, Passive: true, Description: "bench sender"}},
	}
	w := bgp.Watch{Resolvers: map[string]netip.Addr{}}
	for _, p := range tb.Watched {
		w.Prefixes = append(w.Prefixes, model.WatchedPrefix{Prefix: p.Prefix, Origins: []uint32{p.Origin}})
	}
	events := make(chan model.Event, 1024)
	feed, err := bgp.New(cfg, w, bgp.Options{Registerer: prometheus.NewRegistry(), Events: events})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-events:
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	defer func() { cancel(); <-done }()
	runtime.GC()

	cpuf, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := dialSession(fmt.Sprintf("127.0.0.1:%d", port), time.Now().Add(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := pprof.StartCPUProfile(cpuf); err != nil {
		t.Fatal(err)
	}
	sendErr := make(chan error, 1)
	go func() { sendErr <- s.send(tb.Updates) }()

	// Poll the feed's own state (no GoBGP call) until synced; meanwhile
	// keep the largest heap profile seen (a GC every 250 ms: it slows the
	// ingest a little but measures the live heap, not garbage).
	var peakLive uint64
	var ms runtime.MemStats
	deadline := time.Now().Add(maxIngest)
	var eor time.Duration
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > peakLive {
			peakLive = ms.HeapAlloc
			writeHeap(t, filepath.Join(dir, "heap-peak.pprof"))
		}
		synced := false
		for _, p := range feed.Peers() {
			synced = synced || (p.Peer == senderAddr && p.Synced)
		}
		if synced {
			eor = time.Since(s.established)
			break
		}
	}
	pprof.StopCPUProfile()
	cpuf.Close()
	if eor == 0 {
		t.Fatal("feed not synced in time")
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	writeHeap(t, filepath.Join(dir, "heap-steady.pprof"))
	_, hwm, _ := procStatus(os.Getpid())
	summary := fmt.Sprintf("routes %d, End-of-RIB seen by the feed %.1fs after Established (with GCs every 250 ms)\n"+
		"peak live heap %.0f MiB; steady live heap %.0f MiB, HeapSys %.0f MiB; process VmHWM %.0f MiB (sender in process)\n",
		tb.Routes(), eor.Seconds(), float64(peakLive)/(1<<20), float64(ms.HeapAlloc)/(1<<20), float64(ms.HeapSys)/(1<<20), float64(hwm)/1024)
	t.Log(summary)
	if err := os.WriteFile(filepath.Join(dir, "memstats.txt"), []byte(summary), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeHeap(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}
