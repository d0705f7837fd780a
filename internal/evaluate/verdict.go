package evaluate

import (
	"net/netip"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// verdict is what a rule concludes about one subject now.
type verdict struct {
	// known is false when the rule cannot tell yet (servers undecided):
	// nothing changes.
	known bool
	// kind is empty when the condition does not hold.
	kind        model.IncidentKind
	severity    model.Severity
	subjectKind model.SubjectKind
	// finding is what the rule found, as facts (nil for a verdict that
	// keeps an incident as it is); rootCause and short are its words
	// (words.go), set by explain.
	finding   finding
	rootCause string
	// short is the verdict line of `reachmon probe` without the kind.
	short     string
	affected  []string
	prefixes  []netip.Prefix
	servers   []string
	resolvers []string
	asns      []uint32
	impactAt  time.Time
	evidence  []model.EvidenceItem
	// bgp is true when the verdict rests on BGP state: held while BGP
	// verdicts are suspended.
	bgp bool
	// supersededBy names an incident that explains this one: an open
	// incident resolves at once.
	supersededBy string
	// holdUntil delays opening or changing an incident while a better
	// explanation may still arrive (a fresh answer from the parent).
	holdUntil time.Time
	// details counts what the root cause names beyond the lists above
	// (the DS key tag that matches no DNSKEY): a diagnosis with more
	// details is not replaced by one with fewer (story.go).
	details int
}

// finding is the facts behind a verdict: which servers, prefixes,
// resolvers and ASNs, what failed how. The rules decide on facts; only
// words.go turns them into sentences, so that the wording of a root cause
// can change without touching a rule.
type finding interface {
	rootCause() string
}

// summarized is a finding that also has the one-line summary of
// `reachmon probe` (the rules it can run: DNS, not BGP).
type summarized interface {
	finding
	summary() string
}

// explain records what a rule found and its words.
func (v *verdict) explain(f finding) {
	v.finding, v.rootCause = f, f.rootCause()
	if s, ok := f.(summarized); ok {
		v.short = s.summary()
	}
}
