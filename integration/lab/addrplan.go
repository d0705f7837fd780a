package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Plan is the address plan of one lab. Every address a lab uses is derived
// here from a single IPv4 /16 (B below), so that labs never overlap and so
// that the BGP part of the lab (issue 7) can announce and withdraw the
// prefixes holding each server:
//
//	B.0.1          root server             a.root-servers.test.
//	B.1.1          TLD server              ns1.nic.test.
//	B.(2+j).53     resolver j              each in its own /24 (j < MaxResolvers)
//	B.(10+2i).1    ns1.<zone i>            B.(10+2i).0/24 ┐ both inside the /23
//	B.(11+2i).1    ns2.<zone i>            B.(11+2i).0/24 ┘ B.(10+2i).0/23 (i < MaxZones)
//	B.(100+i).80   www.<zone i> A record   an answer only, never contacted
//	B.250-255.x    reserved for BGP peers and reachmon's own addresses (issue 7)
//
// The /23 + two /24 layout mirrors Facebook 2021: a covering prefix can stay
// announced while the more-specifics holding the nameservers are withdrawn.
// Control channels use unix sockets in the lab directory: no TCP ports.
type Plan struct {
	// Base is an IPv4 /16, e.g. 127.64.0.0/16.
	Base netip.Prefix
}

const (
	// MaxResolvers is how many resolvers a Plan has room for.
	MaxResolvers = 8
	// MaxZones is how many child zones a Plan has room for.
	MaxZones = 40
)

// DNSPort is the port every lab DNS server listens on: referrals carry no
// port, so authoritative servers must be on 53 for a resolver to follow them.
const DNSPort = 53

// NewPlan checks that base is an IPv4 /16 and returns its plan.
func NewPlan(base netip.Prefix) (Plan, error) {
	if !base.IsValid() || !base.Addr().Is4() || base.Bits() != 16 || base.Masked() != base {
		return Plan{}, fmt.Errorf("lab: plan base %v is not an IPv4 /16 such as 127.64.0.0/16", base)
	}
	return Plan{Base: base}, nil
}

func (p Plan) addr(c, d int) netip.Addr {
	b := p.Base.Addr().As4()
	return netip.AddrFrom4([4]byte{b[0], b[1], byte(c), byte(d)})
}

func (p Plan) prefix(c, bits int) netip.Prefix {
	return netip.PrefixFrom(p.addr(c, 0), bits)
}

// Root is the root server's address.
func (p Plan) Root() netip.Addr { return p.addr(0, 1) }

// TLD is the address of the test. TLD's server.
func (p Plan) TLD() netip.Addr { return p.addr(1, 1) }

// Resolver is resolver j's address.
func (p Plan) Resolver(j int) netip.Addr { return p.addr(2+j, 53) }

// ResolverPrefix is the /24 holding resolver j.
func (p Plan) ResolverPrefix(j int) netip.Prefix { return p.prefix(2+j, 24) }

// NS is the address of nameserver k (0 for ns1, 1 for ns2) of child zone i.
func (p Plan) NS(i, k int) netip.Addr { return p.addr(10+2*i+k, 1) }

// NSPrefix is the /24 holding nameserver k of child zone i.
func (p Plan) NSPrefix(i, k int) netip.Prefix { return p.prefix(10+2*i+k, 24) }

// ZonePrefix is the /23 covering both nameservers of child zone i.
func (p Plan) ZonePrefix(i int) netip.Prefix { return p.prefix(10+2*i, 23) }

// WWW is the A record of www.<zone i>.
func (p Plan) WWW(i int) netip.Addr { return p.addr(100+i, 80) }

// benchmarkRange (RFC 2544) is where labs running inside a network
// namespace take their base (see integration/outagelab): BIRD ignores
// 127/8 routes, so a lab whose prefixes are announced over BGP cannot live
// on loopback. The addresses must be on the namespace's lo.
var benchmarkRange = netip.MustParsePrefix("198.18.0.0/15")

// Default bases are 127.X.0.0/16 with X in [firstOctet, firstOctet+numBases):
// away from 127.0.0.0/16, where 127.0.0.1, 127.0.0.53 (systemd-resolved) and
// 127.0.1.1 (/etc/hosts) live and where other tests bind ephemeral ports.
const (
	firstOctet = 64
	numBases   = 128
)

// reservePlan returns a Plan no other lab on this machine is using and keeps
// it reserved until the test ends. Reservation is an exclusive flock(2) on
// $TMPDIR/reachmon-lab/<base>[-<netns>].lock (netnsOf): it works across processes (two test
// binaries run in parallel by `go test ./...`) and within one (parallel
// tests), and the kernel drops it when the process dies, so there are no
// stale reservations. With want set, only that base is tried.
func reservePlan(t testing.TB, want netip.Prefix) Plan {
	t.Helper()
	lockDir := filepath.Join(os.TempDir(), "reachmon-lab")
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Fatalf("lab: %v", err)
	}
	var candidates []netip.Prefix
	if want.IsValid() {
		if !want.Addr().Is4() || (want.Addr().As4()[0] != 127 && !benchmarkRange.Contains(want.Addr())) {
			t.Fatalf("lab: base %v: only 127.0.0.0/8, or 198.18.0.0/15 inside a network namespace the test created, is supported", want)
		}
		candidates = []netip.Prefix{want}
	} else {
		// Start at a per-process offset so parallel processes rarely contend.
		start := os.Getpid() % numBases
		for n := range numBases {
			x := firstOctet + (start+n)%numBases
			candidates = append(candidates, netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(x), 0, 0}), 16))
		}
	}
	var lastErr error
	for _, base := range candidates {
		plan, err := NewPlan(base)
		if err != nil {
			t.Fatal(err)
		}
		f, err := lockBase(lockDir, base, netnsOf(base))
		if err != nil {
			lastErr = err
			continue
		}
		if err := portFree(plan.Root()); err != nil {
			f.Close()
			lastErr = err
			continue
		}
		t.Cleanup(func() { f.Close() }) // closing the descriptor releases the lock
		return plan
	}
	t.Fatalf("lab: no free address plan (tried %d bases): %v", len(candidates), lastErr)
	return Plan{}
}

// netnsOf names the network namespace whose addresses base is in: ""
// for 127.0.0.0/8, which every lab on the machine shares, and this
// process's namespace (its /proc/self/ns/net inode) for the benchmark
// range, which a lab only uses inside a namespace it created. Labs in
// different namespaces then never wait for each other's lock.
func netnsOf(base netip.Prefix) string {
	if !benchmarkRange.Contains(base.Addr()) {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return ""
	}
	return "-" + strings.Trim(strings.TrimPrefix(ns, "net:"), "[]")
}

func lockBase(dir string, base netip.Prefix, netns string) (*os.File, error) {
	name := filepath.Join(dir, base.Addr().String()+netns+".lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("base %v is in use by another lab", base)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return f, nil
}

// portFree guards against something that is not a lab (a hand-started
// daemon) sitting on the base's root address.
func portFree(a netip.Addr) error {
	c, err := net.ListenPacket("udp", netip.AddrPortFrom(a, DNSPort).String())
	if err != nil {
		return fmt.Errorf("%v:%d is taken: %w", a, DNSPort, err)
	}
	return c.Close()
}
