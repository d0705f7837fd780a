package evaluate

import (
	"net/netip"
	"slices"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// The withdrawn group: a watched prefix withdrawn from BGP, unless an
// outage it causes (a zone's, a resolver's) explains it.

// withdrawnVerdict: a watched prefix withdrawn by MinPeers peers, or by
// every peer that had it.
func (e *Evaluator) withdrawnVerdict(r *route) verdict {
	v := verdict{known: true, bgp: true, subjectKind: model.SubjectPrefix}
	if _, exact := e.watched[r.prefix]; !exact {
		return v
	}
	by := e.withdrawnBy(r)
	if by == 0 || (by < e.cfg.MinPeers && len(r.peers) > 0) {
		return v
	}
	// Root cause over symptoms: a zone outage that names the prefix (or a
	// prefix inside it) explains it.
	for _, s := range e.openSlots() {
		if s.key.g != groupZone || s.inc.Kind != model.IncidentBGPOutage {
			continue
		}
		for _, p := range s.inc.Prefixes {
			if r.prefix.Overlaps(p) {
				v.supersededBy = s.inc.ID
				v.kind = model.IncidentPrefixWithdrawn
				return v
			}
		}
	}
	// A resolver the prefix covers is out: its resolver outage (which
	// names the withdrawal) is the root cause. While the resolver is
	// failing but its outage is not decided yet, wait rather than page the
	// withdrawal on its own first.
	for _, name := range e.coveredResolvers(r) {
		if rs := e.slots[slotKey{groupResolver, name}]; rs != nil && rs.inc != nil {
			v.supersededBy = rs.inc.ID
			v.kind = model.IncidentPrefixWithdrawn
			return v
		}
		if e.resolverFailing(name) {
			return verdict{}
		}
	}
	v.kind, v.severity = model.IncidentPrefixWithdrawn, model.SeverityWarning
	v.prefixes = []netip.Prefix{r.prefix}
	if r.lastOrigin != 0 {
		v.asns = []uint32{r.lastOrigin}
	}
	v.affected = e.coveredNames(r)
	f := prefixWithdrawn{watched: r.watched, prefix: r.prefix, seenBy: len(r.peers), peers: e.upPeers(),
		lastOrigin: r.lastOrigin, covers: v.affected}
	f.risBy, f.risCarried = e.risWithdrawal(r)
	v.explain(f)
	v.evidence = slices.Clone(r.ev)
	return v
}

// prefixWithdrawn is the finding of withdrawnVerdict.
type prefixWithdrawn struct {
	watched       model.WatchedPrefix
	prefix        netip.Prefix
	seenBy, peers int    // peers carrying it now, of the peers up
	lastOrigin    uint32 // 0: unknown
	covers        []string
	// risBy of risCarried RIS peers (up, seen carrying it) withdrew it.
	risBy, risCarried int
}

// risWithdrawal counts the RIS Live peers that are up and were seen
// carrying r (carried), and those of them that withdrew it (by).
func (e *Evaluator) risWithdrawal(r *route) (by, carried int) {
	for name := range r.carriers {
		p := e.peers[name]
		if p == nil || !p.up || p.feed != config.RISLiveFeed {
			continue
		}
		carried++
		if _, ok := r.peers[name]; !ok {
			by++
		}
	}
	return by, carried
}

// coveredResolvers lists the resolvers whose addresses lie in r's prefix
// (whether or not the feed named them in the route's Covers).
func (e *Evaluator) coveredResolvers(r *route) []string {
	var out []string
	for _, x := range e.resAddrs {
		if !r.prefix.Contains(x.addr) {
			continue
		}
		for _, n := range x.resolvers {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// resolverFailing reports whether the resolver's latest answers failed
// for some zone (before any threshold is crossed).
func (e *Evaluator) resolverFailing(name string) bool {
	for _, z := range e.zones {
		if s := z.server(name); s != nil && s.kind == model.KindResolver && s.worstRounds() < 0 {
			return true
		}
	}
	return false
}

// coveredNames lists the zones and resolvers whose addresses r covers.
func (e *Evaluator) coveredNames(r *route) []string {
	var out []string
	for _, a := range r.covers {
		x := e.addrs[a]
		if x == nil {
			continue
		}
		for _, z := range x.zones {
			if !slices.Contains(out, z.key) {
				out = append(out, z.key)
			}
		}
		for _, n := range x.resolvers {
			if s := "resolver " + n; !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}
