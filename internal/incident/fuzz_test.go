package incident

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// fuzzStoreOptions keep everything: the round trip below compares what
// was loaded with what is saved, and pruning would drop some of it.
func fuzzStoreOptions() Options {
	return Options{Now: func() time.Time { return t0 }, KeepResolved: time.Duration(math.MaxInt64), MaxResolved: math.MaxInt}
}

// FuzzStoreOpen writes arbitrary bytes as incidents.json and opens the
// store. It must never panic. Either the file loads, or it is set aside
// under a new name with its bytes intact and a message naming both, and
// the store starts empty; an Open error must name the file and leave it
// where it was. What loads must save (with one more incident) and load
// again to the same incidents.
func FuzzStoreOpen(f *testing.F) {
	seedDir := f.TempDir()
	seed, err := Open(seedDir, fuzzStoreOptions())
	if err != nil {
		f.Fatal(err)
	}
	open := model.Incident{ID: "20211004T154002Z-3fa2c1", Kind: model.IncidentBGPOutage, Severity: model.SeverityCritical,
		State: model.StateOpen, Subject: "facebook.com", Opened: t0, Confirmed: t0.Add(time.Minute), Updated: t0.Add(time.Minute),
		RootCause: "routes withdrawn", Prefixes: []netip.Prefix{netip.MustParsePrefix("129.134.30.0/23")}, ASNs: []uint32{32934},
		Evidence: []model.EvidenceItem{{Time: t0, Text: "129.134.30.0/23 withdrawn"}}}
	resolved := open
	resolved.ID, resolved.State, resolved.Resolved, resolved.Kind = "20210930T150000Z-aaaaaa", model.StateResolved, t0.Add(time.Hour), model.IncidentDNSSEC
	if err := seed.Apply([]model.IncidentChange{{Type: model.ChangeOpen, Incident: open}, {Type: model.ChangeResolve, Incident: resolved}}); err != nil {
		f.Fatal(err)
	}
	seed.Flush()
	saved, err := os.ReadFile(filepath.Join(seedDir, FileName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(saved)
	f.Add([]byte(`{"schema":"reachmon.incidents/v1","records":[{"incident":null},{"incident":{"id":"x","notify":{}}},{"incident":{"id":"x","state":"open"}}]}`))
	f.Add([]byte(`{"schema":"reachmon.incidents/v2","records":[]}`))
	f.Add([]byte(`{"schema":"reachmon.incidents/v1","records":[{"incident":{"id":"y","opened":"0000-01-01T00:00:00+01:00"}}]}`))
	f.Add([]byte("{\"schema\":\"reachmon.incidents/v1\",\"rec"))

	sentinel := model.Incident{ID: "fuzz-sentinel", Kind: model.IncidentFeedLost, State: model.StateOpen, Opened: t0, Updated: t0}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, FileName)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, fuzzStoreOptions())
		if err != nil {
			// Refused (a newer schema, say): the file must be named and left alone.
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("Open error does not name %s: %v", path, err)
			}
			if b, rerr := os.ReadFile(path); rerr != nil || !bytes.Equal(b, data) {
				t.Fatalf("Open refused the file but did not leave it in place (%v)", rerr)
			}
			return
		}
		if aside := s.SetAside(); len(aside) > 0 {
			checkSetAside(t, dir, path, data, aside)
			if n := len(s.Incidents()); n != 0 {
				t.Fatalf("the file was set aside but %d incidents were loaded", n)
			}
			return
		}
		loaded := s.Incidents()
		if err := s.Apply([]model.IncidentChange{{Type: model.ChangeOpen, Incident: sentinel}}); err != nil {
			t.Fatalf("a store that loaded cannot save: %v", err)
		}
		s.Flush()
		if err := s.WriteStatus().Err(); err != nil {
			t.Fatalf("a store that loaded failed to write: %v", err)
		}
		want := map[string]model.Incident{sentinel.ID: sentinel}
		for _, inc := range loaded {
			if inc.ID != sentinel.ID {
				want[inc.ID] = inc
			}
		}
		again, err := Open(dir, fuzzStoreOptions())
		if err != nil || len(again.SetAside()) > 0 {
			t.Fatalf("reopening what the store saved: %v, set aside %v", err, again.SetAside())
		}
		got := again.Incidents()
		if len(got) != len(want) {
			t.Fatalf("reloaded %d incidents, want %d", len(got), len(want))
		}
		for _, inc := range got {
			if g, w := mustJSON(t, inc), mustJSON(t, want[inc.ID]); !bytes.Equal(g, w) {
				t.Fatalf("incident %q changed in the round trip:\n got %s\nwant %s", inc.ID, g, w)
			}
		}
	})
}

// checkSetAside checks that the file at path, which held data, was moved
// aside whole and that the one message names it and where it went.
func checkSetAside(t *testing.T, dir, path string, data []byte, msgs []string) {
	t.Helper()
	if len(msgs) != 1 || !strings.Contains(msgs[0], path) {
		t.Fatalf("set-aside messages %q do not name %s once", msgs, path)
	}
	if _, err := os.Lstat(path); err == nil {
		t.Fatalf("%s was set aside but is still there", path)
	}
	moved, _ := filepath.Glob(filepath.Join(dir, FileName+".corrupt-*"))
	if len(moved) != 1 || !strings.Contains(msgs[0], moved[0]) {
		t.Fatalf("set-aside files %v, message %q", moved, msgs[0])
	}
	if b, err := os.ReadFile(moved[0]); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the file set aside does not hold the original bytes (%v)", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
