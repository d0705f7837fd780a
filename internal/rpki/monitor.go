package rpki

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// DefaultPoll is how often the monitor reads the RTR sessions' state
// from GoBGP (cheap: no ROA is listed unless a transfer finished).
const DefaultPoll = time.Second

// maxRTRTries bounds the listings of one state that do not show what the
// RTR server sent (a server sending repeats, which GoBGP's table holds
// once): after that many the listing is taken as it is.
const maxRTRTries = 12

// DefaultMinList is the least time between two listings of GoBGP's ROA
// table: listing a global set (700,000 VRPs) takes 1 to 3 s and
// allocates about 210 MiB (TestMeasureGlobalVRPSet), so an RTR server
// that notifies every second does not keep reachmon listing.
const DefaultMinList = 10 * time.Second

// Options are the monitor's collaborators.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Events receives a model.RPKIEvent whenever the relevant VRPs (or
	// whether any source has data) change.
	Events chan<- model.Event
	// Poll overrides DefaultPoll (tests).
	Poll time.Duration
	// MinList overrides DefaultMinList (tests).
	MinList time.Duration
}

// Monitor follows the configured ROA sources and hands the VRPs that
// overlap the watched prefixes and addresses to the evaluator. Run owns
// the sources; SetNameserverAddrs and SetRouteStates may be called from
// any goroutine.
type Monitor struct {
	cfg     config.RPKI
	log     *slog.Logger
	events  chan<- model.Event
	poll    time.Duration
	minList time.Duration
	metrics *metrics

	mu       sync.Mutex
	prefixes []netip.Prefix
	fixed    []netip.Addr
	ns       map[string][]netip.Addr // discovered nameserver addresses by zone
	gen      int                     // bumped when the watched set changes

	// Owned by Run.
	rtr       *rtrClient
	seenGen   int
	fileVRPs  []model.VRP // relevant VRPs of the last good read
	fileOK    bool
	fileStamp fileStamp
	fileNext  time.Time
	fileErr   string // the last failure logged (each is logged once)
	rtrVRPs   []model.VRP
	rtrReady  bool
	rtrSig    string
	rtrListed time.Time
	// rtrTries counts listings of one state that GoBGP had not yet taken
	// in (checkRTR).
	rtrTries int
	sent     *model.RPKIEvent
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// New builds the monitor for cfg (validated, Enabled). prefixes are the
// watched prefixes; addrs the watched addresses known from the
// configuration (resolvers, configured authoritative servers).
func New(cfg config.RPKI, prefixes []netip.Prefix, addrs []netip.Addr, opts Options) *Monitor {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.MinList <= 0 {
		opts.MinList = DefaultMinList
	}
	return &Monitor{
		cfg: cfg, log: opts.Logger, events: opts.Events, poll: opts.Poll, minList: opts.MinList,
		metrics:  newMetrics(opts.Registerer),
		prefixes: slices.Clone(prefixes), fixed: slices.Clone(addrs),
		ns: map[string][]netip.Addr{}, gen: 1,
	}
}

// SetNameserverAddrs records the discovered nameserver addresses of a
// zone (as bgp.Feed does): VRPs covering them matter from then on.
func (m *Monitor) SetNameserverAddrs(zone string, addrs []netip.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.ns[zone]
	if slices.Equal(old, addrs) {
		return
	}
	if len(addrs) == 0 {
		delete(m.ns, zone)
	} else {
		m.ns[zone] = slices.Clone(addrs)
	}
	m.gen++
}

// SetWatched replaces the configured watched prefixes and addresses (a
// reload).
func (m *Monitor) SetWatched(prefixes []netip.Prefix, addrs []netip.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Equal(prefixes, m.prefixes) && slices.Equal(addrs, m.fixed) {
		return
	}
	m.prefixes, m.fixed = slices.Clone(prefixes), slices.Clone(addrs)
	m.gen++
}

// SetRouteStates sets reachmon_rpki_route_state from the evaluator's
// validation of the watched prefixes' routes.
func (m *Monitor) SetRouteStates(rs []model.RPKIRoute) { m.metrics.setRoutes(rs) }

func (m *Monitor) watch() (*Watch, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	addrs := slices.Clone(m.fixed)
	for _, as := range m.ns {
		addrs = append(addrs, as...)
	}
	return NewWatch(m.prefixes, addrs), m.gen
}

// Run follows the sources until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	if len(m.cfg.RTR) > 0 {
		c, err := newRTRClient(ctx, m.cfg.RTR, m.log)
		if err != nil {
			return err
		}
		m.rtr = c
		defer c.stop()
		for _, s := range m.cfg.RTR {
			m.metrics.sessionUp.WithLabelValues(s.Name()).Set(0)
		}
	}
	t := time.NewTicker(m.poll)
	defer t.Stop()
	for {
		if err := m.step(ctx, time.Now()); err != nil {
			return nil // ctx ended
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// step reads what changed and sends the event if the relevant set did;
// it fails only when ctx ended while sending.
func (m *Monitor) step(ctx context.Context, now time.Time) error {
	w, gen := m.watch()
	widened := gen != m.seenGen
	m.seenGen = gen
	if m.cfg.VRPFile != "" && (widened || !now.Before(m.fileNext)) {
		m.fileNext = now.Add(m.cfg.FileCheckInterval.Duration)
		m.checkFile(w, widened)
	}
	if m.rtr != nil {
		m.checkRTR(ctx, w, widened)
	}
	return m.send(ctx, now)
}

// checkFile reads the VRP file when it changed (or the watched set did).
func (m *Monitor) checkFile(w *Watch, force bool) {
	path := m.cfg.VRPFile
	fi, err := os.Stat(path)
	if err != nil {
		m.fileFailed(fmt.Errorf("rpki.vrp_file %s: %w", path, err))
		return
	}
	st := fileStamp{fi.ModTime(), fi.Size()}
	if m.fileOK && st == m.fileStamp && !force {
		return
	}
	vrps, n4, n6, err := loadFile(path, w)
	if err != nil {
		m.fileStamp = st // the same broken file is told once
		m.fileFailed(err)
		return
	}
	if !m.fileOK || !slices.Equal(vrps, m.fileVRPs) || st != m.fileStamp {
		m.log.Info("rpki: VRP file read", "file", path, "vrps_ipv4", n4, "vrps_ipv6", n6, "relevant", len(vrps))
	}
	m.fileVRPs, m.fileOK, m.fileStamp, m.fileErr = vrps, true, st, ""
	m.metrics.vrps.WithLabelValues("file", "ipv4").Set(float64(n4))
	m.metrics.vrps.WithLabelValues("file", "ipv6").Set(float64(n6))
}

func (m *Monitor) fileFailed(err error) {
	m.metrics.fileErrors.Inc()
	if err.Error() == m.fileErr {
		return
	}
	m.fileErr = err.Error()
	if m.fileOK {
		m.log.Warn("rpki: VRP file not read; the previous VRPs stay in use", "err", err)
	} else {
		m.log.Warn("rpki: VRP file not read; no VRPs from it yet", "err", err)
	}
}

// loadFile reads a VRP file and keeps the VRPs w finds relevant; it
// counts every VRP by family. Errors name the file, line and column.
func loadFile(path string, w *Watch) ([]model.VRP, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("rpki.vrp_file %s: %w", path, err)
	}
	defer f.Close()
	var k keeper
	_, err = DecodeVRPs(f, k.take(w))
	if err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			if g, e2 := os.Open(path); e2 == nil {
				line, col := lineOf(g, de.Offset)
				g.Close()
				return nil, 0, 0, fmt.Errorf("rpki.vrp_file %s:%d:%d: %w", path, line, col, err)
			}
		}
		return nil, 0, 0, fmt.Errorf("rpki.vrp_file %s: %w", path, err)
	}
	return normalize(k.vrps), k.n4, k.n6, nil
}

// keeper counts every VRP of a listing by family and keeps the ones a
// Watch finds relevant.
type keeper struct {
	vrps   []model.VRP
	n4, n6 int
}

// take is the per-VRP callback of a listing.
func (k *keeper) take(w *Watch) func(model.VRP) {
	return func(v model.VRP) {
		if v.Prefix.Addr().Is4() {
			k.n4++
		} else {
			k.n6++
		}
		if w.Relevant(v.Prefix) {
			k.vrps = append(k.vrps, v)
		}
	}
}

// normalize sorts VRPs and drops repeats.
func normalize(v []model.VRP) []model.VRP {
	slices.SortFunc(v, model.CompareVRP)
	return slices.Compact(v)
}

// checkRTR lists GoBGP's ROA table when a transfer finished (an End of
// Data), a session came or went, a lost server's ROAs expired, or the
// watched set changed; at most once per minList.
func (m *Monitor) checkRTR(ctx context.Context, w *Watch, force bool) {
	now := time.Now()
	st := m.rtr.state(now)
	live := false
	for _, s := range st.Servers {
		up := 0.0
		if s.Up {
			up = 1
		}
		m.metrics.sessionUp.WithLabelValues(s.Name).Set(up)
		live = live || (s.Up && s.SessionOK)
	}
	sig := fmt.Sprint(st)
	if force {
		m.rtrSig = "" // list (when allowed) even if nothing else changed
	}
	if sig == m.rtrSig {
		return
	}
	if now.Sub(m.rtrListed) < m.minList {
		return // listed a moment ago: a poll after minList lists
	}
	m.rtrListed = now
	var k keeper
	bySrc, err := m.rtr.roas(ctx, k.take(w))
	if err != nil {
		m.log.Warn("rpki: RTR ROAs", "err", err)
		return
	}
	// GoBGP takes in a transfer seconds after the relay saw its end: the
	// listing is current once the table holds what the transfers said.
	for _, s := range st.Servers {
		if s.Up && s.SessionOK && bySrc[s.Port] != s.Expected {
			if m.rtrTries++; m.rtrTries < maxRTRTries {
				return // listed again after minList
			}
			m.log.Warn("rpki: GoBGP's table does not hold what the RTR server sent; using it as it is",
				"server", s.Name, "roas", bySrc[s.Port], "sent", s.Expected)
		}
	}
	m.rtrTries = 0
	m.rtrSig = sig
	vrps, n4, n6 := normalize(k.vrps), k.n4, k.n6
	// Data: a session finished a transfer, or GoBGP still holds a lost
	// server's ROAs (within its lifetime).
	ready := live || n4+n6 > 0
	if !slices.Equal(vrps, m.rtrVRPs) || ready != m.rtrReady {
		m.log.Info("rpki: RTR VRPs changed", "vrps_ipv4", n4, "vrps_ipv6", n6, "relevant", len(vrps), "ready", ready)
	}
	m.rtrVRPs, m.rtrReady = vrps, ready
	m.metrics.vrps.WithLabelValues("rtr", "ipv4").Set(float64(n4))
	m.metrics.vrps.WithLabelValues("rtr", "ipv6").Set(float64(n6))
}

// send hands the merged relevant set to the evaluator when it changed.
func (m *Monitor) send(ctx context.Context, now time.Time) error {
	ev := model.RPKIEvent{Time: now}
	var all []model.VRP
	if m.fileOK {
		ev.Ready = true
		all = append(all, m.fileVRPs...)
		ev.Sources = append(ev.Sources, "file "+m.cfg.VRPFile)
	}
	if m.rtrReady {
		ev.Ready = true
		all = append(all, m.rtrVRPs...)
		for _, s := range m.cfg.RTR {
			ev.Sources = append(ev.Sources, "rtr "+s.Name())
		}
	}
	ev.VRPs = normalize(all)
	n4 := 0
	for _, v := range ev.VRPs {
		if v.Prefix.Addr().Is4() {
			n4++
		}
	}
	m.metrics.relevant.WithLabelValues("ipv4").Set(float64(n4))
	m.metrics.relevant.WithLabelValues("ipv6").Set(float64(len(ev.VRPs) - n4))
	if m.sent != nil && m.sent.Ready == ev.Ready && slices.Equal(m.sent.VRPs, ev.VRPs) && slices.Equal(m.sent.Sources, ev.Sources) {
		return nil
	}
	if !ev.Ready && m.sent == nil {
		return nil // nothing to say before the first data
	}
	if m.events != nil {
		select {
		case m.events <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.sent = &ev
	return nil
}
