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
	silenced.Silenced, silenced.Silence = true, "maintenance"
	changed := inc
	changed.Evidence = append(changed.Evidence, model.EvidenceItem{Time: t0.Add(time.Minute), Text: "EDE 9"})
	resolved := inc
	resolved.State = model.StateResolved

	opened := &record{Notify: model.NotifyState{Delivered: model.ChangeOpen}, Hash: contentHash(inc), Incident: inc}
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
		{"update silenced after paging", opened, ch(model.ChangeUpdate, silenced), "", false, ReasonSilenced},
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
