package evaluate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Negative answers: a configured name that stops existing is an outage.
// NXDOMAIN, and NODATA (NOERROR without an answer of the asked type and
// without a CNAME or DNAME to follow), are failures of their own classes;
// the rules below tell apart where the name went missing: at the parent
// (delegation_removed), at the authoritative servers (record_missing) or
// only at resolvers (resolver_nxdomain).

// Failure classes of negative answers.
const (
	classNXDomain = model.NegativeNXDomain
	classNoData   = model.NegativeNoData
)

// negativeRecheck bounds how long a resolver-side verdict waits for a
// discovery newer than the resolvers' first negative answer: the
// scheduler asks the parent again when resolvers start saying NXDOMAIN,
// and a removed delegation must not page first as a resolver problem.
const negativeRecheck = 30 * time.Second

// isNegative reports whether a failure class is a negative answer.
func isNegative(class string) bool { return class == classNXDomain || class == classNoData }

// negative returns the negative class of an answered observation ("" when
// the answer is a positive one): model.Observation.Negative.
func negative(o model.Observation) string { return o.Negative() }

// delegation is what the parent's servers last said of a zone.
type delegation struct {
	status model.DelegationStatus
	detail string
	// at is when it was last reported; since when the status began.
	at, since time.Time
	// wasOK: the parent was seen delegating the zone.
	wasOK bool
}

func (d *delegation) bad() bool {
	return d != nil && (d.status == model.DelegationNXDomain || d.status == model.DelegationNoNS)
}

// noteDelegation records the parent's answer of a discovery and reports
// whether a discovery said anything about it. A discovery whose parent
// could not be asked ("") keeps what was known.
func (e *Evaluator) noteDelegation(z *zone, d model.Discovery) bool {
	if d.Delegation == "" {
		return false
	}
	p := z.deleg
	if p == nil {
		p = &delegation{}
		z.deleg = p
	}
	if p.status != d.Delegation {
		wasBad := p.bad()
		p.status, p.since = d.Delegation, d.Time
		switch {
		case p.bad():
			z.ev.add(d.Time, "parent of %s: %s", z.key, firstNonEmpty(d.DelegationDetail, string(d.Delegation)))
		case wasBad:
			z.ev.add(d.Time, "the parent delegates %s again", z.key)
		}
	}
	p.detail, p.at = d.DelegationDetail, d.Time
	if d.Delegation == model.DelegationOK {
		p.wasOK = true
	}
	return true
}

// negativeVerdict applies the negative-answer rules to a zone; it returns
// false when none applies (the other zone rules decide).
func (e *Evaluator) negativeVerdict(z *zone, f zoneFacts, v *verdict, now time.Time) bool {
	var resNeg, authNeg, authOther []*server
	for _, s := range f.resDown {
		if isNegative(s.class) {
			resNeg = append(resNeg, s)
		}
	}
	for _, s := range f.authDown {
		if isNegative(s.class) {
			authNeg = append(authNeg, s)
		} else {
			authOther = append(authOther, s)
		}
	}
	d := z.deleg
	switch {
	case d.bad() && len(f.resDown) > 0:
		v.kind, v.severity = model.IncidentDelegationRemoved, model.SeverityCritical
		v.resolvers = serverNames(f.resDown)
		v.servers = serverNames(f.authDown)
		v.rootCause = fmt.Sprintf("The parent zone no longer delegates %s: %s; %s %s%s.",
			z.key, d.detail, resolversWord(f.resDown), negList(f.resDown, false), authTail(f))
		v.short = fmt.Sprintf("the parent no longer delegates the zone (%s); %s %s", d.detail, resolversWord(f.resDown), negList(f.resDown, false))
	case d.bad() && d.wasOK && len(f.resDown) == 0:
		v.kind, v.severity = model.IncidentDelegationRemoved, model.SeverityWarning
		v.rootCause = fmt.Sprintf("The parent zone no longer delegates %s: %s; resolvers still answer from cache and fail once their cached delegation expires%s.",
			z.key, d.detail, authTail(f))
		v.short = fmt.Sprintf("the parent no longer delegates the zone (%s); resolvers still answer from cache", d.detail)
	case len(authNeg) > 0 && len(authOther) == 0 && !dnssecFails(f):
		// (When validating resolvers fail with the DNSSEC signature, the
		// whole zone is broken: the DNSSEC rule names that first.)
		// Servers that answer the same but have not crossed open_rounds
		// yet count too: one zone push reaches them all within seconds,
		// and the page should not say "1 of 2" for the first probe's luck.
		for _, s := range z.order {
			if s.kind == model.KindAuthoritative && s.decided && !s.down && s.worstRounds() < 0 && isNegative(s.class) {
				authNeg = append(authNeg, s)
			}
		}
		v.kind, v.severity = model.IncidentRecordMissing, model.SeverityWarning
		if len(authNeg) >= f.authKnown {
			v.severity = model.SeverityCritical
		} else if held, ok := e.negativeRecovery(z); ok && held.severity == model.SeverityCritical {
			// Recovering: the servers take the fixed zone one after the
			// other; the incident stays what it was until all have.
			*v = held
			return true
		}
		v.servers = serverNames(authNeg)
		v.resolvers = serverNames(f.resDown)
		who := fmt.Sprintf("%d of %d authoritative servers", len(authNeg), f.authKnown)
		if len(authNeg) >= f.authKnown {
			who = "every authoritative server"
		}
		v.rootCause = fmt.Sprintf("%s gone at %s of %s: %s%s.",
			queryList(authNeg), who, z.key, negList(authNeg, true), resolverNegTail(f))
		v.short = fmt.Sprintf("%s gone at %s: %s", queryList(authNeg), who, negList(authNeg, true))
	case len(resNeg) > 0 && len(resNeg) == f.resKnown && f.authKnown == 0 && (d == nil || d.status == ""):
		// Every resolver says the name is gone and neither the parent nor
		// the authoritative servers could be asked to tell where.
		v.kind, v.severity = model.IncidentRecordMissing, model.SeverityCritical
		v.resolvers = serverNames(resNeg)
		v.rootCause = fmt.Sprintf("%s gone: every resolver says so (%s) and neither the parent nor the authoritative servers of %s could be asked to tell whether the record or the delegation went.",
			queryList(resNeg), negList(resNeg, false), z.key)
		v.short = fmt.Sprintf("%s gone: %s %s; authoritative servers not probed", queryList(resNeg), resolversWord(resNeg), negList(resNeg, false))
	case len(resNeg) > 0 && len(f.authDown) == 0 && (f.authKnown > 0 || len(f.resOK) > 0):
		if held, ok := e.negativeRecovery(z); ok {
			*v = held
			return true
		}
		v.kind, v.severity = model.IncidentResolverNXDomain, model.SeverityWarning
		v.resolvers = serverNames(resNeg)
		var still string
		switch {
		case f.authKnown > 0:
			still = "the authoritative servers answer " + e.authAnswer(z, resNeg[0])
		default:
			still = "resolvers " + strings.Join(serverNames(f.resOK), ", ") + " answer it"
		}
		parent := ""
		if d != nil && d.status == model.DelegationOK {
			parent = " and the parent delegates " + z.key
		}
		v.rootCause = fmt.Sprintf("%s %s while %s%s: a problem on the resolver side (stale negative cache, filtering or interception), not of the zone.",
			strings.ToUpper(resolversWord(resNeg)[:1])+resolversWord(resNeg)[1:], negList(resNeg, false), still, parent)
		v.short = fmt.Sprintf("%s %s while %s", resolversWord(resNeg), negList(resNeg, false), still)
		if since := negSince(resNeg); d != nil && d.at.Before(since) && now.Sub(since) < negativeRecheck {
			// The parent was last asked before the resolvers began: a
			// new discovery is on its way and may show the delegation
			// gone.
			v.holdUntil = since.Add(negativeRecheck)
		}
	default:
		return false
	}
	v.affected = z.names
	if len(v.affected) == 0 {
		v.affected = []string{z.key}
	}
	return true
}

// dnssecFails reports whether the zone's DNSSEC rule holds: at least half
// of the validating resolvers fail with the DNSSEC signature.
func dnssecFails(f zoneFacts) bool {
	return len(f.sigDown) > 0 && len(f.sigDown)*2 >= f.validKnown
}

// negativeRecovery keeps an open delegation_removed or record_missing
// incident as it is while the fault is undone but resolvers still answer
// from their negative cache (the SOA minimum TTL): that is recovery, not a
// resolver-side problem (whatever else the resolvers fail with meanwhile:
// a validating resolver may serve the removed zone's bogus answers from
// its cache for a while).
func (e *Evaluator) negativeRecovery(z *zone) (verdict, bool) {
	zs := e.slots[slotKey{groupZone, z.key}]
	if zs == nil || zs.inc == nil {
		return verdict{}, false
	}
	inc := zs.inc
	if inc.Kind != model.IncidentDelegationRemoved && inc.Kind != model.IncidentRecordMissing {
		return verdict{}, false
	}
	held := incidentVerdict(inc)
	held.short, held.evidence, held.impactAt = zs.v.short, slices.Clone(z.ev), time.Time{}
	return held, true
}

// resolversWord is "resolver" or "resolvers", for a list of s.
func resolversWord(s []*server) string {
	if len(s) == 1 {
		return "resolver"
	}
	return "resolvers"
}

// negSince is when the earliest of the servers began failing.
func negSince(s []*server) time.Time {
	var t time.Time
	for _, x := range s {
		if t.IsZero() || x.failSince.Before(t) {
			t = x.failSince
		}
	}
	return t
}

// negList renders "resolver0, resolver1 answer NXDOMAIN for www.example.
// A", grouping the servers by what they answered.
func negList(s []*server, addrs bool) string {
	type group struct {
		what  string
		names []string
	}
	var groups []*group
	for _, x := range s {
		what := x.class + edeText(x.ede)
		if x.qname != "" {
			what += " for " + x.qname + " " + x.qtype
		}
		n := x.name
		if addrs {
			n = x.label()
		}
		i := slices.IndexFunc(groups, func(g *group) bool { return g.what == what })
		if i < 0 {
			groups = append(groups, &group{what: what})
			i = len(groups) - 1
		}
		groups[i].names = append(groups[i].names, n)
	}
	parts := make([]string, 0, len(groups))
	for _, g := range groups {
		verb := " answer "
		if len(g.names) == 1 {
			verb = " answers "
		}
		parts = append(parts, strings.Join(g.names, ", ")+verb+g.what)
	}
	return strings.Join(parts, "; ")
}

// queryList names the missing name/type pairs: "www.example. A".
func queryList(s []*server) string {
	var qs []string
	for _, x := range s {
		q := strings.TrimSpace(x.qname + " " + x.qtype)
		if q != "" && !slices.Contains(qs, q) {
			qs = append(qs, q)
		}
	}
	slices.Sort(qs)
	if len(qs) == 0 {
		return "A configured name"
	}
	return strings.Join(qs, ", ") + " is"
}

// authTail says what the authoritative servers do meanwhile.
func authTail(f zoneFacts) string {
	switch {
	case f.authKnown == 0:
		return ""
	case len(f.authDown) == 0:
		return "; the authoritative servers still serve the zone"
	case len(f.authDown) == f.authKnown:
		return "; the authoritative servers fail too (" + serverList(f.authDown, true) + ")"
	}
	return fmt.Sprintf("; %d of %d authoritative servers fail (%s)", len(f.authDown), f.authKnown, serverList(f.authDown, true))
}

// resolverNegTail says what the resolvers do while the record is gone.
func resolverNegTail(f zoneFacts) string {
	switch {
	case len(f.resDown) > 0 && len(f.resOK) == 0:
		return "; " + resolversWord(f.resDown) + " " + negList(f.resDown, false) + " too"
	case len(f.resDown) > 0:
		return "; " + resolversWord(f.resDown) + " " + negList(f.resDown, false) + "; " + strings.Join(serverNames(f.resOK), ", ") + " still answer from cache"
	case len(f.resOK) > 0:
		return "; resolvers still answer from cache"
	}
	return ""
}

// authAnswer is what the authoritative servers last answered for the
// query a resolver fails: "198.51.100.7", or "it" when the answer is not
// kept (SOA) or was empty.
func (e *Evaluator) authAnswer(z *zone, s *server) string {
	var union []string
	for _, rd := range z.authAns[s.qname+" "+s.qtype] {
		for _, r := range rd {
			if !slices.Contains(union, r) {
				union = append(union, r)
			}
		}
	}
	if len(union) == 0 {
		return "it"
	}
	slices.Sort(union)
	return s.qname + " " + s.qtype + " " + strings.Join(union, ", ")
}
