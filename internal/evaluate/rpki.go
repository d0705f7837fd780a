package evaluate

import (
	"net/netip"
	"slices"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// RPKI origin validation (RFC 6811) of the routes the evaluator tracks:
// the watched prefixes, their more-specifics and the routes covering a
// watched address. The VRPs come as model.RPKIEvent (internal/rpki keeps
// only those overlapping a watched prefix or address), so validating is
// a scan of a short list. Until an event says some source has data
// (Ready) nothing is judged by RPKI: a hijack is critical as without RPKI.
//
// Two rules use it:
//   - a hijack (hijack.go) names the validation state of the offending
//     route and of the legitimate one; with RPKI data an RPKI-invalid
//     hijack is critical, an unknown (not found) or valid one a warning;
//   - rpki_invalid: a route from an origin that is not a hijack (an
//     expected origin, or any origin of a prefix without configured
//     origins) is RPKI-invalid: networks that validate drop it. It opens
//     whether a ROA change or the announcement made it so; critical when
//     the route covers a nameserver or resolver, else a warning.
//
// A route whose origin reachmon cannot tell (origin 0: an AS_SET last, or
// an empty AS path) is not judged.

// rpkiView is what the evaluator knows of the VRPs.
type rpkiView struct {
	ready   bool
	vrps    []model.VRP
	sources []string
}

// validate validates p from origin (ok false without RPKI data).
func (e *Evaluator) validate(p netip.Prefix, origin uint32) (model.Validation, bool) {
	if !e.rpki.ready {
		return model.Validation{}, false
	}
	return model.ValidateOrigin(p, origin, e.rpki.vrps), true
}

// rpkiEvent takes a new set of VRPs: every route's state is judged again
// (a change is evidence on the route) and every rule that uses it runs.
func (e *Evaluator) rpkiEvent(ev model.RPKIEvent, now time.Time) {
	old := e.rpki
	e.rpkiOn = true
	e.rpki = rpkiView{ready: ev.Ready, vrps: ev.VRPs, sources: ev.Sources}
	if old.ready == e.rpki.ready && slices.Equal(old.vrps, e.rpki.vrps) {
		return
	}
	for _, p := range sortedPrefixKeys(e.routes) {
		r := e.routes[p]
		if old.ready && e.rpki.ready {
			for _, o := range r.origins() {
				was := model.ValidateOrigin(p, o, old.vrps)
				is := model.ValidateOrigin(p, o, e.rpki.vrps)
				if was.State != is.State || !slices.Equal(was.VRPs, is.VRPs) {
					r.ev.add(ev.Time, rpkiChangeEvidence(p, o, was, is))
				}
			}
		}
		e.evalRoute(r, now)
	}
	e.rpkiDirty = true
}

// origins lists the origins peers announce r with now, sorted.
func (r *route) origins() []uint32 {
	var out []uint32
	for _, o := range r.peers {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// rpkiTracked reports whether rpki_invalid looks at route r: inside a
// watched prefix or covering a watched address.
func (r *route) rpkiTracked() bool { return r.inside || len(r.covers) > 0 }

// evalRPKI judges the rpki_invalid slot of route r.
func (e *Evaluator) evalRPKI(r *route, now time.Time) {
	if r == nil || !r.rpkiTracked() {
		return
	}
	e.eval(groupRPKI, r.prefix.String(), e.rpkiVerdict(r), now)
}

// rpkiVerdict: origins of r that are not hijacks and are RPKI-invalid.
func (e *Evaluator) rpkiVerdict(r *route) verdict {
	v := verdict{known: true, bgp: true, subjectKind: model.SubjectPrefix}
	if r == nil {
		return v
	}
	if !e.rpki.ready {
		// No VRPs (yet, or any more): an open incident waits for data
		// rather than resolving on none, unless no source is configured
		// any more (an incident restored after [rpki] was removed).
		v.known = !e.rpkiOn
		return v
	}
	f := rpkiInvalidFound{route: r.prefix, watched: r.watched, peers: e.upPeers()}
	if _, exact := e.watched[r.prefix]; exact {
		f.exact = true
	}
	seen := map[string]bool{}
	for _, o := range r.origins() {
		if o == 0 || slices.Contains(r.hijackOrigins, o) {
			// A hijack tells it; origin 0 is one reachmon cannot tell (an
			// AS_SET, or an empty AS path from an iBGP peer, which RFC
			// 6811 takes as the peer's own AS): not judged.
			continue
		}
		val := model.ValidateOrigin(r.prefix, o, e.rpki.vrps)
		if val.State != model.RPKIInvalid {
			continue
		}
		f.origins = append(f.origins, originState{origin: o, val: val})
		for peer, po := range r.peers {
			if po == o {
				seen[peer] = true
			}
		}
	}
	if len(f.origins) == 0 {
		return v
	}
	f.seenBy = len(seen)
	f.covers = e.coveredNames(r)
	v.kind, v.severity = model.IncidentRPKIInvalid, model.SeverityWarning
	if len(f.covers) > 0 {
		v.severity = model.SeverityCritical
	}
	v.prefixes = []netip.Prefix{r.prefix}
	for _, o := range f.origins {
		v.asns = append(v.asns, o.origin)
	}
	v.affected = f.covers
	v.evidence = slices.Clone(r.ev)
	v.explain(f)
	return v
}

// originState is the validation of a route from one origin.
type originState struct {
	origin uint32
	val    model.Validation
}

// rpkiInvalidFound is the finding of rpkiVerdict.
type rpkiInvalidFound struct {
	route   netip.Prefix
	watched model.WatchedPrefix
	exact   bool // route is the watched prefix itself
	origins []originState
	// seenBy of peers up announce it from an invalid origin.
	seenBy, peers int
	covers        []string
}

// hijackRPKI is the validation of a hijack's routes and of the
// legitimate route (hijackVerdict).
type hijackRPKI struct {
	// offending is the first RPKI-invalid route of the hijack (else its
	// first route); invalid counts its invalid routes of all.
	offending      netip.Prefix
	offendingState model.Validation
	invalid, all   int
	// legit is the watched prefix from its expected origin (one carried
	// now if any), validated.
	legit       netip.Prefix
	legitOrigin uint32
	legitState  model.Validation
}

// hijackValidation validates a hijack's routes; ok false without RPKI
// data.
func (e *Evaluator) hijackValidation(w model.WatchedPrefix, origin uint32, routes []netip.Prefix) (hijackRPKI, bool) {
	if !e.rpki.ready || len(routes) == 0 || origin == 0 {
		return hijackRPKI{}, false
	}
	h := hijackRPKI{all: len(routes), offending: routes[0]}
	for i, p := range routes {
		val := model.ValidateOrigin(p, origin, e.rpki.vrps)
		if i == 0 {
			h.offendingState = val
		}
		if val.State == model.RPKIInvalid {
			if h.invalid == 0 {
				h.offending, h.offendingState = p, val
			}
			h.invalid++
		}
	}
	h.legit = w.Prefix
	if len(w.Origins) > 0 {
		h.legitOrigin = w.Origins[0]
		if r := e.routes[w.Prefix]; r != nil {
			for _, o := range r.origins() {
				if slices.Contains(w.Origins, o) {
					h.legitOrigin = o
					break
				}
			}
		}
		h.legitState = model.ValidateOrigin(h.legit, h.legitOrigin, e.rpki.vrps)
	}
	return h, true
}

// RPKIRouteStates returns the validation state of each watched prefix's
// route from each origin announcing it now (reachmon_rpki_route_state),
// and whether it may have changed since the last call. Without RPKI data
// it is empty.
func (e *Evaluator) RPKIRouteStates() ([]model.RPKIRoute, bool) {
	changed := e.rpkiDirty
	e.rpkiDirty = false
	if !e.rpki.ready {
		return nil, changed
	}
	var out []model.RPKIRoute
	for _, p := range sortedPrefixKeys(e.watched) {
		r := e.routes[p]
		if r == nil {
			continue
		}
		for _, o := range r.origins() {
			if o == 0 {
				continue
			}
			out = append(out, model.RPKIRoute{Prefix: p, Origin: o, State: model.ValidateOrigin(p, o, e.rpki.vrps).State})
		}
	}
	return out, changed
}

// sortedPrefixKeys lists a prefix-keyed map's keys in prefix order.
func sortedPrefixKeys[V any](m map[netip.Prefix]V) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefix)
	return out
}
