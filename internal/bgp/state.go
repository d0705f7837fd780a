package bgp

import (
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// itemKind is what the GoBGP callback hands to the state goroutine.
type itemKind uint8

const (
	itemRoute itemKind = iota
	itemPeer
	itemEOR
	itemAddPeer    // a source's peer appears (spec)
	itemRemovePeer // a source's peer is gone (forgotten, not withdrawn)
	itemFeed       // a source's feed (a router's BMP session) changed (feed)
)

// item is a translated GoBGP event: only reachmon types from here on.
type item struct {
	kind     itemKind
	t        time.Time
	ws       *watchSet
	peer     string
	peerASN  uint32
	prefix   netip.Prefix
	withdraw bool
	route    route
	up       bool // itemPeer: session established
	family   int  // itemEOR: 4 or 6
	resync   bool
	// fromSource marks an item a Source handed over (not GoBGP's
	// callback): each applies only to peers of its own kind, so that a
	// neighbor moved between the embedded speaker and the full_table
	// speaker by a reload takes no stale event of the other.
	fromSource bool
	reason     string         // itemPeer (down) from a source: why
	spec       *PeerSpec      // itemAddPeer
	feed       *model.BGPFeed // itemFeed
}

// route is one peer's path to a prefix.
type route struct {
	origin  uint32
	asPath  []uint32
	nextHop netip.Addr
	since   time.Time
}

type peerState struct {
	name   string
	asn    uint32
	desc   string
	source string // model.SourceBGP, model.SourceBMP, ...
	label  string // how evidence names it; "" for embedded neighbors
	feed   string // the feed it is part of; "" for embedded neighbors
	// embedded: a neighbor of the embedded GoBGP speaker, created from
	// the configuration (not by a Source).
	embedded bool
	families []int
	up       bool
	since    time.Time
	synced   bool
	// lastUpdate is when the current session last sent an UPDATE (or an
	// End-of-RIB) of a watched prefix; zero until it sends anything.
	lastUpdate time.Time
	eor        map[int]bool
	reason     string
	routes     map[netip.Prefix]route
	// lost holds the routes the peer carried when its session was lost,
	// until the new session has synced: they are unknown, not withdrawn.
	lost map[netip.Prefix]route
}

type addrState struct {
	healthy  netip.Prefix
	current  netip.Prefix
	degraded bool
}

// cause says why covers are recomputed.
type cause uint8

const (
	causeUpdate   cause = iota // an UPDATE after sync, or a resync: news
	causeInitial               // part of a peer's initial table: state only
	causePeerDown              // a session was lost: routes unknown
)

// state is the feed's view of the watched routes. It is owned by the
// feed's state goroutine; readers take Feed.mu.
type state struct {
	now   func() time.Time
	ws    *watchSet
	peers map[string]*peerState
	order []string
	// feeds are the sources' feeds (a router's BMP session), by name.
	feeds     map[string]*model.BGPFeed
	feedOrder []string
	addrs     map[netip.Addr]*addrState
	// by is the peer whose UPDATE is being applied (recomputeAddr names
	// it in cover events), nil otherwise.
	by      *peerState
	changed map[netip.Prefix]time.Time
	emit    func(model.Event)
	m       *metrics
	// reasonFor says why a session went down, if known.
	reasonFor func(peer string) string
	// syncHeld reports that events were lost on their way here (the feed
	// queue overflowed) and the state has not been rebuilt from the RIB
	// yet: a table may lack routes its peer did send, so no sync is
	// declared (it would report every missing route of a reconnected peer
	// withdrawn); the resync declares it (resynced).
	syncHeld func() bool
	log      *slog.Logger
	// ms holds the distinct more-specifics tracked per configured prefix,
	// at most maxMS each (admitMoreSpecific); msWarned the prefixes whose
	// overflow was logged.
	ms       map[netip.Prefix]map[netip.Prefix]bool
	maxMS    int
	msWarned map[netip.Prefix]bool
}

// syncHow says what ended a peer's initial sync.
type syncHow uint8

const (
	syncEOR    syncHow = iota // End-of-RIB for every family
	syncQuiet                 // quiet for the timeout after its first UPDATE
	syncSilent                // nothing at all for silentSyncFactor × timeout
)

// silentSyncFactor bounds the wait for a session that sends nothing at
// all: it is synced (with an empty table) after this many initial-sync
// timeouts from Established. A peer may take a while to start its dump
// (BIRD: ~3 s after Established), so the ordinary "quiet for the
// timeout" rule only counts from the session's first UPDATE.
const silentSyncFactor = 3

// SyncReasonNoUpdates is the Reason of a PeerSynced event declared
// because the session sent nothing at all (no UPDATE, no End-of-RIB) for
// silentSyncFactor initial-sync timeouts.
const SyncReasonNoUpdates = "no_updates_received"

func newState(cfg config.BGP, ws *watchSet, now func() time.Time, emit func(model.Event), m *metrics) *state {
	s := &state{
		now: now, emit: emit, m: m, // ws is set by setWatch below
		peers:   make(map[string]*peerState),
		feeds:   make(map[string]*model.BGPFeed),
		addrs:   make(map[netip.Addr]*addrState),
		changed: make(map[netip.Prefix]time.Time),
		ms:      make(map[netip.Prefix]map[netip.Prefix]bool),
		maxMS:   DefaultMaxMoreSpecifics,

		msWarned: make(map[netip.Prefix]bool),
	}
	for _, n := range embeddedNeighbors(cfg.Neighbor) {
		p := newPeerState(n)
		s.peers[p.name] = p
		s.order = append(s.order, p.name)
		m.peerUp(p.name, false)
	}
	s.setWatch(ws)
	return s
}

// newPeerState is a configured neighbor's state before its session is up.
func newPeerState(n config.Neighbor) *peerState {
	p := &peerState{name: n.Name(), asn: n.PeerASN, desc: n.Description, source: model.SourceBGP,
		routes: map[netip.Prefix]route{}, eor: map[int]bool{}, embedded: true}
	for _, f := range n.FamilyList() {
		if f == config.FamilyIPv4Unicast {
			p.families = append(p.families, 4)
		} else {
			p.families = append(p.families, 6)
		}
	}
	return p
}

// event is a PeerEvent of kind about p.
func (p *peerState) event(t time.Time, kind model.PeerEventKind) model.PeerEvent {
	return model.PeerEvent{Time: t, Kind: kind, Peer: p.name, PeerASN: p.asn, Description: p.desc,
		Source: p.source, Label: p.label, Feed: p.feed}
}

// setWatch switches to a new watched set: routes no longer watched are
// forgotten, new addresses get state.
func (s *state) setWatch(ws *watchSet) {
	if s.ws != nil && ws.gen <= s.ws.gen {
		return
	}
	old := s.ws
	s.ws = ws
	for _, p := range s.peers {
		for pfx := range p.routes {
			if !ws.watched(pfx) {
				delete(p.routes, pfx)
			}
		}
		for pfx := range p.lost {
			if !ws.watched(pfx) {
				delete(p.lost, pfx)
			}
		}
	}
	for a := range s.addrs {
		if _, ok := ws.addrs[a]; !ok {
			delete(s.addrs, a)
		}
	}
	for a := range ws.addrs {
		if _, ok := s.addrs[a]; !ok {
			s.addrs[a] = &addrState{}
			s.recomputeAddr(a, causeInitial)
		}
	}
	s.pruneMoreSpecifics()
	s.m.resetPrefixes(s, old)
	s.m.addresses(s)
}

func (s *state) apply(it item) {
	if it.ws != nil && it.ws.gen > s.ws.gen {
		s.setWatch(it.ws)
	}
	switch it.kind {
	case itemAddPeer:
		s.addSourcePeer(*it.spec)
		return
	case itemRemovePeer:
		if p := s.peers[it.peer]; p != nil && !p.embedded {
			ev := p.event(it.t, model.PeerRemoved)
			s.removePeer(it.peer)
			// After the state forgot it, so that whoever sees the event
			// sees the state without the peer.
			s.emit(ev)
		}
		return
	case itemFeed:
		s.setFeed(it.t, *it.feed)
		return
	}
	p := s.peers[it.peer]
	if p == nil || p.embedded == it.fromSource {
		return
	}
	switch it.kind {
	case itemPeer:
		if it.up {
			s.peerUp(p, it.t)
		} else {
			reason := it.reason
			if reason == "" && s.reasonFor != nil {
				reason = s.reasonFor(p.name)
			}
			s.peerDown(p, it.t, reason)
		}
	case itemEOR:
		if !p.up {
			return
		}
		p.eor[it.family] = true
		p.lastUpdate = it.t // the peer has spoken in this session
		for _, f := range p.families {
			if !p.eor[f] {
				return
			}
		}
		if s.held() {
			return // the resync from the RIB syncs it
		}
		s.sync(p, it.t, syncEOR)
	case itemRoute:
		if !s.ws.watched(it.prefix) {
			return
		}
		if !p.up {
			// Updates follow the Established event; if it was lost, the
			// session is evidently up.
			s.peerUp(p, it.t)
		}
		p.lastUpdate = it.t
		s.applyRoute(p, it)
	}
}

func (s *state) peerUp(p *peerState, t time.Time) {
	if p.up {
		return
	}
	// lastUpdate stays zero until the new session sends something: the
	// initial-sync timeout does not run before the peer starts its table.
	p.up, p.since, p.synced, p.lastUpdate, p.reason = true, t, false, time.Time{}, ""
	p.eor = map[int]bool{}
	s.m.peerUp(p.name, true)
	s.emit(p.event(t, model.PeerUp))
}

func (s *state) peerDown(p *peerState, t time.Time, reason string) {
	if !p.up {
		if reason != "" {
			p.reason = reason
		}
		return
	}
	n := len(p.routes)
	if p.lost == nil {
		p.lost = p.routes
	} else {
		maps.Copy(p.lost, p.routes)
	}
	p.routes = map[netip.Prefix]route{}
	p.up, p.synced, p.since, p.reason = false, false, t, reason
	s.m.peerUp(p.name, false)
	// The prefixes' metrics first, so that whoever sees the event sees
	// them too.
	for pfx := range p.lost {
		s.prefixChanged(pfx)
	}
	ev := p.event(t, model.PeerDown)
	ev.Reason, ev.Routes = reason, n
	s.emit(ev)
	for a := range s.addrs {
		s.recomputeAddr(a, causePeerDown)
	}
}

// sync ends a peer's initial table: routes it carried before its session
// was lost and did not announce again were withdrawn meanwhile. It is
// only called once the peer has told its table (End-of-RIB, or quiet for
// the timeout after it started sending) or after the long silent bound.
func (s *state) sync(p *peerState, t time.Time, how syncHow) {
	if p.synced || !p.up {
		return
	}
	p.synced = true
	s.m.peerSynced(p.name, true)
	ev := p.event(t, model.PeerSynced)
	ev.Routes, ev.ByEndOfRIB = len(p.routes), how == syncEOR
	if how == syncSilent {
		ev.Reason = SyncReasonNoUpdates
		if s.log != nil {
			s.log.Warn("bgp peer sent nothing since its session was established; declared synced with an empty table",
				"peer", p.name, "established", p.since, "waited", t.Sub(p.since).Round(time.Millisecond),
				"routes_before_drop", len(p.lost))
		}
	} else if s.log != nil {
		s.log.Info("bgp peer synced", "peer", p.name, "routes", len(p.routes), "by_end_of_rib", how == syncEOR,
			"routes_before_drop", len(p.lost))
	}
	s.emit(ev)
	lost := p.lost
	p.lost = nil
	var gone []netip.Prefix
	for pfx, r := range lost {
		if _, ok := p.routes[pfx]; ok {
			continue
		}
		gone = append(gone, pfx)
		s.changed[pfx] = t
		s.prefixChanged(pfx)
		s.m.update(p.name, model.RouteWithdraw)
		s.emit(s.routeEvent(p, t, model.RouteWithdraw, pfx, route{}, r, false, true))
	}
	for _, pfx := range gone {
		for _, a := range s.ws.covers(pfx) {
			s.recomputeAddr(a, causeUpdate)
		}
	}
	// Addresses whose healthy route was unknown while the session was down
	// are judged again now that the peer has told everything.
	for a := range s.addrs {
		s.recomputeAddr(a, causeUpdate)
	}
}

// tick ends the initial sync of peers that sent no End-of-RIB: once they
// were quiet for timeout after the first UPDATE of their session, or,
// when the session sent nothing at all, after silentSyncFactor × timeout
// from Established. lastSeen is the peer's last UPDATE of any prefix
// (watched or not); only what arrived after Established counts.
func (s *state) tick(t time.Time, timeout time.Duration, lastSeen func(peer string) time.Time) {
	if s.held() {
		return
	}
	for _, name := range s.order {
		p := s.peers[name]
		if !p.up || p.synced {
			continue
		}
		last := p.lastUpdate
		if ls := lastSeen(name); !ls.Before(p.since) && ls.After(last) {
			last = ls
		}
		switch {
		case !last.IsZero():
			if t.Sub(last) >= timeout {
				s.sync(p, t, syncQuiet)
			}
		case t.Sub(p.since) >= silentSyncFactor*timeout:
			s.sync(p, t, syncSilent)
		}
	}
}

func (s *state) held() bool { return s.syncHeld != nil && s.syncHeld() }

// resynced ends the initial sync of a peer whose table was just rebuilt
// from the RIB, when End-of-RIB was received for every family (eor: the
// families GoBGP has it for in the current session; an End-of-RIB event
// may have been among the lost ones).
func (s *state) resynced(p *peerState, t time.Time, eor []int) {
	if !p.up || p.synced {
		return
	}
	for _, f := range eor {
		p.eor[f] = true
	}
	for _, f := range p.families {
		if !p.eor[f] {
			return
		}
	}
	s.sync(p, t, syncEOR)
}

func (s *state) applyRoute(p *peerState, it item) {
	old, had := p.routes[it.prefix]
	initial := !p.synced && !it.resync
	var kind model.RouteEventKind
	if it.withdraw {
		if !had {
			return
		}
		delete(p.routes, it.prefix)
		kind = model.RouteWithdraw
	} else {
		r := it.route
		r.since = it.t
		switch {
		case !had:
			if !s.admitMoreSpecific(it.prefix) {
				return
			}
			kind = model.RouteAnnounce
			if s.visible(it.prefix) == 0 {
				if w, ok := s.ws.container(it.prefix); ok && w.Prefix != it.prefix {
					kind = model.RouteMoreSpecific
				}
			}
		case old.origin != r.origin:
			kind = model.RouteOriginChange
		case !slices.Equal(old.asPath, r.asPath):
			kind = model.RoutePathChange
		default:
			r.since = old.since
			p.routes[it.prefix] = r // next hop or nothing changed: no event
			return
		}
		p.routes[it.prefix] = r
	}
	s.changed[it.prefix] = it.t
	if it.withdraw && s.visible(it.prefix) == 0 && !s.unknown(it.prefix) {
		// No peer carries it any more: forget it, or every prefix ever
		// seen stays here (routeViews reads changed only for carried ones).
		delete(s.changed, it.prefix)
	}
	s.m.update(p.name, kind)
	s.prefixChanged(it.prefix)
	var prev route
	if had {
		prev = old
	}
	s.emit(s.routeEvent(p, it.t, kind, it.prefix, p.routes[it.prefix], prev, initial, it.resync))
	c := causeUpdate
	if initial {
		c = causeInitial
	}
	s.by = p
	for _, a := range s.ws.covers(it.prefix) {
		s.recomputeAddr(a, c)
	}
	s.by = nil
}

func (s *state) routeEvent(p *peerState, t time.Time, kind model.RouteEventKind, pfx netip.Prefix, cur, prev route, initial, resync bool) model.RouteEvent {
	ev := model.RouteEvent{
		Time: t, Kind: kind, Peer: p.name, PeerASN: p.asn, Prefix: pfx,
		Origin: cur.origin, ASPath: cur.asPath, NextHop: cur.nextHop,
		PrevOrigin: prev.origin, PrevASPath: prev.asPath,
		Initial: initial, Resync: resync,
		Covers:       slices.Clone(s.ws.covers(pfx)),
		VisiblePeers: s.visible(pfx),
	}
	if w, ok := s.ws.container(pfx); ok {
		ev.Watched, ev.MoreSpecific, ev.ExpectedOrigins = w.Prefix, w.Prefix != pfx, w.Origins
		if cur.origin != 0 && len(w.Origins) > 0 && !slices.Contains(w.Origins, cur.origin) {
			ev.UnexpectedOrigin = true
		}
	}
	return ev
}

// visible counts established peers carrying pfx.
func (s *state) visible(pfx netip.Prefix) int {
	n := 0
	for _, p := range s.peers {
		if _, ok := p.routes[pfx]; ok && p.up {
			n++
		}
	}
	return n
}

func (s *state) origins(pfx netip.Prefix) []uint32 {
	var out []uint32
	for _, p := range s.peers {
		if r, ok := p.routes[pfx]; ok && p.up && !slices.Contains(out, r.origin) {
			out = append(out, r.origin)
		}
	}
	slices.Sort(out)
	return out
}

// unknown reports whether a peer whose session was lost (and has not
// synced again) carried pfx: its visibility there is unknown.
func (s *state) unknown(pfx netip.Prefix) bool {
	for _, p := range s.peers {
		if _, ok := p.lost[pfx]; ok {
			return true
		}
	}
	return false
}

func (s *state) cover(pfx netip.Prefix) *model.Cover {
	if !pfx.IsValid() {
		return nil
	}
	return &model.Cover{Prefix: pfx, Origins: s.origins(pfx), Peers: s.visible(pfx)}
}

// covering lists the visible routes covering a, most specific first.
func (s *state) covering(a netip.Addr) []model.Cover {
	var out []model.Cover
	for l := a.BitLen(); l >= 1; l-- {
		q, _ := a.Prefix(l)
		if n := s.visible(q); n > 0 {
			out = append(out, model.Cover{Prefix: q, Origins: s.origins(q), Peers: n})
		}
	}
	return out
}

// recomputeAddr follows the most-specific route covering a. Withdrawal of
// the route that covered it while healthy is an event even when a
// less-specific still covers it; a lost session makes it unknown instead.
func (s *state) recomputeAddr(a netip.Addr, c cause) {
	st := s.addrs[a]
	if st == nil {
		return
	}
	covering := s.covering(a)
	var cur netip.Prefix
	if len(covering) > 0 {
		cur = covering[0].Prefix
	}
	prev := st.current
	st.current = cur
	t := s.now()
	ev := func(kind model.CoverEventKind, unexpected bool) {
		e := model.CoverEvent{Time: t, Kind: kind, Addr: a, Roles: s.ws.addrs[a],
			Current: s.cover(cur), Healthy: s.cover(st.healthy), Covering: covering, UnexpectedOrigin: unexpected}
		if s.by != nil {
			e.Peer = s.by.name
		}
		s.emit(e)
	}
	defer s.m.addresses(s)
	switch {
	case !st.healthy.IsValid():
		if cur.IsValid() && c != causePeerDown {
			st.healthy = cur
		}
	case cur.IsValid() && cur.Bits() > st.healthy.Bits():
		unexpected := false
		for _, o := range s.origins(cur) {
			if _, ok := s.ws.expectedOrigin(cur, o); !ok {
				unexpected = true
			}
		}
		if c == causeUpdate && cur != prev {
			ev(model.CoverMoreSpecific, unexpected)
		}
		if !unexpected {
			st.healthy, st.degraded = cur, false
		}
	case cur == st.healthy:
		if st.degraded && c != causePeerDown {
			st.degraded = false
			ev(model.CoverRestored, false)
		}
	default: // less specific than the healthy route, or none at all
		if c != causeUpdate || s.unknown(st.healthy) {
			return
		}
		if !st.degraded || cur != prev {
			st.degraded = true
			ev(model.CoverWithdrawn, false)
		}
	}
}

// prefixChanged refreshes a prefix's metrics.
func (s *state) prefixChanged(pfx netip.Prefix) { s.m.prefix(s, pfx) }

// --- views ---

func (s *state) peerViews() []model.BGPPeer {
	out := make([]model.BGPPeer, 0, len(s.order))
	for _, name := range s.order {
		p := s.peers[name]
		st := "down"
		if p.up {
			st = "up"
		}
		out = append(out, model.BGPPeer{Peer: p.name, PeerASN: p.asn, Description: p.desc,
			State: st, Synced: p.synced, Since: p.since, Routes: len(p.routes), Reason: p.reason,
			Source: p.source, Label: p.label, Feed: p.feed})
	}
	return out
}

func (s *state) routeViews(match func(netip.Prefix) bool) []model.BGPRoute {
	set := map[netip.Prefix]bool{}
	for _, p := range s.peers {
		if !p.up {
			continue
		}
		for pfx := range p.routes {
			set[pfx] = true
		}
	}
	out := make([]model.BGPRoute, 0, len(set))
	for pfx := range set {
		if match != nil && !match(pfx) {
			continue
		}
		r := model.BGPRoute{Prefix: pfx, Origins: s.origins(pfx), Changed: s.changed[pfx], Covers: s.ws.covers(pfx)}
		if w, ok := s.ws.container(pfx); ok {
			r.Watched, r.MoreSpecific = w.Prefix, w.Prefix != pfx
		}
		for _, name := range s.order {
			p := s.peers[name]
			if rt, ok := p.routes[pfx]; ok && p.up {
				r.Paths = append(r.Paths, model.BGPPath{Peer: name, Origin: rt.origin, ASPath: rt.asPath, NextHop: rt.nextHop, Since: rt.since})
			}
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return prefixLess(out[i].Prefix, out[j].Prefix) })
	return out
}

func (s *state) addrViews(match func(netip.Addr) bool) []model.BGPAddress {
	out := make([]model.BGPAddress, 0, len(s.addrs))
	for a, st := range s.addrs {
		if match != nil && !match(a) {
			continue
		}
		covering := s.covering(a)
		v := model.BGPAddress{Addr: a, Roles: s.ws.addrs[a], Healthy: s.cover(st.healthy), Covering: covering, Degraded: st.degraded}
		if len(covering) > 0 {
			c := covering[0]
			v.Current = &c
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}

func prefixLess(a, b netip.Prefix) bool {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c < 0
	}
	return a.Bits() < b.Bits()
}
