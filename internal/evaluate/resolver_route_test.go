package evaluate

import (
	"fmt"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// routeWorld: five zones at three resolvers probed every second
// (open_rounds 2), cloudflare's 1.1.1.0/24 watched and healthy.
func routeWorld(t *testing.T) *world {
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
	w.runFor(3*time.Minute, time.Second)
	return w
}

func (w *world) withdrawResolverRoute() {
	w.withdraw(peers3, "1.1.1.0/24", 13335)
	w.apply(model.CoverEvent{Time: w.now, Kind: model.CoverWithdrawn, Addr: mustAddr("1.1.1.1"),
		Roles: []model.AddressRole{{Kind: "resolver", Name: "cloudflare"}}, Healthy: &model.Cover{Prefix: mustPrefix("1.1.1.0/24")},
		Current: &model.Cover{Prefix: mustPrefix("1.0.0.0/8"), Peers: 3}})
}

func cloudflare() model.Server {
	return model.Server{Name: "cloudflare", Kind: model.KindResolver, Addr: "cloudflare", Validating: true}
}

// The resolver's own route is withdrawn and its next probe times out:
// the resolver outage opens at that probe, not open_rounds rounds of
// every zone later, and names the withdrawal.
func TestResolverRouteWithdrawnOpensAtFirstFailure(t *testing.T) {
	w := routeWorld(t)
	w.withdrawResolverRoute()
	w.tick(300 * time.Millisecond)
	fail := failObs("zone3.example", cloudflare(), w.now, "", model.ErrTimeout)
	fail.Latency = 800 * time.Millisecond
	w.apply(fail)
	w.apply(okObs("zone3.example", model.Server{Name: "google", Kind: model.KindResolver, Addr: "google", Validating: true},
		w.now.Add(time.Second), "192.0.2.1", 300))
	open := w.e.Open()
	if len(open) != 1 || open[0].Kind != model.IncidentResolverOutage || open[0].Subject != "cloudflare" {
		t.Fatalf("after one failing probe of a resolver whose route is withdrawn: open %v, want its resolver outage", w.openKinds())
	}
	mustContain(t, "root cause", open[0].RootCause, "Resolver cloudflare fails for every zone probed since its route was withdrawn (timeout)",
		"google, quad9 answer", "its own route 1.1.1.0/24 (origin AS13335) was withdrawn from BGP")
	mustContain(t, "timeline", open[0].Timeline(), "resolver cloudflare: zone3.example. A timeout (its route is withdrawn)",
		"its most-specific route 1.1.1.0/24 is withdrawn")
	if fmt.Sprint(open[0].Affected) != "[zone3.example]" {
		t.Errorf("affected %v", open[0].Affected)
	}
	// The rounds that follow keep one incident, naming every zone once
	// the resolver is decided down, and no prefix_withdrawn page.
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Name == "cloudflare" {
			return failObs(z, s, now, "", model.ErrTimeout)
		}
		return okObs(z, s, now, "192.0.2.1", 300)
	}
	w.runFor(20*time.Second, time.Second)
	if got := fmt.Sprint(w.openKinds()); got != "[resolver_outage]" || len(w.opened()) != 1 {
		t.Fatalf("open %v, opened %v: want the one resolver outage", got, kinds(w.opened()))
	}
	mustContain(t, "root cause", w.e.Open()[0].RootCause, "fails for every zone (timeout)")
}

// Without the withdrawal a resolver's failing probe pages no faster: it
// waits for open_rounds rounds of (nearly) every zone as before.
func TestResolverBlipWithoutWithdrawalNotFaster(t *testing.T) {
	w := routeWorld(t)
	fail := failObs("zone3.example", cloudflare(), w.now, "", model.ErrTimeout)
	fail.Latency = 800 * time.Millisecond
	w.apply(fail)
	w.tick(time.Second)
	if n := len(w.opened()); n != 0 {
		t.Fatalf("one failing probe without a withdrawal opened %v", kinds(w.opened()))
	}
}

// The route is withdrawn but the resolver still answers (a less-specific
// carries it), or fails with an answer (SERVFAIL: not the way a lost
// route fails): no resolver outage on the route's word.
func TestResolverRouteWithdrawnButAnswering(t *testing.T) {
	t.Run("answers", func(t *testing.T) {
		w := routeWorld(t)
		w.withdrawResolverRoute()
		w.runFor(time.Second, time.Second) // cloudflare answers after the withdrawal
		fail := failObs("zone3.example", cloudflare(), w.now, "", model.ErrTimeout)
		w.apply(fail)
		for _, c := range w.opened() {
			if c.Incident.Kind == model.IncidentResolverOutage {
				t.Fatalf("resolver outage opened although the resolver answered after its route was withdrawn")
			}
		}
	})
	t.Run("servfail", func(t *testing.T) {
		w := routeWorld(t)
		w.withdrawResolverRoute()
		w.tick(100 * time.Millisecond)
		w.apply(failObs("zone3.example", cloudflare(), w.now, "SERVFAIL", model.ErrNone))
		for _, c := range w.opened() {
			if c.Incident.Kind == model.IncidentResolverOutage {
				t.Fatalf("resolver outage opened on one SERVFAIL")
			}
		}
	})
}
