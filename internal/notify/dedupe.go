package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Dedupe reasons (logged with every decision).
const (
	ReasonFirst           = "first notification"
	ReasonNowPages        = "first notification: now pages"
	ReasonDoesNotPage     = "severity does not page"
	ReasonSilenced        = "silenced"
	ReasonAlreadyNotified = "already notified"
	ReasonAlreadyResolved = "already resolved"
	ReasonNeverNotified   = "never notified"
	ReasonUnchanged       = "unchanged since last notification"
	ReasonResolved        = "resolved"
	ReasonRepeat          = "repeat interval"
	ReasonNotOpen         = "no longer open"
)

// decide says whether and how to deliver e given what was delivered for
// its incident (rec, nil if nothing was). It is pure.
func decide(rec *record, e *entry) (kind Kind, send bool, reason string) {
	inc := e.Change.Incident
	notified := rec != nil && rec.Notify.Delivered != ""
	resolved := notified && rec.Notify.Delivered == model.ChangeResolve
	if e.Reminder {
		switch {
		case !notified:
			return "", false, ReasonNeverNotified
		case resolved || !rec.Incident.IsOpen():
			return "", false, ReasonNotOpen
		}
		return KindReminder, true, ReasonRepeat
	}
	switch e.Change.Type {
	case model.ChangeOpen, model.ChangeUpdate:
		if resolved {
			return "", false, ReasonAlreadyResolved
		}
		if !notified {
			switch {
			case inc.Silenced:
				return "", false, ReasonSilenced
			case !inc.Pages():
				return "", false, ReasonDoesNotPage
			case !inc.IsOpen():
				return "", false, ReasonNotOpen
			case e.Change.Type == model.ChangeUpdate:
				return KindOpen, true, ReasonNowPages
			}
			return KindOpen, true, ReasonFirst
		}
		switch {
		case e.Change.Type == model.ChangeOpen:
			return "", false, ReasonAlreadyNotified
		case inc.Silenced:
			return "", false, ReasonSilenced
		case contentHash(inc) == rec.Hash:
			return "", false, ReasonUnchanged
		}
		return KindUpdate, true, e.Change.Reason
	case model.ChangeResolve:
		switch {
		case resolved:
			return "", false, ReasonAlreadyResolved
		case !notified:
			return "", false, ReasonNeverNotified
		}
		return KindResolve, true, ReasonResolved
	}
	return "", false, "unknown change type " + string(e.Change.Type)
}

// contentHash fingerprints what a message shows of an incident.
func contentHash(inc model.Incident) string {
	b, _ := json.Marshal(struct {
		Kind      model.IncidentKind
		Severity  model.Severity
		State     model.IncidentState
		RootCause string
		Evidence  []model.EvidenceItem
		Affected  []string
		ImpactAt  time.Time
	}{inc.Kind, inc.Severity, inc.State, inc.RootCause, inc.Evidence, inc.Affected, inc.ImpactAt})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// newEvidence returns the items newer than since.
func newEvidence(inc model.Incident, since time.Time) []model.EvidenceItem {
	var out []model.EvidenceItem
	for _, e := range inc.Evidence {
		if e.Time.After(since) {
			out = append(out, e)
		}
	}
	return out
}

func lastEvidence(inc model.Incident) time.Time {
	var t time.Time
	for _, e := range inc.Evidence {
		if e.Time.After(t) {
			t = e.Time
		}
	}
	return t
}
