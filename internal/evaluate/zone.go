package evaluate

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// The zone group: one outage incident per zone, whose kind is the best
// explanation of what is seen: BGP-caused (its nameservers' routes
// withdrawn) over a negative answer (negative.go) over an authoritative
// outage over a DNSSEC failure. A better explanation reclassifies the
// incident in place.

// evalZone evaluates a zone's outage slot.
func (e *Evaluator) evalZone(z *zone, now time.Time) {
	e.eval(groupZone, z.key, e.zoneVerdict(z, now), now)
}

// zoneFacts is what the zone rules look at.
type zoneFacts struct {
	nsTotal                int
	degraded               []*addr
	authKnown              int
	authDown               []*server
	resKnown               int
	resDown                []*server
	resOK                  []*server
	validKnown             int
	sigDown                []*server
	unusableBGP            bool
	resolverOutageExcluded []string
}

func (e *Evaluator) facts(z *zone) zoneFacts {
	var f zoneFacts
	for _, n := range z.ns {
		f.nsTotal++
		if x := e.addrs[n.addr]; x != nil && x.degraded {
			f.degraded = append(f.degraded, x)
		}
	}
	slices.SortFunc(f.degraded, func(a, b *addr) int { return a.addr.Compare(b.addr) })
	for _, s := range z.order {
		if !s.decided {
			continue
		}
		if s.kind == model.KindAuthoritative {
			f.authKnown++
			if s.down {
				f.authDown = append(f.authDown, s)
			}
			continue
		}
		if rs := e.slots[slotKey{groupResolver, s.name}]; rs != nil && rs.cond {
			f.resolverOutageExcluded = append(f.resolverOutageExcluded, s.name)
			continue // explained by the resolver's own outage
		}
		f.resKnown++
		if s.validating {
			f.validKnown++
		}
		if s.down {
			f.resDown = append(f.resDown, s)
			if s.sig {
				f.sigDown = append(f.sigDown, s)
			}
		} else {
			f.resOK = append(f.resOK, s)
		}
	}
	// A lame server is a delegation finding while another server answers
	// (forecast.go), not part of an outage.
	f.authDown, f.authKnown = e.withoutLame(z, f.authDown, f.authKnown)
	return f
}

// zoneVerdict classifies a zone: BGP-caused outage, authoritative
// outage, DNSSEC failure, or nothing; root cause over symptoms.
func (e *Evaluator) zoneVerdict(z *zone, now time.Time) verdict {
	v := verdict{known: true, subjectKind: model.SubjectZone}
	if z.control {
		return v
	}
	f := e.facts(z)
	allNSGone := f.nsTotal > 0 && len(f.degraded) == f.nsTotal
	authAll := f.authKnown > 0 && len(f.authDown) == f.authKnown
	resAll := f.resKnown > 0 && len(f.resDown) == f.resKnown
	v.evidence = append(v.evidence, z.ev...)
	switch {
	case allNSGone || (len(f.degraded) > 0 && (authAll || (f.authKnown == 0 && resAll))):
		e.bgpZoneVerdict(z, f, &v, now)
		return v
	case len(f.degraded) == 0 && (len(f.authDown) > 0 || len(f.resDown) > 0):
		// The routes are back and DNS is recovering: the open BGP-caused
		// incident stays what it is until DNS has recovered too.
		if zs := e.slots[slotKey{groupZone, z.key}]; zs != nil && zs.inc != nil && zs.inc.Kind == model.IncidentBGPOutage {
			held := incidentVerdict(zs.inc)
			held.evidence, held.impactAt = v.evidence, time.Time{}
			return held
		}
	case f.authKnown == 0 && f.resKnown == 0 && len(f.resolverOutageExcluded) == 0 && len(f.degraded) == 0:
		// No server has a verdict yet (start, or a restart with a
		// restored incident before the first answers): nothing to tell,
		// least of all that the zone "resolves again".
		return verdict{}
	case z.undecided > 0 || z.unseenNS():
		// Some server has no verdict yet (start, restart with a restored
		// incident, new server, after the vantage was down): keep
		// whatever is open until it has.
		if len(f.authDown) == 0 && len(f.resDown) == 0 {
			return verdict{}
		}
	}
	if e.negativeVerdict(z, f, &v, now) {
		return v
	}
	if dnssecFails(f) {
		// Servers that answer a configured name with NXDOMAIN or NODATA
		// answer: while validation fails, they are not an outage.
		f.authDown = slices.DeleteFunc(f.authDown, func(s *server) bool { return isNegative(s.class) })
		authAll = f.authKnown > 0 && len(f.authDown) == f.authKnown
	}
	servers := zoneServersOf(z, f)
	switch {
	case authAll && (resAll || f.resKnown == 0 || len(f.sigDown) == 0):
		v.kind, v.severity = model.IncidentAuthOutage, model.SeverityCritical
		v.servers = serverNames(f.authDown)
		v.resolvers = serverNames(f.resDown)
		v.explain(zoneOutage{problem: everyAuthFails, zoneServers: servers, routesWithdrawn: len(f.degraded) > 0})
	case dnssecFails(f):
		v.kind, v.severity = model.IncidentDNSSEC, model.SeverityCritical
		v.resolvers = serverNames(f.sigDown)
		v.explain(zoneOutage{problem: validationFails, zoneServers: servers, sigDown: failures(f.sigDown, false), ds: z.ds})
		if dsNamesWhy(z.ds) {
			v.details = 1
		}
	case len(f.authDown) > 0:
		v.kind, v.severity = model.IncidentAuthOutage, model.SeverityWarning
		if authAll || resAll {
			v.severity = model.SeverityCritical
		}
		v.servers = serverNames(f.authDown)
		v.resolvers = serverNames(f.resDown)
		v.explain(zoneOutage{problem: someAuthFail, zoneServers: servers})
	case resAll && f.resKnown >= 1:
		v.kind, v.severity = model.IncidentAuthOutage, model.SeverityCritical
		v.resolvers = serverNames(f.resDown)
		v.explain(zoneOutage{problem: everyResolverFails, zoneServers: servers})
	case dsBad(z.ds):
		v.kind, v.severity = model.IncidentDNSSEC, model.SeverityWarning
		v.explain(zoneOutage{problem: dsMatchesNoKey, zoneServers: servers, ds: z.ds})
		v.details = 1
	default:
		return verdict{known: true}
	}
	v.affected = z.names
	if len(v.affected) == 0 {
		v.affected = []string{z.key}
	}
	return v
}

// zoneProblem is what a zone outage finding says failed.
type zoneProblem uint8

const (
	everyAuthFails     zoneProblem = iota // every authoritative server fails
	someAuthFail                          // some authoritative servers fail
	everyResolverFails                    // and no authoritative answer was seen
	validationFails                       // DNSSEC: validating resolvers fail, CD=1 succeeds
	dsMatchesNoKey                        // the parent's DS matches no DNSKEY, resolvers still answer
)

// zoneServers is how a zone's servers fare, for its findings.
type zoneServers struct {
	zone      string
	authKnown int
	authDown  []failure
	resDown   []failure
	resOK     []string
}

func zoneServersOf(z *zone, f zoneFacts) zoneServers {
	return zoneServers{zone: z.key, authKnown: f.authKnown, authDown: failures(f.authDown, true),
		resDown: failures(f.resDown, false), resOK: serverNames(f.resOK)}
}

// zoneOutage is the finding of zoneVerdict (when neither BGP nor a
// negative answer explains the zone).
type zoneOutage struct {
	problem zoneProblem
	zoneServers
	// routesWithdrawn: some nameserver's route is withdrawn, though not
	// enough of them to blame BGP.
	routesWithdrawn bool
	sigDown         []failure      // validationFails: the validating resolvers failing
	ds              *model.DSCheck // the DS check (named when it failed)
}

// failure is how one server failed, as a finding names it.
type failure struct {
	name string
	// label is what the words call it: "a.ns (192.0.2.1)" for an
	// authoritative server (when asked for), the name otherwise.
	label        string
	class        string // "timeout", "SERVFAIL", "NXDOMAIN"
	ede          []model.EDE
	qname, qtype string // the query that failed
}

// failures snapshots failing servers; withAddr labels authoritative
// servers with their address.
func failures(s []*server, withAddr bool) []failure {
	out := make([]failure, 0, len(s))
	for _, x := range s {
		label := x.name
		if withAddr {
			label = x.label()
		}
		out = append(out, failure{name: x.name, label: label, class: x.class, ede: x.ede, qname: x.qname, qtype: x.qtype})
	}
	return out
}

// dsNamesWhy reports whether a failed DS check says why it failed (an
// unmatched DS key tag or a detail): a diagnosis naming it outranks one
// that does not.
func dsNamesWhy(c *model.DSCheck) bool {
	if !dsBad(c) {
		return false
	}
	return c.Status == model.DSNoDNSKEY || c.Detail != "" || slices.ContainsFunc(c.DS, func(d model.DSRecord) bool { return !d.Matched })
}

func (e *Evaluator) bgpZoneVerdict(z *zone, f zoneFacts, v *verdict, now time.Time) {
	v.kind, v.severity, v.bgp = model.IncidentBGPOutage, model.SeverityCritical, true
	out := bgpOutage{zoneServers: zoneServersOf(z, f), withdrawn: len(f.degraded), nameservers: f.nsTotal}
	for _, a := range f.degraded {
		v.evidence = append(v.evidence, a.ev...)
		for _, p := range e.withdrawnCovers(a) {
			if !slices.Contains(v.prefixes, p) {
				v.prefixes = append(v.prefixes, p)
			}
			if r := e.routes[p]; r != nil {
				v.evidence = append(v.evidence, r.ev...)
			}
			for _, o := range e.lastOrigins(p, a.healthyOrigins) {
				if !slices.Contains(v.asns, o) {
					v.asns = append(v.asns, o)
				}
			}
		}
		if a.current.IsValid() && !slices.Contains(out.covering, a.current) {
			out.covering = append(out.covering, a.current)
		}
		if a.host != "" && !slices.Contains(v.servers, a.host) {
			v.servers = append(v.servers, a.host)
		}
	}
	slices.SortFunc(v.prefixes, comparePrefix)
	slices.SortFunc(out.covering, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	slices.Sort(v.asns)
	slices.Sort(v.servers)
	out.hosts, out.prefixes, out.origins = v.servers, v.prefixes, v.asns
	switch {
	case len(f.resOK) > 0 && len(f.resDown) == 0:
		out.fromCache = true
		out.expireFirst, out.expireLast = cacheExpiry(f.resOK)
		v.impactAt = out.expireFirst
	case len(f.resDown) > 0:
		v.resolvers = serverNames(f.resDown)
	}
	v.explain(out)
	v.affected = z.names
	if len(v.affected) == 0 {
		v.affected = []string{z.key}
	}
}

// cacheExpiry is when the first and the last of the resolvers' cached
// answers expire (zero when none is known).
func cacheExpiry(ok []*server) (first, last time.Time) {
	for _, s := range ok {
		if s.okAt.IsZero() {
			continue
		}
		exp := s.okAt.Add(time.Duration(s.okTTL) * time.Second)
		if first.IsZero() || exp.Before(first) {
			first = exp
		}
		if exp.After(last) {
			last = exp
		}
	}
	return first, last
}

// bgpOutage is the finding of bgpZoneVerdict.
type bgpOutage struct {
	zoneServers
	// withdrawn of nameservers have their most-specific route withdrawn.
	withdrawn, nameservers int
	hosts                  []string
	prefixes               []netip.Prefix // the withdrawn routes
	origins                []uint32       // their last origins
	covering               []netip.Prefix // less-specifics still covering them
	// fromCache: the resolvers still answer from cache, whose answers
	// expire from expireFirst to expireLast (zero: unknown).
	fromCache               bool
	expireFirst, expireLast time.Time
}

// withdrawnCovers lists the healthy route of a degraded address and every
// route between it and the less-specific still covering the address that
// was carried and is now seen by no peer (Facebook: the /24 and the /23).
func (e *Evaluator) withdrawnCovers(a *addr) []netip.Prefix {
	if !a.healthy.IsValid() {
		return nil
	}
	out := []netip.Prefix{a.healthy}
	low := 1
	if a.current.IsValid() {
		low = a.current.Bits() + 1
	}
	for l := a.healthy.Bits() - 1; l >= low; l-- {
		q, _ := a.addr.Prefix(l)
		if r := e.routes[q]; r != nil && len(r.peers) == 0 && len(r.carriers) > 0 {
			out = append(out, q)
		}
	}
	return out
}

// lastOrigins is the origins a prefix had before it was withdrawn.
func (e *Evaluator) lastOrigins(p netip.Prefix, fromCover []uint32) []uint32 {
	if len(fromCover) > 0 {
		return fromCover
	}
	if r := e.routes[p]; r != nil && r.lastOrigin != 0 {
		return []uint32{r.lastOrigin}
	}
	return nil
}
