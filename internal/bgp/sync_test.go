package bgp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// The initial-sync timeout runs from the first UPDATE of a session, not
// from Established: a peer that is slow to start its dump must not be
// declared synced with an empty table (which turned every route it
// carried before a reconnect into a withdrawal and paged a
// bgp_dns_outage for every zone). A session that sends nothing at all is
// synced after silentSyncFactor timeouts, and says so.
func TestStateSyncWaitsForFirstUpdate(t *testing.T) {
	const timeout = 2 * time.Second
	peer := "192.0.2.2"
	cfg := config.BGP{ASN: feedASN, RouterID: feedAddr, Neighbor: []config.Neighbor{{Address: peer, PeerASN: 65001}}}
	ws := compileWatch(0, watchPrefixes(wp("129.134.0.0/17", 32934)), map[string][]netip.Addr{
		"facebook.com.": {netip.MustParseAddr("129.134.30.12")},
	})
	t0 := time.Date(2021, 10, 4, 15, 0, 0, 0, time.UTC)
	now := t0
	var evs []model.Event
	s := newState(cfg, ws, func() time.Time { return now }, func(e model.Event) { evs = append(evs, e) }, newMetrics(prometheus.NewRegistry()))
	var seen time.Time // the feed's lastSeen: UPDATEs of any prefix, watched or not
	lastSeen := func(string) time.Time { return seen }
	at := func(d time.Duration) time.Time { now = t0.Add(d); return now }
	peerItem := func(d time.Duration, up bool) item { return item{kind: itemPeer, t: at(d), peer: peer, up: up} }
	routeItem := func(d time.Duration, pfx string) item {
		return item{kind: itemRoute, t: at(d), peer: peer, prefix: netip.MustParsePrefix(pfx),
			route: route{origin: 32934, asPath: u32s(65001, 32934)}}
	}
	tick := func(d time.Duration) { s.tick(at(d), timeout, lastSeen) }
	synced := func(from int) (model.PeerEvent, bool) {
		for _, e := range evs[from:] {
			if p, ok := e.(model.PeerEvent); ok && p.Kind == model.PeerSynced {
				return p, true
			}
		}
		return model.PeerEvent{}, false
	}
	withdrawals := func(from int) (out []netip.Prefix) {
		for _, e := range evs[from:] {
			if r, ok := e.(model.RouteEvent); ok && r.Kind == model.RouteWithdraw {
				out = append(out, r.Prefix)
			}
			if c, ok := e.(model.CoverEvent); ok && c.Kind == model.CoverWithdrawn {
				out = append(out, netip.PrefixFrom(c.Addr, c.Addr.BitLen()))
			}
		}
		return out
	}

	// First session: the table follows Established at once.
	s.apply(peerItem(0, true))
	s.apply(routeItem(100*time.Millisecond, "129.134.0.0/17"))
	s.apply(routeItem(200*time.Millisecond, "129.134.30.0/24"))
	tick(200*time.Millisecond + timeout - time.Millisecond)
	if _, ok := synced(0); ok {
		t.Fatal("synced before being quiet for the timeout")
	}
	tick(200*time.Millisecond + timeout)
	if p, ok := synced(0); !ok || p.Routes != 2 || p.ByEndOfRIB || p.Reason != "" {
		t.Fatalf("first sync = %+v, %v", p, ok)
	}

	// The session drops and comes back; the peer starts its dump late.
	s.apply(peerItem(10*time.Second, false))
	seen = t0.Add(10 * time.Second) // GoBGP's withdrawals at the drop: before Established
	n := len(evs)
	s.apply(peerItem(20*time.Second, true))
	for _, d := range []time.Duration{timeout, 2 * timeout, 3*timeout - time.Millisecond} {
		tick(20*time.Second + d)
		if p, ok := synced(n); ok {
			t.Fatalf("synced %s after Established with nothing received: %+v", d, p)
		}
	}
	if w := withdrawals(n); len(w) != 0 {
		t.Fatalf("withdrawals before the peer sent anything: %v", w)
	}
	// The dump starts 2.5 timeouts after Established, without the /24.
	s.apply(routeItem(20*time.Second+5*timeout/2, "129.134.0.0/17"))
	tick(20*time.Second + 3*timeout) // the silent bound no longer applies
	if p, ok := synced(n); ok {
		t.Fatalf("synced before being quiet for the timeout after the first UPDATE: %+v", p)
	}
	tick(20*time.Second + 7*timeout/2)
	p, ok := synced(n)
	if !ok || p.Routes != 1 || p.Reason != "" {
		t.Fatalf("resync = %+v, %v", p, ok)
	}
	want := []netip.Prefix{netip.MustParsePrefix("129.134.30.0/24"), netip.MustParsePrefix("129.134.30.12/32")}
	if w := withdrawals(n); len(w) != 2 || w[0] != want[0] || w[1] != want[1] {
		t.Fatalf("after the real sync: withdrawals %v, want the /24 and cover of 129.134.30.12", w)
	}

	// A peer whose dump holds only unwatched routes has spoken too.
	s.apply(peerItem(60*time.Second, false))
	n = len(evs)
	s.apply(peerItem(61*time.Second, true))
	seen = t0.Add(61*time.Second + timeout/2)
	tick(61*time.Second + timeout)
	if _, ok := synced(n); ok {
		t.Fatal("synced while the unwatched dump was under way")
	}
	tick(61*time.Second + 3*timeout/2)
	if p, ok := synced(n); !ok || p.Reason != "" || p.Routes != 0 {
		t.Fatalf("sync after an unwatched dump = %+v, %v", p, ok)
	}
	// (It did not re-announce the /17: that is a withdrawal now.)
	if w := withdrawals(n); len(w) != 1 || w[0] != netip.MustParsePrefix("129.134.0.0/17") {
		t.Fatalf("withdrawals = %v", w)
	}

	// A session that sends nothing at all is synced after the long bound.
	s.apply(routeItem(70*time.Second, "129.134.0.0/17"))
	s.apply(peerItem(80*time.Second, false))
	n = len(evs)
	s.apply(peerItem(90*time.Second, true))
	tick(90*time.Second + 3*timeout - time.Millisecond)
	if _, ok := synced(n); ok {
		t.Fatal("silent peer synced before the long bound")
	}
	tick(90*time.Second + 3*timeout)
	p, ok = synced(n)
	if !ok || p.Reason != SyncReasonNoUpdates || p.ByEndOfRIB || p.Routes != 0 {
		t.Fatalf("silent sync = %+v, %v", p, ok)
	}
	if w := withdrawals(n); len(w) != 1 || w[0] != netip.MustParsePrefix("129.134.0.0/17") {
		t.Fatalf("withdrawals after the silent sync = %v", w)
	}

	// End-of-RIB still ends the sync at once, even with an empty table.
	s.apply(peerItem(100*time.Second, false))
	n = len(evs)
	s.apply(peerItem(101*time.Second, true))
	s.apply(item{kind: itemEOR, t: at(101*time.Second + time.Millisecond), peer: peer, family: 4})
	s.apply(item{kind: itemEOR, t: at(101*time.Second + 2*time.Millisecond), peer: peer, family: 6})
	if p, ok := synced(n); !ok || !p.ByEndOfRIB {
		t.Fatalf("End-of-RIB sync = %+v, %v", p, ok)
	}
}

// Paired GoBGP servers: a peer comes back and starts sending its table
// only after longer than the initial-sync timeout (BIRD: ~3 s after
// Established). The routes it re-announces are never reported withdrawn;
// the one it no longer carries is, once it has really synced.
func TestFeedReconnectSlowDump(t *testing.T) {
	skipSlowInShort(t)
	const timeout = time.Second
	a := newSpeaker(t, "127.0.0.2", 65001)
	for _, p := range []string{"129.134.0.0/17", "129.134.30.0/24", "129.134.31.0/24"} {
		a.announce(p, 32934)
	}
	tf := startFeed(t, watchPrefixes(wp("129.134.0.0/17", 32934)), []*speaker{a}, func(c *config.BGP, _ *Options) {
		c.InitialSyncTimeout = config.Duration{Duration: timeout}
	})
	ns := []netip.Addr{netip.MustParseAddr("129.134.30.12"), netip.MustParseAddr("129.134.31.12")}
	if err := tf.SetNameserverAddrs("facebook.com.", ns); err != nil {
		t.Fatal(err)
	}
	n := upAndSynced(t, tf, a)
	eventually(t, evTimeout, "three routes", func() bool { v, _ := tf.Routes(""); return len(v.Routes) == 3 })

	a.disable()
	i, _ := tf.ev.wait(t, n, evTimeout, "peer down", isPeer(model.PeerDown, a.addr))
	// While the session is down the router loses its table; it comes back
	// empty and sends the routes only later.
	for _, p := range []string{"129.134.0.0/17", "129.134.30.0/24", "129.134.31.0/24"} {
		a.withdraw(p)
	}
	a.enable()
	j, ev := tf.ev.wait(t, i, 30*time.Second, "peer up again", isPeer(model.PeerUp, a.addr))
	upAt := ev.(model.PeerEvent).Time
	time.Sleep(2 * timeout)
	for _, e := range tf.ev.all()[j:] {
		if p, ok := e.(model.PeerEvent); ok && p.Kind == model.PeerSynced {
			t.Errorf("synced %s after Established although the peer sent nothing: %+v", p.Time.Sub(upAt), p)
		}
	}
	// The table arrives, without the /24 holding 129.134.31.12.
	a.announce("129.134.0.0/17", 32934)
	a.announce("129.134.30.0/24", 32934)
	k, ev := tf.ev.wait(t, j, evTimeout, "synced again", isPeer(model.PeerSynced, a.addr))
	if p := ev.(model.PeerEvent); p.Routes != 2 || p.ByEndOfRIB || p.Reason != "" {
		t.Errorf("synced = %+v, want 2 routes by timeout", p)
	}
	_, ev = tf.ev.wait(t, k, evTimeout, "withdraw found at sync", func(e model.Event) bool {
		r, ok := e.(model.RouteEvent)
		return ok && r.Kind == model.RouteWithdraw && r.Prefix == netip.MustParsePrefix("129.134.31.0/24")
	})
	if r := ev.(model.RouteEvent); !r.Resync || r.Initial || r.Peer != a.addr {
		t.Errorf("resync withdraw = %+v", r)
	}
	tf.ev.wait(t, k, evTimeout, "cover withdrawn for 129.134.31.12", isCover(model.CoverWithdrawn, "129.134.31.12"))

	for _, e := range tf.ev.all()[i:] {
		switch x := e.(type) {
		case model.RouteEvent:
			if x.Kind == model.RouteWithdraw && x.Prefix != netip.MustParsePrefix("129.134.31.0/24") {
				t.Errorf("re-announced route reported withdrawn: %+v", x)
			}
		case model.CoverEvent:
			if x.Kind == model.CoverWithdrawn && x.Addr != netip.MustParseAddr("129.134.31.12") {
				t.Errorf("cover of a re-announced route withdrawn: %+v", x)
			}
		}
	}
	v, _ := tf.Routes("129.134.30.12")
	if len(v.Addresses) != 1 || v.Addresses[0].Degraded || v.Addresses[0].Current == nil ||
		v.Addresses[0].Current.Prefix != netip.MustParsePrefix("129.134.30.0/24") {
		t.Errorf("129.134.30.12 after resync = %+v", v.Addresses)
	}
}

// A peer that comes back and sends nothing at all is synced only after
// the long bound (silentSyncFactor timeouts), with the reason in the
// event; the routes it carried before the drop are withdrawn then.
func TestFeedReconnectSilentPeer(t *testing.T) {
	skipSlowInShort(t)
	const timeout = 500 * time.Millisecond
	a := newSpeaker(t, "127.0.0.2", 65001)
	a.announce("129.134.0.0/17", 32934)
	a.announce("129.134.30.0/24", 32934)
	tf := startFeed(t, watchPrefixes(wp("129.134.0.0/17", 32934)), []*speaker{a}, func(c *config.BGP, _ *Options) {
		c.InitialSyncTimeout = config.Duration{Duration: timeout}
	})
	if err := tf.SetNameserverAddrs("facebook.com.", []netip.Addr{netip.MustParseAddr("129.134.30.12")}); err != nil {
		t.Fatal(err)
	}
	n := upAndSynced(t, tf, a)
	eventually(t, evTimeout, "two routes", func() bool { v, _ := tf.Routes(""); return len(v.Routes) == 2 })

	a.disable()
	i, _ := tf.ev.wait(t, n, evTimeout, "peer down", isPeer(model.PeerDown, a.addr))
	a.withdraw("129.134.0.0/17")
	a.withdraw("129.134.30.0/24")
	a.enable()
	j, ev := tf.ev.wait(t, i, 30*time.Second, "peer up again", isPeer(model.PeerUp, a.addr))
	upAt := ev.(model.PeerEvent).Time
	k, ev := tf.ev.wait(t, j, evTimeout, "synced again", isPeer(model.PeerSynced, a.addr))
	p := ev.(model.PeerEvent)
	if p.Reason != SyncReasonNoUpdates || p.ByEndOfRIB || p.Routes != 0 {
		t.Errorf("synced = %+v, want reason %q", p, SyncReasonNoUpdates)
	}
	if d := p.Time.Sub(upAt); d < silentSyncFactor*timeout {
		t.Errorf("silent peer synced %s after Established, want at least %s", d, silentSyncFactor*timeout)
	}
	for _, e := range tf.ev.all()[i:k] {
		switch x := e.(type) {
		case model.RouteEvent:
			t.Errorf("before the sync: %+v", x)
		case model.CoverEvent:
			t.Errorf("before the sync: %+v", x)
		}
	}
	for _, w := range []string{"129.134.0.0/17", "129.134.30.0/24"} {
		tf.ev.wait(t, k, evTimeout, "withdraw "+w, isRoute(model.RouteWithdraw, w))
	}
	tf.ev.wait(t, k, evTimeout, "cover withdrawn", isCover(model.CoverWithdrawn, "129.134.30.12"))
}
