package evaluate

import (
	"slices"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// ProbeSnapshot is what one `reachmon probe` of one name learnt.
type ProbeSnapshot struct {
	// Zone is the zone the observations belong to (the name when unknown).
	Zone         string
	Observations []model.Observation
	DSCheck      *model.DSCheck
	Discovery    *model.Discovery
}

// ProbeVerdict is the evaluator's judgement of one snapshot.
type ProbeVerdict struct {
	OK       bool               `json:"ok"`
	Kind     model.IncidentKind `json:"kind,omitempty"`
	Severity model.Severity     `json:"severity,omitempty"`
	// Line is one line for a human: "DNSSEC failure: validating resolvers
	// SERVFAIL, CD=1 succeeds, DS key tag 296 has no matching DNSKEY".
	Line      string `json:"line"`
	RootCause string `json:"root_cause,omitempty"`
}

// Judge runs the daemon's rules over a one-shot snapshot: every
// observation counts as a full round (thresholds of one), there is no BGP
// feed, and a single resolver failing while others answer is reported as
// such.
func Judge(snap ProbeSnapshot) ProbeVerdict {
	cfg := config.DefaultEvaluate()
	cfg.OpenRounds, cfg.ResolveRounds = 1, 1
	cfg.OpenAfter.Duration, cfg.StartGrace.Duration = 0, 0
	zoneName := snap.Zone
	if zoneName == "" && len(snap.Observations) > 0 {
		zoneName = snap.Observations[0].Name
	}
	e := New(cfg, Targets{Vantage: probeVantage, Zones: []Zone{{Name: zoneName}}})
	e.adHoc = true
	z := e.zone(zoneName)
	if snap.Discovery != nil {
		d := *snap.Discovery
		d.Zone = zoneName
		e.Apply(d)
	}
	if snap.DSCheck != nil {
		c := *snap.DSCheck
		c.Zone = zoneName
		e.Apply(c)
	}
	obs := slices.Clone(snap.Observations)
	slices.SortStableFunc(obs, func(a, b model.Observation) int { return a.Time.Compare(b.Time) })
	for _, o := range obs {
		o.Target = zoneName
		e.Apply(o)
	}
	now := e.now
	// Every resolver failing the way an interceptor makes them fail is
	// this vantage's network, whatever the zone's verdict would be.
	if v := e.interceptVerdict(verdict{known: true, subjectKind: model.SubjectVantage}); v.kind != "" {
		return probeVerdictOf(v)
	}
	cands := []verdict{e.zoneVerdict(z, now), e.mismatchVerdict(z), e.expiryVerdict(z, now), e.delegationVerdict(z, now)}
	for _, name := range e.resOrder {
		if v := e.resolverVerdict(name); v.kind != "" {
			v.short = probeResolverSummary(name, e.resolvers[name].class, otherResolvers(e, name))
			cands = append(cands, v)
		}
	}
	// One zone cannot tell a resolver outage from a zone problem at that
	// resolver: say what was seen.
	f := e.facts(z)
	if len(f.resDown) > 0 && len(f.resOK) > 0 {
		v := verdict{known: true, kind: model.IncidentResolverOutage, severity: model.SeverityWarning}
		v.explain(resolversFailForZone{zone: z.key, down: failures(f.resDown, false), answering: serverNames(f.resOK)})
		cands = append(cands, v)
	}
	best := verdict{}
	for _, v := range cands {
		if v.kind != "" && (best.kind == "" || v.severity.Rank() > best.severity.Rank()) {
			best = v
		}
	}
	return probeVerdictOf(best)
}

// resolversFailForZone is what `reachmon probe` finds when some resolvers
// fail for its one zone while others answer.
type resolversFailForZone struct {
	zone      string
	down      []failure
	answering []string
}

func otherResolvers(e *Evaluator, name string) []string {
	var out []string
	for _, o := range e.resOrder {
		if x := e.resolvers[o]; o != name && x.down() == 0 {
			out = append(out, o)
		}
	}
	return out
}
