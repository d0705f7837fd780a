package evaluate

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// pairCounts recounts the (zone, server) pairs behind vantage_down from the
// zones, to compare with the evaluator's running counts.
func pairCounts(e *Evaluator) (known, down, neg int) {
	for _, z := range e.zones {
		for _, s := range z.order {
			if s.decided {
				known++
			}
			if s.down {
				down++
			}
			if s.negDown {
				neg++
			}
		}
	}
	return known, down, neg
}

func checkPairCounts(t *testing.T, e *Evaluator) {
	t.Helper()
	known, down, neg := pairCounts(e)
	if known != e.pairsKnown || down != e.pairsDown || neg != e.pairsNeg {
		t.Errorf("pair counts known/down/neg %d/%d/%d, recounted %d/%d/%d", e.pairsKnown, e.pairsDown, e.pairsNeg, known, down, neg)
	}
}

// TestReconfigureZonesAndResolvers reloads the targets while two zones'
// authoritative servers fail: the kept zone's incident stays open (no
// change), the removed zone's incident resolves with ReasonZoneRemoved,
// probes of the removed zone and resolver that were in flight are
// ignored, the counts behind vantage_down stay true, and an added zone
// opens its own incident.
func TestReconfigureZonesAndResolvers(t *testing.T) {
	cfg := testConfig()
	cfg.OpenRounds, cfg.ResolveRounds = 2, 2
	cfg.OpenAfter.Duration, cfg.ResolveAfter.Duration = 0, 0
	auth := func(z string) []netip.AddrPort {
		return []netip.AddrPort{netip.MustParseAddrPort("203.0.113.53:53")}
	}
	tg := Targets{Vantage: "test", Resolvers: threeResolvers()}
	for _, z := range []string{"a.example", "b.example", "c.example"} {
		tg.Zones = append(tg.Zones, Zone{Name: z, Authoritative: auth(z)})
	}
	w := newWorld(t, cfg, tg)
	for _, z := range w.zones {
		w.auth[z] = []authSrv{{"203.0.113.53:53", mustAddr("203.0.113.53")}}
	}
	failing := map[string]bool{"a.example": true, "b.example": true, "d.example": true}
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Kind == model.KindAuthoritative && failing[z] {
			return failObs(z, s, now, "REFUSED", "")
		}
		return okObs(z, s, now, "192.0.2.1", 300)
	}
	w.rounds(4, 30*time.Second)
	open := map[string]string{}
	for _, i := range w.e.Open() {
		open[i.Subject] = i.ID
	}
	if len(open) != 2 || open["a.example"] == "" || open["b.example"] == "" {
		t.Fatalf("open before the reload: %v", open)
	}
	checkPairCounts(t, w.e)

	// b.example and the resolver quad9 go, d.example comes.
	tg2 := Targets{Vantage: "test", Resolvers: threeResolvers()[:2]}
	for _, z := range []string{"a.example", "c.example", "d.example"} {
		tg2.Zones = append(tg2.Zones, Zone{Name: z, Authoritative: auth(z)})
	}
	w.now = w.now.Add(time.Second)
	ch := w.e.Reconfigure(cfg, tg2, w.now)
	checkChanges(t, ch)
	if len(ch) != 1 || ch[0].Type != model.ChangeResolve || ch[0].Incident.ID != open["b.example"] || ch[0].Reason != ReasonZoneRemoved {
		t.Fatalf("reconfigure changes = %+v; want only b.example's resolve, %q", ch, ReasonZoneRemoved)
	}
	if last := ch[0].Incident.Evidence[len(ch[0].Incident.Evidence)-1].Text; last != "resolved: "+ReasonZoneRemoved {
		t.Errorf("last evidence %q", last)
	}
	if got := w.e.Open(); len(got) != 1 || got[0].ID != open["a.example"] {
		t.Fatalf("open after the reload: %+v; want a.example's %s", got, open["a.example"])
	}
	checkPairCounts(t, w.e)

	// In-flight probes of what was removed change nothing.
	quad9 := model.Server{Name: "quad9", Kind: model.KindResolver, Addr: "9.9.9.9:53", Validating: true}
	if ch := w.apply(failObs("b.example", quad9, w.now, "", model.ErrTimeout), failObs("a.example", quad9, w.now, "", model.ErrTimeout)); len(ch) != 0 {
		t.Errorf("in-flight probes of a removed zone or resolver changed %+v", ch)
	}
	if _, ok := w.e.zones["b.example"]; ok {
		t.Error("a late probe brought the removed zone back")
	}
	if _, ok := w.e.resolvers["quad9"]; ok || w.e.zones["a.example"].server("quad9") != nil {
		t.Error("the removed resolver is still known")
	}
	for _, z := range w.e.Snapshot(w.now).Zones {
		if z.Zone == "b.example" {
			t.Error("the status still lists the removed zone")
		}
	}

	// The world probes the new targets: d.example opens, a.example
	// stays, nothing else opens.
	w.zones = []string{"a.example", "c.example", "d.example"}
	w.resolvers = []string{"cloudflare", "google"}
	w.auth["d.example"] = []authSrv{{"203.0.113.53:53", mustAddr("203.0.113.53")}}
	before := len(w.changes)
	w.rounds(4, 30*time.Second)
	var opened []string
	for _, c := range w.changes[before:] {
		if c.Type == model.ChangeOpen {
			opened = append(opened, c.Incident.Subject)
		}
	}
	if !slices.Equal(opened, []string{"d.example"}) {
		t.Errorf("opened after the reload: %v, want d.example only", opened)
	}
	checkPairCounts(t, w.e)
}

// TestReconfigurePeers: a removed BGP neighbor's feed_lost incident
// resolves with ReasonPeerRemoved; an added one is a configured peer.
func TestReconfigurePeers(t *testing.T) {
	w := facebookWorld(t)
	w.runFor(5*time.Minute, 30*time.Second)
	lost := peers3[2]
	w.apply(model.PeerEvent{Time: w.now, Kind: model.PeerDown, Peer: lost.Name, PeerASN: lost.ASN, Reason: "hold timer expired", Routes: 7})
	w.runFor(10*time.Minute, 30*time.Second)
	if o := w.e.Open(); len(o) != 1 || o[0].Kind != model.IncidentFeedLost || o[0].Subject != lost.Name {
		t.Fatalf("open = %+v, want feed_lost of %s", o, lost.Name)
	}
	added := Peer{Name: "192.0.2.4", ASN: 64504}
	tg := Targets{Vantage: "test", Zones: []Zone{{Name: "facebook.com"}}, Resolvers: threeResolvers(), Prefixes: []model.WatchedPrefix{
		{Prefix: mustPrefix("129.134.0.0/17"), Origins: []uint32{32934}},
		{Prefix: mustPrefix("185.89.218.0/23"), Origins: []uint32{32934}},
	}, Peers: []Peer{peers3[0], peers3[1], added}}
	ch := w.e.Reconfigure(testConfig(), tg, w.now)
	checkChanges(t, ch)
	if len(ch) != 1 || ch[0].Type != model.ChangeResolve || ch[0].Reason != ReasonPeerRemoved {
		t.Fatalf("changes = %+v, want the feed_lost resolved as %q", ch, ReasonPeerRemoved)
	}
	if p := w.e.peers[added.Name]; p == nil || !p.configured {
		t.Errorf("added peer %s not configured: %+v", added.Name, p)
	}
	if _, ok := w.e.peers[lost.Name]; ok {
		t.Errorf("removed peer %s still known", lost.Name)
	}
}

// TestReconfigurePrefixes: a withdrawn prefix that is no longer watched
// resolves with ReasonPrefixRemoved; one still watched keeps its incident.
func TestReconfigurePrefixes(t *testing.T) {
	kept := model.WatchedPrefix{Prefix: mustPrefix("203.0.113.0/24"), Origins: []uint32{64500}}
	gone := model.WatchedPrefix{Prefix: mustPrefix("198.51.100.0/24"), Origins: []uint32{64500}}
	tg := Targets{Vantage: "test", Peers: peers3, Prefixes: []model.WatchedPrefix{kept, gone}}
	w := newWorld(t, testConfig(), tg)
	w.bgpUp(peers3, map[string]uint32{"198.51.100.0/24": 64500, "203.0.113.0/24": 64500})
	w.tick(3 * time.Minute)
	for _, p := range peers3[:2] {
		for _, pfx := range []string{"198.51.100.0/24", "203.0.113.0/24"} {
			w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: p.Name, Prefix: mustPrefix(pfx), PrevOrigin: 64500})
		}
	}
	w.tick(30 * time.Second)
	w.tick(30 * time.Second)
	open := map[string]string{}
	for _, i := range w.e.Open() {
		open[i.Subject] = i.ID
	}
	if len(open) != 2 {
		t.Fatalf("open before the reload: %v", w.openKinds())
	}
	w.now = w.now.Add(time.Second)
	ch := w.e.Reconfigure(testConfig(), Targets{Vantage: "test", Peers: peers3, Prefixes: []model.WatchedPrefix{kept}}, w.now)
	checkChanges(t, ch)
	if len(ch) != 1 || ch[0].Incident.ID != open["198.51.100.0/24"] || ch[0].Type != model.ChangeResolve || ch[0].Reason != ReasonPrefixRemoved {
		t.Fatalf("changes = %+v, want 198.51.100.0/24's incident resolved as %q", ch, ReasonPrefixRemoved)
	}
	if o := w.e.Open(); len(o) != 1 || o[0].ID != open["203.0.113.0/24"] {
		t.Errorf("open after the reload: %+v", o)
	}
	// Nothing reopens it later.
	before := len(w.opened())
	w.apply(model.RouteEvent{Time: w.now, Kind: model.RouteWithdraw, Peer: peers3[2].Name, Prefix: mustPrefix("198.51.100.0/24"), PrevOrigin: 64500})
	w.tick(5 * time.Minute)
	if n := len(w.opened()); n != before {
		t.Errorf("opened after the reload: %v", kinds(w.opened()[before:]))
	}
}

// TestReconfigureForgetsRemovedQueries: a server down only on a name the
// reload removes is judged on the queries still asked, and the incident
// resolves once they answer.
func TestReconfigureForgetsRemovedQueries(t *testing.T) {
	cfg := testConfig()
	cfg.OpenRounds, cfg.ResolveRounds = 2, 2
	cfg.OpenAfter.Duration, cfg.ResolveAfter.Duration = 0, 0
	ap := netip.MustParseAddrPort("192.0.2.53:53")
	zt := Zone{Name: "a.example.", Names: []string{"a.example.", "www.a.example."}, Types: []string{"A"}, Authoritative: []netip.AddrPort{ap}}
	res := Resolver{Name: "cloudflare", Validating: true, Addr: mustAddr("1.1.1.1")}
	tg := Targets{Vantage: "test", Zones: []Zone{zt}, Resolvers: []Resolver{res}}
	e := New(cfg, tg)
	authSrv := model.Server{Name: ap.String(), Kind: model.KindAuthoritative, Addr: ap.String()}
	resSrv := model.Server{Name: "cloudflare", Kind: model.KindResolver, Addr: "1.1.1.1:53", Validating: true}
	obs := func(now time.Time, s model.Server, name, typ, rcode string) model.Observation {
		o := model.Observation{Time: now, Target: "a.example", Server: s, Name: name, Type: typ, Rcode: rcode}
		if rcode == "NOERROR" {
			o.Answers, o.MinTTL = []string{name + " IN " + typ + " 192.0.2.1"}, 300
			if typ == "SOA" {
				o.Answers = []string{name + " IN SOA ns1.a.example. host.a.example. 1 3600 600 86400 300"}
			}
			o.AA, o.RA = s.Kind == model.KindAuthoritative, s.Kind == model.KindResolver
		}
		return o
	}
	now := t0
	var changes []model.IncidentChange
	round := func(names ...string) {
		for _, n := range names {
			changes = append(changes, applyAll(t, e, obs(now, resSrv, n, "A", "NOERROR"))...)
			rc := "NOERROR"
			if n == "www.a.example." {
				rc = "REFUSED"
			}
			changes = append(changes, applyAll(t, e, obs(now, authSrv, n, "A", rc))...)
		}
		changes = append(changes, applyAll(t, e, obs(now, authSrv, "a.example.", "SOA", "NOERROR"))...)
		now = now.Add(30 * time.Second)
		changes = append(changes, e.Tick(now)...)
	}
	for range 4 {
		round("a.example.", "www.a.example.")
	}
	open := e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentAuthOutage {
		t.Fatalf("open = %+v, want an authoritative outage (www.a.example. REFUSED)", open)
	}
	zt.Names = []string{"a.example."}
	changes = append(changes, e.Reconfigure(cfg, Targets{Vantage: "test", Zones: []Zone{zt}, Resolvers: []Resolver{res}}, now)...)
	for range 4 {
		round("a.example.")
	}
	resolved := false
	for _, c := range changes {
		resolved = resolved || c.Type == model.ChangeResolve && c.Incident.ID == open[0].ID
	}
	if !resolved || len(e.Open()) != 0 {
		t.Errorf("the incident of a removed name did not resolve: open %+v", e.Open())
	}
}
