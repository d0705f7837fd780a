package evaluate

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// group is one family of incidents sharing a subject: a zone's outage
// incident is one slot whatever its kind (BGP, DNSSEC, authoritative), so
// that a better explanation reclassifies it instead of paging again.
type group uint8

const (
	groupZone group = iota
	groupMismatch
	groupResolver
	groupWithdrawn
	groupHijack
	groupFeed
	groupVantage
	groupExpiry     // dnssec_expiry (forecast.go)
	groupDelegation // delegation_inconsistent (forecast.go)
	groupRPKI       // rpki_invalid (rpki.go)
)

func groupOf(k model.IncidentKind) group {
	switch k {
	case model.IncidentAnswerMismatch:
		return groupMismatch
	case model.IncidentResolverOutage:
		return groupResolver
	case model.IncidentPrefixWithdrawn:
		return groupWithdrawn
	case model.IncidentHijack:
		return groupHijack
	case model.IncidentFeedLost:
		return groupFeed
	case model.IncidentVantageDown:
		return groupVantage
	case model.IncidentDNSSECExpiry:
		return groupExpiry
	case model.IncidentDelegation:
		return groupDelegation
	case model.IncidentRPKIInvalid:
		return groupRPKI
	}
	return groupZone
}

type slotKey struct {
	g       group
	subject string
}

// slot tracks one subject from its first symptom to its incident's end.
type slot struct {
	key   slotKey
	cond  bool
	since time.Time // condition true since
	off   time.Time // condition false since
	v     verdict
	inc   *model.Incident
	seen  map[model.EvidenceItem]bool
	// story is the incident's diagnosis and recovery (story.go).
	story story
}

// slotFor returns the slot for (g, subject), creating it if create.
func (e *Evaluator) slotFor(g group, subject string, create bool) *slot {
	k := slotKey{g, subject}
	s := e.slots[k]
	if s == nil && create {
		s = &slot{key: k}
		e.slots[k] = s
	}
	return s
}

// withdrawSettle is the least time a withdrawn prefix waits before it
// pages: the more-specifics of one outage arrive in separate UPDATEs
// milliseconds apart, and the BGP-caused outage they add up to must absorb
// the prefix-withdrawn incident before it pages on its own.
const withdrawSettle = 2 * time.Second

func (e *Evaluator) openAfter(s *slot) time.Duration {
	switch s.key.g {
	case groupWithdrawn:
		return max(e.cfg.OpenAfter.Duration, withdrawSettle)
	case groupHijack, groupRPKI:
		return e.cfg.BGPOpenAfter.Duration
	case groupExpiry, groupDelegation:
		return max(e.cfg.OpenAfter.Duration, forecastSettle)
	case groupZone:
		if s.v.kind == model.IncidentBGPOutage {
			return e.cfg.BGPOpenAfter.Duration
		}
	}
	return e.cfg.OpenAfter.Duration
}

func (e *Evaluator) resolveAfter(s *slot) time.Duration {
	switch s.key.g {
	case groupHijack, groupWithdrawn, groupRPKI:
		return e.cfg.BGPResolveAfter.Duration
	case groupZone:
		if s.inc != nil && s.inc.Kind == model.IncidentBGPOutage {
			return e.cfg.BGPResolveAfter.Duration
		}
	}
	return e.cfg.ResolveAfter.Duration
}

// evalSlot recomputes a slot's verdict from current state and judges it.
func (e *Evaluator) evalSlot(s *slot, now time.Time) {
	switch s.key.g {
	case groupZone, groupMismatch:
		z := e.zones[s.key.subject]
		if z == nil {
			e.judge(s, verdict{known: true}, now)
			return
		}
		if s.key.g == groupZone {
			e.judge(s, e.zoneVerdict(z, now), now)
		} else {
			e.judge(s, e.mismatchVerdict(z), now)
		}
	case groupResolver:
		e.judge(s, e.resolverVerdict(s.key.subject), now)
	case groupWithdrawn:
		p, err := netip.ParsePrefix(s.key.subject)
		r := e.routes[p]
		if err != nil || r == nil {
			e.judge(s, verdict{known: true, bgp: true}, now)
			return
		}
		e.judge(s, e.withdrawnVerdict(r), now)
	case groupHijack:
		e.judge(s, e.hijackVerdict(s.key.subject), now)
	case groupRPKI:
		p, err := netip.ParsePrefix(s.key.subject)
		if err != nil {
			e.judge(s, verdict{known: true, bgp: true}, now)
			return
		}
		e.judge(s, e.rpkiVerdict(e.routes[p]), now)
	case groupFeed:
		e.judge(s, e.feedVerdict(s.key.subject, now), now)
	case groupVantage:
		e.judge(s, e.vantageVerdict(), now)
	case groupExpiry, groupDelegation:
		z := e.zones[s.key.subject]
		switch {
		case z == nil:
			e.judge(s, verdict{known: true}, now)
		case s.key.g == groupExpiry:
			e.judge(s, e.expiryVerdict(z, now), now)
		default:
			e.judge(s, e.delegationVerdict(z, now), now)
		}
	}
}

// eval evaluates (g, subject) with verdict v; a slot is created only when
// the condition holds.
func (e *Evaluator) eval(g group, subject string, v verdict, now time.Time) {
	s := e.slotFor(g, subject, v.kind != "")
	if s == nil {
		return
	}
	e.judge(s, v, now)
}

// suppressed reports whether a root cause elsewhere explains slot s.
func (e *Evaluator) suppressed(s *slot) bool {
	if s.key.g == groupVantage || s.key.g == groupFeed {
		return false
	}
	if vs := e.slots[slotKey{groupVantage, e.vantage}]; vs != nil && vs.cond {
		return true
	}
	return false
}

// held reports whether verdict v may not change an incident now.
func (e *Evaluator) held(v verdict, now time.Time) bool {
	if v.bgp {
		if ok, _ := e.bgpUsable(now); !ok {
			return true
		}
	}
	if !v.bgp && e.vantageSuspect() {
		return true
	}
	return now.Before(v.holdUntil)
}

// controlVouches reports whether a DNS verdict may open an incident as far
// as this vantage's own network goes: when control zones are configured,
// some check (a control check, another zone, another resolver) must have
// got its answer after the condition began, or the "outage" may be this
// vantage losing its network (whose control checks fail a moment later and
// open vantage_down instead). A resolver outage is thus vouched for by the
// other resolvers' answers, a zone's outage by the other zones'. The
// condition begins no earlier than the last failing probe was sent; with
// open_rounds >= 2 and a timeout shorter than the interval, the earlier
// failures could only be this vantage's fault if its network was gone
// before that probe was sent, so an answer after it proves otherwise.
// It delays a real outage by at most one probe interval, usually by the
// gap between two probes.
func (e *Evaluator) controlVouches(s *slot, v verdict) bool {
	if len(e.controls) == 0 || v.bgp {
		return true
	}
	switch s.key.g {
	case groupZone, groupMismatch, groupResolver:
		return e.lastOK.After(s.since)
	}
	return true
}

// judge applies hysteresis to a verdict.
func (e *Evaluator) judge(s *slot, v verdict, now time.Time) {
	delete(e.pending, s)
	if !v.known {
		if s.inc != nil || s.cond {
			e.pending[s] = true
		}
		return
	}
	supp := e.suppressed(s)
	hold := s.key.g != groupVantage && e.held(v, now)
	if v.kind != "" && v.supersededBy == "" {
		if !s.cond {
			s.cond, s.since = true, now
		}
		if s.inc == nil && supp {
			// Explained by the vantage being down: nothing accumulates.
			s.since = now
		}
		s.v = v
		switch {
		case s.inc == nil && !supp && !hold && now.Sub(s.since) >= e.openAfter(s):
			if !e.controlVouches(s, v) {
				e.awaitVouch = true // the next answer anywhere re-judges it
				e.pending[s] = true
				break
			}
			e.open(s, now)
		case s.inc != nil && !supp && !hold:
			e.update(s, v, now, "")
		default:
			e.pending[s] = true
		}
		return
	}
	if s.cond {
		s.cond, s.off = false, now
	}
	if s.inc == nil {
		if now.Sub(s.off) >= e.cfg.FadeOff.Duration {
			delete(e.slots, s.key)
			return
		}
		e.pending[s] = true
		return
	}
	if v.supersededBy != "" && !supp {
		e.resolve(s, now, explainedBy(v.supersededBy))
		return
	}
	if supp || hold {
		e.pending[s] = true
		return
	}
	if now.Sub(s.off) >= e.resolveAfter(s) {
		// The milestones the cleared condition completes, if no update
		// told them yet (resolve_after 0): the resolve tells them.
		_, rev := e.fill(s, verdict{known: true}, now)
		e.addEvidence(s, rev)
		e.resolve(s, now, conditionCleared)
		return
	}
	// The condition cleared: the recovery milestones it completes are
	// told now (the resolve follows after resolve_after).
	e.update(s, verdict{known: true}, now, "")
	e.pending[s] = true
}

// maxEvidence bounds an incident's timeline: the first headEvidence items
// (how it started) and the latest.
const (
	maxEvidence  = 60
	headEvidence = 12
)

func (e *Evaluator) open(s *slot, now time.Time) {
	v := s.v
	opened := s.since
	lookback := s.since.Add(-e.cfg.FadeOff.Duration)
	var ev []model.EvidenceItem
	for _, it := range v.evidence {
		if it.Time.Before(lookback) {
			continue
		}
		ev = append(ev, it)
		if it.Time.Before(opened) {
			opened = it.Time
		}
	}
	inc := &model.Incident{
		ID:          e.newID(v.kind, s.key.subject, opened),
		Kind:        v.kind,
		Severity:    v.severity,
		State:       model.StateOpen,
		SubjectKind: v.subjectKind,
		Subject:     s.key.subject,
		Opened:      opened,
		Confirmed:   now,
		Updated:     now,
	}
	s.inc = inc
	s.seen = map[model.EvidenceItem]bool{}
	s.story = newStory(v)
	e.fill(s, v, now)
	inc.Silenced = e.silenceFor(inc, now)
	e.addEvidence(s, ev)
	e.emit(model.ChangeOpen, s, "", "", "opened", "opened")
	delete(e.pending, s)
	e.pending[s] = true // the verdict may change with time (impact, resolve)
}

// fill folds a verdict into the slot's story and copies what the
// incident shows (the diagnosis, the current time to impact, the
// recovery) into it; it returns what is material about the change and
// the recovery evidence.
func (e *Evaluator) fill(s *slot, v verdict, now time.Time) (material []string, ev []model.EvidenceItem) {
	inc := s.inc
	v, inc.Recovery, material, ev = e.tell(s, v, now)
	inc.Kind, inc.Severity, inc.SubjectKind = v.kind, v.severity, v.subjectKind
	inc.RootCause = v.rootCause
	inc.Affected, inc.Prefixes, inc.Servers = v.affected, v.prefixes, v.servers
	inc.Resolvers, inc.ASNs, inc.ImpactAt = v.resolvers, v.asns, v.impactAt
	return material, ev
}

// addEvidence adds the items the incident's timeline does not have yet
// and reports whether any was added. s.seen remembers what was added so
// that the same item offered again (it stays in its source's ring) is not
// news; once the timeline is trimmed, an item older than the first one
// after the head would be trimmed again, so it is not taken and s.seen
// need not remember it: s.seen stays as bounded as the timeline even
// while a flapping incident lives for days.
func (e *Evaluator) addEvidence(s *slot, items []model.EvidenceItem) bool {
	floor := s.inc.Opened.Add(-e.cfg.FadeOff.Duration)
	if ev := s.inc.Evidence; len(ev) >= maxEvidence && ev[headEvidence].Time.After(floor) {
		floor = ev[headEvidence].Time
	}
	added := false
	for _, it := range items {
		if it.Time.Before(floor) || s.seen[it] {
			continue
		}
		s.seen[it] = true
		s.inc.Evidence = append(s.inc.Evidence, it)
		added = true
	}
	if !added {
		return false
	}
	slices.SortStableFunc(s.inc.Evidence, func(a, b model.EvidenceItem) int { return a.Time.Compare(b.Time) })
	n := len(s.inc.Evidence)
	if n <= maxEvidence {
		return true
	}
	s.inc.Evidence = append(s.inc.Evidence[:headEvidence:headEvidence], s.inc.Evidence[n-(maxEvidence-headEvidence):]...)
	cut := s.inc.Evidence[headEvidence].Time
	for it := range s.seen {
		if it.Time.Before(cut) && !slices.Contains(s.inc.Evidence[:headEvidence], it) {
			delete(s.seen, it)
		}
	}
	return true
}

// update folds verdict v (no kind: the condition cleared) into the
// incident and emits an update when anything changed. The update is
// material (worth a message) for a reclassification, a worse severity,
// impact beginning, a newly affected resolver, server or prefix, and
// recovery beginning; the rest (time to impact, root cause wording,
// names, evidence, recovery progress) is recorded only.
func (e *Evaluator) update(s *slot, v verdict, now time.Time, reason string) {
	inc := s.inc
	before := *inc
	material, rev := e.fill(s, v, now)
	var why []string
	if before.Kind != inc.Kind {
		material = append([]string{reclassifiedFrom(before.Kind)}, material...)
	}
	if before.Severity != inc.Severity {
		material = append([]string{severityChanged(before.Severity, inc.Severity)}, material...)
	}
	if n := newlyAffected(&before, inc); n != "" {
		material = append(material, newlyAffectedText(n))
	}
	if before.RootCause != inc.RootCause {
		why = append(why, "root cause")
	}
	if !slices.Equal(before.Affected, inc.Affected) {
		why = append(why, "affected names")
	}
	if !before.ImpactAt.Equal(inc.ImpactAt) {
		why = append(why, "time to impact")
	}
	if before.Recovery != inc.Recovery {
		why = append(why, "recovery")
	}
	if e.addEvidence(s, append(slices.Clip(v.evidence), rev...)) {
		why = append(why, "evidence")
	}
	if reason != "" {
		why = append(why, reason)
	}
	if len(why) == 0 && len(material) == 0 {
		e.pending[s] = true
		return
	}
	inc.Updated = now
	all := strings.Join(material, "; ")
	if len(why) > 0 {
		all = strings.TrimPrefix(all+"; "+strings.Join(why, ", "), "; ")
	}
	e.emit(model.ChangeUpdate, s, before.Kind, before.Severity, all, strings.Join(material, "; "))
	e.pending[s] = true
}

func (e *Evaluator) resolve(s *slot, now time.Time, reason string) {
	inc := s.inc
	inc.State = model.StateResolved
	inc.Resolved, inc.Updated = now, now
	inc.ImpactAt = time.Time{}
	resolved := resolvedText(reason)
	s.seen[model.EvidenceItem{Time: now, Text: resolved}] = true
	inc.Evidence = append(inc.Evidence, model.EvidenceItem{Time: now, Text: resolved})
	e.emit(model.ChangeResolve, s, "", "", reason, resolved)
	e.recent = append(e.recent, cloneIncident(*inc))
	s.inc, s.seen = nil, nil
	if !s.cond {
		delete(e.slots, s.key)
		delete(e.pending, s)
	} else {
		e.pending[s] = true
	}
}

func (e *Evaluator) emit(t model.ChangeType, s *slot, prevKind model.IncidentKind, prevSev model.Severity, reason, material string) {
	e.out = append(e.out, model.IncidentChange{
		Type: t, Incident: cloneIncident(*s.inc), Reason: reason, Material: material,
		PrevKind: prevKind, PrevSeverity: prevSev,
	})
}

func cloneIncident(i model.Incident) model.Incident {
	i.Evidence = slices.Clone(i.Evidence)
	i.Affected = slices.Clone(i.Affected)
	i.Prefixes = slices.Clone(i.Prefixes)
	i.Servers = slices.Clone(i.Servers)
	i.Resolvers = slices.Clone(i.Resolvers)
	i.ASNs = slices.Clone(i.ASNs)
	return i
}

// newID is the UTC opening time and a hash of kind and subject; unique
// across restarts because a (kind, subject) has one incident at a time.
func (e *Evaluator) newID(kind model.IncidentKind, subject string, opened time.Time) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d|%s", groupOf(kind), subject)
	id := fmt.Sprintf("%s-%06x", opened.UTC().Format("20060102T150405Z"), h.Sum32()&0xffffff)
	base := id
	for n := 2; e.ids[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	e.ids[id] = true
	return id
}

func (e *Evaluator) pruneRecent(now time.Time) {
	keep := e.cfg.KeepResolved.Duration
	i := 0
	for i < len(e.recent) && now.Sub(e.recent[i].Resolved) > keep {
		delete(e.ids, e.recent[i].ID)
		i++
	}
	if i > 0 {
		e.recent = slices.Delete(e.recent, 0, i)
	}
	const maxRecent = 1000
	if n := len(e.recent); n > maxRecent {
		for _, inc := range e.recent[:n-maxRecent] {
			delete(e.ids, inc.ID)
		}
		e.recent = slices.Delete(e.recent, 0, n-maxRecent)
	}
}

// Restore takes over incidents from the store after a restart: open ones
// continue (no new open change, so no second page) and resolve when their
// condition is found gone; resolved ones join the recent list. Open ones
// of a zone or resolver the targets no longer have resolve at the first
// Apply or Tick (restoredGoneReason). Call it before the first Apply or
// Tick.
func (e *Evaluator) Restore(incs []model.Incident) {
	for _, inc := range incs {
		e.ids[inc.ID] = true
		if !inc.IsOpen() {
			if !inc.Resolved.IsZero() {
				e.recent = append(e.recent, cloneIncident(inc))
			}
			continue
		}
		k := slotKey{groupOf(inc.Kind), inc.Subject}
		if s := e.slots[k]; s != nil && s.inc != nil {
			continue // a duplicate in the store: keep the first
		}
		c := cloneIncident(inc)
		s := &slot{key: k, cond: true, since: inc.Opened, inc: &c, seen: map[model.EvidenceItem]bool{}}
		for _, it := range c.Evidence {
			s.seen[it] = true
		}
		s.v = incidentVerdict(&c)
		s.story = newStory(s.v)
		e.slots[k] = s
		e.pending[s] = true
		if reason := e.restoredGoneReason(k); reason != "" {
			e.restoredGone = append(e.restoredGone, goneIncident{k, reason})
		}
	}
	slices.SortFunc(e.recent, func(a, b model.Incident) int { return a.Resolved.Compare(b.Resolved) })
}

// goneIncident is a restored incident nothing watches any more.
type goneIncident struct {
	key    slotKey
	reason string
}

// restoredGoneReason says why a restored incident's subject is no longer
// watched, or "" when it is (or cannot be known yet: prefixes and BGP
// peers also come from discovery, BMP and RIS Live, later). Zones and
// resolvers come from the configuration alone, so a missing one is gone:
// left to its rule, its incident would tell a recovery nobody saw ("b.example
// resolves again") and resolve as "condition cleared".
func (e *Evaluator) restoredGoneReason(k slotKey) string {
	switch k.g {
	case groupZone, groupMismatch, groupExpiry, groupDelegation:
		if zk := zoneKey(k.subject); e.zones[zk] == nil && !e.controls[zk] {
			return ReasonZoneRemoved
		}
	case groupResolver:
		if e.resolvers[k.subject] == nil {
			return ReasonResolverRemoved
		}
	}
	return ""
}

// closeRestoredGone resolves the restored incidents Restore found gone.
func (e *Evaluator) closeRestoredGone(now time.Time) {
	for _, o := range e.restoredGone {
		e.closeSlot(o.key.g, o.key.subject, now, o.reason)
	}
	e.restoredGone = nil
}

// incidentVerdict is the verdict an open incident tells: what a rule
// returns to keep an incident as it is, and a restored incident's verdict.
func incidentVerdict(inc *model.Incident) verdict {
	return verdict{known: true, kind: inc.Kind, severity: inc.Severity, subjectKind: inc.SubjectKind,
		rootCause: inc.RootCause, affected: inc.Affected, prefixes: inc.Prefixes, servers: inc.Servers,
		resolvers: inc.Resolvers, asns: inc.ASNs, impactAt: inc.ImpactAt}
}

// openSlots returns the slots with an open incident, in a stable order.
func (e *Evaluator) openSlots() []*slot {
	var out []*slot
	for _, s := range e.slots {
		if s.inc != nil {
			out = append(out, s)
		}
	}
	sortSlots(out)
	return out
}

func (e *Evaluator) pendingSlots() []*slot {
	out := make([]*slot, 0, len(e.pending))
	for s := range e.pending {
		out = append(out, s)
	}
	sortSlots(out)
	return out
}

func sortSlots(s []*slot) {
	slices.SortFunc(s, func(a, b *slot) int {
		if a.key.g != b.key.g {
			return int(a.key.g) - int(b.key.g)
		}
		return strings.Compare(a.key.subject, b.key.subject)
	})
}

// Open returns the open incidents, ordered by opening time.
func (e *Evaluator) Open() []model.Incident {
	var out []model.Incident
	for _, s := range e.slots {
		if s.inc != nil {
			out = append(out, cloneIncident(*s.inc))
		}
	}
	slices.SortFunc(out, func(a, b model.Incident) int {
		if c := a.Opened.Compare(b.Opened); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// ring is a small bounded evidence log kept per entity.
type ring []model.EvidenceItem

const ringSize = 8

func (r *ring) add(t time.Time, text string) {
	it := model.EvidenceItem{Time: t, Text: text}
	if n := len(*r); n > 0 && (*r)[n-1] == it {
		return
	}
	if len(*r) >= ringSize {
		copy((*r)[0:], (*r)[1:])
		(*r)[len(*r)-1] = it
		return
	}
	*r = append(*r, it)
}
