package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
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
	ReasonNotMaterial     = "not material"
	ReasonCoalesced       = "folded into a held update"
	ReasonSuperseded      = "superseded by a later message"
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
		case rec.Incident.IsSilenced():
			return "", false, ReasonSilenced
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
			case inc.IsSilenced():
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
		case inc.IsSilenced() && !rec.Incident.IsSilenced():
			// The one message of a silence: who silenced it, until when
			// and why (the evaluator's material says so).
			return KindUpdate, true, silenceCause(e.Change.Material, inc.Silenced.Text())
		case inc.IsSilenced():
			return "", false, ReasonSilenced
		case rec.Incident.IsSilenced():
			// The silence ended while the incident is still open.
			return KindUpdate, true, silenceCause(e.Change.Material, rec.Incident.Silenced.EndedText())
		case e.Change.Material == "":
			// Recorded in the incident store, not worth a message: it
			// reaches people with the next material update.
			return "", false, ReasonNotMaterial
		case contentHash(inc) == rec.Hash:
			return "", false, ReasonUnchanged
		}
		return KindUpdate, true, e.Change.Material
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

// silenceCause is the reason of a silence's message: the change's
// material, which tells the silence when the evaluator saw it start or
// end, else fallback.
func silenceCause(material, fallback string) string {
	if material == "" {
		return fallback
	}
	return material
}

// severityChange reports whether an update changes the severity: never
// held by the minimum update interval.
func severityChange(c model.IncidentChange) bool {
	return c.Type == model.ChangeUpdate && c.PrevSeverity != "" && c.PrevSeverity != c.Incident.Severity
}

// fold merges update later into the held update c: the later incident
// and reason, every material cause once, the earlier previous kind and
// severity.
func fold(c, later model.IncidentChange) model.IncidentChange {
	out := later
	out.PrevKind, out.PrevSeverity = c.PrevKind, c.PrevSeverity
	out.Material = joinCauses(c.Material, later.Material)
	return out
}

// joinCauses joins "; "-separated causes, each once; a later "recovery
// began: ..." replaces an earlier one.
func joinCauses(a, b string) string {
	var out []string
	for _, s := range []string{a, b} {
		for c := range strings.SplitSeq(s, "; ") {
			if c == "" || slices.Contains(out, c) {
				continue
			}
			if k, _, ok := strings.Cut(c, ": "); ok && k == "recovery began" {
				out = slices.DeleteFunc(out, func(x string) bool { return strings.HasPrefix(x, k+": ") })
			}
			out = append(out, c)
		}
	}
	return strings.Join(out, "; ")
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
