package evaluate

import (
	"slices"
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
	return d != nil && undelegated(d.status)
}

// undelegated: the parent says the zone is not delegated (any more).
func undelegated(s model.DelegationStatus) bool {
	return s == model.DelegationNXDomain || s == model.DelegationNoNS
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
			z.ev.add(d.Time, delegationEvidence(z.key, d))
		case wasBad:
			z.ev.add(d.Time, delegationEvidence(z.key, d))
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
	found := negativeFound{zoneServers: zoneServersOf(z, f)}
	if d != nil {
		found.parentSays = d.detail
	}
	switch {
	case d.bad() && len(f.resDown) > 0:
		v.kind, v.severity = model.IncidentDelegationRemoved, model.SeverityCritical
		v.resolvers = serverNames(f.resDown)
		v.servers = serverNames(f.authDown)
		found.problem, found.gone = delegationGone, found.resDown
	case d.bad() && d.wasOK && len(f.resDown) == 0:
		v.kind, v.severity = model.IncidentDelegationRemoved, model.SeverityWarning
		found.problem = delegationGoneCached
	case len(authNeg) > 0 && len(authOther) == 0 && !dnssecFails(f):
		// (When validating resolvers fail with the DNSSEC signature, the
		// whole zone is broken: the DNSSEC rule names that first.)
		authNeg = append(authNeg, negativeNotYetDown(z)...)
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
		found.problem, found.gone = recordGone, failures(authNeg, true)
	case len(resNeg) > 0 && len(resNeg) == f.resKnown && f.authKnown == 0 && (d == nil || d.status == ""):
		// Every resolver says the name is gone and neither the parent nor
		// the authoritative servers could be asked to tell where.
		v.kind, v.severity = model.IncidentRecordMissing, model.SeverityCritical
		v.resolvers = serverNames(resNeg)
		found.problem, found.gone = recordGoneUnasked, failures(resNeg, false)
	case len(resNeg) > 0 && len(f.authDown) == 0 && (f.authKnown > 0 || len(f.resOK) > 0):
		if held, ok := e.negativeRecovery(z); ok {
			*v = held
			return true
		}
		v.kind, v.severity = model.IncidentResolverNXDomain, model.SeverityWarning
		v.resolvers = serverNames(resNeg)
		found.problem, found.gone = resolversOnlyNegative, failures(resNeg, false)
		found.authAnswer = authAnswer(z, resNeg[0])
		found.parentDelegates = d != nil && d.status == model.DelegationOK
		if since := negSince(resNeg); d != nil && d.at.Before(since) && now.Sub(since) < negativeRecheck {
			// The parent was last asked before the resolvers began: a
			// new discovery is on its way and may show the delegation
			// gone.
			v.holdUntil = since.Add(negativeRecheck)
		}
	default:
		return false
	}
	v.explain(found)
	v.affected = z.names
	if len(v.affected) == 0 {
		v.affected = []string{z.key}
	}
	return true
}

// negativeNotYetDown lists the authoritative servers that answer
// negatively but have not crossed open_rounds yet: they count with the
// servers decided down, since one zone push reaches them all within
// seconds and the page should not say "1 of 2" for the first probe's
// luck.
func negativeNotYetDown(z *zone) []*server {
	var out []*server
	for _, s := range z.order {
		if s.kind == model.KindAuthoritative && s.decided && !s.down && s.worstRounds() < 0 && isNegative(s.class) {
			out = append(out, s)
		}
	}
	return out
}

// negativeProblem is where a negative-answer finding says the name went.
type negativeProblem uint8

const (
	delegationGone        negativeProblem = iota // the parent no longer delegates the zone; resolvers fail
	delegationGoneCached                         // ... and resolvers still answer from cache
	recordGone                                   // authoritative servers answer NXDOMAIN or NODATA
	recordGoneUnasked                            // every resolver says so; nobody else could be asked
	resolversOnlyNegative                        // resolvers say so while the zone answers
)

// negativeFound is the finding of negativeVerdict.
type negativeFound struct {
	problem negativeProblem
	zoneServers
	parentSays string    // what the parent's servers said of the zone
	gone       []failure // the servers answering negatively
	// authAnswer is the authoritative servers' last answer to the query
	// the first resolver fails (nil: not kept or empty);
	// parentDelegates: the parent was seen delegating the zone.
	authAnswer      []string
	parentDelegates bool
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

// authAnswer is what the authoritative servers last answered for the
// query a resolver fails (nil when the answer is not kept, as for SOA,
// or was empty).
func authAnswer(z *zone, s *server) []string {
	var union []string
	for _, rd := range z.authAns[s.qname+" "+s.qtype] {
		for _, r := range rd {
			if !slices.Contains(union, r) {
				union = append(union, r)
			}
		}
	}
	slices.Sort(union)
	return union
}
