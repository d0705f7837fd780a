package evaluate

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// benchWorld is 10,000 zones x 3 resolvers plus 2 authoritative servers
// per zone (20,000 nameserver addresses), and 20,000 watched prefixes
// carried by 3 BGP peers.
type benchWorld struct {
	e        *Evaluator
	now      time.Time
	obs      []model.Observation // one round: every (zone, server)
	prefixes []netip.Prefix
	heap     uint64 // live heap of the evaluator after setup
}

const (
	benchZones    = 10000
	benchPrefixes = 20000
)

func newBenchWorld(tb testing.TB) *benchWorld {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	w := &benchWorld{now: t0}
	tg := Targets{Vantage: "bench", Resolvers: threeResolvers(), Peers: peers3}
	for i := range benchPrefixes {
		// 10.0.0.0/24 … : 20,000 /24s, origin 64500 + i%100.
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		w.prefixes = append(w.prefixes, p)
		tg.Prefixes = append(tg.Prefixes, model.WatchedPrefix{Prefix: p, Origins: []uint32{uint32(64500 + i%100)}})
	}
	for i := range benchZones {
		tg.Zones = append(tg.Zones, Zone{Name: fmt.Sprintf("zone%05d.example.", i)})
	}
	w.e = New(config.DefaultEvaluate(), tg)
	e := w.e
	e.Tick(w.now)
	for _, p := range peers3 {
		e.Apply(model.PeerEvent{Time: w.now, Kind: model.PeerUp, Peer: p.Name, PeerASN: p.ASN})
		for i, pfx := range w.prefixes {
			e.Apply(model.RouteEvent{Time: w.now, Kind: model.RouteAnnounce, Peer: p.Name, PeerASN: p.ASN, Prefix: pfx,
				Origin: uint32(64500 + i%100), Initial: true})
		}
		e.Apply(model.PeerEvent{Time: w.now, Kind: model.PeerSynced, Peer: p.Name, PeerASN: p.ASN, Routes: benchPrefixes})
	}
	for i := range benchZones {
		z := fmt.Sprintf("zone%05d.example", i)
		var d model.Discovery
		d.Time, d.Zone = w.now, z+"."
		for j := range 2 {
			// Nameservers inside the watched prefixes: zone i uses 10.x.y.53/.54.
			pfx := w.prefixes[(2*i+j)%benchPrefixes]
			a := pfx.Addr().Next()
			d.Servers = append(d.Servers, model.AuthServer{Host: fmt.Sprintf("ns%d.%s", j, z), Addr: netip.AddrPortFrom(a, 53)})
			w.obs = append(w.obs, model.Observation{Target: z, Name: z + ".", Type: "SOA", Rcode: "NOERROR", AA: true,
				Server: model.Server{Name: fmt.Sprintf("ns%d.%s", j, z), Kind: model.KindAuthoritative, Addr: netip.AddrPortFrom(a, 53).String()}})
		}
		e.Apply(d)
		for _, r := range []string{"cloudflare", "google", "quad9"} {
			w.obs = append(w.obs, model.Observation{Target: z, Name: z + ".", Type: "SOA", Rcode: "NOERROR", RA: true, MinTTL: 300,
				Server: model.Server{Name: r, Kind: model.KindResolver, Validating: true}})
		}
	}
	// Three healthy rounds: every server decided.
	for range 3 {
		w.round(func(int) bool { return false })
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.HeapAlloc > before.HeapAlloc {
		w.heap = after.HeapAlloc - before.HeapAlloc - uint64(cap(w.obs))*uint64(200) // minus the observation templates (approx.)
	}
	return w
}

// round applies one probe round; fail says which observations fail.
func (w *benchWorld) round(fail func(i int) bool) int {
	w.now = w.now.Add(30 * time.Second)
	for i := range w.obs {
		w.apply(i, fail(i))
	}
	w.e.Tick(w.now)
	return len(w.obs)
}

func (w *benchWorld) apply(i int, fail bool) []model.IncidentChange {
	o := w.obs[i]
	o.Time = w.now
	if fail {
		o.Rcode, o.Error = "", model.ErrTimeout
	}
	return w.e.Apply(o)
}

// BenchmarkEvaluator measures events per second through Apply (and a
// Tick per simulated second) and the evaluator's memory for 10,000 zones
// x 3 resolvers + 20,000 nameservers and 20,000 watched prefixes.
//
//   - steady: every probe answers, 1 route event (path change) per 100
//     observations;
//   - churn: every 10th zone's authoritative servers time out for 5
//     rounds then recover (incidents open and resolve), and one prefix in
//     100 flaps (withdrawn and announced at every peer).
func BenchmarkEvaluator(b *testing.B) {
	w := newBenchWorld(b)
	b.Logf("evaluator live heap after setup: %.1f MiB", float64(w.heap)/(1<<20))
	run := func(b *testing.B, churn bool) {
		b.ReportAllocs()
		start := time.Now()
		var changes, i, round, pi int
		b.ResetTimer()
		for n := 0; n < b.N; n++ {
			if i == len(w.obs) {
				i = 0
				round++
				w.now = w.now.Add(30 * time.Second)
				changes += len(w.e.Tick(w.now))
			}
			if n%100 == 99 {
				pfx := w.prefixes[pi%benchPrefixes]
				pi++
				p := peers3[pi%3]
				kind, origin := model.RoutePathChange, uint32(64500+(pi-1)%100)
				if churn && pi%2 == 0 {
					kind = model.RouteWithdraw
				} else if churn {
					kind = model.RouteAnnounce
				}
				changes += len(w.e.Apply(model.RouteEvent{Time: w.now, Kind: kind, Peer: p.Name, PeerASN: p.ASN, Prefix: pfx,
					Origin: origin, PrevOrigin: origin}))
				continue
			}
			fail := churn && (i/5)%10 == 0 && i%5 < 2 && round%10 < 5
			changes += len(w.apply(i, fail))
			i++
		}
		el := time.Since(start)
		b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
		b.ReportMetric(float64(w.heap)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(changes), "changes")
	}
	b.Run("steady", func(b *testing.B) { run(b, false) })
	b.Run("churn", func(b *testing.B) { run(b, true) })
}

// BenchmarkEvaluatorSnapshot measures building the /api/v1/status
// snapshot of the same world (published about once a second).
func BenchmarkEvaluatorSnapshot(b *testing.B) {
	w := newBenchWorld(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = w.e.Snapshot(w.now)
	}
}
