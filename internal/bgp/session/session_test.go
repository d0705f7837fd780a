package session

import (
	"slices"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// TestActiveSessionRoutes: reachmon connects to a passive GoBGP, which
// sends watched and unwatched IPv4 and IPv6 routes; only the watched ones
// reach the state, every one is counted, End-of-RIB syncs the peer, and
// withdrawals (IPv4 withdrawn routes and MP_UNREACH) remove them.
func TestActiveSessionRoutes(t *testing.T) {
	g := startGoBGP(t, "127.0.0.2", speakerOpts{})
	g.announce([]uint32{64500}, "198.18.1.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8:100::/48", "2001:db8:999::/48")
	n := g.neighbor()
	n.Description = "edge"
	l := startLab(t, config.BGP{Neighbor: []config.Neighbor{n}})
	key := "127.0.0.2"
	l.established(key)
	l.synced(key)
	if ev := l.events(model.PeerSynced); len(ev) != 1 || !ev[0].ByEndOfRIB {
		t.Fatalf("synced events %+v, want one by End-of-RIB", ev)
	}
	want := map[string][]uint32{"198.18.1.0/24": {64500, 64500}, "198.51.100.0/24": {64500, 64500}, "2001:db8:100::/48": {64500, 64500}}
	l.waitUntil("watched routes", func() bool { return len(l.paths(key)) == 3 })
	for p, path := range want {
		if got := l.paths(key)[p]; !slices.Equal(got, path) {
			t.Errorf("%s: AS path %v, want %v", p, got, path)
		}
	}
	st := l.status(key)
	if st.Mode != "full_table" || st.Received[4] != 3 || st.Received[6] != 2 || !st.RouteRefresh || st.RouterID != "127.0.0.2" ||
		st.HoldTime != 9*time.Second || st.Uptime <= 0 || !slices.Equal(st.Families, []int{4, 6}) {
		t.Errorf("status %+v", st)
	}
	if p := l.peer(key); p.Source != model.SourceBGP || p.Label != "" || p.Feed != "" || p.PeerASN != 64500 || p.Description != "edge" {
		t.Errorf("peer %+v: want an embedded-like peer", p)
	}
	g.withdraw("198.18.1.0/24", "2001:db8:100::/48", "203.0.113.0/24")
	l.waitUntil("withdrawals", func() bool { return len(l.paths(key)) == 1 })
	l.waitUntil("received counts", func() bool {
		st := l.status(key)
		return st.Received[4] == 1 && st.Received[6] == 1
	})
}
