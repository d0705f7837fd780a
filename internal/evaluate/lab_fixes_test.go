package evaluate

import (
	"fmt"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Regression tests for what the outage lab (integration/scenario_test.go)
// found in the evaluator.

// applyAll applies events, checking every change, and returns them.
func applyAll(t *testing.T, e *Evaluator, evs ...model.Event) []model.IncidentChange {
	t.Helper()
	var out []model.IncidentChange
	for _, ev := range evs {
		ch := e.Apply(ev)
		checkChanges(t, ch)
		out = append(out, ch...)
	}
	return out
}

func openedKinds(ch []model.IncidentChange) []model.IncidentKind {
	var out []model.IncidentKind
	for _, c := range ch {
		if c.Type == model.ChangeOpen {
			out = append(out, c.Incident.Kind)
		}
	}
	return out
}

// A resolver that is down fails the control zone there too. That one
// failing control check must not hold every DNS verdict as "the vantage
// may be down": the resolver outage opens.
func TestResolverOutageWithControlZone(t *testing.T) {
	cfg := testConfig()
	cfg.OpenRounds, cfg.ResolveRounds = 2, 2
	cfg.OpenAfter.Duration = 0
	cfg.ControlZones = []string{"control.example"}
	zones := []string{"control.example", "a.example", "b.example", "c.example"}
	tg := Targets{Vantage: "test", Resolvers: threeResolvers()}
	for _, z := range zones {
		tg.Zones = append(tg.Zones, Zone{Name: z})
	}
	e := New(cfg, tg)
	now := t0
	var changes []model.IncidentChange
	for round := range 6 {
		for _, z := range zones {
			for _, r := range threeResolvers() {
				srv := model.Server{Name: r.Name, Kind: model.KindResolver, Addr: r.Addr.String() + ":53", Validating: true}
				if r.Name == "quad9" && round >= 2 {
					changes = append(changes, applyAll(t, e, failObs(z, srv, now, "", model.ErrTimeout))...)
				} else {
					changes = append(changes, applyAll(t, e, okObs(z, srv, now, "192.0.2.1", 300))...)
				}
			}
		}
		now = now.Add(30 * time.Second)
		changes = append(changes, e.Tick(now)...)
	}
	got := openedKinds(changes)
	if len(got) != 1 || got[0] != model.IncidentResolverOutage {
		t.Fatalf("opened %v, want exactly one resolver_outage", got)
	}
}

// open_rounds counts probe rounds per query: a server asked two queries
// per round (the name and the zone's SOA) is not failing after one bad
// round with open_rounds = 2.
func TestOpenRoundsArePerQuery(t *testing.T) {
	cfg := testConfig()
	cfg.OpenRounds, cfg.ResolveRounds = 2, 2
	cfg.OpenAfter.Duration = 0
	e := New(cfg, Targets{Vantage: "test", Zones: []Zone{{Name: "a.example"}}})
	auth := model.Server{Name: "ns1.a.example.", Kind: model.KindAuthoritative, Addr: "192.0.2.53:53"}
	now := t0
	round := func() []model.IncidentChange {
		www := failObs("a.example", auth, now, "", model.ErrTimeout)
		www.Name = "www.a.example."
		soa := failObs("a.example", auth, now, "", model.ErrTimeout)
		soa.Type = "SOA"
		ch := applyAll(t, e, www, soa)
		now = now.Add(30 * time.Second)
		return append(ch, e.Tick(now)...)
	}
	if got := openedKinds(round()); len(got) != 0 {
		t.Fatalf("one bad round (two queries) opened %v", got)
	}
	if got := openedKinds(round()); len(got) != 1 || got[0] != model.IncidentAuthOutage {
		t.Fatalf("two bad rounds opened %v, want an authoritative outage", got)
	}
}

// A cached answer counts its TTL down: the cache-expiry estimate the early
// warning uses stays put instead of moving a second every round.
func TestCacheExpiryDoesNotJitter(t *testing.T) {
	e := New(testConfig(), Targets{Vantage: "test", Zones: []Zone{{Name: "a.example"}}})
	res := model.Server{Name: "google", Kind: model.KindResolver, Addr: "8.8.8.8:53"}
	for i := range 11 { // the last probe lands 300 ms off the whole second
		// Probes land at sub-second offsets while the TTL counts down.
		at := t0.Add(time.Duration(i)*time.Second + time.Duration(i%3)*300*time.Millisecond)
		applyAll(t, e, okObs("a.example", res, at, "192.0.2.1", uint32(300-i)))
	}
	srv := e.zones["a.example"].server("google")
	if want := t0.Add(300 * time.Second); !srv.okAt.Add(time.Duration(srv.okTTL) * time.Second).Equal(want) {
		t.Errorf("cache expiry moved to %s, want %s", srv.okAt.Add(time.Duration(srv.okTTL)*time.Second), want)
	}
	// A refreshed cache (full TTL again) moves it.
	applyAll(t, e, okObs("a.example", res, t0.Add(20*time.Second), "192.0.2.1", 300))
	if got := srv.okAt.Add(time.Duration(srv.okTTL) * time.Second); !got.Equal(t0.Add(320 * time.Second)) {
		t.Errorf("refreshed cache expiry = %s", got)
	}
}

// A withdrawn prefix waits a short settle time even with open_after = 0,
// so that the more-specifics of the same outage, milliseconds behind it,
// can turn it into one BGP-caused outage instead of two pages.
func TestWithdrawnPrefixSettles(t *testing.T) {
	cfg := testConfig()
	cfg.OpenAfter.Duration = 0
	tg := Targets{Vantage: "test", Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("198.51.100.0/24"), Origins: []uint32{64500}}}}
	w := newWorld(t, cfg, tg)
	w.bgpUp(peers3, map[string]uint32{"198.51.100.0/24": 64500})
	w.tick(3 * time.Minute)
	w.withdraw(peers3, "198.51.100.0/24", 64500)
	w.tick(time.Second)
	if got := w.opened(); len(got) != 0 {
		t.Fatalf("opened %v within a second of the withdrawal", kinds(got))
	}
	w.tick(2 * time.Second)
	if got := w.openKinds(); fmt.Sprint(got) != "[prefix_withdrawn]" {
		t.Fatalf("after the settle time: %v, want [prefix_withdrawn]", got)
	}
}

// A resolver's own watched prefix withdrawn while the resolver fails: one
// resolver outage naming the withdrawal, not also a prefix-withdrawn page
// that races it (the resolver takes a few probe rounds to be decided).
func TestResolverPrefixWithdrawnIsOneIncident(t *testing.T) {
	var zones []Zone
	for i := range 5 {
		zones = append(zones, Zone{Name: fmt.Sprintf("zone%d.example", i)})
	}
	cfg := testConfig()
	cfg.OpenRounds, cfg.ResolveRounds = 2, 2
	cfg.OpenAfter.Duration = 0
	tg := Targets{Vantage: "test", Zones: zones, Resolvers: threeResolvers(), Peers: peers3,
		Prefixes: []model.WatchedPrefix{{Prefix: mustPrefix("1.1.1.0/24"), Origins: []uint32{13335}}}}
	w := newWorld(t, cfg, tg)
	w.bgpUp(peers3, map[string]uint32{"1.1.1.0/24": 13335})
	w.apply(model.CoverEvent{Time: w.now, Kind: model.CoverRestored, Addr: mustAddr("1.1.1.1"),
		Roles: []model.AddressRole{{Kind: "resolver", Name: "cloudflare"}}, Current: &model.Cover{Prefix: mustPrefix("1.1.1.0/24"), Peers: 3}})
	w.probe = healthy("192.0.2.1", 300)
	w.runFor(3*time.Minute, 30*time.Second)

	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Name == "cloudflare" {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		return okObs(z, s, now, "192.0.2.1", 300)
	}
	w.rounds(1, time.Second) // the resolver starts failing as the route goes
	w.withdraw(peers3, "1.1.1.0/24", 13335)
	w.apply(model.CoverEvent{Time: w.now, Kind: model.CoverWithdrawn, Addr: mustAddr("1.1.1.1"),
		Roles: []model.AddressRole{{Kind: "resolver", Name: "cloudflare"}}, Healthy: &model.Cover{Prefix: mustPrefix("1.1.1.0/24")}})
	w.runFor(20*time.Second, time.Second)
	if got := w.openKinds(); fmt.Sprint(got) != "[resolver_outage]" {
		t.Fatalf("open: %v (opened %v), want only the resolver outage", got, kinds(w.opened()))
	}
}

// The vantage loses its network: a zone's servers cross open_rounds a
// moment before the control checks do. One vantage_down incident, not an
// authoritative outage page first.
func TestVantageDownBeatsZoneRace(t *testing.T) {
	cfg := testConfig()
	cfg.OpenRounds, cfg.ResolveRounds = 2, 2
	cfg.OpenAfter.Duration = 0
	cfg.ControlZones = []string{"control.example"}
	e := New(cfg, Targets{Vantage: "test", Zones: []Zone{{Name: "a.example"}, {Name: "control.example"}}})
	auth := func(z string) model.Server {
		return model.Server{Name: "ns1." + z + ".", Kind: model.KindAuthoritative, Addr: "192.0.2.53:53"}
	}
	now := t0
	var changes []model.IncidentChange
	for round := range 5 {
		for _, z := range []string{"a.example", "control.example"} { // the zone's probes land first
			o := okObs(z, auth(z), now, "192.0.2.1", 300)
			if round >= 2 {
				o = failObs(z, auth(z), now, "", model.ErrTimeout)
			}
			changes = append(changes, applyAll(t, e, o)...)
			now = now.Add(100 * time.Millisecond)
			changes = append(changes, e.Tick(now)...)
		}
		now = now.Add(time.Second)
		changes = append(changes, e.Tick(now)...)
	}
	if got := openedKinds(changes); fmt.Sprint(got) != "[vantage_down]" {
		t.Fatalf("opened %v, want only vantage_down", got)
	}
}

// resolverOutageOpened plays rounds (30 s apart, one observation every
// 100 ms, no Tick inside a round) of the zones at three resolvers, quad9
// failing from round failFrom on, and returns when the resolver outage
// opened (zero: never).
func resolverOutageOpened(t *testing.T, zones []string, failFrom, rounds int) time.Time {
	t.Helper()
	cfg := testConfig()
	cfg.OpenRounds, cfg.ResolveRounds = 2, 2
	cfg.OpenAfter.Duration = 0
	cfg.ControlZones = []string{"control.example"}
	tg := Targets{Vantage: "test", Resolvers: threeResolvers()}
	for _, z := range zones {
		tg.Zones = append(tg.Zones, Zone{Name: z})
	}
	e := New(cfg, tg)
	now := t0
	for round := range rounds {
		roundStart := now
		for _, z := range zones {
			for _, r := range threeResolvers() {
				srv := model.Server{Name: r.Name, Kind: model.KindResolver, Addr: r.Addr.String() + ":53", Validating: true}
				o := okObs(z, srv, now, "192.0.2.1", 300)
				if r.Name == "quad9" && round >= failFrom {
					o = failObs(z, srv, now, "", model.ErrTimeout)
				}
				o.Latency = time.Millisecond
				ch := applyAll(t, e, o)
				now = now.Add(100 * time.Millisecond)
				if got := openedKinds(ch); len(got) > 0 {
					if len(got) != 1 || got[0] != model.IncidentResolverOutage {
						t.Fatalf("opened %v, want a resolver_outage", got)
					}
					return now
				}
			}
		}
		now = roundStart.Add(30 * time.Second)
		if ch := e.Tick(now); len(openedKinds(ch)) > 0 {
			return now
		}
	}
	return time.Time{}
}

// The other resolvers' answers prove this vantage's network works as well
// as a control check does: a resolver outage opens as soon as one of them
// answers after the condition began, not a probe interval later at the
// next control check (the resolver scenario of the outage lab paged at
// open_rounds x interval + 1 s because of that wait).
func TestResolverOutageVouchedByOtherResolvers(t *testing.T) {
	// Control checks first in each round: the condition begins at quad9's
	// control check in round 2; google and cloudflare answer a.example
	// right after.
	opened := resolverOutageOpened(t, []string{"control.example", "a.example", "b.example", "c.example"}, 1, 4)
	if opened.IsZero() {
		t.Fatal("the resolver outage never opened")
	}
	if limit := t0.Add(60*time.Second + 2*time.Second); opened.After(limit) {
		t.Errorf("opened at t0+%v, want within round 2 (before t0+%v): the other resolvers' answers vouch for the vantage",
			opened.Sub(t0), limit.Sub(t0))
	}
}

// The answer that vouches opens the waiting verdict at once, not at the
// next Tick.
func TestResolverOutageOpensAtTheVouchingAnswer(t *testing.T) {
	// Two good rounds make every pair decided; quad9 fails from round 2,
	// so the condition begins at the round's last observation (c.example
	// at quad9, t0+91.1s, round 3). The next answer is round 4's first
	// (t0+120s); the Tick after that round is at t0+150s.
	opened := resolverOutageOpened(t, []string{"control.example", "a.example", "b.example", "c.example"}, 2, 6)
	if want := t0.Add(120*time.Second + 100*time.Millisecond); !opened.Equal(want) {
		t.Errorf("opened at t0+%v, want t0+%v (at the first answer after the condition began)", opened.Sub(t0), want.Sub(t0))
	}
}
