package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

const (
	feedASN  = 64512
	feedAddr = "127.0.0.1"
)

// freePort returns a TCP port free on addr at the time of the call.
func freePort(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// speaker is an in-process GoBGP server playing a router that peers with
// the feed: it listens on addr:port and waits for the feed to connect.
type speaker struct {
	t    *testing.T
	s    *server.BgpServer
	asn  uint32
	addr string
	port int
}

func newSpeaker(t *testing.T, addr string, asn uint32) *speaker {
	t.Helper()
	sp := &speaker{t: t, s: server.NewBgpServer(server.LoggerOption(&slogLogger{log: slog.New(slog.DiscardHandler)})), asn: asn, addr: addr, port: freePort(t, addr)}
	go sp.s.Serve()
	ctx := context.Background()
	if err := sp.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: addr, ListenPort: int32(sp.port), ListenAddresses: []string{addr},
	}}); err != nil {
		t.Fatalf("speaker start: %v", err)
	}
	if err := sp.s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: feedAddr, PeerAsn: feedASN},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3, ConnectRetry: 1, IdleHoldTimeAfterReset: 1}},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: family4, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: family6, Enabled: true}},
		},
	}}); err != nil {
		t.Fatalf("speaker add peer: %v", err)
	}
	t.Cleanup(func() { stopServer(sp.s) })
	return sp
}

// neighbor is the feed's configuration for this speaker.
func (sp *speaker) neighbor() config.Neighbor {
	return config.Neighbor{
		Address: sp.addr, Port: sp.port, PeerASN: sp.asn, LocalAddress: feedAddr,
		HoldTime: config.Duration{Duration: 9 * time.Second}, ConnectRetry: config.Duration{Duration: time.Second},
	}
}

func (sp *speaker) path(prefix string, asPath []uint32) *api.Path {
	sp.t.Helper()
	pfx := netip.MustParsePrefix(prefix)
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: pfx.Addr().String(), PrefixLen: uint32(pfx.Bits())})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	attrs := []*anypb.Any{origin}
	if len(asPath) > 0 {
		a, _ := anypb.New(&api.AsPathAttribute{Segments: []*api.AsSegment{{Type: api.AsSegment_AS_SEQUENCE, Numbers: asPath}}})
		attrs = append(attrs, a)
	}
	fam := family4
	if pfx.Addr().Is4() {
		nh, _ := anypb.New(&api.NextHopAttribute{NextHop: sp.addr})
		attrs = append(attrs, nh)
	} else {
		fam = family6
		mp, _ := anypb.New(&api.MpReachNLRIAttribute{Family: family6, NextHops: []string{"2001:db8:ffff::1"}, Nlris: []*anypb.Any{nlri}})
		attrs = append(attrs, mp)
	}
	return &api.Path{Family: fam, Nlri: nlri, Pattrs: attrs}
}

// announce originates prefix with the given AS path (the speaker prepends
// its own AS on the eBGP session).
func (sp *speaker) announce(prefix string, asPath ...uint32) {
	sp.t.Helper()
	if _, err := sp.s.AddPath(context.Background(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: sp.path(prefix, asPath)}); err != nil {
		sp.t.Fatalf("announce %s: %v", prefix, err)
	}
}

func (sp *speaker) withdraw(prefix string) {
	sp.t.Helper()
	p := sp.path(prefix, nil)
	if err := sp.s.DeletePath(context.Background(), &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: p.Family, Path: p}); err != nil {
		sp.t.Fatalf("withdraw %s: %v", prefix, err)
	}
}

func (sp *speaker) disable() {
	sp.t.Helper()
	if err := sp.s.DisablePeer(context.Background(), &api.DisablePeerRequest{Address: feedAddr}); err != nil {
		sp.t.Fatalf("disable peer: %v", err)
	}
}

func (sp *speaker) enable() {
	sp.t.Helper()
	if err := sp.s.EnablePeer(context.Background(), &api.EnablePeerRequest{Address: feedAddr}); err != nil {
		sp.t.Fatalf("enable peer: %v", err)
	}
}

// collector records every event the feed emits.
type collector struct {
	mu     sync.Mutex
	events []model.Event
	notify chan struct{}
}

func collect(ctx context.Context, ch <-chan model.Event) *collector {
	c := &collector{notify: make(chan struct{}, 1)}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-ch:
				c.mu.Lock()
				c.events = append(c.events, ev)
				c.mu.Unlock()
				select {
				case c.notify <- struct{}{}:
				default:
				}
			}
		}
	}()
	return c
}

func (c *collector) all() []model.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]model.Event(nil), c.events...)
}

// wait returns the index and value of the first event at or after from
// matching pred, failing the test after timeout.
func (c *collector) wait(t *testing.T, from int, timeout time.Duration, what string, pred func(model.Event) bool) (int, model.Event) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		evs := c.all()
		for i := from; i < len(evs); i++ {
			if pred(evs[i]) {
				return i, evs[i]
			}
		}
		select {
		case <-c.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s; events:\n%s", timeout, what, dump(c.all()[from:]))
			return 0, nil
		}
	}
}

func dump(evs []model.Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("  %T %+v\n", e, e)
	}
	return s
}

func isRoute(kind model.RouteEventKind, prefix string) func(model.Event) bool {
	p := netip.MustParsePrefix(prefix)
	return func(e model.Event) bool {
		r, ok := e.(model.RouteEvent)
		return ok && r.Kind == kind && r.Prefix == p
	}
}

func isPeer(kind model.PeerEventKind, peer string) func(model.Event) bool {
	return func(e model.Event) bool {
		p, ok := e.(model.PeerEvent)
		return ok && p.Kind == kind && p.Peer == peer
	}
}

func isCover(kind model.CoverEventKind, addr string) func(model.Event) bool {
	a := netip.MustParseAddr(addr)
	return func(e model.Event) bool {
		c, ok := e.(model.CoverEvent)
		return ok && c.Kind == kind && c.Addr == a
	}
}

// testFeed is a running feed with its speakers.
type testFeed struct {
	*Feed
	reg    *prometheus.Registry
	ev     *collector
	cancel context.CancelFunc
	done   chan error
}

type feedOpt func(*config.BGP, *Options)

func startFeed(t *testing.T, w Watch, speakers []*speaker, opts ...feedOpt) *testFeed {
	t.Helper()
	cfg := config.BGP{ASN: feedASN, RouterID: feedAddr, InitialSyncTimeout: config.Duration{Duration: 500 * time.Millisecond}}
	for _, sp := range speakers {
		cfg.Neighbor = append(cfg.Neighbor, sp.neighbor())
	}
	ch := make(chan model.Event, 4096)
	reg := prometheus.NewRegistry()
	o := Options{Logger: testLogger(t), Registerer: reg, Events: ch, WithdrawSettle: 100 * time.Millisecond}
	for _, f := range opts {
		f(&cfg, &o)
	}
	f, err := New(cfg, w, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tf := &testFeed{Feed: f, reg: reg, ev: collect(ctx, ch), cancel: cancel, done: make(chan error, 1)}
	go func() { tf.done <- f.Run(ctx) }()
	t.Cleanup(func() { tf.stop(t) })
	return tf
}

func (tf *testFeed) stop(t *testing.T) {
	t.Helper()
	if tf.cancel == nil {
		return
	}
	tf.cancel()
	tf.cancel = nil
	select {
	case err := <-tf.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("Run did not return within 15s of cancel")
	}
}

func (tf *testFeed) gauge(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := tf.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			want := map[string]string{}
			for i := 0; i+1 < len(labels); i += 2 {
				want[labels[i]] = labels[i+1]
			}
			for _, lp := range m.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("REACHMON_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func u32s(s ...uint32) []uint32 { return s }

var _ = testutil.ToFloat64
var _ = strconv.Itoa

// startRun runs f until the returned cancel is called (and waits for Run
// to return then).
func startRun(t *testing.T, f *Feed) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("Run did not return within 15s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return ctx, stop
}

func testutilCounter(f *Feed, queue string) float64 {
	return testutil.ToFloat64(f.m.dropped.WithLabelValues(queue))
}

// skipSlowInShort skips a test that waits out real BGP timers and
// reconnects (10–90 s each) under -short, so that `make check` stays a
// fast edit loop; `make test` runs it.
func skipSlowInShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("waits out BGP reconnects and timers; run without -short (make test)")
	}
}
