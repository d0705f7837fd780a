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
	cfg := testConfig()
	w := watchedWorld(t, cfg, "192.0.2.0/24")
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
		t.Fatalf("%d routes right after the withdrawals, want %d", got, n+1)
	}
	w.tick(orphanKeep / 2)
	if got := len(w.e.routes); got != n+1 {
		t.Fatalf("%d routes half-way through orphanKeep, want all %d", got, n+1)
	}
	// Swept at most once per orphanKeep: gone within two of them.
	w.tick(orphanKeep / 2)
	w.tick(orphanKeep)
	if got := len(w.e.routes); got != 2 {
		t.Errorf("%d routes after 2 x orphanKeep, want 2 (the watched prefix and the announced /32)", got)
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

// A more-specific with an unexpected origin is a hijack condition: its
// route is kept while the condition lives, even when no peer carries it,
// and forgotten once the condition has faded off.
func TestOrphanHijackKeptWhileConditionLives(t *testing.T) {
	cfg := testConfig()
	w := watchedWorld(t, cfg, "192.0.2.0/24")
	bad := mustPrefix("192.0.2.128/25")
	key := slotKey{groupHijack, "192.0.2.0/24 AS64666"}
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteMoreSpecific, Peer: peers3[0].Name, PeerASN: peers3[0].ASN,
		Prefix: bad, Origin: 64666, ASPath: []uint32{64501, 64666}, Watched: mustPrefix("192.0.2.0/24"),
		MoreSpecific: true, ExpectedOrigins: []uint32{64500}, VisiblePeers: 1})
	w.tick(5 * time.Second)
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: peers3[0].Name, PeerASN: peers3[0].ASN,
		Prefix: bad, PrevOrigin: 64666})
	if w.e.slots[key] == nil {
		t.Fatalf("no hijack slot for %s", bad)
	}
	for range 3 {
		w.tick(orphanKeep)
	}
	if w.e.routes[bad] == nil {
		t.Fatalf("route %s pruned while its hijack slot lives", bad)
	}
	w.tick(cfg.FadeOff.Duration)
	w.tick(2 * orphanKeep)
	if s := w.e.slots[key]; s != nil {
		t.Fatalf("hijack slot still there after fade_off: %+v", s)
	}
	if w.e.routes[bad] != nil {
		t.Errorf("route %s kept after its condition faded off", bad)
	}
}

// A watched prefix that flaps for hours keeps one incident open; its
// timeline is trimmed, and what it remembers to de-duplicate evidence must
// stay as bounded as the timeline, with no evidence offered twice.
func TestFlappingIncidentEvidenceBounded(t *testing.T) {
	w := watchedWorld(t, testConfig(), "198.51.100.0/24")
	key := slotKey{groupWithdrawn, "198.51.100.0/24"}
	maxSeen := 0
	for i := range 400 {
		w.flap("198.51.100.0/24")
		s := w.e.slots[key]
		if i == 0 && (s == nil || s.inc == nil) {
			t.Fatalf("the first withdrawal opened no incident")
		}
		if s != nil && s.inc != nil {
			maxSeen = max(maxSeen, len(s.seen))
			ev := s.inc.Evidence
			if len(ev) > maxEvidence {
				t.Fatalf("round %d: timeline has %d items, more than %d", i, len(ev), maxEvidence)
			}
			for j := 1; j < len(ev); j++ {
				if ev[j] == ev[j-1] {
					t.Fatalf("round %d: evidence item twice in the timeline: %v", i, ev[j])
				}
			}
		}
	}
	if n := len(w.opened()); n != 1 {
		t.Fatalf("400 flaps opened %d incidents, want 1", n)
	}
	// The timeline holds maxEvidence items; the source rings (8 per route,
	// peer or address) may offer a few more than it keeps.
	if maxSeen > 2*maxEvidence {
		t.Errorf("the incident remembered up to %d evidence items for de-duplication, want at most %d", maxSeen, 2*maxEvidence)
	}
}
