package evaluate

import (
	"fmt"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Silencer says which silence covers an incident of kind about subject at
// now: a silence made at run time or a maintenance window
// (internal/silence). The evaluator's owner calls it on every Tick for
// every open incident, so it must be cheap and must not block on
// anything but a short lock.
type Silencer interface {
	Silence(kind model.IncidentKind, subject string, now time.Time) (model.Silenced, bool)
}

// SetSilencer adds the silences of s to the [[evaluate.silence]] entries.
// Call it before the first Apply or Tick.
func (e *Evaluator) SetSilencer(s Silencer) { e.silencer = s }

// silenceFor returns what silences inc at now: an [[evaluate.silence]]
// entry (matched against the subject and the affected names, as that
// section always was), else the silencer's silence or window (matched
// against the subject); zero when none does.
func (e *Evaluator) silenceFor(inc *model.Incident, now time.Time) model.Silenced {
	for i, sl := range e.cfg.Silence {
		if sl.Matches(inc.Kind, inc.Subject, inc.Affected, now) {
			reason := sl.Reason
			if reason == "" {
				reason = silencedByConfiguration
			}
			return model.Silenced{ID: fmt.Sprintf("evaluate.silence[%d]", i), By: "config", Until: sl.End.UTC(), Reason: reason}
		}
	}
	if e.silencer != nil {
		if s, ok := e.silencer.Silence(inc.Kind, inc.Subject, now); ok {
			return s
		}
	}
	return model.Silenced{}
}

// recheckSilences judges again what silences each open incident: silences
// are added and expired at run time, windows open and close by the clock.
// An incident that becomes silenced, or whose silence ends, gets an
// update whose material tells it (a page already out gets one message
// saying who silenced it and until when; one never sent is sent when the
// silence ends: internal/notify decides). A change from one silence to
// another is recorded only.
func (e *Evaluator) recheckSilences(now time.Time) {
	if len(e.cfg.Silence) == 0 && e.silencer == nil {
		return
	}
	for _, s := range e.openSlots() {
		inc := s.inc
		before, after := inc.Silenced, e.silenceFor(inc, now)
		if before == after {
			continue
		}
		inc.Silenced = after
		var material string
		switch {
		case before.IsZero():
			material = after.Text()
		case after.IsZero():
			material = before.EndedText()
		}
		reason := "silence"
		if material != "" {
			reason = material
			e.addEvidence(s, []model.EvidenceItem{{Time: now, Text: material}})
		}
		inc.Updated = now
		e.emit(model.ChangeUpdate, s, inc.Kind, inc.Severity, reason, material)
	}
}
