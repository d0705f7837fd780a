package statefile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"sync"
)

// WriteFunc writes one state file; WriteAtomic is the one used outside
// tests (which inject slow or failing ones).
type WriteFunc func(path string, data []byte, perm fs.FileMode) error

// DefaultMaxQueued bounds the files a Writer holds waiting.
const DefaultMaxQueued = 16384

// WriterOptions configure a Writer; zero values take defaults.
type WriterOptions struct {
	// Name names the store in logs and errors ("incidents", "notify").
	Name   string
	Logger *slog.Logger
	// WriteFile replaces WriteAtomic (tests).
	WriteFile WriteFunc
	// MaxQueued bounds the distinct files waiting to be written (default
	// DefaultMaxQueued); past it, a new file waits for room.
	MaxQueued int
}

// Writer saves a store's files from a goroutine of its own, so that the
// probe loop that changes the store never waits on the disk.
//
// Writes are coalesced: a file queued again before it is written is
// written once, with the latest content (or removed, if that came last),
// at the place in the queue of its first request. Files are written one at
// a time in that order. A caller that needs an order across files (the
// notification state before the outbox entries it makes redundant) waits
// for the first with WriteWait before queueing the second: nothing queued
// later can then land before it.
//
// The goroutine runs while there is something to write; Flush waits until
// everything queued is on disk (at shutdown). A failed write is kept as
// the file's state (Err) until a later write of the same file succeeds,
// and counted (Failures).
type Writer struct {
	name  string
	log   *slog.Logger
	write WriteFunc
	max   int

	mu       sync.Mutex
	changed  *sync.Cond // the queue shrank, or the goroutine stopped
	queue    []string   // paths in the order of their first request
	ops      map[string]*op
	running  bool
	failed   map[string]error
	failures uint64
}

// op is what is queued for one file.
type op struct {
	data    []byte
	perm    fs.FileMode
	remove  bool
	waiters []chan error
}

// NewWriter returns a writer; it starts no goroutine until a write is
// queued.
func NewWriter(o WriterOptions) *Writer {
	w := &Writer{name: o.Name, log: o.Logger, write: o.WriteFile, max: o.MaxQueued,
		ops: map[string]*op{}, failed: map[string]error{}}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.write == nil {
		w.write = WriteAtomic
	}
	if w.max <= 0 {
		w.max = DefaultMaxQueued
	}
	w.changed = sync.NewCond(&w.mu)
	return w
}

// Write queues path to be replaced with data (mode perm) and returns at
// once (unless MaxQueued files are waiting already).
func (w *Writer) Write(path string, data []byte, perm fs.FileMode) {
	w.enqueue(path, op{data: data, perm: perm}, nil)
}

// Remove queues path to be removed (a missing file is not an error).
func (w *Writer) Remove(path string) {
	w.enqueue(path, op{remove: true}, nil)
}

// WriteWait is Write that returns once path holds data or a later
// content, with the error of that write.
func (w *Writer) WriteWait(path string, data []byte, perm fs.FileMode) error {
	done := make(chan error, 1)
	w.enqueue(path, op{data: data, perm: perm}, done)
	return <-done
}

func (w *Writer) enqueue(path string, o op, done chan error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	queued := w.ops[path]
	for queued == nil && len(w.queue) >= w.max {
		w.changed.Wait()
		queued = w.ops[path]
	}
	if queued == nil {
		queued = &op{}
		w.ops[path] = queued
		w.queue = append(w.queue, path)
	}
	queued.data, queued.perm, queued.remove = o.data, o.perm, o.remove
	if done != nil {
		queued.waiters = append(queued.waiters, done)
	}
	if !w.running {
		w.running = true
		go w.run()
	}
}

// run writes the queue in order and stops when it is empty.
func (w *Writer) run() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) > 0 {
		path := w.queue[0]
		w.queue = w.queue[1:]
		o := w.ops[path]
		delete(w.ops, path)
		w.mu.Unlock()
		err := w.apply(path, o)
		w.mu.Lock()
		w.settleLocked(path, err)
		for _, c := range o.waiters {
			c <- err
		}
		w.changed.Broadcast()
	}
	w.running = false
	w.changed.Broadcast()
}

func (w *Writer) apply(path string, o *op) error {
	if !o.remove {
		return w.write(path, o.data, o.perm)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}

// settleLocked records the outcome of a write of path: a failure is
// logged when the file starts failing (and at debug while it goes on),
// a recovery when it stops.
func (w *Writer) settleLocked(path string, err error) {
	_, wasFailing := w.failed[path]
	switch {
	case err != nil:
		w.failures++
		w.failed[path] = err
		level := slog.LevelError
		if wasFailing {
			level = slog.LevelDebug
		}
		w.log.Log(context.Background(), level, "state file not saved", "store", w.name, "path", path, "error", err)
	case wasFailing:
		delete(w.failed, path)
		w.log.Info("state file saved again", "store", w.name, "path", path)
	}
}

// Flush waits until every queued write is done.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.running {
		w.changed.Wait()
	}
}

// Err is nil while the last write of every file succeeded; else it names
// how many files are not saved and the first one's error.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.failed) == 0 {
		return nil
	}
	paths := make([]string, 0, len(w.failed))
	for p := range w.failed {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return fmt.Errorf("%s: the last write of %d state file(s) failed: %w", w.name, len(paths), w.failed[paths[0]])
}

// WriteStatus is what a store tells of its writes: Err, nil while the
// last write of each of its files succeeded, and the count of failed
// writes. A *Writer is one.
type WriteStatus interface {
	Err() error
	Failures() uint64
}

// Failures is the number of failed writes since the writer was made.
func (w *Writer) Failures() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failures
}
