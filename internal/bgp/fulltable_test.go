package bgp

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// TestFeedKeepsFullTableNeighborsOutOfGoBGP: a full_table neighbor gets
// no GoBGP peer and no state of its own from the configuration (the
// session Manager adds it through a Source keyed by its address); GoBGP
// never connects to it; its Source-fed routes reach the state; a reload
// that makes it an ordinary neighbor hands it to GoBGP, and the Source's
// late RemovePeer leaves the embedded peer alone.
func TestFeedKeepsFullTableNeighborsOutOfGoBGP(t *testing.T) {
	sp1 := newSpeaker(t, "127.0.0.2", 65001)
	sp2 := newSpeaker(t, "127.0.0.3", 65002) // waits passively: GoBGP must not connect while it is full_table
	sp1.announce("198.51.100.0/24", 64500)
	sp2.announce("198.51.100.0/24", 64501, 64500)
	w := watchPrefixes(wp("198.51.100.0/24", 64500))
	ft := sp2.neighbor()
	ft.FullTable = true
	var src *Source
	tf := startFeed(t, w, []*speaker{sp1}, func(c *config.BGP, o *Options) {
		c.Neighbor = append(c.Neighbor, ft)
	})
	upAndSynced(t, tf, sp1)
	for _, p := range tf.Peers() {
		if p.Peer == sp2.addr {
			t.Fatalf("full_table neighbor %s has a configuration-created peer state: %+v", sp2.addr, p)
		}
	}
	tf.watchMu.Lock()
	s := tf.srv
	tf.watchMu.Unlock()
	states, err := listPeerStates(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := states[sp2.addr]; ok || len(states) != 1 {
		t.Fatalf("GoBGP peers = %v, want only %s", states, sp1.addr)
	}
	time.Sleep(1500 * time.Millisecond) // more than the connect retry (1s)
	if !sp2.sessionUptime(t).IsZero() {
		t.Fatal("GoBGP connected to the full_table neighbor")
	}

	// What the session Manager does: the peer through a Source of
	// model.SourceBGP (built directly: NewSource must come before Run).
	src = &Source{f: tf.Feed, name: model.SourceBGP}
	now := time.Now()
	src.AddPeer(PeerSpec{Key: sp2.addr, Label: "peer 127.0.0.3 (AS65002)", ASN: 65002, Families: []int{4}})
	src.PeerUp(sp2.addr, now)
	src.Route(sp2.addr, now, Route{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Origin: 64500, ASPath: []uint32{65002, 64501, 64500}})
	src.EndOfRIB(sp2.addr, now, 4)
	n, _ := tf.ev.wait(t, 0, evTimeout, "full_table peer synced", isPeer(model.PeerSynced, sp2.addr))
	eventually(t, evTimeout, "both peers' routes in the view", func() bool {
		return tf.gauge(t, "reachmon_bgp_prefix_visible_peers", "prefix", "198.51.100.0/24") == 2
	})
	// A GoBGP-side item for a source's peer is ignored (a stale event of
	// a neighbor a reload moved).
	tf.mu.Lock()
	tf.st.apply(item{kind: itemPeer, t: time.Now(), peer: sp2.addr})
	up := tf.st.peers[sp2.addr].up
	tf.mu.Unlock()
	if !up {
		t.Fatal("an embedded-speaker item took the full_table peer down")
	}

	// Reload: the neighbor is ordinary now. GoBGP adds it, the state
	// makes it an embedded peer, the Manager's RemovePeer is ignored.
	ch, err := tf.Reconfigure([]config.Neighbor{sp1.neighbor(), sp2.neighbor()}, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Added, []string{sp2.addr}) || len(ch.Removed)+len(ch.Reset) != 0 {
		t.Fatalf("changes = %+v, want %s added to the embedded speaker", ch, sp2.addr)
	}
	src.RemovePeer(sp2.addr)
	tf.ev.wait(t, n, upTimeout, "now-ordinary peer synced through GoBGP", isPeer(model.PeerSynced, sp2.addr))
	eventually(t, evTimeout, "the embedded peer carries the route", func() bool {
		return tf.gauge(t, "reachmon_bgp_prefix_visible_peers", "prefix", "198.51.100.0/24") == 2
	})

	// And back: full_table again removes it from GoBGP and the state.
	ch, err = tf.Reconfigure([]config.Neighbor{sp1.neighbor(), ft}, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.Removed, []string{sp2.addr}) {
		t.Fatalf("changes = %+v, want %s removed from the embedded speaker", ch, sp2.addr)
	}
	eventually(t, evTimeout, "GoBGP's session to the now full_table neighbor closed", func() bool { return sp2.sessionUptime(t).IsZero() })
	for _, p := range tf.Peers() {
		if p.Peer == sp2.addr {
			t.Errorf("peer %s still in the view after it became full_table (before the Manager adds it)", sp2.addr)
		}
	}
}

// TestFullTableListenerLeavesThePortToTheManager: when a passive
// full_table neighbor owns the listener, GoBGP does not bind it.
func TestFullTableListenerLeavesThePortToTheManager(t *testing.T) {
	port := freePort(t, feedAddr)
	cfg := config.BGP{ASN: feedASN, RouterID: feedAddr, ListenPort: port, ListenAddresses: []string{feedAddr},
		Neighbor: []config.Neighbor{{Address: "127.0.0.9", PeerASN: 65009, Passive: true, FullTable: true}}}
	f, err := New(cfg, Watch{}, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := startRun(t, f)
	defer stop()
	eventually(t, evTimeout, "speaker started", func() bool {
		f.watchMu.Lock()
		defer f.watchMu.Unlock()
		return f.srv != nil
	})
	l, err := net.Listen("tcp", net.JoinHostPort(feedAddr, strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("GoBGP holds the port the full_table speaker owns: %v", err)
	}
	l.Close()
	if len(f.Peers()) != 0 {
		t.Errorf("peers = %+v, want none from the configuration", f.Peers())
	}
}
