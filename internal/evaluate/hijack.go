package evaluate

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// A hijack is one incident per watched prefix and unexpected origin AS,
// whatever number of routes inside the prefix that AS originates (an
// attacker announcing every /24 of a /16 is one page, not 256): the
// slot's subject is "<watched prefix> AS<origin>" ("198.51.100.0/24
// AS64511") and the routes are its prefixes and evidence.

// hijack is the routes inside one watched prefix that one unexpected
// origin AS originates now (at one peer at least).
type hijack struct {
	watched model.WatchedPrefix
	origin  uint32
	routes  map[netip.Prefix]bool
}

// DefaultMaxMoreSpecifics bounds the more-specifics of one watched prefix
// that the evaluator tracks: beyond it new ones are dropped and counted,
// so that a flood of more-specifics cannot grow memory without limit.
// It is twice the BGP feed's bound (bgp.DefaultMaxMoreSpecifics), which
// counts the routes carried now, since the evaluator keeps a withdrawn
// route for a minute or two. Routes covering a watched address are always
// tracked.
const DefaultMaxMoreSpecifics = 8192

// maxHijackListed bounds the prefixes an incident lists; the root cause
// names the first hijackNamed of them.
const (
	maxHijackListed = 64
	hijackNamed     = 8
)

// hijackSubject is the subject of the hijack incident of origin inside w.
func hijackSubject(w netip.Prefix, origin uint32) string {
	return w.String() + " AS" + strconv.FormatUint(uint64(origin), 10)
}

// parseHijackSubject splits a hijack subject; false for anything else
// (a subject from before hijacks were grouped, which was one route).
func parseHijackSubject(s string) (netip.Prefix, uint32, bool) {
	p, as, ok := strings.Cut(s, " AS")
	if !ok {
		return netip.Prefix{}, 0, false
	}
	w, err := netip.ParsePrefix(p)
	if err != nil {
		return netip.Prefix{}, 0, false
	}
	o, err := strconv.ParseUint(as, 10, 32)
	if err != nil {
		return netip.Prefix{}, 0, false
	}
	return w, uint32(o), true
}

// trackHijack files route r under the (watched prefix, origin) groups of
// its unexpected origins, and judges every group it joined, stayed in or
// left.
func (e *Evaluator) trackHijack(r *route, origins []uint32, now time.Time) {
	old := r.hijackOrigins
	r.hijackOrigins = origins
	all := slices.Clone(origins)
	for _, o := range old {
		if !slices.Contains(all, o) {
			all = append(all, o)
		}
	}
	slices.Sort(all)
	for _, o := range all {
		subj := hijackSubject(r.watched.Prefix, o)
		h := e.hijacks[subj]
		if slices.Contains(origins, o) {
			if h == nil {
				h = &hijack{watched: r.watched, origin: o, routes: map[netip.Prefix]bool{}}
				e.hijacks[subj] = h
			}
			h.routes[r.prefix] = true
		} else if h != nil {
			delete(h.routes, r.prefix)
			if len(h.routes) == 0 {
				delete(e.hijacks, subj)
			}
		}
		e.eval(groupHijack, subj, e.hijackVerdict(subj), now)
	}
}

// hijackVerdict: routes inside a watched prefix (or the prefix itself)
// are originated by an AS it does not expect.
func (e *Evaluator) hijackVerdict(subject string) verdict {
	v := verdict{known: true, bgp: true, subjectKind: model.SubjectPrefix}
	h := e.hijacks[subject]
	if h == nil {
		return v
	}
	var pfxs []netip.Prefix
	peers := map[string]bool{}
	for p := range h.routes {
		r := e.routes[p]
		if r == nil {
			continue
		}
		carried := false
		for peer, o := range r.peers {
			if o == h.origin {
				peers[peer], carried = true, true
			}
		}
		if carried {
			pfxs = append(pfxs, p)
		}
	}
	if len(pfxs) == 0 {
		return v
	}
	slices.SortFunc(pfxs, comparePrefix)
	v.kind, v.severity = model.IncidentHijack, model.SeverityCritical
	rv, withRPKI := e.hijackValidation(h.watched, h.origin, pfxs)
	if withRPKI && rv.invalid == 0 {
		// RPKI does not say it is wrong (no ROA covers it, or one
		// authorizes the origin): a warning.
		v.severity = model.SeverityWarning
	}
	v.asns = []uint32{h.origin}
	v.prefixes = pfxs[:min(len(pfxs), maxHijackListed)]
	for _, p := range pfxs {
		r := e.routes[p]
		for _, n := range e.coveredNames(r) {
			if !slices.Contains(v.affected, n) {
				v.affected = append(v.affected, n)
			}
		}
		v.evidence = append(v.evidence, r.ev...)
	}
	slices.Sort(v.affected)
	slices.SortStableFunc(v.evidence, func(a, b model.EvidenceItem) int { return a.Time.Compare(b.Time) })
	f := hijackFound{watched: h.watched, origin: h.origin, routes: pfxs, seenBy: len(peers), peers: e.upPeers(), covers: v.affected}
	if withRPKI {
		f.rpki = &rv
	}
	if e.msOverflow[h.watched.Prefix] > 0 {
		f.tracked = e.maxMoreSpecifics
	}
	v.explain(f)
	return v
}

// hijackFound is the finding of hijackVerdict.
type hijackFound struct {
	watched model.WatchedPrefix
	origin  uint32
	// routes are every route the origin announces inside watched, sorted
	// (the watched prefix itself first when it is one of them).
	routes        []netip.Prefix
	seenBy, peers int // peers seeing the origin, of the peers up
	covers        []string
	// tracked is the bound of more-specifics tracked when more were
	// dropped (0: none was).
	tracked int
	// rpki is the validation of the routes (nil: no RPKI data).
	rpki *hijackRPKI
}

// exact reports whether the watched prefix itself is hijacked, and how
// many more-specifics are.
func (f hijackFound) exact() (bool, int) {
	exact := f.routes[0] == f.watched.Prefix
	more := len(f.routes)
	if exact {
		more--
	}
	return exact, more
}

// hijackHeld lists the routes a hijack slot still names (kept from
// pruning while the slot lives).
func (e *Evaluator) hijackHeld() map[netip.Prefix]bool {
	out := map[netip.Prefix]bool{}
	for k, s := range e.slots {
		if k.g != groupHijack {
			continue
		}
		for _, p := range s.v.prefixes {
			out[p] = true
		}
	}
	for _, h := range e.hijacks {
		for p := range h.routes {
			out[p] = true
		}
	}
	return out
}

// admitRoute returns the route of p, creating it unless p is a new
// more-specific of a watched prefix that already has maxMoreSpecifics of
// them (then it counts the overflow and returns nil; the first overflow
// is told by the prefix's hijacks). Routes that cover a watched address
// and the watched prefixes themselves are always admitted.
func (e *Evaluator) admitRoute(p netip.Prefix, watched netip.Prefix, covers bool, now time.Time) *route {
	if r := e.routes[p]; r != nil {
		return r
	}
	w, inside := e.container(p)
	if !inside && watched.IsValid() {
		w.Prefix, inside = watched.Masked(), true
	}
	if !inside || w.Prefix == p || covers {
		return e.route(p)
	}
	if e.msCount[w.Prefix] >= e.maxMoreSpecifics {
		e.msOverflow[w.Prefix]++
		if e.msOverflow[w.Prefix] == 1 {
			for _, subj := range sortedKeys(e.hijackSubjects(w.Prefix)) {
				e.eval(groupHijack, subj, e.hijackVerdict(subj), now)
			}
		}
		return nil
	}
	r := e.route(p)
	r.countedIn = w.Prefix
	e.msCount[w.Prefix]++
	return r
}

// hijackSubjects lists the hijack groups of watched prefix w.
func (e *Evaluator) hijackSubjects(w netip.Prefix) map[string]bool {
	out := map[string]bool{}
	for subj, h := range e.hijacks {
		if h.watched.Prefix == w {
			out[subj] = true
		}
	}
	return out
}

// forgetRoute deletes a pruned route and its count.
func (e *Evaluator) forgetRoute(p netip.Prefix) {
	if r := e.routes[p]; r != nil && r.countedIn.IsValid() {
		if e.msCount[r.countedIn]--; e.msCount[r.countedIn] <= 0 {
			delete(e.msCount, r.countedIn)
		}
	}
	delete(e.routes, p)
	delete(e.orphans, p)
}
