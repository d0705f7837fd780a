package incident

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

// TestNewerSchemaRefused: a store file written by a newer reachmon is
// refused with both versions named, and left where it is (before: it was
// set aside as corrupt and the store started empty, losing it on the next
// write after a rollback).
func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	newer := `{"schema":"reachmon.incidents/v2","records":{"a new":"shape"}}`
	if err := os.WriteFile(path, []byte(newer), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	var ne *statefile.NewerError
	if !errors.As(err, &ne) || ne.Found != 2 || ne.Reads != 1 || !errors.Is(err, statefile.ErrRefused) {
		t.Fatalf("Open: %v, want a NewerError (found 2, reads 1)", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != newer {
		t.Fatalf("the newer file was changed or moved: %q %v", b, err)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
		t.Fatalf("the newer file was set aside: %v", aside)
	}
}

// blockedDisk is a WriteFunc that blocks every write until released.
type blockedDisk struct {
	started chan struct{}
	release chan struct{}
	fail    error
}

func (b *blockedDisk) write(path string, data []byte, perm fs.FileMode) error {
	b.started <- struct{}{}
	<-b.release
	if b.fail != nil {
		return b.fail
	}
	return statefile.WriteAtomic(path, data, perm)
}

// TestApplyDoesNotWaitForTheDisk: with the disk blocked in the middle of
// the store's write, the evaluator's changes keep being applied (Apply
// returns; readers see them) and the file then holds the latest store
// (before: Apply wrote the file itself and blocked with the disk).
func TestApplyDoesNotWaitForTheDisk(t *testing.T) {
	dir := t.TempDir()
	disk := &blockedDisk{started: make(chan struct{}, 1), release: make(chan struct{})}
	st, err := Open(dir, Options{WriteFile: disk.write, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	inc := model.Incident{ID: "a", Kind: model.IncidentHijack, State: model.StateOpen, Subject: "192.0.2.0/24", Opened: t0}
	if err := st.Apply([]model.IncidentChange{{Type: model.ChangeOpen, Incident: inc}}); err != nil {
		t.Fatal(err)
	}
	<-disk.started // the writer is inside the blocked write
	for i := range 50 {
		inc.Subject = "192.0.2.0/24 #" + string(rune('a'+i%26))
		inc.Updated = t0.Add(1)
		if err := st.Apply([]model.IncidentChange{{Type: model.ChangeUpdate, Incident: inc}}); err != nil {
			t.Fatal(err)
		}
	}
	resolved := inc
	resolved.State, resolved.Resolved = model.StateResolved, t0.Add(2)
	if err := st.Apply([]model.IncidentChange{{Type: model.ChangeResolve, Incident: resolved}}); err != nil {
		t.Fatal(err)
	}
	if got := st.Incidents(); len(got) != 1 || got[0].IsOpen() {
		t.Fatalf("readers do not see the applied changes: %+v", got)
	}
	close(disk.release)
	<-disk.started // one more write: the 51 changes coalesced into it
	st.Flush()
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil || !strings.Contains(string(b), `"state": "resolved"`) {
		t.Fatalf("the file does not hold the latest store (%v):\n%s", err, b)
	}
}

// TestFailedWriteIsReported: a failed write of the store is reported by
// WriteStatus until a later write succeeds (before: only logged).
func TestFailedWriteIsReported(t *testing.T) {
	disk := &blockedDisk{started: make(chan struct{}, 4), release: make(chan struct{}, 4), fail: errors.New("no space left on device")}
	st, err := Open(t.TempDir(), Options{WriteFile: disk.write})
	if err != nil {
		t.Fatal(err)
	}
	disk.release <- struct{}{}
	inc := model.Incident{ID: "a", Kind: model.IncidentHijack, State: model.StateOpen, Subject: "192.0.2.0/24", Opened: t0}
	if err := st.Apply([]model.IncidentChange{{Type: model.ChangeOpen, Incident: inc}}); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	<-disk.started
	ws := st.WriteStatus()
	if err := ws.Err(); err == nil || !strings.Contains(err.Error(), "no space left") || ws.Failures() != 1 {
		t.Fatalf("after a failed write: Err %v, Failures %d", err, ws.Failures())
	}
	disk.fail = nil // the writer goroutine is stopped: Flush returned
	disk.release <- struct{}{}
	if err := st.Apply([]model.IncidentChange{{Type: model.ChangeUpdate, Incident: inc}}); err != nil {
		t.Fatal(err)
	}
	st.Flush()
	if err := ws.Err(); err != nil || ws.Failures() != 1 {
		t.Fatalf("after a good write: Err %v, Failures %d", err, ws.Failures())
	}
}

// TestCorruptFileSetAsideEachTime: two unreadable store files found at
// the same instant are both kept, under different names.
func TestCorruptFileSetAsideEachTime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	for i := range 2 {
		if err := os.WriteFile(path, []byte(`{"schema":"reachmon.incidents/v1","records":`+string(rune('0'+i))), 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, Options{Now: func() time.Time { return t0 }}); err != nil {
			t.Fatal(err)
		}
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 2 {
		t.Fatalf("set aside %v, want both files kept", aside)
	}
	for i, p := range aside {
		if b, err := os.ReadFile(p); err != nil || !strings.HasSuffix(string(b), string(rune('0'+i))) {
			t.Errorf("%s holds %q (%v)", p, b, err)
		}
	}
}
