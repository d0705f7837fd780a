package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
)

func newManager(cfg config.BGP, src *rbgp.Source, log *slog.Logger, reg prometheus.Registerer) (*Manager, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{src: src, log: log.With("component", "bgp-session"), m: newMetrics(reg), now: time.Now,
		minReset: DefaultMinReset, ready: make(chan struct{}), peers: map[string]*peer{}}
	pws, err := passwords(cfg)
	if err != nil {
		return nil, err
	}
	m.cfg = cfg
	m.id, _ = netip.ParseAddr(cfg.RouterID)
	for _, n := range FullTableNeighbors(cfg) {
		m.peers[n.Name()] = newPeer(m, n, pws[n.Name()])
		m.order = append(m.order, n.Name())
	}
	return m, nil
}

// passwords reads the full_table neighbors' TCP-MD5 passwords.
func passwords(cfg config.BGP) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for i, n := range cfg.Neighbor {
		if !n.FullTable {
			continue
		}
		pw, err := n.Password()
		if err != nil {
			errs = append(errs, fmt.Errorf("bgp.neighbor[%d] (%s): password: %w", i, n.Name(), err))
		}
		out[n.Name()] = pw
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("bgp: %w", err)
	}
	return out, nil
}

func (m *Manager) cfgASN() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg.ASN
}

func (m *Manager) localID() netip.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id
}

func (m *Manager) run(ctx context.Context) error {
	if m.gate != nil {
		select {
		case <-m.gate:
		default:
			m.mu.Lock()
			n := len(m.order)
			m.mu.Unlock()
			if n > 0 {
				m.log.Info("bgp full_table sessions wait for the first discovery of the nameserver addresses")
			}
			select {
			case <-m.gate:
			case <-ctx.Done():
				return nil
			}
		}
	}
	m.mu.Lock()
	if m.ctx != nil {
		m.mu.Unlock()
		return errors.New("bgp session manager: Run called twice")
	}
	if ownsListener(m.cfg) {
		if err := m.listen(ctx); err != nil {
			m.mu.Unlock()
			return err
		}
	}
	m.ctx = ctx
	for _, key := range m.order {
		m.startPeer(m.peers[key])
	}
	n := len(m.order)
	m.mu.Unlock()
	m.readyOnce.Do(func() { close(m.ready) })
	if n > 0 {
		m.log.Info("bgp full_table sessions started", "neighbors", n, "listener", m.Addr() != nil)
	}
	<-ctx.Done()
	m.mu.Lock()
	m.closeListeners()
	peers := make([]*peer, 0, len(m.peers))
	for _, p := range m.peers {
		peers = append(peers, p)
	}
	m.mu.Unlock()
	for _, p := range peers {
		<-p.done
	}
	m.wg.Wait()
	m.mu.Lock()
	m.ctx = nil
	n = len(m.order)
	m.mu.Unlock()
	if n > 0 {
		m.log.Info("bgp full_table sessions stopped")
	}
	return nil
}

// startPeer gives the state the peer (down) and starts its goroutine
// (m.mu held, Run running).
func (m *Manager) startPeer(p *peer) {
	m.src.AddPeer(p.spec(nil))
	ctx, cancel := context.WithCancel(m.ctx)
	p.cancel = cancel
	m.wg.Go(func() { p.run(ctx) })
}

// listen opens the listener on [bgp] listen_addresses (default every
// IPv4 and IPv6 address) and listen_port, sets the TCP-MD5 keys of the
// passive... every full_table neighbor with a password on it, and starts
// accepting (m.mu held).
func (m *Manager) listen(ctx context.Context) error {
	addrs := m.cfg.ListenAddresses
	defaulted := len(addrs) == 0
	if defaulted {
		addrs = []string{"0.0.0.0", "::"}
	}
	port := strconv.Itoa(m.cfg.ListenPort)
	var lns []net.Listener
	for _, a := range addrs {
		network := "tcp4"
		if ip, err := netip.ParseAddr(a); err == nil && ip.Is6() && !ip.Is4In6() {
			network = "tcp6"
		}
		lc := &net.ListenConfig{}
		lc.SetMultipathTCP(false) // an MPTCP socket refuses TCP_MD5SIG
		ln, err := lc.Listen(ctx, network, net.JoinHostPort(a, port))
		if err != nil {
			if defaulted && network == "tcp6" && len(lns) > 0 {
				m.log.Warn("bgp full_table listener: no IPv6 listener", "err", err)
				continue
			}
			for _, l := range lns {
				l.Close()
			}
			return config.Invalid(fmt.Errorf("bgp: listen on %s (listen_port %d): %w", net.JoinHostPort(a, port), m.cfg.ListenPort, err))
		}
		lns = append(lns, ln)
	}
	m.lns = lns
	for _, p := range m.peers {
		p.mu.Lock()
		pw, addr := p.password, p.n.Addr()
		p.mu.Unlock()
		if pw != "" {
			if err := m.setListenerMD5(addr, pw); err != nil {
				m.closeListeners()
				return fmt.Errorf("bgp: neighbor %s: %w", p.key, err)
			}
		}
	}
	for _, ln := range lns {
		m.wg.Go(func() { m.accept(ln) })
	}
	m.log.Info("bgp full_table listener open", "addresses", addrs, "port", m.cfg.ListenPort)
	return nil
}

// setListenerMD5 sets (key "": removes) a peer's TCP-MD5 key on every
// listener socket of its family (m.mu held).
func (m *Manager) setListenerMD5(peer netip.Addr, key string) error {
	for _, ln := range m.lns {
		tl, ok := ln.(*net.TCPListener)
		if !ok {
			continue
		}
		v6 := tl.Addr().(*net.TCPAddr).IP.To4() == nil
		if !v6 && !peer.Unmap().Is4() {
			continue
		}
		sc, err := tl.SyscallConn()
		if err != nil {
			return err
		}
		if err := setMD5(sc, peer, key, v6); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) closeListeners() {
	for _, ln := range m.lns {
		ln.Close()
	}
	m.lns = nil
}

// accept hands incoming connections to their neighbor's session; a
// connection from an address that is no full_table neighbor is closed.
func (m *Manager) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				m.log.Error("bgp full_table accept failed", "err", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return
		}
		ra, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		m.mu.Lock()
		p := m.peers[ra.Addr().Unmap().String()]
		m.mu.Unlock()
		if p == nil {
			m.log.Warn("bgp connection refused: not a full_table neighbor", "remote", c.RemoteAddr().String())
			c.Close()
			continue
		}
		select {
		case p.incoming <- c:
		default:
			p.log.Warn("bgp full_table connection refused: too many connections at once", "remote", c.RemoteAddr().String())
			c.Close()
		}
	}
}

func (m *Manager) status() []PeerStatus {
	now := m.now()
	m.mu.Lock()
	peers := make([]*peer, 0, len(m.order))
	for _, k := range m.order {
		peers = append(peers, m.peers[k])
	}
	m.mu.Unlock()
	out := make([]PeerStatus, 0, len(peers))
	for _, p := range peers {
		out = append(out, p.status(now))
	}
	return out
}

// sessionChanged says whether a neighbor's change needs a new session
// (everything but description and max_prefixes).
func sessionChanged(a, b config.Neighbor, pa, pb string) bool {
	a.Description, b.Description = "", ""
	a.MaxPrefixes, b.MaxPrefixes = 0, 0
	a.PasswordEnv, b.PasswordEnv, a.PasswordFile, b.PasswordFile = "", "", "", ""
	return fmt.Sprint(a) != fmt.Sprint(b) || pa != pb
}

func (m *Manager) reconfigure(cfg config.BGP) error {
	pws, err := passwords(cfg)
	if err != nil {
		return err
	}
	m.mu.Lock()
	old := m.cfg
	running := m.ctx != nil
	globalChanged := old.ASN != cfg.ASN || old.RouterID != cfg.RouterID
	lnChanged := ownsListener(old) != ownsListener(cfg) || old.ListenPort != cfg.ListenPort ||
		fmt.Sprint(old.ListenAddresses) != fmt.Sprint(cfg.ListenAddresses)
	m.cfg = cfg
	m.id, _ = netip.ParseAddr(cfg.RouterID)
	var removed, reset []*peer
	next := map[string]bool{}
	var order []string
	for _, n := range FullTableNeighbors(cfg) {
		key := n.Name()
		next[key] = true
		order = append(order, key)
		p := m.peers[key]
		if p == nil {
			p = newPeer(m, n, pws[key])
			m.peers[key] = p
			if running {
				m.startPeer(p)
			}
			m.log.Info("bgp full_table neighbor added", "peer", key)
			continue
		}
		p.mu.Lock()
		changed := globalChanged || sessionChanged(p.n, n, p.password, pws[key])
		oldPW := p.password
		p.n, p.password = n, pws[key]
		p.mu.Unlock()
		p.maxPrefixes.Store(n.MaxPrefixes)
		if running {
			m.src.AddPeer(p.spec(nil)) // description
		}
		if changed {
			reset = append(reset, p)
		}
		if running && !lnChanged && oldPW != pws[key] && len(m.lns) > 0 {
			if err := m.setListenerMD5(n.Addr(), pws[key]); err != nil {
				m.log.Error("bgp full_table listener: cannot set the TCP-MD5 key", "peer", key, "err", err)
			}
		}
	}
	for key, p := range m.peers {
		if !next[key] {
			removed = append(removed, p)
			delete(m.peers, key)
			if len(m.lns) > 0 && !lnChanged {
				_ = m.setListenerMD5(p.n.Addr(), "")
			}
		}
	}
	m.order = order
	if running && lnChanged {
		// Who owns [bgp]'s listener (reachmon's sessions or the embedded
		// speaker) changes only at a restart, as listen_port does.
		m.log.Warn("bgp full_table listener unchanged until reachmon restarts: the reload changes which side listens (a passive full_table neighbor added or removed) or the listen port or addresses",
			"listening", len(m.lns) > 0)
	}
	m.mu.Unlock()
	for _, p := range removed {
		m.log.Info("bgp full_table neighbor removed", "peer", p.key)
		if p.cancel != nil {
			p.mu.Lock()
			p.stopSub = subDeconfig
			p.mu.Unlock()
			p.cancel()
			<-p.done
		}
		if running {
			m.src.RemovePeer(p.key)
		}
		m.m.forget(p.key)
	}
	for _, p := range reset {
		m.log.Info("bgp full_table session reset: its configuration changed", "peer", p.key)
		p.closeAll(subConfigChg, "configuration changed")
	}
	return nil
}
