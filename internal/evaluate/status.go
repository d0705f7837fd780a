package evaluate

import (
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
	st := &Status{Schema: StatusSchema, Time: now.UTC(), Vantage: e.vantage, Open: e.Open(),
		Zones: []ZoneStatus{}, Resolvers: []ResolverStatus{}, Authoritative: []ServerStatus{}, Prefixes: []PrefixStatus{}}
	if st.Open == nil {
		st.Open = []model.Incident{}
	}
	if vs := e.slots[slotKey{groupVantage, e.vantage}]; vs != nil && vs.cond {
		st.VantageDown = true
	}
	st.BGP.Usable, st.BGP.Reason = e.bgpUsable(now)
	st.BGP.Peers = []PeerStatus{}
	for _, name := range e.peerOrder {
		p := e.peers[name]
		ps := PeerStatus{Peer: name, ASN: p.asn, State: "down", Synced: p.synced, Since: p.downSince}
		switch {
		case p.up:
			ps.State, ps.Since = "up", p.upSince
		case p.downSince.IsZero():
			ps.State = "never"
		}
		st.BGP.Peers = append(st.BGP.Peers, ps)
	}
	keys := make([]string, 0, len(e.zones))
	for k := range e.zones {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		z := e.zones[k]
		zs := ZoneStatus{Zone: k, Health: HealthOK, Control: z.control}
		for _, s := range z.order {
			if s.down {
				zs.Failing = append(zs.Failing, s.name)
			}
			if s.kind != model.KindAuthoritative {
				continue
			}
			ss := ServerStatus{Zone: k, Name: s.name, Addr: s.addr, Health: serverHealth(s)}
			if a := e.addrs[s.addr]; a != nil {
				ss.Route, ss.RouteWithdrawn = a.healthy, a.degraded
			}
			st.Authoritative = append(st.Authoritative, ss)
		}
		switch {
		case len(zs.Failing) > 0:
			zs.Health = HealthDegraded
		case len(z.servers) == 0 || z.undecided == len(z.servers):
			zs.Health = HealthUnknown
		}
		if sl := e.slots[slotKey{groupZone, k}]; sl != nil && (sl.inc != nil || sl.cond) {
			zs.Health, zs.Kind = HealthFailing, sl.v.kind
			if sl.inc != nil {
				zs.Incident, zs.Kind = sl.inc.ID, sl.inc.Kind
			}
		}
		st.Zones = append(st.Zones, zs)
	}
	for _, name := range e.resOrder {
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
		st.Resolvers = append(st.Resolvers, rs)
	}
	wp := make([]netip.Prefix, 0, len(e.watched))
	for p := range e.watched {
		wp = append(wp, p)
	}
	slices.SortFunc(wp, comparePrefix)
	up := e.upPeers()
	for _, p := range wp {
		ps := PrefixStatus{Prefix: p, Health: HealthUnknown, Of: up, Expected: e.watched[p].Origins}
		if r := e.routes[p]; r != nil {
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
		}
		st.Prefixes = append(st.Prefixes, ps)
	}
	return st
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
