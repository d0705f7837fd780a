package model

import (
	"net/netip"
	"strings"
	"time"
)

// IncidentKind is what an incident is about: one row of the table in
// docs/incidents.md (groups of kinds: docs/architecture.md).
type IncidentKind string

const (
	// IncidentBGPOutage: a zone's nameservers are unreachable because the
	// most-specific routes that covered them were withdrawn (Facebook 2021).
	IncidentBGPOutage IncidentKind = "bgp_dns_outage"
	// IncidentDNSSEC: validating resolvers SERVFAIL while CD=1 succeeds
	// (Slack 2021).
	IncidentDNSSEC IncidentKind = "dnssec_failure"
	// IncidentAuthOutage: a zone's authoritative servers fail while their
	// routes are visible (Dyn 2016).
	IncidentAuthOutage IncidentKind = "authoritative_outage"
	// IncidentResolverOutage: one resolver fails for (nearly) every zone
	// while the others are fine.
	IncidentResolverOutage IncidentKind = "resolver_outage"
	// IncidentHijack: a watched prefix or a more-specific inside it is
	// originated by an unexpected AS.
	IncidentHijack IncidentKind = "prefix_hijack"
	// IncidentAnswerMismatch: answers fall outside what is expected, or
	// resolvers and authoritative servers disagree.
	IncidentAnswerMismatch IncidentKind = "answer_mismatch"
	// IncidentPrefixWithdrawn: a watched prefix lost visibility (no DNS
	// impact yet).
	IncidentPrefixWithdrawn IncidentKind = "prefix_withdrawn"
	// IncidentFeedLost: a BGP session is down; its routes are unknown and
	// BGP verdicts resting on it are suspended. The monitor's own problem.
	IncidentFeedLost IncidentKind = "feed_lost"
	// IncidentVantageDown: everything fails at once from this vantage,
	// control checks included. The monitor's own problem.
	IncidentVantageDown IncidentKind = "vantage_down"
	// IncidentDelegationRemoved: resolvers say NXDOMAIN for a zone while
	// the parent zone's servers no longer delegate it (a lapsed or
	// suspended domain, a delegation removed at the registry).
	IncidentDelegationRemoved IncidentKind = "delegation_removed"
	// IncidentRecordMissing: the authoritative servers answer NXDOMAIN or
	// NODATA for a configured name or type (a record deleted by a bad
	// zone push).
	IncidentRecordMissing IncidentKind = "record_missing"
	// IncidentResolverNXDomain: resolvers say NXDOMAIN or NODATA while the
	// authoritative servers still answer and the parent still delegates
	// (stale negative cache, filtering, interception).
	IncidentResolverNXDomain IncidentKind = "resolver_nxdomain"
	// IncidentDNSSECExpiry: RRSIGs served by the authoritative servers
	// expire soon (or start in the future): a forecast of a DNSSEC failure.
	IncidentDNSSECExpiry IncidentKind = "dnssec_expiry"
	// IncidentDelegation: the delegation is inconsistent (NS sets differ
	// between parent and zone, lame servers, SOA serials apart).
	IncidentDelegation IncidentKind = "delegation_inconsistent"
	// IncidentRPKIInvalid: a route to a watched prefix (or a more-specific
	// inside it) from an origin that is not a hijack is RPKI-invalid: a
	// ROA change (or a new announcement) that networks validating RPKI
	// drop.
	IncidentRPKIInvalid IncidentKind = "rpki_invalid"
)

// IncidentKinds lists every kind, in documentation order.
var IncidentKinds = []IncidentKind{
	IncidentBGPOutage, IncidentDNSSEC, IncidentAuthOutage, IncidentResolverOutage,
	IncidentHijack, IncidentAnswerMismatch, IncidentPrefixWithdrawn, IncidentFeedLost,
	IncidentVantageDown, IncidentDelegationRemoved, IncidentRecordMissing, IncidentResolverNXDomain,
	IncidentDNSSECExpiry, IncidentDelegation, IncidentRPKIInvalid,
}

// Title is the kind in plain words ("BGP-caused DNS outage").
func (k IncidentKind) Title() string {
	switch k {
	case IncidentBGPOutage:
		return "BGP-caused DNS outage"
	case IncidentDNSSEC:
		return "DNSSEC failure"
	case IncidentAuthOutage:
		return "authoritative outage"
	case IncidentResolverOutage:
		return "resolver outage"
	case IncidentHijack:
		return "prefix hijack"
	case IncidentAnswerMismatch:
		return "answer mismatch"
	case IncidentPrefixWithdrawn:
		return "prefix withdrawn"
	case IncidentFeedLost:
		return "BGP feed lost"
	case IncidentVantageDown:
		return "vantage down"
	case IncidentDelegationRemoved:
		return "delegation removed"
	case IncidentRecordMissing:
		return "record missing"
	case IncidentResolverNXDomain:
		return "resolver NXDOMAIN"
	case IncidentDNSSECExpiry:
		return "DNSSEC signatures expiring"
	case IncidentDelegation:
		return "delegation inconsistent"
	case IncidentRPKIInvalid:
		return "RPKI-invalid route"
	}
	return string(k)
}

// MonitorHealth reports whether the kind is about reachmon itself (its
// feed or its network) rather than about the monitored service.
func (k IncidentKind) MonitorHealth() bool {
	return k == IncidentFeedLost || k == IncidentVantageDown
}

// Severity ranks incidents. Critical and warning incidents page (unless
// silenced); info incidents are recorded and shown, not paged.
type Severity string

const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// Severities lists every severity, most severe first.
var Severities = []Severity{SeverityCritical, SeverityWarning, SeverityInfo}

// Rank is 3 for critical, 2 for warning, 1 for info, 0 otherwise.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 3
	case SeverityWarning:
		return 2
	case SeverityInfo:
		return 1
	}
	return 0
}

// SubjectKind says what an incident's subject names.
type SubjectKind string

const (
	SubjectZone     SubjectKind = "zone"
	SubjectPrefix   SubjectKind = "prefix"
	SubjectResolver SubjectKind = "resolver"
	SubjectPeer     SubjectKind = "peer"
	SubjectVantage  SubjectKind = "vantage"
)

// IncidentState is open or resolved; an incident is never both.
type IncidentState string

const (
	StateOpen     IncidentState = "open"
	StateResolved IncidentState = "resolved"
)

// EvidenceItem is one line of an incident's timeline.
type EvidenceItem struct {
	Time time.Time `json:"time"`
	// Text is the line without its time: "129.134.30.0/24 withdrawn, seen
	// by 0 of 3 peers, last origin AS32934".
	Text string `json:"text"`
}

// String renders the item as "15:40:02 text" (UTC).
func (e EvidenceItem) String() string {
	return e.Time.UTC().Format("15:04:05") + " " + e.Text
}

// Incident is one explained problem, from its first symptom to its
// resolution.
type Incident struct {
	// ID is unique across restarts: the UTC opening time and a hash of the
	// kind and subject ("20211004T154002Z-3fa2c1").
	ID          string        `json:"id"`
	Kind        IncidentKind  `json:"kind"`
	Severity    Severity      `json:"severity"`
	State       IncidentState `json:"state"`
	SubjectKind SubjectKind   `json:"subject_kind"`
	// Subject is the zone (label form, "facebook.com"), the prefix, the
	// resolver name, the BGP peer or the vantage.
	Subject string `json:"subject"`

	// Opened is when the first symptom was seen; Confirmed when the
	// thresholds were crossed and the incident was published (the page);
	// Updated when it last changed; Resolved when it ended (zero while
	// open).
	Opened    time.Time `json:"opened"`
	Confirmed time.Time `json:"confirmed"`
	Updated   time.Time `json:"updated"`
	Resolved  time.Time `json:"resolved,omitzero"`

	// RootCause is one sentence in plain words naming the prefixes,
	// servers, ASNs and resolvers involved: the diagnosis at the
	// incident's worst point. It is replaced by a reclassification or a
	// worse severity, never by a partial explanation while the incident
	// recovers.
	RootCause string `json:"root_cause"`
	// Recovery tells how the incident recovers, milestone by milestone
	// ("routes re-announced 15:52:10, resolvers answer again 15:53:40");
	// empty until recovery begins.
	Recovery string `json:"recovery,omitempty"`
	// Evidence is the timeline, oldest first (bounded: the first entries
	// and the latest are kept).
	Evidence []EvidenceItem `json:"evidence"`
	// Affected lists the names (zones and query names) affected. Like
	// the prefixes, servers, resolvers and ASNs, it is the union over the
	// incident's life.
	Affected  []string       `json:"affected,omitempty"`
	Prefixes  []netip.Prefix `json:"prefixes,omitempty"`
	Servers   []string       `json:"servers,omitempty"`
	Resolvers []string       `json:"resolvers,omitempty"`
	ASNs      []uint32       `json:"asns,omitempty"`

	// ImpactAt estimates, for an early warning (resolvers still answer from
	// cache), when the first cached answers expire; zero when impact has
	// begun or no estimate exists.
	ImpactAt time.Time `json:"impact_at,omitzero"`

	// Silenced names the silence or maintenance window that matches the
	// incident (zero: none): it is recorded and shown, not paged.
	Silenced Silenced `json:"silenced,omitzero"`
}

// IsOpen reports whether the incident is open.
func (i Incident) IsOpen() bool { return i.State == StateOpen }

// IsSilenced reports whether a silence or maintenance window matches the
// incident.
func (i Incident) IsSilenced() bool { return !i.Silenced.IsZero() }

// Pages reports whether the incident should page: not silenced and not
// of info severity.
func (i Incident) Pages() bool {
	return !i.IsSilenced() && i.Severity.Rank() >= SeverityWarning.Rank()
}

// Headline is "<kind title>: <subject>", e.g. "DNSSEC failure: slack.com".
func (i Incident) Headline() string { return i.Kind.Title() + ": " + i.Subject }

// Timeline renders the evidence, one "15:40:02 text" line each.
func (i Incident) Timeline() string {
	var b strings.Builder
	for _, e := range i.Evidence {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// ChangeType is what happened to an incident.
type ChangeType string

const (
	ChangeOpen    ChangeType = "open"
	ChangeUpdate  ChangeType = "update"
	ChangeResolve ChangeType = "resolve"
)

// IncidentChange is one transition the evaluator reports.
type IncidentChange struct {
	Type ChangeType `json:"type"`
	// Incident is the incident after the change (a copy: the receiver may
	// keep it).
	Incident Incident `json:"incident"`
	// Reason says what changed for an update ("evidence", "severity
	// warning -> critical", "reclassified from authoritative_outage",
	// "root cause"), or why it opened or resolved.
	Reason string `json:"reason,omitempty"`
	// Material says what makes the change worth a message to people,
	// one item per cause joined by "; " ("severity warning -> critical",
	// "reclassified from authoritative_outage", "impact began", "newly
	// affected: resolvers r1, r2", "recovery began: ..."); empty for an update that is
	// recorded but not worth a message (a re-estimated time to impact,
	// more evidence of the same kind, a reworded root cause). Always set
	// for open and resolve.
	Material string `json:"material,omitempty"`
	// Prev are the kind and severity before an update (metrics move an
	// incident between label sets with them).
	PrevKind     IncidentKind `json:"prev_kind,omitempty"`
	PrevSeverity Severity     `json:"prev_severity,omitempty"`
}

// NotifyState is what the notifiers delivered for one incident; the
// incident store keeps it so that a restart neither pages again nor
// forgets to resolve.
type NotifyState struct {
	// Ref identifies the sent message for later updates (e.g. a Slack
	// "channel/ts").
	Ref string `json:"ref,omitempty"`
	// Delivered is the last change type delivered (open, update, resolve).
	Delivered ChangeType `json:"delivered,omitempty"`
	// Evidence is how many evidence items were delivered.
	Evidence  int       `json:"evidence,omitempty"`
	FirstSent time.Time `json:"first_sent,omitzero"`
	LastSent  time.Time `json:"last_sent,omitzero"`
	Attempts  int       `json:"attempts,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}
