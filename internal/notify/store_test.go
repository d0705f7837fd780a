package notify

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

type nopNotifier struct{}

func (nopNotifier) Deliver(_ context.Context, _ Delivery) (Receipt, error) { return Receipt{}, nil }

func outboxFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "notify", "outbox", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadDropsHandledAndSetsAsideCorrupt(t *testing.T) {
	dir := t.TempDir()
	s, err := newStore(dir, dirName)
	if err != nil {
		t.Fatal(err)
	}
	inc := model.Incident{ID: "x", State: model.StateOpen, Severity: model.SeverityCritical}
	st := &stateFile{Version: stateVersion, MaxSeq: 5, Incidents: map[string]*record{
		"x": {Channel: "#a", LastSeq: 5, Notify: model.NotifyState{Delivered: model.ChangeOpen, Ref: "C1/1.1"}},
	}}
	if err := s.saveState(st); err != nil {
		t.Fatal(err)
	}
	// Seq 5 was handled (a crash left its file); seq 6 is pending and was
	// in flight; seq 7 is garbage.
	for _, e := range []*entry{
		{Seq: 5, Channel: "#a", Change: model.IncidentChange{Type: model.ChangeOpen, Incident: inc}},
		{Seq: 6, Channel: "#a", Change: model.IncidentChange{Type: model.ChangeUpdate, Incident: inc}, InFlight: true, Attempts: 1},
	} {
		if err := s.writeEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.entryPath(7), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := New(config.SlackConfig{Channel: "#a"}, dir, nopNotifier{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Flush) // the Submit below writes after the checks
	if d.Pending() != 1 || d.pending[0].Seq != 6 || !d.pending[0].MaybeDelivered || d.pending[0].InFlight {
		t.Fatalf("pending = %+v", d.pending)
	}
	if d.nextSeq != 7 {
		t.Errorf("nextSeq = %d, want 7", d.nextSeq)
	}
	if aside, _ := filepath.Glob(s.entryPath(7) + ".corrupt-*"); len(aside) != 1 {
		t.Errorf("corrupt entry not set aside: %v", aside)
	}
	d.Flush()
	if got := outboxFiles(t, dir); len(got) != 1 || filepath.Base(got[0]) != "00000000000000000006.json" {
		t.Errorf("outbox files = %v", got)
	}
	// The route of an incident already paged is kept.
	d.Submit(model.IncidentChange{Type: model.ChangeUpdate, Incident: model.Incident{ID: "x", Kind: model.IncidentFeedLost}})
	if d.pending[1].Channel != "#a" || d.pending[1].Seq != 7 {
		t.Errorf("new entry = %+v", d.pending[1])
	}
}

func TestOutboxOverflowDropsOldestUpdate(t *testing.T) {
	dir := t.TempDir()
	d, err := New(config.SlackConfig{Channel: "#a"}, dir, nopNotifier{}, Options{MaxPending: 3})
	if err != nil {
		t.Fatal(err)
	}
	ch := func(typ model.ChangeType, id string) model.IncidentChange {
		return model.IncidentChange{Type: typ, Incident: model.Incident{ID: id, Severity: model.SeverityCritical, State: model.StateOpen, Updated: time.Now()}}
	}
	d.Submit(ch(model.ChangeOpen, "a"))
	d.Submit(ch(model.ChangeUpdate, "a"))
	d.Submit(ch(model.ChangeUpdate, "a"))
	d.Submit(ch(model.ChangeOpen, "b")) // drops a's first update
	if d.Pending() != 3 || d.pending[1].Seq != 3 || d.pending[2].Change.Incident.ID != "b" {
		t.Fatalf("pending = %+v", d.pending)
	}
	d.Submit(ch(model.ChangeResolve, "b")) // drops a's second update
	d.Submit(ch(model.ChangeUpdate, "b"))  // nothing left to drop: itself dropped
	d.Submit(ch(model.ChangeResolve, "a")) // resolves are always kept
	var got []string
	for _, e := range d.pending {
		got = append(got, e.Change.Incident.ID+":"+string(e.Change.Type))
	}
	if want := "a:open b:open b:resolve a:resolve"; joinSpace(got) != want {
		t.Errorf("pending %v, want %s", got, want)
	}
	d.Flush()
	if n := len(outboxFiles(t, dir)); n != 4 {
		t.Errorf("%d outbox files, want 4", n)
	}
}

func joinSpace(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

func TestCorruptStateSetAsideEachTime(t *testing.T) {
	dir := t.TempDir()
	statePath := filepath.Join(dir, "notify", "state.json")
	for range 2 {
		if err := os.MkdirAll(filepath.Dir(statePath), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(statePath, []byte(`{"version":1,"incidents":`), 0o600); err != nil {
			t.Fatal(err)
		}
		// A fixed clock: both files are set aside at the same instant.
		if _, err := New(config.SlackConfig{Channel: "#a"}, dir, nopNotifier{}, Options{Clock: fixedClock{}}); err != nil {
			t.Fatal(err)
		}
	}
	aside, _ := filepath.Glob(statePath + ".corrupt-*")
	if len(aside) != 2 {
		t.Fatalf("set aside %v, want both corrupt files kept", aside)
	}
	if _, err := ReadDelivered(dir); err != nil {
		t.Fatalf("ReadDelivered after the set-aside: %v", err)
	}
}

func TestReadDelivered(t *testing.T) {
	dir := t.TempDir()
	if log, err := ReadDelivered(dir); err != nil || len(log) != 0 {
		t.Fatalf("no state directory: %v %v", log, err)
	}
	s, err := newStore(dir, dirName)
	if err != nil {
		t.Fatal(err)
	}
	paged := model.NotifyState{Delivered: model.ChangeOpen, Ref: "C1/1.1"}
	if err := s.saveState(&stateFile{Version: stateVersion, Incidents: map[string]*record{"x": {Channel: "#a", Notify: paged}}}); err != nil {
		t.Fatal(err)
	}
	log, err := ReadDelivered(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := log.Delivered("x"); !ok || n != paged {
		t.Errorf("Delivered(x) = %+v %v, want %+v", n, ok, paged)
	}
	if _, ok := log.Delivered("y"); ok {
		t.Error("Delivered(y) found an incident never delivered")
	}
	for content, want := range map[string]string{
		`{"version":0}`: "unknown version 0",
		`{"version":9}`: "schema version 9; this build reads version 1",
	} {
		if err := os.WriteFile(s.statePath, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadDelivered(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("state %s gave %v, want an error saying %q", content, err, want)
		}
		if _, err := os.Stat(s.statePath); err != nil {
			t.Errorf("ReadDelivered moved the file it could not read: %v", err)
		}
	}
}

// fixedClock is the real clock stopped at one instant.
type fixedClock struct{ realClock }

func (fixedClock) Now() time.Time { return time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC) }
