package bmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	gobmp "github.com/osrg/gobgp/v3/pkg/packet/bmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

const (
	routerAddr = "127.0.0.2"
	strayAddr  = "127.0.0.3"
	waitFor    = 10 * time.Second
)

// lab is a running feed (no embedded speaker) with a BMP station.
type lab struct {
	feed *rbgp.Feed
	st   *Station
	reg  *prometheus.Registry
	mu   sync.Mutex
	evs  []model.Event
	logs *strings.Builder
	lmu  *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startLab watches 198.18.0.0/16 (origin 64500) and the nameserver
// address 198.51.100.53 of example.com, with router edge1 at routerAddr.
func startLab(t *testing.T, opts ...func(*Options)) *lab {
	t.Helper()
	l := &lab{reg: prometheus.NewRegistry(), logs: &strings.Builder{}, lmu: &sync.Mutex{}}
	log := slog.New(slog.NewTextHandler(lockedWriter{l.lmu, l.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ch := make(chan model.Event, 1<<14)
	w := rbgp.Watch{
		Prefixes:    []model.WatchedPrefix{{Prefix: netip.MustParsePrefix("198.18.0.0/16"), Origins: []uint32{64500}}},
		Nameservers: map[string][]netip.Addr{"example.com.": {netip.MustParseAddr("198.51.100.53")}},
	}
	f, err := rbgp.New(config.BGP{InitialSyncTimeout: config.Duration{Duration: 2 * time.Second}}, w,
		rbgp.Options{Logger: log, Registerer: l.reg, Events: ch})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.BMP{Listen: "127.0.0.1:0", Router: []config.BMPRouter{{Address: routerAddr, Name: "edge1", Description: "lab edge"}}}
	o := Options{Logger: log, Registerer: l.reg}
	for _, fn := range opts {
		fn(&o)
	}
	l.feed, l.st = f, New(cfg, f.NewSource(model.SourceBMP), o)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := f.Run(ctx); err != nil {
			t.Errorf("feed Run: %v", err)
		}
	})
	wg.Go(func() {
		if err := l.st.Run(ctx); err != nil {
			t.Errorf("station Run: %v", err)
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
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			l.lmu.Lock()
			t.Logf("logs:\n%s", l.logs.String())
			l.lmu.Unlock()
		}
	})
	select {
	case <-l.st.Ready():
	case <-time.After(waitFor):
		t.Fatal("station not listening")
	}
	return l
}

func (l *lab) events() []model.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}

// wait returns the index of the first event at or after from matching pred.
func (l *lab) wait(t *testing.T, from int, what string, pred func(model.Event) bool) (int, model.Event) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		evs := l.events()
		for i := from; i < len(evs); i++ {
			if pred(evs[i]) {
				return i, evs[i]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; events:\n%s", what, dump(l.events()[from:]))
	return 0, nil
}

func dump(evs []model.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %T %+v\n", e, e)
	}
	return b.String()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isPeer(kind model.PeerEventKind, key string) func(model.Event) bool {
	return func(e model.Event) bool {
		p, ok := e.(model.PeerEvent)
		return ok && p.Kind == kind && p.Peer == key
	}
}

func isRoute(kind model.RouteEventKind, pfx string) func(model.Event) bool {
	p := netip.MustParsePrefix(pfx)
	return func(e model.Event) bool {
		r, ok := e.(model.RouteEvent)
		return ok && r.Kind == kind && r.Prefix == p
	}
}

func isFeed(up bool) func(model.Event) bool {
	return func(e model.Event) bool {
		f, ok := e.(model.FeedEvent)
		return ok && f.Up == up
	}
}

// sender is an in-process BMP sender: a router's side of the session.
type sender struct {
	t *testing.T
	c net.Conn
}

func dialFrom(t *testing.T, l *lab, local string) *sender {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: waitFor}
	c, err := d.Dial("tcp", l.st.Addr().String())
	if err != nil {
		t.Fatalf("dial from %s: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	return &sender{t: t, c: c}
}

func (s *sender) send(m *gobmp.BMPMessage) {
	s.t.Helper()
	b, err := m.Serialize()
	if err != nil {
		s.t.Fatalf("serialize: %v", err)
	}
	s.raw(b)
}

func (s *sender) raw(b []byte) {
	s.t.Helper()
	if _, err := s.c.Write(b); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

// closedByStation waits for the station to close the connection.
func (s *sender) closedByStation() bool {
	_ = s.c.SetReadDeadline(time.Now().Add(waitFor))
	_, err := io.ReadAll(s.c)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

func peerHeader(addr string, asn uint32, flags uint8) gobmp.BMPPeerHeader {
	return *gobmp.NewBMPPeerHeader(gobmp.BMP_PEER_TYPE_GLOBAL, flags, 0, addr, asn, addr, float64(time.Now().Unix()))
}

func openMsg(asn uint32, id string, fams ...bgp.RouteFamily) *bgp.BGPMessage {
	caps := []bgp.ParameterCapabilityInterface{bgp.NewCapFourOctetASNumber(asn)}
	for _, f := range fams {
		caps = append(caps, bgp.NewCapMultiProtocol(f))
	}
	return bgp.NewBGPOpenMessage(23456, 90, id, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
}

func peerUp(ph gobmp.BMPPeerHeader, fams ...bgp.RouteFamily) *gobmp.BMPMessage {
	return gobmp.NewBMPPeerUpNotification(ph, routerAddr, 179, 40000,
		openMsg(64999, routerAddr, fams...), openMsg(ph.PeerAS, ph.PeerAddress.String(), fams...))
}

func announce(ph gobmp.BMPPeerHeader, path []uint32, prefixes ...string) *gobmp.BMPMessage {
	var segs []bgp.AsPathParamInterface
	if len(path) > 0 {
		segs = append(segs, bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, path))
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), bgp.NewPathAttributeAsPath(segs)}
	var nlri []*bgp.IPAddrPrefix
	var v6 []bgp.AddrPrefixInterface
	for _, s := range prefixes {
		p := netip.MustParsePrefix(s)
		if p.Addr().Is4() {
			nlri = append(nlri, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
		} else {
			v6 = append(v6, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String()))
		}
	}
	if len(nlri) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeNextHop("192.0.2.1"))
	}
	if len(v6) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI("2001:db8::1", v6))
	}
	return gobmp.NewBMPRouteMonitoring(ph, bgp.NewBGPUpdateMessage(nil, attrs, nlri))
}

func withdraw(ph gobmp.BMPPeerHeader, prefixes ...string) *gobmp.BMPMessage {
	var w []*bgp.IPAddrPrefix
	for _, s := range prefixes {
		p := netip.MustParsePrefix(s)
		w = append(w, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
	}
	return gobmp.NewBMPRouteMonitoring(ph, bgp.NewBGPUpdateMessage(w, nil, nil))
}

func initiation() *gobmp.BMPMessage {
	return gobmp.NewBMPInitiation([]gobmp.BMPInfoTLVInterface{
		gobmp.NewBMPInfoTLVString(gobmp.BMP_INIT_TLV_TYPE_SYS_NAME, "edge1.lab"),
		gobmp.NewBMPInfoTLVString(gobmp.BMP_INIT_TLV_TYPE_SYS_DESCR, "test router 1.0"),
	})
}

func (l *lab) counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

const key1 = "bmp edge1 192.0.2.1"

// TestStationLifecycle: a configured router's Initiation, a peer's Peer
// Up, Route Monitoring of watched and unwatched prefixes (only the
// watched are kept), End-of-RIB, a withdrawal, Peer Down (routes unknown,
// not withdrawn) and the loss of the router's session (every peer down,
// the feed down) reach the feed's state, events, API and metrics.
func TestStationLifecycle(t *testing.T) {
	l := startLab(t)
	s := dialFrom(t, l, routerAddr)
	i, ev := l.wait(t, 0, "feed up", isFeed(true))
	if fe := ev.(model.FeedEvent); fe.Feed != "bmp router edge1" || fe.Label != "router edge1 (127.0.0.2, lab edge)" || fe.Source != model.SourceBMP {
		t.Errorf("feed up = %+v", fe)
	}
	s.send(initiation())
	eventually(t, "initiation shown", func() bool {
		fs := l.feed.PeersView().Feeds
		return len(fs) == 1 && fs[0].SysName == "edge1.lab" && fs[0].SysDescr == "test router 1.0" && fs[0].State == "up"
	})

	ph := peerHeader("192.0.2.1", 64500, 0)
	s.send(peerUp(ph, bgp.RF_IPv4_UC, bgp.RF_IPv6_UC))
	i, ev = l.wait(t, i, "peer up", isPeer(model.PeerUp, key1))
	if pe := ev.(model.PeerEvent); pe.Label != "router edge1, peer 192.0.2.1 (AS64500)" || pe.Feed != "bmp router edge1" || pe.Source != model.SourceBMP || pe.PeerASN != 64500 {
		t.Errorf("peer up = %+v", pe)
	}
	// Watched: the /16, a more-specific, a route covering the nameserver
	// address, and IPv6 nothing watched; unwatched: the rest.
	s.send(announce(ph, []uint32{64500}, "198.18.0.0/16", "198.18.7.0/24", "203.0.113.0/24", "192.0.2.0/24"))
	s.send(announce(ph, []uint32{64510, 64511}, "198.51.100.0/24", "2001:db8:1::/48"))
	s.send(gobmp.NewBMPRouteMonitoring(ph, bgp.NewEndOfRib(bgp.RF_IPv4_UC)))
	s.send(gobmp.NewBMPRouteMonitoring(ph, bgp.NewEndOfRib(bgp.RF_IPv6_UC)))
	i, ev = l.wait(t, i, "synced", isPeer(model.PeerSynced, key1))
	if pe := ev.(model.PeerEvent); !pe.ByEndOfRIB || pe.Routes != 3 {
		t.Errorf("synced = %+v, want 3 watched routes by End-of-RIB", pe)
	}
	rv, err := l.feed.Routes("")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rv.Routes {
		got = append(got, r.Prefix.String())
		if r.Prefix.String() == "198.51.100.0/24" && (len(r.Paths) != 1 || r.Paths[0].Origin != 64511 || !slices.Equal(r.Paths[0].ASPath, []uint32{64510, 64511})) {
			t.Errorf("cover route = %+v", r)
		}
	}
	if !slices.Equal(got, []string{"198.18.0.0/16", "198.18.7.0/24", "198.51.100.0/24"}) {
		t.Errorf("routes kept = %v, want the watched ones only", got)
	}
	if k, f := l.counter(l.st.m.routesC.WithLabelValues("edge1", "kept")), l.counter(l.st.m.routesC.WithLabelValues("edge1", "filtered")); k != 3 || f != 3 {
		t.Errorf("routes kept %v filtered %v, want 3 and 3", k, f)
	}
	if n := l.counter(l.st.m.messages.WithLabelValues("edge1", "route_monitoring")); n != 4 {
		t.Errorf("route_monitoring messages = %v, want 4", n)
	}

	// A withdrawal after sync is news.
	s.send(withdraw(ph, "198.18.7.0/24", "203.0.113.0/24"))
	i, ev = l.wait(t, i, "withdraw", isRoute(model.RouteWithdraw, "198.18.7.0/24"))
	if re := ev.(model.RouteEvent); re.Peer != key1 || re.Initial {
		t.Errorf("withdraw = %+v", re)
	}

	// A second peer; then the first goes down: unknown, not withdrawn.
	ph2 := peerHeader("2001:db8::2", 64502, 0)
	s.send(peerUp(ph2, bgp.RF_IPv6_UC))
	const key2 = "bmp edge1 2001:db8::2"
	i, _ = l.wait(t, i, "peer 2 up", isPeer(model.PeerUp, key2))
	s.send(gobmp.NewBMPPeerDownNotification(ph, gobmp.BMP_PEER_DOWN_REASON_REMOTE_NO_NOTIFICATION, nil, nil))
	i, ev = l.wait(t, i, "peer down", isPeer(model.PeerDown, key1))
	if pe := ev.(model.PeerEvent); pe.Reason != "remote close without notification" || pe.Routes != 2 {
		t.Errorf("peer down = %+v", pe)
	}
	time.Sleep(100 * time.Millisecond)
	for _, e := range l.events()[i:] {
		if r, ok := e.(model.RouteEvent); ok && r.Kind == model.RouteWithdraw {
			t.Errorf("a peer down withdrew a route: %+v", r)
		}
	}
	if v := l.feed.PeersView(); len(v.Peers) != 2 || v.Feeds[0].Peers != 1 {
		t.Errorf("peers = %+v", v)
	}
	if n := l.counter(l.st.m.peersUp.WithLabelValues("edge1")); n != 1 {
		t.Errorf("reachmon_bmp_peers_up = %v, want 1", n)
	}

	// The router's session goes: every peer down, the feed down.
	s.c.Close()
	i, ev = l.wait(t, i, "peer 2 down", isPeer(model.PeerDown, key2))
	if pe := ev.(model.PeerEvent); pe.Reason != "bmp_session_lost" {
		t.Errorf("peer 2 down = %+v", pe)
	}
	_, ev = l.wait(t, i, "feed down", isFeed(false))
	if fe := ev.(model.FeedEvent); fe.Reason != "connection closed by the router" {
		t.Errorf("feed down = %+v", fe)
	}
	if up := l.counter(l.st.m.sessions.WithLabelValues("edge1")); up != 0 {
		t.Errorf("reachmon_bmp_session_up = %v after the loss", up)
	}
	if v := l.feed.PeersView(); v.Feeds[0].State != "down" || v.Feeds[0].SysName != "edge1.lab" || v.Feeds[0].Peers != 0 {
		t.Errorf("feed after loss = %+v", v.Feeds)
	}

	// The router reconnects: the same views come back.
	s = dialFrom(t, l, routerAddr)
	s.send(initiation())
	s.send(peerUp(ph, bgp.RF_IPv4_UC))
	l.wait(t, i, "peer up again", isPeer(model.PeerUp, key1))
	if v := l.feed.PeersView(); len(v.Peers) != 2 || v.Feeds[0].State != "up" {
		t.Errorf("after reconnect: %+v", v)
	}
}

// TestStationRefusesUnknownRouter: a connection from an address that is
// not a [[bmp.router]] is closed, logged and counted; nothing reaches the
// feed.
func TestStationRefusesUnknownRouter(t *testing.T) {
	l := startLab(t)
	s := dialFrom(t, l, strayAddr)
	// Writes may fail already: the station closes the connection at once.
	for _, m := range []*gobmp.BMPMessage{initiation(), peerUp(peerHeader("192.0.2.1", 64500, 0), bgp.RF_IPv4_UC)} {
		b, _ := m.Serialize()
		_, _ = s.c.Write(b)
	}
	if !s.closedByStation() {
		t.Error("connection from an unknown router not closed")
	}
	eventually(t, "refused counted", func() bool { return l.counter(l.st.m.refused) == 1 })
	if v := l.feed.PeersView(); len(v.Peers) != 0 {
		t.Errorf("peers from a refused router: %+v", v.Peers)
	}
	l.lmu.Lock()
	logs := l.logs.String()
	l.lmu.Unlock()
	if !strings.Contains(logs, "bmp connection refused: not a configured [[bmp.router]]") || !strings.Contains(logs, strayAddr) {
		t.Errorf("refusal not logged with the address:\n%s", logs)
	}
}

// TestStationMalformedClosesSession: a malformed message (here: a Peer Up
// too short for its OPENs, a wrong version, an over-long length) closes the
// session with a logged error; the router's peers go down, the feed is
// down with the reason; the station keeps serving.
func TestStationMalformedClosesSession(t *testing.T) {
	l := startLab(t, func(o *Options) { o.MaxMessage = 4096 })
	for n, tc := range []struct {
		name   string
		bytes  func() []byte
		reason string
	}{
		{"truncated peer up", func() []byte {
			b, _ := peerUp(peerHeader("192.0.2.9", 64509, 0), bgp.RF_IPv4_UC).Serialize()
			b = b[:len(b)-10]
			b[1], b[2], b[3], b[4] = 0, 0, byte(len(b)>>8), byte(len(b))
			return b
		}, "malformed BMP message: peer_up: "},
		{"wrong version", func() []byte { return []byte{1, 0, 0, 0, 6, 4} }, "malformed BMP message: BMP version 1, want 3"},
		{"too long", func() []byte { return []byte{3, 0, 1, 0, 0, 0} }, "malformed BMP message: route_monitoring message of 65536 bytes exceeds the limit of 4096"},
		{"shorter than its header", func() []byte { return []byte{3, 0, 0, 0, 3, 4} }, "malformed BMP message: message length 3 is shorter than the 6-byte header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := len(l.events())
			s := dialFrom(t, l, routerAddr)
			ph := peerHeader("192.0.2.1", 64500, 0)
			s.send(peerUp(ph, bgp.RF_IPv4_UC))
			l.wait(t, from, "peer up", isPeer(model.PeerUp, key1))
			s.raw(tc.bytes())
			if !s.closedByStation() {
				t.Fatal("session not closed after a malformed message")
			}
			i, _ := l.wait(t, from, "peer down", isPeer(model.PeerDown, key1))
			_, ev := l.wait(t, i, "feed down", isFeed(false))
			if fe := ev.(model.FeedEvent); !strings.HasPrefix(fe.Reason, tc.reason) {
				t.Errorf("feed down reason = %q, want prefix %q", fe.Reason, tc.reason)
			}
			if got := l.counter(l.st.m.malformed.WithLabelValues("edge1")); got != float64(n+1) {
				t.Errorf("reachmon_bmp_malformed_total = %v, want %d", got, n+1)
			}
		})
	}
}

// TestStationTermination: a Termination message is shown with the feed
// and ends the session.
func TestStationTermination(t *testing.T) {
	l := startLab(t)
	s := dialFrom(t, l, routerAddr)
	s.send(initiation())
	s.send(gobmp.NewBMPTermination([]gobmp.BMPTermTLVInterface{
		gobmp.NewBMPTermTLV16(gobmp.BMP_TERM_TLV_TYPE_REASON, gobmp.BMP_TERM_REASON_ADMIN),
		gobmp.NewBMPTermTLVString(gobmp.BMP_TERM_TLV_TYPE_STRING, "maintenance"),
	}))
	if !s.closedByStation() {
		t.Error("session not closed after Termination")
	}
	_, ev := l.wait(t, 0, "feed down", isFeed(false))
	if fe := ev.(model.FeedEvent); fe.Reason != "terminated by the router: session administratively closed: maintenance" {
		t.Errorf("feed down = %+v", fe)
	}
	if fs := l.feed.PeersView().Feeds; len(fs) != 1 || fs[0].Termination != "session administratively closed: maintenance" {
		t.Errorf("feeds = %+v", fs)
	}
}

// TestStationAS4PathAndPostPolicyViews: a 2-octet session's AS4_PATH gives
// the real origin; the post-policy and Adj-RIB-Out RIBs of a peer and a
// Loc-RIB instance are views of their own.
func TestStationViewsOfOnePeer(t *testing.T) {
	l := startLab(t)
	s := dialFrom(t, l, routerAddr)
	pre := peerHeader("192.0.2.1", 64500, 0)
	post := peerHeader("192.0.2.1", 64500, gobmp.BMP_PEER_FLAG_POST_POLICY)
	out := peerHeader("192.0.2.1", 64500, gobmp.BMP_PEER_FLAG_ADJ_RIB_TYP|gobmp.BMP_PEER_FLAG_POST_POLICY)
	loc := *gobmp.NewBMPPeerHeader(gobmp.BMP_PEER_TYPE_LOCAL_RIB, 0, 0, "0.0.0.0", 64999, routerAddr, 0)
	for _, ph := range []gobmp.BMPPeerHeader{pre, post, out, loc} {
		s.send(peerUp(ph, bgp.RF_IPv4_UC))
		s.send(announce(ph, []uint32{64500}, "198.18.0.0/16"))
	}
	for _, k := range []string{key1, key1 + " post-policy", key1 + " adj-rib-out post-policy", "bmp edge1 loc-rib"} {
		l.wait(t, 0, "view "+k, isPeer(model.PeerUp, k))
	}
	_, ev := l.wait(t, 0, "loc-rib up", isPeer(model.PeerUp, "bmp edge1 loc-rib"))
	if pe := ev.(model.PeerEvent); pe.Label != "router edge1, Loc-RIB" {
		t.Errorf("loc-rib label = %q", pe.Label)
	}
	eventually(t, "four views carry the route", func() bool {
		rv, _ := l.feed.Routes("198.18.0.0/16")
		return len(rv.Routes) == 1 && len(rv.Routes[0].Paths) == 4
	})
}

// TestStationWaitsForGateThenResetsOnWidening: sessions read nothing
// before the gate opens (so a router's initial table is filtered with the
// nameserver addresses discovery found); a widening of the watched set
// after a session started resets it once, for the router to send its
// tables again, and the routes it dropped before are kept then.
func TestStationWaitsForGateThenResetsOnWidening(t *testing.T) {
	gate := make(chan struct{})
	l := startLab(t, func(o *Options) { o.Gate = gate })
	s := dialFrom(t, l, routerAddr)
	ph := peerHeader("192.0.2.1", 64500, 0)
	s.send(peerUp(ph, bgp.RF_IPv4_UC))
	s.send(announce(ph, []uint32{64500, 64520}, "203.0.113.0/24"))
	time.Sleep(200 * time.Millisecond)
	if evs := l.events(); len(evs) != 0 {
		t.Fatalf("events before the gate opened:\n%s", dump(evs))
	}
	// Discovery finds a nameserver in 203.0.113.0/24, then the gate opens.
	if err := l.feed.SetNameserverAddrs("example.net.", []netip.Addr{netip.MustParseAddr("203.0.113.53")}); err != nil {
		t.Fatal(err)
	}
	close(gate)
	i, _ := l.wait(t, 0, "route of the discovered nameserver", isRoute(model.RouteAnnounce, "203.0.113.0/24"))

	// Another nameserver, in a prefix the router sent before: the session
	// is reset once.
	s.send(announce(ph, []uint32{64500, 64530}, "192.0.2.0/24"))
	eventually(t, "filtered", func() bool { return l.counter(l.st.m.routesC.WithLabelValues("edge1", "filtered")) == 1 })
	if err := l.feed.SetNameserverAddrs("example.org.", []netip.Addr{netip.MustParseAddr("192.0.2.53")}); err != nil {
		t.Fatal(err)
	}
	if !s.closedByStation() {
		t.Fatal("session not reset after the watched set widened")
	}
	_, ev := l.wait(t, i, "feed down", isFeed(false))
	if fe := ev.(model.FeedEvent); fe.Reason != "watched set widened: reset for the router to send its tables again" {
		t.Errorf("feed down = %+v", fe)
	}
	s = dialFrom(t, l, routerAddr)
	s.send(peerUp(ph, bgp.RF_IPv4_UC))
	s.send(announce(ph, []uint32{64500, 64530}, "192.0.2.0/24"))
	l.wait(t, i, "route now watched", isRoute(model.RouteAnnounce, "192.0.2.0/24"))
	// Within MinReset, a further widening does not reset it again.
	if err := l.feed.SetNameserverAddrs("example.com.", []netip.Addr{netip.MustParseAddr("198.51.100.53"), netip.MustParseAddr("192.0.2.54")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	s.send(initiation())
	eventually(t, "still connected", func() bool {
		fs := l.feed.PeersView().Feeds
		return len(fs) == 1 && fs[0].State == "up" && fs[0].SysName == "edge1.lab"
	})
}

// TestStationBadAttributeTreatAsWithdraw: an UPDATE whose ORIGIN is
// malformed withdraws its routes (RFC 7606 treat-as-withdraw) instead of
// closing the session.
func TestStationBadAttributeTreatAsWithdraw(t *testing.T) {
	l := startLab(t)
	s := dialFrom(t, l, routerAddr)
	ph := peerHeader("192.0.2.1", 64500, 0)
	s.send(peerUp(ph, bgp.RF_IPv4_UC))
	s.send(announce(ph, []uint32{64500}, "198.18.7.0/24"))
	s.send(gobmp.NewBMPRouteMonitoring(ph, bgp.NewEndOfRib(bgp.RF_IPv4_UC)))
	i, _ := l.wait(t, 0, "synced", isPeer(model.PeerSynced, key1))
	attrs := []byte{
		0x40, 1, 2, 0, 0, // ORIGIN with a length of 2: treat-as-withdraw
		0x40, 2, 6, 2, 1, 0, 0, 0xfb, 0xf4, // AS_PATH 64500
		0x40, 3, 4, 192, 0, 2, 1, // NEXT_HOP
	}
	nlri := []byte{24, 198, 18, 7}
	upd := append(bytes.Repeat([]byte{0xff}, 16), 0, 0, 2, 0, 0, 0, byte(len(attrs)))
	upd = append(append(upd, attrs...), nlri...)
	upd[16], upd[17] = byte(len(upd)>>8), byte(len(upd))
	hb, _ := ph.Serialize()
	msgLen := 6 + len(hb) + len(upd)
	raw := append([]byte{3, byte(msgLen >> 24), byte(msgLen >> 16), byte(msgLen >> 8), byte(msgLen), gobmp.BMP_MSG_ROUTE_MONITORING}, hb...)
	s.raw(append(raw, upd...))
	l.wait(t, i, "withdraw", isRoute(model.RouteWithdraw, "198.18.7.0/24"))
	s.send(initiation())
	eventually(t, "session still up", func() bool {
		fs := l.feed.PeersView().Feeds
		return len(fs) == 1 && fs[0].State == "up" && fs[0].SysName == "edge1.lab"
	})
}

// TestStationForgetsViewsTheRouterDropped: a peer de-configured on the
// router is forgotten at once; a view of an earlier session that the
// router does not report again is forgotten once the new session has read
// for StaleAfter (its routes would stay unknown forever otherwise).
func TestStationForgetsViewsTheRouterDropped(t *testing.T) {
	l := startLab(t, func(o *Options) { o.StaleAfter = 1500 * time.Millisecond })
	s := dialFrom(t, l, routerAddr)
	a, b, c := peerHeader("192.0.2.1", 64501, 0), peerHeader("192.0.2.2", 64502, 0), peerHeader("192.0.2.3", 64503, 0)
	for _, ph := range []gobmp.BMPPeerHeader{a, b, c} {
		s.send(peerUp(ph, bgp.RF_IPv4_UC))
		s.send(announce(ph, []uint32{ph.PeerAS, 64500}, "198.18.0.0/16"))
	}
	eventually(t, "three views", func() bool { return len(l.feed.PeersView().Peers) == 3 })
	s.send(gobmp.NewBMPPeerDownNotification(c, gobmp.BMP_PEER_DOWN_REASON_PEER_DE_CONFIGURED, nil, nil))
	eventually(t, "de-configured view forgotten", func() bool { return len(l.feed.PeersView().Peers) == 2 })

	s.c.Close()
	l.wait(t, 0, "feed down", isFeed(false))
	s = dialFrom(t, l, routerAddr)
	s.send(peerUp(a, bgp.RF_IPv4_UC))
	l.wait(t, 0, "a up again", func(e model.Event) bool {
		p, ok := e.(model.PeerEvent)
		return ok && p.Kind == model.PeerUp && p.Peer == key1 && len(l.feed.PeersView().Peers) == 2 && l.feed.PeersView().Peers[0].State == "up"
	})
	eventually(t, "the view the router no longer reports forgotten", func() bool {
		ps := l.feed.PeersView().Peers
		return len(ps) == 1 && ps[0].Peer == key1
	})
}

// TestStationEmptyASPathOriginatesAtPeer: a route with an empty AS_PATH
// (a Loc-RIB's own route, as gobgpd's local-rib monitoring sends it) has
// the peer's AS as its origin.
func TestStationEmptyASPathOriginatesAtPeer(t *testing.T) {
	l := startLab(t)
	s := dialFrom(t, l, routerAddr)
	loc := *gobmp.NewBMPPeerHeader(gobmp.BMP_PEER_TYPE_LOCAL_RIB, 0, 0, "0.0.0.0", 64500, routerAddr, 0)
	s.send(peerUp(loc, bgp.RF_IPv4_UC))
	s.send(announce(loc, nil, "198.18.0.0/16"))
	_, ev := l.wait(t, 0, "announce", isRoute(model.RouteAnnounce, "198.18.0.0/16"))
	if r := ev.(model.RouteEvent); r.Origin != 64500 || r.UnexpectedOrigin || len(r.ASPath) != 0 {
		t.Errorf("route = %+v, want origin AS64500", r)
	}
}

// TestStationPeerUpAgain: a second Peer Up without a Peer Down is a new
// session of the peer: the old one's routes are unknown (not withdrawn)
// until the new one has synced, and those it does not announce again are
// withdrawn then.
func TestStationPeerUpAgain(t *testing.T) {
	l := startLab(t)
	s := dialFrom(t, l, routerAddr)
	ph := peerHeader("192.0.2.1", 64500, 0)
	s.send(peerUp(ph, bgp.RF_IPv4_UC))
	s.send(announce(ph, []uint32{64500}, "198.18.0.0/16", "198.18.7.0/24"))
	s.send(gobmp.NewBMPRouteMonitoring(ph, bgp.NewEndOfRib(bgp.RF_IPv4_UC)))
	i, _ := l.wait(t, 0, "synced", isPeer(model.PeerSynced, key1))
	s.send(peerUp(ph, bgp.RF_IPv4_UC))
	i, ev := l.wait(t, i, "down", isPeer(model.PeerDown, key1))
	if pe := ev.(model.PeerEvent); pe.Reason != "peer up again without a peer down" || pe.Routes != 2 {
		t.Errorf("down = %+v", pe)
	}
	i, _ = l.wait(t, i, "up", isPeer(model.PeerUp, key1))
	s.send(announce(ph, []uint32{64500}, "198.18.0.0/16"))
	s.send(gobmp.NewBMPRouteMonitoring(ph, bgp.NewEndOfRib(bgp.RF_IPv4_UC)))
	_, ev = l.wait(t, i, "withdrawn at sync", isRoute(model.RouteWithdraw, "198.18.7.0/24"))
	if r := ev.(model.RouteEvent); !r.Resync || r.Initial {
		t.Errorf("withdraw = %+v", r)
	}
}
