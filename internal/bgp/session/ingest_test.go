package session

import (
	"bufio"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/reachmon/reachmon/internal/config"
)

// tableUpdates packs table into UPDATEs as a full-table peer sends them:
// IPv4 in NLRI, IPv6 in MP_REACH, per4 and per6 prefixes under one set
// of attributes, then End-of-RIB for both families.
func tableUpdates(tb testing.TB, table []netip.Prefix, per4, per6 int) [][]byte {
	var out [][]byte
	path := []uint32{64500, 64501, 64502, 3356, 174, 64503}
	flush := func(v4, v6 []netip.Prefix) {
		if len(v4)+len(v6) == 0 {
			return
		}
		var s []string
		for _, p := range append(v4, v6...) {
			s = append(s, p.String())
		}
		b, err := update(path, s...).Serialize()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	var v4, v6 []netip.Prefix
	for _, p := range table {
		if p.Addr().Is4() {
			v4 = append(v4, p)
			if len(v4) == per4 {
				flush(v4, nil)
				v4 = v4[:0]
			}
		} else {
			v6 = append(v6, p)
			if len(v6) == per6 {
				flush(nil, v6)
				v6 = v6[:0]
			}
		}
	}
	flush(v4, nil)
	flush(nil, v6)
	for _, rf := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		b, _ := bgp.NewEndOfRib(rf).Serialize()
		out = append(out, b)
	}
	return out
}

// BenchmarkFullTableIngest sends a 1.1 M-prefix table (990 k IPv4, 110 k
// IPv6, a few of them watched) over loopback to a full_table session
// feeding a real feed, until the peer is synced by End-of-RIB. It
// reports the prefixes per second, the peak heap sampled every 5 ms
// during the ingest (MiB-peak-heap) and the heap after it
// (MiB-steady-heap), both after subtracting the heap before the session
// (which holds the benchmark's own table).
func BenchmarkFullTableIngest(b *testing.B) {
	table := fullTable(1_100_000)
	table = append(table, netip.MustParsePrefix("198.18.1.0/24"), netip.MustParsePrefix("198.51.100.0/24"))
	// packed: as many prefixes as fit in 4,096 bytes; dump: 4 IPv4 or 2
	// IPv6 prefixes per UPDATE, as a table dump with varied attributes.
	b.Run("packed", func(b *testing.B) { benchIngest(b, table, tableUpdates(b, table, 700, 200)) })
	b.Run("dump", func(b *testing.B) { benchIngest(b, table, tableUpdates(b, table, 4, 2)) })
}

func benchIngest(b *testing.B, table []netip.Prefix, msgs [][]byte) {
	for b.Loop() {
		b.StopTimer()
		r := startRaw(b, "127.0.0.20")
		l := startLab(b, config.BGP{Neighbor: []config.Neighbor{r.neighbor(64500)}})
		r.accept()
		r.handshake(64500, 90, true)
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					if m.HeapAlloc > peak.Load() {
						peak.Store(m.HeapAlloc)
					}
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		w := bufio.NewWriterSize(r.c, 1<<16)
		go func() {
			for _, m := range msgs {
				if _, err := w.Write(m); err != nil {
					return
				}
			}
			_ = w.Flush()
		}()
		l.waitUntil("synced", func() bool { return l.peer("127.0.0.20").Synced })
		el := time.Since(start)
		b.StopTimer()
		close(stop)
		<-sampled
		st := l.status("127.0.0.20")
		kept := l.paths("127.0.0.20")
		if _, ok := kept["198.51.100.0/24"]; st.Received[4]+st.Received[6] != len(table) || !ok {
			b.Fatalf("received %v, watched %v", st.Received, l.paths("127.0.0.20"))
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(len(table))/el.Seconds(), "prefixes/s")
		b.ReportMetric(float64(peak.Load()-base)/(1<<20), "MiB-peak-heap")
		b.ReportMetric(float64(ms.HeapAlloc-base)/(1<<20), "MiB-steady-heap")
		b.ReportMetric(float64(len(kept)), "watched-routes")
		l.stop()
		b.StartTimer()
	}
}
