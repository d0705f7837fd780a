// Package bgp is reachmon's BGP feed: an embedded GoBGP speaker that
// imports only the watched routes (configured prefixes with their
// more-specifics, and every route covering a watched nameserver or
// resolver address), never exports anything, and turns what it learns
// into model events (RouteEvent, PeerEvent, CoverEvent).
//
// GoBGP's types stay in gobgp.go; the rest of reachmon sees netip and
// model types only.
package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// Options are the feed's dependencies.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// Events receives the feed's events; sends never block (a full
	// channel drops the event, counts it and later sends a BGPSnapshot).
	Events chan<- model.Event
	// WithdrawSettle is how long a run of withdrawals from one peer waits
	// for GoBGP to go quiet before it counts: when a session is lost GoBGP
	// first withdraws every route of the peer, then reports the session
	// down, and those routes are unknown, not withdrawn. (It counts only
	// if GoBGP then still has the session up.) Default 250ms.
	WithdrawSettle time.Duration
	// QueueSize bounds the queue between GoBGP's callback and the feed
	// (default 65536); overflow is counted and repaired from the RIB.
	QueueSize int
	// TickInterval is how often sync timeouts, resyncs and snapshots are
	// checked (default 1s, and at most a quarter of the sync timeout).
	TickInterval time.Duration
	// MaxMoreSpecifics bounds the distinct more-specifics tracked per
	// configured prefix (default DefaultMaxMoreSpecifics); the overflow is
	// dropped and counted.
	MaxMoreSpecifics int
}

// Feed is the BGP feed. Create it with New, start it with Run.
type Feed struct {
	cfg  config.BGP
	log  *slog.Logger
	now  func() time.Time
	out  chan<- model.Event
	m    *metrics
	gl   *slogLogger
	pass map[string]string // guarded by watchMu once Run started

	settle time.Duration
	tick   time.Duration

	watch   atomic.Pointer[watchSet]
	watchMu sync.Mutex // serialises watched-set changes; guards the fields below
	static  Watch
	// neighbors are the configured neighbors in force (Reconfigure
	// changes them); pass holds their passwords.
	neighbors []config.Neighbor
	ns        map[string][]netip.Addr
	gen       uint64
	srv       *server.BgpServer
	applied   map[policyEntry]bool
	kick      chan struct{}

	// in holds pointers: a buffer of QueueSize items by value (240 bytes
	// each) would be 15 MB of heap from the start, BGP or not.
	in          chan *item
	done        chan struct{} // closed when Run returns
	srcMu       sync.Mutex
	sources     []string // registered sources (NewSource)
	needResync  atomic.Bool
	widened     atomic.Uint64 // generation of the last watched set that watches more than the one before
	closed      atomic.Bool
	started     atomic.Bool
	activity    atomic.Uint64
	cutMu       sync.Mutex
	cut         map[string]bool // peers GoBGP cut off for their prefix limit
	seqMu       sync.Mutex      // guards the callback's sequencer below
	pending     pendingRun
	lastSeen    map[string]time.Time
	mu          sync.RWMutex // guards st for readers; the state goroutine writes
	st          *state
	needSnapsht atomic.Bool
}

// pendingRun is a run of withdrawals from one peer waiting to learn
// whether the peer's session was lost.
type pendingRun struct {
	peer  string
	items []item
	since time.Time // wall clock at its first withdrawal
}

// New checks the configuration, reads the neighbors' passwords and builds
// a feed; cfg.ASN == 0 gives a disabled feed whose Run only waits.
func New(cfg config.BGP, w Watch, opts Options) (*Feed, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WithdrawSettle <= 0 {
		opts.WithdrawSettle = 250 * time.Millisecond
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1 << 16
	}
	if opts.TickInterval <= 0 {
		opts.TickInterval = time.Second
		if q := cfg.SyncTimeout() / 4; q < opts.TickInterval {
			opts.TickInterval = max(q, 10*time.Millisecond)
		}
	}
	f := &Feed{
		cfg: cfg, log: opts.Logger.With("component", "bgp"), now: opts.Now, out: opts.Events,
		m:      newMetrics(opts.Registerer),
		pass:   map[string]string{},
		settle: opts.WithdrawSettle, tick: opts.TickInterval,
		static: w, ns: map[string][]netip.Addr{}, neighbors: embeddedNeighbors(cfg.Neighbor),
		kick:     make(chan struct{}, 1),
		in:       make(chan *item, opts.QueueSize),
		done:     make(chan struct{}),
		cut:      map[string]bool{},
		lastSeen: map[string]time.Time{},
	}
	f.gl = &slogLogger{log: f.log, level: gobgplog.InfoLevel, onMaxPrefix: f.markCut}
	if cfg.Enabled() {
		var errs []error
		for i, n := range cfg.Neighbor {
			if n.FullTable {
				continue // the session Manager reads its own
			}
			pw, err := n.Password()
			if err != nil {
				errs = append(errs, fmt.Errorf("bgp.neighbor[%d] (%s): password: %w", i, n.Name(), err))
			}
			f.pass[n.Name()] = pw
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("bgp: %w", err)
		}
	}
	for zone, addrs := range w.Nameservers {
		if norm := normAddrs(addrs); len(norm) > 0 {
			f.ns[zone] = norm
		}
	}
	ws := compileWatch(0, w, f.ns)
	f.watch.Store(ws)
	f.st = newState(cfg, ws, f.now, f.emit, f.m)
	f.st.reasonFor = f.takeCut
	f.st.syncHeld = f.needResync.Load
	f.st.log = f.log
	if opts.MaxMoreSpecifics > 0 {
		f.st.maxMS = opts.MaxMoreSpecifics
	}
	return f, nil
}

// embeddedNeighbors are the neighbors of the embedded GoBGP speaker: all
// but the full_table ones (the session Manager runs those).
func embeddedNeighbors(ns []config.Neighbor) []config.Neighbor {
	out := make([]config.Neighbor, 0, len(ns))
	for _, n := range ns {
		if !n.FullTable {
			out = append(out, n)
		}
	}
	return out
}

// normAddrs unmaps, deduplicates and sorts addresses, dropping invalid ones.
func normAddrs(addrs []netip.Addr) []netip.Addr {
	norm := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if a.IsValid() && !slices.Contains(norm, a) {
			norm = append(norm, a)
		}
	}
	slices.SortFunc(norm, netip.Addr.Compare)
	return norm
}

// WatchFromPlan derives the statically watched set from the configuration
// plan: its [[prefix]] entries, the addresses of its resolvers (not DoH
// resolvers: a URL names a host, not an address) and the zones'
// explicitly configured authoritative servers.
func WatchFromPlan(p *config.Plan) Watch {
	w := Watch{Prefixes: p.Prefixes, Resolvers: map[string]netip.Addr{}, Nameservers: map[string][]netip.Addr{}}
	for _, z := range p.Zones {
		for _, ap := range z.Authoritative {
			w.Nameservers[z.Name.FQDN()] = append(w.Nameservers[z.Name.FQDN()], ap.Addr())
		}
	}
	for _, r := range p.Resolvers {
		if r.Addr.IsValid() {
			w.Resolvers[r.Server.Name] = r.Addr
		}
	}
	return w
}

// Enabled reports whether a BGP feed is configured: the embedded speaker
// or any other source (NewSource).
func (f *Feed) Enabled() bool {
	if f.cfg.Enabled() {
		return true
	}
	f.srcMu.Lock()
	defer f.srcMu.Unlock()
	return len(f.sources) > 0
}

// Run starts the speaker (when [[bgp]] configures one) and the state
// goroutine that every source feeds, and serves until ctx is cancelled;
// it returns with the feed's goroutines joined and GoBGP stopped.
// (GoBGP v3.37's Serve loop has no exit: its goroutine stays parked
// after Stop.)
func (f *Feed) Run(ctx context.Context) error {
	if !f.started.CompareAndSwap(false, true) {
		return errors.New("bgp: feed already ran")
	}
	defer close(f.done)
	if !f.cfg.Enabled() {
		return f.runState(ctx)
	}
	s := server.NewBgpServer(server.LoggerOption(f.gl))
	go s.Serve()
	bg := context.Background() // GoBGP ignores contexts on its API calls
	if err := startSpeaker(bg, s, f.cfg); err != nil {
		s.Stop()
		return err
	}
	f.watchMu.Lock()
	ws := f.watch.Load()
	entries := ws.entries()
	err := applyEntries(bg, s, nil, entries, true)
	if err == nil {
		f.srv, f.applied = s, entries
	}
	f.watchMu.Unlock()
	if err != nil {
		s.Stop()
		return err
	}
	wctx, wcancel := context.WithCancel(bg)
	defer wcancel()
	if err := s.WatchEvent(wctx, &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_POST_POLICY},
			{Type: api.WatchEventRequest_Table_Filter_EOR},
		}},
	}, f.onEvent); err != nil {
		f.shutdown(s)
		return fmt.Errorf("bgp: watch: %w", err)
	}
	f.watchMu.Lock()
	neighbors := slices.Clone(f.neighbors)
	for _, n := range neighbors {
		if err = addNeighbor(bg, s, n, f.pass[n.Name()]); err != nil {
			break
		}
	}
	f.watchMu.Unlock()
	if err != nil {
		wcancel()
		f.shutdown(s)
		return err
	}
	f.log.Info("bgp feed started", "asn", f.cfg.ASN, "router_id", f.cfg.RouterID,
		"neighbors", len(neighbors), "listen_port", f.cfg.ListenPort, "listener_to_full_table", f.cfg.FullTableListener(),
		"prefixes", len(ws.prefixes), "addresses", len(ws.addrs))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { f.flushLoop(runCtx) })
	wg.Go(func() { f.stateLoop(runCtx) })
	<-ctx.Done()
	wcancel()
	wg.Wait()
	f.shutdown(s)
	f.log.Info("bgp feed stopped")
	return nil
}

// runState runs the state goroutine alone, for sources other than the
// embedded speaker (none configured: it only waits).
func (f *Feed) runState(ctx context.Context) error {
	f.srcMu.Lock()
	sources := slices.Clone(f.sources)
	f.srcMu.Unlock()
	if len(sources) > 0 {
		ws := f.watch.Load()
		f.log.Info("bgp feed started without an embedded speaker", "sources", sources,
			"prefixes", len(ws.prefixes), "addresses", len(ws.addrs))
	}
	f.stateLoop(ctx)
	f.closed.Store(true)
	return nil
}

func (f *Feed) shutdown(s *server.BgpServer) {
	f.closed.Store(true)
	f.watchMu.Lock()
	f.srv = nil
	f.watchMu.Unlock()
	stopServer(s)
}

// SetNameserverAddrs sets the nameserver addresses of zone (from
// model.Discovery.Addrs); an empty list stops watching the zone. The
// import policy's prefix sets change in place and the peers are
// soft-reset inbound (from Adj-RIB-In, no session reset) so that routes
// received earlier are re-evaluated.
func (f *Feed) SetNameserverAddrs(zone string, addrs []netip.Addr) error {
	norm := normAddrs(addrs)
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	if slices.Equal(f.ns[zone], norm) {
		return nil
	}
	if len(norm) == 0 {
		delete(f.ns, zone)
	} else {
		f.ns[zone] = norm
	}
	if err := f.applyWatchLocked(); err != nil {
		return err
	}
	f.log.Debug("bgp watched set changed", "zone", zone, "addresses", len(norm), "policy_entries", len(f.applied))
	return nil
}

// applyWatchLocked compiles the watched set from f.static and f.ns and
// changes the import policy's prefix sets in place, soft-resetting the
// peers inbound when they changed. The caller holds watchMu.
func (f *Feed) applyWatchLocked() error {
	f.gen++
	ws := compileWatch(f.gen, f.static, f.ns)
	defer f.kickState()
	if old := f.watch.Load(); old != nil && ws.widens(old) {
		f.widened.Store(ws.gen)
	}
	if f.srv == nil {
		f.watch.Store(ws)
		return nil
	}
	bg := context.Background()
	entries := ws.entries()
	if err := applyEntries(bg, f.srv, f.applied, entries, true); err != nil {
		return err
	}
	f.watch.Store(ws)
	if err := applyEntries(bg, f.srv, entries, f.applied, false); err != nil {
		return err
	}
	changed := len(entries) != len(f.applied)
	if !changed {
		for e := range entries {
			if !f.applied[e] {
				changed = true
				break
			}
		}
	}
	f.applied = entries
	if changed {
		if err := f.srv.ResetPeer(bg, &api.ResetPeerRequest{Soft: true, Direction: api.ResetPeerRequest_IN}); err != nil {
			return fmt.Errorf("bgp: soft reset after watched-set change: %w", err)
		}
	}
	return nil
}

func (f *Feed) kickState() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *Feed) markCut(peer string) {
	if a, err := netip.ParseAddr(peer); err == nil {
		peer = a.Unmap().String()
	}
	f.cutMu.Lock()
	f.cut[peer] = true
	f.cutMu.Unlock()
}

func (f *Feed) takeCut(peer string) string {
	f.cutMu.Lock()
	defer f.cutMu.Unlock()
	if f.cut[peer] {
		delete(f.cut, peer)
		return "max_prefixes_exceeded"
	}
	return ""
}

// onEvent is GoBGP's watch callback. It runs on a GoBGP goroutine and
// must never block: it translates, filters to the watched set and queues
// without blocking. Withdrawals are held back per peer until the next
// event shows whether they came from a lost session (see WithdrawSettle).
func (f *Feed) onEvent(r *api.WatchEventResponse) {
	if f.closed.Load() {
		return
	}
	f.activity.Add(1)
	now := f.now()
	ws := f.watch.Load()
	f.seqMu.Lock()
	defer f.seqMu.Unlock()
	switch ev := r.Event.(type) {
	case *api.WatchEventResponse_Peer:
		pe := ev.Peer
		if pe.GetType() != api.WatchEventResponse_PeerEvent_STATE {
			return
		}
		a, err := netip.ParseAddr(pe.GetPeer().GetState().GetNeighborAddress())
		if err != nil {
			return
		}
		peer := a.Unmap().String()
		up := pe.GetPeer().GetState().GetSessionState() == api.PeerState_ESTABLISHED
		if !up && f.pending.peer == peer {
			// GoBGP withdrew the peer's routes because the session went
			// down: they are unknown, not withdrawn.
			f.pending = pendingRun{}
		} else {
			f.flushLocked()
		}
		f.push(item{kind: itemPeer, t: now, ws: ws, peer: peer, up: up, peerASN: pe.GetPeer().GetState().GetPeerAsn()})
	case *api.WatchEventResponse_Table:
		for _, p := range ev.Table.GetPaths() {
			it, ok := translatePath(p)
			if !ok {
				continue
			}
			it.t, it.ws = now, ws
			f.lastSeen[it.peer] = now
			if it.kind == itemEOR {
				f.flushLocked()
				f.push(it)
				continue
			}
			if !ws.watched(it.prefix) {
				// Policy-rejected paths arrive as withdrawals.
				if f.pending.peer != "" && f.pending.peer != it.peer {
					f.flushLocked()
				}
				continue
			}
			if it.withdraw {
				if f.pending.peer != it.peer {
					f.flushLocked()
					f.pending.peer = it.peer
				}
				if len(f.pending.items) == 0 {
					f.pending.since = time.Now()
				}
				f.pending.items = append(f.pending.items, it)
				continue
			}
			f.flushLocked()
			it.route = pathRoute(p)
			f.push(it)
		}
	}
}

func (f *Feed) flushLocked() {
	for _, it := range f.pending.items {
		f.push(it)
	}
	f.pending = pendingRun{}
}

func (f *Feed) push(it item) {
	select {
	case f.in <- &it:
	default:
		f.m.drop("feed")
		f.needResync.Store(true)
	}
}

// flushLoop releases held withdrawals once GoBGP has been quiet for the
// settle time and the session that sent them is still up. (Quiet alone
// is not enough: when GoBGP's goroutines are starved, it can pause for
// longer than the settle time in the middle of withdrawing a lost
// session's routes, before it reports the loss.)
func (f *Feed) flushLoop(ctx context.Context) {
	t := time.NewTicker(max(f.settle/5, 5*time.Millisecond))
	defer t.Stop()
	last, lastChange := f.activity.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a := f.activity.Load()
			if a != last {
				last, lastChange = a, now
				continue
			}
			if now.Sub(lastChange) < f.settle {
				continue
			}
			f.seqMu.Lock()
			run := f.pending
			f.seqMu.Unlock()
			if len(run.items) == 0 || !f.sessionUp(run.peer, run.since) {
				continue // a lost session's: its PeerDown event discards them
			}
			f.seqMu.Lock()
			if f.activity.Load() == a && len(f.pending.items) > 0 {
				f.flushLocked() // nothing arrived since the check
			}
			f.seqMu.Unlock()
		}
	}
}

// sessionUp reports whether GoBGP has had peer's session established
// since before t (wall clock). GoBGP answers on its server goroutine,
// which withdraws all the routes of a lost session and reports the loss
// in one go: if that has begun, the answer comes after it and is no.
// When GoBGP cannot tell, the answer is yes (the settle time decides).
func (f *Feed) sessionUp(peer string, t time.Time) bool {
	f.watchMu.Lock()
	s := f.srv
	f.watchMu.Unlock()
	if s == nil {
		return true
	}
	found, up := false, false
	err := s.ListPeer(context.Background(), &api.ListPeerRequest{Address: peer}, func(p *api.Peer) {
		found = true
		// Uptime has whole seconds; a session lost after t and back again
		// took at least the idle hold time (a second or more).
		up = p.GetState().GetSessionState() == api.PeerState_ESTABLISHED &&
			p.GetTimers().GetState().GetUptime().AsTime().Unix() <= t.Unix()
	})
	if err != nil || !found {
		f.log.Debug("bgp peer state unknown; releasing held withdrawals", "peer", peer, "err", err)
		return true
	}
	return up
}

// stateLoop owns the state: it applies queued items, checks sync
// timeouts, repairs after drops.
func (f *Feed) stateLoop(ctx context.Context) {
	t := time.NewTicker(f.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-f.in:
			f.mu.Lock()
			f.st.apply(*it)
			for i := 0; i < 1024; i++ {
				select {
				case it = <-f.in:
					f.st.apply(*it)
					continue
				default:
				}
				break
			}
			f.mu.Unlock()
		case <-f.kick:
			f.mu.Lock()
			f.st.setWatch(f.watch.Load())
			f.mu.Unlock()
		case <-t.C:
			f.onTick()
		}
	}
}

func (f *Feed) onTick() {
	f.seqMu.Lock()
	seen := make(map[string]time.Time, len(f.lastSeen))
	for k, v := range f.lastSeen {
		seen[k] = v
	}
	f.seqMu.Unlock()
	f.mu.Lock()
	f.st.setWatch(f.watch.Load())
	f.st.tick(f.now(), f.cfg.SyncTimeout(), func(p string) time.Time { return seen[p] })
	f.mu.Unlock()
	if f.needResync.Load() && len(f.in) == 0 {
		if err := f.resync(); err != nil {
			f.needResync.Store(true) // retried at the next tick; syncs stay held
			f.log.Warn("bgp resync failed", "err", err)
		}
	}
	if f.needSnapsht.Load() && f.out != nil {
		snap := f.Snapshot()
		select {
		case f.out <- snap:
			f.needSnapsht.Store(false)
		default:
		}
	}
}

// resync rebuilds the state from GoBGP's RIB after the feed queue
// overflowed. Differences are reported as events with Resync set.
func (f *Feed) resync() error {
	f.needResync.Store(false)
	f.watchMu.Lock()
	s := f.srv
	f.watchMu.Unlock()
	if s == nil {
		return nil
	}
	f.m.resyncs.Inc()
	bg := context.Background()
	states, err := listPeerStates(bg, s)
	if err != nil {
		return err
	}
	rib, err := listRIB(bg, s)
	if err != nil {
		return err
	}
	now := f.now()
	ws := f.watch.Load()
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	st.setWatch(ws)
	for _, name := range st.order {
		p := st.peers[name]
		if !p.embedded {
			continue // not in GoBGP's RIB: sources (full_table sessions too) never drop items
		}
		up := states[name].up
		if up != p.up {
			st.apply(item{kind: itemPeer, t: now, ws: ws, peer: name, up: up})
		}
		if !up {
			continue
		}
		for pfx, r := range rib[name] {
			st.apply(item{kind: itemRoute, t: now, ws: ws, peer: name, prefix: pfx, route: r, resync: true})
		}
		for pfx := range p.routes {
			if _, ok := rib[name][pfx]; !ok {
				st.apply(item{kind: itemRoute, t: now, ws: ws, peer: name, prefix: pfx, withdraw: true, resync: true})
			}
		}
		// The peers were listed before the RIB: a table whose End-of-RIB
		// GoBGP had then is complete in it.
		st.resynced(p, now, states[name].eor)
	}
	f.log.Info("bgp state resynced from the RIB after dropped events")
	return nil
}

// emit sends an event without blocking (state goroutine only).
func (f *Feed) emit(ev model.Event) {
	if f.out == nil || f.closed.Load() {
		return
	}
	select {
	case f.out <- ev:
	default:
		f.m.drop("evaluator")
		f.needSnapsht.Store(true)
	}
}

// Peers returns the configured neighbors' current state.
func (f *Feed) Peers() []model.BGPPeer {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.peerViews()
}

// Routes returns the watched routes and addresses matching query: "" for
// all, a prefix (routes equal to, inside or covering it; addresses inside
// it) or an address (routes covering it; the address itself).
func (f *Feed) Routes(query string) (RoutesView, error) {
	v := RoutesView{Query: query}
	var matchP func(netip.Prefix) bool
	var matchA func(netip.Addr) bool
	if query != "" {
		if a, err := netip.ParseAddr(query); err == nil {
			a = a.Unmap()
			matchP = func(p netip.Prefix) bool { return p.Contains(a) }
			matchA = func(x netip.Addr) bool { return x == a }
		} else if q, err := netip.ParsePrefix(query); err == nil {
			q = q.Masked()
			matchP = func(p netip.Prefix) bool { return p.Overlaps(q) }
			matchA = func(x netip.Addr) bool { return q.Contains(x) }
		} else {
			return v, fmt.Errorf("bgp: %q is neither a prefix nor an address", query)
		}
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	v.Routes = f.st.routeViews(matchP)
	v.Addresses = f.st.addrViews(matchA)
	return v, nil
}

// Snapshot returns the whole state as one event.
func (f *Feed) Snapshot() model.BGPSnapshot {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return model.BGPSnapshot{Time: f.now(), Peers: f.st.peerViews(), Routes: f.st.routeViews(nil), Addresses: f.st.addrViews(nil),
		Feeds: f.st.feedViews()}
}
