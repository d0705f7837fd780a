package evaluate

import (
	"fmt"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// A route no peer carries any more is forgotten after fade_off unless
// something still refers to it: otherwise every more-specific that ever
// came and went stays in memory for good (found by bench/bgpchurn).
func TestOrphanRoutesPruned(t *testing.T) {
	tg := Targets{Vantage: "test", Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("192.0.2.0/24"), Origins: []uint32{64500}}}}
	cfg := testConfig()
	w := newWorld(t, cfg, tg)
	w.bgpUp(peers3, map[string]uint32{"192.0.2.0/24": 64500})
	w.tick(3 * time.Minute)
	const n = 50
	for i := range n {
		pfx := fmt.Sprintf("192.0.2.%d/32", i)
		w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteMoreSpecific, Peer: peers3[0].Name, PeerASN: peers3[0].ASN,
			Prefix: mustPrefix(pfx), Origin: 64500, ASPath: []uint32{64501, 64500}, Watched: mustPrefix("192.0.2.0/24"),
			MoreSpecific: true, ExpectedOrigins: []uint32{64500}, VisiblePeers: 1})
	}
	// One more-specific stays announced; the others go.
	for i := 1; i < n; i++ {
		w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: peers3[0].Name, PeerASN: peers3[0].ASN,
			Prefix: mustPrefix(fmt.Sprintf("192.0.2.%d/32", i)), PrevOrigin: 64500})
	}
	// The watched prefix itself is withdrawn everywhere: kept (it is configured).
	w.withdraw(peers3, "192.0.2.0/24", 64500)
	if got := len(w.e.routes); got != n+1 {
		t.Fatalf("%d routes before fade_off, want %d", got, n+1)
	}
	w.tick(cfg.FadeOff.Duration / 2)
	if got := len(w.e.routes); got != n+1 {
		t.Fatalf("%d routes half-way through fade_off, want all %d", got, n+1)
	}
	w.tick(cfg.FadeOff.Duration/2 + 2*time.Minute)
	if got := len(w.e.routes); got != 2 {
		t.Errorf("%d routes after fade_off, want 2 (the watched prefix and the announced /32)", got)
	}
	for _, keep := range []string{"192.0.2.0/24", "192.0.2.0/32"} {
		if w.e.routes[mustPrefix(keep)] == nil {
			t.Errorf("route %s was pruned", keep)
		}
	}
	// A pruned prefix that comes back is a route again.
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteMoreSpecific, Peer: peers3[1].Name, PeerASN: peers3[1].ASN,
		Prefix: mustPrefix("192.0.2.7/32"), Origin: 64500, ASPath: []uint32{64502, 64500}, Watched: mustPrefix("192.0.2.0/24"),
		MoreSpecific: true, ExpectedOrigins: []uint32{64500}, VisiblePeers: 1})
	if r := w.e.routes[mustPrefix("192.0.2.7/32")]; r == nil || len(r.peers) != 1 {
		t.Errorf("re-announced route: %+v", r)
	}
}
