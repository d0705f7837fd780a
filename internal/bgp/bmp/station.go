// Package bmp is reachmon's BMP station (RFC 7854, with the RFC 8671
// Adj-RIB-Out and RFC 9069 Loc-RIB peer types): configured routers
// connect and report what their BGP peers send; each monitored peer of
// each router is a view fed into the BGP feed's state through a
// bgp.Source, filtered to the watched routes as messages are parsed, so
// that routers sending full tables for many peers cost little memory.
//
// GoBGP's packet types stay in parse.go; the rest of the package and of
// reachmon sees netip, model and bgp types only.
package bmp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// Options are the station's dependencies.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// MaxMessage bounds one BMP message (default DefaultMaxMessage).
	MaxMessage int
	// Gate, when set, holds every session before its first message
	// until it is closed: the daemon opens it once the first discovery
	// has found the nameserver addresses, so that a router's initial
	// tables are filtered with the whole watched set.
	Gate <-chan struct{}
	// MinReset is the least time between two resets of one router's
	// session because the watched set widened (default 10m).
	MinReset time.Duration
	// StaleAfter is how long a router's session must have been reading
	// before the views it had before and has not reported up again are
	// forgotten (default 10m): the router no longer monitors those peers,
	// and their routes, unknown since its previous session ended, would
	// otherwise stay unknown.
	StaleAfter time.Duration
}

// DefaultStaleAfter: see Options.StaleAfter.
const DefaultStaleAfter = 10 * time.Minute

// DefaultMinReset bounds how often a router's session is reset because
// the watched set widened.
const DefaultMinReset = 10 * time.Minute

// Station is the BMP station. Create it with New, start it with Run.
type Station struct {
	cfg     config.BMP
	src     *rbgp.Source
	log     *slog.Logger
	now     func() time.Time
	max     int
	gate    <-chan struct{}
	minRst  time.Duration
	resetAt map[string]time.Time // by router: the last reset for a widened set
	stale   time.Duration
	views   map[string]map[string]bool // by router: the keys of its views in the feed
	m       *metrics
	routers map[netip.Addr]config.BMPRouter

	mu     sync.Mutex
	ln     net.Listener
	ready  chan struct{}
	active map[string]*session // by router name
}

// New builds a station feeding src.
func New(cfg config.BMP, src *rbgp.Source, opts Options) *Station {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = DefaultMaxMessage
	}
	if opts.MinReset <= 0 {
		opts.MinReset = DefaultMinReset
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	s := &Station{
		cfg: cfg, src: src, log: opts.Logger.With("component", "bmp"), now: opts.Now, max: opts.MaxMessage,
		routers: map[netip.Addr]config.BMPRouter{},
		gate:    opts.Gate, minRst: opts.MinReset, resetAt: map[string]time.Time{},
		stale: opts.StaleAfter, views: map[string]map[string]bool{},
		ready:  make(chan struct{}),
		active: map[string]*session{},
	}
	var names []string
	for _, r := range cfg.Router {
		s.routers[r.Addr()] = r
		names = append(names, r.Name)
	}
	s.m = newMetrics(opts.Registerer, names)
	return s
}

// Feeds are the configured routers as the evaluator's feeds (a router
// that never connects is a lost feed after the start grace).
func Feeds(cfg config.BMP) []model.BGPFeed {
	var out []model.BGPFeed
	for _, r := range cfg.Router {
		out = append(out, model.BGPFeed{Feed: r.FeedName(), Source: model.SourceBMP, Name: r.Name, Label: r.Label(),
			Address: r.Addr(), Description: r.Description, State: "down"})
	}
	return out
}

// Addr is the listener's address once Run listens (nil before).
func (s *Station) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Ready is closed once Run listens.
func (s *Station) Ready() <-chan struct{} { return s.ready }

// Run listens on [bmp] listen and serves routers until ctx is cancelled;
// it returns with every session closed and its peers reported down.
func (s *Station) Run(ctx context.Context) error {
	for _, r := range s.cfg.Router {
		s.src.SetFeed(s.feedState(r, "down", "not connected since reachmon started"))
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return config.Invalid(fmt.Errorf("bmp: listen %s: %w", s.cfg.Listen, err))
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("bmp station listening", "listen", ln.Addr().String(), "routers", len(s.cfg.Router))
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	wg.Go(func() { s.maintain(ctx) })
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Error("bmp accept failed", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		wg.Go(func() { s.serve(ctx, c) })
	}
	wg.Wait()
	s.log.Info("bmp station stopped")
	return nil
}

func (s *Station) feedState(r config.BMPRouter, state, reason string) model.BGPFeed {
	return model.BGPFeed{Feed: r.FeedName(), Source: model.SourceBMP, Name: r.Name, Label: r.Label(), Address: r.Addr(),
		Description: r.Description, State: state, Since: s.now(), Reason: reason}
}

// serve runs one router's connection: refused unless the router is
// configured; a newer connection of the same router replaces an older
// one.
func (s *Station) serve(ctx context.Context, c net.Conn) {
	ra, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	addr := ra.Addr().Unmap()
	r, ok := s.routers[addr]
	if !ok {
		s.m.refused.Inc()
		s.log.Warn("bmp connection refused: not a configured [[bmp.router]]", "remote", c.RemoteAddr().String())
		c.Close()
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		// BMP has no keepalives: TCP's find a router that vanished.
		_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 6})
	}
	sess := &session{st: s, r: r, conn: c, peers: map[peerID]*viewPeer{}, done: make(chan struct{})}
	s.mu.Lock()
	old := s.active[r.Name]
	s.active[r.Name] = sess
	s.mu.Unlock()
	if old != nil {
		s.log.Warn("bmp router connected again; closing its previous session", "router", r.Name, "remote", c.RemoteAddr().String())
		old.conn.Close()
		<-old.done
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	sess.run(ctx)
	s.mu.Lock()
	if s.active[r.Name] == sess {
		delete(s.active, r.Name)
	}
	s.mu.Unlock()
}

// session is one router's BMP connection.
type session struct {
	st    *Station
	r     config.BMPRouter
	conn  net.Conn
	peers map[peerID]*viewPeer
	feed  model.BGPFeed
	msgs  uint64
	done  chan struct{}

	// gen is the watched set's generation when the session started
	// reading; closeReason says why the station closed it (guarded by
	// Station.mu).
	gen         uint64
	reading     bool
	readSince   time.Time
	closeReason string
	keys        map[string]bool // the views it reported
	pruned      bool            // stale views of earlier sessions were forgotten
}

// maintain resets, at most once per MinReset per router, the sessions
// that started reading before the watched set widened: BMP cannot ask a
// router for its tables again, and routes dropped as unwatched then may
// be watched now (the router reconnects and sends its tables anew). And
// once a session has read for StaleAfter, it forgets the router's views
// of earlier sessions that this one did not report.
func (s *Station) maintain(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w := s.src.WidenedAt()
		now := s.now()
		s.mu.Lock()
		for name, ss := range s.active {
			if ss.reading && !ss.pruned && now.Sub(ss.readSince) >= s.stale {
				ss.pruned = true
				for key := range s.views[name] {
					if !ss.keys[key] {
						delete(s.views[name], key)
						s.src.RemovePeer(key)
						s.log.Info("bmp view forgotten: the router no longer reports this peer", "router", name, "peer", key)
					}
				}
			}
			if !ss.reading || ss.closeReason != "" || w <= ss.gen {
				continue
			}
			if last, ok := s.resetAt[name]; ok && now.Sub(last) < s.minRst {
				continue
			}
			s.resetAt[name] = now
			ss.closeReason = "watched set widened: reset for the router to send its tables again"
			s.log.Info("bmp session reset: the watched set widened since the router sent its tables", "router", name)
			ss.conn.Close()
		}
		s.mu.Unlock()
	}
}

// viewPeer is a monitored peer of the router: one view.
type viewPeer struct {
	key     string
	up      bool
	addPath addPathModes
}

func (ss *session) run(ctx context.Context) {
	s := ss.st
	defer close(ss.done)
	defer ss.conn.Close()
	log := s.log.With("router", ss.r.Name, "remote", ss.conn.RemoteAddr().String())
	log.Info("bmp router connected")
	if s.gate != nil {
		select {
		case <-s.gate:
		default:
			log.Info("bmp session waits for the first discovery of the nameserver addresses before reading")
			select {
			case <-s.gate:
			case <-ctx.Done():
				return
			}
		}
	}
	s.mu.Lock()
	ss.gen, ss.reading, ss.readSince, ss.keys = s.src.WatchGeneration(), true, s.now(), map[string]bool{}
	s.mu.Unlock()
	ss.feed = s.feedState(ss.r, "up", "")
	s.src.SetFeed(ss.feed)
	s.m.session(ss.r.Name, true)
	reason := ""
	br := bufio.NewReaderSize(ss.conn, 64<<10)
	var buf []byte
	for {
		data, err := readMessage(br, s.max, buf)
		if err != nil {
			s.mu.Lock()
			reason = ss.closeReason
			s.mu.Unlock()
			if reason == "" {
				reason = ss.readError(log, err)
			}
			break
		}
		buf = data[:0]
		m, err := parseMessage(data, s.src.Watched, ss.addPathOf)
		if err != nil {
			s.m.malformed.WithLabelValues(ss.r.Name).Inc()
			log.Error("bmp message malformed; closing the session", "type", msgTypeName(m.typ), "bytes", len(data), "err", err)
			reason = err.Error()
			break
		}
		ss.msgs++
		s.m.messages.WithLabelValues(ss.r.Name, msgTypeName(m.typ)).Inc()
		if !ss.handle(log, m) {
			reason = "terminated by the router"
			if ss.feed.Termination != "" {
				reason += ": " + ss.feed.Termination
			}
			break
		}
	}
	t := s.now()
	n := 0
	for _, p := range ss.peers {
		if p.up {
			p.up = false
			n++
			s.src.PeerDown(p.key, t, "bmp_session_lost")
		}
	}
	s.m.session(ss.r.Name, false)
	s.m.peersUp.WithLabelValues(ss.r.Name).Set(0)
	ss.feed.State, ss.feed.Since, ss.feed.Reason, ss.feed.Messages = "down", t, reason, ss.msgs
	s.src.SetFeed(ss.feed)
	log.Warn("bmp router session ended; its peers' routes are unknown", "reason", reason, "peers_down", n, "messages", ss.msgs)
}

// readError words why reading stopped.
func (ss *session) readError(log *slog.Logger, err error) string {
	var mf *malformed
	switch {
	case errors.As(err, &mf):
		ss.st.m.malformed.WithLabelValues(ss.r.Name).Inc()
		log.Error("bmp message malformed; closing the session", "err", err)
		return err.Error()
	case errors.Is(err, io.EOF):
		return "connection closed by the router"
	case errors.Is(err, net.ErrClosed):
		return "connection closed by reachmon"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed in the middle of a message"
	}
	return "connection error: " + err.Error()
}

func (ss *session) addPathOf(id peerID) addPathModes {
	if p := ss.peers[id]; p != nil {
		return p.addPath
	}
	return nil
}

// handle applies one message; false ends the session (Termination).
func (ss *session) handle(log *slog.Logger, m msg) bool {
	s := ss.st
	t := s.now()
	switch m.typ {
	case typeInitiation:
		ss.feed.SysName, ss.feed.SysDescr = m.sysName, m.sysDescr
		s.src.SetFeed(ss.feed)
		log.Info("bmp initiation", "sys_name", m.sysName, "sys_descr", m.sysDescr)
	case typeTermination:
		ss.feed.Termination = m.termination
		log.Info("bmp termination", "reason", m.termination)
		return false
	case typePeerUp:
		p := ss.peer(m)
		p.addPath = m.addPath
		ss.st.src.AddPeer(ss.spec(m, p.key))
		if p.up {
			// A new session without a Peer Down for the old one: the old
			// session's routes are unknown until the new one has synced.
			s.src.PeerDown(p.key, t, "peer up again without a peer down")
			log.Warn("bmp peer up again without a peer down", "peer", p.key)
		}
		p.up = true
		s.src.PeerUp(p.key, t)
		ss.countUp()
		log.Info("bmp peer up", "peer", p.key, "families", m.families)
	case typePeerDown:
		p := ss.peer(m)
		if p.up {
			p.up = false
			s.src.PeerDown(p.key, t, m.downReason)
			ss.countUp()
			log.Info("bmp peer down", "peer", p.key, "reason", m.downReason)
		}
		if m.deconfigured {
			// The router no longer has this peer: forget the view, its
			// routes neither withdrawn nor unknown.
			s.mu.Lock()
			delete(s.views[ss.r.Name], p.key)
			delete(ss.keys, p.key)
			s.mu.Unlock()
			delete(ss.peers, m.peer)
			s.src.RemovePeer(p.key)
			log.Info("bmp view forgotten: peer de-configured on the router", "peer", p.key)
		}
	case typeRouteMonitoring:
		p := ss.peer(m)
		if !p.up {
			// Route Monitoring of a peer without its Peer Up (the station
			// missed it): the router evidently has the session up.
			s.src.AddPeer(ss.spec(m, p.key))
			p.up = true
			s.src.PeerUp(p.key, t)
			ss.countUp()
		}
		s.src.Seen(p.key, t)
		if m.attrError != "" {
			log.Warn("bmp route monitoring with a bad attribute, handled as RFC 7606 says", "peer", p.key, "err", m.attrError)
		}
		for _, r := range m.routes {
			if !r.Withdraw && len(r.ASPath) == 0 && r.Origin == 0 {
				// An empty AS_PATH: originated in the AS of the peer that
				// sent it (a Loc-RIB's own routes, an iBGP peer's).
				r.Origin = m.asn
			}
			s.src.Route(p.key, t, r)
		}
		if m.eor != 0 {
			s.src.EndOfRIB(p.key, t, m.eor)
		}
		s.m.routes(ss.r.Name, len(m.routes), m.filtered)
	}
	return true
}

func (ss *session) countUp() {
	n := 0
	for _, p := range ss.peers {
		if p.up {
			n++
		}
	}
	ss.st.m.peersUp.WithLabelValues(ss.r.Name).Set(float64(n))
}

// peer returns the view of m's per-peer header, creating it.
func (ss *session) peer(m msg) *viewPeer {
	p := ss.peers[m.peer]
	if p == nil {
		p = &viewPeer{key: ss.key(m.peer)}
		ss.peers[m.peer] = p
		s := ss.st
		s.mu.Lock()
		if s.views[ss.r.Name] == nil {
			s.views[ss.r.Name] = map[string]bool{}
		}
		s.views[ss.r.Name][p.key] = true
		ss.keys[p.key] = true
		s.mu.Unlock()
	}
	return p
}

// key names a view: "bmp edge1 192.0.2.1", "bmp edge1 192.0.2.1
// post-policy", "bmp edge1 loc-rib".
func (ss *session) key(id peerID) string {
	parts := []string{"bmp", ss.r.Name}
	if id.typ == peerLocRIB {
		parts = append(parts, "loc-rib")
	} else {
		parts = append(parts, id.addr.String())
	}
	return strings.Join(append(parts, id.qualifiers()...), " ")
}

// spec describes a view for the feed: its label names the router and
// the peer ("router edge1, peer 192.0.2.1 (AS64500)").
func (ss *session) spec(m msg, key string) rbgp.PeerSpec {
	label := "router " + ss.r.Name + ", "
	if m.peer.typ == peerLocRIB {
		label += "Loc-RIB"
	} else {
		label += fmt.Sprintf("peer %s (AS%d)", m.peer.addr, m.asn)
	}
	if q := m.peer.qualifiers(); len(q) > 0 {
		label += " [" + strings.Join(q, ", ") + "]"
	}
	return rbgp.PeerSpec{Key: key, Source: model.SourceBMP, Feed: ss.r.FeedName(), Label: label,
		Description: ss.r.Description, ASN: m.asn, Families: m.families}
}
