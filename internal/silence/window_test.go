package silence

import (
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

func days(ds ...time.Weekday) [7]bool {
	var out [7]bool
	for _, d := range ds {
		out[d] = true
	}
	return out
}

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestWindowOpen(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	ny := mustLoc(t, "America/New_York")
	utc := func(s string) time.Time {
		t.Helper()
		tt, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	// Saturday 2026-12-05, Sunday 2026-12-06.
	crossing := config.MaintenanceWindow{Name: "nightly", Days: days(time.Saturday), Start: 22 * 60, End: 2 * 60, Location: time.UTC}
	// 2026-03-29: Berlin's clocks go from 02:00 to 03:00; 2026-10-25: from 03:00 back to 02:00.
	gap := config.MaintenanceWindow{Name: "gap", Days: days(time.Sunday), Start: 2*60 + 30, End: 3*60 + 30, Location: berlin}
	inGap := config.MaintenanceWindow{Name: "in-gap", Days: days(time.Sunday), Start: 2*60 + 10, End: 2*60 + 50, Location: berlin}
	back := config.MaintenanceWindow{Name: "back", Days: days(time.Sunday), Start: 60, End: 4 * 60, Location: berlin}
	office := config.MaintenanceWindow{Name: "office", Days: days(time.Monday), Start: 9 * 60, End: 17 * 60, Location: ny}
	whole := config.MaintenanceWindow{Name: "whole", Days: days(time.Wednesday), Start: 0, End: 24 * 60, Location: time.UTC}
	for _, tc := range []struct {
		name  string
		w     config.MaintenanceWindow
		at    string
		open  bool
		until string
	}{
		{"crossing: before start", crossing, "2026-12-05T21:59:59Z", false, ""},
		{"crossing: at start", crossing, "2026-12-05T22:00:00Z", true, "2026-12-06T02:00:00Z"},
		{"crossing: before midnight", crossing, "2026-12-05T23:30:00Z", true, "2026-12-06T02:00:00Z"},
		{"crossing: after midnight, the next day", crossing, "2026-12-06T01:59:59Z", true, "2026-12-06T02:00:00Z"},
		{"crossing: at end", crossing, "2026-12-06T02:00:00Z", false, ""},
		{"crossing: the next day's evening is not its day", crossing, "2026-12-06T23:00:00Z", false, ""},
		{"crossing: friday night", crossing, "2026-12-05T01:00:00Z", false, ""},
		{"DST forward: before the gap", gap, "2026-03-29T00:59:00Z", false, ""},                                         // 01:59 CET
		{"DST forward: opens at the first time after start", gap, "2026-03-29T01:00:00Z", true, "2026-03-29T01:30:00Z"}, // 03:00 CEST
		{"DST forward: closes at end", gap, "2026-03-29T01:30:00Z", false, ""},
		{"DST forward: a window inside the gap does not open", inGap, "2026-03-29T01:00:00Z", false, ""},
		{"DST forward: normal sunday", gap, "2026-04-05T00:30:00Z", true, "2026-04-05T01:30:00Z"}, // 02:30 CEST
		{"DST back: opens at 01:00 CEST", back, "2026-10-24T23:00:00Z", true, "2026-10-25T03:00:00Z"},
		{"DST back: the repeated hour", back, "2026-10-25T01:30:00Z", true, "2026-10-25T03:00:00Z"}, // 02:30 CET, second time
		{"DST back: lasts the hour longer", back, "2026-10-25T02:59:00Z", true, "2026-10-25T03:00:00Z"},
		{"DST back: closed at 04:00 CET", back, "2026-10-25T03:00:00Z", false, ""},
		{"New York, winter", office, "2026-12-07T14:00:00Z", true, "2026-12-07T22:00:00Z"},
		{"New York, summer", office, "2026-07-06T13:00:00Z", true, "2026-07-06T21:00:00Z"},
		{"New York, before 09:00 EDT", office, "2026-07-06T12:59:00Z", false, ""},
		{"whole day", whole, "2026-12-09T23:59:59Z", true, "2026-12-10T00:00:00Z"},
		{"whole day: not the next", whole, "2026-12-10T00:00:00Z", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			until, open := windowOpen(tc.w, utc(tc.at))
			if open != tc.open {
				t.Fatalf("open at %s = %v, want %v", tc.at, open, tc.open)
			}
			if open && !until.Equal(utc(tc.until)) {
				t.Errorf("until = %s, want %s", until.UTC().Format(time.RFC3339), tc.until)
			}
		})
	}
	if n := nextOpen(crossing, utc("2026-12-06T03:00:00Z")); !n.Equal(utc("2026-12-12T22:00:00Z")) {
		t.Errorf("next opening = %s", n)
	}
	if n := nextOpen(office, utc("2026-12-07T18:00:00Z")); !n.Equal(utc("2026-12-14T14:00:00Z")) {
		t.Errorf("next office opening = %s", n)
	}
}

func TestSilenceChoice(t *testing.T) {
	now := time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC)
	s := &Store{now: func() time.Time { return now }}
	s.silences = []Silence{
		{ID: "a1", Kind: model.IncidentAuthOutage, Subject: "*.example.com", Starts: now.Add(-time.Hour), Ends: now.Add(time.Hour), Reason: "r1", CreatedBy: "alice"},
		{ID: "b2", Subject: "shop.example.com", Starts: now.Add(-time.Hour), Ends: now.Add(5 * time.Hour), Reason: "r2", CreatedBy: "bob"},
		{ID: "c3", Subject: "*", Starts: now.Add(time.Hour), Ends: now.Add(9 * time.Hour), Reason: "later", CreatedBy: "carol"},
		{ID: "d4", Subject: "*", Starts: now.Add(-3 * time.Hour), Ends: now.Add(-time.Hour), Reason: "over", CreatedBy: "dave"},
	}
	s.windows = []config.MaintenanceWindow{{Name: "nightly", Days: days(time.Saturday), Start: 22 * 60, End: 2 * 60, Location: time.UTC,
		Kinds: []model.IncidentKind{model.IncidentResolverOutage}, Subject: "resolver-?"}}
	for _, tc := range []struct {
		kind    model.IncidentKind
		subject string
		id      string
	}{
		{model.IncidentAuthOutage, "www.example.com", "a1"},
		{model.IncidentAuthOutage, "WWW.Example.COM", "a1"},
		{model.IncidentDNSSEC, "www.example.com", ""},
		{model.IncidentAuthOutage, "example.com", ""},
		{model.IncidentAuthOutage, "shop.example.com", "b2"}, // both match: the later end wins
		{model.IncidentResolverOutage, "resolver-1", "maintenance/nightly"},
		{model.IncidentResolverOutage, "resolver-10", ""},
		{model.IncidentFeedLost, "resolver-1", ""},
	} {
		got, ok := s.Silence(tc.kind, tc.subject, now)
		if got.ID != tc.id || ok != (tc.id != "") {
			t.Errorf("Silence(%s, %s) = %+v, %v; want %q", tc.kind, tc.subject, got, ok, tc.id)
		}
	}
	w, _ := s.Silence(model.IncidentResolverOutage, "resolver-1", now)
	if w.By != "config" || !w.Until.Equal(time.Date(2026, 12, 6, 2, 0, 0, 0, time.UTC)) ||
		w.Reason != "maintenance window nightly (sat 22:00-02:00 UTC)" {
		t.Errorf("window silence = %+v", w)
	}
}

func TestSubjectPattern(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "anything/at.all", true},
		{"", "x", true},
		{"*.example.com", "www.example.com", true},
		{"*.example.com", "example.com", false},
		{"192.0.2.*", "192.0.2.0/24", true},
		{"res?", "res1", true},
		{"res?", "res12", false},
		{"a*b*c", "aXXbYYbZc", true},
		{"a*b*c", "aXXbYYbZ", false},
	} {
		if got := model.SubjectPattern(tc.p).Match(tc.s); got != tc.want {
			t.Errorf("%q.Match(%q) = %v", tc.p, tc.s, got)
		}
	}
}
