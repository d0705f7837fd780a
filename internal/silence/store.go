package silence

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/statefile"
)

// FileName is the silences' file in the state directory.
const FileName = "silences.json"

// fileVersion is the schema of silences.json.
const fileVersion = 1

type file struct {
	Version  int       `json:"version"`
	Silences []Silence `json:"silences"`
}

// Errors of Add and Expire besides *FieldError.
var (
	ErrNotFound = errors.New("no such silence")
	ErrEnded    = errors.New("silence already ended")
	ErrFull     = fmt.Errorf("%d silences are kept already: expire some, or wait until ended ones are pruned (%s after they end)", MaxSilences, KeepExpired)
)

// Options are the store's dependencies; zero values take defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// WriteFile replaces statefile.WriteAtomic (tests).
	WriteFile statefile.WriteFunc
}

// Store holds the silences and the maintenance windows. Every method is
// safe for concurrent use: the API changes silences while the evaluator's
// goroutine asks Silence.
type Store struct {
	path  string
	log   *slog.Logger
	now   func() time.Time
	write statefile.WriteFunc

	// writeMu orders changes (each is written before it applies), so that
	// mu is never held during a disk write and Silence never waits on one.
	writeMu sync.Mutex

	mu       sync.RWMutex
	silences []Silence
	windows  []config.MaintenanceWindow
}

// Open reads stateDir/silences.json (missing: no silences). A file that
// cannot be read is set aside (<file>.corrupt-<time>) and the store
// starts empty; a file of a newer schema is refused (an error carrying
// statefile.ErrRefused).
func Open(stateDir string, windows []config.MaintenanceWindow, opts Options) (*Store, error) {
	s := &Store{path: filepath.Join(stateDir, FileName), log: opts.Logger, now: opts.Now, write: opts.WriteFile,
		windows: slices.Clone(windows)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "silence")
	if s.now == nil {
		s.now = time.Now
	}
	if s.write == nil {
		s.write = statefile.WriteAtomic
	}
	if _, err := statefile.RemoveTemps(stateDir); err != nil {
		return nil, fmt.Errorf("silence: %w", err)
	}
	list, err := read(s.path)
	var bad *contentError
	switch {
	case errors.As(err, &bad):
		moved, aerr := statefile.SetAside(s.path, s.now())
		if aerr != nil {
			return nil, fmt.Errorf("silence: %s is unreadable (%v): %w", s.path, bad.why, aerr)
		}
		s.log.Warn("unreadable silences file set aside; starting without silences", "path", s.path, "moved_to", moved, "reason", bad.why.Error())
	case err != nil:
		return nil, err
	}
	s.silences = prune(list, s.now())
	return s, nil
}

type contentError struct{ why error }

func (e *contentError) Error() string { return "silence: unreadable file: " + e.why.Error() }

func read(path string) ([]Silence, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("silence: %w", err)
	}
	var head struct {
		Version int `json:"version"`
	}
	if json.Unmarshal(b, &head) == nil {
		if err := statefile.CheckVersion(path, head.Version, fileVersion); err != nil {
			return nil, fmt.Errorf("silence: %w", err)
		}
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, &contentError{why: err}
	}
	if f.Version != fileVersion {
		return nil, &contentError{why: fmt.Errorf("unknown version %d", f.Version)}
	}
	seen := map[string]bool{}
	for _, sl := range f.Silences {
		if err := sl.check(); err != nil {
			return nil, &contentError{why: err}
		}
		if seen[sl.ID] {
			return nil, &contentError{why: fmt.Errorf("silence id %s twice", sl.ID)}
		}
		seen[sl.ID] = true
	}
	return f.Silences, nil
}

// prune drops the silences that ended more than KeepExpired before now.
func prune(list []Silence, now time.Time) []Silence {
	return slices.DeleteFunc(slices.Clone(list), func(s Silence) bool { return now.Sub(s.Ends) > KeepExpired })
}

// save writes list; the caller holds writeMu.
func (s *Store) save(list []Silence) error {
	if list == nil {
		list = []Silence{}
	}
	b, err := json.MarshalIndent(file{Version: fileVersion, Silences: list}, "", "  ")
	if err != nil {
		return fmt.Errorf("silence: %w", err)
	}
	if err := s.write(s.path, append(b, '\n'), 0o640); err != nil {
		return fmt.Errorf("silence: %w", err)
	}
	return nil
}

// change computes the new list from the current one with f, writes it
// and then makes it current; nothing changes when f or the write fails.
func (s *Store) change(f func(list []Silence, now time.Time) ([]Silence, error)) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	now := s.now()
	s.mu.RLock()
	cur := prune(s.silences, now)
	s.mu.RUnlock()
	next, err := f(cur, now)
	if err != nil {
		return err
	}
	if err := s.save(next); err != nil {
		return err
	}
	s.mu.Lock()
	s.silences = next
	s.mu.Unlock()
	return nil
}

// Add validates r, stores the silence (on disk before it applies) and
// returns it. A bad request is a *FieldError.
func (s *Store) Add(r Request) (Silence, error) {
	var out Silence
	err := s.change(func(list []Silence, now time.Time) ([]Silence, error) {
		sl, err := r.build(now)
		if err != nil {
			return nil, err
		}
		if len(list) >= MaxSilences {
			return nil, ErrFull
		}
		sl.ID = newID()
		for slices.ContainsFunc(list, func(x Silence) bool { return x.ID == sl.ID }) {
			sl.ID = newID()
		}
		out = sl
		return append(list, sl), nil
	})
	if err != nil {
		return Silence{}, err
	}
	s.log.Info("silence added", "id", out.ID, "kind", string(out.Kind), "subject", string(out.Subject),
		"starts", out.Starts, "ends", out.Ends, "by", out.CreatedBy, "reason", out.Reason)
	return out, nil
}

// Expire ends the silence id now (by names who ended it) and returns it:
// ErrNotFound for an unknown id, ErrEnded (with the silence) for one that
// ended already.
func (s *Store) Expire(id, by string) (Silence, error) {
	var out Silence
	err := s.change(func(list []Silence, now time.Time) ([]Silence, error) {
		i := slices.IndexFunc(list, func(x Silence) bool { return x.ID == id })
		if i < 0 {
			return nil, ErrNotFound
		}
		out = list[i]
		if out.State(now) == StateExpired {
			return nil, ErrEnded
		}
		if out.Starts.After(now) {
			out.Starts = now.UTC()
		}
		out.Ends = now.UTC()
		out.ExpiredBy = by
		list[i] = out
		return list, nil
	})
	if err != nil {
		return out, err
	}
	s.log.Info("silence expired", "id", out.ID, "by", by)
	return out, nil
}

// SetWindows replaces the maintenance windows (a configuration reload).
func (s *Store) SetWindows(ws []config.MaintenanceWindow) {
	s.mu.Lock()
	s.windows = slices.Clone(ws)
	s.mu.Unlock()
}

// Silence says which silence or open window covers an incident of kind
// about subject at now; when several do, the one that ends last (so that
// the incident does not flap from one to the next), then the first made.
// It implements evaluate.Silencer.
func (s *Store) Silence(kind model.IncidentKind, subject string, now time.Time) (model.Silenced, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var best model.Silenced
	for _, sl := range s.silences {
		if sl.Matches(kind, subject, now) && (best.IsZero() || sl.Ends.After(best.Until)) {
			best = sl.Silenced()
		}
	}
	for _, w := range s.windows {
		if !windowMatches(w, kind, subject) {
			continue
		}
		if until, open := windowOpen(w, now); open && (best.IsZero() || until.After(best.Until)) {
			best = windowSilenced(w, until)
		}
	}
	return best, !best.IsZero()
}

// Entry is one silence in the list, with its state.
type Entry struct {
	Silence
	State string `json:"state"`
}

// WindowEntry is one maintenance window in the list.
type WindowEntry struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Weekdays []string `json:"weekdays"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Timezone string   `json:"timezone"`
	Kinds    []string `json:"kinds,omitempty"`
	Subject  string   `json:"subject,omitempty"`
	// Active is true while the window is open; Until is then when it
	// closes, Next otherwise when it next opens.
	Active bool      `json:"active"`
	Until  time.Time `json:"until,omitzero"`
	Next   time.Time `json:"next,omitzero"`
}

// View is the GET /api/v1/silences document.
type View struct {
	Schema string    `json:"schema"`
	Time   time.Time `json:"time"`
	// Silences: active, then pending, then expired; each by end.
	Silences    []Entry       `json:"silences"`
	Maintenance []WindowEntry `json:"maintenance"`
}

// Doc is the document of one silence (POST answers).
type Doc struct {
	Schema  string `json:"schema"`
	Silence Entry  `json:"silence"`
}

// NewDoc is the document of sl at now.
func NewDoc(sl Silence, now time.Time) Doc {
	return Doc{Schema: Schema, Silence: Entry{Silence: sl, State: sl.State(now)}}
}

// View lists the silences kept and the windows.
func (s *Store) View() View {
	now := s.now()
	s.mu.RLock()
	list := prune(s.silences, now)
	ws := slices.Clone(s.windows)
	s.mu.RUnlock()
	v := View{Schema: ListSchema, Time: now.UTC(), Silences: []Entry{}, Maintenance: []WindowEntry{}}
	for _, sl := range list {
		v.Silences = append(v.Silences, Entry{Silence: sl, State: sl.State(now)})
	}
	rank := map[string]int{StateActive: 0, StatePending: 1, StateExpired: 2}
	slices.SortStableFunc(v.Silences, func(a, b Entry) int {
		if c := rank[a.State] - rank[b.State]; c != 0 {
			return c
		}
		return a.Ends.Compare(b.Ends)
	})
	for _, w := range ws {
		e := WindowEntry{ID: WindowID(w.Name), Name: w.Name, Weekdays: weekdays(w), Start: hhmm(w.Start), End: hhmm(w.End),
			Timezone: locName(w), Subject: string(w.Subject)}
		for _, k := range w.Kinds {
			e.Kinds = append(e.Kinds, string(k))
		}
		if until, open := windowOpen(w, now); open {
			e.Active, e.Until = true, until.UTC()
		} else {
			e.Next = nextOpen(w, now).UTC()
		}
		v.Maintenance = append(v.Maintenance, e)
	}
	return v
}

// Collector returns the collector of reachmon_silences_active, counted
// at each scrape.
func (s *Store) Collector() prometheus.Collector { return collector{s} }

var activeDesc = prometheus.NewDesc("reachmon_silences_active",
	"Silences in force now, by source: api (made with reachmon silence add or POST /api/v1/silences) and maintenance (configured windows that are open).",
	[]string{"source"}, nil)

type collector struct{ s *Store }

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- activeDesc }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	now := c.s.now()
	c.s.mu.RLock()
	var api, windows int
	for _, sl := range c.s.silences {
		if sl.State(now) == StateActive {
			api++
		}
	}
	for _, w := range c.s.windows {
		if _, open := windowOpen(w, now); open {
			windows++
		}
	}
	c.s.mu.RUnlock()
	ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(api), "api")
	ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(windows), "maintenance")
}

// Doc is the document of sl now.
func (s *Store) Doc(sl Silence) Doc { return NewDoc(sl, s.now()) }
