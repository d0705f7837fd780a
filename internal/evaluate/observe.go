package evaluate

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// zone is the evaluator's state of one zone.
type zone struct {
	key     string
	names   []string
	expect  map[string]bool
	control bool
	servers map[string]*server
	order   []*server // servers sorted by kind then name
	// ns maps each nameserver address to its host name ("" if unknown).
	ns        map[netip.Addr]string
	undecided int
	// authAns holds each authoritative server's last answer rdata per
	// "name type", to compare resolvers against.
	authAns map[string]map[string][]string
	ds      *model.DSCheck
	// deleg is what the parent's servers last said (nil: never asked).
	deleg *delegation
	ev    ring
	fc    *forecast // signatures, serials and NS sets (forecast.go)
}

const maxNames = 16

// unseenNS reports whether some nameserver address of the zone has not
// been probed yet: until it has, the zone's verdict is not complete (after
// a restart the resolvers often answer before every authoritative server
// has, and a restored incident must not resolve on half the evidence).
func (z *zone) unseenNS() bool {
	seen := map[netip.Addr]bool{}
	for _, s := range z.order {
		if _, ns := z.ns[s.addr]; ns && s.kind == model.KindAuthoritative {
			seen[s.addr] = true
		}
	}
	return len(seen) < len(z.ns)
}

func (z *zone) addName(n string) {
	n = strings.TrimSuffix(strings.ToLower(n), ".")
	if n == "" || len(z.names) >= maxNames || slices.Contains(z.names, n) {
		return
	}
	z.names = append(z.names, n)
	slices.Sort(z.names)
}

// server is one DNS server as seen for one zone: probe rounds and their
// hysteresis.
type server struct {
	name       string
	kind       model.ServerKind
	validating bool
	addr       netip.Addr
	host       string

	// rounds counts consecutive failing (negative) or good (positive)
	// answers per query ("name type"): each query is asked once per probe
	// round, so these are rounds, however many queries a round holds. A
	// server has a handful of queries: a slice is smaller than a map.
	rounds []queryRun
	// decided is false until the server has either failed OpenRounds or
	// answered ResolveRounds times in a row; down is the hysteresis state.
	decided, down bool
	failSince     time.Time
	okAt          time.Time
	okTTL         uint32

	class        string // why the last failing probe failed ("timeout", "SERVFAIL")
	sig          bool   // the last failure carries the DNSSEC signature (CD=1 ok, EDE 6-12)
	ede          []model.EDE
	qname, qtype string

	mismatch, match int
	mismatched      bool
	// negDown: down, and the latest failure is a negative answer
	// (NXDOMAIN, NODATA): an answer, so not a sign that this vantage's
	// network is gone (counted in Evaluator.pairsNeg).
	negDown bool
	// wrong is the latest answer outside what was expected.
	wrong answerMismatch

	// vseen, vclass (the intercept class of its latest failure, "" if
	// none) and nxRun (NXDOMAIN answers in a row for a control zone) feed
	// the intercept rules of vantage.go.
	vseen  bool
	vclass string
	nxRun  int
}

// impactJitter is how far a new cache-expiry estimate must move before it
// replaces the old one.
const impactJitter = 2 * time.Second

// worstRounds is the run of the server's worst query: negative, the most
// consecutive failures of any query; positive, the fewest consecutive good
// answers over all its queries (all of them good).
func (s *server) worstRounds() int {
	worst, first := 0, true
	for _, q := range s.rounds {
		if first || q.n < worst {
			worst, first = q.n, false
		}
	}
	return worst
}

// queryRun is the current run of one query of a server.
type queryRun struct {
	name, qtype string
	n           int
}

// run returns the run counter of the query (name, qtype), adding it.
func (s *server) run(name, qtype string) *int {
	for i := range s.rounds {
		if s.rounds[i].name == name && s.rounds[i].qtype == qtype {
			return &s.rounds[i].n
		}
	}
	s.rounds = append(s.rounds, queryRun{name: name, qtype: qtype})
	return &s.rounds[len(s.rounds)-1].n
}

func (s *server) label() string {
	if s.kind == model.KindAuthoritative && s.addr.IsValid() && !strings.Contains(s.name, s.addr.String()) {
		return s.name + " (" + s.addr.String() + ")"
	}
	return s.name
}

// resolver aggregates one resolver over every zone.
type resolver struct {
	name       string
	validating bool
	addr       netip.Addr
	known      int // zones where the resolver is decided
	downZones  map[*zone]bool
	class      string
	ev         ring
	route      routeSignal     // what its probes said since its route was withdrawn
	intercept  interceptSignal // its zones failing the way an interceptor makes them
}

func (r *resolver) down() int { return len(r.downZones) }

// classify says whether an observation is a good answer, and why not.
func classify(o model.Observation) (bool, string) {
	if o.Error != model.ErrNone {
		return false, string(o.Error)
	}
	switch o.Rcode {
	case "":
		return false, "no response"
	case "NOERROR", "NXDOMAIN":
		if o.Server.Kind == model.KindAuthoritative && !o.AA {
			return false, "lame (AA=0)"
		}
		if neg := negative(o); neg != "" {
			return false, neg
		}
		return true, ""
	}
	return false, o.Rcode
}

// dnssecSignature: the failure of a validating resolver that the CD=1
// retry or an EDE 6-12 (DNSSEC Bogus … NSEC Missing) blames on DNSSEC.
func dnssecSignature(o model.Observation) bool {
	if o.CDRetry != nil && o.CDRetry.Succeeded {
		return true
	}
	for _, x := range o.EDE {
		if x.Code >= 6 && x.Code <= 12 {
			return true
		}
	}
	return false
}

func (e *Evaluator) observe(o model.Observation, now time.Time) {
	target := o.Target
	if target == "" {
		target = o.Name
	}
	z := e.zone(target)
	z.addName(o.Name)
	srv, res := e.serverOf(z, o)
	ok, class := classify(o)
	if !ok && class == classNoData && e.adHoc {
		ok, class = true, "" // an ad-hoc type nothing configured (reachmon probe)
	}
	if end := o.Time.Add(o.Latency); ok && end.After(e.lastOK) {
		e.answeredAt(end, now)
	}
	wasDecided, wasDown, wasSig, wasMis := srv.decided, srv.down, srv.sig, srv.mismatched
	if ok {
		e.countGood(z, srv, o)
	} else {
		e.countFailure(srv, o, class)
	}
	transition := wasDecided != srv.decided || wasDown != srv.down
	e.forecastObserve(z, srv, o, transition, now)
	if transition {
		e.countPair(z, srv, res, wasDecided, wasDown)
		if srv.down != wasDown {
			e.serverEvidence(z, srv, res, now)
		}
	}
	if neg := srv.down && isNegative(srv.class); neg != srv.negDown {
		srv.negDown = neg
		if neg {
			e.pairsNeg++
		} else {
			e.pairsNeg--
		}
		if !transition {
			e.evalVantage(now)
		}
	}
	if res != nil {
		e.noteVantageProbe(res, z, srv, o, ok, now)
		e.noteResolverProbe(res, z, o, ok, now)
	}
	if !transition && wasSig == srv.sig && wasMis == srv.mismatched {
		return
	}
	e.evalZone(z, now)
	e.eval(groupMismatch, z.key, e.mismatchVerdict(z), now)
	if res != nil && transition {
		e.evalResolvers(now)
	}
	if transition {
		e.evalVantage(now)
	}
}

// serverOf returns the zone's server that answered o, creating it, and
// its resolver (nil for an authoritative server).
func (e *Evaluator) serverOf(z *zone, o model.Observation) (*server, *resolver) {
	srv := z.servers[o.Server.Name]
	if srv == nil {
		srv = &server{name: o.Server.Name, kind: o.Server.Kind}
		z.servers[srv.name] = srv
		z.order = append(z.order, srv)
		slices.SortFunc(z.order, func(a, b *server) int {
			if a.kind != b.kind {
				return strings.Compare(string(b.kind), string(a.kind)) // resolvers first
			}
			return strings.Compare(a.name, b.name)
		})
		z.undecided++
	}
	if srv.kind == model.KindResolver {
		res := e.resolver(srv.name)
		if o.Server.Validating {
			res.validating = true
		}
		srv.validating = res.validating
		return srv, res
	}
	if ap, err := netip.ParseAddrPort(o.Server.Addr); err == nil {
		srv.addr = ap.Addr().Unmap()
		host, _, _ := strings.Cut(o.Server.Name, "#")
		srv.host = host
		if _, ok := z.ns[srv.addr]; !ok {
			e.linkNS(z, srv.addr, host)
		}
	}
	return srv, nil
}

// answeredAt notes the latest good answer (at end), proof that this
// vantage's network works.
func (e *Evaluator) answeredAt(end, now time.Time) {
	e.lastOK = end
	if !e.awaitVouch {
		return
	}
	// A verdict waited for that proof: judge it now rather than at the
	// next Tick.
	e.awaitVouch = false
	for _, s := range e.pendingSlots() {
		if s.inc == nil && s.cond && (s.key.g == groupZone || s.key.g == groupMismatch || s.key.g == groupResolver) {
			e.evalSlot(s, now)
		}
	}
}

// countGood counts a good answer of srv: its run, its cache expiry and
// whether it is decided up.
func (e *Evaluator) countGood(z *zone, srv *server, o model.Observation) {
	run := srv.run(o.Name, o.Type)
	*run = max(*run, 0) + 1
	// Keep the cache expiry the early warning counts from unless it
	// moves by more than a couple of seconds: answers from a cache
	// count their TTL down, and the estimate must not jitter.
	exp, prev := o.Time.Add(time.Duration(o.MinTTL)*time.Second), srv.okAt.Add(time.Duration(srv.okTTL)*time.Second)
	if srv.okAt.IsZero() || exp.Sub(prev) > impactJitter || prev.Sub(exp) > impactJitter {
		srv.okAt, srv.okTTL = o.Time, o.MinTTL
	}
	if srv.worstRounds() >= e.cfg.ResolveRounds {
		srv.down, srv.decided = false, true
	}
	e.checkAnswers(z, srv, o)
}

// countFailure counts a failing answer of srv (why: class): its run, how
// it failed and whether it is decided down.
func (e *Evaluator) countFailure(srv *server, o model.Observation, class string) {
	run := srv.run(o.Name, o.Type)
	if srv.worstRounds() >= 0 { // no failing run yet: this one starts it
		srv.failSince = o.Time
	}
	*run = min(*run, 0) - 1
	srv.class, srv.sig, srv.ede = class, srv.validating && dnssecSignature(o), o.EDE
	srv.qname, srv.qtype = o.Name, o.Type
	if -srv.worstRounds() >= e.cfg.OpenRounds {
		srv.down, srv.decided = true, true
	}
}

func (e *Evaluator) serverEvidence(z *zone, srv *server, res *resolver, now time.Time) {
	if srv.down {
		z.ev.add(srv.failSince, serverFailedEvidence(srv, e.cfg.OpenRounds))
		if res != nil {
			res.class = srv.class
			res.ev.add(srv.failSince, resolverFailedEvidence(srv))
		}
		return
	}
	z.ev.add(now, serverBackEvidence(srv, z.key))
}

// countPair keeps the decided/down counts of (zone, server) pairs.
func (e *Evaluator) countPair(z *zone, srv *server, res *resolver, wasDecided, wasDown bool) {
	if srv.decided && !wasDecided {
		z.undecided--
		e.pairsKnown++
		if z.control {
			e.ctlKnown++
		}
		if res != nil {
			res.known++
		}
	}
	if srv.down != wasDown {
		d := 1
		if !srv.down {
			d = -1
		}
		e.pairsDown += d
		if z.control {
			e.ctlDown += d
		}
		if res != nil {
			if res.downZones == nil {
				res.downZones = map[*zone]bool{}
			}
			if srv.down {
				res.downZones[z] = true
			} else {
				delete(res.downZones, z)
			}
		}
	}
}

// resetServers forgets every server's verdict (after the vantage was
// down, nothing seen meanwhile counts).
func (e *Evaluator) resetServers() {
	e.pairsKnown, e.pairsDown, e.pairsNeg, e.ctlKnown, e.ctlDown = 0, 0, 0, 0, 0
	for _, r := range e.resolvers {
		r.known, r.downZones = 0, nil
	}
	for _, z := range e.zones {
		z.undecided = len(z.servers)
		for _, s := range z.servers {
			s.decided, s.down, s.rounds, s.negDown = false, false, nil, false
			s.mismatch, s.match, s.mismatched = 0, 0, false
		}
	}
}

func (e *Evaluator) dsCheck(c model.DSCheck, now time.Time) {
	z := e.zone(c.Zone)
	e.forecastDS(z, c, now)
	prev := z.ds
	z.ds = &c
	if prev == nil || prev.Status != c.Status || prev.Detail != c.Detail {
		if c.Status == model.DSMismatch || c.Status == model.DSNoDNSKEY || (prev != nil && dsBad(prev)) {
			z.ev.add(c.Time, dsEvidence(c))
		}
		e.evalZone(z, now)
	}
}

func dsBad(c *model.DSCheck) bool {
	return c != nil && (c.Status == model.DSMismatch || c.Status == model.DSNoDNSKEY)
}

func (e *Evaluator) discovery(d model.Discovery, now time.Time) {
	z := e.zone(d.Zone)
	if len(d.Servers) == 0 {
		// A failed discovery keeps the previous set, but what the parent
		// said counts (a removed delegation leaves no servers to find).
		if e.noteDelegation(z, d) {
			e.evalZone(z, now)
		}
		return
	}
	e.noteDelegation(z, d)
	keep := map[netip.Addr]bool{}
	for _, s := range d.Servers {
		a := s.Addr.Addr().Unmap()
		keep[a] = true
		e.linkNS(z, a, s.Host)
	}
	for a := range z.ns {
		if !keep[a] && !e.nsFromConfig(z, a) {
			e.unlinkNS(z, a)
		}
	}
	e.evalZone(z, now)
	e.forecastDiscovery(z, d, now)
}

// nsFromConfig reports whether a is an explicitly probed server of z
// (kept when discovery does not list it).
func (e *Evaluator) nsFromConfig(z *zone, a netip.Addr) bool {
	for _, s := range z.servers {
		if s.kind == model.KindAuthoritative && s.addr == a {
			return true
		}
	}
	return false
}

// rdatas extracts the rdata of the answers of type qtype from normalised
// answers ("owner CLASS TYPE rdata").
func rdatas(answers []string, qtype string) []string {
	var out []string
	for _, a := range answers {
		f := strings.SplitN(a, " ", 4)
		if len(f) == 4 && f[2] == qtype {
			out = append(out, normRdata(f[3]))
		}
	}
	return out
}

func normRdata(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

// expectApplies: expected values are compared only with answers of a
// type they could be (A with IPv4, AAAA with IPv6, names and text with
// the rest; never SOA, whose serial moves).
func expectApplies(expect map[string]bool, qtype string) bool {
	if qtype == "SOA" {
		return false
	}
	for x := range expect {
		a, err := netip.ParseAddr(x)
		switch {
		case err == nil && a.Is4() && qtype == "A":
			return true
		case err == nil && !a.Is4() && qtype == "AAAA":
			return true
		case err != nil && qtype != "A" && qtype != "AAAA":
			return true
		}
	}
	return false
}

// checkAnswers compares a good answer with the expected answers, and a
// resolver's answer with the authoritative servers'.
func (e *Evaluator) checkAnswers(z *zone, srv *server, o model.Observation) {
	rd := rdatas(o.Answers, o.Type)
	key := o.Name + " " + o.Type
	if srv.kind == model.KindAuthoritative && o.Type != "SOA" {
		if z.authAns == nil {
			z.authAns = map[string]map[string][]string{}
		}
		m := z.authAns[key]
		if m == nil {
			m = map[string][]string{}
			z.authAns[key] = m
		}
		m[srv.name] = rd
	}
	var bad *answerMismatch
	switch {
	case len(rd) == 0:
	case len(z.expect) > 0:
		if expectApplies(z.expect, o.Type) && slices.ContainsFunc(rd, func(r string) bool { return !z.expect[r] }) {
			bad = &answerMismatch{qname: o.Name, qtype: o.Type, got: rd, want: sortedKeys(z.expect), wantConfigured: true}
		}
	case srv.kind == model.KindResolver && o.Type != "SOA":
		var union []string
		for _, v := range z.authAns[key] {
			for _, r := range v {
				if !slices.Contains(union, r) {
					union = append(union, r)
				}
			}
		}
		if len(union) > 0 && !slices.ContainsFunc(rd, func(r string) bool { return slices.Contains(union, r) }) {
			slices.Sort(union)
			bad = &answerMismatch{qname: o.Name, qtype: o.Type, got: rd, want: union}
		}
	}
	if bad != nil {
		srv.mismatch++
		srv.match = 0
		srv.wrong = *bad
		if srv.mismatch >= e.cfg.OpenRounds && !srv.mismatched {
			srv.mismatched = true
			z.ev.add(o.Time, mismatchEvidence(srv))
		}
		return
	}
	srv.mismatch = 0
	srv.match++
	if srv.mismatched && srv.match >= e.cfg.ResolveRounds {
		srv.mismatched = false
		z.ev.add(o.Time, srv.name+" answers as expected again")
	}
}

// answerMismatch is an answer outside what was expected: the configured
// answers, or the authoritative servers' answers.
type answerMismatch struct {
	qname, qtype   string
	got, want      []string
	wantConfigured bool // want is the configured expect list
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

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
	for a := range z.ns {
		f.nsTotal++
		if x := e.addrs[a]; x != nil && x.degraded {
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

// mismatchVerdict: answers outside the expected, or resolvers disagreeing
// with the authoritative servers; suppressed while the zone is down.
func (e *Evaluator) mismatchVerdict(z *zone) verdict {
	v := verdict{known: true, subjectKind: model.SubjectZone}
	if zs := e.slots[slotKey{groupZone, z.key}]; zs != nil && (zs.cond || zs.inc != nil) {
		return v
	}
	var bad []*server
	for _, s := range z.order {
		if s.mismatched {
			bad = append(bad, s)
		}
	}
	if len(bad) == 0 {
		return v
	}
	v.kind, v.severity = model.IncidentAnswerMismatch, model.SeverityWarning
	found := mismatchFound{zone: z.key, first: bad[0].wrong}
	for _, s := range bad {
		if s.kind == model.KindResolver {
			v.resolvers = append(v.resolvers, s.name)
		} else {
			v.servers = append(v.servers, s.name)
		}
		found.who = append(found.who, serverRefOf(s))
	}
	v.explain(found)
	v.affected = z.names
	v.evidence = slices.Clone(z.ev)
	return v
}

// mismatchFound is the finding of mismatchVerdict.
type mismatchFound struct {
	zone  string
	who   []serverRef    // the servers answering unexpectedly
	first answerMismatch // the first one's latest unexpected answer
}

// serverRef names a server of a zone: a resolver, or an authoritative
// server with its address.
type serverRef struct {
	resolver bool
	name     string
	label    string
}

func serverRefOf(s *server) serverRef {
	return serverRef{resolver: s.kind == model.KindResolver, name: s.name, label: s.label()}
}

// evalResolvers evaluates every resolver's outage slot; a change of one
// re-evaluates the zones where it fails (their verdicts leave it out).
func (e *Evaluator) evalResolvers(now time.Time) {
	for _, name := range e.resOrder {
		s := e.slots[slotKey{groupResolver, name}]
		before := s != nil && s.cond
		e.eval(groupResolver, name, e.resolverVerdict(name), now)
		s = e.slots[slotKey{groupResolver, name}]
		after := s != nil && s.cond
		if before != after {
			for _, z := range e.zonesWhereDown(name) {
				e.evalZone(z, now)
			}
		}
	}
}

func (e *Evaluator) zonesWhereDown(name string) []*zone {
	r := e.resolvers[name]
	if r == nil {
		return nil
	}
	out := make([]*zone, 0, len(r.downZones))
	for z := range r.downZones {
		out = append(out, z)
	}
	slices.SortFunc(out, func(a, b *zone) int { return strings.Compare(a.key, b.key) })
	return out
}

// resolverOutageShare: a resolver failing for at least this share of the
// zones it answers for, while another resolver fails for less than half
// of its zones, is in outage.
const resolverOutageShare = 0.8

func (e *Evaluator) resolverVerdict(name string) verdict {
	v := verdict{known: true, subjectKind: model.SubjectResolver}
	r := e.resolvers[name]
	routeGone := e.routeWithdrawnAndFailing(r) // its own route withdrawn: no need to wait for open_rounds
	if !routeGone && (r == nil || r.known == 0 || r.down() == 0 || float64(r.down()) < resolverOutageShare*float64(r.known)) {
		return v
	}
	var fine []string
	for _, o := range e.resOrder {
		x := e.resolvers[o]
		if o != name && x.known > 0 && x.down()*2 < x.known {
			fine = append(fine, o)
		}
	}
	if len(fine) == 0 {
		return v // every resolver fails: the zones or the vantage, not one resolver
	}
	v.kind, v.severity = model.IncidentResolverOutage, model.SeverityWarning
	v.resolvers = []string{name}
	v.evidence = slices.Clone(r.ev)
	found := resolverOutage{resolver: name, scope: everyZone, down: r.down(), known: r.known, class: r.class, answering: fine}
	down := r.downZones
	switch {
	case routeGone && (r.known == 0 || float64(r.down()) < resolverOutageShare*float64(r.known)):
		found.scope, found.class, down = sinceRouteWithdrawn, r.route.failClass, r.routeFailedZones()
	case r.down() < r.known:
		found.scope = nearlyEveryZone
	}
	if a := e.addrs[r.addr]; r.addr.IsValid() && a != nil && a.degraded && a.healthy.IsValid() {
		v.prefixes = []netip.Prefix{a.healthy}
		v.asns = e.lastOrigins(a.healthy, a.healthyOrigins)
		found.ownRoute, found.origins = a.healthy, v.asns
		v.evidence = append(v.evidence, a.ev...)
	}
	v.explain(found)
	v.affected = e.smallestZones(down, 20)
	return v
}

// resolverScope is which zones a resolver outage finding says fail.
type resolverScope uint8

const (
	everyZone           resolverScope = iota
	nearlyEveryZone                   // at least resolverOutageShare of them
	sinceRouteWithdrawn               // every zone probed since its own route was withdrawn
)

// resolverOutage is the finding of resolverVerdict.
type resolverOutage struct {
	resolver    string
	scope       resolverScope
	down, known int    // zones it fails for, of those it was judged for
	class       string // how it fails
	answering   []string
	// ownRoute is its own route when withdrawn from BGP, with its last
	// origins.
	ownRoute netip.Prefix
	origins  []uint32
}

// smallestZones returns up to n zone names of m, sorted (without sorting
// all of m).
func (e *Evaluator) smallestZones(m map[*zone]bool, n int) []string {
	out := make([]string, 0, n)
	for z := range m {
		i, _ := slices.BinarySearch(out, z.key)
		if i >= n {
			continue
		}
		if len(out) == n {
			out = out[:n-1]
		}
		out = slices.Insert(out, i, z.key)
	}
	return out
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
		for _, s := range z.servers {
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

func serverNames(s []*server) []string {
	out := make([]string, 0, len(s))
	for _, x := range s {
		out = append(out, x.name)
	}
	return out
}
