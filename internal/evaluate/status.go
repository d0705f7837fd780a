package evaluate

import (
	"maps"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// StatusSchema names the version of the /api/v1/status document.
const StatusSchema = "reachmon.status/v1"

// Health values in the status document.
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded" // some servers fail, no incident (yet)
	HealthFailing  = "failing"  // an incident is open or its condition holds
	HealthUnknown  = "unknown"  // not judged yet
)

// Status is the /api/v1/status document: health per zone, resolver,
// authoritative server, prefix and BGP session, and the open incidents.
type Status struct {
	Schema        string           `json:"schema"`
	Time          time.Time        `json:"time"`
	Vantage       string           `json:"vantage"`
	VantageDown   bool             `json:"vantage_down"`
	BGP           BGPStatus        `json:"bgp"`
	Zones         []ZoneStatus     `json:"zones"`
	Resolvers     []ResolverStatus `json:"resolvers"`
	Authoritative []ServerStatus   `json:"authoritative"`
	Prefixes      []PrefixStatus   `json:"prefixes"`
	Open          []model.Incident `json:"open"`
	// Shard is set by the daemon (evaluate does not know it): which
	// share of the configured zones this instance watches.
	Shard *ShardStatus `json:"shard,omitempty"`
}

// BGPStatus says whether BGP verdicts are live.
type BGPStatus struct {
	Usable bool         `json:"usable"`
	Reason string       `json:"reason,omitempty"`
	Peers  []PeerStatus `json:"peers"`
}

// PeerStatus is one BGP session.
type PeerStatus struct {
	Peer   string    `json:"peer"`
	ASN    uint32    `json:"asn"`
	State  string    `json:"state"` // up, down, never
	Synced bool      `json:"synced"`
	Since  time.Time `json:"since,omitzero"`
}

// ZoneStatus is one zone's health.
type ZoneStatus struct {
	Zone     string             `json:"zone"`
	Health   string             `json:"health"`
	Kind     model.IncidentKind `json:"kind,omitempty"`
	Incident string             `json:"incident,omitempty"`
	// Failing names the servers failing for the zone.
	Failing []string `json:"failing,omitempty"`
	Control bool     `json:"control,omitempty"`
	// The rest is what reachmon_dns_authoritative_servers and the other
	// per-zone series of the zone collector (zonemetrics.go) say; the
	// zone detail (/api/v1/status?zone=) has the same in full.
	//
	// AuthServers is the number of authoritative server addresses known
	// (discovered or configured).
	AuthServers int `json:"authoritative_servers"`
	// DSCheck is the status of the last DS-vs-DNSKEY check ("" before
	// the first).
	DSCheck model.DSStatus `json:"ds_check,omitempty"`
	// SignatureExpiry is the earliest RRSIG expiration the zone's
	// authoritative servers serve (zero: nothing signed seen).
	SignatureExpiry time.Time `json:"signature_expiry,omitzero"`
	// LameServers is the number of lame servers: answering, but not
	// authoritatively, while another server of the zone answers well.
	LameServers int `json:"lame_servers,omitempty"`
	// SerialSpread is the distance between the lowest and the highest
	// SOA serial the authoritative servers serve (RFC 1982); 0 when they
	// agree.
	SerialSpread uint32 `json:"soa_serial_spread,omitempty"`
}

// ResolverStatus is one resolver over every zone.
type ResolverStatus struct {
	Name    string `json:"name"`
	Health  string `json:"health"`
	Zones   int    `json:"zones"`
	Failing int    `json:"failing"`
	// Route is the most-specific route covering the resolver's address
	// while healthy; RouteWithdrawn while it is withdrawn.
	Route          netip.Prefix `json:"route,omitzero"`
	RouteWithdrawn bool         `json:"route_withdrawn,omitempty"`
}

// ServerStatus is one authoritative server of one zone.
type ServerStatus struct {
	Zone           string       `json:"zone"`
	Name           string       `json:"name"`
	Addr           netip.Addr   `json:"address,omitzero"`
	Health         string       `json:"health"`
	Route          netip.Prefix `json:"route,omitzero"`
	RouteWithdrawn bool         `json:"route_withdrawn,omitempty"`
}

// PrefixStatus is one watched prefix.
type PrefixStatus struct {
	Prefix   netip.Prefix `json:"prefix"`
	Health   string       `json:"health"` // ok, withdrawn, hijacked, unknown
	Peers    int          `json:"peers"`
	Of       int          `json:"of"`
	Origins  []uint32     `json:"origins,omitempty"`
	Expected []uint32     `json:"expected,omitempty"`
}

// Snapshot builds the status document. It costs O(zones + prefixes):
// build it on a timer (every second or so) or after changes, not after
// every event, and publish it with a Publisher.
func (e *Evaluator) Snapshot(now time.Time) *Status {
	// Every list is made at its final size: appending would allocate
	// each about twice over (10,000 zones: 14.5 MB per snapshot for 3.3
	// MB kept, BenchmarkEvaluatorSnapshotLab).
	keys := e.sortedZoneKeys()
	st := &Status{Schema: StatusSchema, Time: now.UTC(), Vantage: e.vantage, Open: e.Open(),
		Zones: make([]ZoneStatus, 0, len(keys)), Resolvers: make([]ResolverStatus, 0, len(e.resOrder)),
		Authoritative: make([]ServerStatus, 0, e.authServerCount()), Prefixes: make([]PrefixStatus, 0, len(e.watched))}
	if st.Open == nil {
		st.Open = []model.Incident{}
	}
	if vs := e.slots[slotKey{groupVantage, e.vantage}]; vs != nil && vs.cond {
		st.VantageDown = true
	}
	st.BGP.Usable, st.BGP.Reason = e.bgpUsable(now)
	st.BGP.Peers = e.peerStatuses()
	for _, k := range keys {
		z := e.zones[k]
		zs := e.zoneStatus(k, z)
		e.zoneFigures(z, &zs)
		st.Zones = append(st.Zones, zs)
		st.Authoritative = e.appendServerStatuses(st.Authoritative, k, z)
	}
	for _, name := range e.resOrder {
		st.Resolvers = append(st.Resolvers, e.resolverStatus(name))
	}
	wp := make([]netip.Prefix, 0, len(e.watched))
	for p := range e.watched {
		wp = append(wp, p)
	}
	slices.SortFunc(wp, comparePrefix)
	up := e.upPeers()
	for _, p := range wp {
		st.Prefixes = append(st.Prefixes, e.prefixStatus(p, up))
	}
	return st
}

// sortedZoneKeys returns the zones' keys in order, sorted again only
// after a zone was added or removed (the caller must not change it).
func (e *Evaluator) sortedZoneKeys() []string {
	if e.zoneKeys == nil || len(e.zoneKeys) != len(e.zones) {
		e.zoneKeys = slices.Sorted(maps.Keys(e.zones))
	}
	return e.zoneKeys
}

// authServerCount is the number of authoritative servers over every zone.
func (e *Evaluator) authServerCount() int {
	n := 0
	for _, z := range e.zones {
		for _, s := range z.order {
			if s.kind == model.KindAuthoritative {
				n++
			}
		}
	}
	return n
}

// peerStatuses is every BGP session, in configuration order.
func (e *Evaluator) peerStatuses() []PeerStatus {
	out := []PeerStatus{}
	for _, name := range e.peerOrder {
		p := e.peers[name]
		ps := PeerStatus{Peer: name, ASN: p.asn, State: "down", Synced: p.synced, Since: p.downSince}
		switch {
		case p.up:
			ps.State, ps.Since = "up", p.upSince
		case p.downSince.IsZero():
			ps.State = "never"
		}
		out = append(out, ps)
	}
	return out
}

// zoneStatus is zone k's health: failing while its incident is open or
// its condition holds, degraded while some server fails, unknown until a
// server is decided.
func (e *Evaluator) zoneStatus(k string, z *zone) ZoneStatus {
	zs := ZoneStatus{Zone: k, Health: HealthOK, Control: z.control}
	for _, s := range z.order {
		if s.down {
			zs.Failing = append(zs.Failing, s.name)
		}
	}
	switch {
	case len(zs.Failing) > 0:
		zs.Health = HealthDegraded
	case len(z.order) == 0 || z.undecided == len(z.order):
		zs.Health = HealthUnknown
	}
	if sl := e.slots[slotKey{groupZone, k}]; sl != nil && (sl.inc != nil || sl.cond) {
		zs.Health, zs.Kind = HealthFailing, sl.v.kind
		if sl.inc != nil {
			zs.Incident, zs.Kind = sl.inc.ID, sl.inc.Kind
		}
	}
	return zs
}

// zoneFigures sets the server count, DS check, signature expiry, lame
// servers and serial spread of zs from the state the zone detail reads
// (detail.go), without building the detail.
func (e *Evaluator) zoneFigures(z *zone, zs *ZoneStatus) {
	zs.AuthServers = len(z.ns)
	if z.ds != nil {
		zs.DSCheck = z.ds.Status
	}
	if en := earliestSig(z); en != nil {
		zs.SignatureExpiry = en.v.Expiration.UTC()
	}
	zs.LameServers = len(e.lameServers(z))
	zs.SerialSpread = zoneSpread(z)
}

// appendServerStatuses appends the health of zone k's authoritative
// servers and the routes to their addresses.
func (e *Evaluator) appendServerStatuses(out []ServerStatus, k string, z *zone) []ServerStatus {
	for _, s := range z.order {
		if s.kind != model.KindAuthoritative {
			continue
		}
		ss := ServerStatus{Zone: k, Name: s.name, Addr: s.addr, Health: serverHealth(s)}
		if a := e.addrs[s.addr]; a != nil {
			ss.Route, ss.RouteWithdrawn = a.healthy, a.degraded
		}
		out = append(out, ss)
	}
	return out
}

// resolverStatus is one resolver's health over every zone and the route
// to its address.
func (e *Evaluator) resolverStatus(name string) ResolverStatus {
	r := e.resolvers[name]
	rs := ResolverStatus{Name: name, Health: HealthOK, Zones: r.known, Failing: r.down()}
	if a := e.addrs[r.addr]; r.addr.IsValid() && a != nil {
		rs.Route, rs.RouteWithdrawn = a.healthy, a.degraded
	}
	switch {
	case r.known == 0:
		rs.Health = HealthUnknown
	case r.down() > 0:
		rs.Health = HealthDegraded
	}
	if sl := e.slots[slotKey{groupResolver, name}]; sl != nil && (sl.cond || sl.inc != nil) {
		rs.Health = HealthFailing
	}
	return rs
}

// prefixStatus is watched prefix p as the up peers (up of them) carry it.
func (e *Evaluator) prefixStatus(p netip.Prefix, up int) PrefixStatus {
	ps := PrefixStatus{Prefix: p, Health: HealthUnknown, Of: up, Expected: e.watched[p].Origins}
	r := e.routes[p]
	if r == nil {
		return ps
	}
	ps.Peers = len(r.peers)
	for _, o := range r.peers {
		if !slices.Contains(ps.Origins, o) {
			ps.Origins = append(ps.Origins, o)
		}
	}
	slices.Sort(ps.Origins)
	switch {
	case hijacked(r):
		ps.Health = "hijacked"
	case e.withdrawnBy(r) > 0 || (len(r.peers) == 0 && len(r.carriers) > 0):
		ps.Health = "withdrawn"
	case len(r.peers) > 0:
		ps.Health = HealthOK
	}
	return ps
}

func serverHealth(s *server) string {
	switch {
	case s.down:
		return HealthFailing
	case !s.decided:
		return HealthUnknown
	}
	return HealthOK
}

// Publisher hands the evaluator's latest status to readers (the API): the
// evaluator's owner calls Publish (after Tick, or after an Apply that
// changed something), readers call Load. No lock is shared with the
// evaluator.
type Publisher struct{ p atomic.Pointer[Status] }

// Publish makes st the current status.
func (p *Publisher) Publish(st *Status) { p.p.Store(st) }

// Load returns the current status (nil before the first Publish).
func (p *Publisher) Load() *Status { return p.p.Load() }

func hijacked(r *route) bool {
	_, n := r.unexpected()
	return n > 0
}
