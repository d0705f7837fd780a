package bgp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// rawSpeaker is a minimal BGP speaker playing a router that sends
// End-of-RIB after its table whether or not graceful restart was
// negotiated (as FRR, BIRD and most routers do; a GoBGP speaker sends it
// only with graceful restart, which reachmon does not negotiate). It
// either listens (reachmon connects) or dials reachmon's listener
// (reachmon passive), serves one session at a time, and re-sends its
// current table on every new session.
type rawSpeaker struct {
	t    *testing.T
	addr string
	asn  uint32
	ln   net.Listener // listen mode
	dial string       // dial mode: reachmon's address

	mu       sync.Mutex
	table    map[netip.Prefix]uint32 // prefix → origin AS
	held     bool                    // no new session while held
	cutNext  int                     // the next session sends this many messages of its table, then drops
	eorDelay time.Duration           // between the table and End-of-RIB
	conn     net.Conn
	sessions int // sessions that reached Established
	errs     []error

	done chan struct{}
	wg   sync.WaitGroup
}

const (
	rawHoldTime = 9
	rawNextHop6 = "2001:db8:ffff::1"
)

// newRawSpeaker listens on addr (reachmon connects to it) when dial is
// empty, else dials dial from addr until it has a session.
func newRawSpeaker(t *testing.T, addr string, asn uint32, dial string) *rawSpeaker {
	t.Helper()
	rs := &rawSpeaker{t: t, addr: addr, asn: asn, dial: dial, table: map[netip.Prefix]uint32{}, done: make(chan struct{})}
	if dial == "" {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			t.Fatalf("raw speaker listen: %v", err)
		}
		rs.ln = ln
		rs.wg.Go(rs.acceptLoop)
	} else {
		rs.wg.Go(rs.dialLoop)
	}
	t.Cleanup(rs.stop)
	return rs
}

func (rs *rawSpeaker) port() int { return rs.ln.Addr().(*net.TCPAddr).Port }

func (rs *rawSpeaker) neighbor() config.Neighbor {
	n := config.Neighbor{
		Address: rs.addr, PeerASN: rs.asn, LocalAddress: feedAddr,
		HoldTime: config.Duration{Duration: rawHoldTime * time.Second}, ConnectRetry: config.Duration{Duration: time.Second},
	}
	if rs.ln != nil {
		n.Port = rs.port()
	} else {
		n.Passive = true
	}
	return n
}

func (rs *rawSpeaker) stop() {
	select {
	case <-rs.done:
		return
	default:
	}
	close(rs.done)
	if rs.ln != nil {
		rs.ln.Close()
	}
	rs.mu.Lock()
	if rs.conn != nil {
		rs.conn.Close()
	}
	rs.mu.Unlock()
	waited := make(chan struct{})
	go func() { rs.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(15 * time.Second):
		rs.t.Errorf("raw speaker goroutines still running 15s after stop")
	}
}

func (rs *rawSpeaker) stopped() bool {
	select {
	case <-rs.done:
		return true
	default:
		return false
	}
}

func (rs *rawSpeaker) acceptLoop() {
	for {
		c, err := rs.ln.Accept()
		if err != nil {
			return
		}
		rs.mu.Lock()
		held := rs.held
		rs.mu.Unlock()
		if held || rs.stopped() {
			c.Close()
			continue
		}
		rs.session(c)
	}
}

// dialLoop connects to reachmon whenever there is no session and the
// speaker is not held; reachmon closes connections while its idle hold
// timer runs, so attempts repeat (at most one every 50ms).
func (rs *rawSpeaker) dialLoop() {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(rs.addr)}, Timeout: 2 * time.Second}
	for attempt := 0; attempt < 100000; attempt++ {
		select {
		case <-rs.done:
			return
		case <-time.After(50 * time.Millisecond):
		}
		rs.mu.Lock()
		held := rs.held
		rs.mu.Unlock()
		if held {
			continue
		}
		c, err := d.Dial("tcp", rs.dial)
		if err != nil {
			continue
		}
		rs.session(c)
	}
}

func (rs *rawSpeaker) fail(err error) {
	rs.mu.Lock()
	rs.errs = append(rs.errs, err)
	rs.mu.Unlock()
}

// session runs one BGP session on c: OPEN exchange, the whole table and
// End-of-RIB for both families (in one write unless eorDelay is set),
// then keepalives until the connection ends.
func (rs *rawSpeaker) session(c net.Conn) {
	defer c.Close()
	if err := rs.handshake(c); err != nil {
		return // reachmon gave up on this connection (idle hold, reset): not an error
	}
	rs.mu.Lock()
	if rs.held || rs.stopped() {
		rs.mu.Unlock()
		return
	}
	rs.conn = c
	rs.sessions++
	cut, eorDelay := rs.cutNext, rs.eorDelay
	rs.cutNext = 0
	msgs, err := encodeTable(rs.table, rs.asn, rs.addr)
	rs.mu.Unlock()
	defer func() {
		rs.mu.Lock()
		if rs.conn == c {
			rs.conn = nil
		}
		rs.mu.Unlock()
	}()
	if err != nil {
		rs.fail(err)
		return
	}
	stop := make(chan struct{})
	defer close(stop)
	rs.wg.Go(func() { keepalives(c, stop) })
	if cut > 0 {
		_, _ = c.Write(slices.Concat(msgs[:min(cut, len(msgs))]...))
		return // dropped in the middle of the table, without End-of-RIB
	}
	if eorDelay > 0 {
		if _, err := c.Write(slices.Concat(msgs[:len(msgs)-2]...)); err != nil {
			return // the session was dropped meanwhile
		}
		select {
		case <-time.After(eorDelay):
		case <-rs.done:
			return
		}
		msgs = msgs[len(msgs)-2:]
	}
	if _, err := c.Write(slices.Concat(msgs...)); err != nil {
		return // the session was dropped meanwhile
	}
	for {
		if _, _, err := readMsg(c); err != nil {
			return
		}
	}
}

func (rs *rawSpeaker) handshake(c net.Conn) error {
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
		bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
		bgp.NewCapRouteRefresh(),
		bgp.NewCapFourOctetASNumber(rs.asn),
	}
	open, _ := bgp.NewBGPOpenMessage(uint16(rs.asn), rawHoldTime, rs.addr, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)}).Serialize()
	ka, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(open); err != nil {
		return err
	}
	gotOpen := false
	for range 10 {
		typ, _, err := readMsg(c)
		if err != nil {
			return err
		}
		switch typ {
		case bgp.BGP_MSG_OPEN:
			gotOpen = true
			if _, err := c.Write(ka); err != nil {
				return err
			}
		case bgp.BGP_MSG_KEEPALIVE:
			if gotOpen {
				return nil
			}
		case bgp.BGP_MSG_NOTIFICATION:
			return errors.New("NOTIFICATION while opening")
		}
	}
	return errors.New("no session after 10 messages")
}

func keepalives(c net.Conn, stop <-chan struct{}) {
	ka, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := c.Write(ka); err != nil {
				return
			}
		}
	}
}

func readMsg(c net.Conn) (typ byte, body []byte, err error) {
	var h [19]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(h[16:18]))
	if n < 19 || n > 4096 {
		return 0, nil, fmt.Errorf("bad BGP message length %d", n)
	}
	body = make([]byte, n-19)
	if _, err := io.ReadFull(c, body); err != nil {
		return 0, nil, err
	}
	return h[18], body, nil
}

// encodeTable encodes a table as UPDATEs from asn (next hop nextHop for
// IPv4) packing up to 200 prefixes of one origin each, in address order,
// then End-of-RIB for IPv4 and IPv6.
func encodeTable(table map[netip.Prefix]uint32, asn uint32, nextHop string) ([][]byte, error) {
	pfxs := make([]netip.Prefix, 0, len(table))
	for p := range table {
		pfxs = append(pfxs, p)
	}
	sort.Slice(pfxs, func(i, j int) bool { return prefixLess(pfxs[i], pfxs[j]) })
	var out [][]byte
	add := func(m *bgp.BGPMessage) error {
		b, err := m.Serialize()
		if err == nil {
			out = append(out, b)
		}
		return err
	}
	for i := 0; i < len(pfxs); {
		v6, origin := pfxs[i].Addr().Is6(), table[pfxs[i]]
		attrs := []bgp.PathAttributeInterface{
			bgp.NewPathAttributeOrigin(0),
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{asn, origin})}),
		}
		var nlri4 []*bgp.IPAddrPrefix
		var nlri6 []bgp.AddrPrefixInterface
		for ; i < len(pfxs) && len(nlri4)+len(nlri6) < 200 && pfxs[i].Addr().Is6() == v6 && table[pfxs[i]] == origin; i++ {
			p := pfxs[i]
			if v6 {
				nlri6 = append(nlri6, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String()))
			} else {
				nlri4 = append(nlri4, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
			}
		}
		if v6 {
			attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI(rawNextHop6, nlri6))
		} else {
			attrs = append(attrs, bgp.NewPathAttributeNextHop(nextHop))
		}
		if err := add(bgp.NewBGPUpdateMessage(nil, attrs, nlri4)); err != nil {
			return nil, err
		}
	}
	for _, f := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		if err := add(bgp.NewEndOfRib(f)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// hold stops new sessions (until release) and, with drop, ends the
// current one from the speaker's side: abruptly (TCP close, as a router
// that dies) or with a Cease NOTIFICATION first.
func (rs *rawSpeaker) hold(drop, notify bool) {
	rs.mu.Lock()
	rs.held = true
	c := rs.conn
	rs.mu.Unlock()
	if drop && c != nil {
		if notify {
			b, _ := bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_RESET, nil).Serialize()
			_, _ = c.Write(b)
		}
		c.Close()
	}
}

// setEORDelay makes the next sessions wait d between their table and
// End-of-RIB (0: End-of-RIB in the same write as the table).
func (rs *rawSpeaker) setEORDelay(d time.Duration) {
	rs.mu.Lock()
	rs.eorDelay = d
	rs.mu.Unlock()
}

// release allows sessions again; the next one sends only cut messages
// of its table (no End-of-RIB) and drops, when cut > 0.
func (rs *rawSpeaker) release(cut int) {
	rs.mu.Lock()
	rs.held, rs.cutNext = false, cut
	rs.mu.Unlock()
}

func (rs *rawSpeaker) set(p netip.Prefix, origin uint32) {
	rs.mu.Lock()
	rs.table[p] = origin
	rs.mu.Unlock()
}

func (rs *rawSpeaker) remove(p netip.Prefix) {
	rs.mu.Lock()
	delete(rs.table, p)
	rs.mu.Unlock()
}

func (rs *rawSpeaker) status() (sessions int, errs []error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.sessions, slices.Clone(rs.errs)
}

// reconnectTable is the speaker's table and what reachmon watches of it
// (the rest is rejected by the import policy).
type reconnectTable struct {
	watch   Watch
	routes  map[netip.Prefix]uint32
	watched map[netip.Prefix]bool
	// resolver's most specific route (withdrawing it is a cover event)
	resolver      netip.Addr
	resolverRoute netip.Prefix
}

const (
	nExact4 = 1000 // watched /24s, each announced exactly
	nMore4  = 2000 // more-specific /24s of the watched 10.0.0.0/8
	nMore6  = 200  // more-specific /48s of the watched 2001:db8::/32
	nOther4 = 500  // unwatched /24s
)

func newReconnectTable() *reconnectTable {
	rt := &reconnectTable{
		routes: map[netip.Prefix]uint32{}, watched: map[netip.Prefix]bool{},
		resolver: netip.MustParseAddr("10.0.5.53"), resolverRoute: netip.MustParsePrefix("10.0.5.0/24"),
	}
	rt.watch = Watch{
		Prefixes:  []model.WatchedPrefix{wp("10.0.0.0/8", 64500), wp("2001:db8::/32", 64500)},
		Resolvers: map[string]netip.Addr{"lab": rt.resolver},
	}
	add := func(p netip.Prefix, origin uint32, watched bool) {
		rt.routes[p] = origin
		rt.watched[p] = watched
	}
	add(netip.MustParsePrefix("10.0.0.0/8"), 64500, true)
	add(netip.MustParsePrefix("2001:db8::/32"), 64500, true)
	for i := range nExact4 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(64 + i/256), byte(i % 256), 0}), 24)
		rt.watch.Prefixes = append(rt.watch.Prefixes, model.WatchedPrefix{Prefix: p, Origins: []uint32{64501}})
		add(p, 64501, true)
	}
	for i := range nMore4 {
		add(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i / 256), byte(i % 256), 0}), 24), 64500+uint32(i/100%2), true)
	}
	for i := range nMore6 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte((i + 1) >> 8), byte(i + 1)})
		add(netip.PrefixFrom(a, 48), 64500, true)
	}
	for i := range nOther4 {
		add(netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(16 + i/256), byte(i % 256), 0}), 24), 64499, false)
	}
	return rt
}

// reconnectHarness pairs a feed with a raw speaker holding rt.
type reconnectHarness struct {
	t   *testing.T
	rt  *reconnectTable
	rs  *rawSpeaker
	tf  *testFeed
	cur map[netip.Prefix]bool // watched prefixes the speaker announces now
	// overflow: the feed queue is meant to overflow (events are lost and
	// the state is rebuilt from the RIB, with Resync events).
	overflow bool
	dropped  float64 // feed-queue drops seen so far
}

// newReconnectHarness starts a raw speaker on speakerAddr holding the
// reconnect table and a feed peering with it: reachmon connects to the
// speaker, or with passive the speaker connects to reachmon.
func newReconnectHarness(t *testing.T, speakerAddr string, passive bool, opts ...feedOpt) *reconnectHarness {
	t.Helper()
	rt := newReconnectTable()
	var rs *rawSpeaker
	listen := 0
	if passive {
		listen = freePort(t, feedAddr)
		rs = newRawSpeaker(t, speakerAddr, 65001, net.JoinHostPort(feedAddr, fmt.Sprint(listen)))
	} else {
		rs = newRawSpeaker(t, speakerAddr, 65001, "")
	}
	h := &reconnectHarness{t: t, rt: rt, rs: rs, cur: map[netip.Prefix]bool{}}
	rs.hold(false, false)
	for p, o := range rt.routes {
		rs.set(p, o)
		if rt.watched[p] {
			h.cur[p] = true
		}
	}
	h.tf = startFeed(t, rt.watch, nil, append([]feedOpt{func(c *config.BGP, _ *Options) {
		// Long enough that only End-of-RIB ends a sync.
		c.InitialSyncTimeout = config.Duration{Duration: 20 * time.Second}
		c.Neighbor = append(c.Neighbor, rs.neighbor())
		if passive {
			c.ListenPort, c.ListenAddresses = listen, []string{feedAddr}
		}
	}}, opts...)...)
	return h // the speaker is held until run
}

func (h *reconnectHarness) server() *server.BgpServer {
	h.t.Helper()
	var s *server.BgpServer
	eventually(h.t, evTimeout, "feed's GoBGP server", func() bool {
		h.tf.watchMu.Lock()
		defer h.tf.watchMu.Unlock()
		s = h.tf.srv
		return s != nil
	})
	return s
}

// checkSession checks the events from index from (before the session
// was lost, or the start) up to the peer's next sync and shortly after:
// the PeerDown (unless downRoutes < 0) counts downRoutes routes; the sync
// reports the whole table, by End-of-RIB; exactly the watched prefixes in
// wantGone are withdrawn, once each, after the sync, and nothing else is;
// the resolver's cover is withdrawn only when its route is in wantGone.
// It returns the index after the last event it looked at.
func (h *reconnectHarness) checkSession(what string, from int, downRoutes int, wantGone map[netip.Prefix]bool) int {
	t := h.t
	t.Helper()
	tf, peer := h.tf, h.rs.addr
	start := from
	if downRoutes >= 0 {
		i, ev := tf.ev.wait(t, from, evTimeout, what+": peer down", isPeer(model.PeerDown, peer))
		if p := ev.(model.PeerEvent); p.Routes != downRoutes {
			t.Errorf("%s: PeerDown reports %d routes, want %d", what, p.Routes, downRoutes)
		}
		from = i + 1
	}
	synced, ev := tf.ev.wait(t, from, upTimeout, what+": peer synced", isPeer(model.PeerSynced, peer))
	p := ev.(model.PeerEvent)
	if p.Routes != len(h.cur) || !p.ByEndOfRIB || p.Reason != "" {
		t.Errorf("%s: PeerSynced = {Routes:%d ByEndOfRIB:%v Reason:%q}, want %d routes by End-of-RIB",
			what, p.Routes, p.ByEndOfRIB, p.Reason, len(h.cur))
	}
	// Withdrawals found at sync follow it at once; wait for the expected
	// ones, then long enough for anything else to surface (held
	// withdrawals are released after WithdrawSettle, resyncs run on the
	// next tick).
	for pfx := range wantGone {
		tf.ev.wait(t, synced, evTimeout, what+": withdraw "+pfx.String(), isRoute(model.RouteWithdraw, pfx.String()))
	}
	eventually(t, evTimeout, what+": routes view", func() bool {
		v, _ := tf.Routes("")
		return len(v.Routes) == len(h.cur)
	})
	time.Sleep(300 * time.Millisecond)
	if h.overflow {
		time.Sleep(time.Second)
	}
	evs := tf.ev.all()
	got := map[netip.Prefix]int{}
	coverGone, ups, syncs := 0, 0, 0
	// Problems are counted by kind and the first few of each shown.
	problems := map[string][]string{}
	problem := func(kind string, format string, args ...any) {
		problems[kind] = append(problems[kind], fmt.Sprintf(format, args...))
	}
	for k, e := range evs[start:] {
		switch x := e.(type) {
		case model.RouteEvent:
			switch {
			case x.Kind == model.RouteWithdraw:
				got[x.Prefix]++
				if !wantGone[x.Prefix] {
					problem("false withdrawals", "%s (still announced: %v, initial %v, resync %v, %d events after the sync)",
						x.Prefix, h.cur[x.Prefix], x.Initial, x.Resync, start+k-synced)
				} else if start+k < synced {
					problem("withdrawals before the sync", "%s", x.Prefix)
				}
			case start+k > synced:
				problem("route events after the sync", "%s %s (initial %v, resync %v)", x.Kind, x.Prefix, x.Initial, x.Resync)
			case !x.Initial && !(h.overflow && x.Resync):
				problem("non-initial route events in the re-sent table", "%s %s", x.Kind, x.Prefix)
			}
		case model.CoverEvent:
			if x.Kind == model.CoverWithdrawn {
				coverGone++
			}
		case model.PeerEvent:
			switch x.Kind {
			case model.PeerUp:
				ups++
			case model.PeerSynced:
				syncs++
			}
		}
	}
	for pfx := range wantGone {
		if got[pfx] != 1 {
			problem("expected withdrawals not seen exactly once", "%s withdrawn %d times", pfx, got[pfx])
		}
	}
	kinds := make([]string, 0, len(problems))
	for k := range problems {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		l := problems[k]
		t.Errorf("%s: %d %s, e.g.:\n\t%s", what, len(l), k, strings.Join(l[:min(len(l), 10)], "\n\t"))
	}
	wantCover := 0
	if wantGone[h.rt.resolverRoute] {
		wantCover = 1
	}
	if coverGone != wantCover {
		t.Errorf("%s: %d CoverWithdrawn events, want %d", what, coverGone, wantCover)
	}
	if ups < 1 || syncs != 1 {
		t.Errorf("%s: %d PeerUp and %d PeerSynced events, want at least 1 and exactly 1", what, ups, syncs)
	}
	if d := testutilCounter(tf.Feed, "evaluator"); d != 0 {
		t.Fatalf("%s: %v events dropped on their way to the test's collector: the checks above are void", what, d)
	}
	d := testutilCounter(tf.Feed, "feed")
	switch {
	case !h.overflow && d != 0:
		t.Errorf("%s: %v events dropped from the feed queue", what, d)
	case h.overflow && d == h.dropped:
		t.Logf("%s: the feed queue did not overflow this time", what)
	}
	h.dropped = d
	return len(evs)
}

// A drop mode ends the session (the speaker stays away until resumed)
// and returns how to resume; resume(cut) with cut > 0 makes the next
// session drop after cut messages of its table, before End-of-RIB.
type dropMode struct {
	name string
	drop func(h *reconnectHarness) (resume func(cut int))
}

var (
	speakerCloses = dropMode{"speaker closes TCP", func(h *reconnectHarness) func(int) {
		h.rs.hold(true, false)
		return h.rs.release
	}}
	speakerCeases = dropMode{"speaker sends Cease", func(h *reconnectHarness) func(int) {
		h.rs.hold(true, true)
		return h.rs.release
	}}
	feedResets = dropMode{"feed hard reset", func(h *reconnectHarness) func(int) {
		h.rs.hold(false, false)
		if err := h.server().ResetPeer(context.Background(), &api.ResetPeerRequest{Address: h.rs.addr, Communication: "test"}); err != nil {
			h.t.Fatalf("ResetPeer: %v", err)
		}
		return h.rs.release
	}}
	feedDisables = dropMode{"feed disable/enable", func(h *reconnectHarness) func(int) {
		s := h.server()
		if err := s.DisablePeer(context.Background(), &api.DisablePeerRequest{Address: h.rs.addr}); err != nil {
			h.t.Fatalf("DisablePeer: %v", err)
		}
		return func(cut int) {
			h.rs.release(cut)
			if err := s.EnablePeer(context.Background(), &api.EnablePeerRequest{Address: h.rs.addr}); err != nil {
				h.t.Fatalf("EnablePeer: %v", err)
			}
		}
	}}
)

// reconnectStep is one lost session: how it is lost, whether the next
// session is cut in the middle of its table (so that the one after it
// re-sends the table), and the routes the router stops announcing while
// it is down (those it stopped announcing the step before come back).
type reconnectStep struct {
	mode     dropMode
	cut      bool
	remove   []string
	eorDelay time.Duration // between the table and End-of-RIB
	// armed, if set, is called before the session is lost, and what it
	// returns once the feed has reported it lost.
	armed func() (down func(what string))
}

// run checks the initial sync, then performs and checks the steps; it
// returns how many.
func (h *reconnectHarness) run(steps []reconnectStep) int {
	t := h.t
	h.rs.release(0)
	n := h.checkSession("initial", 0, -1, nil)
	var back []netip.Prefix
	for i, st := range steps {
		cut := 0
		if st.cut {
			cut = 8 // of ~25 UPDATEs
		}
		what := fmt.Sprintf("reconnect %d (%s, cut %v, %d removed, End-of-RIB after %s)", i+1, st.mode.name, st.cut, len(st.remove), st.eorDelay)
		down := len(h.cur)
		var downHook func(string)
		if st.armed != nil {
			downHook = st.armed()
		}
		resume := st.mode.drop(h)
		h.tf.ev.wait(t, n, evTimeout, what+": peer down", isPeer(model.PeerDown, h.rs.addr))
		if downHook != nil {
			downHook(what)
		}
		for _, p := range back {
			h.rs.set(p, h.rt.routes[p])
			if h.rt.watched[p] {
				h.cur[p] = true
			}
		}
		back = back[:0]
		gone := map[netip.Prefix]bool{}
		for _, s := range st.remove {
			p := netip.MustParsePrefix(s)
			h.rs.remove(p)
			back = append(back, p)
			if h.rt.watched[p] {
				delete(h.cur, p)
				gone[p] = true
			}
		}
		h.rs.setEORDelay(st.eorDelay)
		resume(cut)
		n = h.checkSession(what, n, down, gone)
	}
	_, errs := h.rs.status()
	for _, err := range errs {
		t.Errorf("raw speaker: %v", err)
	}
	return len(steps)
}

// Routes removed while the session is down (those of one step come back
// in the next): the resolver's /24 (a cover withdrawal), an exact watched
// /24, a more-specific /48, a policy-rejected /24 (no event); the watched
// /8 itself and the last routes of each block; the watched /32 with more
// /24s, the first exact /24 and the resolver's /24 again (now withdrawn
// under the /8 it left the step before).
var (
	removeA = []string{"10.0.5.0/24", "100.64.7.0/24", "2001:db8:5::/48", "172.16.3.0/24"}
	removeB = []string{"10.0.0.0/8", "10.7.207.0/24", "100.67.231.0/24"}
	removeC = []string{"2001:db8::/32", "10.1.1.0/24", "10.1.2.0/24", "100.64.0.0/24", "10.0.5.0/24"}
)

// Reconnect stress: a router with a few thousand watched routes (exact
// watched prefixes and more-specifics, IPv4 and IPv6, plus routes the
// import policy rejects) loses its session again and again, from either
// side, with and without a NOTIFICATION, sometimes twice in a row with
// the second session cut in the middle of its table. Each time it
// re-sends its table and End-of-RIB: the sync must count the whole table
// by End-of-RIB, and no route it still announces may be reported
// withdrawn (a false withdrawal pages the on-call engineer). When it
// changes its table while down, exactly the routes it no longer
// announces are withdrawn, after the sync. Reachmon connects to the
// router, or the router to reachmon.
func TestFeedReconnectStress(t *testing.T) {
	skipSlowInShort(t)
	for _, tc := range []struct {
		name    string
		addr    string
		passive bool
		steps   []reconnectStep
	}{
		{"feed-active", "127.0.0.2", false, []reconnectStep{
			{mode: speakerCloses},
			{mode: speakerCeases, cut: true},
			{mode: feedDisables},
			{mode: feedResets},
			{mode: feedResets, remove: removeA},
			{mode: feedResets, remove: removeB, cut: true},
			{mode: speakerCeases, remove: removeC},
			{mode: feedResets},
		}},
		{"feed-passive", "127.0.0.3", true, []reconnectStep{
			{mode: feedResets, remove: removeA},
			{mode: speakerCloses, remove: removeB, cut: true},
			{mode: feedDisables, remove: removeC},
			{mode: speakerCeases},
			{mode: feedResets},
		}},
	} {
		// Not in parallel: GoBGP's StartBgp writes package globals.
		t.Run(tc.name, func(t *testing.T) {
			started := time.Now()
			h := newReconnectHarness(t, tc.addr, tc.passive)
			n := h.run(tc.steps)
			sessions, _ := h.rs.status()
			t.Logf("%d reconnects, %d sessions, %d watched routes (+%d rejected by policy) per table, in %s",
				n, sessions, len(h.rt.routes)-nOther4, nOther4, time.Since(started).Round(time.Millisecond))
		})
	}
}

// When the feed's queue overflows while a reconnected peer re-sends its
// table, the End-of-RIB that follows (once the queue has room again) must
// not end the sync: part of the table was lost on the way, and every
// lost route the peer carried before would be reported withdrawn. The
// sync waits for the state to be rebuilt from the RIB. When End-of-RIB
// itself is lost (sent right after the table, into the full queue), the
// sync still happens by End-of-RIB, as GoBGP recorded it.
func TestFeedReconnectQueueOverflow(t *testing.T) {
	skipSlowInShort(t)
	started := time.Now()
	// End-of-RIB comes when the queue is empty again, and (mostly) before
	// the next tick repairs the state from the RIB.
	const later = 700 * time.Millisecond
	h := newReconnectHarness(t, "127.0.0.4", false, func(_ *config.BGP, o *Options) {
		o.QueueSize, o.TickInterval = 1, 2*time.Second
	})
	h.overflow = true
	h.rs.setEORDelay(later)
	n := h.run([]reconnectStep{
		{mode: feedResets, eorDelay: later},
		{mode: feedResets},
		{mode: feedResets, remove: removeA, eorDelay: later},
		{mode: feedResets, remove: removeB},
	})
	if h.dropped == 0 {
		t.Errorf("the feed queue never overflowed: the test tested nothing")
	}
	t.Logf("%d reconnects, %v events dropped, in %s", n, h.dropped, time.Since(started).Round(time.Millisecond))
}

// GoBGP withdraws every route of a lost session, then reports the loss;
// reachmon holds withdrawals until it knows which they are. When GoBGP's
// event delivery stalls in the middle of those withdrawals for longer than
// the settle time (a starved goroutine on a loaded machine: seen here
// with the tests' 100ms), the quiet must not release them as real
// withdrawals. The stall is simulated in the feed's clock, which the
// watch callback reads for every event.
func TestFeedSessionLossStalledDelivery(t *testing.T) {
	skipSlowInShort(t)
	const after = 300                  // withdrawals into the lost session's ~3,700
	var countdown atomic.Int64         // calls to Now until the one that stalls
	countdown.Store(math.MinInt64 / 2) // none until armed
	h := newReconnectHarness(t, "127.0.0.5", false, func(_ *config.BGP, o *Options) {
		stall := 10 * o.WithdrawSettle
		o.Now = func() time.Time {
			if countdown.Add(-1) == 0 {
				time.Sleep(stall)
			}
			return time.Now()
		}
	})
	arm := func() func(string) {
		countdown.Store(after)
		return func(what string) {
			if c := countdown.Load(); c > 0 {
				t.Errorf("%s: the feed's clock was read only %d times while the session was lost: no stall", what, after-c)
			}
		}
	}
	started := time.Now()
	n := h.run([]reconnectStep{
		{mode: feedResets, armed: arm},
		{mode: speakerCloses, armed: arm},
		{mode: feedResets, remove: removeA, armed: arm},
	})
	t.Logf("%d stalled session losses in %s", n, time.Since(started).Round(time.Millisecond))
}
