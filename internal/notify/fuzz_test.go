package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// fuzzNow is the clock of the state-file fuzz target.
var fuzzNow = time.Date(2021, 10, 4, 16, 0, 0, 0, time.UTC)

type fuzzClock struct{ realClock }

func (fuzzClock) Now() time.Time { return fuzzNow }

type fuzzNotifier struct{}

func (fuzzNotifier) Deliver(context.Context, Delivery) (Receipt, error) { return Receipt{}, nil }

// FuzzStoreLoad writes arbitrary bytes as the delivery state
// (notify/state.json) and as one outbox entry, then loads them as the
// dispatcher does at start. It must never panic. Each file either loads
// or is set aside under a new name with its bytes intact, reported with
// its path; what loads must save and load again unchanged; and New must
// start a dispatcher from the same files, with the loaded delivery state
// and the entries not yet handled pending.
func FuzzStoreLoad(f *testing.F) {
	inc := model.Incident{ID: "20211004T154002Z-3fa2c1", Kind: model.IncidentBGPOutage, State: model.StateOpen,
		Severity: model.SeverityCritical, Subject: "facebook.com", Opened: fuzzNow, Updated: fuzzNow}
	state, err := json.Marshal(&stateFile{Version: stateVersion, MaxSeq: 5, Incidents: map[string]*record{
		inc.ID: {Channel: "#a", LastSeq: 5, Notify: model.NotifyState{Delivered: model.ChangeOpen, Ref: "C1/1.1", FirstSent: fuzzNow}, Incident: inc},
	}})
	if err != nil {
		f.Fatal(err)
	}
	pending, err := json.Marshal(&entry{Seq: 6, Channel: "#a", Change: model.IncidentChange{Type: model.ChangeUpdate, Incident: inc},
		Submitted: fuzzNow, InFlight: true, Attempts: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(state, uint64(6), pending)
	f.Add(state, uint64(5), bytes.Replace(pending, []byte(`"seq":6`), []byte(`"seq":5`), 1)) // handled before a crash
	f.Add([]byte(`{"version":2,"incidents":{}}`), uint64(7), []byte(`{"seq":7}`))
	f.Add([]byte(`{"version":1,"max_seq":18446744073709551615,"incidents":{"x":{"last_seq":1}}}`), uint64(18446744073709551615), []byte("{not json"))

	cfg := config.SlackConfig{Channel: "#a"}
	f.Fuzz(func(t *testing.T, stateData []byte, seq uint64, entryData []byte) {
		dir := t.TempDir()
		s, err := newStore(dir, dirName)
		if err != nil {
			t.Fatal(err)
		}
		entryPath := s.entryPath(seq)
		for path, data := range map[string][]byte{s.statePath: stateData, entryPath: entryData} {
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		st, entries, bad, err := s.load(fuzzNow)
		if err != nil {
			// Refused (a newer version, say): it must name the file and leave it.
			named := false
			for path, data := range map[string][]byte{s.statePath: stateData, entryPath: entryData} {
				if strings.Contains(err.Error(), path) {
					named = true
					if b, rerr := os.ReadFile(path); rerr != nil || !bytes.Equal(b, data) {
						t.Fatalf("load refused %s but did not leave it in place (%v)", path, rerr)
					}
				}
			}
			if !named {
				t.Fatalf("load error names neither file: %v", err)
			}
			return
		}
		stateAside := checkNotifySetAside(t, bad, s.statePath, stateData)
		entryAside := checkNotifySetAside(t, bad, entryPath, entryData)
		if len(bad) != btoi(stateAside)+btoi(entryAside) {
			t.Fatalf("set aside %+v: not the two files written", bad)
		}
		if st == nil || st.Version != stateVersion || st.Incidents == nil {
			t.Fatalf("loaded state %+v", st)
		}
		if stateAside && (len(st.Incidents) != 0 || st.MaxSeq != 0) {
			t.Fatalf("state.json was set aside but the state is not empty: %+v", st)
		}
		if entryAside == (len(entries) == 1) || (len(entries) == 1 && entries[0].Seq != seq) {
			t.Fatalf("entry file for seq %d: set aside %v, loaded %+v", seq, entryAside, entries)
		}

		// What loaded saves and loads again unchanged.
		if !stateAside {
			if err := s.saveState(st); err != nil {
				t.Fatalf("a state that loaded cannot be saved: %v", err)
			}
		}
		for _, e := range entries {
			if err := s.writeEntry(e); err != nil {
				t.Fatalf("an entry that loaded cannot be saved: %v", err)
			}
		}
		st2, entries2, bad2, err := s.load(fuzzNow)
		if err != nil || len(bad2) != 0 {
			t.Fatalf("reloading what was saved: %v, set aside %+v", err, bad2)
		}
		if g, w := notifyJSON(t, st2), notifyJSON(t, st); !bytes.Equal(g, w) {
			t.Fatalf("state changed in the round trip:\n got %s\nwant %s", g, w)
		}
		if g, w := notifyJSON(t, entries2), notifyJSON(t, entries); !bytes.Equal(g, w) {
			t.Fatalf("outbox changed in the round trip:\n got %s\nwant %s", g, w)
		}

		// The dispatcher starts from these files.
		d, err := New(cfg, dir, fuzzNotifier{}, Options{Clock: fuzzClock{}})
		if err != nil {
			t.Fatalf("New on files that load: %v", err)
		}
		wantPending := 0
		for _, e := range entries {
			if rec := st.Incidents[e.Change.Incident.ID]; rec == nil || e.Seq > rec.LastSeq {
				wantPending++
			}
		}
		if got := d.Pending(); got != wantPending {
			t.Fatalf("Pending() = %d, want %d", got, wantPending)
		}
		for id, rec := range st.Incidents {
			got, ok := d.Delivered(id)
			if !ok || !bytes.Equal(notifyJSON(t, got), notifyJSON(t, rec.Notify)) {
				t.Fatalf("Delivered(%q) = %+v, %v; want %+v", id, got, ok, rec.Notify)
			}
		}
	})
}

// checkNotifySetAside reports whether path was set aside; if it was, the
// report must name it and where it went, and that file must hold data.
func checkNotifySetAside(t *testing.T, bad []setAside, path string, data []byte) bool {
	t.Helper()
	for _, b := range bad {
		if b.path != path {
			continue
		}
		if b.reason == "" || !strings.HasPrefix(b.movedTo, path+".corrupt-") {
			t.Fatalf("set aside %+v", b)
		}
		if _, err := os.Lstat(path); err == nil {
			t.Fatalf("%s was set aside but is still there", path)
		}
		if got, err := os.ReadFile(b.movedTo); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s does not hold the bytes set aside (%v)", b.movedTo, err)
		}
		if filepath.Dir(b.movedTo) != filepath.Dir(path) {
			t.Fatalf("%s set aside outside its directory: %s", path, b.movedTo)
		}
		return true
	}
	return false
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func notifyJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
