package model

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode"
)

// Silenced names what silences an incident: a silence made at run time
// (`reachmon silence add`, POST /api/v1/silences), a maintenance window
// of the configuration (ID "maintenance/<name>", By "config") or an
// [[evaluate.silence]] entry (ID "evaluate.silence[N]", By "config"). A
// silenced incident is recorded and shown, not paged. The zero value is
// "not silenced".
type Silenced struct {
	ID string `json:"id"`
	By string `json:"by"`
	// Until is when the silence ends (zero: it has no end).
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason"`
}

// IsZero reports whether nothing silences the incident.
func (s Silenced) IsZero() bool { return s.ID == "" }

// UnmarshalJSON reads the object, and the boolean that incident files
// written before silences had identities hold ("silenced": true, the
// reason in a "silence" member that is no longer read).
func (s *Silenced) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) {
	case "true":
		*s = Silenced{ID: "config", By: "config", Reason: "silenced by configuration"}
		return nil
	case "false", "null":
		*s = Silenced{}
		return nil
	}
	type plain Silenced
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Silenced(p)
	return nil
}

// Text tells the silence in one line, as a thread update says it:
// "silenced by alice@ops1 until 2026-12-02 16:00 UTC (silence 3fa2c1d0e4b5): DNS provider migration".
func (s Silenced) Text() string {
	var b strings.Builder
	b.WriteString("silenced by ")
	b.WriteString(s.By)
	if !s.Until.IsZero() {
		b.WriteString(" until ")
		b.WriteString(s.Until.UTC().Format("2006-01-02 15:04 UTC"))
	}
	b.WriteString(" (")
	b.WriteString(s.label())
	b.WriteString(")")
	if s.Reason != "" {
		b.WriteString(": ")
		b.WriteString(s.Reason)
	}
	return b.String()
}

// EndedText tells that the silence ended: "silence 3fa2c1d0e4b5 by alice@ops1 ended".
func (s Silenced) EndedText() string {
	return s.label() + " by " + s.By + " ended"
}

func (s Silenced) label() string {
	if strings.HasPrefix(s.ID, "maintenance/") {
		return "maintenance window " + strings.TrimPrefix(s.ID, "maintenance/")
	}
	return "silence " + s.ID
}

// SubjectPattern is a glob over incident subjects: "*" matches any run of
// characters (dots and slashes included), "?" one character, everything
// else itself, case-insensitively ("*.example.com", "192.0.2.*",
// "resolver-?"). The empty pattern matches every subject.
type SubjectPattern string

// MaxPatternLen bounds a subject pattern (a domain name is at most 253).
const MaxPatternLen = 256

// Check reports why p is not a usable pattern, or nil.
func (p SubjectPattern) Check() error {
	if len(p) > MaxPatternLen {
		return patternError("is longer than 256 characters")
	}
	for _, r := range string(p) {
		switch {
		case r == '[' || r == ']' || r == '\\':
			return patternError("uses " + string(r) + ": only * and ? are wildcards")
		case unicode.IsSpace(r) || unicode.IsControl(r):
			return patternError("holds a space or a control character")
		case r == unicode.ReplacementChar:
			return patternError("is not valid UTF-8")
		}
	}
	return nil
}

type patternError string

func (e patternError) Error() string { return string(e) }

// Match reports whether subject matches p (the empty pattern matches
// everything).
func (p SubjectPattern) Match(subject string) bool {
	if p == "" {
		return true
	}
	return globMatch([]rune(strings.ToLower(string(p))), []rune(strings.ToLower(subject)))
}

// globMatch matches with * and ?, iteratively (no backtracking blow-up:
// the last star is resumed, which is enough for patterns of * and ?).
func globMatch(p, s []rune) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
