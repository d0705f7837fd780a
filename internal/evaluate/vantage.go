package evaluate

import (
	"slices"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Some failures point at this vantage's own network rather than at what
// is monitored, even while packets flow: when every resolver fails the
// TLS handshake (a certificate for another name: an interception proxy),
// or answers with bytes that are not DNS (a captive portal or middlebox
// on TCP/53), or answers NXDOMAIN for every control zone (an intercepting
// resolver or captive portal rewriting DNS), the resolvers cannot all be
// broken the same way at once. That is vantage_down, with the signal
// named, and the other DNS verdicts are suspended as for a vantage whose
// network is gone. One resolver cannot tell: the rules need two at least.

// interceptClass: the failure classes that point at an interceptor on
// the path from this vantage.
func interceptClass(c model.ErrorClass) bool {
	return c == model.ErrTLS || c == model.ErrMalformed
}

// interceptMinResolvers is the fewest resolvers the rules judge: with one,
// its own broken certificate looks the same.
const interceptMinResolvers = 2

// interceptSignal counts a resolver's zones by their latest observation.
type interceptSignal struct {
	probed  int    // zones probed at the resolver
	failing int    // zones whose latest probe failed with an intercept class
	class   string // the latest intercept class seen
}

// noteVantageProbe keeps the counts of the intercept rules for one
// resolver observation and re-evaluates vantage_down when the rules'
// answer changes.
func (e *Evaluator) noteVantageProbe(res *resolver, z *zone, srv *server, o model.Observation, ok bool, now time.Time) {
	before := e.interceptCond() != ""
	sig := &res.intercept
	if !srv.vseen {
		srv.vseen = true
		sig.probed++
	}
	cls := ""
	if !ok && interceptClass(o.Error) {
		cls = string(o.Error)
		sig.class = cls
	}
	if (cls != "") != (srv.vclass != "") {
		if cls != "" {
			sig.failing++
		} else {
			sig.failing--
		}
	}
	srv.vclass = cls
	if z.control {
		// The rcode itself, whether or not NXDOMAIN counts as a failure.
		if o.Error == model.ErrNone && o.Rcode == "NXDOMAIN" {
			srv.nxRun = min(srv.nxRun+1, maxRun)
			if int(srv.nxRun) == e.cfg.OpenRounds {
				res.ev.add(o.Time, controlNXDomainEvidence(res.name, o, z.key, int(srv.nxRun)))
			}
		} else {
			srv.nxRun = 0
		}
	}
	if (e.interceptCond() != "") != before {
		e.evalVantage(now)
	}
}

// resolversJudged lists the resolvers the intercept rules look at: all of
// them, once each has been probed; nil when fewer than two.
func (e *Evaluator) resolversJudged() []*resolver {
	if len(e.resOrder) < interceptMinResolvers {
		return nil
	}
	out := make([]*resolver, 0, len(e.resOrder))
	for _, name := range e.resOrder {
		r := e.resolvers[name]
		if r.intercept.probed == 0 {
			return nil
		}
		out = append(out, r)
	}
	return out
}

// interceptCond says which intercept rule holds now: "tls", "malformed",
// "mixed" (every resolver fails with one of the two), "nxdomain" (every
// resolver answers NXDOMAIN for every control zone, open_rounds times in
// a row), or "".
func (e *Evaluator) interceptCond() string {
	rs := e.resolversJudged()
	if rs == nil {
		return ""
	}
	if e.controlNXDOMAIN(rs, e.cfg.OpenRounds) {
		return "nxdomain"
	}
	classes := map[string]bool{}
	for _, r := range rs {
		sig := r.intercept
		if sig.failing < sig.probed || r.down() == 0 {
			return ""
		}
		classes[sig.class] = true
	}
	if len(classes) == 1 {
		for c := range classes {
			return c
		}
	}
	return "mixed"
}

// controlNXDOMAIN: every resolver answered NXDOMAIN for every control
// zone at least rounds times in a row.
func (e *Evaluator) controlNXDOMAIN(rs []*resolver, rounds int) bool {
	if len(e.controls) == 0 {
		return false
	}
	for c := range e.controls {
		z := e.zones[c]
		if z == nil {
			return false
		}
		for _, r := range rs {
			s := z.server(r.name)
			if s == nil || int(s.nxRun) < rounds {
				return false
			}
		}
	}
	return true
}

// interceptSuspect holds the DNS verdicts while every resolver's latest
// probe of some zone failed the interceptor's way (or answered NXDOMAIN
// for a control zone): zones would otherwise page before the resolvers
// reach open_rounds everywhere.
func (e *Evaluator) interceptSuspect() bool {
	rs := e.resolversJudged()
	if rs == nil {
		return false
	}
	if e.controlNXDOMAIN(rs, 1) {
		return true
	}
	for _, r := range rs {
		if r.intercept.failing == 0 {
			return false
		}
	}
	return true
}

// probeVantage is the vantage name of `reachmon probe`'s evaluator
// (Judge): its root causes say "this vantage".
const probeVantage = "probe"

// interceptVerdict fills v (a vantage verdict) when an intercept rule
// holds.
func (e *Evaluator) interceptVerdict(v verdict) verdict {
	cond := e.interceptCond()
	if cond == "" {
		return v
	}
	rs := e.resolversJudged()
	found := interception{vantage: e.vantage, signal: cond, controls: sortedKeys(e.controls)}
	for _, r := range rs {
		found.resolvers = append(found.resolvers, r.name)
		found.classes = append(found.classes, r.intercept.class)
		v.evidence = append(v.evidence, r.ev...)
	}
	slices.SortStableFunc(v.evidence, func(a, b model.EvidenceItem) int { return a.Time.Compare(b.Time) })
	v.kind, v.severity = model.IncidentVantageDown, model.SeverityInfo
	v.resolvers = found.resolvers
	v.explain(found)
	return v
}

// interception is the finding of interceptVerdict.
type interception struct {
	vantage string
	// signal is the intercept rule that holds (interceptCond).
	signal    string
	resolvers []string
	classes   []string // each resolver's latest intercept class
	controls  []string
}

// evalVantage evaluates vantage down; when it ends, every server's
// verdict is forgotten (nothing seen while the vantage was down counts).
func (e *Evaluator) evalVantage(now time.Time) {
	s := e.slots[slotKey{groupVantage, e.vantage}]
	before := s != nil && s.cond
	e.eval(groupVantage, e.vantage, e.vantageVerdict(), now)
	s = e.slots[slotKey{groupVantage, e.vantage}]
	after := s != nil && s.cond
	if before && !after {
		e.resetServers()
	}
}

func (e *Evaluator) vantageVerdict() verdict {
	v := verdict{known: true, subjectKind: model.SubjectVantage}
	var cond bool
	if len(e.controls) > 0 {
		cond = e.ctlKnown > 0 && e.ctlDown == e.ctlKnown && e.controlsJudged()
	} else {
		// Negative answers are answers: they prove the network works.
		cond = len(e.zones) >= 2 && e.pairsKnown >= 3 && (e.pairsDown-e.pairsNeg)*10 >= e.pairsKnown*9
	}
	if !cond {
		return e.interceptVerdict(v)
	}
	v.kind, v.severity = model.IncidentVantageDown, model.SeverityInfo
	found := vantageDown{vantage: e.vantage, controls: sortedKeys(e.controls)}
	for _, name := range e.resOrder {
		if c := e.resolvers[name].class; c != "" {
			found.class = c
			break
		}
	}
	v.explain(found)
	for _, name := range e.resOrder {
		v.evidence = append(v.evidence, e.resolvers[name].ev...)
	}
	return v
}

// vantageDown is the finding of vantageVerdict.
type vantageDown struct {
	vantage string
	// controls are the control zones whose checks all fail (none: every
	// check fails).
	controls []string
	class    string // how the first failing resolver fails
}

// controlsJudged reports whether every resolver has a verdict for every
// control zone: after the vantage recovers every verdict starts afresh, and
// the first resolver to cross open_rounds must not make "every control
// check fails" true on its own while the others are still being judged
// (resolvers that answer NXDOMAIN for a control zone, a failure, would
// otherwise keep vantage_down open for ever).
func (e *Evaluator) controlsJudged() bool {
	for c := range e.controls {
		z := e.zones[c]
		if z == nil {
			return false
		}
		for _, s := range z.order {
			if s.kind == model.KindResolver && !s.decided {
				return false
			}
		}
	}
	return true
}

// vantageSuspect holds DNS verdicts while a control check fails: the
// vantage may be going down.
// vantageSuspect holds DNS verdicts while at least half of the control
// checks fail: the vantage itself may be going down. One failing control
// check (a resolver's own outage fails the control zone there too) is not
// enough, or a single resolver outage would hold every verdict.
func (e *Evaluator) vantageSuspect() bool {
	return (len(e.controls) > 0 && e.ctlDown > 0 && e.ctlDown*2 >= e.ctlKnown) || e.interceptSuspect()
}
