package silence

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/statefile"
)

// FuzzSilencesOpen writes arbitrary bytes as silences.json and opens the
// store. It must never panic. Either the file loads (every silence in it
// valid, usable for matching and listing), or it is set aside with its
// bytes intact and the store starts empty, or a file of a newer schema is
// refused and left in place. Whatever loaded takes a new silence, which a
// reopening finds.
func FuzzSilencesOpen(f *testing.F) {
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	seedDir := f.TempDir()
	seed, err := Open(seedDir, nil, Options{Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := seed.Add(Request{Kind: "bgp_dns_outage", Subject: "*.example.com", Duration: "2h", Reason: "r", CreatedBy: "a"}); err != nil {
		f.Fatal(err)
	}
	saved, err := os.ReadFile(filepath.Join(seedDir, FileName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(saved)
	f.Add([]byte(`{"version":1,"silences":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"silences":[{"id":"ab","subject":"[","starts":"2026-12-02T14:00:00Z","ends":"2026-12-02T15:00:00Z"}]}`))
	f.Add([]byte(`{"version":1,"silences":[null]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, FileName)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, nil, Options{Now: func() time.Time { return now }})
		if err != nil {
			if !errors.Is(err, statefile.ErrRefused) {
				t.Fatalf("Open: %v", err)
			}
			if b, _ := os.ReadFile(path); string(b) != string(data) {
				t.Fatal("a refused file was changed")
			}
			return
		}
		if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) == 1 {
			if b, _ := os.ReadFile(aside[0]); string(b) != string(data) {
				t.Fatal("the set-aside file's bytes changed")
			}
		}
		v := s.View()
		for _, e := range v.Silences {
			if err := e.check(); err != nil {
				t.Fatalf("loaded an invalid silence: %v", err)
			}
		}
		s.Silence(model.IncidentBGPOutage, "www.example.com", now)
		added, err := s.Add(Request{Subject: "*", Duration: "1h", Reason: "fuzz", CreatedBy: "fuzz"})
		if err != nil {
			if errors.Is(err, ErrFull) {
				return
			}
			t.Fatalf("Add: %v", err)
		}
		again, err := Open(dir, nil, Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if got, ok := again.Silence(model.IncidentFeedLost, "x", now); !ok || got.ID == "" {
			t.Fatalf("the added silence %s is lost after reopening", added.ID)
		}
	})
}
