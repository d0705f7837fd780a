package rpki

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/rpki/rpkitest"
)

// globalVRPs is a VRP set the size of the global one (2026: about
// 600,000 IPv4 and 100,000 IPv6 VRPs), deterministic.
func globalVRPs() []model.VRP {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]model.VRP, 0, 700_000)
	for range 600_000 {
		bits := 16 + r.IntN(9)
		p, _ := netip.AddrFrom4([4]byte{byte(1 + r.IntN(222)), byte(r.IntN(256)), byte(r.IntN(256)), 0}).Prefix(bits)
		out = append(out, model.VRP{Prefix: p, MaxLength: uint8(bits + r.IntN(25-bits)), ASN: uint32(1 + r.IntN(400_000))})
	}
	for range 100_000 {
		var a [16]byte
		a[0], a[1], a[2], a[3], a[4], a[5] = 0x20, 0x01, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))
		bits := 32 + r.IntN(17)
		p, _ := netip.AddrFrom16(a).Prefix(bits)
		out = append(out, model.VRP{Prefix: p, MaxLength: uint8(bits + r.IntN(49-bits)), ASN: uint32(1 + r.IntN(400_000))})
	}
	return out
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// TestMeasureGlobalVRPSet measures what a global VRP set costs reachmon:
// the file read (allocated while reading, kept after), and over RTR from
// stayrtr GoBGP's table and one listing of it. It runs only with
// REACHMON_RPKI_MEASURE=1 (it takes a minute and 2 cores); the numbers
// are in README.md ("RPKI origin validation").
func TestMeasureGlobalVRPSet(t *testing.T) {
	if os.Getenv("REACHMON_RPKI_MEASURE") != "1" {
		t.Skip("set REACHMON_RPKI_MEASURE=1 to measure")
	}
	vrps := globalVRPs()
	watch := NewWatch([]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")},
		[]netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("8.8.8.8")})

	dir := t.TempDir()
	path := filepath.Join(dir, "vrps.json")
	rpkitest.WriteVRPs(t, path, vrps)
	fi, _ := os.Stat(path)
	base := heapInUse()
	a0 := totalAlloc()
	start := time.Now()
	kept, n4, n6, err := loadFile(path, watch)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("file: %d bytes, %d+%d VRPs read in %s, %.1f MiB allocated while reading, %d kept (%.1f KiB retained)",
		fi.Size(), n4, n6, took.Round(time.Millisecond), float64(totalAlloc()-a0)/(1<<20), len(kept), float64(int64(heapInUse())-int64(base))/1024)

	st := rpkitest.StartStayRTR(t, vrps)
	base = heapInUse()
	events := make(chan model.Event, 4)
	m := New(config.RPKI{RTR: []config.RTRServer{{Address: "127.0.0.1", Port: st.Port, Lifetime: config.Duration{Duration: time.Hour}}}},
		[]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")},
		[]netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("8.8.8.8")}, Options{Events: events, Poll: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	start = time.Now()
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case ev := <-events:
			if r := ev.(model.RPKIEvent); r.Ready {
				goto ready
			}
		case <-deadline:
			t.Fatal("no VRPs over RTR")
		}
	}
ready:
	// The first event may come before the whole transfer: wait for the
	// table to hold every VRP.
	for {
		n := testutil.ToFloat64(m.metrics.vrps.WithLabelValues("rtr", "ipv4")) + testutil.ToFloat64(m.metrics.vrps.WithLabelValues("rtr", "ipv6"))
		if n >= 690_000 {
			t.Logf("rtr: %.0f VRPs in GoBGP's table after %s", n, time.Since(start).Round(time.Millisecond))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	t.Logf("rtr: heap in use with GoBGP's table and reachmon's kept VRPs: %.1f MiB above the baseline", float64(int64(heapInUse())-int64(base))/(1<<20))
	a0 = totalAlloc()
	n := 0
	start = time.Now()
	if _, err := m.rtr.roas(ctx, func(v model.VRP) {
		if watch.Relevant(v.Prefix) {
			n++
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("rtr: one listing of the table (each transfer that changes it): %s, %.1f MiB allocated, %d relevant", time.Since(start).Round(time.Millisecond), float64(totalAlloc()-a0)/(1<<20), n)
}
