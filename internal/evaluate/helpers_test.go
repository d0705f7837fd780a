package evaluate

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

var t0 = time.Date(2021, 10, 4, 15, 30, 0, 0, time.UTC)

func testConfig() config.Evaluate {
	c := config.DefaultEvaluate()
	return c
}

// world drives an evaluator through a timeline with an injected clock.
type world struct {
	t       *testing.T
	e       *Evaluator
	now     time.Time
	changes []model.IncidentChange
	// probe answers one (zone, server) probe at the current time; nil
	// servers are skipped.
	zones     []string
	resolvers []string
	auth      map[string][]authSrv
	probe     func(zone string, s model.Server, now time.Time) model.Observation
}

type authSrv struct {
	host string
	addr netip.Addr
}

func newWorld(t *testing.T, cfg config.Evaluate, tg Targets) *world {
	t.Helper()
	w := &world{t: t, e: New(cfg, tg), now: t0, auth: map[string][]authSrv{}}
	for _, z := range tg.Zones {
		w.zones = append(w.zones, zoneKey(z.Name))
	}
	for _, r := range tg.Resolvers {
		w.resolvers = append(w.resolvers, r.Name)
	}
	w.tick(0)
	return w
}

func (w *world) apply(evs ...model.Event) []model.IncidentChange {
	var out []model.IncidentChange
	for _, ev := range evs {
		ch := w.e.Apply(ev)
		checkChanges(w.t, ch)
		out = append(out, ch...)
	}
	w.changes = append(w.changes, out...)
	return out
}

func (w *world) tick(d time.Duration) []model.IncidentChange {
	w.now = w.now.Add(d)
	ch := w.e.Tick(w.now)
	checkChanges(w.t, ch)
	w.changes = append(w.changes, ch...)
	return ch
}

// rounds runs n probe rounds every interval: every resolver and every
// authoritative server of every zone, then a tick.
func (w *world) rounds(n int, interval time.Duration) {
	for range n {
		w.now = w.now.Add(interval)
		for _, z := range w.zones {
			for _, r := range w.resolvers {
				s := model.Server{Name: r, Kind: model.KindResolver, Addr: r, Validating: true}
				w.apply(w.probe(z, s, w.now))
			}
			for _, a := range w.auth[z] {
				s := model.Server{Name: a.host, Kind: model.KindAuthoritative, Addr: netip.AddrPortFrom(a.addr, 53).String()}
				w.apply(w.probe(z, s, w.now))
			}
		}
		w.tick(0)
	}
}

// runFor probes every interval for d.
func (w *world) runFor(d, interval time.Duration) {
	w.rounds(int(d/interval), interval)
}

func (w *world) opened() []model.IncidentChange { return w.of(model.ChangeOpen) }

func (w *world) of(t model.ChangeType) []model.IncidentChange {
	var out []model.IncidentChange
	for _, c := range w.changes {
		if c.Type == t {
			out = append(out, c)
		}
	}
	return out
}

func (w *world) openKinds() []model.IncidentKind {
	var out []model.IncidentKind
	for _, i := range w.e.Open() {
		out = append(out, i.Kind)
	}
	return out
}

// checkChanges asserts the invariants every change must hold.
func checkChanges(t *testing.T, ch []model.IncidentChange) {
	t.Helper()
	for _, c := range ch {
		i := c.Incident
		open := i.State == model.StateOpen
		if open == !i.Resolved.IsZero() {
			t.Fatalf("incident %s state %s with resolved time %v", i.ID, i.State, i.Resolved)
		}
		if (c.Type == model.ChangeResolve) == open {
			t.Fatalf("change %s of incident %s in state %s", c.Type, i.ID, i.State)
		}
		if i.ID == "" || i.Kind == "" || i.Severity == "" || i.Subject == "" || i.RootCause == "" {
			t.Fatalf("incomplete incident: %+v", i)
		}
		if i.Opened.After(i.Confirmed) || i.Confirmed.After(i.Updated) {
			t.Fatalf("incident %s times out of order: opened %v confirmed %v updated %v", i.ID, i.Opened, i.Confirmed, i.Updated)
		}
	}
}

// healthy answers every probe well.
func healthy(answer string, ttl uint32) func(string, model.Server, time.Time) model.Observation {
	return func(z string, s model.Server, now time.Time) model.Observation {
		return okObs(z, s, now, answer, ttl)
	}
}

func okObs(z string, s model.Server, now time.Time, answer string, ttl uint32) model.Observation {
	o := model.Observation{Time: now, Target: z, Server: s, Name: z + ".", Type: "A", Rcode: "NOERROR", MinTTL: ttl}
	if answer != "" {
		o.Answers = []string{z + ". IN A " + answer}
	}
	if s.Kind == model.KindAuthoritative {
		o.AA = true
	} else {
		o.RA = true
	}
	return o
}

func failObs(z string, s model.Server, now time.Time, rcode string, errc model.ErrorClass) model.Observation {
	o := model.Observation{Time: now, Target: z, Server: s, Name: z + ".", Type: "A", Rcode: rcode, Error: errc}
	return o
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not mention %q:\n%s", what, sub, s)
		}
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }
