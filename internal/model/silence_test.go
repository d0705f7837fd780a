package model

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Incident files written before silences had identities hold
// "silenced": true and the reason in "silence": they still load, silenced.
func TestSilencedJSON(t *testing.T) {
	var old Incident
	if err := json.Unmarshal([]byte(`{"id": "x", "silenced": true, "silence": "DNSSEC rollout"}`), &old); err != nil {
		t.Fatal(err)
	}
	if !old.IsSilenced() || old.Silenced.ID != "config" || old.Pages() {
		t.Errorf("legacy silenced incident = %+v", old.Silenced)
	}
	var not Incident
	if err := json.Unmarshal([]byte(`{"id": "x", "silenced": false}`), &not); err != nil || not.IsSilenced() {
		t.Errorf("silenced false = %+v, %v", not.Silenced, err)
	}
	s := Silenced{ID: "3fa2c1d0e4b5", By: "alice@ops1", Until: time.Date(2026, 12, 2, 17, 40, 0, 0, time.UTC), Reason: "migration"}
	b, err := json.Marshal(Incident{ID: "x", Silenced: s})
	if err != nil || !strings.Contains(string(b), `"silenced":{"id":"3fa2c1d0e4b5","by":"alice@ops1","until":"2026-12-02T17:40:00Z","reason":"migration"}`) {
		t.Errorf("marshalled: %s, %v", b, err)
	}
	var back Incident
	if err := json.Unmarshal(b, &back); err != nil || back.Silenced != s {
		t.Errorf("round trip: %+v, %v", back.Silenced, err)
	}
	if b, _ := json.Marshal(Incident{ID: "x"}); strings.Contains(string(b), "silenced") {
		t.Errorf("an incident not silenced says so: %s", b)
	}
	if got := s.Text(); got != "silenced by alice@ops1 until 2026-12-02 17:40 UTC (silence 3fa2c1d0e4b5): migration" {
		t.Errorf("Text = %q", got)
	}
	w := Silenced{ID: "maintenance/nightly", By: "config"}
	if got := w.EndedText(); got != "maintenance window nightly by config ended" {
		t.Errorf("EndedText = %q", got)
	}
}

func TestSubjectPatternCheck(t *testing.T) {
	for p, bad := range map[string]string{
		"*.example.com":          "",
		"192.0.2.0/24 AS6451?":   "holds a space",
		"a[b]":                   "uses [",
		`a\b`:                    `uses \`,
		"a\tb":                   "holds a space",
		strings.Repeat("a", 257): "longer than 256",
		"\xff":                   "not valid UTF-8",
	} {
		err := SubjectPattern(p).Check()
		if (err == nil) != (bad == "") || (err != nil && !strings.Contains(err.Error(), bad)) {
			t.Errorf("Check(%q) = %v, want %q", p, err, bad)
		}
	}
}

// SubjectPattern.Match agrees with a regular expression built from the
// pattern, over every pattern and subject of a small alphabet.
func TestSubjectPatternMatchesLikeRegexp(t *testing.T) {
	alphabet := []string{"a", "b", ".", "*", "?"}
	var words func(n int) []string
	words = func(n int) []string {
		if n == 0 {
			return []string{""}
		}
		var out []string
		for _, w := range words(n - 1) {
			out = append(out, w)
			for _, c := range alphabet {
				out = append(out, w+c)
			}
		}
		return out
	}
	seen := map[string]bool{}
	var pats []string
	for _, w := range words(4) {
		if !seen[w] {
			seen[w] = true
			pats = append(pats, w)
		}
	}
	subjects := []string{"", "a", "b", "ab", "ba", "a.b", "aab", "abab", "A.B", "a*b", "?", "aaaa.bbbb"}
	for _, p := range pats {
		var re strings.Builder
		re.WriteString("(?is)^")
		for _, r := range p {
			switch r {
			case '*':
				re.WriteString(".*")
			case '?':
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString("$")
		rx := regexp.MustCompile(re.String())
		for _, s := range subjects {
			want := rx.MatchString(s) || p == ""
			if got := SubjectPattern(p).Match(s); got != want {
				t.Errorf("%q.Match(%q) = %v, regexp says %v", p, s, got, want)
			}
		}
	}
}
