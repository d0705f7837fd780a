package evaluate

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// moreSpecific announces pfx, inside watched, from origin at peer p.
func (w *world) moreSpecific(p Peer, pfx, watched string, origin uint32, covers ...netip.Addr) []model.IncidentChange {
	return w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteMoreSpecific, Peer: p.Name, PeerASN: p.ASN,
		Prefix: mustPrefix(pfx), Origin: origin, ASPath: []uint32{p.ASN, origin}, Watched: mustPrefix(watched),
		MoreSpecific: true, ExpectedOrigins: []uint32{64500}, UnexpectedOrigin: origin != 64500, Covers: covers})
}

func (w *world) withdrawAt(p Peer, pfx string, origin uint32) []model.IncidentChange {
	return w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: p.Name, PeerASN: p.ASN,
		Prefix: mustPrefix(pfx), PrevOrigin: origin})
}

// sixteen /28s of 198.51.100.0/24.
func sixteen() []string {
	var out []string
	for i := range 16 {
		out = append(out, fmt.Sprintf("198.51.100.%d/28", i*16))
	}
	return out
}

// An AS announcing sixteen more-specifics of one watched prefix is one
// incident (watched prefix, origin) that lists them; a second unexpected
// origin is a second incident; each resolves on its own.
func TestHijackManyMoreSpecificsOneIncident(t *testing.T) {
	w := watchedWorld(t, testConfig(), "198.51.100.0/24")
	for i, pfx := range sixteen() {
		w.moreSpecific(peers3[0], pfx, "198.51.100.0/24", 64511)
		w.moreSpecific(peers3[1], pfx, "198.51.100.0/24", 64511)
		if i == 0 && len(w.opened()) != 1 {
			t.Fatalf("the first more-specific opened %v, want one hijack at once", kinds(w.opened()))
		}
		w.tick(time.Second)
	}
	if n := len(w.opened()); n != 1 {
		t.Fatalf("16 more-specifics of one origin opened %d incidents: %v", n, kinds(w.opened()))
	}
	open := w.e.Open()
	if len(open) != 1 {
		t.Fatalf("open: %v", w.openKinds())
	}
	inc := open[0]
	if inc.Kind != model.IncidentHijack || inc.Subject != "198.51.100.0/24 AS64511" || inc.SubjectKind != model.SubjectPrefix {
		t.Fatalf("incident %s subject %q (%s)", inc.Kind, inc.Subject, inc.SubjectKind)
	}
	var want []netip.Prefix
	for _, p := range sixteen() {
		want = append(want, mustPrefix(p))
	}
	if !slices.Equal(inc.Prefixes, want) {
		t.Errorf("prefixes %v, want the 16 more-specifics", inc.Prefixes)
	}
	if !slices.Equal(inc.ASNs, []uint32{64511}) {
		t.Errorf("asns %v", inc.ASNs)
	}
	mustContain(t, "root cause", inc.RootCause, "16 more-specifics of watched 198.51.100.0/24", "AS64511 instead of AS64500",
		"seen by 2 of 3 peers", "198.51.100.0/28, 198.51.100.16/28", "and 8 more")
	mustContain(t, "timeline", inc.Timeline(), "198.51.100.240/28, a more-specific of 198.51.100.0/24, appeared with origin AS64511")

	// Another origin is another cause: a second incident.
	w.moreSpecific(peers3[2], "198.51.100.128/25", "198.51.100.0/24", 64512)
	if n := len(w.opened()); n != 2 || w.opened()[1].Incident.Subject != "198.51.100.0/24 AS64512" {
		t.Fatalf("a second origin: opened %v", kinds(w.opened()))
	}
	mustContain(t, "root cause", w.opened()[1].Incident.RootCause,
		"198.51.100.128/25, a more-specific of watched 198.51.100.0/24, is originated by AS64512 instead of AS64500 (seen by 1 of 3 peers)")

	// AS64511 withdraws all but one: the incident stays; it keeps its
	// diagnosis (the 16, issue 12: the story stays right to the resolve)
	// and tells the withdrawals as recovery.
	for _, pfx := range sixteen()[1:] {
		w.withdrawAt(peers3[0], pfx, 64511)
		w.withdrawAt(peers3[1], pfx, 64511)
	}
	if len(w.of(model.ChangeResolve)) != 0 {
		t.Fatal("resolved while a more-specific is still hijacked")
	}
	for _, i := range w.e.Open() {
		if i.Subject != "198.51.100.0/24 AS64511" {
			continue
		}
		if !slices.Equal(i.Prefixes, want) || i.RootCause != inc.RootCause {
			t.Errorf("the diagnosis changed after the withdrawals: %v: %s", i.Prefixes, i.RootCause)
		}
		mustContain(t, "recovery", i.Recovery, "15 of 16 routes no longer originated by AS64511")
		mustContain(t, "timeline", i.Timeline(), "recovery: 198.51.100.240/28 is no longer originated by AS64511")
	}
	w.withdrawAt(peers3[0], "198.51.100.0/28", 64511)
	w.withdrawAt(peers3[1], "198.51.100.0/28", 64511)
	w.tick(6 * time.Minute)
	res := w.of(model.ChangeResolve)
	if len(res) != 1 || res[0].Incident.Subject != "198.51.100.0/24 AS64511" {
		t.Fatalf("want only AS64511's hijack resolved, got %v", kinds(res))
	}
	mustContain(t, "resolved", res[0].Incident.RootCause, "16 more-specifics of watched 198.51.100.0/24")
	mustContain(t, "resolved", res[0].Incident.Recovery, "routes no longer originated by AS64511")
	if got := w.e.Open(); len(got) != 1 || got[0].Subject != "198.51.100.0/24 AS64512" {
		t.Fatalf("open after AS64511 left: %v", got)
	}
	if n := len(w.opened()); n != 2 {
		t.Errorf("opened %d incidents in all, want 2", n)
	}
}

// The watched prefix itself taken over together with more-specifics
// of it by the same AS is one incident naming both.
func TestHijackWatchedAndMoreSpecifics(t *testing.T) {
	w := watchedWorld(t, testConfig(), "198.51.100.0/24")
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteOriginChange, Peer: peers3[0].Name, PeerASN: peers3[0].ASN,
		Prefix: mustPrefix("198.51.100.0/24"), Origin: 64511, PrevOrigin: 64500})
	w.moreSpecific(peers3[0], "198.51.100.0/25", "198.51.100.0/24", 64511)
	w.moreSpecific(peers3[0], "198.51.100.128/25", "198.51.100.0/24", 64511)
	if n := len(w.opened()); n != 1 {
		t.Fatalf("opened %v, want one hijack", kinds(w.opened()))
	}
	inc := w.e.Open()[0]
	mustContain(t, "root cause", inc.RootCause, "Watched prefix 198.51.100.0/24 and 2 more-specifics inside it are originated by AS64511",
		"198.51.100.0/25, 198.51.100.128/25")
	if len(inc.Prefixes) != 3 || inc.Prefixes[0] != mustPrefix("198.51.100.0/24") {
		t.Errorf("prefixes %v", inc.Prefixes)
	}
}

// More-specifics of one watched prefix are tracked up to a bound: the
// rest are dropped and counted, a hijack names the overflow, routes
// covering a watched address are always tracked, and a pruned
// more-specific frees its place.
func TestMoreSpecificsBounded(t *testing.T) {
	tg := Targets{Vantage: "test", Peers: peers3, Resolvers: []Resolver{{Name: "r", Addr: mustAddr("198.51.100.53")}},
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("198.51.100.0/24"), Origins: []uint32{64500}}}}
	w := newWorld(t, testConfig(), tg)
	w.e.maxMoreSpecifics = 4
	w.bgpUp(peers3, map[string]uint32{"198.51.100.0/24": 64500})
	w.tick(3 * time.Minute)
	for _, pfx := range sixteen()[:6] {
		w.moreSpecific(peers3[0], pfx, "198.51.100.0/24", 64511)
	}
	count := func() int {
		n := 0
		for p := range w.e.routes {
			if p.Bits() > 24 {
				n++
			}
		}
		return n
	}
	if n := count(); n != 4 {
		t.Fatalf("%d more-specifics tracked, want the bound 4", n)
	}
	if got := w.e.msOverflow[mustPrefix("198.51.100.0/24")]; got != 2 {
		t.Errorf("overflow %d, want 2", got)
	}
	open := w.e.Open()
	if len(open) != 1 || len(open[0].Prefixes) != 4 {
		t.Fatalf("open %v", open)
	}
	mustContain(t, "root cause", open[0].RootCause, "4 more-specifics of watched 198.51.100.0/24",
		"more-specifics of 198.51.100.0/24 beyond the first 4 are not tracked")
	// A route covering the resolver's address is always tracked.
	w.moreSpecific(peers3[1], "198.51.100.48/28", "198.51.100.0/24", 64500, mustAddr("198.51.100.53"))
	if w.e.routes[mustPrefix("198.51.100.48/28")] == nil {
		t.Fatal("a route covering a watched address was dropped by the bound")
	}
	// A withdrawn more-specific is forgotten and frees its place.
	w.withdrawAt(peers3[0], "198.51.100.0/28", 64511)
	w.moreSpecific(peers3[0], "198.51.100.96/28", "198.51.100.0/24", 64511)
	if w.e.routes[mustPrefix("198.51.100.96/28")] != nil {
		t.Fatal("admitted before the withdrawn route was pruned")
	}
	w.tick(orphanKeep)
	w.tick(orphanKeep)
	if w.e.routes[mustPrefix("198.51.100.0/28")] != nil {
		t.Fatal("withdrawn more-specific not pruned")
	}
	w.moreSpecific(peers3[0], "198.51.100.96/28", "198.51.100.0/24", 64511)
	if w.e.routes[mustPrefix("198.51.100.96/28")] == nil {
		t.Fatal("no place freed by the pruned more-specific")
	}
}
