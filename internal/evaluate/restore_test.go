package evaluate

import (
	"maps"
	"net/netip"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// TestRestoredIncidentWaitsForEveryServer: after a restart the resolvers
// often answer before the authoritative servers are probed again. A
// restored authoritative outage must not resolve on that half of the
// evidence (and then open again as a second page); it stays open until
// every nameserver has a verdict, and resolves only when they recover.
func TestRestoredIncidentWaitsForEveryServer(t *testing.T) {
	cfg := testConfig()
	cfg.OpenRounds, cfg.ResolveRounds = 2, 2
	cfg.OpenAfter.Duration, cfg.ResolveAfter.Duration = 0, 0
	e := New(cfg, Targets{Vantage: "test", Zones: []Zone{{Name: "lab.example"}}})
	restored := model.Incident{ID: "20261123T120000Z-abc123", Kind: model.IncidentAuthOutage, Severity: model.SeverityCritical,
		State: model.StateOpen, SubjectKind: model.SubjectZone, Subject: "lab.example",
		Opened: t0, Confirmed: t0, Updated: t0, RootCause: "Every authoritative server of lab.example fails."}
	e.Restore([]model.Incident{restored})

	now := t0.Add(time.Minute)
	var changes []model.IncidentChange
	apply := func(evs ...model.Event) {
		for _, ev := range evs {
			ch := e.Apply(ev)
			checkChanges(t, ch)
			changes = append(changes, ch...)
		}
		now = now.Add(time.Second)
	}
	auth := model.Server{Name: "ns1.lab.example.", Kind: model.KindAuthoritative, Addr: "192.0.2.53:53"}
	res := model.Server{Name: "local", Kind: model.KindResolver, Addr: "127.0.0.1:53", Validating: true}
	apply(model.Discovery{Time: now, Zone: "lab.example.", Servers: []model.AuthServer{
		{Host: auth.Name, Addr: netip.MustParseAddrPort(auth.Addr), Sources: []model.AuthSource{model.SourceConfig}}}})
	for range 4 {
		apply(okObs("lab.example", res, now, "192.0.2.80", 300))
	}
	for _, c := range changes {
		t.Errorf("change before the nameserver was probed again: %s %s (%s)", c.Type, c.Incident.ID, c.Reason)
	}
	for range 3 {
		apply(failObs("lab.example", auth, now, "REFUSED", ""))
	}
	for _, c := range changes {
		if c.Type != model.ChangeUpdate || c.Incident.ID != restored.ID {
			t.Errorf("while the server still fails: %s %s (%s), want only updates of %s", c.Type, c.Incident.ID, c.Reason, restored.ID)
		}
	}
	changes = nil
	for range 3 {
		apply(okObs("lab.example", auth, now, "192.0.2.80", 300))
	}
	e.Tick(now)
	var resolved bool
	for _, c := range changes {
		if c.Type == model.ChangeOpen {
			t.Errorf("opened %s after recovery", c.Incident.ID)
		}
		resolved = resolved || c.Type == model.ChangeResolve && c.Incident.ID == restored.ID
	}
	if !resolved {
		t.Errorf("restored incident not resolved after recovery: %+v", changes)
	}
}

// TestRestoredIncidentOfAZoneGone: reachmon restarts on a configuration
// without a zone or resolver that has an open incident (edited while it
// was down, or its [shard] moved the zone to another instance). Nothing
// watches the subject: the incident resolves at the first tick with the
// reason a reload gives, not as a recovery ("resolves again") that no
// probe saw. An incident of a zone still configured stays open.
func TestRestoredIncidentOfAZoneGone(t *testing.T) {
	e := New(testConfig(), Targets{Vantage: "test", Zones: []Zone{{Name: "kept.example"}},
		Resolvers: []Resolver{{Name: "local", Addr: netip.MustParseAddr("127.0.0.1")}}})
	inc := func(id string, kind model.IncidentKind, sk model.SubjectKind, subject string) model.Incident {
		return model.Incident{ID: id, Kind: kind, Severity: model.SeverityCritical, State: model.StateOpen,
			SubjectKind: sk, Subject: subject, Opened: t0, Confirmed: t0, Updated: t0, RootCause: "trouble with " + subject}
	}
	e.Restore([]model.Incident{
		inc("20261123T120000Z-000001", model.IncidentAuthOutage, model.SubjectZone, "gone.example"),
		inc("20261123T120000Z-000002", model.IncidentResolverOutage, model.SubjectResolver, "removed-resolver"),
		inc("20261123T120000Z-000003", model.IncidentAuthOutage, model.SubjectZone, "kept.example"),
		inc("20261123T120000Z-000004", model.IncidentResolverOutage, model.SubjectResolver, "local"),
	})
	want := map[string]string{
		"20261123T120000Z-000001": ReasonZoneRemoved,
		"20261123T120000Z-000002": ReasonResolverRemoved,
	}
	now := t0.Add(time.Minute)
	ch := e.Tick(now)
	checkChanges(t, ch)
	got := map[string]string{}
	for _, c := range ch {
		if c.Type != model.ChangeResolve {
			t.Errorf("first tick: %s %s (%s), want only resolves", c.Type, c.Incident.ID, c.Reason)
			continue
		}
		got[c.Incident.ID] = c.Reason
		if last := c.Incident.Evidence[len(c.Incident.Evidence)-1].Text; last != "resolved: "+c.Reason {
			t.Errorf("%s: last evidence %q, want the reason", c.Incident.ID, last)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("resolved at the first tick: %v, want %v", got, want)
	}
	open := map[string]bool{}
	for _, inc := range e.Open() {
		open[inc.ID] = true
	}
	if len(open) != 2 || !open["20261123T120000Z-000003"] || !open["20261123T120000Z-000004"] {
		t.Errorf("open after the first tick: %v, want the kept zone's and resolver's", open)
	}
	if ch := e.Tick(now.Add(time.Second)); len(ch) != 0 {
		t.Errorf("second tick: %+v", ch)
	}
}
