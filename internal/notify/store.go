package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/statefile"
)

// On disk, under <state dir>/notify:
//
//	outbox/<seq, 20 digits>.json   one pending delivery each
//	state.json                     what was delivered per incident
//
// Both are written with statefile.WriteAtomic (each file is the old or the
// new one after a crash), through one statefile.Writer: a goroutine that
// writes them in the order they were first queued, each file's writes
// coalesced (the latest content wins). state.json is the one record of
// delivery state (message references, what was delivered, attempts): the
// incident store shows it through Dispatcher.Delivered and keeps no copy.
//
// Crash-safety order across the files:
//
//  1. Submit queues the change's outbox entry and returns without waiting
//     for the disk (it runs on the probe loop); a crash before the writer
//     gets to it loses the change, which the reconciliation at the next
//     start (Dispatcher.Reconcile) makes good where a page is out;
//  2. before each attempt the Run goroutine rewrites the entry with
//     InFlight set and waits until it is on disk (Writer.WriteWait, which
//     also writes the entry's queued first write), so a crash during a
//     request makes the next attempt look before sending again
//     (MaybeDelivered);
//  3. a delivery's outcome is saved in state.json (with the entry's seq as
//     the incident's LastSeq), waiting until it is on disk, before the
//     entry's removal is queued; a crash between the two is detected at
//     load (the entry's seq is not above LastSeq) and the entry is not
//     sent again. When that save fails, the entry's file is kept (removed
//     after the next save that succeeds), so a restart resends rather
//     than forgets it.
//
// Unreadable files are set aside with statefile.SetAside
// (<file>.corrupt-<time>); the dispatcher starts without them. A state
// file written by a newer schema is refused (statefile.NewerError).

const (
	// dirName is the store's directory in the state directory, and
	// stateFileName its delivery state file.
	dirName       = "notify"
	stateFileName = "state.json"

	stateVersion = 1
	// stateRetention keeps resolved incidents this long, so that a late
	// duplicate change is recognised.
	stateRetention = 7 * 24 * time.Hour
)

// entry is one pending delivery in the outbox.
type entry struct {
	Seq     uint64               `json:"seq"`
	Channel string               `json:"channel"`
	Change  model.IncidentChange `json:"change"`
	// Reminder marks a repeat reminder made by the dispatcher.
	Reminder  bool      `json:"reminder,omitempty"`
	Submitted time.Time `json:"submitted"`
	// HeldUntil is set on an update held by the minimum update interval:
	// it is not tried before then, and later updates of its incident are
	// folded into it.
	HeldUntil time.Time `json:"held_until,omitzero"`
	// taken marks a held update that a message being delivered for its
	// incident will replace: nothing is folded into it any more.
	taken bool

	// Fields below change while the entry is retried (guarded by
	// Dispatcher.mu once the entry is queued).
	Attempts       int       `json:"attempts,omitempty"`
	FirstAttempt   time.Time `json:"first_attempt,omitzero"`
	InFlight       bool      `json:"in_flight,omitempty"`
	MaybeDelivered bool      `json:"maybe_delivered,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
}

func (e *entry) key() string { return e.Change.Incident.ID + "#" + strconv.FormatUint(e.Seq, 10) }

// record is what was delivered for one incident.
type record struct {
	Channel string            `json:"channel"`
	Notify  model.NotifyState `json:"notify"`
	// LastSeq is the seq of the last outbox entry handled for the incident.
	LastSeq uint64 `json:"last_seq"`
	// Hash fingerprints the last delivered content (dedupe "unchanged").
	Hash string `json:"hash,omitempty"`
	// LastEvidence is the time of the newest evidence item delivered.
	LastEvidence time.Time `json:"last_evidence,omitzero"`
	// Incident is the incident as last delivered (for reminders).
	Incident model.Incident `json:"incident"`
}

type stateFile struct {
	Version int `json:"version"`
	// MaxSeq is the highest seq ever handled; new seqs start above it.
	MaxSeq    uint64             `json:"max_seq"`
	Incidents map[string]*record `json:"incidents"`
}

type store struct {
	// name is the directory's name in the state directory.
	name                   string
	dir, outbox, statePath string
	writer                 *statefile.Writer
}

func newStore(stateDir, name string) (*store, error) {
	if stateDir == "" {
		return nil, errors.New("notify: empty state directory")
	}
	s := &store{name: name, dir: filepath.Join(stateDir, name), writer: statefile.NewWriter(statefile.WriterOptions{Name: name})}
	s.outbox = filepath.Join(s.dir, "outbox")
	s.statePath = filepath.Join(s.dir, stateFileName)
	if err := os.MkdirAll(s.outbox, 0o750); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return s, nil
}

func (s *store) entryPath(seq uint64) string {
	return filepath.Join(s.outbox, fmt.Sprintf("%020d.json", seq))
}

// filePerm is the mode of the store's files: readable by the daemon's
// user only (message references and incident details).
const filePerm = 0o600

// queueEntry queues the write of e without waiting for the disk; the
// error is for an entry that cannot be encoded.
func (s *store) queueEntry(e *entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("notify: outbox entry %d: %w", e.Seq, err)
	}
	s.writer.Write(s.entryPath(e.Seq), b, filePerm)
	return nil
}

// writeEntry writes e and returns once it is on disk.
func (s *store) writeEntry(e *entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("notify: outbox entry %d: %w", e.Seq, err)
	}
	return waitWrite(s.writer.WriteWait(s.entryPath(e.Seq), b, filePerm))
}

// removeEntry queues the removal of entry seq's file.
func (s *store) removeEntry(seq uint64) { s.writer.Remove(s.entryPath(seq)) }

// saveState writes state.json and returns once it is on disk.
func (s *store) saveState(st *stateFile) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("notify: state: %w", err)
	}
	return waitWrite(s.writer.WriteWait(s.statePath, b, filePerm))
}

func waitWrite(err error) error {
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// setAside is an unreadable file moved out of the way at load.
type setAside struct {
	path, movedTo, reason string
}

// load reads the state and the outbox. Unreadable files are set aside
// and reported in bad, never fatal: the daemon must start. The error is
// for I/O failures, a file that cannot be set aside included, and for a
// state file written by a newer schema (a *statefile.NewerError).
func (s *store) load(now time.Time) (st *stateFile, entries []*entry, bad []setAside, err error) {
	for _, dir := range []string{s.dir, s.outbox} {
		// What a crash during a write left; the files it was meant to
		// replace are intact.
		if _, err := statefile.RemoveTemps(dir); err != nil {
			return nil, nil, nil, fmt.Errorf("notify: %w", err)
		}
	}
	st, err = readState(s.statePath)
	var unreadable *contentError
	switch {
	case errors.As(err, &unreadable):
		moved, err := statefile.SetAside(s.statePath, now)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("notify: %s is unreadable (%v): %w", s.statePath, unreadable.why, err)
		}
		bad = append(bad, setAside{path: s.statePath, movedTo: moved, reason: unreadable.why.Error()})
		st = emptyState()
	case err != nil:
		return nil, nil, nil, err
	}
	des, err := os.ReadDir(s.outbox)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("notify: %w", err)
	}
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		e, why := s.readEntry(de.Name())
		if why == "" {
			entries = append(entries, e)
			continue
		}
		path := filepath.Join(s.outbox, de.Name())
		moved, err := statefile.SetAside(path, now)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("notify: %s is unreadable (%s): %w", path, why, err)
		}
		bad = append(bad, setAside{path: path, movedTo: moved, reason: why})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Seq < entries[j].Seq })
	return st, entries, bad, nil
}

// contentError is a state file that was read but cannot be used.
type contentError struct{ why error }

func (e *contentError) Error() string { return "notify: unreadable state: " + e.why.Error() }

func emptyState() *stateFile {
	return &stateFile{Version: stateVersion, Incidents: map[string]*record{}}
}

// readState reads state.json; a missing file is an empty state. A file
// that cannot be used is a *contentError.
func readState(path string) (*stateFile, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return emptyState(), nil
	case err != nil:
		return nil, fmt.Errorf("notify: %w", err)
	}
	// The version alone first: a newer file may not decode as this
	// build's format at all, and must be refused, not set aside.
	var head struct {
		Version int `json:"version"`
	}
	if json.Unmarshal(b, &head) == nil {
		if err := statefile.CheckVersion(path, head.Version, stateVersion); err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, &contentError{why: err}
	}
	if st.Version != stateVersion {
		return nil, &contentError{why: fmt.Errorf("unknown version %d", st.Version)}
	}
	if st.Incidents == nil {
		st.Incidents = map[string]*record{}
	}
	for id, rec := range st.Incidents {
		if rec == nil { // reachmon never writes one; New and ReadDelivered would crash on it
			return nil, &contentError{why: fmt.Errorf("incident %q has a null record", id)}
		}
	}
	return &st, nil
}

// DeliveredLog is what was delivered per incident, read from a state
// directory by a daemon that runs with notifications off: incidents paged
// while they were on still show it. The dispatcher is the owner of this
// state; the log is a read-only snapshot of what it saved.
type DeliveredLog map[string]model.NotifyState

// ReadDelivered reads the Slack dispatcher's delivery state saved in
// stateDir without changing any file (a missing state is empty).
func ReadDelivered(stateDir string) (DeliveredLog, error) {
	return ReadDeliveredDir(stateDir, SlackDir)
}

// ReadDeliveredDir reads the delivery state a dispatcher saved in
// stateDir/dir (Policy.Dir) without changing any file.
func ReadDeliveredDir(stateDir, dir string) (DeliveredLog, error) {
	st, err := readState(filepath.Join(stateDir, dir, stateFileName))
	if err != nil {
		return nil, err
	}
	log := make(DeliveredLog, len(st.Incidents))
	for id, rec := range st.Incidents {
		log[id] = rec.Notify
	}
	return log, nil
}

// Delivered returns what was delivered about an incident.
func (l DeliveredLog) Delivered(incidentID string) (model.NotifyState, bool) {
	n, ok := l[incidentID]
	return n, ok
}

// readEntry reads the outbox file name; why says what is wrong with it.
func (s *store) readEntry(name string) (e *entry, why string) {
	seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".json"), 10, 64)
	if err != nil {
		return nil, "the name is not a sequence number"
	}
	b, err := os.ReadFile(filepath.Join(s.outbox, name))
	if err != nil {
		return nil, err.Error()
	}
	e = &entry{}
	switch err := json.Unmarshal(b, e); {
	case err != nil:
		return nil, err.Error()
	case e.Seq != seq:
		return nil, fmt.Sprintf("holds seq %d", e.Seq)
	case e.Change.Incident.ID == "":
		return nil, "no incident ID"
	}
	return e, ""
}
