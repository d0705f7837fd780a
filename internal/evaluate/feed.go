package evaluate

import (
	"slices"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// The feed group: a BGP session down is monitor health, not an outage.

// feedVerdict: a BGP session is down (or never came up after the start
// grace): monitor health, not an outage.
func (e *Evaluator) feedVerdict(name string, now time.Time) verdict {
	v := verdict{known: true, subjectKind: model.SubjectPeer}
	p := e.peers[name]
	if p == nil || p.up {
		return v
	}
	switch {
	case !p.downSince.IsZero():
	case p.configured && now.Sub(e.start) >= e.cfg.StartGrace.Duration:
	default:
		return v
	}
	v.kind, v.severity = model.IncidentFeedLost, model.SeverityInfo
	v.evidence = slices.Clone(p.ev)
	usable, _ := e.bgpUsable(now)
	v.explain(feedLost{peer: p.label(), neverUp: p.downSince.IsZero(), reason: p.reason, othersCarry: usable})
	return v
}

// feedLost is the finding of feedVerdict.
type feedLost struct {
	peer        string // its label: "192.0.2.1 (AS64500, upstream)"
	neverUp     bool   // not up since reachmon started
	reason      string // why it went down, when it did
	othersCarry bool   // the other sessions still carry the BGP verdicts
}
