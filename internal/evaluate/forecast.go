package evaluate

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/intern"
	"github.com/reachmon/reachmon/internal/model"
)

// Forecasts: failures that announce themselves before they happen.
//
//   - dnssec_expiry (group groupExpiry, subject = zone): RRSIGs served by
//     the authoritative servers expire within signature_warning (warning),
//     or closer than the longest TTL of the signed data (critical); or an
//     RRSIG starts in the future (the signer's clock is ahead).
//   - delegation_inconsistent (group groupDelegation, subject = zone): the
//     parent's NS set differs from the zone's own, a listed server answers
//     but not authoritatively (lame), or the servers' SOA serials stay
//     apart longer than serial_spread_after. Warnings: resolvers still get
//     answers from the other servers.
//
// Both keep their root cause stable while nothing material changes (the
// names listed are the union over the condition's life, the time left is
// told as of the moment the expiry or severity last changed), so that an
// open incident does not post a thread reply every probe round.

// forecastSettle is the least time a forecast waits before it opens: it
// is minutes or days ahead, and after a re-sign or a delegation change the
// servers' answers arrive over a probe round or two; the page then names
// them all instead of growing by a thread reply per server.
const forecastSettle = 10 * time.Second

// inceptionSlack is how far an RRSIG inception may lie ahead of this
// vantage's clock before it counts as in the future: two clocks that are
// both kept by NTP agree to well within it.
const inceptionSlack = 10 * time.Second

// forecast is a zone's state for the forecast rules. A zone has a
// handful of servers: their signatures and serials are short slices
// rather than maps, and the maps that only an incident fills are made
// when it does (10,000 zones: BenchmarkEvaluatorHeap).
type forecast struct {
	// sigs are the latest signature summaries, one per server and rrset
	// (and one for the DNSKEY set from the DS check).
	sigs []*sigEntry
	// exp is what the expiry root cause tells while signatures expire
	// within the horizon or start in the future (nil otherwise: most zones
	// never have one).
	exp *expiryState

	// serials are the SOA serials the servers answered last, one per
	// server.
	serials []serialSeen
	// spreadSince is when the serials began to differ (zero: they agree).
	spreadSince time.Time
	// parentNS and apexNS are the NS sets of the last discovery.
	parentNS, apexNS []string
	nsSince          time.Time
	// discovered are the addresses of the last successful discovery (nil:
	// none, the servers are configured). The evaluator keeps probing
	// state of a server discovery dropped; its findings must not linger.
	discovered []netip.Addr
	// findings remembers when each delegation finding began (nil until
	// the first).
	findings map[string]time.Time
}

// expiryState is the dnssec_expiry root cause's state of a zone.
type expiryState struct {
	// expEv is the evidence item of each distinct earliest expiration
	// seen, so that a re-sign reaching the servers one by one is one item
	// (nil until the first).
	expEv map[time.Time]model.EvidenceItem
	// rrsets and servers are named by the expiry root cause: the union over
	// the condition's life (a recovering server does not rewrite it).
	rrsets, servers []string
	// rcExp, rcSev and rcAt: the earliest expiration and the severity the
	// root cause tells, and since when (the time left is as of rcAt).
	rcExp time.Time
	rcSev model.Severity
	rcAt  time.Time
	rcTTL uint32
}

// isDiscovered reports whether a is in the zone's last discovery.
func (fc *forecast) isDiscovered(a netip.Addr) bool {
	return slices.Contains(fc.discovered, a)
}

// sigOf returns the signature summary of server srv (dnskeySig: the DNSKEY
// set) for the rrset "name qtype", and its index (-1: none).
func (fc *forecast) sigOf(srv, name, qtype string) (*sigEntry, int) {
	for i, en := range fc.sigs {
		if en.srv == srv && rrsetIs(en.rrset, name, qtype) {
			return en, i
		}
	}
	return nil, -1
}

// dnskeySig is the server of the DNSKEY set's signature summary: it comes
// from the DS check, over every server.
const dnskeySig = ""

// rrsetIs reports whether rrset ("name qtype", the name lower case) is
// the rrset of name and qtype, without building it.
func rrsetIs(rrset, name, qtype string) bool {
	return len(rrset) == len(name)+1+len(qtype) && rrset[len(name)] == ' ' &&
		strings.HasSuffix(rrset, qtype) && strings.EqualFold(rrset[:len(name)], name)
}

type sigEntry struct {
	server string     // label: "ns1.example.com. (192.0.2.1)"
	srv    string     // the server's name (dnskeySig for the DNSKEY set)
	addr   netip.Addr // invalid for the DNSKEY set (several servers)
	rrset  string     // "example.com. SOA"
	v      model.SigValidity
	since  time.Time // when this expiration was first seen
}

type serialSeen struct {
	name   string // the server's
	label  string
	addr   netip.Addr
	serial uint32
}

func (z *zone) forecast() *forecast {
	if z.fc == nil {
		z.fc = &forecast{}
	}
	return z.fc
}

// forecastObserve takes what an authoritative answer says about
// signatures and serials; transition says the server's verdict changed
// (a lame server is a delegation finding).
func (e *Evaluator) forecastObserve(z *zone, srv *server, o model.Observation, transition bool, now time.Time) {
	if srv.kind != model.KindAuthoritative {
		return
	}
	good := o.Answered() && o.AA && (o.Rcode == "NOERROR" || o.Rcode == "NXDOMAIN")
	apexSOA := o.Type == "SOA" && zoneKey(o.Name) == z.key
	if z.fc == nil && o.RRSIG == nil && !apexSOA && !transition {
		return
	}
	fc := z.forecast()
	sigChanged := false
	switch en, i := fc.sigOf(srv.name, o.Name, o.Type); {
	case good && o.RRSIG != nil:
		if en == nil || !en.v.Expiration.Equal(o.RRSIG.Expiration) || !en.v.Inception.Equal(o.RRSIG.Inception) || en.v.TTL != o.RRSIG.TTL {
			sigChanged = true
			next := &sigEntry{server: e.strs.Of(srv.label()), srv: srv.name, addr: srv.addr, rrset: strings.ToLower(o.Name) + " " + o.Type, v: *o.RRSIG, since: o.Time}
			if en == nil {
				fc.sigs = append(fc.sigs, next)
			} else {
				fc.sigs[i] = next
			}
		}
	case good:
		if en != nil {
			fc.sigs = slices.Delete(fc.sigs, i, i+1) // served unsigned now
			sigChanged = true
		}
	}
	serialChanged := false
	if apexSOA {
		i := slices.IndexFunc(fc.serials, func(s serialSeen) bool { return s.name == srv.name })
		if good && o.SOASerial != nil {
			if i < 0 {
				fc.serials = append(fc.serials, serialSeen{name: srv.name, label: e.strs.Of(srv.label()), addr: srv.addr, serial: *o.SOASerial})
				serialChanged = true
			} else {
				s := &fc.serials[i]
				if s.addr != srv.addr {
					s.label, s.addr = e.strs.Of(srv.label()), srv.addr
				}
				serialChanged = s.serial != *o.SOASerial
				s.serial = *o.SOASerial
			}
		} else if i >= 0 {
			fc.serials = slices.Delete(fc.serials, i, i+1)
			serialChanged = true
		}
	}
	if sigChanged || len(fc.sigs) > 0 || e.slots[slotKey{groupExpiry, z.key}] != nil {
		e.eval(groupExpiry, z.key, e.expiryVerdict(z, now), now)
	}
	if transition || serialChanged || apexSOA || e.slots[slotKey{groupDelegation, z.key}] != nil {
		e.eval(groupDelegation, z.key, e.delegationVerdict(z, now), now)
	}
}

// forecastDS takes the DNSKEY set's signatures from a DS check.
func (e *Evaluator) forecastDS(z *zone, c model.DSCheck, now time.Time) {
	if c.DNSKEYRRSIG == nil && z.fc == nil {
		return
	}
	fc := z.forecast()
	if c.DNSKEYRRSIG == nil {
		if c.Status == model.DSIncomplete {
			return // the DNSKEY set may not have been read: keep what is known
		}
		if _, i := fc.sigOf(dnskeySig, z.name.FQDN(), "DNSKEY"); i >= 0 {
			fc.sigs = slices.Delete(fc.sigs, i, i+1)
		}
	} else {
		v := *c.DNSKEYRRSIG
		v.Server = e.strs.Of(v.Server)
		if en, i := fc.sigOf(dnskeySig, z.name.FQDN(), "DNSKEY"); en == nil || !en.v.Expiration.Equal(v.Expiration) || !en.v.Inception.Equal(v.Inception) || en.v.TTL != v.TTL {
			next := &sigEntry{server: e.strs.Of(hostAddrLabel(v.Server)), srv: dnskeySig, rrset: z.name.FQDN() + " DNSKEY", v: v, since: c.Time}
			if en == nil {
				fc.sigs = append(fc.sigs, next)
			} else {
				fc.sigs[i] = next
			}
		}
	}
	e.eval(groupExpiry, z.key, e.expiryVerdict(z, now), now)
}

// forecastDiscovery takes the parent's and the zone's NS sets.
func (e *Evaluator) forecastDiscovery(z *zone, d model.Discovery, now time.Time) {
	fc := z.forecast()
	fc.discovered = fc.discovered[:0]
	for _, s := range d.Servers {
		if a := s.Addr.Addr().Unmap(); !slices.Contains(fc.discovered, a) {
			fc.discovered = append(fc.discovered, a)
		}
	}
	parent, apex := normNames(d.ParentNS, &e.strs), normNames(d.ApexNS, &e.strs)
	if !slices.Equal(parent, fc.parentNS) || !slices.Equal(apex, fc.apexNS) {
		fc.parentNS, fc.apexNS, fc.nsSince = parent, apex, d.Time
	}
	e.eval(groupDelegation, z.key, e.delegationVerdict(z, now), now)
}

func normNames(ns []string, strs *intern.Table) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		n = strs.Of(model.ZoneNameOf(n).FQDN())
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// sigProblem is one signature summary that needs attention.
type sigProblem struct {
	en       *sigEntry
	severity model.Severity
	future   bool // the inception is ahead (else: the expiration is near)
}

// unboundSkew is the clock skew Unbound (the most lenient common
// validator) forgives an RRSIG: 10 % of its validity period, at least
// an hour and at most a day (val-sig-skew-min/max).
func unboundSkew(v model.SigValidity) time.Duration {
	return min(max(v.Expiration.Sub(v.Inception)/10, time.Hour), 24*time.Hour)
}

// sigProblems lists the zone's signature summaries that are within the
// horizon or start in the future, from servers still serving the zone.
func (e *Evaluator) sigProblems(z *zone, now time.Time) []sigProblem {
	if z.fc == nil {
		return nil
	}
	horizon := e.cfg.SignatureWarning.Duration
	var out []sigProblem
	for _, en := range z.fc.sigs {
		if en.addr.IsValid() && !listed(z, en.addr) {
			continue // no longer a server of the zone
		}
		left := en.v.Expiration.Sub(now)
		switch {
		case left < time.Duration(en.v.TTL)*time.Second:
			out = append(out, sigProblem{en: en, severity: model.SeverityCritical})
		case left < horizon:
			out = append(out, sigProblem{en: en, severity: model.SeverityWarning})
		}
		if lead := en.v.Inception.Sub(now); lead > inceptionSlack {
			sev := model.SeverityWarning
			if lead > unboundSkew(en.v) {
				sev = model.SeverityCritical
			}
			out = append(out, sigProblem{en: en, severity: sev, future: true})
		}
	}
	slices.SortFunc(out, func(a, b sigProblem) int {
		if c := a.en.v.Expiration.Compare(b.en.v.Expiration); c != 0 {
			return c
		}
		if c := strings.Compare(a.en.rrset, b.en.rrset); c != 0 {
			return c
		}
		return strings.Compare(a.en.server, b.en.server)
	})
	return out
}

// expiryVerdict: signatures the authoritative servers serve expire within
// the horizon, or start in the future.
func (e *Evaluator) expiryVerdict(z *zone, now time.Time) verdict {
	if z.fc == nil {
		return verdict{} // nothing seen yet (a restored incident waits)
	}
	v := verdict{known: true, subjectKind: model.SubjectZone}
	probs := e.sigProblems(z, now)
	if len(probs) == 0 {
		z.fc.exp = nil
		return v
	}
	if z.fc.exp == nil {
		z.fc.exp = &expiryState{}
	}
	fc := z.fc.exp
	v.kind, v.severity = model.IncidentDNSSECExpiry, model.SeverityWarning
	var expiring, future []sigProblem
	for _, p := range probs {
		if p.severity == model.SeverityCritical {
			v.severity = model.SeverityCritical
		}
		if p.future {
			future = append(future, p)
		} else {
			expiring = append(expiring, p)
		}
		fc.rrsets = addName(fc.rrsets, p.en.rrset)
		if p.en.server != "" {
			fc.servers = addName(fc.servers, p.en.server)
		}
	}
	// While the incident is open its story is the worst point reached: a
	// re-sign reaching the servers one by one (or a partial one) must not
	// turn a critical expiry back into a warning about a later one.
	is := e.slots[slotKey{groupExpiry, z.key}]
	latched := is != nil && is.inc != nil && !fc.rcExp.IsZero()
	if latched && is.inc.Severity.Rank() > v.severity.Rank() {
		v.severity = is.inc.Severity
	}
	found := expiryFound{zone: z.key}
	if len(expiring) > 0 {
		latchExpiry(fc, expiring, latched, now)
	}
	if !fc.rcExp.IsZero() && (len(expiring) > 0 || latched) {
		found.expiring = &expiringSigs{rrsets: slices.Clone(fc.rrsets), servers: slices.Clone(fc.servers),
			at: fc.rcExp, asOf: fc.rcAt, critical: fc.rcSev == model.SeverityCritical, ttl: fc.rcTTL,
			horizon: e.cfg.SignatureWarning.Duration}
	}
	if len(future) > 0 {
		found.future = latestFuture(future)
		if _, ok := fc.expEv[found.future.inception]; !ok {
			if fc.expEv == nil {
				fc.expEv = map[time.Time]model.EvidenceItem{}
			}
			fc.expEv[found.future.inception] = model.EvidenceItem{Time: found.future.since, Text: futureSigEvidence(found.future)}
		}
	}
	v.explain(found)
	v.servers = serverHosts(fc.servers)
	v.affected = []string{z.key}
	for _, it := range fc.expEv {
		v.evidence = append(v.evidence, it)
	}
	slices.SortFunc(v.evidence, func(a, b model.EvidenceItem) int { return a.Time.Compare(b.Time) })
	return v
}

// latchExpiry moves the expiration the root cause tells to the earliest
// one expiring when it is sooner (or worse) than the one told, and keeps
// an evidence item per earliest expiration.
func latchExpiry(fc *expiryState, expiring []sigProblem, latched bool, now time.Time) {
	first := expiring[0].en
	var ttl uint32
	for _, p := range expiring {
		ttl = max(ttl, p.en.v.TTL)
	}
	worse := !latched || first.v.Expiration.Before(fc.rcExp) ||
		(first.v.Expiration.Equal(fc.rcExp) && expiring[0].severity.Rank() > fc.rcSev.Rank())
	if worse && (!first.v.Expiration.Equal(fc.rcExp) || expiring[0].severity != fc.rcSev) {
		fc.rcExp, fc.rcSev, fc.rcAt, fc.rcTTL = first.v.Expiration, expiring[0].severity, now, ttl
	}
	if _, ok := fc.expEv[first.v.Expiration]; !ok {
		if fc.expEv == nil {
			fc.expEv = map[time.Time]model.EvidenceItem{}
		}
		fc.expEv[first.v.Expiration] = model.EvidenceItem{Time: first.since, Text: expiringSigEvidence(first)}
	}
}

// latestFuture is the signature whose inception lies furthest ahead.
func latestFuture(future []sigProblem) *futureSig {
	first := future[0]
	for _, p := range future[1:] {
		if p.en.v.Inception.After(first.en.v.Inception) {
			first = p
		}
	}
	en := first.en
	return &futureSig{rrset: en.rrset, server: en.server, inception: en.v.Inception, since: en.since,
		critical: first.severity == model.SeverityCritical, skew: unboundSkew(en.v)}
}

// expiryFound is the finding of expiryVerdict.
type expiryFound struct {
	zone     string
	expiring *expiringSigs // nil: none expires within the horizon
	future   *futureSig    // nil: none starts in the future
}

// expiringSigs is the earliest expiration the root cause tells.
type expiringSigs struct {
	rrsets, servers []string // every one named while the condition lasted
	at, asOf        time.Time
	// critical: closer than ttl, the longest TTL of the signed data;
	// else within horizon, signature_warning.
	critical bool
	ttl      uint32
	horizon  time.Duration
}

// futureSig is a signature whose validity starts in the future.
type futureSig struct {
	rrset, server    string
	inception, since time.Time // since: when it was first served
	// critical: further ahead than skew, what Unbound forgives.
	critical bool
	skew     time.Duration
}

// delegationVerdict lists every delegation finding of a zone.
func (e *Evaluator) delegationVerdict(z *zone, now time.Time) verdict {
	if z.fc == nil {
		return verdict{} // nothing seen yet (a restored incident waits)
	}
	v := verdict{known: true, subjectKind: model.SubjectZone}
	fc := z.fc
	var fs []delegationIssue
	if len(fc.parentNS) > 0 && len(fc.apexNS) > 0 && !slices.Equal(fc.parentNS, fc.apexNS) {
		var onlyParent, onlyZone []string
		for _, n := range fc.parentNS {
			if !slices.Contains(fc.apexNS, n) {
				onlyParent = append(onlyParent, n)
			}
		}
		for _, n := range fc.apexNS {
			if !slices.Contains(fc.parentNS, n) {
				onlyZone = append(onlyZone, n)
			}
		}
		fs = append(fs, delegationIssue{key: "ns", problem: nsSetsDiffer, parentNS: fc.parentNS, apexNS: fc.apexNS,
			onlyParent: onlyParent, onlyZone: onlyZone, servers: append(onlyParent, onlyZone...)})
	}
	// Lame servers: while the zone is down they are part of its outage.
	if zs := e.slots[slotKey{groupZone, z.key}]; zs == nil || !zs.cond {
		for _, s := range e.lameServers(z) {
			fs = append(fs, delegationIssue{key: "lame " + s.name, problem: lameServer, zone: z.key,
				lame: failure{name: s.name, label: s.label(), class: s.class}, servers: []string{s.name}})
		}
	}
	if spread, labels := e.serialSpread(z, now); spread {
		fs = append(fs, delegationIssue{key: "serial", problem: serialsApart, since: fc.spreadSince,
			after: e.cfg.SerialSpreadAfter.Duration, serials: labels})
	}
	for k := range fc.findings {
		if !slices.ContainsFunc(fs, func(f delegationIssue) bool { return f.key == k }) {
			delete(fc.findings, k)
		}
	}
	if len(fs) == 0 {
		return v
	}
	v.kind, v.severity = model.IncidentDelegation, model.SeverityWarning
	for _, f := range fs {
		since, ok := fc.findings[f.key]
		if !ok {
			since = now
			if f.key == "ns" && !fc.nsSince.IsZero() {
				since = fc.nsSince
			}
			if fc.findings == nil {
				fc.findings = map[string]time.Time{}
			}
			fc.findings[f.key] = since
		}
		v.evidence = append(v.evidence, model.EvidenceItem{Time: since, Text: f.text()})
		for _, s := range f.servers {
			if !slices.Contains(v.servers, s) {
				v.servers = append(v.servers, s)
			}
		}
	}
	v.explain(delegationFound{zone: z.key, issues: fs})
	v.affected = []string{z.key}
	return v
}

// delegationProblem is what a delegation issue is.
type delegationProblem uint8

const (
	nsSetsDiffer delegationProblem = iota // the parent's NS set is not the zone's own
	lameServer                            // a listed server does not answer authoritatively
	serialsApart                          // the servers' SOA serials differ for too long
)

// delegationIssue is one finding of delegationVerdict; key identifies it
// over time (its evidence item keeps the time it began).
type delegationIssue struct {
	key     string
	problem delegationProblem
	servers []string // the servers it names
	// nsSetsDiffer
	parentNS, apexNS, onlyParent, onlyZone []string
	// lameServer: the server and how it answers (not the query: it
	// alternates between the server's queries, and the text must not
	// change every round)
	zone string
	lame failure
	// serialsApart: since when, longer than after, "server serial N"
	since   time.Time
	after   time.Duration
	serials []string
}

// delegationFound is the finding of delegationVerdict.
type delegationFound struct {
	zone   string
	issues []delegationIssue
}

// listed reports whether a is a current server of z: in its last
// discovery, or linked when it has none.
func listed(z *zone, a netip.Addr) bool {
	if z.fc != nil && z.fc.discovered != nil {
		return z.fc.isDiscovered(a)
	}
	return z.hasNS(a)
}

// lameClass reports whether a failure class is an answer that is not
// authoritative: REFUSED, SERVFAIL, NOTAUTH, or AA=0.
func lameClass(class string) bool {
	switch class {
	case "REFUSED", "SERVFAIL", "NOTAUTH":
		return true
	}
	return strings.HasPrefix(class, "lame")
}

// lameServers are the zone's authoritative servers that answer, but not
// authoritatively, while another server of the zone answers well: a lame
// delegation, not an outage (resolvers move on to the good servers).
func (e *Evaluator) lameServers(z *zone) []*server {
	var lame []*server
	good := false
	for _, s := range z.order {
		if s.kind != model.KindAuthoritative || !s.decided {
			continue
		}
		if s.addr.IsValid() && !listed(z, s.addr) {
			continue
		}
		switch {
		case !s.down:
			good = true
		case lameClass(s.class):
			lame = append(lame, s)
		}
	}
	if !good {
		return nil
	}
	return lame
}

// withoutLame drops lame servers from the failing authoritative servers
// of a zone's outage verdict (they are a delegation finding) while some
// server answers well.
func (e *Evaluator) withoutLame(z *zone, down []*server, known int) ([]*server, int) {
	lame := e.lameServers(z)
	if len(lame) == 0 {
		return down, known
	}
	out := slices.DeleteFunc(slices.Clone(down), func(s *server) bool { return slices.Contains(lame, s) })
	return out, known - (len(down) - len(out))
}

// serialSpread reports whether the servers' SOA serials have differed for
// longer than serial_spread_after, with "server serial" labels.
func (e *Evaluator) serialSpread(z *zone, now time.Time) (bool, []string) {
	fc := z.fc
	var seen []serialSeen
	for _, s := range fc.serials {
		if !s.addr.IsValid() || listed(z, s.addr) {
			seen = append(seen, s)
		}
	}
	differ := false
	for _, s := range seen[min(1, len(seen)):] {
		if s.serial != seen[0].serial {
			differ = true
		}
	}
	if !differ {
		fc.spreadSince = time.Time{}
		return false, nil
	}
	if fc.spreadSince.IsZero() {
		fc.spreadSince = now
	}
	after := e.cfg.SerialSpreadAfter.Duration
	if after <= 0 || now.Sub(fc.spreadSince) < after {
		return false, nil
	}
	slices.SortFunc(seen, func(a, b serialSeen) int { return strings.Compare(a.label, b.label) })
	labels := make([]string, 0, len(seen))
	for _, s := range seen {
		labels = append(labels, serialLabel(s))
	}
	return true, labels
}

// hostAddrLabel turns the prober's "host (addr:port)" into the evaluator's
// "host (addr)" label, so that a server is named one way.
func hostAddrLabel(s string) string {
	host, rest, ok := strings.Cut(s, " (")
	if !ok {
		return s
	}
	if ap, err := netip.ParseAddrPort(strings.TrimSuffix(rest, ")")); err == nil {
		return host + " (" + ap.Addr().String() + ")"
	}
	return s
}

func addName(list []string, n string) []string {
	if slices.Contains(list, n) {
		return list
	}
	list = append(list, n)
	slices.Sort(list)
	return list
}

// serverHosts turns "host (addr)" labels into host names.
func serverHosts(labels []string) []string {
	var out []string
	for _, l := range labels {
		h, _, _ := strings.Cut(l, " (")
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}
