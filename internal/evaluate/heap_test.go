package evaluate

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// labWorld is the evaluator as the scale benchmark (bench/scale) drives
// it: zones signed zones z00001.test. … served by the same two
// nameserver addresses of one DNS host, three validating resolvers, no
// BGP; every zone discovered, DS-checked, and probed for its apex SOA by
// every resolver and nameserver. Every event carries strings of its own,
// as events decoded from DNS answers do (the daemon's prober allocates
// each name it reads), so that the heap it leaves is the daemon's.
type labWorld struct {
	e   *Evaluator
	now time.Time
}

// labEvents are one zone's events of one round, made fresh each time.
func labDiscovery(i int, now time.Time) model.Discovery {
	z := fmt.Sprintf("z%05d.test.", i)
	hosts := []string{strings.Clone("ns1.dnshost.test."), strings.Clone("ns2.dnshost.test.")}
	d := model.Discovery{Time: now, Zone: z, NS: hosts, ParentNS: []string{strings.Clone(hosts[0]), strings.Clone(hosts[1])},
		ApexNS: []string{strings.Clone(hosts[0]), strings.Clone(hosts[1])}, TTL: 300 * time.Second,
		Delegation: model.DelegationOK, DelegationDetail: "test. server ns.test. (127.0.2.1) delegates " + z + " to ns1.dnshost.test., ns2.dnshost.test."}
	for j, h := range hosts {
		d.Servers = append(d.Servers, model.AuthServer{Host: h, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(1 + j)}), 53),
			Sources: []model.AuthSource{model.SourceParent, model.SourceResolver}})
	}
	return d
}

func labDSCheck(i int, now time.Time) model.DSCheck {
	z := fmt.Sprintf("z%05d.test.", i)
	return model.DSCheck{Time: now, Zone: z, Status: model.DSOK,
		DS:          []model.DSRecord{{KeyTag: uint16(i), Algorithm: 13, DigestType: 2, Digest: fmt.Sprintf("%064x", i), Matched: true}},
		DNSKEYs:     []model.DNSKEYInfo{{KeyTag: uint16(i), Algorithm: 13, Flags: 257}},
		DNSKEYRRSIG: &model.SigValidity{Expiration: now.Add(30 * 24 * time.Hour), Inception: now.Add(-time.Hour), TTL: 300, Server: "ns1.dnshost.test. (127.0.1.1)"}}
}

func labObservations(i int, now time.Time) []model.Observation {
	label := fmt.Sprintf("z%05d.test", i)
	name := label + "."
	serial := uint32(2026120301)
	soa := name + " IN SOA ns1.dnshost.test. hostmaster." + name + " 2026120301 3600 900 604800 300"
	var out []model.Observation
	for j, r := range []string{"unbound0", "unbound1", "unbound2"} {
		out = append(out, model.Observation{Time: now, Target: label, Name: name, Type: "SOA", Rcode: "NOERROR", AD: true, RA: true,
			Answers: []string{strings.Clone(soa)}, Signed: true, MinTTL: 300, Latency: time.Millisecond,
			Server: model.Server{Name: r, Kind: model.KindResolver, Addr: fmt.Sprintf("127.0.2.%d:53", 53+j), Transport: model.TransportUDP, Validating: true}})
	}
	for j := range 2 {
		host := fmt.Sprintf("ns%d.dnshost.test.", j+1)
		out = append(out, model.Observation{Time: now, Target: label, Name: name, Type: "SOA", Rcode: "NOERROR", AA: true,
			Answers: []string{strings.Clone(soa)}, Signed: true, MinTTL: 300, SOASerial: &serial, Latency: time.Millisecond,
			RRSIG:  &model.SigValidity{Expiration: now.Add(30 * 24 * time.Hour), Inception: now.Add(-time.Hour), TTL: 300},
			Server: model.Server{Name: host, Kind: model.KindAuthoritative, Addr: fmt.Sprintf("127.0.1.%d:53", 1+j), Transport: model.TransportUDP}})
	}
	return out
}

// newLabWorld builds the evaluator of zones lab zones and runs rounds
// probe rounds of every zone, a discovery and a DS check first.
func newLabWorld(zones, rounds int) *labWorld {
	w := &labWorld{now: t0}
	tg := Targets{Vantage: "bench"}
	for _, r := range []string{"unbound0", "unbound1", "unbound2"} {
		tg.Resolvers = append(tg.Resolvers, Resolver{Name: r, Validating: true})
	}
	for i := range zones {
		tg.Zones = append(tg.Zones, Zone{Name: fmt.Sprintf("z%05d.test.", i+1), Names: []string{fmt.Sprintf("z%05d.test.", i+1)}, Types: []string{"SOA"}})
	}
	w.e = New(config.DefaultEvaluate(), tg)
	w.e.Tick(w.now)
	for i := range zones {
		w.e.Apply(labDiscovery(i+1, w.now))
		w.e.Apply(labDSCheck(i+1, w.now))
	}
	for range rounds {
		w.now = w.now.Add(time.Minute)
		for i := range zones {
			for _, o := range labObservations(i+1, w.now) {
				w.e.Apply(o)
			}
		}
		w.e.Tick(w.now)
	}
	return w
}

// BenchmarkEvaluatorHeap measures the evaluator's live heap per zone in
// the scale benchmark's shape (labWorld: 10,000 signed zones, 3
// resolvers, 2 shared nameservers, SOA probes): the heap after three
// rounds, less the heap before, over the zones. One iteration builds the
// whole world (run with -benchtime 1x).
func BenchmarkEvaluatorHeap(b *testing.B) {
	const zones = 10000
	for range b.N {
		before := liveHeap()
		w := newLabWorld(zones, 3)
		after := liveHeap()
		b.ReportMetric(float64(after-before)/zones, "B/zone")
		b.ReportMetric(float64(after-before)/(1<<20), "MiB")
		writeHeapProfile(b)
		runtime.KeepAlive(w)
	}
}

// BenchmarkEvaluatorSnapshotLab measures the status snapshot of the same
// world: its cost, and the bytes it allocates (allocs/op, B/op) and keeps
// (the published document, "kept-B/zone").
func BenchmarkEvaluatorSnapshotLab(b *testing.B) {
	const zones = 10000
	w := newLabWorld(zones, 3)
	before := liveHeap()
	st := w.e.Snapshot(w.now)
	kept := liveHeap() - before
	runtime.KeepAlive(st)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = w.e.Snapshot(w.now)
	}
	b.ReportMetric(float64(kept)/zones, "kept-B/zone")
}

// writeHeapProfile writes the heap profile to $EVALUATE_HEAP_PROFILE, if
// set (with -memprofilerate 1 it names every byte's allocation site).
func writeHeapProfile(b *testing.B) {
	out := os.Getenv("EVALUATE_HEAP_PROFILE")
	if out == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// TestStateSizes keeps the per-(zone, server) state within its
// allocation size class: a server is 256 bytes (one more field would make
// it 288, 1.6 MiB more at 10,000 zones x 5 servers).
func TestStateSizes(t *testing.T) {
	if n := unsafe.Sizeof(server{}); n > 256 {
		t.Errorf("server is %d bytes, want at most 256", n)
	}
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
