package evaluate

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// Reasons given when a configuration reload takes a subject away: its open
// incidents are resolved with them, since nothing watches the subject any
// more to tell when the trouble ends.
const (
	ReasonZoneRemoved     = "zone removed from the configuration"
	ReasonResolverRemoved = "resolver removed from the configuration"
	ReasonPrefixRemoved   = "prefix removed from the configuration"
	ReasonPeerRemoved     = "BGP neighbor removed from the configuration"
	ReasonFeedRemoved     = "BGP feed removed from the configuration"
)

// addResolverTarget adds a configured resolver (New and Reconfigure).
func (e *Evaluator) addResolverTarget(r Resolver) {
	res := e.resolver(r.Name)
	res.validating = r.Validating
	if r.Addr.IsValid() {
		a := e.addr(r.Addr)
		res.addr = r.Addr
		e.addResolverRole(a, r.Name)
	}
}

// setZoneTarget sets a configured zone's names, expected answers and
// configured authoritative servers (New and Reconfigure).
func (e *Evaluator) setZoneTarget(z *zone, zt Zone) {
	for _, n := range zt.Names {
		z.addName(n)
	}
	z.expect = nil
	for _, x := range zt.Expect {
		if z.expect == nil {
			z.expect = map[string]bool{}
		}
		z.expect[normRdata(x)] = true
	}
	want := map[netip.Addr]string{}
	for _, ap := range zt.Authoritative {
		want[ap.Addr().Unmap()] = ap.String()
	}
	for a := range z.configured {
		if _, ok := want[a]; ok {
			continue
		}
		// No longer configured: forgotten unless discovery lists it.
		delete(z.configured, a)
		if z.fc == nil || !z.fc.isDiscovered(a) {
			e.unlinkNS(z, a)
			for _, s := range slices.Clone(z.order) {
				if s.kind == model.KindAuthoritative && s.addr == a {
					e.forgetServer(z, s)
				}
			}
		}
	}
	for a, host := range want {
		if z.configured == nil {
			z.configured = map[netip.Addr]bool{}
		}
		z.configured[a] = true
		e.linkNS(z, a, host)
	}
}

// setPrefixes sets the watched prefixes (New and Reconfigure).
func (e *Evaluator) setPrefixes(prefixes []model.WatchedPrefix) {
	e.watched = map[netip.Prefix]model.WatchedPrefix{}
	l4, l6 := map[int]bool{}, map[int]bool{}
	for _, w := range prefixes {
		p := w.Prefix.Masked()
		if !p.IsValid() {
			continue
		}
		w.Prefix = p
		e.watched[p] = w
		if p.Addr().Is4() {
			l4[p.Bits()] = true
		} else {
			l6[p.Bits()] = true
		}
	}
	e.lens4, e.lens6 = descKeys(l4), descKeys(l6)
}

// Reconfigure applies a reloaded configuration: new thresholds, and the
// zones, resolvers, watched prefixes and BGP peers to watch. What stays
// keeps its state and its open incidents; what is new starts unknown, as
// at start; what is gone is forgotten, and its open incidents are resolved
// with a reason saying so (ReasonZoneRemoved, ...). Events still in flight
// about a removed zone or resolver are ignored. The vantage name is not
// changed (it names every metric: a restart changes it). It returns the
// incident changes, as Apply does.
func (e *Evaluator) Reconfigure(cfg config.Evaluate, t Targets, now time.Time) []model.IncidentChange {
	e.out = nil
	now = e.advance(now)
	e.cfg = withDefaults(cfg)
	e.setControls()
	e.rpkiOn = e.rpkiOn || t.RPKI

	wantZones := map[string]Zone{}
	for _, zt := range t.Zones {
		wantZones[zoneKey(zt.Name)] = zt
	}
	wantRes := map[string]Resolver{}
	for _, r := range t.Resolvers {
		wantRes[r.Name] = r
	}
	for _, k := range slices.Sorted(maps.Keys(e.zones)) {
		if _, ok := wantZones[k]; !ok && !e.controls[k] {
			e.removeZone(e.zones[k], now)
		}
	}
	for _, name := range slices.Clone(e.resOrder) {
		if _, ok := wantRes[name]; !ok {
			e.removeResolver(name, now)
		}
	}
	if e.gone == nil {
		e.gone = map[string]bool{}
	}
	for _, r := range t.Resolvers {
		delete(e.gone, "resolver "+r.Name)
		if res := e.resolvers[r.Name]; res != nil && res.addr != r.Addr {
			e.dropResolverAddr(res)
		}
		e.addResolverTarget(r)
	}
	for _, zt := range t.Zones {
		k := zoneKey(zt.Name)
		delete(e.gone, "zone "+k)
		_, existed := e.zones[k]
		z := e.zone(zt.Name)
		if existed {
			e.keepQueries(z, zt)
		}
		e.setZoneTarget(z, zt)
	}

	e.setPrefixes(t.Prefixes)
	for p, r := range e.routes {
		r.watched, r.inside = e.container(p)
	}
	for _, s := range e.openSlots() {
		if s.key.g != groupWithdrawn && s.key.g != groupHijack && s.key.g != groupRPKI {
			continue
		}
		if !e.subjectWatched(s) {
			s.cond = false
			e.resolve(s, now, ReasonPrefixRemoved)
		}
	}

	wantPeers := map[string]Peer{}
	for _, p := range t.Peers {
		wantPeers[p.Name] = p
	}
	for _, name := range slices.Clone(e.peerOrder) {
		if _, ok := wantPeers[name]; !ok && e.peers[name].configured {
			e.removePeer(name, now)
		}
	}
	for _, p := range t.Peers {
		pe := e.peer(p.Name, p.ASN)
		pe.desc = p.Description
		pe.configured = true
	}
	wantFeeds := map[string]bool{}
	for _, f := range t.Feeds {
		wantFeeds[f.Name] = true
	}
	for _, name := range slices.Clone(e.feedOrder) {
		if !wantFeeds[name] && e.feeds[name].configured {
			e.removeFeed(name, now)
		}
	}
	for _, f := range t.Feeds {
		e.setFeedTarget(f)
	}

	for _, k := range slices.Sorted(maps.Keys(e.zones)) {
		z := e.zones[k]
		e.evalZone(z, now)
		e.eval(groupMismatch, z.key, e.mismatchVerdict(z), now)
	}
	e.evalResolvers(now)
	e.evalVantage(now)
	e.reevalBGP(now)
	e.checkBGPUsable(now)
	out := e.out
	e.out = nil
	return out
}

// keepQueries forgets what a zone's servers answered to queries the
// zone no longer asks (a name or type removed from it): a query that is
// never asked again must not keep a server down, nor a name among the
// affected ones. Without the names and types (zt from a test), nothing is
// forgotten.
func (e *Evaluator) keepQueries(z *zone, zt Zone) {
	if len(zt.Names) == 0 || len(zt.Types) == 0 {
		return
	}
	asked := map[string]bool{}
	for _, n := range zt.Names {
		for _, t := range zt.Types {
			asked[strings.ToLower(n)+" "+t] = true
		}
	}
	asked[strings.ToLower(z.name.FQDN())+" SOA"] = true // every authoritative server's serial
	for _, s := range z.order {
		s.dt.keep(asked, &e.dt)
	}
	for k := range z.authAns {
		if name, typ, ok := strings.Cut(k, " "); ok && !asked[strings.ToLower(name)+" "+typ] {
			delete(z.authAns, k)
		}
	}
	z.names = nil
	for _, n := range zt.Names {
		z.addName(n)
	}
}

// setControls follows [evaluate] control_zones, recounting the control
// pairs behind vantage_down.
func (e *Evaluator) setControls() {
	e.controls = map[string]bool{}
	for _, c := range e.cfg.ControlZones {
		e.controls[zoneKey(c)] = true
	}
	e.ctlKnown, e.ctlDown = 0, 0
	for _, z := range e.zones {
		z.control = e.controls[z.key]
		if !z.control {
			continue
		}
		for _, s := range z.order {
			if s.decided {
				e.ctlKnown++
			}
			if s.down {
				e.ctlDown++
			}
		}
	}
}

// Ignored reports whether ev is about a zone or resolver that a reload
// removed (a probe that was in flight then): Apply ignores it, and the
// evaluator's owner may skip it too (its metrics).
func (e *Evaluator) Ignored(ev model.Event) bool { return e.ignored(ev) }

func (e *Evaluator) ignored(ev model.Event) bool {
	if len(e.gone) == 0 {
		return false
	}
	switch x := ev.(type) {
	case model.Observation:
		target := x.Target
		if target == "" {
			target = x.Name
		}
		return e.gone["zone "+zoneKey(target)] || x.Server.Kind == model.KindResolver && e.gone["resolver "+x.Server.Name]
	case model.DSCheck:
		return e.gone["zone "+zoneKey(x.Zone)]
	case model.Discovery:
		return e.gone["zone "+zoneKey(x.Zone)]
	}
	return false
}

// closeSlot resolves the open incident of (g, subject) with reason and
// forgets the slot.
func (e *Evaluator) closeSlot(g group, subject string, now time.Time, reason string) {
	s := e.slots[slotKey{g, subject}]
	if s == nil {
		return
	}
	s.cond = false
	if s.inc != nil {
		e.resolve(s, now, reason)
	}
	delete(e.slots, s.key)
	delete(e.pending, s)
}

// removeZone forgets a zone that is no longer configured.
func (e *Evaluator) removeZone(z *zone, now time.Time) {
	for _, g := range []group{groupZone, groupMismatch, groupExpiry, groupDelegation} {
		e.closeSlot(g, z.key, now, ReasonZoneRemoved)
	}
	for _, s := range slices.Clone(z.order) {
		if s.kind == model.KindResolver {
			if res := e.resolvers[s.name]; res != nil {
				e.dropResolverPair(res, z, s)
			}
		}
		e.forgetServer(z, s)
	}
	for _, a := range z.nsAddrs() {
		e.unlinkNS(z, a)
	}
	for _, res := range e.resolvers {
		delete(res.route.zones, z)
	}
	delete(e.zones, z.key)
	e.zoneKeys = nil
	if e.gone == nil {
		e.gone = map[string]bool{}
	}
	e.gone["zone "+z.key] = true
}

// dropResolverPair takes the zone's resolver server s out of the
// resolver's counts.
func (e *Evaluator) dropResolverPair(res *resolver, z *zone, s *server) {
	if s.decided {
		res.known--
	}
	delete(res.downZones, z)
	if s.vseen {
		res.intercept.probed--
		if s.vclass != "" {
			res.intercept.failing--
		}
	}
}

// removeResolver forgets a resolver that is no longer configured.
func (e *Evaluator) removeResolver(name string, now time.Time) {
	e.closeSlot(groupResolver, name, now, ReasonResolverRemoved)
	res := e.resolvers[name]
	for _, z := range e.zones {
		if s := z.server(name); s != nil && s.kind == model.KindResolver {
			e.forgetServer(z, s)
		}
	}
	if res != nil {
		e.dropResolverAddr(res)
	}
	delete(e.resolvers, name)
	e.resOrder = slices.DeleteFunc(e.resOrder, func(n string) bool { return n == name })
	if e.gone == nil {
		e.gone = map[string]bool{}
	}
	e.gone["resolver "+name] = true
}

// dropResolverAddr takes the resolver's address out of the watched roles
// (its address changed, or it was removed).
func (e *Evaluator) dropResolverAddr(res *resolver) {
	if !res.addr.IsValid() {
		return
	}
	if a := e.addrs[res.addr.Unmap().WithZone("")]; a != nil {
		a.resolvers = slices.DeleteFunc(a.resolvers, func(n string) bool { return n == res.name })
		if len(a.resolvers) == 0 {
			e.resAddrs = slices.DeleteFunc(e.resAddrs, func(x *addr) bool { return x == a })
		}
	}
	res.addr = netip.Addr{}
}

// removePeer forgets a BGP neighbor that is no longer configured, with
// the routes it carried.
func (e *Evaluator) removePeer(name string, now time.Time) {
	e.closeSlot(groupFeed, name, now, ReasonPeerRemoved)
	for _, r := range e.routes {
		delete(r.peers, name)
		delete(r.carriers, name)
	}
	delete(e.peers, name)
	e.peerOrder = slices.DeleteFunc(e.peerOrder, func(n string) bool { return n == name })
}

// subjectWatched reports whether a withdrawn or hijack slot's prefix is
// still inside a watched prefix (or, for a withdrawal, still covers a
// watched address).
func (e *Evaluator) subjectWatched(s *slot) bool {
	subject := s.key.subject
	if s.key.g == groupHijack {
		if w, _, ok := parseHijackSubject(subject); ok {
			_, watched := e.watched[w]
			return watched
		}
	}
	p, err := netip.ParsePrefix(subject)
	if err != nil {
		return true // not a prefix subject: leave it to its rule
	}
	if _, inside := e.container(p); inside {
		return true
	}
	if r := e.routes[p]; r != nil && len(r.covers) > 0 {
		return true
	}
	return false
}
