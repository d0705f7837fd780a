package evaluate

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// The story an incident tells, from the page to the resolve.
//
// A verdict is recomputed from the current state, so while an incident
// recovers it passes through half-recovered states ("the routes to 1 of
// 4 nameservers were withdrawn ..."). The incident keeps its diagnosis,
// the explanation at its worst point, with the prefixes, servers,
// resolvers, ASNs and names it ever named; a worse severity or a
// reclassification replaces it, a partial explanation never does. The
// recovery is told as milestones: evidence items and the incident's
// Recovery line ("routes re-announced 15:52:10, resolvers answer again
// 15:53:40").

// story is a slot's diagnosis and recovery.
type story struct {
	// diag is the worst verdict seen, its lists replaced by their unions
	// over the incident's life.
	diag verdict
	// impactBegan: the early warning's forecast came true, or there was
	// none; no new time to impact is shown after it.
	impactBegan bool
	// Recovery milestones: when each diagnosed route was seen again, each
	// diagnosed resolver or server answered again, the detail (the DS key
	// tag) went away, the condition cleared.
	routes    map[netip.Prefix]time.Time
	resolvers map[string]time.Time
	servers   map[string]time.Time
	details   time.Time
	cleared   time.Time
}

// maxUnion bounds each list of an incident.
const maxUnion = 64

// newStory starts the story of an incident opened with verdict v.
func newStory(v verdict) story {
	st := story{impactBegan: v.impactAt.IsZero()}
	st.diag = v
	st.diag.prefixes = slices.Clone(v.prefixes)
	st.diag.servers = slices.Clone(v.servers)
	st.diag.resolvers = slices.Clone(v.resolvers)
	st.diag.asns = slices.Clone(v.asns)
	st.diag.affected = slices.Clone(v.affected)
	return st
}

// outranks reports whether v replaces the diagnosis d: a worse severity,
// a reclassification at the same severity, or the same kind explaining
// everything d does — every prefix, server, resolver, ASN and name of its
// lists (the unions over the incident's life) and its details (a DS key
// tag) — when the newer wording wins. A verdict that names less (the
// covering /23 re-announced before the /24s, a resolver answering again)
// is a half-recovered state, not a better explanation.
func outranks(v, d verdict) bool {
	if r, rd := v.severity.Rank(), d.severity.Rank(); r != rd {
		return r > rd
	}
	if v.kind != d.kind {
		return true
	}
	return v.details >= d.details && superset(v.prefixes, d.prefixes) && superset(v.servers, d.servers) &&
		superset(v.resolvers, d.resolvers) && superset(v.asns, d.asns) && superset(v.affected, d.affected)
}

// superset reports whether a holds every element of b.
func superset[T comparable](a, b []T) bool {
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// recovering reports whether some recovery milestone was reached.
func (st *story) recovering() bool {
	return len(st.routes) > 0 || len(st.resolvers) > 0 || len(st.servers) > 0 || !st.details.IsZero() || !st.cleared.IsZero()
}

// tell folds verdict v (the current state; no kind when the condition
// has cleared) into the story and returns what the incident shows: the
// diagnosis with the current time to impact and evidence, the recovery
// line, what is material about the change, and the recovery evidence.
func (e *Evaluator) tell(s *slot, v verdict, now time.Time) (shown verdict, recovery string, material []string, ev []model.EvidenceItem) {
	st := &s.story
	was := st.recovering()
	if v.kind != "" {
		if outranks(v, st.diag) {
			old := st.diag
			st.diag = v
			st.diag.prefixes, st.diag.servers, st.diag.resolvers = old.prefixes, old.servers, old.resolvers
			st.diag.asns, st.diag.affected = old.asns, old.affected
		}
	}
	if v.kind != "" && v.kind == st.diag.kind {
		// The lists of a verdict of another kind that did not replace the
		// diagnosis (a less severe state while recovering) are not the
		// incident's.
		st.diag.prefixes = union(st.diag.prefixes, v.prefixes, comparePrefix)
		st.diag.servers = union(st.diag.servers, v.servers, strings.Compare)
		st.diag.resolvers = union(st.diag.resolvers, v.resolvers, strings.Compare)
		st.diag.asns = union(st.diag.asns, v.asns, cmp.Compare[uint32])
		st.diag.affected = union(st.diag.affected, v.affected, strings.Compare)
	}
	ev = e.milestones(s, v, now)
	is := st.recovering()
	if !st.impactBegan && v.kind != "" && !is && v.impactAt.IsZero() {
		st.impactBegan = true
		material = append(material, impactBegan)
	}
	recovery = st.line(s.key.subject)
	switch {
	case is && !was:
		material = append(material, recoveryBegan(recovery))
	case was && !is:
		ev = append(ev, model.EvidenceItem{Time: now, Text: recoveryInterrupted})
	}
	shown = st.diag
	shown.impactAt = time.Time{}
	if !st.impactBegan && !is && v.kind != "" {
		shown.impactAt = v.impactAt
	}
	shown.evidence = v.evidence
	return shown, recovery, material, ev
}

// withdrawnKind: the kinds whose prefixes are routes that were withdrawn
// (seeing them again is recovery; a hijack's prefix is the problem).
func withdrawnKind(k model.IncidentKind) bool {
	return k == model.IncidentBGPOutage || k == model.IncidentResolverOutage || k == model.IncidentPrefixWithdrawn
}

// milestones records the recovery milestones verdict v shows and returns
// an evidence item for each one reached; a milestone undone (a route
// withdrawn again, a resolver failing again) is forgotten.
func (e *Evaluator) milestones(s *slot, v verdict, now time.Time) []model.EvidenceItem {
	st := &s.story
	d := st.diag
	var ev []model.EvidenceItem
	add := func(milestone string) {
		ev = append(ev, model.EvidenceItem{Time: now, Text: recoveryEvidence(milestone)})
	}
	cleared := v.kind == ""
	if !cleared {
		st.cleared = time.Time{}
	}
	// weaker: v explains less than the diagnosis.
	weaker := cleared || !outranks(v, d)
	e.routeMilestones(st, v, now, add)
	names := func(m *map[string]time.Time, diag []string, what string) {
		for _, n := range diag {
			_, had := (*m)[n]
			ok := cleared || e.answering(s, n)
			switch {
			case !had && ok:
				if *m == nil {
					*m = map[string]time.Time{}
				}
				(*m)[n] = now
				add(what + " " + n + " " + againVerb(d.kind))
			case had && !ok:
				delete(*m, n)
			}
		}
	}
	names(&st.resolvers, d.resolvers, "resolver")
	if d.kind != model.IncidentBGPOutage && d.kind != model.IncidentDNSSECExpiry && d.kind != model.IncidentDelegation {
		// A BGP-caused outage names the servers whose routes were
		// withdrawn: their routes tell its recovery. The forecasts'
		// servers never stopped answering (or left the delegation).
		names(&st.servers, d.servers, "authoritative server")
	}
	if d.details > 0 {
		back := cleared || (weaker && v.details < d.details)
		switch {
		case back && st.details.IsZero():
			st.details = now
			add(detailsBack(d.kind))
		case !back:
			st.details = time.Time{}
		}
	}
	if cleared && st.cleared.IsZero() {
		st.cleared = now
		add(clearedText(d.kind, s.key.subject))
	}
	return ev
}

// routeMilestones records the routes of the diagnosis that recovered:
// a hijacked route the unexpected AS no longer originates, a withdrawn
// route seen again.
func (e *Evaluator) routeMilestones(st *story, v verdict, now time.Time, add func(string)) {
	d := st.diag
	cleared := v.kind == ""
	reached := func(p netip.Prefix, ok bool) bool {
		_, had := st.routes[p]
		switch {
		case ok && !had:
			if st.routes == nil {
				st.routes = map[netip.Prefix]time.Time{}
			}
			st.routes[p] = now
			return true
		case !ok && had:
			delete(st.routes, p)
		}
		return false
	}
	if d.kind == model.IncidentHijack {
		// A hijacked route no longer listed by the verdict is no longer
		// originated by the unexpected AS.
		for _, p := range d.prefixes {
			if reached(p, cleared || !slices.Contains(v.prefixes, p)) && !cleared {
				add(notOriginatedText(p, d.asns))
			}
		}
	}
	if withdrawnKind(d.kind) {
		for _, p := range d.prefixes {
			r := e.routes[p]
			if reached(p, r != nil && len(r.peers) > 0) {
				add(routeBackText(p, len(r.peers)))
			}
		}
	}
}

// answering reports whether the resolver or server name that incident
// slot s diagnosed answers well again: a zone's server decided up (and
// answering as expected), a resolver failing for no zone. A name that
// left the verdict for another reason (a resolver excluded because its
// own outage explains it) is not recovery.
func (e *Evaluator) answering(s *slot, name string) bool {
	switch s.key.g {
	case groupZone, groupMismatch:
		z := e.zones[s.key.subject]
		if z == nil {
			return false
		}
		srv := z.server(name)
		return srv != nil && srv.decided && !srv.down && !srv.mismatched
	case groupResolver:
		r := e.resolvers[name]
		return r != nil && r.known > 0 && r.down() == 0
	}
	return false
}

// union returns a with the elements of b it lacks, sorted when any was
// added; it stops growing at maxUnion. a itself is never modified.
func union[T comparable](a, b []T, cmp func(x, y T) int) []T {
	var out []T
	for _, x := range b {
		if slices.Contains(a, x) || slices.Contains(out, x) {
			continue
		}
		out = append(out, x)
	}
	if room := maxUnion - len(a); len(out) > room {
		out = out[:max(room, 0)]
	}
	if len(out) == 0 {
		return a
	}
	all := append(slices.Clone(a), out...)
	slices.SortFunc(all, cmp)
	return all
}

// newly lists the elements of after missing from before.
func newly[T comparable](before, after []T) []T {
	var out []T
	for _, x := range after {
		if !slices.Contains(before, x) {
			out = append(out, x)
		}
	}
	return out
}
