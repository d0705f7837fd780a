package evaluate

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// interceptProbe fails every resolver probe with the class each resolver
// gets (none: answers well) while the authoritative servers answer.
func interceptProbe(classes map[string]model.ErrorClass) func(string, model.Server, time.Time) model.Observation {
	return func(z string, s model.Server, now time.Time) model.Observation {
		if c, ok := classes[s.Name]; ok && s.Kind == model.KindResolver {
			return failObs(z, s, now, "", c)
		}
		return okObs(z, s, now, "192.0.2.1", 300)
	}
}

func allResolvers(c model.ErrorClass) map[string]model.ErrorClass {
	return map[string]model.ErrorClass{"cloudflare": c, "google": c, "quad9": c}
}

// Every resolver failing the TLS handshake or answering non-DNS bytes
// while the authoritative servers answer is the vantage's network (an
// interceptor), not an outage of every zone: one vantage_down naming the
// signal, nothing else, and it resolves when the interception ends.
func TestVantageInterception(t *testing.T) {
	for _, tc := range []struct {
		name    string
		classes map[string]model.ErrorClass
		want    []string
	}{
		{"tls", allResolvers(model.ErrTLS), []string{"every resolver fails the TLS handshake (tls: cloudflare, google, quad9)", "TLS interception proxy"}},
		{"malformed", allResolvers(model.ErrMalformed), []string{"every resolver answers with bytes that are not DNS", "captive portal"}},
		{"mixed", map[string]model.ErrorClass{"cloudflare": model.ErrTLS, "google": model.ErrMalformed, "quad9": model.ErrMalformed},
			[]string{"the way an interceptor does (cloudflare tls, google malformed, quad9 malformed)"}},
	} {
		for _, controls := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/controls=%v", tc.name, controls), func(t *testing.T) {
				w := vantageWorld(t, controls)
				if !controls {
					// The outage lab's settings: with no control zone to
					// vouch, a zone would page the moment its resolvers
					// cross open_rounds.
					w.e.cfg.OpenAfter.Duration, w.e.cfg.OpenRounds, w.e.cfg.ResolveRounds = 0, 2, 2
				}
				w.runFor(3*time.Minute, 30*time.Second)
				w.probe = interceptProbe(tc.classes)
				w.runFor(10*time.Minute, 30*time.Second)
				if got := openedKinds(w.changes); fmt.Sprint(got) != "[vantage_down]" {
					t.Fatalf("opened %v, want only vantage_down", got)
				}
				inc := w.opened()[0].Incident
				if inc.Subject != "fra1" || inc.Pages() {
					t.Errorf("subject %s pages %v", inc.Subject, inc.Pages())
				}
				mustContain(t, "root cause", inc.RootCause, append([]string{"From vantage fra1",
					"on reachmon's own network is the likely cause", "other verdicts are suspended"}, tc.want...)...)
				w.probe = healthy("192.0.2.1", 300)
				w.runFor(10*time.Minute, 30*time.Second)
				if n := len(w.opened()); n != 1 {
					t.Fatalf("recovery opened incidents: %v", kinds(w.opened()))
				}
				if res := w.of(model.ChangeResolve); len(res) != 1 || res[0].Incident.ID != inc.ID {
					t.Fatalf("vantage down not resolved: %v", kinds(w.changes))
				}
			})
		}
	}
}

// Every resolver answering NXDOMAIN for the control zone (a captive
// portal's resolver) is vantage_down, judged from the rcode whether or
// not NXDOMAIN counts as a failure.
func TestVantageControlNXDOMAIN(t *testing.T) {
	w := vantageWorld(t, true)
	w.runFor(3*time.Minute, 30*time.Second)
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Kind == model.KindResolver {
			o := okObs(z, s, now, "", 60)
			o.Rcode = "NXDOMAIN"
			return o
		}
		return okObs(z, s, now, "192.0.2.1", 300)
	}
	w.runFor(5*time.Minute, 30*time.Second)
	if got := openedKinds(w.changes); fmt.Sprint(got) != "[vantage_down]" {
		t.Fatalf("opened %v, want only vantage_down", got)
	}
	inc := w.opened()[0].Incident
	mustContain(t, "root cause", inc.RootCause, "every resolver (cloudflare, google, quad9) answers NXDOMAIN for every control zone (control.example)",
		"intercepting resolver or captive portal", "reachmon's own network")
	mustContain(t, "timeline", inc.Timeline(), "resolver quad9: control.example. A NXDOMAIN for control zone control.example (3 rounds)")
	// One resolver answering the control zone again is not every resolver.
	w.probe = func(z string, s model.Server, now time.Time) model.Observation {
		if s.Kind == model.KindResolver && s.Name != "google" {
			o := okObs(z, s, now, "", 60)
			o.Rcode = "NXDOMAIN"
			return o
		}
		return okObs(z, s, now, "192.0.2.1", 300)
	}
	w.runFor(5*time.Minute, 30*time.Second)
	if res := w.of(model.ChangeResolve); len(res) != 1 || res[0].Incident.ID != inc.ID {
		t.Fatalf("vantage down not resolved once a resolver answered the control zone: %v", kinds(w.changes))
	}
}

// Not the vantage: one resolver of three failing TLS is that resolver's
// outage; a lone resolver cannot tell its own certificate from an
// interceptor's.
func TestVantageInterceptionNeedsEveryResolver(t *testing.T) {
	w := vantageWorld(t, true)
	w.runFor(3*time.Minute, 30*time.Second)
	w.probe = interceptProbe(map[string]model.ErrorClass{"quad9": model.ErrTLS})
	w.runFor(10*time.Minute, 30*time.Second)
	if got := openedKinds(w.changes); fmt.Sprint(got) != "[resolver_outage]" {
		t.Fatalf("one resolver failing TLS opened %v, want its resolver outage", got)
	}

	w1 := newWorld(t, testConfig(), Targets{Vantage: "fra1", Zones: []Zone{{Name: "a.example"}, {Name: "b.example"}},
		Resolvers: threeResolvers()[:1]})
	w1.probe = healthy("192.0.2.1", 300)
	w1.runFor(3*time.Minute, 30*time.Second)
	w1.probe = interceptProbe(map[string]model.ErrorClass{"cloudflare": model.ErrTLS})
	w1.runFor(10*time.Minute, 30*time.Second)
	for _, c := range w1.opened() {
		if c.Incident.Kind == model.IncidentVantageDown {
			t.Fatalf("a lone resolver failing TLS opened vantage_down: %s", c.Incident.RootCause)
		}
	}
}

// `reachmon probe`: every resolver failing the TLS handshake is this
// vantage's network, not an outage of the name.
func TestJudgeInterception(t *testing.T) {
	obs := func(classes map[string]model.ErrorClass) []model.Observation {
		var out []model.Observation
		for _, r := range []string{"cloudflare", "google", "quad9"} {
			s := model.Server{Name: r, Kind: model.KindResolver, Addr: r, Transport: model.TransportDoT, Validating: true}
			if c, ok := classes[r]; ok {
				out = append(out, failObs("example.com", s, t0, "", c))
			} else {
				out = append(out, okObs("example.com", s, t0, "192.0.2.1", 300))
			}
		}
		return out
	}
	v := Judge(ProbeSnapshot{Zone: "example.com", Observations: obs(allResolvers(model.ErrTLS))})
	if v.OK || v.Kind != model.IncidentVantageDown {
		t.Fatalf("verdict %+v, want vantage_down", v)
	}
	mustContain(t, "line", v.Line, "vantage down: every resolver fails the TLS handshake", "this vantage's network")
	mustContain(t, "root cause", v.RootCause, "From this vantage every resolver fails the TLS handshake", "interception proxy")

	v = Judge(ProbeSnapshot{Zone: "example.com", Observations: obs(allResolvers(model.ErrMalformed))})
	if v.Kind != model.IncidentVantageDown || !slices.Contains([]string{v.Line}, v.Line) {
		t.Fatalf("verdict %+v, want vantage_down", v)
	}
	mustContain(t, "line", v.Line, "bytes that are not DNS")

	v = Judge(ProbeSnapshot{Zone: "example.com", Observations: obs(map[string]model.ErrorClass{"quad9": model.ErrTLS})})
	if v.Kind == model.IncidentVantageDown {
		t.Fatalf("one resolver failing TLS judged vantage_down: %+v", v)
	}
	v = Judge(ProbeSnapshot{Zone: "example.com", Observations: obs(allResolvers(model.ErrTimeout))})
	if v.Kind == model.IncidentVantageDown {
		t.Fatalf("timeouts everywhere judged an interceptor: %+v", v)
	}
}
