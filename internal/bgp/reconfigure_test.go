package bgp

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// sessionUptime is when the speaker's session with the feed was
// established, as the speaker (the other end) sees it; zero when it is not
// established.
func (sp *speaker) sessionUptime(t *testing.T) time.Time {
	t.Helper()
	var up time.Time
	err := sp.s.ListPeer(context.Background(), &api.ListPeerRequest{Address: feedAddr}, func(p *api.Peer) {
		if p.GetState().GetSessionState() == api.PeerState_ESTABLISHED {
			up = p.GetTimers().GetState().GetUptime().AsTime()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// countPeer counts the feed's events of kind for peer from index from.
func countPeer(evs []model.Event, from int, kind model.PeerEventKind, peer string) int {
	n := 0
	for _, e := range evs[from:] {
		if isPeer(kind, peer)(e) {
			n++
		}
	}
	return n
}

// TestFeedReconfigureResetsOnlyTheChangedNeighbor runs the feed against
// two in-process GoBGP routers, then reloads: a changed neighbor's session
// is reset (down, up, synced again) while the other stays established the
// whole time (no PeerDown event, the far end's session uptime unchanged);
// then a removed neighbor disappears with its series and routes, and an
// added one comes up, the first session still untouched.
func TestFeedReconfigureResetsOnlyTheChangedNeighbor(t *testing.T) {
	sp1 := newSpeaker(t, "127.0.0.2", 65001)
	sp2 := newSpeaker(t, "127.0.0.3", 65002)
	// Every GoBGP instance starts before the feed: StartBgp writes
	// package-level settings that running instances read (a data race
	// inside GoBGP v3.37).
	sp3 := newSpeaker(t, "127.0.0.4", 65003)
	sp1.announce("198.51.100.0/24", 64500)
	sp2.announce("198.51.100.0/24", 64500)
	w := watchPrefixes(wp("198.51.100.0/24", 64500))
	tf := startFeed(t, w, []*speaker{sp1, sp2})
	upAndSynced(t, tf, sp1)
	n := upAndSynced(t, tf, sp2)
	up1 := sp1.sessionUptime(t)
	if up1.IsZero() {
		t.Fatal("sp1's session is not established")
	}

	// sp2's neighbor changes (its description and hold time): reset alone.
	changed := sp2.neighbor()
	changed.Description = "transit B"
	changed.HoldTime = config.Duration{Duration: 12 * time.Second}
	ch, err := tf.Reconfigure([]config.Neighbor{sp1.neighbor(), changed}, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Reset, []string{sp2.addr}) || len(ch.Added)+len(ch.Removed) != 0 {
		t.Fatalf("changes = %+v, want only %s reset", ch, sp2.addr)
	}
	i, _ := tf.ev.wait(t, n, evTimeout, "changed peer down", isPeer(model.PeerDown, sp2.addr))
	tf.ev.wait(t, i, upTimeout, "changed peer up again", isPeer(model.PeerUp, sp2.addr))
	i, _ = tf.ev.wait(t, i, upTimeout, "changed peer synced again", isPeer(model.PeerSynced, sp2.addr))
	n = i + 1
	if got := countPeer(tf.ev.all(), 0, model.PeerDown, sp1.addr); got != 0 {
		t.Errorf("the unchanged neighbor's session went down %d times", got)
	}
	if got := sp1.sessionUptime(t); !got.Equal(up1) {
		t.Errorf("the unchanged neighbor's session was re-established (uptime %v, was %v)", got, up1)
	}
	if got := tf.gauge(t, "reachmon_bgp_prefix_visible_peers", "prefix", "198.51.100.0/24"); got != 2 {
		t.Errorf("visible peers after the reset = %v, want 2", got)
	}
	for _, p := range tf.Peers() {
		if p.Peer == sp2.addr && p.Description != "transit B" {
			t.Errorf("peer view of %s: description %q, want the new one", p.Peer, p.Description)
		}
	}

	// sp2 removed, sp3 added.
	ch, err = tf.Reconfigure([]config.Neighbor{sp1.neighbor(), sp3.neighbor()}, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Removed, []string{sp2.addr}) || !slices.Equal(ch.Added, []string{sp3.addr}) || len(ch.Reset) != 0 {
		t.Fatalf("changes = %+v, want %s removed and %s added", ch, sp2.addr, sp3.addr)
	}
	tf.ev.wait(t, n, upTimeout, "added peer up", isPeer(model.PeerUp, sp3.addr))
	eventually(t, evTimeout, "removed peer gone from the view and the metrics", func() bool {
		for _, p := range tf.Peers() {
			if p.Peer == sp2.addr {
				return false
			}
		}
		return tf.gauge(t, "reachmon_bgp_peer_up", "peer", sp2.addr) == -1 &&
			tf.gauge(t, "reachmon_bgp_prefix_visible_peers", "prefix", "198.51.100.0/24") == 1
	})
	if got := countPeer(tf.ev.all(), n, model.PeerDown, sp2.addr); got != 0 {
		t.Errorf("a removed neighbor reported %d PeerDown events (its routes are forgotten, not unknown)", got)
	}
	if got := countPeer(tf.ev.all(), 0, model.PeerDown, sp1.addr); got != 0 {
		t.Errorf("the unchanged neighbor's session went down %d times", got)
	}
	if got := sp1.sessionUptime(t); !got.Equal(up1) {
		t.Errorf("the unchanged neighbor's session was re-established (uptime %v, was %v)", got, up1)
	}
	eventually(t, evTimeout, "removed neighbor's session closed at its end", func() bool { return sp2.sessionUptime(t).IsZero() })
}

// TestFeedReconfigureWatchedSet reloads the watched prefixes: a new
// prefix's routes are imported without any session reset, and the
// nameservers of zones no longer configured stop being watched.
func TestFeedReconfigureWatchedSet(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	sp.announce("198.51.100.0/24", 64500)
	sp.announce("203.0.113.0/24", 64501)
	tf := startFeed(t, watchPrefixes(wp("198.51.100.0/24", 64500)), []*speaker{sp})
	if err := tf.SetNameserverAddrs("gone.example.", []netip.Addr{netip.MustParseAddr("198.51.100.53")}); err != nil {
		t.Fatal(err)
	}
	n := upAndSynced(t, tf, sp)
	up := sp.sessionUptime(t)
	w := watchPrefixes(wp("198.51.100.0/24", 64500), wp("203.0.113.0/24", 64501))
	if _, err := tf.Reconfigure([]config.Neighbor{sp.neighbor()}, w, []string{"kept.example."}); err != nil {
		t.Fatal(err)
	}
	tf.ev.wait(t, n, evTimeout, "the new prefix's route", isRoute(model.RouteAnnounce, "203.0.113.0/24"))
	v, err := tf.Routes("198.51.100.53")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Addresses) != 0 {
		t.Errorf("the removed zone's nameserver is still watched: %+v", v.Addresses)
	}
	if got := countPeer(tf.ev.all(), 0, model.PeerDown, sp.addr); got != 0 || !sp.sessionUptime(t).Equal(up) {
		t.Errorf("changing the watched set reset the session (%d PeerDown events)", got)
	}
}
