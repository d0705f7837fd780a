package silence

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/statefile"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func openAt(t *testing.T, dir string, c *clock) *Store {
	t.Helper()
	s, err := Open(dir, nil, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreRestartKeepsSilences(t *testing.T) {
	dir := t.TempDir()
	c := &clock{time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)}
	s := openAt(t, dir, c)
	a, err := s.Add(Request{Kind: "authoritative_outage", Subject: "*.example.com", Duration: "2h", Reason: "provider migration", CreatedBy: "alice@ops1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Add(Request{Subject: "192.0.2.*", Starts: "2026-12-02T15:00:00Z", Ends: "2026-12-02T16:00:00Z", Reason: "renumbering", CreatedBy: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || !validID(a.ID) || a.State(c.t) != StateActive || b.State(c.t) != StatePending ||
		!a.Ends.Equal(c.t.Add(2*time.Hour)) || a.Kind != model.IncidentAuthOutage {
		t.Fatalf("added %+v and %+v", a, b)
	}
	if _, err := s.Expire(b.ID, "carol"); err != nil {
		t.Fatal(err)
	}

	// A restart: the same silences, in force at once.
	s2 := openAt(t, dir, c)
	v := s2.View()
	if len(v.Silences) != 2 || v.Silences[0].ID != a.ID || v.Silences[0].State != StateActive ||
		v.Silences[1].ID != b.ID || v.Silences[1].State != StateExpired || v.Silences[1].ExpiredBy != "carol" {
		t.Fatalf("after restart: %+v", v.Silences)
	}
	got, ok := s2.Silence(model.IncidentAuthOutage, "www.example.com", c.t)
	if !ok || got != (model.Silenced{ID: a.ID, By: "alice@ops1", Until: a.Ends, Reason: "provider migration"}) {
		t.Fatalf("Silence after restart = %+v, %v", got, ok)
	}
	if _, ok := s2.Silence(model.IncidentAuthOutage, "192.0.2.0/24", c.t.Add(90*time.Minute)); ok {
		t.Error("an expired silence still silences")
	}

	// Ended silences are listed for KeepExpired, then pruned.
	c.t = a.Ends.Add(KeepExpired - time.Minute)
	// (b ended two hours before a: it is gone already.)
	if v := openAt(t, dir, c).View(); len(v.Silences) != 1 || v.Silences[0].ID != a.ID || v.Silences[0].State != StateExpired {
		t.Fatalf("before pruning: %+v", v.Silences)
	}
	c.t = a.Ends.Add(KeepExpired + time.Minute)
	if v := openAt(t, dir, c).View(); len(v.Silences) != 0 {
		t.Fatalf("after pruning: %+v", v.Silences)
	}
}

func TestStoreExpire(t *testing.T) {
	c := &clock{time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)}
	s := openAt(t, t.TempDir(), c)
	a, err := s.Add(Request{Subject: "*", Duration: "1h", Reason: "r", CreatedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(10 * time.Minute)
	e, err := s.Expire(a.ID, "bob")
	if err != nil || !e.Ends.Equal(c.t) || e.ExpiredBy != "bob" || e.State(c.t) != StateExpired {
		t.Fatalf("Expire = %+v, %v", e, err)
	}
	if _, ok := s.Silence(model.IncidentFeedLost, "x", c.t); ok {
		t.Error("an expired silence still silences")
	}
	if _, err := s.Expire(a.ID, "bob"); !errors.Is(err, ErrEnded) {
		t.Errorf("second expire: %v, want ErrEnded", err)
	}
	if _, err := s.Expire("nosuchid", "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
}

func TestStoreRequestErrors(t *testing.T) {
	c := &clock{time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)}
	s := openAt(t, t.TempDir(), c)
	ok := Request{Kind: "feed_lost", Subject: "*", Duration: "2h", Reason: "r", CreatedBy: "alice"}
	for _, tc := range []struct {
		edit  func(r *Request)
		field string
		msg   string
	}{
		{func(r *Request) { r.Kind = "outage" }, "kind", `"outage" is not an incident kind`},
		{func(r *Request) { r.Subject = "" }, "subject", "required"},
		{func(r *Request) { r.Subject = "[a]" }, "subject", `"[a]" uses [: only * and ? are wildcards`},
		{func(r *Request) { r.Reason = " " }, "reason", "required"},
		{func(r *Request) { r.Reason = strings.Repeat("x", MaxReason+1) }, "reason", "longer than"},
		{func(r *Request) { r.CreatedBy = "" }, "created_by", "required"},
		{func(r *Request) { r.CreatedBy = "a\nb" }, "created_by", "control character"},
		{func(r *Request) { r.Duration = "" }, "ends", "required"},
		{func(r *Request) { r.Duration = "soon" }, "duration", `"soon" is not a positive duration`},
		{func(r *Request) { r.Duration = "-1h" }, "duration", "is not a positive duration"},
		{func(r *Request) { r.Duration = "9000h" }, "duration", "longer than"},
		{func(r *Request) { r.Ends = "2026-12-02T16:00:00Z" }, "duration", "not both"},
		{func(r *Request) { r.Duration, r.Ends = "", "tomorrow" }, "ends", "is not an RFC 3339 time"},
		{func(r *Request) { r.Duration, r.Ends = "", "2026-12-02T13:00:00Z" }, "ends", "is not after"},
		{func(r *Request) { r.Starts = "now" }, "starts", "is not an RFC 3339 time"},
	} {
		r := ok
		tc.edit(&r)
		_, err := s.Add(r)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%+v: error %v, want field %s: ...%s...", r, err, tc.field, tc.msg)
		}
	}
	if v := s.View(); len(v.Silences) != 0 {
		t.Errorf("bad requests were kept: %+v", v.Silences)
	}
}

func TestStoreCorruptFileSetAside(t *testing.T) {
	for name, content := range map[string]string{
		"not json":   "{\"version\": 1, \"silences\": [",
		"bad entry":  `{"version": 1, "silences": [{"id": "../x", "subject": "*", "starts": "2026-12-02T14:00:00Z", "ends": "2026-12-02T15:00:00Z"}]}`,
		"no version": `{"silences": []}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
				t.Fatal(err)
			}
			c := &clock{time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)}
			s := openAt(t, dir, c)
			if v := s.View(); len(v.Silences) != 0 {
				t.Fatalf("silences from a corrupt file: %+v", v.Silences)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("corrupt file not set aside: %v", aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != content {
				t.Errorf("set-aside content changed: %q", b)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the corrupt file is still in place: %v", err)
			}
			if _, err := s.Add(Request{Subject: "*", Duration: "1h", Reason: "r", CreatedBy: "a"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestStoreNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte(`{"version": 2, "silences": "another shape"}`), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, nil, Options{})
	if !errors.Is(err, statefile.ErrRefused) {
		t.Fatalf("want a refusal, got %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a newer file must be left in place: %v", err)
	}
}

func TestStoreWriteFailureChangesNothing(t *testing.T) {
	c := &clock{time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)}
	fail := errors.New("disk full")
	s, err := Open(t.TempDir(), nil, Options{Now: c.now, WriteFile: func(string, []byte, fs.FileMode) error { return fail }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(Request{Subject: "*", Duration: "1h", Reason: "r", CreatedBy: "a"}); !errors.Is(err, fail) {
		t.Fatalf("want the write error, got %v", err)
	}
	if _, ok := s.Silence(model.IncidentFeedLost, "x", c.t); ok {
		t.Error("a silence that was not saved applies")
	}
}
