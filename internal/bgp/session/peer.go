package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// peer is one full_table neighbor: its settings, its connections (at most
// one established; others in OpenSent/OpenConfirm until collision
// detection picks one) and what its last session said.
type peer struct {
	m   *Manager
	key string
	log *slog.Logger

	incoming chan net.Conn // accepted connections from this neighbor
	done     chan struct{} // closed when run returns
	cancel   context.CancelFunc

	// maxPrefixes is n.MaxPrefixes, read by the connection on every
	// UPDATE (a reload changes it without a reset).
	maxPrefixes atomic.Uint32
	// recv4 and recv6 are the established connection's prefix counts.
	recv4, recv6 atomic.Int64

	mu       sync.Mutex
	n        config.Neighbor
	password string
	est      *conn
	pending  map[*conn]bool
	dialing  bool
	state    string
	since    time.Time
	estAt    time.Time
	routerID netip.Addr
	hold     time.Duration
	families []int
	rr       bool
	lastErr  string
	// stopSub is the Cease subcode the connections are closed with when
	// the peer's context ends (shutdown, or de-configured).
	stopSub uint8
	// resetAt is the last reset because the watched set widened.
	resetAt time.Time
}

func newPeer(m *Manager, n config.Neighbor, password string) *peer {
	p := &peer{m: m, key: n.Name(), n: n, password: password, pending: map[*conn]bool{},
		incoming: make(chan net.Conn, 4), done: make(chan struct{}), state: StateIdle, since: m.now(), stopSub: subShutdown}
	p.log = m.log.With("peer", p.key, "peer_asn", n.PeerASN)
	p.maxPrefixes.Store(n.MaxPrefixes)
	return p
}

// spec is the peer as the state knows it: keyed and labelled as an
// embedded neighbor (no Label: evidence names it "peer 192.0.2.1
// (AS64500)" as it does an embedded one; no Feed: its loss is a
// feed_lost of its own, as an embedded session's).
func (p *peer) spec(families []int) rbgp.PeerSpec {
	p.mu.Lock()
	n := p.n
	p.mu.Unlock()
	if families == nil {
		for _, f := range n.FamilyList() {
			if f == config.FamilyIPv6Unicast {
				families = append(families, 6)
			} else {
				families = append(families, 4)
			}
		}
	}
	return rbgp.PeerSpec{Key: p.key, Source: model.SourceBGP, Description: n.Description, ASN: n.PeerASN, Families: families}
}

// run connects (unless passive) every connect_retry while the peer has no
// connection, and serves the connections the listener hands it, until
// ctx ends.
func (p *peer) run(ctx context.Context) {
	defer close(p.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case c := <-p.incoming:
					c.Close()
				default:
					return
				}
			}
		case c := <-p.incoming:
			wg.Go(func() { p.serve(ctx, c, false) })
		case <-t.C:
			p.mu.Lock()
			_, _, retry := p.n.Timers()
			dial := !p.n.Passive && p.est == nil && len(p.pending) == 0 && !p.dialing
			if dial {
				p.dialing = true
				p.setState(StateConnect)
			}
			p.mu.Unlock()
			if dial {
				wg.Go(func() { p.dial(ctx, retry) })
			}
			t.Reset(retry)
		}
	}
}

// dial opens an outgoing connection (TCP-MD5 and TTL set before the
// SYN) and runs the session on it.
func (p *peer) dial(ctx context.Context, timeout time.Duration) {
	asn := p.m.cfgASN() // before p.mu: the lock order is Manager.mu, then peer.mu
	p.mu.Lock()
	n, pw := p.n, p.password
	p.mu.Unlock()
	ebgp := n.PeerASN != asn
	d := net.Dialer{Timeout: timeout, Control: func(network, _ string, c syscall.RawConn) error {
		v6 := network == "tcp6"
		if pw != "" {
			if err := setMD5(c, n.Addr(), pw, v6); err != nil {
				return &sockoptError{err}
			}
		}
		if ttl := ttlFor(n, ebgp); ttl > 0 {
			if err := setTTL(c, ttl, v6); err != nil {
				return &sockoptError{err}
			}
		}
		return nil
	}}
	d.SetMultipathTCP(false) // an MPTCP socket refuses TCP_MD5SIG
	if n.LocalAddress != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(n.LocalAddress)}
	}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(n.Addr().String(), strconv.Itoa(n.RemotePort())))
	p.mu.Lock()
	p.dialing = false
	if err != nil {
		if p.est == nil && len(p.pending) == 0 {
			p.setState(StateActive)
		}
		p.mu.Unlock()
		var se *sockoptError
		switch {
		case ctx.Err() != nil:
		case errors.As(err, &se):
			// TCP-MD5 or TTL refused by the kernel: no retry will do.
			p.log.Error("bgp full_table connect impossible: the socket option cannot be set", "err", err)
		default:
			p.log.Debug("bgp full_table connect failed; retrying after connect_retry", "err", err)
		}
		return
	}
	p.mu.Unlock()
	p.serve(ctx, c, true)
}

// ttlFor is the TTL of the session's packets: multihop_ttl, else 1 for
// eBGP (directly connected, as GoBGP does), else the system default (0).
func ttlFor(n config.Neighbor, ebgp bool) int {
	if n.MultihopTTL > 0 {
		return n.MultihopTTL
	}
	if ebgp {
		return 1
	}
	return 0
}

// serve runs one connection's session.
func (p *peer) serve(ctx context.Context, nc net.Conn, outgoing bool) {
	c := newConn(p, nc, outgoing)
	p.mu.Lock()
	p.pending[c] = true
	p.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		sub := p.stopSub
		p.mu.Unlock()
		reason := "reachmon is stopping"
		if sub == subDeconfig {
			reason = "neighbor removed from the configuration"
		}
		c.close(codeCease, sub, reason)
	})
	defer stop()
	reason := c.run(ctx)
	p.ended(c, reason)
}

// setState records the FSM state (p.mu held).
func (p *peer) setState(s string) {
	if p.state != s {
		p.state, p.since = s, p.m.now()
	}
}

// collide applies collision detection (RFC 4271 6.8) when c has
// received the peer's OPEN: against an established session the new
// connection loses; between two connections in OpenSent/OpenConfirm the
// one opened by the side with the higher BGP identifier stays. It
// returns the error that closes c, or nil (having closed the other).
func (p *peer) collide(c *conn, remoteID netip.Addr) *notifyError {
	local := p.m.localID() // before p.mu: the lock order is Manager.mu, then peer.mu
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.est != nil {
		return notify(codeCease, subCollision, "connection collision: a session with the peer is already established")
	}
	localWins := local.Compare(remoteID) > 0
	for o := range p.pending {
		if o == c || o.outgoing == c.outgoing {
			continue
		}
		// The connection the winning side opened stays.
		keep := c
		if c.outgoing != localWins {
			keep = o
		}
		if keep == o {
			return notify(codeCease, subCollision, "connection collision resolved by BGP identifier (local %s, peer %s): the other connection stays", local, remoteID)
		}
		go o.close(codeCease, subCollision, fmt.Sprintf("connection collision resolved by BGP identifier (local %s, peer %s): the other connection stays", local, remoteID))
	}
	return nil
}

// establish makes c the peer's session; false if another one already is.
func (p *peer) establish(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.est != nil {
		return false
	}
	p.est = c
	delete(p.pending, c)
	p.setState(StateEstablished)
	p.estAt = p.since
	p.routerID, p.hold, p.families, p.rr = c.open.id, c.hold, c.families, c.open.routeRefresh
	p.lastErr = ""
	return true
}

// ended forgets c; if it was the established session the peer is down.
func (p *peer) ended(c *conn, reason string) {
	t := p.m.now()
	p.mu.Lock()
	wasEst := p.est == c
	if wasEst {
		p.est = nil
		p.recv4.Store(0)
		p.recv6.Store(0)
	}
	delete(p.pending, c)
	if wasEst || p.est == nil && len(p.pending) == 0 {
		p.lastErr = reason
	}
	if p.est == nil && len(p.pending) == 0 {
		if p.n.Passive {
			p.setState(StateActive)
		} else {
			p.setState(StateIdle)
		}
	}
	p.mu.Unlock()
	for _, f := range []string{"4", "6"} {
		p.m.m.received.WithLabelValues(p.key, f).Set(0)
	}
	if wasEst {
		down := ""
		if c.cut != 0 {
			down = "max_prefixes_exceeded" // what the embedded speaker's feed reports
		}
		p.m.src.PeerDown(p.key, t, down)
		p.log.Warn("bgp full_table session lost; its routes are unknown", "reason", reason,
			"established_for", t.Sub(c.estAt).Round(time.Second).String())
	} else if c.state >= stateOpenSent {
		p.log.Info("bgp full_table connection closed before it was established", "reason", reason, "outgoing", c.outgoing)
	}
}

// closeAll closes every connection of the peer with Cease/sub.
func (p *peer) closeAll(sub uint8, reason string) {
	p.mu.Lock()
	cs := make([]*conn, 0, len(p.pending)+1)
	if p.est != nil {
		cs = append(cs, p.est)
	}
	for c := range p.pending {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		c.close(codeCease, sub, reason)
	}
}

func (p *peer) status(now time.Time) PeerStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PeerStatus{Peer: p.key, PeerASN: p.n.PeerASN, Description: p.n.Description, Mode: Mode,
		State: p.state, Since: p.since, HoldTime: p.hold, Families: slices.Clone(p.families),
		RouteRefresh: p.rr, LastError: p.lastErr, Received: map[int]int{}}
	if p.routerID.IsValid() {
		st.RouterID = p.routerID.String()
	}
	if p.est != nil {
		st.Uptime = now.Sub(p.estAt)
		st.Received[4], st.Received[6] = int(p.recv4.Load()), int(p.recv6.Load())
	}
	return st
}
