package model

import (
	"encoding/json"
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
