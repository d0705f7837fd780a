package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// DNSOptions configures StartDNS. The zero value is a lab with good.test.
// and broken.test. and one resolver.
type DNSOptions struct {
	// Base is the /16 the lab's addresses come from (see Plan). Zero means
	// the first free 127.X.0.0/16 with X in 64..191, reserved for the
	// test's lifetime so parallel tests and packages never share addresses.
	Base netip.Prefix
	// Zones are the child zones of test. (one label below it), each served
	// by two nameservers. Default: good.test. and broken.test.
	Zones []string
	// Resolvers is how many Unbound resolvers to run (default 1, at most
	// MaxResolvers).
	Resolvers int
	// TTL is the TTL of every record, delegations and negative answers
	// included (default 300 s).
	TTL time.Duration
	// StartTimeout bounds start-up, from key generation to every server
	// answering (default 30 s; an idle 2-core machine needs 0.2-0.3 s, a
	// loaded one seconds).
	StartTimeout time.Duration
}

// DefaultZones are the child zones of a lab started without DNSOptions.Zones.
var DefaultZones = []string{"good.test.", "broken.test."}

func (o DNSOptions) withDefaults() (DNSOptions, error) {
	if len(o.Zones) == 0 {
		o.Zones = DefaultZones
	}
	zones := make([]string, 0, len(o.Zones))
	for _, z := range o.Zones {
		z = canonical(z)
		labels := dns.SplitDomainName(z)
		if len(labels) != 2 || labels[1] != "test" {
			return o, fmt.Errorf("lab: zone %q is not one label below test.", z)
		}
		if slices.Contains(zones, z) {
			return o, fmt.Errorf("lab: zone %q given twice", z)
		}
		zones = append(zones, z)
	}
	o.Zones = zones
	if len(o.Zones) > MaxZones {
		return o, fmt.Errorf("lab: %d zones, at most %d", len(o.Zones), MaxZones)
	}
	if o.Resolvers == 0 {
		o.Resolvers = 1
	}
	if o.Resolvers < 0 || o.Resolvers > MaxResolvers {
		return o, fmt.Errorf("lab: %d resolvers, want 1 to %d", o.Resolvers, MaxResolvers)
	}
	if o.TTL == 0 {
		o.TTL = 300 * time.Second
	}
	if o.TTL < time.Second {
		return o, fmt.Errorf("lab: TTL %v is below 1 s", o.TTL)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	return o, nil
}

// NameServer is one authoritative nameserver of a child zone.
type NameServer struct {
	Host   string       // "ns1.good.test."
	Addr   netip.Addr   // from Plan.NS
	Prefix netip.Prefix // the /24 holding Addr
}

// AddrPort is the server's ip:port.
func (n NameServer) AddrPort() string { return hostPort(n.Addr) }

// ZoneInfo describes one child zone of the lab.
type ZoneInfo struct {
	Name string // "good.test."
	// NS are ns1 and ns2, each in its own /24.
	NS []NameServer
	// Prefix is the /23 covering both nameservers.
	Prefix netip.Prefix
	// WWW is the address www.<zone> resolves to.
	WWW netip.Addr
	// DSKeyTag is the key tag of the zone's DS in test. It never changes:
	// BreakDNSKEY changes the key the zone is signed with, not the DS.
	DSKeyTag uint16
}

// DNS is a running lab: a signed root, test. and child zones served by NSD,
// and validating Unbound resolvers trusting the lab's root. Its methods are
// safe for concurrent use but are meant to be called from the test.
type DNS struct {
	Plan Plan
	// Dir holds keys, zone files, configurations and logs. It is removed
	// when the test ends, unless REACHMON_LAB_KEEP is set.
	Dir string
	// RootAddr and TLDAddr are the root's and test.'s servers (ip:53).
	RootAddr string
	TLDAddr  string
	// ResolverAddrs are the Unbound resolvers (ip:53).
	ResolverAddrs []string
	// Zones are the child zones by canonical name ("good.test."); ZoneNames
	// lists them in the order of DNSOptions.Zones (their Plan index).
	Zones     map[string]ZoneInfo
	ZoneNames []string
	// TrustAnchor is the root DS record the resolvers trust.
	TrustAnchor string

	t        testing.TB
	opts     DNSOptions
	keysDir  string
	zonesDir string

	mu        sync.Mutex
	children  map[string]*childZone
	root      *nsdServer
	tld       *nsdServer
	auth      *nsdServer // every child zone, on every child nameserver address
	resolvers []*unboundServer
	// tldFile and tldKey are test.'s zone and key (AddLameNS edits them).
	tldFile *zoneFile
	tldKey  dnskey
}

type childZone struct {
	file   zoneFile
	dsKey  dnskey // the key the parent's DS points at
	served dnskey // the key the zone is signed with now
}

// StartDNS builds and starts a DNS lab in a new temporary directory and
// returns once every server answers and the resolvers validate test.'s
// chain of trust. Everything is stopped and removed when the test ends. It
// skips the test when a daemon is missing (fails with CI=true).
func StartDNS(t testing.TB, opts DNSOptions) *DNS {
	t.Helper()
	RequireRoot(t)
	Require(t, "nsd", "nsd-control", "unbound", "unbound-control", "ldns-keygen", "ldns-signzone", "ldns-key2ds")
	opts, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	plan := reservePlan(t, opts.Base)
	dir, err := labDir()
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	d := &DNS{
		Plan:     plan,
		Dir:      dir,
		RootAddr: hostPort(plan.Root()),
		TLDAddr:  hostPort(plan.TLD()),
		Zones:    make(map[string]ZoneInfo),
		t:        t,
		opts:     opts,
		keysDir:  filepath.Join(dir, "keys"),
		zonesDir: filepath.Join(dir, "zones"),
		children: make(map[string]*childZone),
	}
	t.Cleanup(d.cleanup) // before anything starts: a failed start is cleaned up too
	ctx, cancel := context.WithTimeout(context.Background(), opts.StartTimeout)
	defer cancel()
	if err := d.build(); err != nil {
		t.Fatalf("lab: build zones: %v", err)
	}
	built := time.Now()
	if err := d.startServers(ctx); err != nil {
		t.Fatalf("lab: start: %v", err)
	}
	t.Logf("lab: DNS lab on %v ready in %v (zones signed in %v): root %s, resolvers %v, dir %s",
		plan.Base, time.Since(began).Round(time.Millisecond), built.Sub(began).Round(time.Millisecond),
		d.RootAddr, d.ResolverAddrs, d.Dir)
	return d
}

// labDir makes the lab's directory. Unix socket paths are limited to 107
// bytes, so a long TMPDIR falls back to /tmp.
func labDir() (string, error) {
	parent := os.TempDir()
	if len(parent) > 60 {
		parent = "/tmp"
	}
	return os.MkdirTemp(parent, "reachmon-lab-")
}

// build generates keys and signed zone files for the whole tree, bottom-up:
// each parent needs its children's DS.
func (d *DNS) build() error {
	for _, dir := range []string{d.keysDir, d.zonesDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	p, ttl := d.Plan, d.opts.TTL
	tld := zoneFile{origin: "test.", serial: 1, ttl: ttl, soa: "ns1.nic.test."}
	tld.add("test.", "NS", "ns1.nic.test.")
	tld.add("ns1.nic.test.", "A", p.TLD().String())
	tld.add("a.root-servers.test.", "A", p.Root().String())
	for i, name := range d.opts.Zones {
		info := ZoneInfo{Name: name, Prefix: p.ZonePrefix(i), WWW: p.WWW(i)}
		for k := range 2 {
			info.NS = append(info.NS, NameServer{
				Host:   fmt.Sprintf("ns%d.%s", k+1, name),
				Addr:   p.NS(i, k),
				Prefix: p.NSPrefix(i, k),
			})
		}
		key, err := newKey(d.keysDir, name)
		if err != nil {
			return err
		}
		info.DSKeyTag = key.tag
		z := zoneFile{origin: name, serial: 1, ttl: ttl, soa: info.NS[0].Host}
		for _, ns := range info.NS {
			z.add(name, "NS", ns.Host)
			z.add(ns.Host, "A", ns.Addr.String())
			tld.add(name, "NS", ns.Host)
			tld.add(ns.Host, "A", ns.Addr.String()) // glue
		}
		z.add("www."+name, "A", info.WWW.String())
		tld.add(name, "DS", key.ds)
		if err := z.sign(d.zonesDir, zoneFileName(name), key); err != nil {
			return err
		}
		d.children[name] = &childZone{file: z, dsKey: key, served: key}
		d.Zones[name] = info
		d.ZoneNames = append(d.ZoneNames, name)
	}
	tldKey, err := newKey(d.keysDir, "test.")
	if err != nil {
		return err
	}
	if err := tld.sign(d.zonesDir, zoneFileName("test."), tldKey); err != nil {
		return err
	}
	d.tldFile, d.tldKey = &tld, tldKey

	root := zoneFile{origin: ".", serial: 1, ttl: ttl, soa: "a.root-servers.test."}
	root.add(".", "NS", "a.root-servers.test.")
	root.add("test.", "NS", "ns1.nic.test.")
	root.add("test.", "DS", tldKey.ds)
	root.add("a.root-servers.test.", "A", p.Root().String()) // glue
	root.add("ns1.nic.test.", "A", p.TLD().String())         // glue
	rootKey, err := newKey(d.keysDir, ".")
	if err != nil {
		return err
	}
	if err := root.sign(d.zonesDir, zoneFileName("."), rootKey); err != nil {
		return err
	}
	d.TrustAnchor = ". 86400 IN DS " + rootKey.ds
	hints := fmt.Sprintf(". 3600000 IN NS a.root-servers.test.\na.root-servers.test. 3600000 IN A %s\n", p.Root())
	for name, content := range map[string]string{"root.ds": d.TrustAnchor + "\n", "root.hints": hints} {
		if err := os.WriteFile(filepath.Join(d.Dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// zoneFileName is the unsigned zone's file name; NSD serves <name>.signed.
func zoneFileName(zone string) string {
	if zone == "." {
		return "root.zone"
	}
	return strings.TrimSuffix(zone, ".") + ".zone"
}

func (d *DNS) signedFile(zone string) string {
	return filepath.Join(d.zonesDir, zoneFileName(zone)+".signed")
}

// startServers writes every configuration, starts the NSDs, then the
// resolvers, and waits until all answer.
func (d *DNS) startServers(ctx context.Context) error {
	var err error
	d.root, err = newNSD(filepath.Join(d.Dir, "nsd-root"), "root", []netip.Addr{d.Plan.Root()},
		[]nsdZone{{".", d.signedFile(".")}})
	if err != nil {
		return err
	}
	d.tld, err = newNSD(filepath.Join(d.Dir, "nsd-tld"), "tld", []netip.Addr{d.Plan.TLD()},
		[]nsdZone{{"test.", d.signedFile("test.")}})
	if err != nil {
		return err
	}
	var authAddrs []netip.Addr
	var authZones []nsdZone
	for _, name := range d.ZoneNames {
		for _, ns := range d.Zones[name].NS {
			authAddrs = append(authAddrs, ns.Addr)
		}
		authZones = append(authZones, nsdZone{name, d.signedFile(name)})
	}
	d.auth, err = newNSD(filepath.Join(d.Dir, "nsd-auth"), "auth", authAddrs, authZones)
	if err != nil {
		return err
	}
	for j := range d.opts.Resolvers {
		u, err := newUnbound(filepath.Join(d.Dir, fmt.Sprintf("unbound%d", j)), fmt.Sprintf("resolver%d", j),
			d.Plan.Resolver(j), filepath.Join(d.Dir, "root.hints"), filepath.Join(d.Dir, "root.ds"))
		if err != nil {
			return err
		}
		d.resolvers = append(d.resolvers, u)
		d.ResolverAddrs = append(d.ResolverAddrs, hostPort(u.addr))
	}
	for _, n := range []*nsdServer{d.root, d.tld, d.auth} {
		if err := n.start(); err != nil {
			return err
		}
	}
	// Resolvers start once the servers answer: a resolver whose first
	// queries meet a closed port marks the server down and backs off for
	// seconds.
	if err := d.waitNSD(ctx, d.root, d.tld, d.auth); err != nil {
		return err
	}
	for _, u := range d.resolvers {
		if err := u.start(); err != nil {
			return err
		}
	}
	for _, u := range d.resolvers {
		err := d.poll(ctx, u.name+" validating test. SOA", func(ctx context.Context) error {
			if err := u.d.exited(); err != nil {
				return permanent(err)
			}
			r, err := Query(ctx, hostPort(u.addr), "test.", dns.TypeSOA, QueryFlags{RD: true})
			if err != nil {
				return err
			}
			if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
				return fmt.Errorf("rcode %s, ad=%v, ede %v", dns.RcodeToString[r.Rcode], r.AuthenticatedData, EDE(r))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// waitNSD waits until every address of every server answers authoritatively
// for each of its zones with the current serial.
func (d *DNS) waitNSD(ctx context.Context, servers ...*nsdServer) error {
	for _, n := range servers {
		zones := d.ZoneNames
		switch n {
		case d.root:
			zones = []string{"."}
		case d.tld:
			zones = []string{"test."}
		}
		for _, a := range n.addrs {
			for _, z := range zones {
				if err := d.waitSerial(ctx, n, hostPort(a), z, d.serial(z)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (d *DNS) serial(zone string) uint32 {
	if c, ok := d.children[zone]; ok {
		return c.file.serial
	}
	if zone == "test." && d.tldFile != nil {
		return d.tldFile.serial
	}
	return 1 // the root is never re-signed
}

// waitSerial waits until server answers zone's SOA authoritatively with
// the given serial.
func (d *DNS) waitSerial(ctx context.Context, n *nsdServer, server, zone string, serial uint32) error {
	return d.poll(ctx, fmt.Sprintf("%s SOA serial %d @%s", zone, serial, server), func(ctx context.Context) error {
		if err := n.d.exited(); err != nil {
			return permanent(err)
		}
		r, err := Query(ctx, server, zone, dns.TypeSOA, QueryFlags{})
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) == 0 {
			return fmt.Errorf("rcode %s, aa=%v, %d answers", dns.RcodeToString[r.Rcode], r.Authoritative, len(r.Answer))
		}
		for _, rr := range r.Answer {
			if soa, ok := rr.(*dns.SOA); ok && soa.Serial == serial {
				return nil
			}
		}
		return fmt.Errorf("serial is not %d yet: %v", serial, r.Answer)
	})
}

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// permanent marks a poll error that no amount of waiting fixes.
func permanent(err error) error { return permanentError{err} }

// pollTryTimeout bounds one try of a poll.
const pollTryTimeout = time.Second

// poll calls check until it succeeds, returns a permanent error, or ctx
// ends; the interval grows from 5 ms to 100 ms.
func (d *DNS) poll(ctx context.Context, what string, check func(context.Context) error) error {
	began := time.Now()
	for i := 1; ; i++ {
		// Each try gets its own deadline: one lost UDP packet must not
		// use up the whole wait.
		tctx, cancel := context.WithTimeout(ctx, pollTryTimeout)
		err := check(tctx)
		cancel()
		if err == nil {
			return nil
		}
		if pe := (permanentError{}); errors.As(err, &pe) {
			return fmt.Errorf("waiting for %s: %w", what, pe.error)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: gave up after %v and %d tries: %w",
				what, time.Since(began).Round(time.Millisecond), i, err)
		case <-time.After(min(time.Duration(i)*5*time.Millisecond, 100*time.Millisecond)):
		}
	}
}

// opContext bounds one lab operation (a break, a restore, a restart).
func opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 15*time.Second)
}

// child returns the state of a child zone or fails the test.
func (d *DNS) child(zone string) (string, *childZone) {
	d.t.Helper()
	zone = canonical(zone)
	c, ok := d.children[zone]
	if !ok {
		d.t.Fatalf("lab: %q is not a zone of this lab (zones: %v)", zone, d.ZoneNames)
	}
	return zone, c
}

// BreakDNSKEY re-signs zone with a new key, so that the DNSKEY it serves no
// longer matches the DS in test. (the Slack 2021 shape), waits until both
// nameservers serve it and flushes the zone from every resolver. It returns
// the new key's tag.
func (d *DNS) BreakDNSKEY(zone string) uint16 {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	zone, c := d.child(zone)
	key, err := newKey(d.keysDir, zone)
	if err != nil {
		d.t.Fatalf("lab: break %s: %v", zone, err)
	}
	if err := d.resign(zone, c, key); err != nil {
		d.t.Fatalf("lab: break %s: %v", zone, err)
	}
	d.t.Logf("lab: %s now signed with key %d; the DS in test. still names key %d", zone, key.tag, c.dsKey.tag)
	return key.tag
}

// RestoreDNSKEY re-signs zone with the key its DS names, undoing BreakDNSKEY.
func (d *DNS) RestoreDNSKEY(zone string) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	zone, c := d.child(zone)
	if err := d.resign(zone, c, c.dsKey); err != nil {
		d.t.Fatalf("lab: restore %s: %v", zone, err)
	}
}

// ServedKeyTag is the tag of the key zone is signed with now.
func (d *DNS) ServedKeyTag(zone string) uint16 {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	_, c := d.child(zone)
	return c.served.tag
}

// resign signs the child zone with key under a new serial, reloads it, waits
// until every nameserver serves the new serial and flushes the zone from
// the resolvers (rrsets, messages, keys, bogus and negative entries).
func (d *DNS) resign(zone string, c *childZone, key dnskey) error {
	c.file.serial++
	if err := c.file.sign(d.zonesDir, zoneFileName(zone), key); err != nil {
		return err
	}
	c.served = key
	ctx, cancel := opContext()
	defer cancel()
	if d.auth.d == nil || d.auth.d.exited() != nil {
		return nil // stopped: StartAuth serves the new file
	}
	if err := d.auth.reload(zone); err != nil {
		return err
	}
	for _, a := range d.auth.addrs {
		if err := d.waitSerial(ctx, d.auth, hostPort(a), zone, c.file.serial); err != nil {
			return err
		}
	}
	return d.flush(zone, "flush_requestlist", "flush_bogus", "flush_negative")
}

// flush runs "flush_zone zone" (if zone is set) and cmds on every resolver.
func (d *DNS) flush(zone string, cmds ...string) error {
	var errs []error
	for _, u := range d.resolvers {
		if zone != "" {
			_, err := u.control("flush_zone", zone)
			errs = append(errs, err)
		}
		for _, c := range cmds {
			_, err := u.control(strings.Fields(c)...)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// FlushResolvers empties every resolver's caches: rrsets, messages, keys,
// bogus and negative entries and the infrastructure cache (server
// reachability and RTT), and drops queries in progress.
func (d *DNS) FlushResolvers() {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.flush(".", "flush_requestlist", "flush_bogus", "flush_negative", "flush_infra all"); err != nil {
		d.t.Fatalf("lab: flush resolvers: %v", err)
	}
}

// ResolverControl runs unbound-control on resolver j (0-based, in the
// order of ResolverAddrs) and returns its output, failing the test on error:
// d.ResolverControl(0, "dump_infra").
func (d *DNS) ResolverControl(j int, args ...string) string {
	d.t.Helper()
	if j < 0 || j >= len(d.resolvers) {
		d.t.Fatalf("lab: no resolver %d (the lab has %d)", j, len(d.resolvers))
	}
	out, err := d.resolvers[j].control(args...)
	if err != nil {
		d.t.Fatalf("lab: resolver %d: %v", j, err)
	}
	return out
}

// StopAuth stops the child zones' authoritative servers (both nameservers
// of every child zone); the root and test. servers keep running. Resolver
// caches are left alone.
func (d *DNS) StopAuth() {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.auth.stop(); err != nil {
		d.t.Fatalf("lab: stop auth: %v", err)
	}
}

// StartAuth restarts the child zones' authoritative servers after StopAuth
// and waits until they answer.
func (d *DNS) StartAuth() {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.auth.d != nil && d.auth.d.exited() == nil {
		d.t.Fatal("lab: StartAuth: the authoritative servers are running")
	}
	ctx, cancel := opContext()
	defer cancel()
	if err := d.auth.start(); err != nil {
		d.t.Fatalf("lab: start auth: %v", err)
	}
	if err := d.waitNSD(ctx, d.auth); err != nil {
		d.t.Fatalf("lab: start auth: %v", err)
	}
}

// server is a lab daemon.
type server interface {
	stop() error
	logTail(lines int) string
}

// servers lists the lab's daemons that were configured.
func (d *DNS) servers() []server {
	var all []server
	for _, n := range []*nsdServer{d.root, d.tld, d.auth} {
		if n != nil {
			all = append(all, n)
		}
	}
	for _, u := range d.resolvers {
		all = append(all, u)
	}
	return all
}

// cleanup stops every daemon (in parallel), shows their logs if the test
// failed and removes the directory.
func (d *DNS) cleanup() {
	d.mu.Lock()
	defer d.mu.Unlock()
	all := d.servers()
	if d.t.Failed() {
		var b strings.Builder
		for _, s := range all {
			b.WriteString(s.logTail(40) + "\n")
		}
		d.t.Logf("lab: daemon logs:\n%s", b.String())
	}
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, s := range all {
		wg.Go(func() { errs[i] = s.stop() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		d.t.Errorf("lab: stop: %v", err)
	}
	if os.Getenv("REACHMON_LAB_KEEP") != "" {
		d.t.Logf("lab: REACHMON_LAB_KEEP is set: keeping %s", d.Dir)
		return
	}
	if err := os.RemoveAll(d.Dir); err != nil {
		d.t.Errorf("lab: %v", err)
	}
}

func canonical(zone string) string { return strings.ToLower(dns.Fqdn(zone)) }

func hostPort(a netip.Addr) string { return netip.AddrPortFrom(a, DNSPort).String() }
