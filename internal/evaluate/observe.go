package evaluate

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// DNS ingest: what the probes, DS checks and discoveries say, kept per
// zone, server and resolver with the hysteresis of open_rounds and
// resolve_rounds; each change re-evaluates the groups it can affect.

// zone is the evaluator's state of one zone. Its servers and nameserver
// addresses are short slices rather than maps: a zone has a handful of
// each, and a map of a handful costs hundreds of bytes (10,000 zones:
// BenchmarkEvaluatorHeap).
type zone struct {
	key     string         // name.Label(): the zone's key in maps, verdicts and events
	name    model.ZoneName // for the spelling DNS speaks (name.FQDN())
	names   []string
	expect  map[string]bool
	control bool
	order   []*server // servers sorted by kind then name
	// ns are the nameserver addresses with their host names ("" if
	// unknown), in the order they were linked.
	ns []nsAddr
	// configured are the addresses of the zone's configured
	// authoritative servers: kept whatever discovery says.
	configured map[netip.Addr]bool
	undecided  int
	// authAns holds each authoritative server's last answer rdata per
	// "name type", to compare resolvers against.
	authAns map[string]map[string][]string
	ds      *model.DSCheck
	// deleg is what the parent's servers last said (nil: never asked).
	deleg *delegation
	ev    ring
	fc    *forecast       // signatures, serials and NS sets (forecast.go)
	dt    zoneDetailState // for the zone detail (detail.go)
}

// nsAddr is one nameserver address of a zone and its host name.
type nsAddr struct {
	addr netip.Addr
	host string
}

const maxNames = 16

// server returns the zone's server named name (nil: none).
func (z *zone) server(name string) *server {
	for _, s := range z.order {
		if s.name == name {
			return s
		}
	}
	return nil
}

// nsHost returns the host name of nameserver address a, and whether a is
// one of the zone's.
func (z *zone) nsHost(a netip.Addr) (string, bool) {
	for _, n := range z.ns {
		if n.addr == a {
			return n.host, true
		}
	}
	return "", false
}

// hasNS reports whether a is one of the zone's nameserver addresses.
func (z *zone) hasNS(a netip.Addr) bool {
	_, ok := z.nsHost(a)
	return ok
}

// nsAddrs returns a copy of the zone's nameserver addresses.
func (z *zone) nsAddrs() []netip.Addr {
	out := make([]netip.Addr, len(z.ns))
	for i, n := range z.ns {
		out[i] = n.addr
	}
	return out
}

// unseenNS reports whether some nameserver address of the zone has not
// been probed yet: until it has, the zone's verdict is not complete (after
// a restart the resolvers often answer before every authoritative server
// has, and a restored incident must not resolve on half the evidence).
func (z *zone) unseenNS() bool {
	for _, n := range z.ns {
		if !slices.ContainsFunc(z.order, func(s *server) bool { return s.kind == model.KindAuthoritative && s.addr == n.addr }) {
			return true
		}
	}
	return false
}

// addName records a query name of the zone in its label spelling; the
// root ("" or ".") is no name a user would look for among affected names.
func (z *zone) addName(name string) {
	n := model.ZoneNameOf(name).Label()
	if n == "." || len(z.names) >= maxNames || slices.Contains(z.names, n) {
		return
	}
	z.names = append(z.names, n)
	slices.Sort(z.names)
}

// server is one DNS server as seen for one zone: probe rounds and their
// hysteresis. There is one per zone and server (50,000 at 10,000 zones x
// 5 servers): the fields are ordered so that it fits 256 bytes (the small
// ones together at the end), and what only failures and mismatches need
// is a pointer or a string that stays empty while the server answers
// well (BenchmarkEvaluatorHeap).
type server struct {
	name string
	kind model.ServerKind
	addr netip.Addr

	failSince time.Time
	okAt      time.Time

	class        string // why the last failing probe failed ("timeout", "SERVFAIL")
	ede          []model.EDE
	qname, qtype string

	// wrong is the latest answer outside what was expected (nil: none
	// yet).
	wrong *answerMismatch

	// vclass is the intercept class of its latest failure ("" if none);
	// with vseen and nxRun (NXDOMAIN answers in a row for a control zone)
	// it feeds the intercept rules of vantage.go.
	vclass string

	// dt is its last result of each query, for the zone detail
	// (detail.go), and the run of each query: consecutive failing
	// (negative) or good (positive) answers per query ("name type"). Each
	// query is asked once per probe round, so the runs count rounds,
	// however many queries a round holds.
	dt serverDetailState

	okTTL           uint32
	mismatch, match int32
	nxRun           int32

	validating bool
	// decided is false until the server has either failed OpenRounds or
	// answered ResolveRounds times in a row; down is the hysteresis state.
	decided, down bool
	sig           bool // the last failure carries the DNSSEC signature (CD=1 ok, EDE 6-12)
	mismatched    bool
	// negDown: down, and the latest failure is a negative answer
	// (NXDOMAIN, NODATA): an answer, so not a sign that this vantage's
	// network is gone (counted in Evaluator.pairsNeg).
	negDown bool
	vseen   bool
}

// impactJitter is how far a new cache-expiry estimate must move before it
// replaces the old one.
const impactJitter = 2 * time.Second

// worstRounds is the run of the server's worst query: negative, the most
// consecutive failures of any query; positive, the fewest consecutive good
// answers over all its queries (all of them good). Only the queries
// counted since the server was last reset take part.
func (s *server) worstRounds() int {
	worst, first := 0, true
	for i := range s.dt.last {
		q := &s.dt.last[i]
		if q.flags&resultRun == 0 {
			continue
		}
		if n := int(q.run); first || n < worst {
			worst, first = n, false
		}
	}
	return worst
}

// maxRun bounds a query's run (a good one grows every round): far above
// any open_rounds or resolve_rounds.
const maxRun = 1 << 30

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
	if e.dropped(z, o) {
		return
	}
	z.addName(o.Name)
	srv, res := e.serverOf(z, o)
	ok, class := classify(o)
	if !ok && class == classNoData && e.adHoc {
		ok, class = true, "" // an ad-hoc type nothing configured (reachmon probe)
	}
	q := e.noteDetail(srv, o, ok, class)
	if end := o.Time.Add(o.Latency); ok && end.After(e.lastOK) {
		e.answeredAt(end, now)
	}
	wasDecided, wasDown, wasSig, wasMis := srv.decided, srv.down, srv.sig, srv.mismatched
	if ok {
		e.countGood(z, srv, q, o)
	} else {
		e.countFailure(srv, q, o, class)
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
	srv := z.server(o.Server.Name)
	if srv == nil {
		srv = &server{name: e.strs.Of(o.Server.Name), kind: o.Server.Kind}
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
		if !z.hasNS(srv.addr) {
			host, _, _ := strings.Cut(srv.name, "#")
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
func (e *Evaluator) countGood(z *zone, srv *server, q *queryResult, o model.Observation) {
	q.flags |= resultRun
	q.run = min(max(q.run, 0)+1, maxRun)
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
func (e *Evaluator) countFailure(srv *server, q *queryResult, o model.Observation, class string) {
	q.flags |= resultRun
	if srv.worstRounds() >= 0 { // no failing run yet: this one starts it
		srv.failSince = o.Time
	}
	q.run = max(min(q.run, 0)-1, -maxRun)
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
		z.undecided = len(z.order)
		for _, s := range z.order {
			s.decided, s.down, s.negDown = false, false, false
			s.dt.resetRuns()
			s.mismatch, s.match, s.mismatched = 0, 0, false
		}
	}
}

func (e *Evaluator) dsCheck(c model.DSCheck, now time.Time) {
	z := e.zone(c.Zone)
	e.forecastDS(z, c, now)
	prev := z.ds
	// What the rules and the zone detail read of the check: its DS records
	// only while they are why it failed (dsWhy), never the DNSKEYs (the
	// DNSKEY set's signatures went to the forecast).
	kept := model.DSCheck{Time: c.Time, Zone: c.Zone, Status: c.Status, Detail: c.Detail}
	if dsBad(&c) {
		kept.DS = c.DS
	}
	z.ds = &kept
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
	z.noteDiscoveryDetail(d)
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
	for _, a := range z.nsAddrs() {
		if !keep[a] && !z.configured[a] {
			e.unlinkNS(z, a)
		}
	}
	for _, s := range slices.Clone(z.order) {
		if s.kind == model.KindAuthoritative && !keep[s.addr] && !z.configured[s.addr] {
			e.forgetServer(z, s)
		}
	}
	e.evalZone(z, now)
	e.forecastDiscovery(z, d, now)
}

// dropped reports whether o is the answer of an authoritative server that
// the zone's last discovery no longer lists (nor the configuration): a
// probe that was in flight when the new server set arrived. Counting it
// would bring the server back with its last failure.
func (e *Evaluator) dropped(z *zone, o model.Observation) bool {
	if o.Server.Kind != model.KindAuthoritative || z.fc == nil || z.fc.discovered == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(o.Server.Addr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	return !z.fc.isDiscovered(a) && !z.configured[a]
}

// forgetServer removes an authoritative server that discovery no longer
// lists from the zone, taking its verdict out of the counts it is in.
func (e *Evaluator) forgetServer(z *zone, s *server) {
	if s.decided {
		e.pairsKnown--
		if z.control {
			e.ctlKnown--
		}
	} else {
		z.undecided--
	}
	if s.down {
		e.pairsDown--
		if z.control {
			e.ctlDown--
		}
	}
	if s.negDown {
		e.pairsNeg--
	}
	z.order = slices.DeleteFunc(z.order, func(x *server) bool { return x == s })
	for _, byServer := range z.authAns {
		delete(byServer, s.name)
	}
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

func serverNames(s []*server) []string {
	out := make([]string, 0, len(s))
	for _, x := range s {
		out = append(out, x.name)
	}
	return out
}
