package schedule

import (
	"context"
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
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/model"
)

// labProber answers as the scale benchmark's lab does (bench/scale): every
// zone served by the same two nameservers of one DNS host, with names of
// their own in every answer (the prober decodes each name it reads).
type labProber struct{}

func (labProber) Probe(ctx context.Context, q dnsprobe.Query) model.Observation {
	return model.Observation{Time: time.Now(), Target: q.Target, Server: q.Server, Name: q.Name, Type: q.Type, Rcode: "NOERROR"}
}

func (labProber) Discover(ctx context.Context, zone string, _ []model.Server) model.Discovery {
	hosts := []string{strings.Clone("ns1.dnshost.test."), strings.Clone("ns2.dnshost.test.")}
	d := model.Discovery{Time: time.Now(), Zone: zone, NS: hosts, TTL: 300 * time.Second,
		ParentNS: []string{strings.Clone(hosts[0]), strings.Clone(hosts[1])}, ApexNS: []string{strings.Clone(hosts[0]), strings.Clone(hosts[1])},
		Delegation: model.DelegationOK, DelegationDetail: "test. server ns.test. (127.0.2.1) delegates " + zone + " to ns1.dnshost.test., ns2.dnshost.test."}
	for j, h := range hosts {
		d.Servers = append(d.Servers, model.AuthServer{Host: strings.Clone(h), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(1 + j)}), 53),
			Sources: []model.AuthSource{model.SourceParent, model.SourceResolver}})
	}
	return d
}

func (labProber) CheckDS(ctx context.Context, zone string, _ []model.Server, _ []model.AuthServer) model.DSCheck {
	return model.DSCheck{Time: time.Now(), Zone: zone, Status: model.DSOK}
}

// labPlan is zones zones (the apex SOA, DS-checked) and 3 resolvers.
func labPlan(tb testing.TB, zones int) *config.Plan {
	var b strings.Builder
	b.WriteString("[probe]\ninterval = \"60s\"\n")
	for i := range 3 {
		fmt.Fprintf(&b, "[[resolver]]\nname = \"unbound%d\"\naddress = \"127.0.2.%d:53\"\n", i, 53+i)
	}
	for i := range zones {
		fmt.Fprintf(&b, "[[zone]]\nname = \"z%05d.test\"\n", i+1)
	}
	p, err := config.Parse("lab.toml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkScheduleHeap measures the scheduler's live heap per zone in
// the scale benchmark's shape: 10,000 zones, each probed by 3 resolvers
// and, once its discovery has run (through the job's own code, with
// labProber), by its 2 nameservers; a DS check per zone. "B/zone" is the
// whole scheduler (New included); one iteration builds it (-benchtime 1x).
func BenchmarkScheduleHeap(b *testing.B) {
	const zones = 10000
	plan := labPlan(b, zones)
	ctx := context.Background()
	for range b.N {
		out := make(chan model.Event, 2*zones)
		before := liveHeap()
		s, err := New(plan, labProber{}, out, Options{})
		if err != nil {
			b.Fatal(err)
		}
		updates := make(chan authUpdate, 1)
		q := newRunQueue(s)
		q.scheduleZones(updates)
		for _, z := range s.zones {
			s.runJob(ctx, z.disc, q.set, updates)
			q.replaceAuthJobs(<-updates)
			<-out
		}
		after := liveHeap()
		b.ReportMetric(float64(after-before)/zones, "B/zone")
		b.ReportMetric(float64(after-before)/(1<<20), "MiB")
		b.ReportMetric(float64(q.jobs), "jobs")
		if f := os.Getenv("SCHEDULE_HEAP_PROFILE"); f != "" {
			writeHeapProfile(b, f)
		}
		runtime.KeepAlive(q)
	}
}

// writeHeapProfile writes the heap profile to file (with -memprofilerate
// 1 it names every byte's allocation site).
func writeHeapProfile(b *testing.B, file string) {
	runtime.GC()
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
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

// TestJobSize keeps a job within its 64-byte allocation size class (one
// more field would make it 80: 1.1 MiB more at 70,000 jobs).
func TestJobSize(t *testing.T) {
	if n := unsafe.Sizeof(job{}); n > 64 {
		t.Errorf("job is %d bytes, want at most 64", n)
	}
}
