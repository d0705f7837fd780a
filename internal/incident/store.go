// Package incident persists incidents in the state directory, so that a
// restart in the middle of an incident neither pages again nor forgets to
// resolve it. It also builds the /api/v1/incidents document (View), which
// package api serves and package cli renders.
//
// The store is one JSON file written with statefile.WriteAtomic: a crash
// leaves either the old or the new file, never a torn one. Apply changes
// the store in memory and queues the write to a statefile.Writer, so that
// the probe loop never waits on the disk: writes are coalesced (the latest
// store wins) and Flush writes what is queued at shutdown. A file that
// cannot be read is reported and set aside
// (incidents.json.corrupt-<time>), never silently dropped; a file written
// by a newer schema is refused (statefile.NewerError), never set aside.
//
// What was delivered about an incident is not kept here: the notification
// dispatcher (internal/notify) owns it, and the store shows it through
// Options.Delivery.
package incident

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/statefile"
)

// Schema names the version of the store file and of the API document.
const Schema = schemaPrefix + "1"

// schemaPrefix is Schema without its version number; schemaVersion is
// that number, the newest this build reads.
const (
	schemaPrefix  = "reachmon.incidents/v"
	schemaVersion = 1
)

// FileName is the store file inside the store directory.
const FileName = "incidents.json"

// Defaults for Options.
const (
	DefaultKeepResolved = 7 * 24 * time.Hour
	DefaultMaxResolved  = 1000
)

// Record is one incident and what was delivered about it.
type Record struct {
	Incident model.Incident    `json:"incident"`
	Notify   model.NotifyState `json:"notify"`
}

// storedRecord is a record in the file: the incident only. Files written
// before the dispatcher owned delivery state also hold a "notify" copy,
// which is ignored (internal/notify keeps the same state).
type storedRecord struct {
	Incident model.Incident `json:"incident"`
}

type fileDoc struct {
	Schema  string         `json:"schema"`
	Saved   time.Time      `json:"saved"`
	Records []storedRecord `json:"records"`
}

// DeliveryState tells what was delivered about an incident; the
// notification dispatcher is the one that knows.
type DeliveryState interface {
	Delivered(incidentID string) (model.NotifyState, bool)
}

// Options are the store's collaborators and limits.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// KeepResolved is how long resolved incidents are kept (default 7 days);
	// MaxResolved caps how many (default 1000).
	KeepResolved time.Duration
	MaxResolved  int
	// Delivery fills Record.Notify; nil when no notifier is configured
	// (nothing is delivered).
	Delivery DeliveryState
	// WriteFile replaces statefile.WriteAtomic (tests: a slow or failing
	// disk).
	WriteFile statefile.WriteFunc
}

// Store holds incidents on disk. It is safe for concurrent use (the
// evaluator loop writes changes, the HTTP API reads).
type Store struct {
	dir      string
	path     string
	log      *slog.Logger
	now      func() time.Time
	keep     time.Duration
	max      int
	delivery DeliveryState
	writer   *statefile.Writer

	mu       sync.Mutex
	recs     map[string]model.Incident
	setAside []string
}

// Open opens (creating it if needed) the store in dir, normally
// <state_dir>/incidents. A corrupt file is moved aside and reported in
// SetAside and the log; the store then starts empty. The error is for
// I/O failures that leave no usable store, and for a file written by a
// newer schema (a *statefile.NewerError).
func Open(dir string, o Options) (*Store, error) {
	s := &Store{dir: dir, path: filepath.Join(dir, FileName), log: o.Logger, now: o.Now,
		keep: o.KeepResolved, max: o.MaxResolved, delivery: o.Delivery, recs: map[string]model.Incident{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.writer = statefile.NewWriter(statefile.WriterOptions{Name: "incidents", Logger: s.log, WriteFile: o.WriteFile})
	if s.now == nil {
		s.now = time.Now
	}
	if s.keep <= 0 {
		s.keep = DefaultKeepResolved
	}
	if s.max <= 0 {
		s.max = DefaultMaxResolved
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("incident: store directory: %w", err)
	}
	// Temporary files are what a crash in the middle of a write leaves;
	// the store file itself is intact.
	removed, err := statefile.RemoveTemps(dir)
	for _, t := range removed {
		s.log.Warn("incident store: removed a temporary file left by an interrupted write", "path", t)
	}
	if err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("incident: %w", err)
	}
	if err := checkNewer(s.path, data); err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	var doc fileDoc
	if err := json.Unmarshal(data, &doc); err != nil || doc.Schema != Schema {
		why := "unknown schema " + doc.Schema
		if err != nil {
			why = err.Error()
		}
		aside, rerr := statefile.SetAside(s.path, s.now())
		if rerr != nil {
			return nil, fmt.Errorf("incident: %s is unreadable (%s): %w", s.path, why, rerr)
		}
		msg := fmt.Sprintf("%s was unreadable (%s); moved to %s, starting with an empty incident store", s.path, why, aside)
		s.log.Error("incident store: corrupt file set aside", "path", s.path, "moved_to", aside, "reason", why)
		s.setAside = append(s.setAside, msg)
		return s, nil
	}
	for _, r := range doc.Records {
		if r.Incident.ID == "" {
			continue
		}
		s.recs[r.Incident.ID] = r.Incident
	}
	return s, nil
}

// checkNewer refuses a store file whose schema is this store's with a
// version above the one this build reads. Only the schema is decoded: a
// newer file may not decode as this build's format at all.
func checkNewer(path string, data []byte) error {
	var head struct {
		Schema string `json:"schema"`
	}
	if json.Unmarshal(data, &head) != nil {
		return nil
	}
	v, ok := strings.CutPrefix(head.Schema, schemaPrefix)
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil
	}
	return statefile.CheckVersion(path, n, schemaVersion)
}

// SetAside lists the files found unreadable at Open, one sentence each.
func (s *Store) SetAside() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.setAside)
}

// Apply records the evaluator's changes and queues the store's write; it
// does not wait for the disk. The error is for a store that cannot be
// encoded; a failed write is reported by WriteStatus.
func (s *Store) Apply(changes []model.IncidentChange) error {
	if len(changes) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		s.recs[c.Incident.ID] = c.Incident
	}
	s.pruneLocked()
	return s.saveLocked()
}

// Incidents returns every stored incident (open and recent), oldest first:
// what Evaluator.Restore takes after a restart.
func (s *Store) Incidents() []model.Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedLocked()
}

// Records returns the stored incidents, newest first, each with what was
// delivered about it (from Options.Delivery).
func (s *Store) Records() []Record {
	s.mu.Lock()
	incs := s.sortedLocked()
	s.mu.Unlock()
	recs := make([]Record, len(incs))
	for i, inc := range incs {
		r := Record{Incident: inc}
		if s.delivery != nil {
			r.Notify, _ = s.delivery.Delivered(inc.ID)
		}
		recs[len(incs)-1-i] = r
	}
	return recs
}

func (s *Store) sortedLocked() []model.Incident {
	out := make([]model.Incident, 0, len(s.recs))
	for _, inc := range s.recs {
		out = append(out, inc)
	}
	slices.SortFunc(out, func(a, b model.Incident) int {
		if c := a.Opened.Compare(b.Opened); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// pruneLocked drops resolved incidents older than keep, and the oldest
// beyond max.
func (s *Store) pruneLocked() {
	now := s.now()
	var resolved []model.Incident
	for id, inc := range s.recs {
		if inc.IsOpen() {
			continue
		}
		if now.Sub(inc.Resolved) > s.keep {
			delete(s.recs, id)
			continue
		}
		resolved = append(resolved, inc)
	}
	if len(resolved) <= s.max {
		return
	}
	slices.SortFunc(resolved, func(a, b model.Incident) int { return a.Resolved.Compare(b.Resolved) })
	for _, inc := range resolved[:len(resolved)-s.max] {
		delete(s.recs, inc.ID)
	}
}

// Flush waits until the queued write of the store is on disk (or failed).
func (s *Store) Flush() { s.writer.Flush() }

// WriteStatus tells whether the store's last write failed, and how many
// failed.
func (s *Store) WriteStatus() statefile.WriteStatus { return s.writer }

// saveLocked queues the store's write.
func (s *Store) saveLocked() error {
	incs := s.sortedLocked()
	doc := fileDoc{Schema: Schema, Saved: s.now().UTC(), Records: make([]storedRecord, len(incs))}
	for i, inc := range incs {
		doc.Records[i] = storedRecord{Incident: inc}
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("incident: encoding the store: %w", err)
	}
	s.writer.Write(s.path, append(data, '\n'), 0o640)
	return nil
}
