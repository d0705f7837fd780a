package evaluate

import (
	"cmp"
	"fmt"
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
		material = append(material, "impact began")
	}
	recovery = st.line(e, s.key.subject)
	switch {
	case is && !was:
		material = append(material, "recovery began: "+recovery)
	case was && !is:
		ev = append(ev, model.EvidenceItem{Time: now, Text: "recovery interrupted: the condition is back"})
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
	add := func(format string, args ...any) {
		ev = append(ev, model.EvidenceItem{Time: now, Text: "recovery: " + fmt.Sprintf(format, args...)})
	}
	cleared := v.kind == ""
	if !cleared {
		st.cleared = time.Time{}
	}
	// weaker: v explains less than the diagnosis.
	weaker := cleared || !outranks(v, d)
	if d.kind == model.IncidentHijack {
		// A hijacked route no longer listed by the verdict is no longer
		// originated by the unexpected AS.
		for _, p := range d.prefixes {
			_, had := st.routes[p]
			gone := cleared || !slices.Contains(v.prefixes, p)
			switch {
			case gone && !had:
				if st.routes == nil {
					st.routes = map[netip.Prefix]time.Time{}
				}
				st.routes[p] = now
				if !cleared {
					add("%s is no longer originated by %s", p, asList(d.asns))
				}
			case !gone && had:
				delete(st.routes, p)
			}
		}
	}
	if withdrawnKind(d.kind) {
		for _, p := range d.prefixes {
			r := e.routes[p]
			back := r != nil && len(r.peers) > 0
			_, had := st.routes[p]
			switch {
			case back && !had:
				if st.routes == nil {
					st.routes = map[netip.Prefix]time.Time{}
				}
				st.routes[p] = now
				add("%s is seen again (%d peers)", p, len(r.peers))
			case !back && had:
				delete(st.routes, p)
			}
		}
	}
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
				add("%s %s %s", what, n, againVerb(d.kind))
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
			add("%s", detailsBack(d.kind))
		case !back:
			st.details = time.Time{}
		}
	}
	if cleared && st.cleared.IsZero() {
		st.cleared = now
		add("%s", clearedText(d.kind, s.key.subject))
	}
	return ev
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
		srv := z.servers[name]
		return srv != nil && srv.decided && !srv.down && !srv.mismatched
	case groupResolver:
		r := e.resolvers[name]
		return r != nil && r.known > 0 && r.down() == 0
	}
	return false
}

// againVerb says that a resolver or server is fine again.
func againVerb(k model.IncidentKind) string {
	if k == model.IncidentAnswerMismatch {
		return "answers as expected again"
	}
	return "answers again"
}

// detailsBack says that a diagnosis's detail went away.
func detailsBack(k model.IncidentKind) string {
	if k == model.IncidentDNSSEC {
		return "the DS record matches a DNSKEY of the zone again"
	}
	return "the detail of the diagnosis is gone"
}

// clearedText says that the condition of an incident of kind k about
// subject cleared.
func clearedText(k model.IncidentKind, subject string) string {
	switch k {
	case model.IncidentBGPOutage, model.IncidentAuthOutage:
		return subject + " resolves again"
	case model.IncidentDNSSEC:
		return subject + " validates again"
	case model.IncidentResolverOutage:
		return "resolver " + subject + " answers again"
	case model.IncidentHijack:
		return "no unexpected origin is seen any more"
	case model.IncidentPrefixWithdrawn:
		return subject + " is seen again"
	case model.IncidentFeedLost:
		return "the session is back"
	case model.IncidentVantageDown:
		return "the checks answer again"
	case model.IncidentAnswerMismatch:
		return "the answers are as expected again"
	case model.IncidentDNSSECExpiry:
		return "the signatures of " + subject + " were renewed past the warning horizon"
	case model.IncidentDelegation:
		return "the delegation of " + subject + " is consistent again"
	case model.IncidentDelegationRemoved:
		return subject + " is delegated and resolves again"
	case model.IncidentRecordMissing, model.IncidentResolverNXDomain:
		return "the names of " + subject + " resolve again"
	}
	return "the condition cleared"
}

// line renders the recovery milestones in time order: "routes
// re-announced 15:52:10, resolvers answer again 15:53:40".
func (st *story) line(e *Evaluator, subject string) string {
	type part struct {
		t    time.Time
		text string
	}
	var parts []part
	d := st.diag
	latest := func(m map[string]time.Time) time.Time {
		var t time.Time
		for _, x := range m {
			if x.After(t) {
				t = x
			}
		}
		return t
	}
	if n := len(st.routes); n > 0 {
		var t time.Time
		for _, x := range st.routes {
			if x.After(t) {
				t = x
			}
		}
		done := "re-announced"
		if d.kind == model.IncidentHijack {
			done = "no longer originated by " + asList(d.asns)
		}
		switch {
		case n == len(d.prefixes) && n == 1:
			parts = append(parts, part{t, fmt.Sprintf("route %s %s %s", d.prefixes[0], done, clock(t))})
		case n == len(d.prefixes):
			parts = append(parts, part{t, fmt.Sprintf("routes %s %s", done, clock(t))})
		default:
			parts = append(parts, part{t, fmt.Sprintf("%d of %d routes %s (latest %s)", n, len(d.prefixes), done, clock(t))})
		}
	}
	names := func(m map[string]time.Time, all []string, one, many string) {
		n := len(m)
		if n == 0 {
			return
		}
		t := latest(m)
		verb := againVerb(d.kind)
		switch {
		case n == len(all) && n == 1:
			parts = append(parts, part{t, fmt.Sprintf("%s %s %s %s", one, all[0], verb, clock(t))})
		case n == len(all):
			parts = append(parts, part{t, fmt.Sprintf("%s %s %s", many, strings.Replace(verb, "answers", "answer", 1), clock(t))})
		default:
			parts = append(parts, part{t, fmt.Sprintf("%d of %d %s %s (latest %s)", n, len(all), many, strings.Replace(verb, "answers", "answer", 1), clock(t))})
		}
	}
	names(st.resolvers, d.resolvers, "resolver", "resolvers")
	names(st.servers, d.servers, "authoritative server", "authoritative servers")
	if !st.details.IsZero() {
		parts = append(parts, part{st.details, detailsBack(d.kind) + " " + clock(st.details)})
	}
	// The condition cleared: said unless resolvers or servers answering
	// again (or a withdrawn prefix seen again) already say it.
	if !st.cleared.IsZero() && len(st.resolvers) == 0 && len(st.servers) == 0 &&
		(d.kind != model.IncidentPrefixWithdrawn || len(st.routes) == 0) && d.kind != model.IncidentHijack {
		parts = append(parts, part{st.cleared, clearedText(d.kind, subject) + " " + clock(st.cleared)})
	}
	slices.SortStableFunc(parts, func(a, b part) int { return a.t.Compare(b.t) })
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.text
	}
	return strings.Join(out, ", ")
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05") }

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

// newlyAffected says which servers, resolvers and prefixes an update adds
// to the incident ("resolvers resolver1, resolver2; prefix 192.0.2.0/24").
func newlyAffected(before, after *model.Incident) string {
	var parts []string
	list := func(one, many string, xs []string) {
		switch len(xs) {
		case 0:
		case 1:
			parts = append(parts, one+" "+xs[0])
		default:
			parts = append(parts, many+" "+strings.Join(xs, ", "))
		}
	}
	list("resolver", "resolvers", newly(before.Resolvers, after.Resolvers))
	list("server", "servers", newly(before.Servers, after.Servers))
	var ps []string
	for _, p := range newly(before.Prefixes, after.Prefixes) {
		ps = append(ps, p.String())
	}
	list("prefix", "prefixes", ps)
	return strings.Join(parts, "; ")
}
