// Package bmplab runs real BMP senders for reachmon's integration tests
// (issue 16): BIRD 2 peers announce lab prefixes over eBGP to a router,
// and the router exports what it learns over BMP (RFC 7854) to a station.
// Two routers are supported, both from Debian packages:
//
//   - gobgpd 3.10 (package gobgpd), BMP from its [[bmp-servers]] section;
//   - FRR 8.4's bgpd (package frr) with its BMP module (bgpd -M bmp),
//     configured with `bmp targets` / `bmp connect` / `bmp monitor`, run
//     alone without zebra (-Z) and without dropping privileges (-S), its
//     pid file and vty socket in a temporary directory.
//
// Everything runs inside a network namespace the test creates
// (bgplab.Namespace): BIRD ignores 127.0.0.0/8 routes, so the lab uses
// 198.18.0.0/15 addresses on the namespace's loopback.
//
// Counter is a minimal BMP station that only reads the common header
// (version 3, length, type) of every message and counts them by type: it
// proves the lab (the senders connect, send Initiation, Peer Up and Route
// Monitoring, and stop when killed) independently of reachmon's station.
package bmplab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/bgplab"
	"github.com/reachmon/reachmon/integration/lab"
)

// Paths of the Debian senders.
const (
	FRRBgpd = "/usr/lib/frr/bgpd"
	// FRRVtysh talks to bgpd's vty socket (show commands in test logs).
	FRRVtysh = "/usr/bin/vtysh"
)

// BMP message types (RFC 7854 section 4.1).
const (
	RouteMonitoring = 0
	StatsReport     = 1
	PeerDown        = 2
	PeerUp          = 3
	Initiation      = 4
	Termination     = 5
	RouteMirroring  = 6
)

// Peer is one BIRD peer of a router: it announces Routes to the router
// over eBGP.
type Peer struct {
	Addr netip.Addr
	ASN  uint32
	// Routes are static routes, each "PREFIX ORIGIN_AS" announced with
	// that origin (the peer's AS is prepended by BGP); a route is in the
	// BIRD static protocol named by Static (default "lab").
	Routes []Route
}

// Route is one prefix a BIRD peer announces, in a static protocol of its
// own so that it can be withdrawn alone.
type Route struct {
	Prefix netip.Prefix
	Origin uint32
}

// Proto is the BIRD static protocol announcing r.
func (r Route) Proto() string {
	return "s_" + strings.NewReplacer(".", "_", ":", "_", "/", "_").Replace(r.Prefix.String())
}

// Router describes the BMP-exporting router of the lab.
type Router struct {
	// Name is the router's hostname (FRR) and the name tests give it in
	// reachmon's [[bmp.router]].
	Name string
	Addr netip.Addr
	ASN  uint32
	// Station is where it sends BMP ("198.18.250.1:11019").
	Station netip.AddrPort
	// Peers are its BIRD neighbors.
	Peers []Peer
	// APIPort is gobgpd's gRPC port on 127.0.0.1 (default 50051).
	APIPort int
	// Monitor is what FRR exports per address family: "pre-policy"
	// (default, the Adj-RIB-In as received, as gobgpd's
	// route-monitoring-policy here), "post-policy", or both
	// ("pre-policy post-policy").
	Monitor string
}

// BirdConf is the BIRD configuration of peer p of router r: one static
// protocol per route, one eBGP session to the router (BIRD connects).
func BirdConf(r Router, p Peer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "router id %s;\nlog stderr all;\nprotocol device {}\n", p.Addr)
	for _, rt := range p.Routes {
		fam := "ipv4"
		if rt.Prefix.Addr().Is6() {
			fam = "ipv6"
		}
		fmt.Fprintf(&b, "protocol static %s {\n\t%s;\n\troute %s blackhole { bgp_path.prepend(%d); };\n}\n",
			rt.Proto(), fam, rt.Prefix, rt.Origin)
	}
	fmt.Fprintf(&b, `protocol bgp edge {
	local %s as %d;
	neighbor %s as %d;
	strict bind yes;
	multihop;
	connect retry time 1;
	ipv4 { import none; export all; };
	ipv6 { import none; export all; extended next hop on; };
}
`, p.Addr, p.ASN, r.Addr, r.ASN)
	return b.String()
}

// Sender is a running BMP-exporting router.
type Sender struct {
	*bgplab.Daemon
	Kind   string // "gobgpd" or "frr"
	Router Router
	// GoBGP is set for gobgpd (its CLI); Vty is FRR's vty socket dir.
	GoBGP *bgplab.GoBGPD
	Vty   string
	ns    string
}

// Pid is the sender's process id (ip netns exec execs it in place).
func (s *Sender) Pid() int { return s.Daemon.Pid() }

// Show returns the router's view of its BGP neighbors, for test logs.
func (s *Sender) Show(t testing.TB) string {
	t.Helper()
	if s.GoBGP != nil {
		out, _ := s.GoBGP.Try("neighbor")
		return out
	}
	if _, err := os.Stat(FRRVtysh); err != nil {
		return "(no vtysh)"
	}
	out, _ := bgplab.Command(s.ns, FRRVtysh, "--vty_socket", s.Vty, "-c", "show bgp summary").CombinedOutput()
	return string(out)
}

// GoBGPDConf is gobgpd's TOML configuration for r: passive sessions with
// the BIRD peers, BMP to r.Station with pre-policy route monitoring.
func GoBGPDConf(r Router) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[global.config]\n  as = %d\n  router-id = %q\n  port = 179\n  local-address-list = [%q]\n", r.ASN, r.Addr, r.Addr)
	for _, p := range r.Peers {
		fmt.Fprintf(&b, `[[neighbors]]
  [neighbors.config]
    neighbor-address = %q
    peer-as = %d
  [neighbors.transport.config]
    local-address = %q
    passive-mode = true
  [neighbors.ebgp-multihop.config]
    enabled = true
    multihop-ttl = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`, p.Addr, p.ASN, r.Addr)
	}
	fmt.Fprintf(&b, `[[bmp-servers]]
  [bmp-servers.config]
    address = %q
    port = %d
    route-monitoring-policy = "pre-policy"
`, r.Station.Addr(), r.Station.Port())
	return b.String()
}

// FRRConf is bgpd's configuration for r: the BIRD peers (eBGP without
// policy, soft-reconfiguration inbound: FRR's pre-policy monitoring reads
// the Adj-RIB-In it keeps) and a BMP target connecting to r.Station, monitoring IPv4 and
// IPv6 unicast as r.Monitor says (default pre-policy).
func FRRConf(r Router) string {
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults traditional\nhostname %s\nlog stdout informational\n!\nrouter bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n",
		r.Name, r.ASN, r.Addr)
	for _, p := range r.Peers {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s update-source %s\n neighbor %s ebgp-multihop 2\n neighbor %s disable-connected-check\n neighbor %s timers connect 1\n",
			p.Addr, p.ASN, p.Addr, r.Addr, p.Addr, p.Addr, p.Addr)
	}
	fmt.Fprintf(&b, " !\n bmp targets station\n  bmp connect %s port %d min-retry 100 max-retry 1000\n", r.Station.Addr(), r.Station.Port())
	monitor := strings.Fields(r.Monitor)
	if len(monitor) == 0 {
		monitor = []string{"pre-policy"}
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		for _, m := range monitor {
			fmt.Fprintf(&b, "  bmp monitor %s unicast %s\n", fam, m)
		}
	}
	b.WriteString(" exit\n !\n")
	for _, fam := range []string{"ipv4", "ipv6"} {
		fmt.Fprintf(&b, " address-family %s unicast\n", fam)
		for _, p := range r.Peers {
			// Without an Adj-RIB-In kept, FRR 8.4's pre-policy Route
			// Monitoring reports every route as withdrawn.
			fmt.Fprintf(&b, "  neighbor %s activate\n  neighbor %s soft-reconfiguration inbound\n", p.Addr, p.Addr)
		}
		b.WriteString(" exit-address-family\n")
	}
	b.WriteString("exit\n")
	return b.String()
}

// StartGoBGPD starts Debian's gobgpd as r inside namespace ns.
func StartGoBGPD(t testing.TB, ns string, r Router) *Sender {
	t.Helper()
	gobgpd, err1 := lab.BinPath("gobgpd")
	gobgp, err2 := lab.BinPath("gobgp")
	if err1 != nil || err2 != nil {
		lab.Missing(t, "gobgpd/gobgp not installed (apt-get install -y gobgpd)")
	}
	if r.APIPort == 0 {
		r.APIPort = 50051
	}
	g := bgplab.StartGoBGPD(t, ns, gobgpd, gobgp, GoBGPDConf(r), r.APIPort)
	return &Sender{Daemon: g.Daemon, Kind: "gobgpd", Router: r, GoBGP: g, ns: ns}
}

// StartFRR starts FRR's bgpd with the BMP module as r inside namespace
// ns: no zebra (-Z), no privilege drop (-S), BGP listening on r.Addr
// only, no vty TCP port, its pid file and vty socket in a temp dir.
func StartFRR(t testing.TB, ns string, r Router) *Sender {
	t.Helper()
	if _, err := os.Stat(FRRBgpd); err != nil {
		lab.Missing(t, "%s not installed (apt-get install -y frr)", FRRBgpd)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(cfg, []byte(FRRConf(r)), 0o644); err != nil {
		t.Fatal(err)
	}
	d := bgplab.Start(t, ns, "frr bgpd "+r.Name, FRRBgpd, "-f", cfg, "-i", filepath.Join(dir, "bgpd.pid"),
		"--vty_socket", dir, "-Z", "-S", "-M", "bmp", "-l", r.Addr.String(), "-A", "127.0.0.1", "-P", "0",
		"--log", "stdout")
	s := &Sender{Daemon: d, Kind: "frr", Router: r, Vty: dir, ns: ns}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "bgpd.vty")); err == nil {
			return s
		}
		if d.Exited() {
			t.Fatalf("bgpd exited:\n%s", d.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("bgpd did not create its vty socket:\n%s", d.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StationRoute makes connections to station, inside namespace ns, come
// from router: a router's BMP client (gobgpd, FRR) does not bind a source
// address, and the kernel picks the source of a connection to a local
// address from that address's local route, by default the address itself.
// Giving the station address a local route whose preferred source is the
// router's address makes reachmon see the router connect from its own
// address, as a real router on another host would. station and router
// must already be addresses of the namespace's lo.
func StationRoute(t testing.TB, ns string, station, router netip.Addr) {
	t.Helper()
	bgplab.Run(t, ns, "ip", "route", "replace", "local", station.String(), "dev", "lo", "table", "local",
		"proto", "kernel", "scope", "host", "src", router.String())
}

// StartPeers starts one BIRD per peer of r.
func StartPeers(t testing.TB, ns string, r Router) []*bgplab.Bird {
	t.Helper()
	var birds []*bgplab.Bird
	for _, p := range r.Peers {
		birds = append(birds, bgplab.StartBird(t, ns, BirdConf(r, p)))
	}
	return birds
}

// Counter is a test BMP station: it accepts connections and counts
// messages by type, checking each common header (version 3, a length of
// at least 6 and at most 1 MiB).
type Counter struct {
	ln   net.Listener
	mu   sync.Mutex
	n    map[byte]int
	conn int // connections accepted
	from []netip.Addr
	open int // connections still open
	errs []error
	wg   sync.WaitGroup
}

// maxMessage bounds a BMP message (a Route Monitoring carries one BGP
// UPDATE of at most 64 KiB, or 4 KiB without extended messages).
const maxMessage = 1 << 20

// Listen starts a Counter on addr; it is closed when the test ends.
func Listen(t testing.TB, addr string) *Counter {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("bmp counter: %v", err)
	}
	c := &Counter{ln: ln, n: map[byte]int{}}
	c.wg.Add(1)
	go c.accept()
	t.Cleanup(c.Close)
	return c
}

// Close stops the listener and every connection.
func (c *Counter) Close() {
	_ = c.ln.Close()
	c.wg.Wait()
}

func (c *Counter) accept() {
	defer c.wg.Done()
	var conns []net.Conn
	defer func() {
		for _, cn := range conns {
			_ = cn.Close()
		}
	}()
	for {
		cn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		c.conn++
		c.open++
		if ap, err := netip.ParseAddrPort(cn.RemoteAddr().String()); err == nil {
			c.from = append(c.from, ap.Addr().Unmap())
		}
		c.mu.Unlock()
		conns = append(conns, cn)
		c.wg.Add(1)
		go c.read(cn)
	}
}

func (c *Counter) read(cn net.Conn) {
	defer c.wg.Done()
	defer func() {
		c.mu.Lock()
		c.open--
		c.mu.Unlock()
	}()
	buf := make([]byte, maxMessage)
	for {
		if _, err := io.ReadFull(cn, buf[:6]); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.fail(fmt.Errorf("reading header: %w", err))
			}
			return
		}
		ver, n, typ := buf[0], binary.BigEndian.Uint32(buf[1:5]), buf[5]
		if ver != 3 || n < 6 || n > maxMessage {
			c.fail(fmt.Errorf("bad BMP common header: version %d length %d type %d", ver, n, typ))
			return
		}
		if _, err := io.ReadFull(cn, buf[6:n]); err != nil {
			c.fail(fmt.Errorf("reading a type %d message of %d bytes: %w", typ, n, err))
			return
		}
		c.mu.Lock()
		c.n[typ]++
		c.mu.Unlock()
	}
}

func (c *Counter) fail(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
}

// Count returns how many messages of type typ arrived.
func (c *Counter) Count(typ byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[typ]
}

// Conns returns connections accepted so far and those still open.
func (c *Counter) Conns() (accepted, open int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn, c.open
}

// From returns the source address of each connection accepted, in order.
func (c *Counter) From() []netip.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]netip.Addr(nil), c.from...)
}

// Err returns the first framing error seen, if any.
func (c *Counter) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs[0]
}

// String sums up the counts.
func (c *Counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("connections %d from %v (open %d), by type %v, errors %v", c.conn, c.from, c.open, c.n, c.errs)
}

// WaitFor waits (up to timeout) until cond holds, failing the test with
// the counts otherwise.
func (c *Counter) WaitFor(t testing.TB, what string, timeout time.Duration, cond func(*Counter) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(c) {
		if err := c.Err(); err != nil {
			t.Fatalf("bmp counter: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; %s", timeout, what, c)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
