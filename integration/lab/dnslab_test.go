package lab

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestPlan(t *testing.T) {
	p, err := NewPlan(netip.MustParsePrefix("127.64.0.0/16"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  any
		want string
	}{
		{"root", p.Root(), "127.64.0.1"},
		{"tld", p.TLD(), "127.64.1.1"},
		{"resolver 0", p.Resolver(0), "127.64.2.53"},
		{"resolver 7", p.Resolver(MaxResolvers - 1), "127.64.9.53"},
		{"resolver 1 prefix", p.ResolverPrefix(1), "127.64.3.0/24"},
		{"zone 0 ns1", p.NS(0, 0), "127.64.10.1"},
		{"zone 0 ns2", p.NS(0, 1), "127.64.11.1"},
		{"zone 1 ns1", p.NS(1, 0), "127.64.12.1"},
		{"zone 1 ns2 prefix", p.NSPrefix(1, 1), "127.64.13.0/24"},
		{"zone 1 prefix", p.ZonePrefix(1), "127.64.12.0/23"},
		{"last zone ns2", p.NS(MaxZones-1, 1), "127.64.89.1"},
		{"zone 0 www", p.WWW(0), "127.64.100.80"},
		{"last zone www", p.WWW(MaxZones - 1), "127.64.139.80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.got.(interface{ String() string }).String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	// Every nameserver is in its own /24, both inside the zone's /23, and
	// no two zones, resolvers or servers share a /24.
	seen := map[netip.Prefix]string{}
	claim := func(what string, a netip.Addr) {
		t.Helper()
		p24 := netip.PrefixFrom(a, 24).Masked()
		if other, ok := seen[p24]; ok {
			t.Errorf("%s and %s share %v", what, other, p24)
		}
		seen[p24] = what
	}
	claim("root", p.Root())
	claim("tld", p.TLD())
	for j := range MaxResolvers {
		claim("resolver", p.Resolver(j))
	}
	for i := range MaxZones {
		for k := range 2 {
			if !p.ZonePrefix(i).Contains(p.NS(i, k)) || !p.NSPrefix(i, k).Contains(p.NS(i, k)) {
				t.Errorf("zone %d ns%d %v outside %v / %v", i, k+1, p.NS(i, k), p.ZonePrefix(i), p.NSPrefix(i, k))
			}
			claim("ns", p.NS(i, k))
		}
		claim("www", p.WWW(i))
	}

	for _, bad := range []string{"127.64.0.0/24", "127.64.1.0/16", "::1/128"} {
		if _, err := NewPlan(netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("NewPlan(%s) succeeded", bad)
		}
	}
}

func TestLockBaseIsExclusive(t *testing.T) {
	dir := t.TempDir()
	base := netip.MustParsePrefix("127.99.0.0/16")
	f, err := lockBase(dir, base, netnsOf(base))
	if err != nil {
		t.Fatal(err)
	}
	if g, err := lockBase(dir, base, netnsOf(base)); err == nil {
		g.Close()
		t.Fatal("a second lock on the same base succeeded")
	}
	f.Close()
	g, err := lockBase(dir, base, netnsOf(base))
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	g.Close()
}

// The benchmark range is only used inside a namespace the lab created, so
// its lock is per namespace: labs in two namespaces do not wait for each
// other, two in one namespace do. 127.0.0.0/8 is shared by every namespace
// a lab runs in (the host's), so its lock is machine-wide.
func TestLockBasePerNamespace(t *testing.T) {
	if ns := netnsOf(netip.MustParsePrefix("127.99.0.0/16")); ns != "" {
		t.Errorf("127.99.0.0/16 locked per namespace %q, want machine-wide", ns)
	}
	bench := netip.MustParsePrefix("198.18.0.0/16")
	ns := netnsOf(bench)
	if ns == "" {
		t.Fatal("the benchmark range is locked machine-wide")
	}
	dir := t.TempDir()
	f, err := lockBase(dir, bench, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if g, err := lockBase(dir, bench, ns); err == nil {
		g.Close()
		t.Fatal("a second lock on the same base in the same namespace succeeded")
	}
	g, err := lockBase(dir, bench, "-4026530000")
	if err != nil {
		t.Fatalf("lock of the same base in another namespace: %v", err)
	}
	g.Close()
}

func TestDNSOptions(t *testing.T) {
	o, err := DNSOptions{Zones: []string{"Alpha.TEST", "beta.test."}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.Zones, " ") != "alpha.test. beta.test." || o.Resolvers != 1 || o.TTL != 300*time.Second {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range []DNSOptions{
		{Zones: []string{"a.b.test."}},
		{Zones: []string{"example.com."}},
		{Zones: []string{"a.test.", "A.test"}},
		{Resolvers: MaxResolvers + 1},
		{TTL: time.Millisecond},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestLab runs two labs at once (as two test packages would) and exercises
// StopAuth/StartAuth with two resolvers.
func TestLab(t *testing.T) {
	a := StartDNS(t, DNSOptions{Resolvers: 2, Zones: []string{"one.test.", "two.test.", "three.test."}, TTL: 60 * time.Second})
	b := StartDNS(t, DNSOptions{})
	if a.Plan.Base == b.Plan.Base {
		t.Fatalf("two labs share %v", a.Plan.Base)
	}
	ask := func(server, name string) *dns.Msg {
		t.Helper()
		// Long enough for Unbound to give up on unreachable servers.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r, err := Query(ctx, server, name, dns.TypeA, QueryFlags{RD: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, res := range a.ResolverAddrs {
		for _, z := range a.ZoneNames {
			r := ask(res, "www."+z)
			if r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData || len(r.Answer) == 0 {
				t.Fatalf("www.%s @%s: %v", z, res, r)
			}
		}
	}
	if r := ask(b.ResolverAddrs[0], "www.good.test."); r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
		t.Fatalf("second lab: %v", r)
	}

	a.StopAuth()
	a.FlushResolvers()
	// The nameservers refuse (ICMP port unreachable) ...
	for _, ns := range a.Zones["two.test."].NS {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := Query(ctx, ns.AddrPort(), "www.two.test.", dns.TypeA, QueryFlags{})
		cancel()
		if err == nil {
			t.Fatalf("%s answered after StopAuth: %v", ns.AddrPort(), r)
		}
	}
	// ... and the resolver has no answer for a client that waits 1 s:
	// Unbound 1.17 keeps retrying with backoff for more than 40 s before
	// its first SERVFAIL (then answers SERVFAIL at once from its
	// infrastructure cache).
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	r, err := Query(ctx, a.ResolverAddrs[0], "www.two.test.", dns.TypeA, QueryFlags{RD: true})
	cancel()
	if err == nil && r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("auth stopped: %v", r)
	}
	// The other lab is untouched.
	if r := ask(b.ResolverAddrs[0], "www.broken.test."); r.Rcode != dns.RcodeSuccess {
		t.Fatalf("second lab affected: %v", r)
	}

	a.StartAuth()
	a.FlushResolvers()
	if r := ask(a.ResolverAddrs[1], "www.two.test."); r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData {
		t.Fatalf("auth restarted: %v", r)
	}
	if out := a.ResolverControl(1, "status"); !strings.Contains(out, "is running") {
		t.Errorf("unbound-control status: %q", out)
	}
	// A break while the servers run again, on the second resolver.
	tag := a.BreakDNSKEY("three.test.")
	if got := a.ServedKeyTag("three.test."); got != tag || got == a.Zones["three.test."].DSKeyTag {
		t.Errorf("served key tag %d, BreakDNSKEY said %d, DS names %d", got, tag, a.Zones["three.test."].DSKeyTag)
	}
	if r := ask(a.ResolverAddrs[1], "www.three.test."); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("after break: %v", r)
	}
}

// TestCleanup checks that a lab leaves no process and no directory behind.
func TestCleanup(t *testing.T) {
	var d *DNS
	t.Run("lab", func(t *testing.T) {
		d = StartDNS(t, DNSOptions{})
	})
	if _, err := os.Stat(d.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists: %v", d.Dir, err)
	}
	all := []*daemon{d.root.d, d.tld.d, d.auth.d}
	for _, u := range d.resolvers {
		all = append(all, u.d)
	}
	for _, p := range all {
		if !groupGone(p.cmd.Process.Pid) {
			t.Errorf("%s (process group %d) is still running", p.name, p.cmd.Process.Pid)
		}
	}
}
