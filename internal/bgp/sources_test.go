package bgp

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// startSourceFeed runs a feed without an embedded speaker, with one
// registered source.
func startSourceFeed(t *testing.T, w Watch) (*testFeed, *Source) {
	t.Helper()
	ch := make(chan model.Event, 4096)
	reg := prometheus.NewRegistry()
	cfg := config.BGP{InitialSyncTimeout: config.Duration{Duration: 300 * time.Millisecond}}
	f, err := New(cfg, w, Options{Logger: testLogger(t), Registerer: reg, Events: ch})
	if err != nil {
		t.Fatal(err)
	}
	if f.Enabled() {
		t.Fatal("Enabled() before any source")
	}
	src := f.NewSource(model.SourceBMP)
	if !f.Enabled() {
		t.Fatal("Enabled() false with a source")
	}
	ctx, cancel := context.WithCancel(context.Background())
	tf := &testFeed{Feed: f, reg: reg, ev: collect(ctx, ch), cancel: cancel, done: make(chan error, 1)}
	go func() { tf.done <- f.Run(ctx) }()
	t.Cleanup(func() { tf.stop(t) })
	return tf, src
}

// TestSourcePeersFeedTheState: a source's peers are added at run time
// with their source, label and feed; their routes, End-of-RIB, session
// loss (routes unknown, not withdrawn) and the feed's own state reach
// the same state, events, API and metrics as the embedded speaker's.
func TestSourcePeersFeedTheState(t *testing.T) {
	ns := netip.MustParseAddr("198.18.7.53")
	tf, src := startSourceFeed(t, Watch{
		Prefixes:    []model.WatchedPrefix{wp("198.18.0.0/16", 64500)},
		Nameservers: map[string][]netip.Addr{"example.com.": {ns}},
	})
	const key, feed = "bmp edge1 192.0.2.1", "bmp router edge1"
	now := time.Now()
	src.SetFeed(model.BGPFeed{Feed: feed, Name: "edge1", Address: netip.MustParseAddr("192.0.2.10"), State: "up", SysName: "edge1.example"})
	i, ev := tf.ev.wait(t, 0, evTimeout, "feed up", func(e model.Event) bool { f, ok := e.(model.FeedEvent); return ok && f.Up })
	if fe := ev.(model.FeedEvent); fe.Feed != feed || fe.Source != model.SourceBMP || fe.Label != "bmp router edge1 (192.0.2.10)" {
		t.Errorf("feed event = %+v", fe)
	}
	src.AddPeer(PeerSpec{Key: key, Feed: feed, Label: "router edge1, peer 192.0.2.1 (AS64500)", ASN: 64500, Families: []int{4}})
	src.PeerUp(key, now)
	i, ev = tf.ev.wait(t, i+1, evTimeout, "peer up", isPeer(model.PeerUp, key))
	if pe := ev.(model.PeerEvent); pe.Source != model.SourceBMP || pe.Label != "router edge1, peer 192.0.2.1 (AS64500)" || pe.Feed != feed || pe.PeerASN != 64500 {
		t.Errorf("peer up = %+v", pe)
	}
	if src.Watched(netip.MustParsePrefix("203.0.113.0/24")) || !src.Watched(netip.MustParsePrefix("198.18.7.0/24")) ||
		!src.Watched(netip.MustParsePrefix("198.0.0.0/8")) {
		t.Error("Watched disagrees with the watched set")
	}
	src.Route(key, now, Route{Prefix: netip.MustParsePrefix("198.18.0.0/16"), Origin: 64500, ASPath: u32s(64500)})
	src.Route(key, now, Route{Prefix: netip.MustParsePrefix("198.18.7.0/24"), Origin: 64500, ASPath: u32s(64500)})
	src.EndOfRIB(key, now, 4)
	i, ev = tf.ev.wait(t, i+1, evTimeout, "synced", isPeer(model.PeerSynced, key))
	if pe := ev.(model.PeerEvent); !pe.ByEndOfRIB || pe.Routes != 2 {
		t.Errorf("synced = %+v", pe)
	}
	v := tf.PeersView()
	if !v.Enabled || len(v.Peers) != 1 || v.Peers[0].Source != model.SourceBMP || v.Peers[0].Feed != feed || v.Peers[0].Routes != 2 || v.Peers[0].State != "up" {
		t.Errorf("PeersView = %+v", v)
	}
	if len(v.Feeds) != 1 || v.Feeds[0].SysName != "edge1.example" || v.Feeds[0].Peers != 1 {
		t.Errorf("feeds = %+v", v.Feeds)
	}
	if got := tf.gauge(t, "reachmon_bgp_peer_up", "peer", key); got != 1 {
		t.Errorf("reachmon_bgp_peer_up = %v", got)
	}

	// A withdrawal after sync is news.
	src.Route(key, time.Now(), Route{Prefix: netip.MustParsePrefix("198.18.7.0/24"), Withdraw: true})
	i, _ = tf.ev.wait(t, i+1, evTimeout, "withdraw", isRoute(model.RouteWithdraw, "198.18.7.0/24"))
	i, _ = tf.ev.wait(t, i+1, evTimeout, "cover withdrawn", isCover(model.CoverWithdrawn, ns.String()))

	// The feed goes: the peer is down, its routes unknown, not withdrawn.
	src.SetFeed(model.BGPFeed{Feed: feed, Name: "edge1", State: "down", Reason: "connection closed"})
	src.PeerDown(key, time.Now(), "bmp_session_lost")
	i, ev = tf.ev.wait(t, i+1, evTimeout, "peer down", isPeer(model.PeerDown, key))
	if pe := ev.(model.PeerEvent); pe.Routes != 1 || pe.Reason != "bmp_session_lost" {
		t.Errorf("peer down = %+v", pe)
	}
	time.Sleep(200 * time.Millisecond)
	for _, e := range tf.ev.all()[i:] {
		if r, ok := e.(model.RouteEvent); ok && r.Kind == model.RouteWithdraw {
			t.Errorf("route withdrawn by a lost feed: %+v", r)
		}
	}
	fl := 0
	for _, e := range tf.ev.all() {
		if f, ok := e.(model.FeedEvent); ok && !f.Up && f.Reason == "connection closed" {
			fl++
		}
	}
	if fl != 1 {
		t.Errorf("feed down events = %d, want 1", fl)
	}
	if v := tf.PeersView(); v.Peers[0].State != "down" || v.Feeds[0].State != "down" || v.Feeds[0].Peers != 0 {
		t.Errorf("after loss: %+v", v)
	}

	// Removed: forgotten with its routes and metrics, and the evaluator
	// told so (PeerRemoved, with its source, label and feed).
	src.RemovePeer(key)
	eventually(t, evTimeout, "peer removed", func() bool { return len(tf.PeersView().Peers) == 0 })
	_, ev = tf.ev.wait(t, i, evTimeout, "peer removed event", isPeer(model.PeerRemoved, key))
	if pe := ev.(model.PeerEvent); pe.Source != model.SourceBMP || pe.Feed != feed || pe.Label == "" {
		t.Errorf("peer removed = %+v", pe)
	}
	if got := tf.gauge(t, "reachmon_bgp_peer_up", "peer", key); got != -1 {
		t.Errorf("reachmon_bgp_peer_up of a removed peer = %v, want no series", got)
	}
}

// TestSourcePeerSyncsWhenQuiet: a source's peer that sends no End-of-RIB
// is synced once quiet for the initial-sync timeout; unwatched routes it
// reports as seen keep it from syncing early.
func TestSourcePeerSyncsWhenQuiet(t *testing.T) {
	tf, src := startSourceFeed(t, Watch{Prefixes: []model.WatchedPrefix{wp("198.18.0.0/16")}})
	const key = "ris rrc00 192.0.2.9"
	src.AddPeer(PeerSpec{Key: key, Label: "RIS rrc00 peer 192.0.2.9 (AS64501)", ASN: 64501})
	start := time.Now()
	src.PeerUp(key, start)
	src.Route(key, time.Now(), Route{Prefix: netip.MustParsePrefix("198.18.0.0/16"), Origin: 64500})
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		src.Seen(key, time.Now())
	}
	busyUntil := time.Now()
	_, ev := tf.ev.wait(t, 0, evTimeout, "synced", isPeer(model.PeerSynced, key))
	pe := ev.(model.PeerEvent)
	if pe.ByEndOfRIB || pe.Routes != 1 {
		t.Errorf("synced = %+v", pe)
	}
	if pe.Time.Before(busyUntil) {
		t.Errorf("synced at %v, before the peer's last message at %v", pe.Time, busyUntil)
	}
}

// TestSourceWidenedAt: a watched set that watches more moves WidenedAt;
// one that watches less does not.
func TestSourceWidenedAt(t *testing.T) {
	tf, src := startSourceFeed(t, Watch{Prefixes: []model.WatchedPrefix{wp("198.18.0.0/16")}})
	if src.WidenedAt() != 0 {
		t.Fatalf("WidenedAt = %d at start", src.WidenedAt())
	}
	if err := tf.SetNameserverAddrs("example.com.", []netip.Addr{netip.MustParseAddr("203.0.113.53")}); err != nil {
		t.Fatal(err)
	}
	g := src.WidenedAt()
	if g == 0 || g != src.WatchGeneration() || !src.Watched(netip.MustParsePrefix("203.0.113.0/24")) {
		t.Fatalf("after a new nameserver: WidenedAt %d, generation %d", g, src.WatchGeneration())
	}
	if err := tf.SetNameserverAddrs("example.com.", nil); err != nil {
		t.Fatal(err)
	}
	if src.WidenedAt() != g || src.WatchGeneration() == g {
		t.Errorf("narrowing moved WidenedAt to %d (generation %d)", src.WidenedAt(), src.WatchGeneration())
	}
}

// TestResyncKeepsSourceBGPPeers: a peer a Source adds with source bgp (a
// full_table neighbor's own session) is not in GoBGP's RIB; a resync from
// that RIB after dropped events leaves it and its routes alone.
func TestResyncKeepsSourceBGPPeers(t *testing.T) {
	ch := make(chan model.Event, 4096)
	cfg := config.BGP{ASN: 64512, RouterID: "127.0.0.1", InitialSyncTimeout: config.Duration{Duration: 300 * time.Millisecond}}
	f, err := New(cfg, Watch{Prefixes: []model.WatchedPrefix{wp("198.18.0.0/16", 64500)}},
		Options{Logger: testLogger(t), Registerer: prometheus.NewRegistry(), Events: ch})
	if err != nil {
		t.Fatal(err)
	}
	src := f.NewSource(model.SourceBGP)
	ctx, cancel := context.WithCancel(context.Background())
	tf := &testFeed{Feed: f, ev: collect(ctx, ch), cancel: cancel, done: make(chan error, 1)}
	go func() { tf.done <- f.Run(ctx) }()
	t.Cleanup(func() { tf.stop(t) })
	const key = "192.0.2.1"
	src.AddPeer(PeerSpec{Key: key, ASN: 64500, Families: []int{4}})
	src.PeerUp(key, time.Now())
	src.Route(key, time.Now(), Route{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Origin: 64500, ASPath: []uint32{64500}})
	up := func() bool {
		for _, p := range f.Peers() {
			if p.Peer == key {
				return p.State == "up" && p.Routes == 1
			}
		}
		return false
	}
	eventually(t, 5*time.Second, "source peer up with its route", up)
	eventually(t, 5*time.Second, "speaker started", func() bool {
		f.watchMu.Lock()
		defer f.watchMu.Unlock()
		return f.srv != nil
	})
	if err := f.resync(); err != nil {
		t.Fatal(err)
	}
	if !up() {
		t.Fatalf("after the resync: %+v", f.Peers())
	}
}
