package model

import (
	"net/netip"
	"time"
)

// RouteEventKind says what changed about one peer's route to one prefix.
type RouteEventKind string

const (
	// RouteAnnounce: the peer now carries the prefix (it did not before).
	RouteAnnounce RouteEventKind = "announce"
	// RouteWithdraw: the peer withdrew the prefix while its session stayed
	// up (a lost session makes routes unknown, see PeerEvent).
	RouteWithdraw RouteEventKind = "withdraw"
	// RouteOriginChange: the peer's route now has another origin AS.
	RouteOriginChange RouteEventKind = "origin_change"
	// RoutePathChange: same origin, different AS path.
	RoutePathChange RouteEventKind = "path_change"
	// RouteMoreSpecific: a more-specific of a configured prefix became
	// visible for the first time (from its first peer).
	RouteMoreSpecific RouteEventKind = "more_specific"
)

// RouteEvent is a change of one peer's route to one watched prefix.
type RouteEvent struct {
	Time time.Time      `json:"time"`
	Kind RouteEventKind `json:"kind"`
	// Peer is the neighbor's configured address; PeerASN its AS.
	Peer    string       `json:"peer"`
	PeerASN uint32       `json:"peer_asn"`
	Prefix  netip.Prefix `json:"prefix"`
	// Origin and ASPath describe the route after the change (zero on
	// withdraw); PrevOrigin and PrevASPath before it (zero on announce).
	Origin     uint32     `json:"origin,omitempty"`
	ASPath     []uint32   `json:"as_path,omitempty"`
	NextHop    netip.Addr `json:"next_hop,omitzero"`
	PrevOrigin uint32     `json:"prev_origin,omitempty"`
	PrevASPath []uint32   `json:"prev_as_path,omitempty"`
	// Initial is true while the peer is still sending its initial table
	// (before End-of-RIB): the route is not news, only state.
	Initial bool `json:"initial,omitempty"`
	// Resync is true when the change was found by comparing the RIB after
	// a session came back or after events were dropped, not by an UPDATE.
	Resync bool `json:"resync,omitempty"`
	// Watched names the configured prefix the route is (a more-specific
	// of), if any.
	Watched netip.Prefix `json:"watched,omitzero"`
	// MoreSpecific is true when Prefix is strictly inside Watched.
	MoreSpecific bool `json:"more_specific,omitempty"`
	// ExpectedOrigins are Watched's configured origins; UnexpectedOrigin is
	// true when they are set and Origin is not one of them.
	ExpectedOrigins  []uint32 `json:"expected_origins,omitempty"`
	UnexpectedOrigin bool     `json:"unexpected_origin,omitempty"`
	// Covers lists the watched addresses (nameservers, resolvers) the
	// prefix covers.
	Covers []netip.Addr `json:"covers,omitempty"`
	// VisiblePeers is how many established peers carry the prefix after
	// the change.
	VisiblePeers int `json:"visible_peers"`
}

func (e RouteEvent) EventTime() time.Time { return e.Time }
func (RouteEvent) isEvent()               {}

// PeerEventKind is a BGP session transition.
type PeerEventKind string

const (
	PeerUp PeerEventKind = "up" // session established; initial table follows
	// PeerDown: the session is lost; the routes learnt from the peer are now
	// unknown, not withdrawn, and BGP verdicts resting on it are suspended.
	PeerDown PeerEventKind = "down"
	// PeerSynced: the peer finished its initial table: End-of-RIB for every
	// family, or the initial-sync timeout without updates counted from its
	// first UPDATE, or (Reason "no_updates_received") three timeouts of
	// silence after Established.
	PeerSynced PeerEventKind = "synced"
	// PeerRemoved: a source no longer has the peer (a BMP view the router
	// no longer reports): it is forgotten with its routes, which are
	// neither withdrawn nor unknown. Neighbors a reload removes leave the
	// evaluator through its reconfiguration instead.
	PeerRemoved PeerEventKind = "removed"
)

// PeerEvent is a change of a BGP session.
type PeerEvent struct {
	Time        time.Time     `json:"time"`
	Kind        PeerEventKind `json:"kind"`
	Peer        string        `json:"peer"`
	PeerASN     uint32        `json:"peer_asn"`
	Description string        `json:"description,omitempty"`
	// Reason says why a session went down when reachmon knows it
	// ("max_prefixes_exceeded", "shutdown"), or that a peer was declared
	// synced without sending anything ("no_updates_received").
	Reason string `json:"reason,omitempty"`
	// Routes is the number of watched routes the peer carries (synced) or
	// carried before the session was lost (down).
	Routes int `json:"routes"`
	// ByEndOfRIB is true when sync completed with End-of-RIB markers
	// rather than by the initial-sync timeout.
	ByEndOfRIB bool `json:"by_end_of_rib,omitempty"`
	// Source is the BGP source the peer is seen through: SourceBGP (the
	// embedded speaker's own session), SourceBMP (a router's peer
	// monitored over BMP) or SourceRISLive.
	Source string `json:"source,omitempty"`
	// Label is how evidence names the peer ("router edge1, peer 192.0.2.1
	// (AS64500)"); empty for the embedded speaker's neighbors, which are
	// named by address, ASN and description.
	Label string `json:"label,omitempty"`
	// Feed names the feed the peer is part of (a BMP router: "bmp router
	// edge1"), whose loss is the feed_lost incident (see FeedEvent);
	// empty when the peer is a feed of its own (an embedded neighbor).
	Feed string `json:"feed,omitempty"`
}

func (e PeerEvent) EventTime() time.Time { return e.Time }
func (PeerEvent) isEvent()               {}

// BGP sources.
const (
	SourceBGP     = "bgp"      // the embedded speaker's sessions
	SourceBMP     = "bmp"      // routers' peers monitored over BMP
	SourceRISLive = "ris_live" // RIPE RIS Live
)

// FeedEvent is a change of a feed that carries several peers: a router's
// BMP session, a RIS Live connection. When a feed goes down, its peers go
// down with it (each with its PeerEvent); the feed's own loss is the
// feed_lost incident of subject Feed.
type FeedEvent struct {
	Time   time.Time `json:"time"`
	Feed   string    `json:"feed"`
	Source string    `json:"source"`
	// Label is how evidence names the feed ("BMP router edge1 (192.0.2.10)").
	Label string `json:"label,omitempty"`
	Up    bool   `json:"up"`
	// Reason says why it went down (a Termination message's reason, the
	// connection's error).
	Reason string `json:"reason,omitempty"`
}

func (e FeedEvent) EventTime() time.Time { return e.Time }
func (FeedEvent) isEvent()               {}

// CoverEventKind says how the routes covering a watched address changed.
type CoverEventKind string

const (
	// CoverWithdrawn: the most-specific route that covered the address
	// while healthy lost visibility at every peer that still has a session
	// (a less-specific may still cover it: Facebook, 4 Oct 2021).
	CoverWithdrawn CoverEventKind = "withdrawn"
	// CoverRestored: that route is visible again.
	CoverRestored CoverEventKind = "restored"
	// CoverMoreSpecific: a route more specific than the healthy one now
	// covers the address (a possible hijack when its origin is unexpected).
	CoverMoreSpecific CoverEventKind = "more_specific"
)

// AddressRole says why an address is watched.
type AddressRole struct {
	Kind string `json:"kind"` // "nameserver" or "resolver"
	// Name is the zone (nameserver) or the configured resolver name.
	Name string `json:"name"`
}

// Cover is one route covering a watched address, over all peers.
type Cover struct {
	Prefix  netip.Prefix `json:"prefix"`
	Origins []uint32     `json:"origins,omitempty"`
	// Peers is how many established peers carry the prefix.
	Peers int `json:"peers"`
}

// CoverEvent is a change of the most-specific route covering a watched
// nameserver or resolver address.
type CoverEvent struct {
	Time  time.Time      `json:"time"`
	Kind  CoverEventKind `json:"kind"`
	Addr  netip.Addr     `json:"address"`
	Roles []AddressRole  `json:"roles"`
	// Current is the most-specific covering route now (nil: none covers
	// the address).
	Current *Cover `json:"current,omitempty"`
	// Healthy is the most-specific route that covered the address while it
	// was healthy.
	Healthy *Cover `json:"healthy,omitempty"`
	// Covering lists every covering route now, most specific first.
	Covering []Cover `json:"covering,omitempty"`
	// UnexpectedOrigin is set for CoverMoreSpecific when the new route's
	// origin is not among the configured origins of a watched prefix
	// holding the address.
	UnexpectedOrigin bool `json:"unexpected_origin,omitempty"`
	// Peer names the peer whose update made the change (empty when a
	// session change or a resync did): evidence names it as its source
	// does.
	Peer string `json:"peer,omitempty"`
}

func (e CoverEvent) EventTime() time.Time { return e.Time }
func (CoverEvent) isEvent()               {}

// BGPPeer is the current state of one configured BGP neighbor.
type BGPPeer struct {
	Peer        string    `json:"peer"`
	PeerASN     uint32    `json:"peer_asn"`
	Description string    `json:"description,omitempty"`
	State       string    `json:"state"` // "up", "down"
	Synced      bool      `json:"synced"`
	Since       time.Time `json:"since,omitzero"`
	// Routes is how many watched routes the peer carries.
	Routes int    `json:"routes"`
	Reason string `json:"reason,omitempty"`
	// Source, Label and Feed are as in PeerEvent.
	Source string `json:"source,omitempty"`
	Label  string `json:"label,omitempty"`
	Feed   string `json:"feed,omitempty"`
	// Session is reachmon's own BGP session with a neighbor marked
	// full_table (nil for one on the embedded speaker).
	Session *BGPSession `json:"session,omitempty"`
}

// BGPSession is reachmon's own BGP session with a full_table neighbor
// (package internal/bgp/session).
type BGPSession struct {
	// Mode is "full_table".
	Mode string `json:"mode"`
	// State is the BGP FSM state: idle, connect, active, opensent,
	// openconfirm, established; Since when it was entered.
	State         string    `json:"state"`
	Since         time.Time `json:"since,omitzero"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	// RouterID, HoldTimeSeconds, Families and RouteRefresh are what the
	// current (or last) session negotiated.
	RouterID        string   `json:"router_id,omitempty"`
	HoldTimeSeconds int      `json:"hold_time_seconds,omitempty"`
	Families        []string `json:"families,omitempty"`
	RouteRefresh    bool     `json:"route_refresh"`
	// ReceivedPrefixes counts, by family ("ipv4-unicast",
	// "ipv6-unicast"), every prefix the neighbor announced and has not
	// withdrawn in this session, watched or not: what max_prefixes is
	// compared with.
	ReceivedPrefixes map[string]int `json:"received_prefixes"`
	// LastError says why the last session ended.
	LastError string `json:"last_error,omitempty"`
}

// BGPFeed is the current state of a feed that carries several peers (a
// router's BMP session).
type BGPFeed struct {
	Feed   string `json:"feed"`
	Source string `json:"source"`
	Name   string `json:"name,omitempty"`
	// Label is how evidence names it ("router edge1 (192.0.2.10)").
	Label       string     `json:"label,omitempty"`
	Address     netip.Addr `json:"address,omitzero"`
	Description string     `json:"description,omitempty"`
	State       string     `json:"state"` // "up", "down"
	Since       time.Time  `json:"since,omitzero"`
	// SysName and SysDescr are what the router said in its BMP
	// Initiation message; Termination the reason of its last Termination
	// message.
	SysName     string `json:"sys_name,omitempty"`
	SysDescr    string `json:"sys_descr,omitempty"`
	Termination string `json:"termination,omitempty"`
	// Reason says why it is down.
	Reason string `json:"reason,omitempty"`
	// Peers is how many of its peers are up.
	Peers int `json:"peers"`
	// Messages counts the messages received in this session.
	Messages uint64 `json:"messages,omitempty"`
}

// BGPPath is one peer's route to a prefix.
type BGPPath struct {
	Peer    string     `json:"peer"`
	Origin  uint32     `json:"origin"`
	ASPath  []uint32   `json:"as_path"`
	NextHop netip.Addr `json:"next_hop,omitzero"`
	Since   time.Time  `json:"since"`
}

// BGPRoute is a watched prefix and every established peer's route to it.
type BGPRoute struct {
	Prefix       netip.Prefix `json:"prefix"`
	Watched      netip.Prefix `json:"watched,omitzero"`
	MoreSpecific bool         `json:"more_specific,omitempty"`
	Origins      []uint32     `json:"origins"`
	Paths        []BGPPath    `json:"paths"`
	Changed      time.Time    `json:"changed"`
	Covers       []netip.Addr `json:"covers,omitempty"`
}

// BGPAddress is a watched nameserver or resolver address and its routes.
type BGPAddress struct {
	Addr     netip.Addr    `json:"address"`
	Roles    []AddressRole `json:"roles"`
	Current  *Cover        `json:"current,omitempty"`
	Healthy  *Cover        `json:"healthy,omitempty"`
	Covering []Cover       `json:"covering,omitempty"`
	// Degraded is true while the healthy most-specific route is withdrawn.
	Degraded bool `json:"degraded"`
}

// BGPSnapshot is the feed's whole state; it is sent after events had to
// be dropped, so that a consumer that missed some can start over from it.
type BGPSnapshot struct {
	Time      time.Time    `json:"time"`
	Peers     []BGPPeer    `json:"peers"`
	Routes    []BGPRoute   `json:"routes"`
	Addresses []BGPAddress `json:"addresses"`
	// Feeds are the sources' feeds (routers' BMP sessions).
	Feeds []BGPFeed `json:"feeds,omitempty"`
}

func (e BGPSnapshot) EventTime() time.Time { return e.Time }
func (BGPSnapshot) isEvent()               {}
