package notify

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/statefile"
)

// TestNewerStateRefused: a state file written by a newer schema stops New
// with both versions named and stays where it is (before: it was set
// aside as corrupt and the dispatcher started with no delivery state,
// paging again for incidents already paged).
func TestNewerStateRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "notify", "state.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	newer := `{"version":2,"incidents":["a new shape"]}`
	if err := os.WriteFile(path, []byte(newer), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(config.SlackConfig{Channel: "#a"}, dir, nopNotifier{}, Options{})
	var ne *statefile.NewerError
	if !errors.As(err, &ne) || ne.Found != 2 || ne.Reads != stateVersion || !errors.Is(err, statefile.ErrRefused) {
		t.Fatalf("New: %v, want a NewerError (found 2)", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != newer {
		t.Fatalf("the newer state was changed or moved: %q %v", b, err)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
		t.Fatalf("the newer state was set aside: %v", aside)
	}
}

// slowDisk is an injected WriteFunc: writes of paths ending in block wait
// for release; writes of paths ending in fail fail.
type slowDisk struct {
	mu      sync.Mutex
	block   string
	fail    string
	started chan string
	release chan struct{}
}

func (s *slowDisk) write(path string, data []byte, perm fs.FileMode) error {
	s.mu.Lock()
	block, fail := s.block != "" && strings.HasSuffix(path, s.block), s.fail != "" && strings.HasSuffix(path, s.fail)
	s.mu.Unlock()
	if block {
		s.started <- path
		<-s.release
	}
	if fail {
		return errors.New("input/output error")
	}
	return statefile.WriteAtomic(path, data, perm)
}

func pagingChange(typ model.ChangeType, id string) model.IncidentChange {
	return model.IncidentChange{Type: typ, Material: "more evidence", Incident: model.Incident{ID: id, Kind: model.IncidentHijack,
		Severity: model.SeverityCritical, State: model.StateOpen, Subject: "192.0.2.0/24"}}
}

// TestSubmitDoesNotWaitForTheDisk: with the disk blocked in the middle of
// an outbox write, the probe loop's Submit calls keep returning and the
// changes are queued; the entries are on disk once the disk comes back
// (before: Submit wrote each entry itself, holding the dispatcher's lock).
func TestSubmitDoesNotWaitForTheDisk(t *testing.T) {
	dir := t.TempDir()
	disk := &slowDisk{block: ".json", started: make(chan string, 1), release: make(chan struct{})}
	d, err := New(config.SlackConfig{Channel: "#a"}, dir, nopNotifier{}, Options{WriteFile: disk.write})
	if err != nil {
		t.Fatal(err)
	}
	d.Submit(pagingChange(model.ChangeOpen, "a"))
	<-disk.started // the writer is inside the blocked write of the first entry
	for _, id := range []string{"b", "c", "d", "e"} {
		d.Submit(pagingChange(model.ChangeOpen, id))
		d.Submit(pagingChange(model.ChangeResolve, id))
	}
	if n := d.Pending(); n != 9 {
		t.Fatalf("%d changes queued while the disk was blocked, want 9", n)
	}
	disk.mu.Lock()
	disk.block = ""
	disk.mu.Unlock()
	close(disk.release)
	d.Flush()
	if n := len(outboxFiles(t, dir)); n != 9 {
		t.Fatalf("%d outbox files after the disk came back, want 9", n)
	}
}

// recorder is a notifier that remembers what it delivered.
type recorder struct{ sent []Delivery }

func (r *recorder) Deliver(_ context.Context, dl Delivery) (Receipt, error) {
	r.sent = append(r.sent, dl)
	return Receipt{Ref: "C1/" + dl.Incident.ID}, nil
}

// deliverAll delivers every pending entry in order in the test's
// goroutine, ignoring the rate limit.
func deliverAll(t *testing.T, d *Dispatcher) {
	t.Helper()
	for range 100 {
		d.mu.Lock()
		var e *entry
		if len(d.pending) > 0 {
			e = d.pending[0]
		}
		d.mu.Unlock()
		if e == nil {
			d.Flush()
			return
		}
		d.deliver(context.Background(), e)
	}
	t.Fatal("the outbox never emptied")
}

// TestEntryKeptWhenStateSaveFails: when the state that records a
// delivery cannot be saved, the entry's file is kept (a restart must not
// lose what was delivered), and it is removed after the next save that
// succeeds (before: it was removed at once). The failure shows in
// WriteStatus until then.
func TestEntryKeptWhenStateSaveFails(t *testing.T) {
	dir := t.TempDir()
	disk := &slowDisk{fail: stateFileName}
	d, err := New(config.SlackConfig{Channel: "#a"}, dir, &recorder{}, Options{WriteFile: disk.write})
	if err != nil {
		t.Fatal(err)
	}
	d.Submit(pagingChange(model.ChangeOpen, "a"))
	deliverAll(t, d)
	if files := outboxFiles(t, dir); len(files) != 1 || d.Pending() != 0 {
		t.Fatalf("after a failed state save: outbox files %v, %d pending; want the delivered entry's file kept", files, d.Pending())
	}
	ws := d.WriteStatus()
	if err := ws.Err(); err == nil || ws.Failures() != 1 {
		t.Fatalf("WriteStatus after a failed save: %v, %d failures", err, ws.Failures())
	}
	disk.mu.Lock()
	disk.fail = ""
	disk.mu.Unlock()
	d.Submit(pagingChange(model.ChangeOpen, "b"))
	deliverAll(t, d)
	if files := outboxFiles(t, dir); len(files) != 0 || ws.Err() != nil {
		t.Fatalf("after a good save: outbox files %v, WriteStatus %v", files, ws.Err())
	}
}

// TestReconcileWithTheIncidentStore: at start, the outbox and the
// delivery state are made to agree with the incident store. An open
// queued for an incident the store lost is dropped (the evaluator opens a
// new one for the same outage: two pages otherwise); a page out for a
// lost incident, or for one the store resolved without the resolve
// reaching the outbox, is resolved in its thread (before: the lost
// incident's open was delivered beside the new one's, and the pages
// stayed open with reminders).
func TestReconcileWithTheIncidentStore(t *testing.T) {
	dir := t.TempDir()
	s, err := newStore(dir, dirName)
	if err != nil {
		t.Fatal(err)
	}
	paged := func(id string) *record {
		return &record{Channel: "#a", Notify: model.NotifyState{Delivered: model.ChangeOpen, Ref: "C1/" + id},
			Incident: pagingChange(model.ChangeOpen, id).Incident}
	}
	if err := s.saveState(&stateFile{Version: stateVersion, MaxSeq: 1, Incidents: map[string]*record{
		"gone": paged("gone"), "closed": paged("closed"), "open": paged("open"),
	}}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*entry{
		{Seq: 2, Channel: "#a", Change: pagingChange(model.ChangeOpen, "lost")},
		{Seq: 3, Channel: "#a", Change: pagingChange(model.ChangeUpdate, "gone")},
	} {
		if err := s.writeEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	sent := &recorder{}
	d, err := New(config.SlackConfig{Channel: "#a"}, dir, sent, Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed := pagingChange(model.ChangeResolve, "closed").Incident
	closed.State = model.StateResolved
	d.Reconcile([]model.Incident{pagingChange(model.ChangeOpen, "open").Incident, closed})

	var queued []string
	for _, e := range d.pending {
		queued = append(queued, e.Change.Incident.ID+":"+string(e.Change.Type))
	}
	if want := []string{"closed:resolve", "gone:resolve"}; !slices.Equal(queued, want) {
		t.Fatalf("queued after reconciling %v, want %v", queued, want)
	}
	deliverAll(t, d)
	var got []string
	for _, dl := range sent.sent {
		got = append(got, dl.Incident.ID+":"+string(dl.Kind)+":"+dl.Ref)
	}
	if want := []string{"closed:resolve:C1/closed", "gone:resolve:C1/gone"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if files := outboxFiles(t, dir); len(files) != 0 {
		t.Errorf("outbox files left: %v", files)
	}
}
