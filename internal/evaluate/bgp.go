package evaluate

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// BGP ingest: sessions, routes over every peer, and the routes covering
// the watched addresses; each change re-evaluates the groups it can
// affect.

// addr is a watched nameserver or resolver address and its routes.
type addr struct {
	addr      netip.Addr
	host      string
	zones     []*zone
	resolvers []string
	// healthy is the most-specific route that covered the address while
	// healthy; current the most-specific now; degraded while healthy is
	// withdrawn.
	healthy        netip.Prefix
	healthyOrigins []uint32
	current        netip.Prefix
	degraded       bool
	degradedAt     time.Time // when healthy was withdrawn
	ev             ring
}

func (a *addr) name() string {
	if a.host != "" {
		return a.host + " (" + a.addr.String() + ")"
	}
	for _, r := range a.resolvers {
		return "resolver " + r + " (" + a.addr.String() + ")"
	}
	return a.addr.String()
}

// peer is one BGP session.
type peer struct {
	name       string
	asn        uint32
	desc       string
	configured bool
	// lbl is how evidence names it when its source says (BMP, RIS
	// Live); feed the feed it is part of, whose loss is the feed_lost
	// incident ("" for an embedded neighbor: its own).
	lbl, feed  string
	seen       bool // any event from it
	up, synced bool
	upSince    time.Time
	downSince  time.Time
	reason     string
	routes     int
	ev         ring
}

// peerRef names peer name in evidence as its source does ("router
// edge1, peer 192.0.2.1 (AS64501)"), an embedded neighbor by address and
// ASN ("peer 192.0.2.1 (AS64500)").
func (e *Evaluator) peerRef(name string) string {
	p := e.peers[name]
	switch {
	case p == nil:
		return "peer " + name
	case p.lbl != "":
		return p.lbl
	}
	return "peer " + p.label()
}

func (p *peer) label() string {
	if p.lbl != "" {
		return p.lbl
	}
	s := p.name
	if p.asn != 0 {
		s += fmt.Sprintf(" (AS%d", p.asn)
		if p.desc != "" {
			s += ", " + p.desc
		}
		s += ")"
	} else if p.desc != "" {
		s += " (" + p.desc + ")"
	}
	return s
}

// route is the evaluator's view of one prefix over every peer.
type route struct {
	prefix  netip.Prefix
	watched model.WatchedPrefix
	inside  bool // inside (or equal to) a watched prefix
	// peers maps each peer carrying the prefix now to its origin.
	peers map[string]uint32
	// carriers are peers that carried it since their session came up.
	carriers   map[string]bool
	lastOrigin uint32
	covers     []netip.Addr
	ev         ring
	// hijackOrigins are the unexpected origins it was last filed under
	// (trackHijack); countedIn the watched prefix whose more-specific
	// count holds it (admitRoute).
	hijackOrigins []uint32
	countedIn     netip.Prefix
}

func (e *Evaluator) route(p netip.Prefix) *route {
	r := e.routes[p]
	if r == nil {
		r = &route{prefix: p, peers: map[string]uint32{}, carriers: map[string]bool{}}
		r.watched, r.inside = e.container(p)
		e.routes[p] = r
	}
	return r
}

// withdrawnBy counts synced peers that carried the prefix and no longer do.
func (e *Evaluator) withdrawnBy(r *route) int {
	n := 0
	for name := range r.carriers {
		if _, ok := r.peers[name]; ok {
			continue
		}
		if p := e.peers[name]; p != nil && p.up {
			n++
		}
	}
	return n
}

// unexpected returns the origins of r that its watched prefix does not
// expect, and how many peers see them.
func (r *route) unexpected() (origins []uint32, peers int) {
	if !r.inside || len(r.watched.Origins) == 0 {
		return nil, 0
	}
	for _, o := range r.peers {
		if !slices.Contains(r.watched.Origins, o) {
			peers++
			if !slices.Contains(origins, o) {
				origins = append(origins, o)
			}
		}
	}
	slices.Sort(origins)
	return origins, peers
}

func (e *Evaluator) routeEvent(ev model.RouteEvent, now time.Time) {
	p := e.peer(ev.Peer, ev.PeerASN)
	p.seen = true
	if !p.up {
		// Routes follow the session's establishment; the PeerUp was lost.
		p.up, p.upSince = true, ev.Time
		if !ev.Initial {
			p.synced = true
		}
	}
	r := e.admitRoute(ev.Prefix.Masked(), ev.Watched, len(ev.Covers) > 0, now)
	if r == nil {
		return // a more-specific beyond the bound: counted, not tracked
	}
	if !r.inside && ev.Watched.IsValid() {
		w, ok := e.watched[ev.Watched]
		if !ok {
			w = model.WatchedPrefix{Prefix: ev.Watched, Origins: ev.ExpectedOrigins}
		}
		r.watched, r.inside = w, true
	}
	if len(ev.Covers) > 0 {
		r.covers = ev.Covers
	}
	total := e.upPeers()
	ref := e.peerRef(ev.Peer)
	switch ev.Kind {
	case model.RouteWithdraw:
		delete(r.peers, ev.Peer)
		if ev.PrevOrigin != 0 {
			r.lastOrigin = ev.PrevOrigin
		}
		if !ev.Initial {
			r.ev.add(ev.Time, routeEvidence(ev, ref, r, total))
		}
	default:
		r.peers[ev.Peer] = ev.Origin
		r.carriers[ev.Peer] = true
		if ev.Origin != 0 {
			r.lastOrigin = ev.Origin
		}
		if ev.Initial {
			break
		}
		r.ev.add(ev.Time, routeEvidence(ev, ref, r, total))
	}
	e.markOrphan(r, ev.Time)
	e.evalRoute(r, now)
}

// markOrphan notes when a route lost its last peer (or that it has one).
func (e *Evaluator) markOrphan(r *route, t time.Time) {
	if len(r.peers) > 0 {
		delete(e.orphans, r.prefix)
	} else if _, ok := e.orphans[r.prefix]; !ok {
		e.orphans[r.prefix] = t
	}
}

// orphanKeep is how long a route that no peer carries and that nothing
// refers to is kept (at most fade_off): long enough that a more-specific
// which flaps keeps one history, short enough that churn of never-seen
// more-specifics does not grow memory. A hijack or withdrawal condition
// on the route keeps it for as long as the condition's slot lives.
const orphanKeep = time.Minute

// pruneRoutes forgets routes that no peer has carried for orphanKeep and
// that nothing refers to any more: not a watched prefix, covering no
// watched address, not the route a watched address had while healthy or
// has now (a root cause names its origin and shows its evidence), not
// named by an open incident about withdrawn routes, no condition or
// incident on it. Without it every
// prefix ever seen (a more-specific that came and went) stays forever.
// It sweeps at most once per orphanKeep, so a route goes between one and
// two orphanKeep after its last peer.
func (e *Evaluator) pruneRoutes(now time.Time) {
	keep := min(orphanKeep, e.cfg.FadeOff.Duration)
	if now.Sub(e.pruned) < keep {
		return
	}
	e.pruned = now
	var named map[netip.Prefix]bool // routes an address refers to
	var hijacked map[netip.Prefix]bool
	for p, since := range e.orphans {
		r := e.routes[p]
		if r == nil || len(r.peers) > 0 {
			delete(e.orphans, p)
			continue
		}
		if _, exact := e.watched[p]; exact || len(r.covers) > 0 {
			delete(e.orphans, p) // kept for good (bounded by the configuration)
			continue
		}
		if now.Sub(since) < keep || e.interesting[p] || e.slots[slotKey{groupWithdrawn, p.String()}] != nil {
			continue
		}
		if hijacked == nil {
			hijacked = e.hijackHeld()
		}
		if hijacked[p] {
			continue
		}
		if named == nil {
			named = map[netip.Prefix]bool{}
			for _, a := range e.addrs {
				named[a.healthy], named[a.current] = true, true
			}
			for _, s := range e.openSlots() {
				if !withdrawnKind(s.inc.Kind) {
					continue // a hijack's withdrawn routes free their place (the more-specifics bound)
				}
				for _, q := range s.inc.Prefixes { // its recovery is told by them
					named[q] = true
				}
			}
		}
		if named[p] {
			continue
		}
		e.forgetRoute(p)
	}
}

// evalRoute evaluates the withdrawn and hijack slots of a route.
func (e *Evaluator) evalRoute(r *route, now time.Time) {
	if r == nil {
		return
	}
	wv := e.withdrawnVerdict(r)
	origins, _ := r.unexpected()
	if wv.kind != "" || len(origins) > 0 {
		e.interesting[r.prefix] = true
	} else {
		delete(e.interesting, r.prefix)
	}
	if _, exact := e.watched[r.prefix]; exact {
		e.eval(groupWithdrawn, r.prefix.String(), wv, now)
	}
	if r.inside {
		e.trackHijack(r, origins, now)
	}
	if _, exact := e.watched[r.prefix]; exact && e.rpki.ready {
		e.rpkiDirty = true
	}
	e.evalRPKI(r, now)
}

func (e *Evaluator) peerEvent(ev model.PeerEvent, now time.Time) {
	if ev.Kind == model.PeerRemoved {
		// A source's peer that is gone (a BMP view the router no longer
		// reports): forgotten with its routes, as a neighbor a reload
		// removes.
		if e.peers[ev.Peer] != nil {
			e.removePeer(ev.Peer, now)
			e.usable, _ = e.bgpUsable(now)
			e.reevalBGP(now)
		}
		return
	}
	p := e.peer(ev.Peer, ev.PeerASN)
	p.seen = true
	if ev.Description != "" {
		p.desc = ev.Description
	}
	if ev.Label != "" {
		p.lbl = ev.Label
	}
	if ev.Feed != "" {
		p.feed = ev.Feed
	}
	switch ev.Kind {
	case model.PeerUp:
		p.up, p.synced, p.upSince, p.reason = true, false, ev.Time, ""
		p.ev.add(ev.Time, sessionEvidence(ev, p))
	case model.PeerSynced:
		if !p.up {
			p.up, p.upSince = true, ev.Time
		}
		p.synced, p.routes = true, ev.Routes
		p.ev.add(ev.Time, sessionEvidence(ev, p))
	case model.PeerDown:
		wasUp := p.up
		p.up, p.synced, p.downSince, p.reason, p.routes = false, false, ev.Time, ev.Reason, ev.Routes
		p.ev.add(ev.Time, sessionEvidence(ev, p))
		if wasUp {
			// Its routes are unknown, not withdrawn.
			for _, r := range e.routes {
				delete(r.peers, p.name)
				delete(r.carriers, p.name)
			}
		}
	}
	if p.feed == "" {
		e.evalSlot(e.slotFor(groupFeed, p.name, true), now)
	}
	e.checkBGPUsable(now)
	for _, pfx := range sortedPrefixes(e.interesting) {
		e.evalRoute(e.routes[pfx], now)
	}
}

func (e *Evaluator) coverEvent(ev model.CoverEvent, now time.Time) {
	a := e.addr(ev.Addr)
	for _, role := range ev.Roles {
		switch role.Kind {
		case "nameserver":
			e.linkNS(e.zone(role.Name), a.addr, "")
		case "resolver":
			e.addResolverRole(a, role.Name)
			if r := e.resolver(role.Name); !r.addr.IsValid() {
				r.addr = a.addr
			}
		}
	}
	if ev.Healthy != nil && ev.Healthy.Prefix.IsValid() {
		if a.healthy != ev.Healthy.Prefix {
			a.healthyOrigins = nil
		}
		a.healthy = ev.Healthy.Prefix
		if len(ev.Healthy.Origins) > 0 {
			a.healthyOrigins = ev.Healthy.Origins
		}
	}
	a.current = netip.Prefix{}
	if ev.Current != nil {
		a.current = ev.Current.Prefix
	}
	switch ev.Kind {
	case model.CoverWithdrawn:
		if !a.degraded {
			a.degradedAt = ev.Time
		}
		a.degraded = true
		e.degraded[a.addr] = true
		by := ""
		if ev.Peer != "" {
			by = e.peerRef(ev.Peer)
		}
		a.ev.add(ev.Time, coverEvidence(ev, a, by))
	case model.CoverRestored:
		a.degraded = false
		delete(e.degraded, a.addr)
		a.ev.add(ev.Time, coverEvidence(ev, a, ""))
	case model.CoverMoreSpecific:
		if ev.Current != nil {
			a.ev.add(ev.Time, coverEvidence(ev, a, ""))
		}
	}
	for _, z := range a.zones {
		e.evalZone(z, now)
	}
	if len(a.resolvers) > 0 {
		e.evalResolvers(now)
	}
}

// bgpSnapshot replaces the BGP state with the feed's whole state (sent
// after the feed had to drop events).
func (e *Evaluator) bgpSnapshot(s model.BGPSnapshot, now time.Time) {
	for _, fd := range s.Feeds {
		f := e.feedOf(fd.Feed)
		if fd.Label != "" {
			f.label = fd.Label
		}
		if fd.Source != "" {
			f.source = fd.Source
		}
		up := fd.State == "up"
		if up != f.up && (up || f.up) {
			// A change the dropped events told; a feed never up stays
			// as it was (the start grace judges a configured one).
			e.feedEvent(model.FeedEvent{Time: fd.Since, Feed: fd.Feed, Source: fd.Source, Label: fd.Label, Up: up, Reason: fd.Reason}, now)
		}
	}
	// A source's peer the snapshot no longer has was removed while events
	// were dropped (its PeerRemoved among them): forget it.
	inSnapshot := map[string]bool{}
	for _, bp := range s.Peers {
		inSnapshot[bp.Peer] = true
	}
	for _, name := range slices.Clone(e.peerOrder) {
		if p := e.peers[name]; !inSnapshot[name] && !p.configured && (p.feed != "" || p.lbl != "") {
			e.removePeer(name, now)
		}
	}
	for _, bp := range s.Peers {
		p := e.peer(bp.Peer, bp.PeerASN)
		p.seen = true
		if bp.Label != "" {
			p.lbl = bp.Label
		}
		if bp.Feed != "" {
			p.feed = bp.Feed
		}
		up := bp.State == "up"
		if up && !p.up {
			p.upSince = bp.Since
		}
		if !up && p.up {
			p.downSince = bp.Since
		}
		p.up, p.synced, p.routes, p.reason = up, up && bp.Synced, bp.Routes, bp.Reason
	}
	for _, r := range e.routes {
		clear(r.peers)
	}
	for _, br := range s.Routes {
		r := e.admitRoute(br.Prefix.Masked(), br.Watched, len(br.Covers) > 0, now)
		if r == nil {
			continue
		}
		if len(br.Covers) > 0 {
			r.covers = br.Covers
		}
		for _, path := range br.Paths {
			r.peers[path.Peer] = path.Origin
			r.carriers[path.Peer] = true
			if path.Origin != 0 {
				r.lastOrigin = path.Origin
			}
		}
	}
	for _, ba := range s.Addresses {
		a := e.addr(ba.Addr)
		for _, role := range ba.Roles {
			if role.Kind == "nameserver" {
				e.linkNS(e.zone(role.Name), a.addr, "")
			} else if role.Kind == "resolver" {
				e.addResolverRole(a, role.Name)
			}
		}
		if ba.Healthy != nil {
			a.healthy = ba.Healthy.Prefix
		}
		a.current = netip.Prefix{}
		if ba.Current != nil {
			a.current = ba.Current.Prefix
		}
		if ba.Degraded && !a.degraded {
			a.degradedAt = now
		}
		a.degraded = ba.Degraded
		if a.degraded {
			e.degraded[a.addr] = true
		} else {
			delete(e.degraded, a.addr)
		}
	}
	for _, r := range e.routes {
		e.markOrphan(r, now)
	}
	for _, p := range sortedPrefixes(func() map[netip.Prefix]bool {
		m := map[netip.Prefix]bool{}
		for p := range e.routes {
			m[p] = true
		}
		return m
	}()) {
		e.evalRoute(e.routes[p], now)
	}
	for _, z := range e.zones {
		if len(z.ns) > 0 {
			e.evalZone(z, now)
		}
	}
	e.evalFeedSlots(now)
	e.evalResolvers(now)
}
