package statefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// diskLog is an injected WriteFunc that records each write and can be
// made to block (a slow disk) or fail.
type diskLog struct {
	mu      sync.Mutex
	writes  []string // "path=data"
	fail    error
	started chan string   // each write's path as it starts, if not nil
	release chan struct{} // each write waits for one value, if not nil
}

func (d *diskLog) write(path string, data []byte, _ fs.FileMode) error {
	if d.started != nil {
		d.started <- path
	}
	if d.release != nil {
		<-d.release
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail != nil {
		return d.fail
	}
	d.writes = append(d.writes, filepath.Base(path)+"="+string(data))
	return nil
}

func (d *diskLog) done() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.writes...)
}

// TestWriterCoalescesWhileTheDiskIsBlocked: with the disk blocked in the
// middle of a write, queueing a hundred more returns at once (the caller
// never waits on the disk), and each file is then written once, with its
// latest content, in the order of its first request.
func TestWriterCoalescesWhileTheDiskIsBlocked(t *testing.T) {
	disk := &diskLog{started: make(chan string, 10), release: make(chan struct{})}
	w := NewWriter(WriterOptions{Name: "test", WriteFile: disk.write})
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	w.Write(a, []byte("0"), 0o600)
	<-disk.started // the goroutine is inside the blocked write of a=0
	for i := 1; i <= 100; i++ {
		w.Write(b, []byte(strconv.Itoa(i)), 0o600)
		w.Write(a, []byte(strconv.Itoa(i)), 0o600)
	}
	close(disk.release)
	w.Flush()
	got := disk.done()
	want := []string{"a=0", "b=100", "a=100"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("writes %v, want %v", got, want)
	}
}

// TestWriterWriteWaitOrdersAcrossFiles: a removal queued after WriteWait
// returned lands after that write, even if the removed file was queued
// before it.
func TestWriterWriteWaitOrdersAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	entry, state := filepath.Join(dir, "entry"), filepath.Join(dir, "state")
	w := NewWriter(WriterOptions{Name: "test"})
	w.Write(entry, []byte("pending"), 0o600)
	if err := w.WriteWait(state, []byte("handled"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(state); err != nil || string(b) != "handled" {
		t.Fatalf("WriteWait returned before the file was written: %q %v", b, err)
	}
	w.Remove(entry)
	w.Flush()
	if _, err := os.Stat(entry); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("entry not removed: %v", err)
	}
}

// TestWriterReportsFailuresUntilTheFileIsSaved: a failed write is counted
// and kept as the writer's error until the same file is written again.
func TestWriterReportsFailuresUntilTheFileIsSaved(t *testing.T) {
	disk := &diskLog{fail: errors.New("no space left on device")}
	w := NewWriter(WriterOptions{Name: "incidents", WriteFile: disk.write})
	path := filepath.Join(t.TempDir(), "incidents.json")
	if err := w.WriteWait(path, []byte("x"), 0o600); err == nil {
		t.Fatal("WriteWait hid the failure")
	}
	w.Write(path, []byte("y"), 0o600)
	w.Flush()
	if err := w.Err(); err == nil || w.Failures() != 2 {
		t.Fatalf("after two failed writes: Err %v, Failures %d", err, w.Failures())
	}
	disk.mu.Lock()
	disk.fail = nil
	disk.mu.Unlock()
	w.Write(path, []byte("z"), 0o600)
	w.Flush()
	if err := w.Err(); err != nil || w.Failures() != 2 {
		t.Fatalf("after a good write: Err %v, Failures %d", err, w.Failures())
	}
}

// TestWriterIsBounded: with MaxQueued files waiting, a further file waits
// for room, and a file already queued is still coalesced at once.
func TestWriterIsBounded(t *testing.T) {
	disk := &diskLog{started: make(chan string, 10), release: make(chan struct{})}
	w := NewWriter(WriterOptions{Name: "test", WriteFile: disk.write, MaxQueued: 1})
	dir := t.TempDir()
	w.Write(filepath.Join(dir, "a"), []byte("1"), 0o600)
	<-disk.started // a is being written: the queue is empty
	w.Write(filepath.Join(dir, "b"), []byte("1"), 0o600)
	w.Write(filepath.Join(dir, "b"), []byte("2"), 0o600) // coalesced: no room needed
	queued := make(chan struct{})
	go func() {
		w.Write(filepath.Join(dir, "c"), []byte("1"), 0o600)
		close(queued)
	}()
	select {
	case <-queued:
		t.Fatal("a third file was queued past MaxQueued")
	case disk.release <- struct{}{}: // a is written, b starts
	}
	<-disk.started
	<-queued // b left the queue: c got its place
	close(disk.release)
	w.Flush()
	if got := disk.done(); len(got) != 3 || got[1] != "b=2" || got[2] != "c=1" {
		t.Fatalf("writes %v", got)
	}
}
