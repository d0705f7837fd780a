// Package silence keeps the silences made at run time (`reachmon silence
// add`, POST /api/v1/silences) in state_dir/silences.json and, with the
// configuration's recurring maintenance windows ([[maintenance]]), says
// which of them covers an incident: the evaluator asks on every tick
// (Store.Silence), so a silence applies, and a window opens and closes,
// within a second. What a silenced incident does and does not send is
// decided in internal/notify.
package silence

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reachmon/reachmon/internal/model"
)

// Schemas of the API documents.
const (
	// ListSchema names GET /api/v1/silences.
	ListSchema = "reachmon.silences/v1"
	// Schema names one silence (POST /api/v1/silences and .../expire).
	Schema = "reachmon.silence/v1"
)

// Bounds.
const (
	// KeepExpired is how long an ended silence stays in the list.
	KeepExpired = 24 * time.Hour
	// MaxSilences bounds the silences kept (ended ones included).
	MaxSilences = 1000
	// MaxDuration bounds how long one silence may last.
	MaxDuration = 366 * 24 * time.Hour
	// MaxReason and MaxBy bound the texts (bytes).
	MaxReason = 1000
	MaxBy     = 200
)

// States of a silence.
const (
	StatePending = "pending" // starts in the future
	StateActive  = "active"
	StateExpired = "expired" // ended, or expired early
)

// Silence is one silence made at run time.
type Silence struct {
	ID string `json:"id"`
	// Kind is the one incident kind it covers; empty: every kind.
	Kind model.IncidentKind `json:"kind,omitempty"`
	// Subject is the glob over incident subjects ("*": every subject).
	Subject   model.SubjectPattern `json:"subject"`
	Starts    time.Time            `json:"starts"`
	Ends      time.Time            `json:"ends"`
	Reason    string               `json:"reason"`
	CreatedBy string               `json:"created_by"`
	CreatedAt time.Time            `json:"created_at"`
	// ExpiredBy is who ended it early (POST .../expire); Ends is then
	// when.
	ExpiredBy string `json:"expired_by,omitempty"`
}

// State is pending, active or expired at now.
func (s Silence) State(now time.Time) string {
	switch {
	case now.Before(s.Starts):
		return StatePending
	case now.Before(s.Ends):
		return StateActive
	}
	return StateExpired
}

// Matches reports whether s covers an incident of kind about subject at
// now.
func (s Silence) Matches(kind model.IncidentKind, subject string, now time.Time) bool {
	return s.State(now) == StateActive && (s.Kind == "" || s.Kind == kind) && s.Subject.Match(subject)
}

// Silenced is what an incident it covers carries.
func (s Silence) Silenced() model.Silenced {
	return model.Silenced{ID: s.ID, By: s.CreatedBy, Until: s.Ends, Reason: s.Reason}
}

// Request is the body of POST /api/v1/silences. Times are RFC 3339;
// give ends or duration ("2h", "90m"), not both.
type Request struct {
	Kind     string `json:"kind"`
	Subject  string `json:"subject"`
	Starts   string `json:"starts,omitempty"`
	Ends     string `json:"ends,omitempty"`
	Duration string `json:"duration,omitempty"`
	Reason   string `json:"reason"`
	// CreatedBy names who silences ("alice@ops1").
	CreatedBy string `json:"created_by"`
}

// FieldError is a request field that cannot be used.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "field " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// build validates r and returns the silence it asks for (without an ID).
func (r Request) build(now time.Time) (Silence, error) {
	s := Silence{Kind: model.IncidentKind(strings.TrimSpace(r.Kind)), Subject: model.SubjectPattern(strings.TrimSpace(r.Subject)),
		Reason: strings.TrimSpace(r.Reason), CreatedBy: strings.TrimSpace(r.CreatedBy), CreatedAt: now.UTC()}
	if s.Kind != "" && !knownKind(s.Kind) {
		return s, fieldErr("kind", "%q is not an incident kind (%s; empty: every kind)", r.Kind, kindList())
	}
	if s.Subject == "" {
		return s, fieldErr("subject", "required: a glob over incident subjects (\"*.example.com\", \"192.0.2.*\"; \"*\" for every subject)")
	}
	if err := s.Subject.Check(); err != nil {
		return s, fieldErr("subject", "%q %v", r.Subject, err)
	}
	if err := checkText("reason", s.Reason, MaxReason, true); err != nil {
		return s, err
	}
	if err := checkText("created_by", s.CreatedBy, MaxBy, true); err != nil {
		return s, err
	}
	s.Starts = now.UTC()
	if r.Starts != "" {
		t, err := time.Parse(time.RFC3339, r.Starts)
		if err != nil {
			return s, fieldErr("starts", "%q is not an RFC 3339 time (2026-12-02T16:00:00Z)", r.Starts)
		}
		if t.After(now) {
			s.Starts = t.UTC()
		}
	}
	switch {
	case r.Ends != "" && r.Duration != "":
		return s, fieldErr("duration", "give ends or duration, not both")
	case r.Ends != "":
		t, err := time.Parse(time.RFC3339, r.Ends)
		if err != nil {
			return s, fieldErr("ends", "%q is not an RFC 3339 time (2026-12-02T16:00:00Z)", r.Ends)
		}
		s.Ends = t.UTC()
		if !s.Ends.After(s.Starts) || !s.Ends.After(now) {
			return s, fieldErr("ends", "%s is not after the start %s and now", s.Ends.Format(time.RFC3339), s.Starts.Format(time.RFC3339))
		}
	case r.Duration != "":
		d, err := time.ParseDuration(r.Duration)
		if err != nil || d <= 0 {
			return s, fieldErr("duration", "%q is not a positive duration (\"2h\", \"90m\")", r.Duration)
		}
		if d > MaxDuration {
			return s, fieldErr("duration", "%s is longer than %s", d, MaxDuration)
		}
		s.Ends = s.Starts.Add(d)
	default:
		return s, fieldErr("ends", "required: give ends (RFC 3339) or duration (\"2h\")")
	}
	if s.Ends.Sub(s.Starts) > MaxDuration {
		return s, fieldErr("ends", "the silence would last %s, longer than %s", s.Ends.Sub(s.Starts).Round(time.Second), MaxDuration)
	}
	return s, nil
}

func checkText(field, v string, max int, required bool) error {
	switch {
	case v == "" && required:
		return fieldErr(field, "required")
	case len(v) > max:
		return fieldErr(field, "longer than %d bytes", max)
	case !utf8.ValidString(v):
		return fieldErr(field, "not valid UTF-8")
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fieldErr(field, "holds a control character")
	}
	return nil
}

// check reports why a silence read from the file cannot be used.
func (s Silence) check() error {
	switch {
	case s.ID == "" || !validID(s.ID):
		return fmt.Errorf("silence id %q is not valid", s.ID)
	case s.Kind != "" && !knownKind(s.Kind):
		return fmt.Errorf("silence %s: kind %q is not an incident kind", s.ID, s.Kind)
	case s.Subject.Check() != nil:
		return fmt.Errorf("silence %s: subject %q: %v", s.ID, s.Subject, s.Subject.Check())
	case s.Starts.IsZero() || s.Ends.Before(s.Starts):
		return fmt.Errorf("silence %s: ends %s before starts %s", s.ID, s.Ends, s.Starts)
	}
	return nil
}

// newID is 12 random hex digits.
func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b[:])
}

// validID: what newID makes, and nothing with a slash (maintenance
// windows' ids) or anything a URL path would need escaped.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func knownKind(k model.IncidentKind) bool {
	for _, x := range model.IncidentKinds {
		if x == k {
			return true
		}
	}
	return false
}

func kindList() string {
	s := make([]string, len(model.IncidentKinds))
	for i, k := range model.IncidentKinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
