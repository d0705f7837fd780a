package bgp

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

const (
	upTimeout = 20 * time.Second
	evTimeout = 10 * time.Second
)

func watchPrefixes(ps ...model.WatchedPrefix) Watch { return Watch{Prefixes: ps} }

func wp(p string, origins ...uint32) model.WatchedPrefix {
	return model.WatchedPrefix{Prefix: netip.MustParsePrefix(p), Origins: origins}
}

// upAndSynced waits for the peer's session and initial sync.
func upAndSynced(t *testing.T, tf *testFeed, sp *speaker) int {
	t.Helper()
	tf.ev.wait(t, 0, upTimeout, "peer up", isPeer(model.PeerUp, sp.addr))
	i, _ := tf.ev.wait(t, 0, upTimeout, "peer synced", isPeer(model.PeerSynced, sp.addr))
	return i + 1
}

func TestFeedIPv4Lifecycle(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	tf := startFeed(t, watchPrefixes(wp("198.18.0.0/16", 64500)), []*speaker{sp})
	n := upAndSynced(t, tf, sp)
	if got := tf.gauge(t, "reachmon_bgp_peer_up", "peer", sp.addr); got != 1 {
		t.Errorf("reachmon_bgp_peer_up = %v, want 1", got)
	}

	// A more-specific of the watched /16 appears.
	sp.announce("198.18.1.0/24", 64500)
	i, ev := tf.ev.wait(t, n, evTimeout, "more_specific", isRoute(model.RouteMoreSpecific, "198.18.1.0/24"))
	r := ev.(model.RouteEvent)
	if r.Initial || r.Origin != 64500 || !slices.Equal(r.ASPath, u32s(65001, 64500)) || r.Peer != sp.addr ||
		r.Watched != netip.MustParsePrefix("198.18.0.0/16") || !r.MoreSpecific || r.UnexpectedOrigin || r.VisiblePeers != 1 {
		t.Errorf("more-specific event = %+v", r)
	}

	// The watched prefix itself.
	sp.announce("198.18.0.0/16", 64500)
	i, _ = tf.ev.wait(t, i+1, evTimeout, "announce /16", isRoute(model.RouteAnnounce, "198.18.0.0/16"))
	eventually(t, evTimeout, "visible peers metric", func() bool {
		return tf.gauge(t, "reachmon_bgp_prefix_visible_peers", "prefix", "198.18.0.0/16") == 1 &&
			tf.gauge(t, "reachmon_bgp_prefix_origin_info", "prefix", "198.18.0.0/16", "origin", "64500") == 1
	})

	// Origin change: unexpected origin.
	sp.announce("198.18.0.0/16", 64666)
	i, ev = tf.ev.wait(t, i+1, evTimeout, "origin change", isRoute(model.RouteOriginChange, "198.18.0.0/16"))
	if r := ev.(model.RouteEvent); r.Origin != 64666 || r.PrevOrigin != 64500 || !r.UnexpectedOrigin {
		t.Errorf("origin change = %+v", r)
	}
	eventually(t, evTimeout, "origin metric follows", func() bool {
		return tf.gauge(t, "reachmon_bgp_prefix_origin_info", "prefix", "198.18.0.0/16", "origin", "64666") == 1 &&
			tf.gauge(t, "reachmon_bgp_prefix_origin_info", "prefix", "198.18.0.0/16", "origin", "64500") == -1
	})

	// Path change, same origin.
	sp.announce("198.18.0.0/16", 64499, 64666)
	i, ev = tf.ev.wait(t, i+1, evTimeout, "path change", isRoute(model.RoutePathChange, "198.18.0.0/16"))
	if r := ev.(model.RouteEvent); !slices.Equal(r.ASPath, u32s(65001, 64499, 64666)) || !slices.Equal(r.PrevASPath, u32s(65001, 64666)) {
		t.Errorf("path change = %+v", r)
	}

	// An unwatched prefix is not imported.
	sp.announce("203.0.113.0/24", 64500)
	sp.withdraw("198.18.1.0/24")
	i, ev = tf.ev.wait(t, i+1, evTimeout, "withdraw", isRoute(model.RouteWithdraw, "198.18.1.0/24"))
	if r := ev.(model.RouteEvent); r.VisiblePeers != 0 || r.PrevOrigin != 64500 {
		t.Errorf("withdraw = %+v", r)
	}
	for _, e := range tf.ev.all() {
		if r, ok := e.(model.RouteEvent); ok && r.Prefix.Addr().Is4() && netip.MustParsePrefix("203.0.113.0/24") == r.Prefix {
			t.Errorf("unwatched prefix produced %+v", r)
		}
	}
	v, _ := tf.Routes("")
	if len(v.Routes) != 1 || v.Routes[0].Prefix != netip.MustParsePrefix("198.18.0.0/16") {
		t.Errorf("Routes() = %+v, want only 198.18.0.0/16", v.Routes)
	}
	if got := tf.gauge(t, "reachmon_bgp_updates_total", "peer", sp.addr, "kind", "withdraw"); got != 1 {
		t.Errorf("updates_total{kind=withdraw} = %v, want 1", got)
	}
	_ = i
}

func TestFeedIPv6OverIPv4Session(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	tf := startFeed(t, watchPrefixes(wp("2001:db8::/32", 64500)), []*speaker{sp})
	n := upAndSynced(t, tf, sp)
	sp.announce("2001:db8:1::/48", 64500)
	i, ev := tf.ev.wait(t, n, evTimeout, "v6 more-specific", isRoute(model.RouteMoreSpecific, "2001:db8:1::/48"))
	if r := ev.(model.RouteEvent); r.Origin != 64500 || r.Watched != netip.MustParsePrefix("2001:db8::/32") {
		t.Errorf("event = %+v", r)
	}
	sp.announce("2001:db8::/32", 64500)
	sp.announce("2001:db9::/32", 64500) // not watched
	i, _ = tf.ev.wait(t, i+1, evTimeout, "v6 announce", isRoute(model.RouteAnnounce, "2001:db8::/32"))
	sp.withdraw("2001:db8:1::/48")
	tf.ev.wait(t, i+1, evTimeout, "v6 withdraw", isRoute(model.RouteWithdraw, "2001:db8:1::/48"))
	v, err := tf.Routes("2001:db8:1::1")
	if err != nil || len(v.Routes) != 1 || v.Routes[0].Prefix != netip.MustParsePrefix("2001:db8::/32") {
		t.Errorf("Routes(2001:db8:1::1) = %+v, %v", v.Routes, err)
	}
}

// The Facebook shape (4 Oct 2021): the /24s and the /23 holding the
// nameservers are withdrawn while the covering /17 stays.
func TestFeedFacebookShape(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	for _, p := range []string{"129.134.0.0/17", "129.134.30.0/23", "129.134.30.0/24", "129.134.31.0/24"} {
		sp.announce(p, 32934)
	}
	tf := startFeed(t, watchPrefixes(wp("129.134.0.0/17", 32934)), []*speaker{sp})
	ns := []netip.Addr{netip.MustParseAddr("129.134.30.12"), netip.MustParseAddr("129.134.31.12")}
	if err := tf.SetNameserverAddrs("facebook.com.", ns); err != nil {
		t.Fatal(err)
	}
	n := upAndSynced(t, tf, sp)
	for _, e := range tf.ev.all()[:n] {
		if r, ok := e.(model.RouteEvent); ok && !r.Initial {
			t.Errorf("initial table produced a non-initial event %+v", r)
		}
		if _, ok := e.(model.CoverEvent); ok {
			t.Errorf("initial table produced a cover event %+v", e)
		}
	}
	v, _ := tf.Routes("129.134.30.12")
	if len(v.Addresses) != 1 || v.Addresses[0].Current == nil || v.Addresses[0].Current.Prefix != netip.MustParsePrefix("129.134.30.0/24") ||
		v.Addresses[0].Healthy.Prefix != netip.MustParsePrefix("129.134.30.0/24") {
		t.Fatalf("address view before = %+v", v.Addresses)
	}
	if len(v.Routes) != 3 { // /17, /23, /24
		t.Errorf("routes covering 129.134.30.12 = %d, want 3: %+v", len(v.Routes), v.Routes)
	}

	sp.withdraw("129.134.30.0/24")
	sp.withdraw("129.134.31.0/24")
	sp.withdraw("129.134.30.0/23")
	_, ev := tf.ev.wait(t, n, evTimeout, "cover withdrawn", isCover(model.CoverWithdrawn, "129.134.30.12"))
	c := ev.(model.CoverEvent)
	if c.Healthy == nil || c.Healthy.Prefix != netip.MustParsePrefix("129.134.30.0/24") || c.Healthy.Peers != 0 {
		t.Errorf("healthy = %+v", c.Healthy)
	}
	if len(c.Roles) != 1 || c.Roles[0] != (model.AddressRole{Kind: "nameserver", Name: "facebook.com."}) {
		t.Errorf("roles = %+v", c.Roles)
	}
	tf.ev.wait(t, n, evTimeout, "cover withdrawn 2", isCover(model.CoverWithdrawn, "129.134.31.12"))
	eventually(t, evTimeout, "final state", func() bool {
		v, _ := tf.Routes("129.134.30.12")
		return len(v.Addresses) == 1 && v.Addresses[0].Degraded && v.Addresses[0].Current != nil &&
			v.Addresses[0].Current.Prefix == netip.MustParsePrefix("129.134.0.0/17")
	})
	if got := tf.gauge(t, "reachmon_bgp_addresses_degraded", "role", "nameserver", "name", "facebook.com."); got != 2 {
		t.Errorf("addresses_degraded = %v, want 2", got)
	}
	for _, w := range []string{"129.134.30.0/24", "129.134.31.0/24", "129.134.30.0/23"} {
		tf.ev.wait(t, n, evTimeout, "withdraw "+w, isRoute(model.RouteWithdraw, w))
	}

	// Back again.
	sp.announce("129.134.30.0/23", 32934)
	sp.announce("129.134.30.0/24", 32934)
	tf.ev.wait(t, n, evTimeout, "restored", isCover(model.CoverRestored, "129.134.30.12"))
}

// A more-specific announced by another origin inside a watched prefix and
// over a resolver address.
func TestFeedMoreSpecificOtherOrigin(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	sp.announce("198.18.0.0/23", 64500)
	w := Watch{Prefixes: []model.WatchedPrefix{wp("198.18.0.0/23", 64500)}, Resolvers: map[string]netip.Addr{"lab": netip.MustParseAddr("198.18.0.53")}}
	tf := startFeed(t, w, []*speaker{sp})
	n := upAndSynced(t, tf, sp)
	sp.announce("198.18.0.0/24", 64666)
	_, ev := tf.ev.wait(t, n, evTimeout, "more-specific", isRoute(model.RouteMoreSpecific, "198.18.0.0/24"))
	if r := ev.(model.RouteEvent); !r.UnexpectedOrigin || r.Origin != 64666 || !slices.Equal(r.ExpectedOrigins, u32s(64500)) ||
		!slices.Equal(r.Covers, []netip.Addr{netip.MustParseAddr("198.18.0.53")}) {
		t.Errorf("event = %+v", r)
	}
	_, ev = tf.ev.wait(t, n, evTimeout, "cover more-specific", isCover(model.CoverMoreSpecific, "198.18.0.53"))
	if c := ev.(model.CoverEvent); !c.UnexpectedOrigin || c.Current.Prefix != netip.MustParsePrefix("198.18.0.0/24") ||
		c.Healthy.Prefix != netip.MustParsePrefix("198.18.0.0/23") {
		t.Errorf("cover event = %+v", c)
	}
}

// A lost session makes its routes unknown, not withdrawn; after the
// session is back and synced, a route that disappeared meanwhile is a
// withdrawal.
func TestFeedSessionDropAndReconnect(t *testing.T) {
	a := newSpeaker(t, "127.0.0.2", 65001)
	b := newSpeaker(t, "127.0.0.3", 65002)
	for _, sp := range []*speaker{a, b} {
		sp.announce("129.134.0.0/17", 32934)
	}
	a.announce("129.134.30.0/24", 32934)
	a.announce("129.134.31.0/24", 32934)
	tf := startFeed(t, watchPrefixes(wp("129.134.0.0/17", 32934)), []*speaker{a, b})
	if err := tf.SetNameserverAddrs("facebook.com.", []netip.Addr{netip.MustParseAddr("129.134.30.12")}); err != nil {
		t.Fatal(err)
	}
	upAndSynced(t, tf, a)
	n := upAndSynced(t, tf, b)

	a.disable()
	i, ev := tf.ev.wait(t, n, evTimeout, "peer down", isPeer(model.PeerDown, a.addr))
	if p := ev.(model.PeerEvent); p.Routes != 3 {
		t.Errorf("peer down = %+v, want 3 routes", p)
	}
	// Everything before the PeerDown is all the feed will say about the
	// drop; no withdrawal may precede it. (On a loaded machine a's initial
	// announcements were seen arriving after b had synced, just before
	// the PeerDown: late, not caused by the drop.)
	for _, e := range tf.ev.all()[n:i] {
		switch x := e.(type) {
		case model.RouteEvent:
			if x.Kind == model.RouteWithdraw || !x.Initial {
				t.Errorf("session drop produced %+v", x)
			}
		case model.CoverEvent:
			if x.Kind == model.CoverWithdrawn {
				t.Errorf("session drop produced %+v", x)
			}
		}
	}
	if got := tf.gauge(t, "reachmon_bgp_peer_up", "peer", a.addr); got != 0 {
		t.Errorf("peer_up = %v, want 0", got)
	}
	if got := tf.gauge(t, "reachmon_bgp_prefix_visible_peers", "prefix", "129.134.0.0/17"); got != 1 {
		t.Errorf("visible peers of /17 = %v, want 1 (only b)", got)
	}
	// b still speaks: a real withdrawal from b is news.
	b.withdraw("129.134.0.0/17")
	i, _ = tf.ev.wait(t, i, evTimeout, "withdraw from b", func(e model.Event) bool {
		r, ok := e.(model.RouteEvent)
		return ok && r.Kind == model.RouteWithdraw && r.Peer == b.addr
	})
	// …but the nameserver's /24 is only unknown, not withdrawn.
	for _, e := range tf.ev.all()[n:] {
		if c, ok := e.(model.CoverEvent); ok && c.Kind == model.CoverWithdrawn {
			t.Errorf("cover withdrawn while its only carrier was down: %+v", c)
		}
	}
	b.announce("129.134.0.0/17", 32934)

	// While a is down, it drops the /24 holding the nameserver.
	a.withdraw("129.134.30.0/24")
	a.enable()
	j, _ := tf.ev.wait(t, i, 30*time.Second, "peer up again", isPeer(model.PeerUp, a.addr))
	k, _ := tf.ev.wait(t, j, evTimeout, "synced again", isPeer(model.PeerSynced, a.addr))
	for _, e := range tf.ev.all()[j:k] {
		if r, ok := e.(model.RouteEvent); ok && !r.Initial {
			t.Errorf("re-sent table produced non-initial %+v", r)
		}
	}
	_, ev = tf.ev.wait(t, k, evTimeout, "withdraw found at resync", func(e model.Event) bool {
		r, ok := e.(model.RouteEvent)
		return ok && r.Kind == model.RouteWithdraw && r.Peer == a.addr && r.Prefix == netip.MustParsePrefix("129.134.30.0/24")
	})
	if r := ev.(model.RouteEvent); !r.Resync || r.Initial {
		t.Errorf("resync withdraw = %+v", r)
	}
	tf.ev.wait(t, k, evTimeout, "cover withdrawn after resync", isCover(model.CoverWithdrawn, "129.134.30.12"))
}

// Nameserver addresses discovered at run time change the import policy in
// place: routes already received are imported without a session reset.
func TestFeedWatchedSetChangesAtRunTime(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	sp.announce("192.0.2.0/24", 64496)
	sp.announce("192.0.0.0/16", 64496)
	sp.announce("2001:db8::/32", 64496)
	tf := startFeed(t, Watch{}, []*speaker{sp})
	n := upAndSynced(t, tf, sp)
	if v, _ := tf.Routes(""); len(v.Routes) != 0 {
		t.Fatalf("routes before watching = %+v", v.Routes)
	}
	since := tf.Peers()[0].Since

	if err := tf.SetNameserverAddrs("example.", []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8::53")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"192.0.2.0/24", "192.0.0.0/16", "2001:db8::/32"} {
		tf.ev.wait(t, n, evTimeout, "imported "+p, isRoute(model.RouteAnnounce, p))
	}
	v, _ := tf.Routes("192.0.2.53")
	if len(v.Addresses) != 1 || v.Addresses[0].Current == nil || v.Addresses[0].Current.Prefix != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("address view = %+v", v.Addresses)
	}
	// A route announced later is imported directly.
	sp.announce("192.0.2.0/25", 64496)
	tf.ev.wait(t, n, evTimeout, "new covering /25", isRoute(model.RouteAnnounce, "192.0.2.0/25"))

	// Forgetting the zone drops its routes.
	if err := tf.SetNameserverAddrs("example.", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, evTimeout, "routes forgotten", func() bool {
		v, _ := tf.Routes("")
		return len(v.Routes) == 0 && len(v.Addresses) == 0
	})
	sp.announce("192.0.2.0/26", 64496)
	for _, e := range tf.ev.all() {
		if p, ok := e.(model.PeerEvent); ok && p.Kind == model.PeerDown {
			t.Errorf("watched-set change reset the session: %+v", p)
		}
	}
	if got := tf.Peers()[0]; got.State != "up" || !got.Since.Equal(since) {
		t.Errorf("peer after changes = %+v (since before %v)", got, since)
	}
}

// A peer over its prefix limit is cut off and reported; the feed and the
// other peers carry on.
func TestFeedMaxPrefixes(t *testing.T) {
	a := newSpeaker(t, "127.0.0.2", 65001)
	b := newSpeaker(t, "127.0.0.3", 65002)
	b.announce("198.18.0.0/16", 64500)
	tf := startFeed(t, watchPrefixes(wp("198.18.0.0/15")), []*speaker{a, b}, func(c *config.BGP, _ *Options) {
		c.Neighbor[0].MaxPrefixes = 3
	})
	upAndSynced(t, tf, a)
	n := upAndSynced(t, tf, b)
	for i := range 5 {
		a.announce(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i), 0}), 24).String(), 64500)
	}
	_, ev := tf.ev.wait(t, n, evTimeout, "peer cut off", isPeer(model.PeerDown, a.addr))
	if p := ev.(model.PeerEvent); p.Reason != "max_prefixes_exceeded" {
		t.Errorf("peer down = %+v, want reason max_prefixes_exceeded", p)
	}
	peers := tf.Peers()
	if peers[0].State != "down" || peers[0].Reason != "max_prefixes_exceeded" || peers[1].State != "up" {
		t.Errorf("peers = %+v", peers)
	}
	b.announce("198.18.1.0/24", 64500)
	tf.ev.wait(t, n, evTimeout, "b still feeds", isRoute(model.RouteMoreSpecific, "198.18.1.0/24"))
}

// A consumer that does not keep up loses events, which are counted; it
// then gets a snapshot of the whole state.
func TestFeedSlowConsumerGetsSnapshot(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	for i := range 20 {
		sp.announce(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24).String(), 64500)
	}
	cfg := config.BGP{ASN: feedASN, RouterID: feedAddr, InitialSyncTimeout: config.Duration{Duration: 300 * time.Millisecond},
		Neighbor: []config.Neighbor{sp.neighbor()}}
	ch := make(chan model.Event, 2)
	f, err := New(cfg, watchPrefixes(wp("198.18.0.0/16")), Options{Events: ch, WithdrawSettle: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := startRun(t, f)
	defer cancel()
	eventually(t, upTimeout, "dropped events counted", func() bool {
		return testutilCounter(f, "evaluator") > 0
	})
	eventually(t, upTimeout, "all routes in state", func() bool {
		v, _ := f.Routes("")
		return len(v.Routes) == 20
	})
	// Drain: a snapshot follows with the whole state.
	deadline := time.After(evTimeout)
	for {
		select {
		case ev := <-ch:
			if s, ok := ev.(model.BGPSnapshot); ok && len(s.Routes) == 20 {
				return
			}
		case <-deadline:
			t.Fatal("no snapshot after drops")
		case <-ctx.Done():
			t.Fatal("context done")
		}
	}
}

// Overflowing the feed's own queue is repaired from the RIB.
func TestFeedQueueOverflowResyncs(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	for i := range 200 {
		sp.announce(netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i), 0}), 24).String(), 64500)
	}
	tf := startFeed(t, watchPrefixes(wp("198.18.0.0/16")), []*speaker{sp}, func(_ *config.BGP, o *Options) {
		o.QueueSize = 1
		o.TickInterval = 50 * time.Millisecond
	})
	eventually(t, upTimeout, "all 200 routes after resync", func() bool {
		v, _ := tf.Routes("")
		return len(v.Routes) == 200
	})
	if d := tf.gauge(t, "reachmon_bgp_events_dropped_total", "queue", "feed"); d > 0 {
		if r := tf.gauge(t, "reachmon_bgp_resyncs_total"); r < 1 {
			t.Errorf("%v events dropped but resyncs_total = %v", d, r)
		}
	} else {
		t.Logf("queue did not overflow this time (dropped=%v)", d)
	}
}

func TestFeedDisabled(t *testing.T) {
	f, err := New(config.BGP{}, Watch{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Enabled() {
		t.Error("Enabled() with asn = 0")
	}
	_, cancel := startRun(t, f)
	cancel()
	if v := f.PeersView(); v.Enabled || len(v.Peers) != 0 {
		t.Errorf("PeersView = %+v", v)
	}
}

func TestNewReportsMissingPassword(t *testing.T) {
	cfg := config.BGP{ASN: 64512, RouterID: "192.0.2.1", Neighbor: []config.Neighbor{
		{Address: "192.0.2.2", PeerASN: 64500, PasswordEnv: "REACHMON_TEST_UNSET_PASSWORD"},
	}}
	_, err := New(cfg, Watch{}, Options{})
	if err == nil || err.Error() != "bgp: bgp.neighbor[0] (192.0.2.2): password: environment variable REACHMON_TEST_UNSET_PASSWORD is not set" {
		t.Errorf("err = %v", err)
	}
	t.Setenv("REACHMON_TEST_PASSWORD", "s3cret-md5")
	cfg.Neighbor[0].PasswordEnv = "REACHMON_TEST_PASSWORD"
	if _, err := New(cfg, Watch{}, Options{}); err != nil {
		t.Errorf("with password set: %v", err)
	}
}
