// Package evaluate correlates DNS observations and BGP events into
// explained incidents. The Evaluator is pure: one owner calls Apply and
// Tick with events and an injected clock and gets incident changes back;
// there are no goroutines, no locks, no network and no sleeps, so every
// rule is testable as a timeline.
//
// Rules, root cause first:
//   - vantage down (control checks, or nearly every check, failing)
//     suppresses every other verdict;
//   - a zone has one outage incident whose kind is the best explanation:
//     BGP-caused (its nameservers' most-specific routes withdrawn) over
//     authoritative outage over DNSSEC failure; a reclassification updates
//     the incident in place (no second page);
//   - a resolver failing for nearly every zone while another resolver is
//     fine is a resolver outage and is left out of the zones' verdicts;
//   - BGP verdicts are held during the start grace, while a session that
//     came up has not synced, and while no session is up (feed lost).
package evaluate

import (
	"net/netip"
	"slices"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/intern"
	"github.com/reachmon/reachmon/internal/model"
)

// Targets is what the configuration asks to watch.
type Targets struct {
	// Vantage names this instance (the subject of a vantage-down incident).
	Vantage   string
	Zones     []Zone
	Resolvers []Resolver
	Prefixes  []model.WatchedPrefix
	// Peers are the configured BGP neighbors; a peer that never comes up
	// after the start grace is a lost feed.
	Peers []Peer
	// Feeds are the configured feeds of other sources (BMP routers).
	Feeds []Feed
	// RPKI is true when [rpki] configures ROA sources: an rpki_invalid
	// incident then waits for VRPs instead of resolving without them.
	RPKI bool
}

// Zone is a configured zone.
type Zone struct {
	// Name is the zone, FQDN or label form ("example.com.", "example.com").
	Name string
	// Names are the query names (FQDNs).
	Names []string
	// Types are the record types asked for each name (none: not known,
	// as in Judge and tests; Reconfigure then keeps every query's rounds).
	Types []string
	// Expect lists expected rdata; other answers are a mismatch.
	Expect []string
	// Authoritative are configured server addresses (none: discovered).
	Authoritative []netip.AddrPort
}

// Resolver is a configured resolver.
type Resolver struct {
	Name       string
	Validating bool
	// Addr is the resolver's address when known (not for DoH URLs): the
	// BGP feed follows the routes covering it.
	Addr netip.Addr
}

// Peer is a configured BGP neighbor.
type Peer struct {
	Name        string // address in canonical form (config.Neighbor.Name)
	ASN         uint32
	Description string
}

// TargetsFromPlan builds Targets from the configuration plan.
func TargetsFromPlan(p *config.Plan) Targets {
	t := Targets{Vantage: p.Vantage, Prefixes: p.Prefixes}
	for _, z := range p.Zones {
		t.Zones = append(t.Zones, Zone{Name: z.Name.FQDN(), Names: z.Names, Types: z.Types, Expect: z.Expect, Authoritative: z.Authoritative})
	}
	for _, r := range p.Resolvers {
		t.Resolvers = append(t.Resolvers, Resolver{Name: r.Server.Name, Validating: r.Server.Validating, Addr: r.Addr})
	}
	for _, n := range p.BGP.Neighbor {
		t.Peers = append(t.Peers, Peer{Name: n.Name(), ASN: n.PeerASN, Description: n.Description})
	}
	if p.RISLive != nil {
		t.Feeds = append(t.Feeds, Feed{Name: config.RISLiveFeed, Label: p.RISLive.FeedLabel(), Source: model.SourceRISLive})
	}
	if p.BMP.Enabled() {
		for _, r := range p.BMP.Router {
			t.Feeds = append(t.Feeds, Feed{Name: r.FeedName(), Label: r.Label(), Source: model.SourceBMP})
		}
	}
	t.RPKI = p.RPKI.Enabled()
	return t
}

// Evaluator owns all correlation state. It is not safe for concurrent
// use: one goroutine calls Apply, Tick and Snapshot.
type Evaluator struct {
	cfg     config.Evaluate
	vantage string

	started bool
	start   time.Time
	now     time.Time
	// graceOver and usable remember the last BGP usability verdict, so
	// that a change re-evaluates the BGP verdicts.
	graceOver bool
	usable    bool

	zones     map[string]*zone
	resolvers map[string]*resolver
	resOrder  []string
	addrs     map[netip.Addr]*addr
	peers     map[string]*peer
	peerOrder []string
	feeds     map[string]*feed
	feedOrder []string
	routes    map[netip.Prefix]*route
	watched   map[netip.Prefix]model.WatchedPrefix
	lens4     []int
	lens6     []int
	controls  map[string]bool
	// lastOK is when the latest check that answered well got its answer
	// (any zone, any server): proof that this vantage's network worked
	// then.
	lastOK time.Time
	// awaitVouch is set while a DNS verdict waits for such an answer
	// (controlVouches).
	awaitVouch bool
	// resAddrs are the addresses that some resolver uses.
	resAddrs []*addr

	// interesting are routes with a withdrawal or an unexpected origin:
	// re-evaluated when BGP becomes usable.
	interesting map[netip.Prefix]bool
	// orphans are routes no peer carries, since when: forgotten after
	// orphanKeep unless something still refers to them (pruneRoutes).
	orphans map[netip.Prefix]time.Time
	pruned  time.Time // last pruneRoutes sweep
	// degraded are addresses whose healthy route is withdrawn.
	degraded map[netip.Addr]bool
	// hijacks groups the routes with an unexpected origin by hijack
	// subject (watched prefix and origin); msCount counts the tracked
	// more-specifics per watched prefix, up to maxMoreSpecifics, and
	// msOverflow those dropped beyond it.
	hijacks          map[string]*hijack
	msCount          map[netip.Prefix]int
	msOverflow       map[netip.Prefix]int
	maxMoreSpecifics int

	// counts of decided (zone, server) pairs, for vantage down; pairsNeg
	// are the down pairs whose latest failure is a negative answer.
	pairsKnown, pairsDown, pairsNeg int
	ctlKnown, ctlDown               int

	slots   map[slotKey]*slot
	pending map[*slot]bool
	recent  []model.Incident
	ids     map[string]bool

	out []model.IncidentChange

	// restoredGone are restored incidents whose zone or resolver the
	// configuration no longer has (edited, or another [shard] split, while
	// reachmon was down): the first Apply or Tick resolves them with the
	// reason a reload gives (closeRestoredGone).
	restoredGone []goneIncident

	// gone are the zones ("zone <label>") and resolvers ("resolver
	// <name>") a reload removed: events still in flight about them are
	// ignored (Reconfigure).
	gone map[string]bool

	// adHoc is set by Judge: NODATA of a type nothing configured is not
	// a failure.
	adHoc bool

	// rpki is the VRPs relevant to the watched routes (rpki.go);
	// rpkiDirty is set when a watched prefix's validation may have
	// changed (RPKIRouteStates).
	rpki      rpkiView
	rpkiDirty bool
	// rpkiOn: ROA sources are configured (Targets.RPKI) or have spoken.
	rpkiOn bool

	// silencer holds the silences made at run time and the maintenance
	// windows (silence.go); nil: only [[evaluate.silence]].
	silencer Silencer

	// dt is the zone detail's table of strings and resolver addresses
	// (detail.go).
	dt evalDetail
	// zoneKeys are the zones' keys in order (nil: to be sorted again;
	// sortedZoneKeys).
	zoneKeys []string
	// strs shares the strings zones keep that repeat across zones
	// (nameserver host names and labels): zones served by the same DNS
	// host keep one copy instead of one per zone.
	strs intern.Table
}

// New builds an evaluator. Zero values in cfg take their defaults.
func New(cfg config.Evaluate, t Targets) *Evaluator {
	cfg = withDefaults(cfg)
	e := &Evaluator{
		cfg:         cfg,
		vantage:     t.Vantage,
		zones:       map[string]*zone{},
		resolvers:   map[string]*resolver{},
		addrs:       map[netip.Addr]*addr{},
		peers:       map[string]*peer{},
		feeds:       map[string]*feed{},
		routes:      map[netip.Prefix]*route{},
		watched:     map[netip.Prefix]model.WatchedPrefix{},
		controls:    map[string]bool{},
		interesting: map[netip.Prefix]bool{},
		orphans:     map[netip.Prefix]time.Time{},
		degraded:    map[netip.Addr]bool{},
		hijacks:     map[string]*hijack{},
		msCount:     map[netip.Prefix]int{},
		msOverflow:  map[netip.Prefix]int{},
		slots:       map[slotKey]*slot{},
		pending:     map[*slot]bool{},
		ids:         map[string]bool{},
	}
	e.maxMoreSpecifics = DefaultMaxMoreSpecifics
	e.rpkiOn = t.RPKI
	if e.vantage == "" {
		e.vantage = "this vantage"
	}
	for _, c := range cfg.ControlZones {
		e.controls[zoneKey(c)] = true
	}
	for _, r := range t.Resolvers {
		e.addResolverTarget(r)
	}
	for _, zt := range t.Zones {
		e.setZoneTarget(e.zone(zt.Name), zt)
	}
	e.setPrefixes(t.Prefixes)
	for _, p := range t.Peers {
		pe := e.peer(p.Name, p.ASN)
		pe.desc = p.Description
		pe.configured = true
	}
	for _, f := range t.Feeds {
		e.setFeedTarget(f)
	}
	return e
}

// setFeedTarget records a configured feed.
func (e *Evaluator) setFeedTarget(t Feed) {
	f := e.feedOf(t.Name)
	f.configured = true
	if t.Label != "" {
		f.label = t.Label
	}
	if t.Source != "" {
		f.source = t.Source
	}
}

func withDefaults(c config.Evaluate) config.Evaluate {
	d := config.DefaultEvaluate()
	if c.OpenRounds <= 0 {
		c.OpenRounds = d.OpenRounds
	}
	if c.ResolveRounds <= 0 {
		c.ResolveRounds = d.ResolveRounds
	}
	if c.MinPeers <= 0 {
		c.MinPeers = d.MinPeers
	}
	if c.FadeOff.Duration <= 0 {
		c.FadeOff = d.FadeOff
	}
	if c.KeepResolved.Duration <= 0 {
		c.KeepResolved = d.KeepResolved
	}
	if c.SignatureWarning.Duration <= 0 {
		c.SignatureWarning = d.SignatureWarning
	}
	// SerialSpreadAfter keeps its zero: "0s" turns the serial check off.
	return c
}

func descKeys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// Apply feeds one event and returns the incident changes it causes. The
// event's time is the evaluator's clock (it never goes back).
func (e *Evaluator) Apply(ev model.Event) []model.IncidentChange {
	e.out = nil
	if e.ignored(ev) {
		return nil
	}
	now := e.advance(ev.EventTime())
	e.closeRestoredGone(now)
	switch x := ev.(type) {
	case model.Observation:
		e.observe(x, now)
	case model.DSCheck:
		e.dsCheck(x, now)
	case model.Discovery:
		e.discovery(x, now)
	case model.RouteEvent:
		e.routeEvent(x, now)
	case model.PeerEvent:
		e.peerEvent(x, now)
	case model.FeedEvent:
		e.feedEvent(x, now)
	case model.CoverEvent:
		e.coverEvent(x, now)
	case model.BGPSnapshot:
		e.bgpSnapshot(x, now)
	case model.RPKIEvent:
		e.rpkiEvent(x, now)
	}
	e.checkBGPUsable(now)
	out := e.out
	e.out = nil
	return out
}

// Tick advances the clock to now: thresholds that are durations, grace
// periods and fade-off are judged here. Call it every second or so.
func (e *Evaluator) Tick(now time.Time) []model.IncidentChange {
	e.out = nil
	now = e.advance(now)
	e.closeRestoredGone(now)
	e.checkBGPUsable(now)
	if !e.graceOver && now.Sub(e.start) >= e.cfg.StartGrace.Duration {
		e.graceOver = true
		e.evalFeedSlots(now)
	}
	for _, s := range e.pendingSlots() {
		e.evalSlot(s, now)
	}
	e.recheckSilences(now)
	e.pruneRecent(now)
	e.pruneRoutes(now)
	out := e.out
	e.out = nil
	return out
}

func (e *Evaluator) advance(t time.Time) time.Time {
	if !e.started {
		e.started, e.start, e.now = true, t, t
	}
	if t.After(e.now) {
		e.now = t
	}
	return e.now
}

// bgpUsable reports whether BGP verdicts may change now, and why not.
func (e *Evaluator) bgpUsable(now time.Time) (bool, string) {
	if now.Sub(e.start) < e.cfg.StartGrace.Duration {
		return false, "start grace"
	}
	if len(e.peers) == 0 {
		return true, ""
	}
	synced := 0
	for _, name := range e.peerOrder {
		p := e.peers[name]
		if p.up && !p.synced && now.Sub(p.upSince) < e.cfg.PeerGrace.Duration {
			return false, "peer " + name + " is sending its initial table"
		}
		if p.up && p.synced {
			synced++
		}
	}
	if synced == 0 {
		return false, "no BGP session is up"
	}
	return true, ""
}

// checkBGPUsable re-evaluates BGP verdicts when usability changes.
func (e *Evaluator) checkBGPUsable(now time.Time) {
	u, _ := e.bgpUsable(now)
	if u == e.usable {
		return
	}
	e.usable = u
	e.reevalBGP(now)
}

// reevalBGP re-evaluates everything resting on BGP state.
func (e *Evaluator) reevalBGP(now time.Time) {
	for _, p := range sortedPrefixes(e.interesting) {
		e.evalRoute(e.routes[p], now)
	}
	seen := map[*zone]bool{}
	for _, a := range sortedAddrs(e.degraded) {
		for _, z := range e.addrs[a].zones {
			if !seen[z] {
				seen[z] = true
				e.evalZone(z, now)
			}
		}
	}
	for _, s := range e.openSlots() {
		e.evalSlot(s, now)
	}
}

// container returns the watched prefix holding p (p itself included).
func (e *Evaluator) container(p netip.Prefix) (model.WatchedPrefix, bool) {
	lens := e.lens4
	if !p.Addr().Is4() {
		lens = e.lens6
	}
	for _, l := range lens {
		if l > p.Bits() {
			continue
		}
		q, _ := p.Addr().Prefix(l)
		if w, ok := e.watched[q]; ok {
			return w, true
		}
	}
	return model.WatchedPrefix{}, false
}

// zoneKey normalises a zone name to its label form ("example.com", ".").
func zoneKey(s string) string { return model.ZoneNameOf(s).Label() }

func (e *Evaluator) zone(name string) *zone {
	if z := e.zones[name]; z != nil {
		return z // name is the key already (events carry the label)
	}
	zn := model.ZoneNameOf(name)
	k := zn.Label()
	z := e.zones[k]
	if z == nil {
		z = &zone{key: k, name: zn, control: e.controls[k]}
		e.zones[k] = z
		e.zoneKeys = nil
	}
	return z
}

func (e *Evaluator) resolver(name string) *resolver {
	r := e.resolvers[name]
	if r == nil {
		r = &resolver{name: name}
		e.resolvers[name] = r
		e.resOrder = append(e.resOrder, name)
		slices.Sort(e.resOrder)
	}
	return r
}

func (e *Evaluator) addr(a netip.Addr) *addr {
	a = a.Unmap().WithZone("")
	x := e.addrs[a]
	if x == nil {
		x = &addr{addr: a}
		e.addrs[a] = x
	}
	return x
}

// addResolverRole records that the resolver name uses address a.
func (e *Evaluator) addResolverRole(a *addr, name string) {
	if !slices.Contains(a.resolvers, name) {
		a.resolvers = append(a.resolvers, name)
	}
	if !slices.Contains(e.resAddrs, a) {
		e.resAddrs = append(e.resAddrs, a)
	}
}

func (e *Evaluator) peer(name string, asn uint32) *peer {
	p := e.peers[name]
	if p == nil {
		p = &peer{name: name, asn: asn}
		e.peers[name] = p
		e.peerOrder = append(e.peerOrder, name)
		slices.Sort(e.peerOrder)
	}
	if asn != 0 {
		p.asn = asn
	}
	return p
}

// linkNS records that a serves zone z (host is its name, if known).
func (e *Evaluator) linkNS(z *zone, a netip.Addr, host string) {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return
	}
	x := e.addr(a)
	host = e.strs.Of(host)
	if i := slices.IndexFunc(z.ns, func(n nsAddr) bool { return n.addr == a }); i < 0 {
		z.ns = append(z.ns, nsAddr{addr: a, host: host})
	} else if host != "" {
		z.ns[i].host = host
	}
	if host != "" && x.host == "" {
		x.host = host
	}
	if !slices.Contains(x.zones, z) {
		x.zones = append(x.zones, z)
	}
}

func (e *Evaluator) unlinkNS(z *zone, a netip.Addr) {
	z.ns = slices.DeleteFunc(z.ns, func(n nsAddr) bool { return n.addr == a })
	if x := e.addrs[a]; x != nil {
		x.zones = slices.DeleteFunc(x.zones, func(y *zone) bool { return y == z })
	}
}

// upPeers counts established sessions.
func (e *Evaluator) upPeers() int {
	n := 0
	for _, p := range e.peers {
		if p.up {
			n++
		}
	}
	return n
}

func sortedPrefixes(m map[netip.Prefix]bool) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefix)
	return out
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func sortedAddrs(m map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}
