package session

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/anypb"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

const (
	localAddr = "127.0.0.1" // reachmon
	localASN  = 64512
	waitFor   = 15 * time.Second
)

var (
	family4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	family6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

func freePort(t testing.TB, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("free port on %s: %v", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lab is a running feed (no embedded speaker) with a session Manager.
type lab struct {
	t    testing.TB
	feed *rbgp.Feed
	mgr  *Manager
	reg  *prometheus.Registry
	mu   sync.Mutex
	evs  []model.Event
	logs *syncBuf
	stop func()
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// startLab watches 198.18.0.0/16 (origin 64500), 2001:db8:100::/48 and
// the nameserver address 198.51.100.53 of example.com, and runs cfg's
// full_table neighbors.
func startLab(t testing.TB, cfg config.BGP, opts ...func(*Manager)) *lab {
	t.Helper()
	return startLabGated(t, cfg, nil, opts...)
}

// startLabGated is startLab with the Manager behind gate (nil: none); it
// does not wait for Ready.
func startLabGated(t testing.TB, cfg config.BGP, gate chan struct{}, opts ...func(*Manager)) *lab {
	t.Helper()
	l := &lab{t: t, reg: prometheus.NewRegistry(), logs: &syncBuf{}}
	log := slog.New(slog.NewTextHandler(l.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ch := make(chan model.Event, 1<<14)
	w := rbgp.Watch{
		Prefixes: []model.WatchedPrefix{
			{Prefix: netip.MustParsePrefix("198.18.0.0/16"), Origins: []uint32{64500}},
			{Prefix: netip.MustParsePrefix("2001:db8:100::/48"), Origins: []uint32{64500}},
		},
		Nameservers: map[string][]netip.Addr{"example.com.": {netip.MustParseAddr("198.51.100.53")}},
	}
	f, err := rbgp.New(config.BGP{InitialSyncTimeout: config.Duration{Duration: 2 * time.Second}}, w,
		rbgp.Options{Logger: log, Registerer: l.reg, Events: ch})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ASN == 0 {
		cfg.ASN = localASN
	}
	if cfg.RouterID == "" {
		cfg.RouterID = "10.0.0.1"
	}
	m, err := NewManager(cfg, f.NewSource(model.SourceBGP), log, l.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(m)
	}
	if gate != nil {
		m.SetGate(gate)
	}
	l.feed, l.mgr = f, m
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := f.Run(ctx); err != nil {
			t.Errorf("feed Run: %v", err)
		}
	})
	wg.Go(func() {
		if err := m.Run(ctx); err != nil {
			t.Errorf("manager Run: %v", err)
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-ch:
				l.mu.Lock()
				l.evs = append(l.evs, ev)
				l.mu.Unlock()
			}
		}
	})
	l.stop = func() {
		cancel()
		wg.Wait()
	}
	t.Cleanup(func() {
		l.stop()
		if t.Failed() {
			t.Logf("logs:\n%s", l.logs.String())
		}
	})
	if gate != nil {
		return l
	}
	select {
	case <-m.Ready():
	case <-time.After(waitFor):
		t.Fatal("manager not ready")
	}
	return l
}

// waitUntil polls cond every 20 ms for at most waitFor.
func (l *lab) waitUntil(what string, cond func() bool) {
	l.t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out waiting for %s; status %+v; peers %+v", what, l.mgr.Status(), l.feed.Peers())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *lab) peer(key string) model.BGPPeer {
	for _, p := range l.feed.Peers() {
		if p.Peer == key {
			return p
		}
	}
	return model.BGPPeer{}
}

func (l *lab) status(key string) PeerStatus {
	for _, s := range l.mgr.Status() {
		if s.Peer == key {
			return s
		}
	}
	return PeerStatus{}
}

func (l *lab) established(key string) {
	l.t.Helper()
	l.waitUntil(key+" established", func() bool {
		return l.status(key).State == StateEstablished && l.peer(key).State == "up"
	})
}

func (l *lab) synced(key string) {
	l.t.Helper()
	l.waitUntil(key+" synced", func() bool { return l.peer(key).Synced })
}

// paths are the peer's watched routes: prefix -> AS path.
func (l *lab) paths(key string) map[string][]uint32 {
	v, err := l.feed.Routes("")
	if err != nil {
		l.t.Fatal(err)
	}
	out := map[string][]uint32{}
	for _, r := range v.Routes {
		for _, p := range r.Paths {
			if p.Peer == key {
				out[r.Prefix.String()] = p.ASPath
			}
		}
	}
	return out
}

func (l *lab) events(kind model.PeerEventKind) []model.PeerEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []model.PeerEvent
	for _, e := range l.evs {
		if pe, ok := e.(model.PeerEvent); ok && pe.Kind == kind {
			out = append(out, pe)
		}
	}
	return out
}

func (l *lab) logged(s string) bool { return strings.Contains(l.logs.String(), s) }

// gobgp is an in-process GoBGP speaker playing the user's router.
type gobgp struct {
	t    testing.TB
	s    *server.BgpServer
	asn  uint32
	addr string
	port int
	peer string // reachmon's address as its neighbor
}

// speakerOpts configure the GoBGP side of a session.
type speakerOpts struct {
	asn      uint32
	routerID string
	// active: GoBGP connects to reachmon at peerPort; else it listens.
	// listen: it listens too (with active, both sides connect).
	active   bool
	listen   bool
	peerPort int
	password string
	hold     uint64
	families []*api.Family
	// noGR leaves graceful restart off: GoBGP then sends no End-of-RIB.
	noGR bool
	// peer is reachmon's address as GoBGP's neighbor (default localAddr).
	peer string
}

func startGoBGP(t testing.TB, addr string, o speakerOpts) *gobgp {
	t.Helper()
	if o.asn == 0 {
		o.asn = 64500
	}
	if o.routerID == "" {
		o.routerID = addr
		if a := netip.MustParseAddr(addr); a.Is6() {
			o.routerID = "192.0.2.66"
		}
	}
	if o.hold == 0 {
		o.hold = 9
	}
	if o.families == nil {
		o.families = []*api.Family{family4, family6}
	}
	if o.peer == "" {
		o.peer = localAddr
	}
	g := &gobgp{t: t, s: server.NewBgpServer(server.LoggerOption(discard{})), asn: o.asn, addr: addr, peer: o.peer}
	listen := int32(-1)
	if !o.active || o.listen {
		g.port = freePort(t, addr)
		listen = int32(g.port)
	}
	go g.s.Serve()
	ctx := context.Background()
	if err := g.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: o.asn, RouterId: o.routerID, ListenPort: listen, ListenAddresses: []string{addr},
	}}); err != nil {
		t.Fatalf("gobgp start: %v", err)
	}
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: o.peer, PeerAsn: localASN, AuthPassword: o.password},
		Transport: &api.Transport{PassiveMode: !o.active, LocalAddress: addr},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: o.hold, KeepaliveInterval: o.hold / 3, ConnectRetry: 1, IdleHoldTimeAfterReset: 1}},
	}
	if !o.noGR {
		p.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: 1}
	}
	if o.active {
		p.Transport.RemotePort = uint32(o.peerPort)
	}
	for _, f := range o.families {
		p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{Family: f, Enabled: true}})
	}
	if err := g.s.AddPeer(ctx, &api.AddPeerRequest{Peer: p}); err != nil {
		t.Fatalf("gobgp add peer: %v", err)
	}
	t.Cleanup(g.stop)
	return g
}

// neighbor is reachmon's configuration for this speaker.
func (g *gobgp) neighbor() config.Neighbor {
	return config.Neighbor{
		Address: g.addr, Port: g.port, PeerASN: g.asn, LocalAddress: localAddr, FullTable: true,
		HoldTime: config.Duration{Duration: 9 * time.Second}, ConnectRetry: config.Duration{Duration: time.Second},
	}
}

func (g *gobgp) stop() {
	_ = g.s.DeletePeer(context.Background(), &api.DeletePeerRequest{Address: g.peer})
	time.Sleep(200 * time.Millisecond)
	g.s.Stop()
}

func (g *gobgp) path(prefix string, asPath []uint32, withdraw bool) *api.Path {
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
		nh, _ := anypb.New(&api.NextHopAttribute{NextHop: g.addr})
		attrs = append(attrs, nh)
	} else {
		fam = family6
		mp, _ := anypb.New(&api.MpReachNLRIAttribute{Family: family6, NextHops: []string{"2001:db8:ffff::1"}, Nlris: []*anypb.Any{nlri}})
		attrs = append(attrs, mp)
	}
	return &api.Path{Family: fam, Nlri: nlri, Pattrs: attrs, IsWithdraw: withdraw}
}

// announce originates prefixes with the AS path (GoBGP prepends its own
// AS on the eBGP session).
func (g *gobgp) announce(asPath []uint32, prefixes ...string) {
	g.t.Helper()
	for _, p := range prefixes {
		if _, err := g.s.AddPath(context.Background(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: g.path(p, asPath, false)}); err != nil {
			g.t.Fatalf("announce %s: %v", p, err)
		}
	}
}

func (g *gobgp) withdraw(prefixes ...string) {
	g.t.Helper()
	for _, p := range prefixes {
		x := g.path(p, nil, false)
		if err := g.s.DeletePath(context.Background(), &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: x.Family, Path: x}); err != nil {
			g.t.Fatalf("withdraw %s: %v", p, err)
		}
	}
}

// state is GoBGP's view of its session with reachmon.
func (g *gobgp) state() api.PeerState_SessionState {
	var st api.PeerState_SessionState
	_ = g.s.ListPeer(context.Background(), &api.ListPeerRequest{Address: g.peer}, func(p *api.Peer) {
		st = p.GetState().GetSessionState()
	})
	return st
}

type discard struct{}

func (discard) Panic(msg string, _ gobgplog.Fields) { panic(msg) }
func (discard) Fatal(string, gobgplog.Fields)       {}
func (discard) Error(string, gobgplog.Fields)       {}
func (discard) Warn(string, gobgplog.Fields)        {}
func (discard) Info(string, gobgplog.Fields)        {}
func (discard) Debug(string, gobgplog.Fields)       {}
func (discard) SetLevel(gobgplog.LogLevel)          {}
func (discard) GetLevel() gobgplog.LogLevel         { return gobgplog.InfoLevel }

var _ = fmt.Sprint
