package evaluate

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// The resolver group: a resolver failing for nearly every zone while
// another answers is in outage, and is left out of the zones' verdicts
// (resolver_route.go: at once when its own route is withdrawn).

// evalResolvers evaluates every resolver's outage slot; a change of one
// re-evaluates the zones where it fails (their verdicts leave it out).
func (e *Evaluator) evalResolvers(now time.Time) {
	for _, name := range e.resOrder {
		s := e.slots[slotKey{groupResolver, name}]
		before := s != nil && s.cond
		e.eval(groupResolver, name, e.resolverVerdict(name), now)
		s = e.slots[slotKey{groupResolver, name}]
		after := s != nil && s.cond
		if before != after {
			for _, z := range e.zonesWhereDown(name) {
				e.evalZone(z, now)
			}
		}
	}
}

func (e *Evaluator) zonesWhereDown(name string) []*zone {
	r := e.resolvers[name]
	if r == nil {
		return nil
	}
	out := make([]*zone, 0, len(r.downZones))
	for z := range r.downZones {
		out = append(out, z)
	}
	slices.SortFunc(out, func(a, b *zone) int { return strings.Compare(a.key, b.key) })
	return out
}

// resolverOutageShare: a resolver failing for at least this share of the
// zones it answers for, while another resolver fails for less than half
// of its zones, is in outage.
const resolverOutageShare = 0.8

func (e *Evaluator) resolverVerdict(name string) verdict {
	v := verdict{known: true, subjectKind: model.SubjectResolver}
	r := e.resolvers[name]
	routeGone := e.routeWithdrawnAndFailing(r) // its own route withdrawn: no need to wait for open_rounds
	if !routeGone && r != nil && r.known == 0 && len(e.zones) > 0 {
		// No zone has a verdict through it yet (start, or a restart with
		// a restored incident): unknown, not "answers again".
		return verdict{}
	}
	if !routeGone && (r == nil || r.known == 0 || r.down() == 0 || float64(r.down()) < resolverOutageShare*float64(r.known)) {
		return v
	}
	var fine []string
	for _, o := range e.resOrder {
		x := e.resolvers[o]
		if o != name && x.known > 0 && x.down()*2 < x.known {
			fine = append(fine, o)
		}
	}
	if len(fine) == 0 {
		return v // every resolver fails: the zones or the vantage, not one resolver
	}
	v.kind, v.severity = model.IncidentResolverOutage, model.SeverityWarning
	v.resolvers = []string{name}
	v.evidence = slices.Clone(r.ev)
	found := resolverOutage{resolver: name, scope: everyZone, down: r.down(), known: r.known, class: r.class, answering: fine}
	down := r.downZones
	switch {
	case routeGone && (r.known == 0 || float64(r.down()) < resolverOutageShare*float64(r.known)):
		found.scope, found.class, down = sinceRouteWithdrawn, r.route.failClass, r.routeFailedZones()
	case r.down() < r.known:
		found.scope = nearlyEveryZone
	}
	if a := e.addrs[r.addr]; r.addr.IsValid() && a != nil && a.degraded && a.healthy.IsValid() {
		v.prefixes = []netip.Prefix{a.healthy}
		v.asns = e.lastOrigins(a.healthy, a.healthyOrigins)
		found.ownRoute, found.origins = a.healthy, v.asns
		v.evidence = append(v.evidence, a.ev...)
	}
	v.explain(found)
	v.affected = e.smallestZones(down, 20)
	return v
}

// resolverScope is which zones a resolver outage finding says fail.
type resolverScope uint8

const (
	everyZone           resolverScope = iota
	nearlyEveryZone                   // at least resolverOutageShare of them
	sinceRouteWithdrawn               // every zone probed since its own route was withdrawn
)

// resolverOutage is the finding of resolverVerdict.
type resolverOutage struct {
	resolver    string
	scope       resolverScope
	down, known int    // zones it fails for, of those it was judged for
	class       string // how it fails
	answering   []string
	// ownRoute is its own route when withdrawn from BGP, with its last
	// origins.
	ownRoute netip.Prefix
	origins  []uint32
}

// smallestZones returns up to n zone names of m, sorted (without sorting
// all of m).
func (e *Evaluator) smallestZones(m map[*zone]bool, n int) []string {
	out := make([]string, 0, n)
	for z := range m {
		i, _ := slices.BinarySearch(out, z.key)
		if i >= n {
			continue
		}
		if len(out) == n {
			out = out[:n-1]
		}
		out = slices.Insert(out, i, z.key)
	}
	return out
}
