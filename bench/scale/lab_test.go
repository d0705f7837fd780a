package benchscale

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// labShape is what the lab serves.
type labShape struct {
	Zones     int           // child zones z00001.test. …
	NS        int           // nameserver addresses of the DNS host (ns1…nsN.dnshost.test.)
	Resolvers int           // Unbound resolvers
	TTL       time.Duration // of every record, delegations and negative answers included
}

// Address plan of the lab's /16 B (127.X.0.0/16):
//
//	B.0.1        root server      a.root-servers.test.
//	B.1.1        test. server     ns1.nic.test.
//	B.(2+j).53   resolver j
//	B.(10+k).1   nameserver k     ns(k+1).dnshost.test.: dnshost.test. and every child zone
//	B.100.80     www.<zone> A     an answer only, never contacted
//	B.250.1      reachmon's HTTP listener (port 9798)
const (
	maxNS        = 8
	maxResolvers = 8
	// Bases tried: 127.200.0.0/16 … 127.215.0.0/16, away from
	// integration/lab's 127.64–191 and from 127.0.0.0/16.
	firstBaseOctet = 200
	numBases       = 16
	dnsPort        = 53
)

type plan struct{ b [4]byte }

func (p plan) addr(c, d int) netip.Addr {
	return netip.AddrFrom4([4]byte{p.b[0], p.b[1], byte(c), byte(d)})
}
func (p plan) root() netip.Addr             { return p.addr(0, 1) }
func (p plan) tld() netip.Addr              { return p.addr(1, 1) }
func (p plan) resolver(j int) netip.Addr    { return p.addr(2+j, 53) }
func (p plan) ns(k int) netip.Addr          { return p.addr(10+k, 1) }
func (p plan) www() netip.Addr              { return p.addr(100, 80) }
func (p plan) listen() string               { return netip.AddrPortFrom(p.addr(250, 1), 9798).String() }
func (p plan) prefix() netip.Prefix         { return netip.PrefixFrom(p.addr(0, 0), 16) }
func hostPort(a netip.Addr) string          { return netip.AddrPortFrom(a, dnsPort).String() }
func zoneName(i int) string                 { return fmt.Sprintf("z%05d.test.", i+1) }
func nsHost(k int) string                   { return fmt.Sprintf("ns%d.dnshost.test.", k+1) }
func (s labShape) planned() (res, auth int) { return s.Zones * s.Resolvers, s.Zones * s.NS }

// lab is a running DNS lab.
type lab struct {
	shape labShape
	plan  plan
	dir   string
	lock  *os.File // flock on the base; released when closed

	zones     []string
	resolvers []netip.Addr
	nsAddrs   []netip.Addr

	root, tld, auth *benchutil.Daemon
	unbounds        []*benchutil.Daemon

	// Build figures, for the report.
	signTime time.Duration
	zoneMiB  float64
}

// reserveBase takes the first free /16 of 127.200–215: an exclusive
// flock on $TMPDIR/reachmon-lab/<base>.lock (the kernel drops it when
// this process dies) and nothing listening on its root address.
func reserveBase() (plan, *os.File, error) {
	lockDir := filepath.Join(os.TempDir(), "reachmon-lab")
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return plan{}, nil, err
	}
	var errs []error
	start := os.Getpid() % numBases
	for n := range numBases {
		x := firstBaseOctet + (start+n)%numBases
		p := plan{b: [4]byte{127, byte(x), 0, 0}}
		name := filepath.Join(lockDir, p.addr(0, 0).String()+".lock")
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return plan{}, nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			errs = append(errs, fmt.Errorf("%v: %w", p.prefix(), err))
			continue
		}
		c, err := net.ListenPacket("udp", hostPort(p.root()))
		if err != nil {
			f.Close()
			errs = append(errs, fmt.Errorf("%v: %w", p.prefix(), err))
			continue
		}
		c.Close()
		return p, f, nil
	}
	return plan{}, nil, fmt.Errorf("no free lab base in 127.%d–%d.0.0/16: %w", firstBaseOctet, firstBaseOctet+numBases-1, errors.Join(errs...))
}

// buildLab reserves a base, writes every zone and configuration into dir.
func buildLab(dir string, s labShape) (*lab, error) {
	if s.NS < 1 || s.NS > maxNS || s.Resolvers < 1 || s.Resolvers > maxResolvers || s.Zones < 1 || s.Zones > 99999 || s.TTL < time.Second {
		return nil, fmt.Errorf("lab shape %+v out of range", s)
	}
	p, lock, err := reserveBase()
	if err != nil {
		return nil, err
	}
	l := &lab{shape: s, plan: p, dir: dir, lock: lock}
	for i := range s.Zones {
		l.zones = append(l.zones, zoneName(i))
	}
	for j := range s.Resolvers {
		l.resolvers = append(l.resolvers, p.resolver(j))
	}
	for k := range s.NS {
		l.nsAddrs = append(l.nsAddrs, p.ns(k))
	}
	began := time.Now()
	if err := l.writeZones(); err != nil {
		lock.Close()
		return nil, err
	}
	l.signTime = time.Since(began)
	return l, nil
}

func (l *lab) zonesDir() string { return filepath.Join(l.dir, "zones") }

func (l *lab) zoneFile(zone string) string {
	if zone == "." {
		return filepath.Join(l.zonesDir(), "root.zone")
	}
	return filepath.Join(l.zonesDir(), strings.TrimSuffix(zone, ".")+".zone")
}

// writeZones generates, signs and writes the tree: every child zone and
// dnshost.test. first (their DS go into test.), then test., then the
// root, and the resolvers' trust anchor and root hints.
func (l *lab) writeZones() error {
	if err := os.MkdirAll(l.zonesDir(), 0o755); err != nil {
		return err
	}
	ttl := uint32(l.shape.TTL / time.Second)
	now := time.Now().UTC()
	inc, exp := now.Add(-time.Hour), now.Add(30*24*time.Hour)
	var total int64
	var totalMu sync.Mutex
	write := func(z *zoneContent, k zoneKey) error {
		rrs, err := z.sign(k, inc, exp)
		if err != nil {
			return err
		}
		text := zoneText(rrs)
		totalMu.Lock()
		total += int64(len(text))
		totalMu.Unlock()
		return os.WriteFile(l.zoneFile(z.origin), []byte(text), 0o644)
	}
	soa := func(z *zoneContent, mname string) error {
		return z.add(fmt.Sprintf("%s SOA %s hostmaster.dnshost.test. 1 3600 600 86400 %d", z.origin, mname, ttl))
	}

	// Child zones, in parallel: their keys' DS records go to test.
	children := append([]string{"dnshost.test."}, l.zones...)
	dsOf := make([]*dns.DS, len(children))
	work := make(chan int)
	errc := make(chan error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var first error
			for i := range work {
				if first != nil {
					continue
				}
				name := children[i]
				z := &zoneContent{origin: name, ttl: ttl}
				first = soa(z, nsHost(0))
				for k := range l.shape.NS {
					if first == nil {
						first = z.add(fmt.Sprintf("%s NS %s", name, nsHost(k)))
					}
					if first == nil && name == "dnshost.test." {
						first = z.add(fmt.Sprintf("%s A %s", nsHost(k), l.plan.ns(k)))
					}
				}
				if first == nil && name != "dnshost.test." {
					first = z.add(fmt.Sprintf("www.%s A %s", name, l.plan.www()))
				}
				var k zoneKey
				if first == nil {
					k, first = newZoneKey(name, ttl)
				}
				if first == nil {
					first = write(z, k)
					dsOf[i] = k.ds(ttl)
				}
			}
			errc <- first
		})
	}
	for i := range children {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			return err
		}
	}

	// test.: its own server, the DNS host's delegation with glue, and a
	// delegation with DS for every child zone.
	tld := &zoneContent{origin: "test.", ttl: ttl}
	if err := soa(tld, "ns1.nic.test."); err != nil {
		return err
	}
	recs := []string{
		"test. NS ns1.nic.test.",
		"ns1.nic.test. A " + l.plan.tld().String(),
		"a.root-servers.test. A " + l.plan.root().String(),
	}
	for k := range l.shape.NS {
		recs = append(recs, fmt.Sprintf("%s A %s", nsHost(k), l.plan.ns(k))) // glue
	}
	for _, r := range recs {
		if err := tld.add(r); err != nil {
			return err
		}
	}
	for i, name := range children {
		for k := range l.shape.NS {
			if err := tld.add(fmt.Sprintf("%s NS %s", name, nsHost(k))); err != nil {
				return err
			}
		}
		d := *dsOf[i]
		tld.rrs = append(tld.rrs, &d)
	}
	tldKey, err := newZoneKey("test.", ttl)
	if err != nil {
		return err
	}
	if err := write(tld, tldKey); err != nil {
		return err
	}

	// The root.
	root := &zoneContent{origin: ".", ttl: ttl}
	if err := soa(root, "a.root-servers.test."); err != nil {
		return err
	}
	for _, r := range []string{
		". NS a.root-servers.test.",
		"test. NS ns1.nic.test.",
		"a.root-servers.test. A " + l.plan.root().String(),
		"ns1.nic.test. A " + l.plan.tld().String(),
	} {
		if err := root.add(r); err != nil {
			return err
		}
	}
	root.rrs = append(root.rrs, tldKey.ds(ttl))
	rootKey, err := newZoneKey(".", ttl)
	if err != nil {
		return err
	}
	if err := write(root, rootKey); err != nil {
		return err
	}
	l.zoneMiB = float64(total) / (1 << 20)

	anchor := rootKey.ds(86400).String() + "\n"
	hints := fmt.Sprintf(". 3600000 IN NS a.root-servers.test.\na.root-servers.test. 3600000 IN A %s\n", l.plan.root())
	if err := os.WriteFile(filepath.Join(l.dir, "root.ds"), []byte(anchor), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.dir, "root.hints"), []byte(hints), 0o644)
}

// nsdConf writes the configuration of one NSD serving zones on addrs.
func (l *lab) nsdConf(name string, addrs []netip.Addr, zones []string) (string, error) {
	dir := filepath.Join(l.dir, "nsd-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("server:\n")
	for _, a := range addrs {
		fmt.Fprintf(&b, "\tip-address: %s@%d\n", a, dnsPort)
	}
	path := func(f string) string { return fmt.Sprintf("%q", filepath.Join(dir, f)) }
	fmt.Fprintf(&b, `	do-ip6: no
	username: ""
	chroot: ""
	database: ""
	zonefiles-write: 0
	zonesdir: %[1]q
	xfrdir: %[1]q
	zonelistfile: %[2]s
	xfrdfile: %[3]s
	pidfile: %[4]s
	logfile: %[5]s
	server-count: 1
	verbosity: 1
	identity: %[6]q
	# Debian's NSD answers 200 queries/s per source by default and
	# silently drops the rest: never in a lab.
	rrl-ratelimit: 0
	rrl-whitelist-ratelimit: 0
remote-control:
	control-enable: no
`, dir, path("zone.list"), path("xfrd.state"), path("nsd.pid"), path("nsd.log"), name)
	for _, z := range zones {
		fmt.Fprintf(&b, "zone:\n\tname: %q\n\tzonefile: %q\n", z, l.zoneFile(z))
	}
	conf := filepath.Join(dir, "nsd.conf")
	return conf, os.WriteFile(conf, []byte(b.String()), 0o644)
}

// unboundConf writes the configuration of resolver j: the lab's root as
// the only root hint and its DS as the only trust anchor (Debian's
// unbound.conf, which loads the real root key, is never included), caches
// large enough for every zone (the defaults, 4 MB each, hold a few
// thousand signed zones; the sizes below hold 10,000 and grow with the
// zone count), EDE on.
func (l *lab) unboundConf(j int) (string, error) {
	dir := filepath.Join(l.dir, fmt.Sprintf("unbound%d", j))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := func(f string) string { return fmt.Sprintf("%q", filepath.Join(dir, f)) }
	conf := fmt.Sprintf(`server:
	interface: %[1]s@%[2]d
	interface-automatic: no
	access-control: 127.0.0.0/8 allow
	do-ip6: no
	num-threads: 1
	so-reuseport: no
	username: ""
	chroot: ""
	directory: %[3]q
	pidfile: %[4]s
	logfile: %[5]s
	use-syslog: no
	log-time-ascii: yes
	verbosity: 1
	log-servfail: yes
	do-not-query-localhost: no
	local-zone: "test." nodefault
	root-hints: %[6]q
	trust-anchor-file: %[7]q
	module-config: "validator iterator"
	ede: yes
	val-log-level: 2
	msg-cache-size: %[8]dm
	rrset-cache-size: %[9]dm
	key-cache-size: %[8]dm
	neg-cache-size: 16m
remote-control:
	control-enable: no
`, l.resolvers[j], dnsPort, dir, path("unbound.pid"), path("unbound.log"),
		filepath.Join(l.dir, "root.hints"), filepath.Join(l.dir, "root.ds"), 64*cacheScale(l.shape.Zones), 128*cacheScale(l.shape.Zones))
	f := filepath.Join(dir, "unbound.conf")
	return f, os.WriteFile(f, []byte(conf), 0o644)
}

// cacheScale is how many times the 10,000-zone cache sizes a resolver
// needs for zones.
func cacheScale(zones int) int { return max(1, (zones+9999)/10000) }

// labStartWait bounds the start of the servers and resolvers.
const labStartWait = 3 * time.Minute

// start starts the three NSDs, waits until each answers, then the
// resolvers, and waits until each validates a child zone.
func (l *lab) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), labStartWait)
	defer cancel()
	children := append([]string{"dnshost.test."}, l.zones...)
	type nsdSpec struct {
		name  string
		addrs []netip.Addr
		zones []string
		ptr   **benchutil.Daemon
	}
	for _, n := range []nsdSpec{
		{"root", []netip.Addr{l.plan.root()}, []string{"."}, &l.root},
		{"tld", []netip.Addr{l.plan.tld()}, []string{"test."}, &l.tld},
		{"auth", l.nsAddrs, children, &l.auth},
	} {
		conf, err := l.nsdConf(n.name, n.addrs, n.zones)
		if err != nil {
			return err
		}
		p, err := startProc(filepath.Dir(conf), "daemon", true, "nsd", "-d", "-c", conf)
		if err != nil {
			return err
		}
		p.Name = "nsd " + n.name
		*n.ptr = p
	}
	// Every server answers for its zones (the last child zone is the last
	// NSD loads).
	type soaCheck struct {
		p    *benchutil.Daemon
		addr netip.Addr
		zone string
	}
	checks := []soaCheck{{l.root, l.plan.root(), "."}, {l.tld, l.plan.tld(), "test."}}
	for _, a := range l.nsAddrs {
		checks = append(checks, soaCheck{l.auth, a, l.zones[len(l.zones)-1]}, soaCheck{l.auth, a, "dnshost.test."})
	}
	for _, c := range checks {
		err := poll(ctx, func(ctx context.Context) error {
			if err := c.p.Exited(); err != nil {
				return permanent{err}
			}
			r, err := query(ctx, hostPort(c.addr), c.zone, dns.TypeSOA, false)
			if err != nil {
				return err
			}
			if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) == 0 {
				return fmt.Errorf("rcode %s aa=%t answers %d", dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s: SOA %s @%s: %w", c.p.Name, c.zone, c.addr, err)
		}
	}
	for j := range l.resolvers {
		conf, err := l.unboundConf(j)
		if err != nil {
			return err
		}
		p, err := startProc(filepath.Dir(conf), "daemon", false, "unbound", "-d", "-c", conf)
		if err != nil {
			return err
		}
		p.Name = fmt.Sprintf("unbound%d", j)
		l.unbounds = append(l.unbounds, p)
	}
	// Each resolver validates the first child zone: root, test. and the
	// DNS host's chain work. The other zones stay out of its cache.
	for j, u := range l.unbounds {
		err := poll(ctx, func(ctx context.Context) error {
			if err := u.Exited(); err != nil {
				return permanent{err}
			}
			r, err := query(ctx, hostPort(l.resolvers[j]), l.zones[0], dns.TypeSOA, true)
			if err != nil {
				return err
			}
			if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
				return fmt.Errorf("rcode %s ad=%t", dns.RcodeToString[r.Rcode], r.AuthenticatedData)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%s validating %s SOA: %w", u.Name, l.zones[0], err)
		}
	}
	return nil
}

// procs returns the lab's daemons: the NSDs, then the resolvers.
func (l *lab) procs() []*benchutil.Daemon {
	var out []*benchutil.Daemon
	for _, p := range []*benchutil.Daemon{l.root, l.tld, l.auth} {
		if p != nil {
			out = append(out, p)
		}
	}
	return append(out, l.unbounds...)
}

// stop stops every daemon and releases the base. Idempotent.
func (l *lab) stop() error {
	var errs []error
	for _, p := range l.procs() {
		if err := p.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
	return errors.Join(errs...)
}

// firstExited returns an error if any daemon of the lab has exited.
func (l *lab) firstExited() error {
	for _, p := range l.procs() {
		if err := p.Exited(); err != nil {
			return err
		}
	}
	return nil
}

// query sends one UDP query (RD as given, EDNS0 with DO) with a 1 s
// timeout.
func query(ctx context.Context, server, name string, qtype uint16, rd bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = rd
	m.SetEdns0(1232, true)
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	r, _, err := c.ExchangeContext(ctx, m, server)
	return r, err
}

type permanent struct{ error }

// poll calls check until it succeeds, returns a permanent error, or ctx
// ends; 50 ms between tries.
func poll(ctx context.Context, check func(context.Context) error) error {
	for {
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := check(tctx)
		cancel()
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
