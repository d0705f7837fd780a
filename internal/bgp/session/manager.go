// Package session is reachmon's own lightweight BGP speaker for the
// neighbors marked full_table = true in [[bgp.neighbor]]: they do not go
// to the embedded GoBGP server (which keeps every path of a full table in
// its Adj-RIB-In); instead each session reads its UPDATEs in the
// connection's goroutine, decodes them with GoBGP's packet package and
// keeps only the watched routes, which it hands to the shared BGP state
// through an *rbgp.Source, as the BMP station does. Nothing is queued
// without bound: while the state is busy the session stops reading and
// TCP holds the peer back.
//
// A session is a receive-only BGP speaker (RFC 4271): active connect with
// connect-retry and/or passive accept on the Manager's listener, OPEN
// with the capabilities MP-BGP (the configured unicast families),
// 4-octet AS and route refresh, KEEPALIVE and the negotiated hold timer,
// NOTIFICATIONs with RFC 4271 codes, connection collision detection by
// BGP identifier (6.8), TCP-MD5 (RFC 2385) and the eBGP TTL. It counts
// every prefix the peer announces, watched or not, in a compact exact set
// per family (max_prefixes), takes End-of-RIB per family, handles
// malformed attributes as RFC 7606 says where GoBGP's decoder tells how,
// and when the watched set widens asks the peer for its table again with
// ROUTE-REFRESH (RFC 2918) or, when the peer cannot, resets the session.
//
// GoBGP's packet types stay inside this package; reachmon sees config,
// netip and rbgp types only.
package session

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// Mode is PeerStatus.Mode of every session the Manager runs.
const Mode = "full_table"

// FSM states as PeerStatus.State words them (RFC 4271 8.2.2).
const (
	StateIdle        = "idle"
	StateConnect     = "connect"
	StateActive      = "active"
	StateOpenSent    = "opensent"
	StateOpenConfirm = "openconfirm"
	StateEstablished = "established"
)

// PeerStatus is one full_table neighbor's session, for /api/v1/peers and
// `reachmon bgp peers`.
type PeerStatus struct {
	// Peer is the neighbor's key in the state: config.Neighbor.Name().
	Peer        string
	PeerASN     uint32
	Description string
	// Mode is always "full_table".
	Mode string
	// State is the FSM state (StateIdle ... StateEstablished).
	State string
	// Since is when State was entered; Uptime is how long the session has
	// been established (0 unless State is StateEstablished).
	Since  time.Time
	Uptime time.Duration
	// RouterID is the peer's BGP identifier, HoldTime the negotiated hold
	// time (both from the current or last session).
	RouterID string
	HoldTime time.Duration
	// Families are the negotiated unicast families (4, 6).
	Families []int
	// Received counts the prefixes the peer announced and has not
	// withdrawn in this session, every one, watched or not, by family
	// (4, 6): what max_prefixes is compared with. Empty while down.
	Received map[int]int
	// RouteRefresh says the peer advertised route refresh (RFC 2918).
	RouteRefresh bool
	// LastError says why the last session ended ("hold timer expired",
	// "notification received: cease/administrative reset", ...).
	LastError string
}

// Manager runs one session per full_table neighbor of the [bgp] section
// and, when it owns it (a passive full_table neighbor:
// config.BGP.FullTableListener), the listener on [bgp] listen_port and
// listen_addresses. Create it with NewManager, start it with Run.
type Manager struct {
	src *rbgp.Source
	log *slog.Logger
	m   *metrics
	now func() time.Time
	// minReset bounds how often a session whose peer has no route
	// refresh is reset because the watched set widened.
	minReset  time.Duration
	ready     chan struct{}
	readyOnce sync.Once
	gate      <-chan struct{}

	// mu guards what follows; a peer's mu may be taken while holding it,
	// never the other way round.
	mu    sync.Mutex
	cfg   config.BGP
	id    netip.Addr
	peers map[string]*peer // by neighbor key
	order []string
	lns   []net.Listener
	ctx   context.Context // Run's; nil before Run and after it returned
	wg    sync.WaitGroup  // peers' and accept loops' goroutines
}

// DefaultMinReset bounds how often a session is reset because the
// watched set widened and the peer cannot refresh its routes.
const DefaultMinReset = 10 * time.Minute

// NewManager builds the Manager for cfg's full_table neighbors, feeding
// src (a source named model.SourceBGP: its peers are keyed by
// config.Neighbor.Name(), as the embedded neighbors are). It reads the
// neighbors' TCP-MD5 passwords; an error names the neighbor. reg takes
// the sessions' metrics (nil: none registered).
func NewManager(cfg config.BGP, src *rbgp.Source, log *slog.Logger, reg prometheus.Registerer) (*Manager, error) {
	return newManager(cfg, src, log, reg)
}

// Run listens (when the Manager owns the listener) and runs the sessions
// until ctx is cancelled; it returns with every session closed (a Cease
// NOTIFICATION sent) and its peer reported down. An error is returned
// only when the listener cannot be opened.
func (m *Manager) Run(ctx context.Context) error { return m.run(ctx) }

// Reconfigure applies a reloaded [bgp] section: full_table neighbors that
// are new are added, those gone are removed (session closed with Cease/
// Peer De-configured, peer removed from the state), those whose session
// settings changed are reset (Cease/Other Configuration Change); a
// neighbor whose only change is its description or max_prefixes keeps its
// session. A change of the listener's port or addresses restarts the
// listener. Errors (a password that cannot be read) leave the running
// configuration unchanged.
func (m *Manager) Reconfigure(cfg config.BGP) error { return m.reconfigure(cfg) }

// Status lists the full_table neighbors' sessions in configuration order.
func (m *Manager) Status() []PeerStatus { return m.status() }

// Addr is the listener's address while the Manager listens (nil
// otherwise).
func (m *Manager) Addr() net.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.lns) == 0 {
		return nil
	}
	return m.lns[0].Addr()
}

// SetGate makes Run wait, before it listens or connects, until gate is
// closed (call it before Run): the daemon closes it once the first
// discovery has found the nameserver addresses, so that the neighbors'
// tables are filtered with the whole watched set and not asked for again
// right away.
func (m *Manager) SetGate(gate <-chan struct{}) { m.gate = gate }

// Ready is closed once Run has opened its listener (or has started
// without one).
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// FullTableNeighbors are cfg's neighbors marked full_table.
func FullTableNeighbors(cfg config.BGP) []config.Neighbor {
	var out []config.Neighbor
	for _, n := range cfg.Neighbor {
		if n.FullTable {
			out = append(out, n)
		}
	}
	return out
}

// ownsListener says whether the Manager runs [bgp]'s listener: when a
// passive neighbor is full_table (then GoBGP gets none).
func ownsListener(cfg config.BGP) bool {
	if cfg.ListenPort <= 0 {
		return false
	}
	for _, n := range cfg.Neighbor {
		if n.FullTable && n.Passive {
			return true
		}
	}
	return false
}

// View is the status as /api/v1/peers shows it (model.BGPPeer.Session).
func (s PeerStatus) View() model.BGPSession {
	v := model.BGPSession{Mode: s.Mode, State: s.State, Since: s.Since, UptimeSeconds: s.Uptime.Seconds(),
		RouterID: s.RouterID, HoldTimeSeconds: int(s.HoldTime / time.Second), RouteRefresh: s.RouteRefresh,
		LastError: s.LastError, ReceivedPrefixes: map[string]int{}}
	for _, f := range s.Families {
		v.Families = append(v.Families, familyName(f))
	}
	for f, n := range s.Received {
		v.ReceivedPrefixes[familyName(f)] = n
	}
	return v
}

func familyName(f int) string {
	if f == 6 {
		return config.FamilyIPv6Unicast
	}
	return config.FamilyIPv4Unicast
}

// Annotate sets the Session of the peers in v that are full_table
// neighbors (the /api/v1/peers document).
func (m *Manager) Annotate(v rbgp.PeersView) rbgp.PeersView {
	st := map[string]PeerStatus{}
	for _, s := range m.Status() {
		st[s.Peer] = s
	}
	v.Peers = slices.Clone(v.Peers)
	for i, p := range v.Peers {
		if s, ok := st[p.Peer]; ok {
			sv := s.View()
			v.Peers[i].Session = &sv
		}
	}
	return v
}
