package benchdns

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/bench/benchutil"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/model"
)

const (
	// goroutinesPerCPU is the RunParallel parallelism (b.SetParallelism),
	// the same for the engine and the bare loop: 8 × GOMAXPROCS queries in
	// flight keep both cores busy while each goroutine waits for its answer.
	goroutinesPerCPU = 8
	probeTimeout     = 2 * time.Second
	ednsSize         = 1232 // what dnsprobe advertises
	wantAnswers      = 2    // www.bench.test. A: two records
)

// BenchmarkBareExchange is the floor: a dns.Client.Exchange loop (a new UDP
// socket per query, as the prober does) sending the query the prober sends
// to an authoritative server (RD=0, EDNS0 1232 with DO, an empty NSID
// option; TestBareQueryMatchesProber keeps the two byte-identical) and
// checking rcode and answer count.
func BenchmarkBareExchange(b *testing.B) {
	srv := benchServer(b)
	c := &dns.Client{Net: "udp", Timeout: probeTimeout}
	op := func() func() error {
		m := bareQuery()
		return func() error {
			// The prober's ID source; dns.Id() reads crypto/rand and would
			// make the floor dearer than it need be.
			m.Id = uint16(rand.Uint32())
			r, _, err := c.Exchange(m, srv.Addr)
			if err != nil {
				return err
			}
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != wantAnswers {
				return fmt.Errorf("rcode %s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			return nil
		}
	}
	runModes(b, srv, op)
}

// BenchmarkProbe is the engine: dnsprobe.Prober.Probe of the same query,
// with everything a probe does (pack, exchange, decode, normalise), under
// context.Background (the prober then applies Options.Timeout itself).
//
// The "parallel-deadline" mode calls it as internal/schedule does, with a
// context.WithTimeout per probe; it is reported for information and is not
// part of the engine/bare ratio (the bare loop has no context).
func BenchmarkProbe(b *testing.B) {
	srv := benchServer(b)
	p := dnsprobe.New(dnsprobe.Options{Timeout: probeTimeout})
	q := benchProbeQuery(srv.Addr)
	newOp := func(withDeadline bool) func() error {
		return func() error {
			ctx := context.Background()
			if withDeadline {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, probeTimeout)
				defer cancel()
			}
			o := p.Probe(ctx, q)
			if o.Error != model.ErrNone {
				return fmt.Errorf("%s: %s", o.Error, o.ErrorDetail)
			}
			if o.Rcode != "NOERROR" || len(o.Answers) != wantAnswers {
				return fmt.Errorf("rcode %s, answers %q", o.Rcode, o.Answers)
			}
			return nil
		}
	}
	runModes(b, srv, func() func() error { return newOp(false) })
	b.Run("parallel-deadline", func(b *testing.B) {
		runParallel(b, srv, func() func() error { return newOp(true) })
	})
}

// BenchmarkBareConn is a lower floor, for information: the least any
// miekg/dns-based client can do per query with a new socket each time
// (net.DialUDP, Msg.PackBuffer, one Write and one Read under a deadline,
// Msg.Unpack, an ID check). dns.Client.Exchange adds to this a
// net.Dialer.DialContext with a cancellable context (a goroutine per
// connect), context and deadline bookkeeping, and a fresh 1232-byte
// receive buffer per query.
func BenchmarkBareConn(b *testing.B) {
	srv := benchServer(b)
	raddr := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(srv.Addr))
	op := func() func() error {
		m := bareQuery()
		pack := make([]byte, 512)
		resp := make([]byte, ednsSize)
		return func() error {
			m.Id = uint16(rand.Uint32())
			q, err := m.PackBuffer(pack)
			if err != nil {
				return err
			}
			conn, err := net.DialUDP("udp", nil, raddr)
			if err != nil {
				return err
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(probeTimeout)); err != nil {
				return err
			}
			if _, err := conn.Write(q); err != nil {
				return err
			}
			n, err := conn.Read(resp)
			if err != nil {
				return err
			}
			r := new(dns.Msg)
			if err := r.Unpack(resp[:n]); err != nil {
				return err
			}
			if r.Id != m.Id || r.Rcode != dns.RcodeSuccess || len(r.Answer) != wantAnswers {
				return fmt.Errorf("id %d (sent %d), rcode %s, %d answers", r.Id, m.Id, dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			return nil
		}
	}
	runModes(b, srv, op)
}

func bareQuery() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(benchName, dns.TypeA)
	m.RecursionDesired = false // authoritative server
	m.SetEdns0(ednsSize, true)
	m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}}
	return m
}

func benchProbeQuery(addr string) dnsprobe.Query {
	return dnsprobe.Query{
		Server: model.Server{Name: "nsd", Kind: model.KindAuthoritative, Addr: addr, Transport: model.TransportUDP},
		Name:   benchName,
		Type:   benchType,
	}
}

// runModes runs the operation made by newOp in two sub-benchmarks,
// "parallel" (throughput) and "sequential" (latency).
func runModes(b *testing.B, srv *nsdServer, newOp func() func() error) {
	warmUp(b, srv)
	b.Run("parallel", func(b *testing.B) { runParallel(b, srv, newOp) })
	b.Run("sequential", func(b *testing.B) { runSequential(b, srv, newOp) })
}

// runParallel runs the operation in b.RunParallel with goroutinesPerCPU
// goroutines per GOMAXPROCS, each with its own newOp().
func runParallel(b *testing.B, srv *nsdServer, newOp func() func() error) {
	b.SetParallelism(goroutinesPerCPU)
	measure(b, srv, func(fail func(error)) {
		b.RunParallel(func(pb *testing.PB) {
			op := newOp()
			for pb.Next() {
				if err := op(); err != nil {
					fail(err)
				}
			}
		})
	})
}

// runSequential runs the operation b.N times in one goroutine.
func runSequential(b *testing.B, srv *nsdServer, newOp func() func() error) {
	measure(b, srv, func(fail func(error)) {
		op := newOp()
		for range b.N {
			if err := op(); err != nil {
				fail(err)
			}
		}
	})
}

// warmUp sends warmUpQueries queries to a freshly started NSD once per
// process, so that whichever benchmark runs first does not pay for cold
// caches and page faults on either side.
func warmUp(b *testing.B, srv *nsdServer) {
	warmOnce.Do(func() {
		c := &dns.Client{Net: "udp", Timeout: probeTimeout}
		m := bareQuery()
		for range warmUpQueries {
			m.Id = uint16(rand.Uint32())
			if _, _, err := c.Exchange(m, srv.Addr); err != nil {
				b.Logf("warm-up query: %v", err)
				return
			}
		}
	})
}

const warmUpQueries = 2000

var warmOnce sync.Once

// measure runs loop (which performs b.N operations) and reports, besides
// ns/op, B/op and allocs/op:
//
//	probes/s       b.N over the elapsed wall time
//	cpu-ns/op      this process's CPU time (user+system, all threads,
//	               getrusage) over the loop, per operation
//	nsd-cpu-ns/op  NSD's CPU time over the loop (/proc, 10 ms ticks), per
//	               operation; for information, it is not the client's cost
//	other-cores    CPU used meanwhile by every other process on the
//	               machine (/proc/stat busy time less this process and
//	               NSD) over the elapsed time: how disturbed the run was.
//	               Approximate (10 ms ticks, softirq attribution); clamped
//	               at 0
//
// A failed operation does not stop the loop (one lost datagram should not
// void a run) but fails the benchmark, with the count and the first error.
func measure(b *testing.B, srv *nsdServer, loop func(fail func(error))) {
	var (
		failed   atomic.Int64
		firstErr error
		once     sync.Once
	)
	fail := func(err error) {
		failed.Add(1)
		once.Do(func() { firstErr = err })
	}
	b.ReportAllocs()
	busy0 := benchutil.ReadMachineCPU().Busy()
	nsd0 := srv.cpu()
	cpu0 := processCPU(b)
	b.ResetTimer()
	loop(fail)
	b.StopTimer()
	cpu := processCPU(b) - cpu0
	nsd := srv.cpu() - nsd0
	busy := benchutil.ReadMachineCPU().Busy() - busy0

	n := float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "probes/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/op")
	b.ReportMetric(float64(nsd.Nanoseconds())/n, "nsd-cpu-ns/op")
	if busy > 0 {
		b.ReportMetric(max(0, (busy-cpu-nsd).Seconds()/b.Elapsed().Seconds()), "other-cores")
	}
	if f := failed.Load(); f > 0 {
		b.Errorf("%d of %d operations failed; first: %v", f, b.N, firstErr)
	}
}

// processCPU is the user+system CPU time of this process so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
