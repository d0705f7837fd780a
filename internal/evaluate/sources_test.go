package evaluate

import (
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// bmpPeers are three peers of router edge1 seen over BMP.
var bmpPeers = []Peer{{Name: "bmp edge1 192.0.2.1", ASN: 64501}, {Name: "bmp edge1 192.0.2.2", ASN: 64502}, {Name: "bmp edge1 192.0.2.3", ASN: 64503}}

const bmpFeed = "bmp router edge1"

// bmpUp brings the router's feed and its peers up with an initial table.
func (w *world) bmpUp(routes map[string]uint32) {
	w.apply(model.FeedEvent{Time: w.now, Feed: bmpFeed, Source: model.SourceBMP, Label: "router edge1 (192.0.2.10)", Up: true})
	for _, p := range bmpPeers {
		label := "router edge1, peer " + p.Name[len("bmp edge1 "):]
		w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerUp, Peer: p.Name, PeerASN: p.ASN, Source: model.SourceBMP, Label: label, Feed: bmpFeed})
		for s, o := range routes {
			w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteAnnounce, Peer: p.Name, PeerASN: p.ASN,
				Prefix: mustPrefix(s), Origin: o, ASPath: []uint32{p.ASN, o}, Initial: true})
		}
		w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerSynced, Peer: p.Name, PeerASN: p.ASN, Routes: len(routes),
			ByEndOfRIB: true, Source: model.SourceBMP, Label: label, Feed: bmpFeed})
	}
}

// TestBMPRouterLossIsOneFeedLost: a router's BMP session going takes all
// its peers down (routes unknown, not withdrawn) and opens one feed_lost
// for the router, not one per peer; BGP verdicts are suspended meanwhile;
// the router coming back resolves it.
func TestBMPRouterLossIsOneFeedLost(t *testing.T) {
	tg := Targets{Vantage: "test", Feeds: []Feed{{Name: bmpFeed, Label: "router edge1 (192.0.2.10)", Source: model.SourceBMP}},
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("198.51.100.0/24"), Origins: []uint32{64500}}}}
	w := newWorld(t, testConfig(), tg)
	routes := map[string]uint32{"198.51.100.0/24": 64500}
	w.bmpUp(routes)
	w.tick(3 * time.Minute)
	if n := len(w.opened()); n != 0 {
		t.Fatalf("opened %v with everything up", kinds(w.opened()))
	}
	w.apply(model.FeedEvent{Time: w.now, Feed: bmpFeed, Source: model.SourceBMP, Up: false, Reason: "connection reset"})
	for _, p := range bmpPeers {
		w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerDown, Peer: p.Name, PeerASN: p.ASN, Routes: 1, Reason: "bmp_session_lost", Source: model.SourceBMP, Feed: bmpFeed})
	}
	w.tick(2 * time.Minute)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentFeedLost || open[0].Subject != bmpFeed {
		t.Fatalf("want one feed_lost for the router, got %+v", open)
	}
	mustContain(t, "root cause", open[0].RootCause, "The BMP session of router edge1 (192.0.2.10) is down (connection reset)",
		"the routes of its peers are unknown, not withdrawn", "suspended")
	if u, why := w.e.bgpUsable(w.now); u || why != "no BGP session is up" {
		t.Errorf("bgpUsable = %v %q with the only router gone", u, why)
	}
	w.bmpUp(routes)
	w.tick(2 * time.Minute)
	if n := len(w.of(model.ChangeResolve)); n != 1 || len(w.e.Open()) != 0 {
		t.Fatalf("resolves %d, open %v after the router came back", n, w.openKinds())
	}
}

// TestBMPRouterNeverConnected: a configured router that never connects is
// a lost feed after the start grace.
func TestBMPRouterNeverConnected(t *testing.T) {
	tg := Targets{Vantage: "test", Feeds: []Feed{{Name: bmpFeed, Label: "router edge1 (192.0.2.10)", Source: model.SourceBMP}}}
	w := newWorld(t, testConfig(), tg)
	w.tick(time.Minute)
	if len(w.opened()) != 0 {
		t.Fatalf("opened during the start grace: %v", kinds(w.opened()))
	}
	w.tick(2 * time.Minute)
	w.tick(2 * time.Minute)
	open := w.e.Open()
	if len(open) != 1 || open[0].Subject != bmpFeed {
		t.Fatalf("open = %+v", open)
	}
	mustContain(t, "root cause", open[0].RootCause, "The BMP session of router edge1 (192.0.2.10) has not come up since reachmon started")
	// Removed from the configuration: resolved.
	ch := w.e.Reconfigure(testConfig(), Targets{Vantage: "test"}, w.now)
	if len(ch) != 1 || ch[0].Type != model.ChangeResolve || ch[0].Reason != ReasonFeedRemoved {
		t.Errorf("reconfigure changes = %+v", ch)
	}
}

// TestBMPWithdrawalEvidenceNamesRouter: evidence of a route event from a
// BMP peer names the router and the peer; a withdrawal at every peer is
// the same prefix_withdrawn the embedded peers give.
func TestBMPWithdrawalEvidenceNamesRouter(t *testing.T) {
	tg := Targets{Vantage: "test", Feeds: []Feed{{Name: bmpFeed, Source: model.SourceBMP}},
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("198.51.100.0/24"), Origins: []uint32{64500}}}}
	w := newWorld(t, testConfig(), tg)
	w.bmpUp(map[string]uint32{"198.51.100.0/24": 64500})
	w.tick(3 * time.Minute)
	for _, p := range bmpPeers {
		w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: p.Name, PeerASN: p.ASN, Prefix: mustPrefix("198.51.100.0/24"),
			PrevOrigin: 64500, Watched: mustPrefix("198.51.100.0/24")})
	}
	w.runFor(5*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentPrefixWithdrawn {
		t.Fatalf("open = %+v", open)
	}
	found := false
	for _, l := range open[0].Evidence {
		if l.Text == "198.51.100.0/24 withdrawn, seen by 0 of 3 peers, last origin AS64500 (router edge1, peer 192.0.2.3)" {
			found = true
		}
	}
	if !found {
		t.Errorf("evidence does not name the router and peer: %+v", open[0].Evidence)
	}
}

// TestBMPViewFromSnapshotHasNoFeedLostOfItsOwn: a BMP view first known
// from a snapshot (after dropped events) keeps its feed: its being down is
// no feed_lost of its own.
func TestBMPViewFromSnapshotHasNoFeedLostOfItsOwn(t *testing.T) {
	w := newWorld(t, testConfig(), Targets{Vantage: "test"})
	w.tick(3 * time.Minute)
	view := func(state string) model.BGPSnapshot {
		return model.BGPSnapshot{Time: w.now, Peers: []model.BGPPeer{{Peer: "bmp edge1 192.0.2.9", PeerASN: 64509, State: state,
			Synced: state == "up", Since: w.now, Source: model.SourceBMP, Label: "router edge1, peer 192.0.2.9 (AS64509)", Feed: bmpFeed}}}
	}
	w.apply(view("up"))
	w.tick(time.Minute)
	w.apply(view("down"))
	w.tick(5 * time.Minute)
	w.tick(5 * time.Minute)
	if open := w.e.Open(); len(open) != 0 {
		t.Errorf("open = %+v", open)
	}
}

// TestBMPFeedLossFromSnapshot: a router's session lost while events were
// dropped is learnt from the snapshot that follows.
func TestBMPFeedLossFromSnapshot(t *testing.T) {
	tg := Targets{Vantage: "test", Feeds: []Feed{{Name: bmpFeed, Label: "router edge1 (192.0.2.10)", Source: model.SourceBMP}}}
	w := newWorld(t, testConfig(), tg)
	w.bmpUp(nil)
	w.tick(3 * time.Minute)
	w.apply(model.BGPSnapshot{Time: w.now, Feeds: []model.BGPFeed{{Feed: bmpFeed, Source: model.SourceBMP, State: "down", Since: w.now, Reason: "connection reset"}}})
	w.tick(2 * time.Minute)
	w.tick(2 * time.Minute)
	open := w.e.Open()
	if len(open) != 1 || open[0].Subject != bmpFeed || !strings.Contains(open[0].RootCause, "(connection reset)") {
		t.Fatalf("open = %+v", open)
	}
}

// TestBMPViewRemovedIsForgotten: a view the router no longer reports
// (PeerRemoved after its Peer Down) leaves /api/v1/status and no longer
// counts among the peers that carried a prefix: the other two views
// withdrawing it say "seen by 0 of 2 peers", not 3.
func TestBMPViewRemovedIsForgotten(t *testing.T) {
	pfx := mustPrefix("198.51.100.0/24")
	tg := Targets{Vantage: "test", Feeds: []Feed{{Name: bmpFeed, Source: model.SourceBMP}},
		Prefixes: []model.WatchedPrefix{{Prefix: pfx, Origins: []uint32{64500}}}}
	w := newWorld(t, testConfig(), tg)
	w.bmpUp(map[string]uint32{pfx.String(): 64500})
	w.tick(3 * time.Minute)
	gone := bmpPeers[2]
	w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerDown, Peer: gone.Name, PeerASN: gone.ASN, Routes: 1, Source: model.SourceBMP, Feed: bmpFeed})
	w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerRemoved, Peer: gone.Name, PeerASN: gone.ASN, Source: model.SourceBMP, Feed: bmpFeed})
	for _, ps := range w.e.Snapshot(w.now).BGP.Peers {
		if ps.Peer == gone.Name {
			t.Fatalf("removed view still in the status: %+v", ps)
		}
	}
	if n := len(w.e.Snapshot(w.now).BGP.Peers); n != 2 {
		t.Errorf("status lists %d peers, want the two views left", n)
	}
	// A PeerRemoved of a peer never known creates nothing.
	w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerRemoved, Peer: "bmp edge1 192.0.2.99", Source: model.SourceBMP, Feed: bmpFeed})
	if n := len(w.e.Snapshot(w.now).BGP.Peers); n != 2 {
		t.Errorf("status lists %d peers after removing an unknown one", n)
	}
	for _, p := range bmpPeers[:2] {
		w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: p.Name, PeerASN: p.ASN, Prefix: pfx, PrevOrigin: 64500, Watched: pfx})
	}
	w.runFor(5*time.Minute, 30*time.Second)
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentPrefixWithdrawn {
		t.Fatalf("open = %+v", open)
	}
	mustContain(t, "root cause", open[0].RootCause, "seen by 0 of 2 peers")
}

// TestBMPViewRemovedWhileEventsDropped: a view the snapshot (after
// dropped events) no longer has is forgotten; an embedded neighbor
// missing from it is not.
func TestBMPViewRemovedWhileEventsDropped(t *testing.T) {
	w := newWorld(t, testConfig(), Targets{Vantage: "test", Peers: []Peer{{Name: "192.0.2.7", ASN: 64500}}})
	w.bmpUp(nil)
	w.tick(3 * time.Minute)
	var peers []model.BGPPeer
	for _, p := range bmpPeers[:2] {
		peers = append(peers, model.BGPPeer{Peer: p.Name, PeerASN: p.ASN, State: "up", Synced: true, Since: w.now, Source: model.SourceBMP,
			Label: "router edge1, peer " + p.Name[len("bmp edge1 "):], Feed: bmpFeed})
	}
	w.apply(model.BGPSnapshot{Time: w.now, Peers: peers})
	var names []string
	for _, ps := range w.e.Snapshot(w.now).BGP.Peers {
		names = append(names, ps.Peer)
	}
	if strings.Join(names, ",") != "192.0.2.7,bmp edge1 192.0.2.1,bmp edge1 192.0.2.2" {
		t.Errorf("status peers after the snapshot: %v", names)
	}
}
