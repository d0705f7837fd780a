package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/statefile"
)

// Dispatcher defaults.
const (
	DefaultMaxPending  = 10000
	DefaultBaseBackoff = time.Second
	DefaultStaleAfter  = 5 * time.Minute
)

// Options are the dispatcher's dependencies; zero values take defaults.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Clock      Clock
	// Rand draws the retry jitter; default a randomly seeded source. Only
	// the Run goroutine uses it.
	Rand *rand.Rand
	// MaxPending bounds the outbox: past it, reminders and then the
	// oldest updates are dropped (opens and resolves never are).
	MaxPending int
	// BaseBackoff is the first retry wait (doubled per attempt, up to
	// the configured max_backoff, with jitter).
	BaseBackoff time.Duration
	// StaleAfter makes Ready fail once a notification has been failing
	// for this long.
	StaleAfter time.Duration
	// WriteFile replaces statefile.WriteAtomic for the outbox and the
	// state file (tests: a slow or failing disk).
	WriteFile statefile.WriteFunc
}

// Dispatcher owns the outbox. Submit may be called from any goroutine;
// Run delivers, one message at a time, in submission order per channel.
type Dispatcher struct {
	cfg         config.SlackConfig
	n           Notifier
	store       *store
	log         *slog.Logger
	clock       Clock
	m           *metrics
	interval    time.Duration
	repeat      time.Duration
	minUpdate   time.Duration
	baseBackoff time.Duration
	maxBackoff  time.Duration
	maxPending  int
	staleAfter  time.Duration
	wake        chan struct{}

	mu       sync.Mutex
	pending  []*entry // seq order
	nextSeq  uint64
	routes   map[string]string // incident ID -> channel, fixed at its first change
	inFlight *entry
	halted   error
	degraded map[string]error // channel -> definite error
	running  bool
	// retune holds settings Reconfigure handed over, which the Run
	// goroutine takes before its next delivery.
	retune *tuning

	// state is what was delivered per incident (the one copy: the
	// incident store asks Delivered). Only the Run goroutine changes it,
	// holding stateMu; it reads it without the lock, Delivered with it.
	stateMu sync.RWMutex
	state   *stateFile

	// Owned by the Run goroutine.
	rnd       *rand.Rand
	notBefore map[string]time.Time // channel -> earliest next attempt
	lastCode  map[string]string    // channel -> last failure code logged
	// unsaved are the seqs of handled entries whose files are kept
	// because the state that says they were handled is not saved yet.
	unsaved []uint64
}

// New restores the outbox and delivery state from stateDir/notify and
// returns a dispatcher that delivers through n. Changes can be submitted
// before Run starts; they are persisted and wait.
func New(cfg config.SlackConfig, stateDir string, n Notifier, opts Options) (*Dispatcher, error) {
	if n == nil {
		return nil, errors.New("notify: no notifier")
	}
	st, err := newStore(stateDir)
	if err != nil {
		return nil, err
	}
	st.writer = statefile.NewWriter(statefile.WriterOptions{Name: dirName, Logger: opts.Logger, WriteFile: opts.WriteFile})
	clock := opts.Clock
	if clock == nil {
		clock = realClock{}
	}
	state, entries, bad, err := st.load(clock.Now())
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{
		cfg:         cfg,
		n:           n,
		store:       st,
		log:         opts.Logger,
		clock:       clock,
		interval:    time.Duration(float64(time.Second) / cfg.RatePerSecond()),
		repeat:      cfg.RepeatInterval.Duration,
		minUpdate:   cfg.UpdateInterval(),
		baseBackoff: opts.BaseBackoff,
		maxBackoff:  cfg.MaxRetryBackoff(),
		maxPending:  opts.MaxPending,
		staleAfter:  opts.StaleAfter,
		wake:        make(chan struct{}, 1),
		routes:      map[string]string{},
		degraded:    map[string]error{},
		rnd:         opts.Rand,
		state:       state,
		notBefore:   map[string]time.Time{},
		lastCode:    map[string]string{},
	}
	d.applyDefaults()
	d.m = newMetrics(opts.Registerer, cfg.Channels())
	for _, b := range bad {
		d.log.Warn("unreadable notification file set aside", "path", b.path, "moved_to", b.movedTo, "reason", b.reason)
	}
	d.restore(state, entries)
	return d, nil
}

// applyDefaults fills in the options left zero.
func (d *Dispatcher) applyDefaults() {
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("component", "notify")
	if d.rnd == nil {
		d.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if d.baseBackoff <= 0 {
		d.baseBackoff = DefaultBaseBackoff
	}
	if d.maxBackoff < d.baseBackoff {
		d.maxBackoff = d.baseBackoff
	}
	if d.maxPending <= 0 {
		d.maxPending = DefaultMaxPending
	}
	if d.staleAfter <= 0 {
		d.staleAfter = DefaultStaleAfter
	}
}

// restore takes back the routes of the incidents not resolved and the
// outbox entries not handled yet, as the last run left them.
func (d *Dispatcher) restore(state *stateFile, entries []*entry) {
	d.nextSeq = state.MaxSeq + 1
	for id, rec := range state.Incidents {
		if rec.Notify.Delivered != model.ChangeResolve {
			d.routes[id] = rec.Channel
		}
	}
	for _, e := range entries {
		id := e.Change.Incident.ID
		if rec := state.Incidents[id]; rec != nil && e.Seq <= rec.LastSeq {
			// Handled before a crash that left the file behind.
			d.store.removeEntry(e.Seq)
			continue
		}
		if e.InFlight {
			// The process stopped during a request: it may have been
			// carried out.
			e.InFlight = false
			e.MaybeDelivered = true
		}
		d.nextSeq = max(d.nextSeq, e.Seq+1)
		if _, ok := d.routes[id]; !ok {
			d.routes[id] = e.Channel
		}
		d.pending = append(d.pending, e)
	}
	d.m.depth.Set(float64(len(d.pending)))
	if len(d.pending) > 0 {
		d.log.Info("notification outbox restored", "pending", len(d.pending))
	}
}

// Submit queues an incident change: it is routed, queued for the outbox
// and Run is woken. It waits neither for the network nor for the disk
// (the store's writer goroutine writes the entry; see store.go for the
// order of writes). An update of an incident whose update is held (the
// minimum update interval) is folded into the held one, unless it
// changes the severity.
func (d *Dispatcher) Submit(c model.IncidentChange) {
	id := c.Incident.ID
	if id == "" {
		d.log.Warn("incident change without an ID ignored", "change", c.Type, "kind", c.Incident.Kind)
		return
	}
	d.mu.Lock()
	if c.Type == model.ChangeUpdate && !severityChange(c) {
		if h := d.heldLocked(id, nil); h != nil {
			h.Change = fold(h.Change, c)
			snap := *h
			d.mu.Unlock()
			if err := d.store.queueEntry(&snap); err != nil {
				d.log.Error("notification not persisted; kept in memory only", "incident", id, "error", err)
			}
			d.m.total.WithLabelValues(snap.Channel, ResultSkipped).Inc()
			d.log.Debug("notification folded into a held update", "incident", id, "held_until", snap.HeldUntil)
			return
		}
	}
	ch, ok := d.routes[id]
	if !ok {
		ch = d.cfg.ChannelFor(c.Incident.Kind, c.Incident.Severity)
		d.routes[id] = ch
	}
	e := &entry{Seq: d.nextSeq, Channel: ch, Change: c, Submitted: d.clock.Now()}
	d.nextSeq++
	d.enqueueLocked(e)
	d.mu.Unlock()
	d.poke()
}

func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) enqueueLocked(e *entry) {
	if len(d.pending) >= d.maxPending && !d.makeRoomLocked(e) {
		return
	}
	if err := d.store.queueEntry(e); err != nil {
		d.log.Error("notification not persisted; kept in memory only", "incident", e.Change.Incident.ID, "error", err)
	}
	d.pending = append(d.pending, e)
	d.m.depth.Set(float64(len(d.pending)))
}

// makeRoomLocked drops a reminder, else the oldest update, to admit e; it
// reports false when e itself is dropped. Opens and resolves are always
// admitted.
func (d *Dispatcher) makeRoomLocked(e *entry) bool {
	victim := -1
	for _, reminders := range []bool{true, false} {
		for i, p := range d.pending {
			if p != d.inFlight && p.Reminder == reminders && p.Change.Type == model.ChangeUpdate {
				victim = i
				break
			}
		}
		if victim >= 0 {
			break
		}
	}
	droppable := e.Reminder || e.Change.Type == model.ChangeUpdate
	if victim < 0 {
		if droppable {
			d.m.total.WithLabelValues(e.Channel, ResultDropped).Inc()
			d.log.Warn("notification outbox full; update dropped", "incident", e.Change.Incident.ID, "pending", len(d.pending))
			return false
		}
		return true
	}
	v := d.pending[victim]
	d.pending = append(d.pending[:victim], d.pending[victim+1:]...)
	d.store.removeEntry(v.Seq)
	d.m.total.WithLabelValues(v.Channel, ResultDropped).Inc()
	d.log.Warn("notification outbox full; oldest update dropped", "incident", v.Change.Incident.ID, "pending", len(d.pending))
	return true
}

// Ready reports nil while notifications flow; an error when the pager
// definitely rejected a notification (credentials, channel), or when one
// has been failing for longer than StaleAfter.
func (d *Dispatcher) Ready() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted != nil {
		return fmt.Errorf("notify: %s (not retried; %d notifications kept in the outbox until a restart with working credentials)", d.halted.Error(), len(d.pending))
	}
	if len(d.degraded) > 0 {
		chs := make([]string, 0, len(d.degraded))
		for ch := range d.degraded {
			chs = append(chs, ch)
		}
		sort.Strings(chs)
		msgs := make([]string, len(chs))
		for i, ch := range chs {
			msgs[i] = d.degraded[ch].Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	now := d.clock.Now()
	for _, e := range d.pending {
		if e.LastError != "" && now.Sub(e.Submitted) >= d.staleAfter {
			return fmt.Errorf("notify: %d notifications waiting, one for %s (last error: %s)",
				len(d.pending), now.Sub(e.Submitted).Round(time.Second), e.LastError)
		}
	}
	return nil
}

// Delivered returns what was delivered about an incident: the message
// reference, the last change delivered, attempts. It is the one record
// of delivery state (the incident store shows it with the incident); it
// may be called from any goroutine.
func (d *Dispatcher) Delivered(incidentID string) (model.NotifyState, bool) {
	d.stateMu.RLock()
	defer d.stateMu.RUnlock()
	rec := d.state.Incidents[incidentID]
	if rec == nil {
		return model.NotifyState{}, false
	}
	return rec.Notify, true
}

// Flush waits until every queued write of the outbox and the state file
// is on disk (or failed): at shutdown, after Run returned.
func (d *Dispatcher) Flush() { d.store.writer.Flush() }

// WriteStatus tells whether the last write of an outbox or state file
// failed, and how many writes failed.
func (d *Dispatcher) WriteStatus() statefile.WriteStatus { return d.store.writer }

// Pending is the number of notifications in the outbox.
func (d *Dispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

// Run delivers the outbox until ctx is cancelled, then waits for the
// queued writes of its files and returns nil. A delivery interrupted by
// the cancellation stays in the outbox.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return errors.New("notify: Run is already running")
	}
	d.running = true
	d.mu.Unlock()
	defer func() {
		d.Flush()
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
	}()
	for ctx.Err() == nil {
		d.takeTuning()
		now := d.clock.Now()
		e, wait := d.next(now)
		if e != nil {
			d.deliver(ctx, e)
			continue
		}
		if d.remind(now) {
			continue
		}
		if r := d.nextReminder(now); r > 0 && (wait <= 0 || r < wait) {
			wait = r
		}
		var (
			timer Timer
			fire  <-chan time.Time
		)
		if wait > 0 {
			timer = d.clock.NewTimer(wait)
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
	return nil
}

// next returns the first entry of the first channel free to send, or how
// long until one is (0: nothing pending).
func (d *Dispatcher) next(now time.Time) (*entry, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted != nil {
		return nil, 0
	}
	var wait time.Duration
	seen := map[string]bool{}
	for _, e := range d.pending {
		if e.HeldUntil.After(now) {
			// Held by the minimum update interval; it does not block
			// its channel.
			if w := e.HeldUntil.Sub(now); wait == 0 || w < wait {
				wait = w
			}
			continue
		}
		if seen[e.Channel] {
			continue
		}
		seen[e.Channel] = true
		nb := d.notBefore[e.Channel]
		if !nb.After(now) {
			return e, 0
		}
		if w := nb.Sub(now); wait == 0 || w < wait {
			wait = w
		}
	}
	return nil, wait
}

// deliver makes one attempt at e: it skips or holds it as its incident's
// delivery state says, else sends it, with the held updates of its
// incident it tells of, and settles the outcome.
func (d *Dispatcher) deliver(ctx context.Context, e *entry) {
	id := e.Change.Incident.ID
	rec := d.state.Incidents[id]
	d.mu.Lock()
	d.inFlight = e // nothing is folded into e from now on
	d.mu.Unlock()
	kind, send, reason := decide(rec, e)
	if !send {
		d.log.Debug("notification skipped", "incident", id, "change", string(e.Change.Type), "reminder", e.Reminder, "reason", reason)
		d.m.total.WithLabelValues(e.Channel, ResultSkipped).Inc()
		d.finish(e, rec)
		return
	}
	if until, hold := d.holdUpdateUntil(kind, e, rec); hold {
		d.hold(e, rec, until)
		return
	}
	inc, held, reason := d.takeHeld(e, kind, reason)
	defer func() {
		// Not delivered: the held updates stay held.
		d.releaseHeld(held)
	}()
	start := d.clock.Now()
	snap := d.startAttempt(e, start)
	dl := newDelivery(&snap, rec, kind, inc, reason, start)
	rcpt, err := d.n.Deliver(ctx, dl)
	end := d.clock.Now()
	d.m.latency.WithLabelValues(e.Channel).Observe(end.Sub(start).Seconds())
	d.notBefore[e.Channel] = start.Add(d.interval)
	if err == nil {
		d.delivered(e, rec, dl, rcpt, end)
		d.supersede(held, id)
		held = nil
		return
	}
	d.failed(ctx, e, rec, kind, snap.Attempts, end, err)
}

// holdUpdateUntil says whether update e must wait, and until when: at
// least the minimum update interval after the incident's last message
// (the page included), unless it changes the severity.
func (d *Dispatcher) holdUpdateUntil(kind Kind, e *entry, rec *record) (time.Time, bool) {
	if kind == KindUpdate && !severityChange(e.Change) && rec != nil && !rec.Notify.LastSent.IsZero() {
		if until := rec.Notify.LastSent.Add(d.minUpdate); until.After(d.clock.Now()) {
			return until, true
		}
	}
	return time.Time{}, false
}

// takeHeld marks taken the held updates of e's incident that e, an update
// or a resolve, tells of: a message that goes out tells what they would
// have, and they are dropped once it is delivered. An update shows the
// latest incident (a held update may have folded in a later one) and the
// causes of all.
func (d *Dispatcher) takeHeld(e *entry, kind Kind, reason string) (model.Incident, []*entry, string) {
	id := e.Change.Incident.ID
	inc := e.Change.Incident
	var held []*entry
	if kind == KindUpdate || kind == KindResolve {
		d.mu.Lock()
		for h := d.heldLocked(id, e); h != nil; h = d.heldLocked(id, e) {
			h.taken = true
			held = append(held, h)
			if kind == KindUpdate {
				reason = joinCauses(h.Change.Material, reason)
				if h.Change.Incident.Updated.After(inc.Updated) {
					inc = h.Change.Incident
				}
			}
		}
		d.mu.Unlock()
	}
	return inc, held, reason
}

// releaseHeld returns held updates that takeHeld took to the outbox.
func (d *Dispatcher) releaseHeld(held []*entry) {
	d.mu.Lock()
	for _, h := range held {
		h.taken = false
	}
	d.mu.Unlock()
}

// supersede finishes the held updates that a delivered message told of.
func (d *Dispatcher) supersede(held []*entry, id string) {
	for _, h := range held {
		d.log.Debug("notification skipped", "incident", id, "change", string(h.Change.Type), "reason", ReasonSuperseded)
		d.m.total.WithLabelValues(h.Channel, ResultSkipped).Inc()
		d.finish(h, d.state.Incidents[id])
	}
}

// startAttempt counts an attempt at e and persists e as in flight, so
// that a restart knows the request may have gone out; it returns the
// entry as persisted.
func (d *Dispatcher) startAttempt(e *entry, start time.Time) entry {
	d.mu.Lock()
	e.Attempts++
	if e.FirstAttempt.IsZero() {
		e.FirstAttempt = start
	}
	e.InFlight = true
	d.inFlight = e
	snap := *e
	d.mu.Unlock()
	if err := d.store.writeEntry(&snap); err != nil {
		d.log.Error("outbox write failed", "incident", e.Change.Incident.ID, "error", err)
	}
	return snap
}

// newDelivery is what the notifier is asked to send for the attempt snap
// (rec: what was delivered of the incident before, nil if nothing).
func newDelivery(snap *entry, rec *record, kind Kind, inc model.Incident, reason string, start time.Time) Delivery {
	dl := Delivery{
		Key:            snap.key(),
		Kind:           kind,
		Channel:        snap.Channel,
		Incident:       inc,
		Reason:         reason,
		NewEvidence:    inc.Evidence,
		Now:            start,
		FirstAttempt:   snap.FirstAttempt,
		MaybeDelivered: snap.MaybeDelivered,
	}
	if rec != nil {
		dl.Ref = rec.Notify.Ref
		dl.NewEvidence = newEvidence(dl.Incident, rec.LastEvidence)
	}
	return dl
}

// failed settles an attempt at e that ended at end with err: a rejected
// credential halts delivery, a rejected message is dropped and degrades
// its channel, anything else is retried after a backoff.
func (d *Dispatcher) failed(ctx context.Context, e *entry, rec *record, kind Kind, attempts int, end time.Time, err error) {
	id := e.Change.Incident.ID
	var ne *Error
	if !errors.As(err, &ne) {
		ne = &Error{Code: "error", Retry: true, MaybeDelivered: true, Msg: err.Error()}
	}
	if ctx.Err() != nil {
		// Shutting down mid-request: keep the entry, assume it may have
		// gone out.
		d.settle(e, true, ne.Error())
		return
	}
	switch {
	case ne.Fatal:
		d.m.total.WithLabelValues(e.Channel, ResultRejected).Inc()
		d.logFailure(e.Channel, ne, slog.LevelError, "notifications stopped: the pager rejected the credentials; fix them and restart",
			"incident", id, "kind", string(kind))
		d.settle(e, ne.MaybeDelivered, ne.Error())
		d.mu.Lock()
		d.halted = ne
		d.mu.Unlock()
	case !ne.Retry:
		d.m.total.WithLabelValues(e.Channel, ResultRejected).Inc()
		d.logFailure(e.Channel, ne, slog.LevelError, "notification rejected; not retried", "incident", id, "kind", string(kind))
		d.mu.Lock()
		d.degraded[e.Channel] = fmt.Errorf("notify: channel %s: %s", e.Channel, ne.Error())
		d.mu.Unlock()
		if rec != nil {
			d.stateMu.Lock()
			rec.Notify.LastError = ne.Error()
			d.stateMu.Unlock()
		}
		d.finish(e, rec)
	default:
		wait := min(ne.RetryAfter, d.maxBackoff) // a notifier's Retry-After never freezes a channel for longer
		if wait <= 0 {
			wait = d.backoff(attempts)
		}
		if nb := end.Add(wait); nb.After(d.notBefore[e.Channel]) {
			d.notBefore[e.Channel] = nb
		}
		d.m.total.WithLabelValues(e.Channel, ResultRetry).Inc()
		d.logFailure(e.Channel, ne, slog.LevelWarn, "notification failed; retrying", "incident", id, "kind", string(kind),
			"attempt", attempts, "retry_in", wait)
		d.settle(e, ne.MaybeDelivered, ne.Error())
	}
}

// heldLocked returns a held update of incident id other than e, neither
// in flight nor taken, or nil.
func (d *Dispatcher) heldLocked(id string, e *entry) *entry {
	for _, p := range d.pending {
		if p != e && p != d.inFlight && !p.taken && !p.HeldUntil.IsZero() && p.Change.Incident.ID == id {
			return p
		}
	}
	return nil
}

// hold keeps update e in the outbox until the minimum update interval
// since the incident's last message ends. An update of the incident held
// already and e become one: the one submitted later (its seq is above
// the other's, so a restart never mistakes it for handled) takes the
// other's causes.
func (d *Dispatcher) hold(e *entry, rec *record, until time.Time) {
	id := e.Change.Incident.ID
	d.mu.Lock()
	keep, drop := e, d.heldLocked(id, e)
	if drop != nil {
		if drop.Seq > e.Seq {
			keep, drop = drop, e
		}
		keep.Change = fold(drop.Change, keep.Change)
	}
	keep.HeldUntil = until
	if d.inFlight == e {
		d.inFlight = nil
	}
	snap := *keep
	d.mu.Unlock()
	if err := d.store.writeEntry(&snap); err != nil {
		d.log.Error("outbox write failed", "incident", id, "error", err)
	}
	d.log.Debug("notification held", "incident", id, "until", until, "reason", snap.Change.Material)
	if drop != nil {
		d.m.total.WithLabelValues(drop.Channel, ResultSkipped).Inc()
		d.finish(drop, rec)
	}
}

// settle records a failed attempt on a pending entry and persists it.
func (d *Dispatcher) settle(e *entry, maybeDelivered bool, lastErr string) {
	d.mu.Lock()
	e.InFlight = false
	e.MaybeDelivered = e.MaybeDelivered || maybeDelivered
	e.LastError = lastErr
	d.inFlight = nil
	snap := *e
	d.mu.Unlock()
	if err := d.store.writeEntry(&snap); err != nil {
		d.log.Error("outbox write failed", "incident", e.Change.Incident.ID, "error", err)
	}
}

func (d *Dispatcher) delivered(e *entry, rec *record, dl Delivery, rcpt Receipt, end time.Time) {
	id := e.Change.Incident.ID
	d.stateMu.Lock()
	if rec == nil {
		rec = &record{Channel: e.Channel}
		d.state.Incidents[id] = rec
	}
	ns := &rec.Notify
	switch dl.Kind {
	case KindOpen:
		ns.Ref = rcpt.Ref
		ns.FirstSent = end
		ns.Delivered = model.ChangeOpen
	case KindUpdate:
		ns.Delivered = model.ChangeUpdate
	case KindResolve:
		ns.Delivered = model.ChangeResolve
	}
	if ns.Ref == "" {
		ns.Ref = rcpt.Ref
	}
	ns.LastSent = end
	ns.Attempts += e.Attempts
	ns.Evidence = len(dl.Incident.Evidence)
	ns.LastError = ""
	rec.Channel = e.Channel
	rec.Incident = dl.Incident
	rec.Hash = contentHash(dl.Incident)
	if t := lastEvidence(dl.Incident); t.After(rec.LastEvidence) {
		rec.LastEvidence = t
	}
	d.stateMu.Unlock()
	d.m.total.WithLabelValues(e.Channel, ResultSent).Inc()
	if d.lastCode[e.Channel] != "" {
		d.log.Info("notifications flowing again", "channel", e.Channel, "after", d.lastCode[e.Channel])
		delete(d.lastCode, e.Channel)
	}
	d.mu.Lock()
	delete(d.degraded, e.Channel)
	d.mu.Unlock()
	d.log.Info("notification sent", "incident", id, "kind", string(dl.Kind), "channel", e.Channel,
		"reason", dl.Reason, "attempts", e.Attempts, "recovered", rcpt.Recovered)
	d.finish(e, rec)
}

// finish saves the state and then removes e from the outbox. When the
// state is not saved, e's file is kept and removed after the next save
// that succeeds: a restart before then finds the entry (saved in flight,
// so the notifier looks for the message before sending it again) and
// records its delivery again, where a removed file would leave no trace
// of it (its Slack thread lost, the next update paging anew).
func (d *Dispatcher) finish(e *entry, rec *record) {
	id := e.Change.Incident.ID
	d.stateMu.Lock()
	if rec != nil {
		rec.LastSeq = max(rec.LastSeq, e.Seq)
	}
	d.state.MaxSeq = max(d.state.MaxSeq, e.Seq)
	d.prune(d.clock.Now())
	d.stateMu.Unlock()
	d.unsaved = append(d.unsaved, e.Seq)
	if err := d.store.saveState(d.state); err != nil {
		d.log.Error("notification state not saved; the outbox entry is kept until a save succeeds",
			"incident", id, "kept", len(d.unsaved), "error", err)
	} else {
		for _, seq := range d.unsaved {
			d.store.removeEntry(seq)
		}
		d.unsaved = d.unsaved[:0]
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, p := range d.pending {
		if p == e {
			d.pending = append(d.pending[:i], d.pending[i+1:]...)
			break
		}
	}
	if d.inFlight == e {
		d.inFlight = nil
	}
	if (rec == nil || rec.Notify.Delivered == "" || rec.Notify.Delivered == model.ChangeResolve) && !d.hasPendingLocked(id) {
		delete(d.routes, id)
	}
	d.m.depth.Set(float64(len(d.pending)))
}

// prune forgets resolved incidents after stateRetention; the caller
// holds stateMu.
func (d *Dispatcher) prune(now time.Time) {
	for id, rec := range d.state.Incidents {
		if rec.Notify.Delivered == model.ChangeResolve && now.Sub(rec.Notify.LastSent) > stateRetention {
			delete(d.state.Incidents, id)
		}
	}
}

func (d *Dispatcher) hasPendingLocked(id string) bool {
	for _, p := range d.pending {
		if p.Change.Incident.ID == id {
			return true
		}
	}
	return false
}

// remind queues a reminder for every notified open incident whose last
// message is older than the repeat interval; it reports whether it did.
func (d *Dispatcher) remind(now time.Time) bool {
	if d.repeat <= 0 {
		return false
	}
	ids := make([]string, 0, len(d.state.Incidents))
	for id, rec := range d.state.Incidents {
		if remindable(rec) && !now.Before(rec.Notify.LastSent.Add(d.repeat)) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	added := false
	d.mu.Lock()
	for _, id := range ids {
		if d.halted != nil || d.hasPendingLocked(id) {
			continue
		}
		rec := d.state.Incidents[id]
		e := &entry{
			Seq:       d.nextSeq,
			Channel:   rec.Channel,
			Change:    model.IncidentChange{Type: model.ChangeUpdate, Incident: rec.Incident, Reason: ReasonRepeat},
			Reminder:  true,
			Submitted: now,
		}
		d.nextSeq++
		d.enqueueLocked(e)
		added = true
	}
	d.mu.Unlock()
	return added
}

// nextReminder is how long until the next reminder is due (0: none).
func (d *Dispatcher) nextReminder(now time.Time) time.Duration {
	if d.repeat <= 0 {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halted != nil {
		return 0
	}
	var wait time.Duration
	for id, rec := range d.state.Incidents {
		if !remindable(rec) || d.hasPendingLocked(id) {
			continue
		}
		w := rec.Notify.LastSent.Add(d.repeat).Sub(now)
		if w <= 0 {
			w = time.Millisecond
		}
		if wait == 0 || w < wait {
			wait = w
		}
	}
	return wait
}

func remindable(rec *record) bool {
	return rec.Incident.IsOpen() && (rec.Notify.Delivered == model.ChangeOpen || rec.Notify.Delivered == model.ChangeUpdate)
}

// backoff is the wait before retry number attempt (1-based): the base
// doubled per attempt, capped, with equal jitter (half fixed, half random).
func (d *Dispatcher) backoff(attempt int) time.Duration {
	b := d.baseBackoff
	for i := 1; i < attempt && b < d.maxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.maxBackoff)
	half := b / 2
	return half + time.Duration(d.rnd.Int64N(int64(half)+1))
}

// logFailure logs at level when the channel's failure code changes and at
// debug while it repeats.
func (d *Dispatcher) logFailure(ch string, ne *Error, level slog.Level, msg string, args ...any) {
	if d.lastCode[ch] == ne.Code {
		level = slog.LevelDebug
	}
	d.lastCode[ch] = ne.Code
	d.log.Log(context.Background(), level, msg, append([]any{"channel", ch, "code", ne.Code, "error", ne.Error()}, args...)...)
}

// ReasonIncidentGone is why a page is resolved whose incident the
// incident store no longer has (Reconcile).
const ReasonIncidentGone = "the incident store no longer has this incident (its file was set aside or its last write lost); a new incident opens if the outage goes on"

// Reconcile makes the outbox and the delivery state agree with the
// incident store, given its incidents at start (before Run):
//
//   - an incident the store no longer has (its file was set aside, or its
//     last write was lost in a crash): the evaluator opens a new incident
//     if the outage goes on, so the queued changes of the old one are
//     dropped (a queued resolve is kept), and a page that is out for it
//     is resolved, so that it neither stays open nor is paged beside the
//     new one;
//   - an incident the store has resolved whose page is out with no
//     resolve queued (the resolve's outbox write was lost): the resolve
//     is queued.
func (d *Dispatcher) Reconcile(incidents []model.Incident) {
	known := make(map[string]model.Incident, len(incidents))
	for _, inc := range incidents {
		known[inc.ID] = inc
	}
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	kept := d.pending[:0]
	for _, e := range d.pending {
		if _, ok := known[e.Change.Incident.ID]; ok || e.Change.Type == model.ChangeResolve {
			kept = append(kept, e)
			continue
		}
		d.store.removeEntry(e.Seq)
		d.m.total.WithLabelValues(e.Channel, ResultDropped).Inc()
		d.log.Warn("queued notification dropped: the incident store no longer has its incident",
			"incident", e.Change.Incident.ID, "change", string(e.Change.Type))
	}
	clear(d.pending[len(kept):])
	d.pending = kept
	ids := make([]string, 0, len(d.state.Incidents))
	for id := range d.state.Incidents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rec := d.state.Incidents[id]
		paged := rec.Notify.Delivered == model.ChangeOpen || rec.Notify.Delivered == model.ChangeUpdate
		if !paged || d.hasResolveLocked(id) {
			continue
		}
		inc, ok := known[id]
		reason := ReasonResolved
		switch {
		case !ok:
			inc = rec.Incident
			inc.State, inc.Resolved, inc.Updated = model.StateResolved, now, now
			reason = ReasonIncidentGone
		case inc.IsOpen():
			continue
		}
		d.log.Warn("resolve queued at start: a page is out for an incident the store has closed or lost",
			"incident", id, "reason", reason)
		e := &entry{Seq: d.nextSeq, Channel: rec.Channel, Submitted: now,
			Change: model.IncidentChange{Type: model.ChangeResolve, Incident: inc, Reason: reason}}
		d.nextSeq++
		d.enqueueLocked(e)
	}
	for id := range d.routes {
		if _, ok := known[id]; !ok && !d.hasPendingLocked(id) && d.state.Incidents[id] == nil {
			delete(d.routes, id)
		}
	}
	d.m.depth.Set(float64(len(d.pending)))
}

func (d *Dispatcher) hasResolveLocked(id string) bool {
	for _, p := range d.pending {
		if p.Change.Incident.ID == id && p.Change.Type == model.ChangeResolve {
			return true
		}
	}
	return false
}
