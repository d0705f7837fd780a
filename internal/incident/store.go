// Package incident persists incidents and their notification state in
// the state directory, so that a restart in the middle of an incident
// neither pages again nor forgets to resolve it. It also serves them on
// /api/v1/incidents and renders them for `reachmon incidents`.
//
// The store is one JSON file rewritten atomically (temporary file, fsync,
// rename, fsync of the directory): a crash leaves either the old or the
// new file, never a torn one. A file that cannot be read is reported and
// moved aside (incidents.json.corrupt-<time>), never silently dropped.
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
	"strings"
	"sync"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Schema names the version of the store file and of the API document.
const Schema = "reachmon.incidents/v1"

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

type fileDoc struct {
	Schema  string    `json:"schema"`
	Saved   time.Time `json:"saved"`
	Records []Record  `json:"records"`
}

// Options are the store's collaborators and limits.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// KeepResolved is how long resolved incidents are kept (default 7 days);
	// MaxResolved caps how many (default 1000).
	KeepResolved time.Duration
	MaxResolved  int
}

// Store holds incidents on disk. It is safe for concurrent use (the
// evaluator loop writes changes, notifiers write delivery state, the
// HTTP API reads).
type Store struct {
	dir  string
	path string
	log  *slog.Logger
	now  func() time.Time
	keep time.Duration
	max  int

	mu       sync.Mutex
	recs     map[string]*Record
	setAside []string
}

// Open opens (creating it if needed) the store in dir, normally
// <state_dir>/incidents. A corrupt file is moved aside and reported in
// SetAside and the log; the store then starts empty. The error is only
// for I/O failures that leave no usable store.
func Open(dir string, o Options) (*Store, error) {
	s := &Store{dir: dir, path: filepath.Join(dir, FileName), log: o.Logger, now: o.Now,
		keep: o.KeepResolved, max: o.MaxResolved, recs: map[string]*Record{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
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
	if tmps, err := filepath.Glob(filepath.Join(dir, FileName+".tmp-*")); err == nil {
		for _, t := range tmps {
			s.log.Warn("incident store: removing a temporary file left by an interrupted write", "path", t)
			_ = os.Remove(t)
		}
	}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("incident: %w", err)
	}
	var doc fileDoc
	if err := json.Unmarshal(data, &doc); err != nil || doc.Schema != Schema {
		why := "unknown schema " + doc.Schema
		if err != nil {
			why = err.Error()
		}
		aside := fmt.Sprintf("%s.corrupt-%s", s.path, s.now().UTC().Format("20060102T150405.000000000Z"))
		if rerr := os.Rename(s.path, aside); rerr != nil {
			return nil, fmt.Errorf("incident: %s is unreadable (%s) and could not be moved aside: %w", s.path, why, rerr)
		}
		msg := fmt.Sprintf("%s was unreadable (%s); moved to %s, starting with an empty incident store", s.path, why, aside)
		s.log.Error("incident store: corrupt file set aside", "path", s.path, "moved_to", aside, "reason", why)
		s.setAside = append(s.setAside, msg)
		return s, nil
	}
	for i := range doc.Records {
		r := doc.Records[i]
		if r.Incident.ID == "" {
			continue
		}
		s.recs[r.Incident.ID] = &r
	}
	return s, nil
}

// SetAside lists the files found unreadable at Open, one sentence each.
func (s *Store) SetAside() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.setAside)
}

// Apply records the evaluator's changes and saves the store.
func (s *Store) Apply(changes []model.IncidentChange) error {
	if len(changes) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		r := s.recs[c.Incident.ID]
		if r == nil {
			r = &Record{}
			s.recs[c.Incident.ID] = r
		}
		r.Incident = c.Incident
	}
	s.pruneLocked()
	return s.saveLocked()
}

// Incidents returns every stored incident (open and recent), oldest first:
// what Evaluator.Restore takes after a restart.
func (s *Store) Incidents() []model.Incident {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]model.Incident, 0, len(s.recs))
	for _, r := range s.sortedLocked() {
		out = append(out, r.Incident)
	}
	return out
}

// Records returns copies of the stored records, newest first.
func (s *Store) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.sortedLocked()
	slices.Reverse(recs)
	return recs
}

// Notify returns the delivery state of an incident.
func (s *Store) Notify(id string) (model.NotifyState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recs[id]
	if r == nil {
		return model.NotifyState{}, false
	}
	return r.Notify, true
}

// SetNotify records what was delivered about an incident and saves.
func (s *Store) SetNotify(id string, n model.NotifyState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recs[id]
	if r == nil {
		return fmt.Errorf("incident: no incident %s", id)
	}
	r.Notify = n
	return s.saveLocked()
}

func (s *Store) sortedLocked() []Record {
	out := make([]Record, 0, len(s.recs))
	for _, r := range s.recs {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Record) int {
		if c := a.Incident.Opened.Compare(b.Incident.Opened); c != 0 {
			return c
		}
		return strings.Compare(a.Incident.ID, b.Incident.ID)
	})
	return out
}

// pruneLocked drops resolved incidents older than keep, and the oldest
// beyond max.
func (s *Store) pruneLocked() {
	now := s.now()
	var resolved []*Record
	for id, r := range s.recs {
		if r.Incident.IsOpen() {
			continue
		}
		if now.Sub(r.Incident.Resolved) > s.keep {
			delete(s.recs, id)
			continue
		}
		resolved = append(resolved, r)
	}
	if len(resolved) <= s.max {
		return
	}
	slices.SortFunc(resolved, func(a, b *Record) int { return a.Incident.Resolved.Compare(b.Incident.Resolved) })
	for _, r := range resolved[:len(resolved)-s.max] {
		delete(s.recs, r.Incident.ID)
	}
}

// saveLocked writes the store atomically.
func (s *Store) saveLocked() error {
	doc := fileDoc{Schema: Schema, Saved: s.now().UTC(), Records: s.sortedLocked()}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("incident: encoding the store: %w", err)
	}
	if err := WriteFileAtomic(s.path, append(data, '\n'), 0o640); err != nil {
		return fmt.Errorf("incident: saving the store: %w", err)
	}
	return nil
}

// WriteFileAtomic writes data to path so that a crash leaves either the
// old or the new content: a temporary file in the same directory, fsync,
// rename over path, fsync of the directory.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
