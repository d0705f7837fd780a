package notify

import (
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2021, 9, 30, 15, 0, 0, 0, time.UTC)
	inc := model.Incident{ID: "i", Kind: model.IncidentDNSSEC, Severity: model.SeverityCritical, State: model.StateOpen,
		Subject: "slack.com", RootCause: "DS mismatch", Evidence: []model.EvidenceItem{{Time: t0, Text: "SERVFAIL"}}}
	info := inc
	info.Severity = model.SeverityInfo
	silenced := inc
	silenced.Silenced = model.Silenced{ID: "s1", By: "alice", Until: t0.Add(2 * time.Hour), Reason: "maintenance"}
	changed := inc
	changed.Evidence = append(changed.Evidence, model.EvidenceItem{Time: t0.Add(time.Minute), Text: "EDE 9"})
	resolved := inc
	resolved.State = model.StateResolved

	opened := &record{Notify: model.NotifyState{Delivered: model.ChangeOpen}, Hash: contentHash(inc), Incident: inc}
	// toldSilenced: the page is out and its silence was told.
	toldSilenced := &record{Notify: model.NotifyState{Delivered: model.ChangeUpdate}, Hash: contentHash(inc), Incident: silenced}
	silenceStart := &entry{Change: model.IncidentChange{Type: model.ChangeUpdate, Incident: silenced, Reason: "silence", Material: silenced.Silenced.Text()}}
	silenceEnd := &entry{Change: model.IncidentChange{Type: model.ChangeUpdate, Incident: inc, Reason: "silence", Material: silenced.Silenced.EndedText()}}
	done := &record{Notify: model.NotifyState{Delivered: model.ChangeResolve}, Hash: contentHash(resolved), Incident: resolved}
	ch := func(typ model.ChangeType, i model.Incident) *entry {
		return &entry{Change: model.IncidentChange{Type: typ, Incident: i, Reason: "why, evidence", Material: "why"}}
	}
	recordOnly := &entry{Change: model.IncidentChange{Type: model.ChangeUpdate, Incident: changed, Reason: "time to impact, evidence"}}
	reminder := &entry{Change: model.IncidentChange{Type: model.ChangeUpdate, Incident: inc}, Reminder: true}

	for _, tc := range []struct {
		name   string
		rec    *record
		e      *entry
		kind   Kind
		send   bool
		reason string
	}{
		{"first open pages", nil, ch(model.ChangeOpen, inc), KindOpen, true, ReasonFirst},
		{"info does not page", nil, ch(model.ChangeOpen, info), "", false, ReasonDoesNotPage},
		{"silenced does not page", nil, ch(model.ChangeOpen, silenced), "", false, ReasonSilenced},
		{"escalated update opens", nil, ch(model.ChangeUpdate, inc), KindOpen, true, ReasonNowPages},
		{"duplicate open", opened, ch(model.ChangeOpen, inc), "", false, ReasonAlreadyNotified},
		{"update with news", opened, ch(model.ChangeUpdate, changed), KindUpdate, true, "why"},
		{"update without news", opened, ch(model.ChangeUpdate, inc), "", false, ReasonUnchanged},
		{"update not material", opened, recordOnly, "", false, ReasonNotMaterial},
		{"silence of a page is told once", opened, silenceStart, KindUpdate, true,
			"silenced by alice until 2021-09-30 17:00 UTC (silence s1): maintenance"},
		{"silence told without its material", opened, ch(model.ChangeUpdate, silenced), KindUpdate, true, "why"},
		{"update while silenced", toldSilenced, ch(model.ChangeUpdate, silenced), "", false, ReasonSilenced},
		{"silence end of a page is told", toldSilenced, silenceEnd, KindUpdate, true, "silence s1 by alice ended"},
		{"silence end told even unchanged", toldSilenced, &entry{Change: model.IncidentChange{Type: model.ChangeUpdate, Incident: inc}},
			KindUpdate, true, "silence s1 by alice ended"},
		{"silence end of a never paged incident pages", nil, silenceEnd, KindOpen, true, ReasonNowPages},
		{"reminder while silenced", toldSilenced, reminder, "", false, ReasonSilenced},
		{"resolve while silenced", toldSilenced, ch(model.ChangeResolve, resolved), KindResolve, true, ReasonResolved},
		{"resolve of a page", opened, ch(model.ChangeResolve, resolved), KindResolve, true, ReasonResolved},
		{"resolve never paged", nil, ch(model.ChangeResolve, resolved), "", false, ReasonNeverNotified},
		{"duplicate resolve", done, ch(model.ChangeResolve, resolved), "", false, ReasonAlreadyResolved},
		{"update after resolve", done, ch(model.ChangeUpdate, changed), "", false, ReasonAlreadyResolved},
		{"reminder of an open page", opened, reminder, KindReminder, true, ReasonRepeat},
		{"reminder after resolve", done, reminder, "", false, ReasonNotOpen},
		{"reminder never paged", nil, reminder, "", false, ReasonNeverNotified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, send, reason := decide(tc.rec, tc.e)
			if kind != tc.kind || send != tc.send || reason != tc.reason {
				t.Errorf("decide = %q, %v, %q; want %q, %v, %q", kind, send, reason, tc.kind, tc.send, tc.reason)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	d := &Dispatcher{baseBackoff: time.Second}
	d.pol.Store(&timing{maxBackoff: time.Minute})
	d.rnd = newTestRand()
	for attempt := 1; attempt <= 12; attempt++ {
		full := min(time.Second<<(attempt-1), time.Minute)
		for range 50 {
			got := d.backoff(attempt)
			if got < full/2 || got > full {
				t.Fatalf("attempt %d: backoff %s outside [%s, %s]", attempt, got, full/2, full)
			}
		}
	}
}
