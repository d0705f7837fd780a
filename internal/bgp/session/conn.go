package session

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/bgp/wire"
)

// Connection states, in FSM order.
const (
	stateNew = iota
	stateOpenSent
	stateOpenConfirm
	stateEstablished
)

// openHold is the hold timer while waiting for the peer's OPEN (RFC 4271
// 8.2.2 suggests 4 minutes).
const openHold = 4 * time.Minute

// writeTimeout bounds one write to the peer.
const writeTimeout = 10 * time.Second

// conn is one TCP connection's BGP session. Its goroutine reads and
// decodes; a second goroutine, once established, sends KEEPALIVEs and
// watches for a widened watched set.
type conn struct {
	p        *peer
	nc       net.Conn
	outgoing bool
	br       *bufio.Reader
	buf      []byte

	wmu sync.Mutex // serializes writes

	cmu         sync.Mutex
	closeReason string // set once by close: why reachmon closed it

	// Owned by the connection's goroutine.
	state     int
	open      peerOpen
	hold      time.Duration
	keepalive time.Duration
	families  []int
	ebgp      bool
	estAt     time.Time
	recv      *prefixSet
	cut       int // the family that exceeded max_prefixes (0: none)
	t         time.Time
	watched   func(netip.Prefix) bool
	kept      int
	filtered  int
	attrErrs  int
	// Metric children of this peer, looked up once per connection.
	mMsgs            map[uint8]prometheus.Counter
	mKept, mFiltered prometheus.Counter
	mRecv4, mRecv6   prometheus.Gauge
	// gen is the watched set's generation the peer's table was last
	// asked for under (owned by the keepalive goroutine once established).
	gen uint64
}

func newConn(p *peer, nc net.Conn, outgoing bool) *conn {
	c := &conn{p: p, nc: nc, outgoing: outgoing, br: bufio.NewReaderSize(nc, 64<<10), buf: make([]byte, maxMessage),
		mMsgs: map[uint8]prometheus.Counter{}}
	mm := p.m.m
	for t, name := range msgTypeNames {
		c.mMsgs[t] = mm.messages.WithLabelValues(p.key, name)
	}
	return c
}

// send writes one message.
func (c *conn) send(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(b)
	return err
}

// close ends the connection from outside its goroutine (shutdown, reset,
// collision): a NOTIFICATION Cease/sub, then the socket is closed, which
// ends the reading goroutine. Only the first call counts.
func (c *conn) close(code, sub uint8, reason string) {
	c.cmu.Lock()
	if c.closeReason != "" {
		c.cmu.Unlock()
		return
	}
	c.closeReason = reason
	c.cmu.Unlock()
	c.wmu.Lock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_, err := c.nc.Write(encodeNotification(code, sub, nil))
	c.wmu.Unlock()
	if err == nil {
		c.p.m.m.notifications.WithLabelValues(c.p.key, "sent").Inc()
	}
	c.nc.Close()
}

func (c *conn) closedBy() string {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	return c.closeReason
}

// fail sends the NOTIFICATION an error calls for and closes; it returns
// the reason.
func (c *conn) fail(err error) string {
	var ne *notifyError
	if errors.As(err, &ne) {
		c.cmu.Lock()
		first := c.closeReason == ""
		if first {
			c.closeReason = ne.Error()
		}
		c.cmu.Unlock()
		if first && c.send(encodeNotification(ne.code, ne.sub, ne.data)) == nil {
			c.p.m.m.notifications.WithLabelValues(c.p.key, "sent").Inc()
		}
	}
	c.nc.Close()
	if r := c.closedBy(); r != "" {
		return r
	}
	return err.Error()
}

// readErr words why reading stopped.
func (c *conn) readErr(err error) string {
	if r := c.closedBy(); r != "" {
		return r
	}
	var ne *notifyError
	var te net.Error
	switch {
	case errors.As(err, &ne):
		return c.fail(ne)
	case errors.As(err, &te) && te.Timeout():
		if c.state == stateOpenSent {
			return c.fail(notify(codeHoldExpired, 0, "hold timer expired: no OPEN within %s", openHold))
		}
		return c.fail(notify(codeHoldExpired, 0, "hold timer expired: nothing received for %s", c.hold))
	case errors.Is(err, io.EOF):
		return "connection closed by the peer"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the peer in the middle of a message"
	case errors.Is(err, net.ErrClosed):
		return "connection closed by reachmon"
	}
	return "connection error: " + err.Error()
}

// read reads the next message with the hold timer d (0: none).
func (c *conn) read(d time.Duration) (uint8, []byte, error) {
	if d > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
	} else {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	typ, body, err := readMessage(c.br, c.buf)
	if err == nil {
		c.mMsgs[typ].Inc()
	}
	return typ, body, err
}

// run is the session on this connection; it returns why it ended.
func (c *conn) run(ctx context.Context) string {
	defer c.nc.Close()
	p, m := c.p, c.p.m
	p.mu.Lock()
	n := p.n
	p.mu.Unlock()
	localASN, localID := m.cfgASN(), m.localID()
	c.ebgp = n.PeerASN != localASN
	hold, keepalive, _ := n.Timers()
	if !c.outgoing {
		if tc, ok := c.nc.(*net.TCPConn); ok {
			if ttl := ttlFor(n, c.ebgp); ttl > 0 {
				if sc, err := tc.SyscallConn(); err == nil {
					if err := setTTL(sc, ttl, isV6Socket(c.nc)); err != nil {
						p.log.Warn("bgp full_table: cannot set the TTL of an accepted connection", "err", err)
					}
				}
			}
		}
	}
	var want []int
	for _, f := range n.FamilyList() {
		if f == "ipv6-unicast" {
			want = append(want, 6)
		} else {
			want = append(want, 4)
		}
	}
	if err := c.send(encodeOpen(openParams{asn: localASN, hold: uint16(hold / time.Second), id: localID, families: want})); err != nil {
		return c.readErr(err)
	}
	c.state = stateOpenSent
	c.setPeerState(StateOpenSent)
	typ, body, err := c.read(openHold)
	if err != nil {
		return c.readErr(err)
	}
	switch typ {
	case msgOpen:
	case msgNotification:
		return c.notified(body)
	default:
		return c.fail(notify(codeFSM, subFSMOpenSent, "%s received before the peer's OPEN", msgTypeNames[typ]))
	}
	o, err := decodeOpen(body, n.PeerASN, localASN, localID)
	if err != nil {
		return c.fail(err)
	}
	c.open = o
	for _, f := range want {
		if slices.Contains(o.families, f) {
			c.families = append(c.families, f)
		}
	}
	if len(c.families) == 0 {
		return c.fail(notify(codeOpen, subUnsupCap, "no unicast family in common: reachmon offers %v, the peer %v", want, o.families))
	}
	c.hold = min(hold, time.Duration(o.hold)*time.Second)
	c.keepalive = 0
	if c.hold > 0 {
		c.keepalive = min(keepalive, c.hold/3)
	}
	if ne := p.collide(c, o.id); ne != nil {
		return c.fail(ne)
	}
	if err := c.send(encodeKeepalive()); err != nil {
		return c.readErr(err)
	}
	c.state = stateOpenConfirm
	c.setPeerState(StateOpenConfirm)
	typ, body, err = c.read(c.hold)
	if err != nil {
		return c.readErr(err)
	}
	switch typ {
	case msgKeepalive:
	case msgNotification:
		return c.notified(body)
	default:
		return c.fail(notify(codeFSM, subFSMOpenConfirm, "%s received in OpenConfirm", msgTypeNames[typ]))
	}
	if !p.establish(c) {
		return c.fail(notify(codeCease, subCollision, "connection collision: a session with the peer was established meanwhile"))
	}
	c.state = stateEstablished
	c.estAt = m.now()
	c.recv = newPrefixSet()
	c.watched = m.src.Watched
	c.mKept, c.mFiltered = m.m.routes.WithLabelValues(p.key, "kept"), m.m.routes.WithLabelValues(p.key, "filtered")
	c.mRecv4, c.mRecv6 = m.m.received.WithLabelValues(p.key, "4"), m.m.received.WithLabelValues(p.key, "6")
	c.gen = m.src.WatchGeneration()
	m.src.AddPeer(p.spec(c.families))
	m.src.PeerUp(p.key, c.estAt)
	p.log.Info("bgp full_table session established", "router_id", o.id.String(), "hold", c.hold.String(),
		"families", c.families, "route_refresh", o.routeRefresh, "outgoing", c.outgoing)
	done := make(chan struct{})
	defer close(done)
	go c.keep(done)
	return c.established()
}

// setPeerState shows the most advanced state among the peer's
// connections.
func (c *conn) setPeerState(s string) {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.est == nil && (p.state != StateOpenConfirm || s == StateOpenConfirm) {
		p.setState(s)
	}
}

// notified handles a received NOTIFICATION: the session ends.
func (c *conn) notified(body []byte) string {
	c.p.m.m.notifications.WithLabelValues(c.p.key, "received").Inc()
	return "notification received: " + decodeNotification(body)
}

// keep sends KEEPALIVEs and, once a second, checks whether the watched
// set widened since the peer sent its table.
func (c *conn) keep(done <-chan struct{}) {
	var ka <-chan time.Time
	if c.keepalive > 0 {
		t := time.NewTicker(c.keepalive)
		defer t.Stop()
		ka = t.C
	}
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		select {
		case <-done:
			return
		case <-ka:
			if err := c.send(encodeKeepalive()); err != nil {
				c.nc.Close() // the reading goroutine reports it
				return
			}
		case <-check.C:
			c.widened()
		}
	}
}

// widened asks the peer for its table again when the watched set widened
// since it sent it: ROUTE-REFRESH for each family, or, when the peer does
// not support route refresh, a reset (at most once per minReset).
func (c *conn) widened() {
	src, p := c.p.m.src, c.p
	if src.WidenedAt() <= c.gen {
		return
	}
	if c.open.routeRefresh {
		c.gen = src.WatchGeneration()
		for _, f := range c.families {
			if err := c.send(encodeRouteRefresh(f)); err != nil {
				c.nc.Close()
				return
			}
		}
		p.log.Info("bgp full_table route refresh sent: the watched set widened since the peer sent its table", "families", c.families)
		return
	}
	now := p.m.now()
	p.mu.Lock()
	if !p.resetAt.IsZero() && now.Sub(p.resetAt) < p.m.minReset {
		p.mu.Unlock()
		return
	}
	p.resetAt = now
	p.mu.Unlock()
	p.log.Warn("bgp full_table session reset: the watched set widened and the peer does not support route refresh, so it has to send its table again")
	c.close(codeCease, subAdminReset, "reset: the watched set widened and the peer does not support route refresh")
}

// established reads the session's messages until it ends.
func (c *conn) established() string {
	p, m := c.p, c.p.m
	for {
		typ, body, err := c.read(c.hold)
		if err != nil {
			return c.readErr(err)
		}
		switch typ {
		case msgUpdate:
			c.t = m.now()
			m.src.Seen(p.key, c.t)
			c.kept, c.filtered = 0, 0
			res, err := decodeUpdate(body, c.ebgp, c)
			if err != nil {
				var ne *notifyError
				if errors.As(err, &ne) {
					m.m.malformed.WithLabelValues(p.key).Inc()
				}
				p.log.Error("bgp full_table UPDATE malformed; closing the session", "bytes", len(body), "err", err)
				return c.fail(err)
			}
			if res.attrError != "" {
				c.attrErrs++
				m.m.malformed.WithLabelValues(p.key).Inc()
				if c.attrErrs <= 10 {
					p.log.Warn("bgp full_table UPDATE with a bad attribute, handled as RFC 7606 says (attribute discarded or routes withdrawn)", "err", res.attrError)
				}
			}
			if res.ignored != "" {
				p.log.Debug("bgp full_table UPDATE ignored", "why", res.ignored)
			}
			c.mKept.Add(float64(c.kept))
			c.mFiltered.Add(float64(c.filtered))
			n4, n6 := c.recv.len4(), c.recv.len6()
			p.recv4.Store(int64(n4))
			p.recv6.Store(int64(n6))
			c.mRecv4.Set(float64(n4))
			c.mRecv6.Set(float64(n6))
			if c.cut != 0 {
				max := p.maxPrefixes.Load()
				p.log.Warn("bgp full_table neighbor exceeded max_prefixes; session cut", "family", c.cut,
					"prefixes", c.recv.count(c.cut), "max_prefixes", max)
				return c.fail(notify(codeCease, subMaxPrefixes, "maximum number of prefixes reached: more than %d in IPv%d", max, c.cut))
			}
		case msgKeepalive:
		case msgNotification:
			return c.notified(body)
		case msgRouteRefresh:
			// reachmon advertises nothing: nothing to send again.
		case msgOpen:
			return c.fail(notify(codeFSM, 3, "OPEN received in Established"))
		}
	}
}

// Announce, Withdraw and EndOfRIB take an UPDATE's prefixes: every one
// is counted (max_prefixes), the watched ones go to the state.
func (c *conn) Announce(pfx netip.Prefix, family int, a *wire.Attrs) {
	if c.recv.add(pfx) && c.cut == 0 {
		if max := c.p.maxPrefixes.Load(); max > 0 && c.recv.count(family) > int(max) {
			c.cut = family
		}
	}
	if !c.watched(pfx) {
		c.filtered++
		return
	}
	c.kept++
	x := a.Route()
	x.Prefix = pfx
	c.p.m.src.Route(c.p.key, c.t, x)
}

func (c *conn) Withdraw(pfx netip.Prefix, family int) {
	c.recv.remove(pfx)
	if !c.watched(pfx) {
		c.filtered++
		return
	}
	c.kept++
	c.p.m.src.Route(c.p.key, c.t, rbgp.Route{Prefix: pfx, Withdraw: true})
}

func (c *conn) EndOfRIB(family int) {
	c.p.log.Info("bgp full_table End-of-RIB", "family", family, "prefixes", c.recv.count(family))
	c.p.m.src.EndOfRIB(c.p.key, c.t, family)
}

var _ wire.Sink = (*conn)(nil)
