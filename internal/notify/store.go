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
)

// On disk, under <state dir>/notify:
//
//	outbox/<seq, 20 digits>.json   one pending delivery each, written atomically
//	state.json                     what was delivered per incident, written atomically
//
// Ordering of writes: a delivery's outcome is saved in state.json before
// its outbox file is removed; a crash between the two is detected at load
// (the entry's seq is not above the incident's LastSeq) and not sent again.
// Before each attempt the entry is rewritten with InFlight set, so a crash
// during a request makes the next attempt look before sending again.

const (
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
	dir, outbox, statePath string
}

func newStore(stateDir string) (*store, error) {
	if stateDir == "" {
		return nil, errors.New("notify: empty state directory")
	}
	s := &store{dir: filepath.Join(stateDir, "notify")}
	s.outbox = filepath.Join(s.dir, "outbox")
	s.statePath = filepath.Join(s.dir, "state.json")
	if err := os.MkdirAll(s.outbox, 0o750); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return s, nil
}

func (s *store) entryPath(seq uint64) string {
	return filepath.Join(s.outbox, fmt.Sprintf("%020d.json", seq))
}

func (s *store) writeEntry(e *entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("notify: outbox entry %d: %w", e.Seq, err)
	}
	return writeFileAtomic(s.entryPath(e.Seq), b)
}

func (s *store) removeEntry(seq uint64) error {
	err := os.Remove(s.entryPath(seq))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

func (s *store) saveState(st *stateFile) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("notify: state: %w", err)
	}
	return writeFileAtomic(s.statePath, b)
}

// load reads the state and the outbox. Unreadable files are renamed aside
// (*.corrupt) and reported in bad, never fatal: the daemon must start.
func (s *store) load() (st *stateFile, entries []*entry, bad []string, err error) {
	st = &stateFile{Version: stateVersion, Incidents: map[string]*record{}}
	b, err := os.ReadFile(s.statePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, nil, nil, fmt.Errorf("notify: %w", err)
	default:
		var f stateFile
		if jerr := json.Unmarshal(b, &f); jerr != nil || f.Version != stateVersion {
			bad = append(bad, s.statePath)
			_ = os.Rename(s.statePath, s.statePath+".corrupt")
		} else {
			st = &f
			if st.Incidents == nil {
				st.Incidents = map[string]*record{}
			}
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(s.dir, ".tmp-*")); len(tmps) > 0 {
		for _, t := range tmps {
			_ = os.Remove(t) // an interrupted atomic write of state.json
		}
	}
	des, err := os.ReadDir(s.outbox)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("notify: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		path := filepath.Join(s.outbox, name)
		if strings.HasPrefix(name, ".tmp-") {
			_ = os.Remove(path) // an interrupted atomic write
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		seq, perr := strconv.ParseUint(strings.TrimSuffix(name, ".json"), 10, 64)
		b, rerr := os.ReadFile(path)
		var e entry
		if perr != nil || rerr != nil || json.Unmarshal(b, &e) != nil || e.Seq != seq || e.Change.Incident.ID == "" {
			bad = append(bad, path)
			_ = os.Rename(path, path+".corrupt")
			continue
		}
		entries = append(entries, &e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Seq < entries[j].Seq })
	return st, entries, bad, nil
}

// writeFileAtomic writes data to path through a synced temporary file in
// the same directory and a rename, then syncs the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("notify: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("notify: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
