package dnsprobe

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

func TestDiscover(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	ap := func(s string) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(s), w.authPort) }
	res := func(addr string) []model.Server { return []model.Server{resolverAt(addr, model.TransportUDP)} }
	both := []model.AuthSource{model.SourceParent, model.SourceResolver}
	par := []model.AuthSource{model.SourceParent}
	rsv := []model.AuthSource{model.SourceResolver}
	// firstFor orders two resolvers so that a lookup about zone asks
	// first first (lookups start at a resolver picked by the zone's name).
	firstFor := func(zone string, first, other model.Server) []model.Server {
		rs := []model.Server{first, other}
		if New(Options{}).newLookup(zone, rs).resolvers[0] != first {
			rs = []model.Server{other, first}
		}
		return rs
	}
	var silentAsked atomic.Int64
	// example.test. as the resolver and its parent see it together.
	allNS := []string{"ns1.example.test.", "ns2.example.test.", "ns3.example.test."}
	allServers := []model.AuthServer{
		{Host: "ns1.example.test.", Addr: ap("127.0.0.11"), Sources: both},
		{Host: "ns2.example.test.", Addr: ap("127.0.0.12"), Sources: par},
		{Host: "ns2.example.test.", Addr: ap("127.0.0.22"), Sources: rsv},
		{Host: "ns3.example.test.", Addr: ap("127.0.0.13"), Sources: rsv},
		{Host: "ns3.example.test.", Addr: ap("2001:db8::13"), Sources: rsv},
	}

	tests := []struct {
		name      string
		zone      string
		resolvers []model.Server
		authPort  uint16
		wantNS    []string
		want      []model.AuthServer
		wantTTL   time.Duration
		wantErr   string
	}{
		{
			name: "resolver and parent glue", zone: "Example.TEST", resolvers: res(w.resolver),
			wantNS: allNS, want: allServers, wantTTL: 120 * time.Second,
		},
		{
			name: "second resolver answers when the first is down", zone: "example.test.",
			resolvers: firstFor("example.test.", resolverAt(closedPort(t), model.TransportUDP), resolverAt(w.resolver, model.TransportUDP)),
			wantNS:    allNS, want: allServers, wantTTL: 120 * time.Second,
		},
		{
			// A resolver that never answers costs one query timeout, not
			// the whole discovery deadline.
			name: "second resolver answers when the first is silent", zone: "example.test.",
			resolvers: firstFor("example.test.", resolverAt(rawUDPServer(t, func([]byte) [][]byte { silentAsked.Add(1); return nil }), model.TransportUDP),
				resolverAt(w.resolver, model.TransportUDP)),
			wantNS: allNS, want: allServers, wantTTL: 120 * time.Second,
		},
		{
			// Parent servers unreachable: the resolver view still counts.
			name: "parent down", zone: "example.test.", resolvers: res(w.resolver), authPort: closedUDPPort(t),
			wantNS: []string{"ns1.example.test.", "ns3.example.test."},
			want: []model.AuthServer{
				{Host: "ns1.example.test.", Sources: rsv},
				{Host: "ns3.example.test.", Sources: rsv},
				{Host: "ns3.example.test.", Sources: rsv},
			},
			wantTTL: 300 * time.Second,
		},
		{
			// Resolvers SERVFAIL for the zone (Facebook): the parent's
			// delegation and glue still name the servers.
			name: "resolvers SERVFAIL, parent glue", zone: "dead.test.", resolvers: res(w.resolver),
			wantNS:  []string{"ns.dead.test."},
			want:    []model.AuthServer{{Host: "ns.dead.test.", Addr: ap("127.0.0.66"), Sources: par}},
			wantTTL: 172800 * time.Second,
		},
		{name: "resolver down", zone: "example.test.", resolvers: res(closedPort(t)), wantErr: "no authoritative server address found for example.test."},
		{name: "no resolvers", zone: "example.test.", wantErr: "no resolvers configured"},
		{name: "zone does not exist", zone: "nope.test.", resolvers: res(w.resolver), wantErr: "no authoritative server address found for nope.test."},
	}
	t.Cleanup(func() {
		if silentAsked.Load() == 0 {
			t.Error("the silent resolver was never asked")
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Options{Timeout: time.Second, Now: func() time.Time { return time.Unix(1700000000, 0) }})
			p.authPort = w.authPort
			if tc.authPort != 0 {
				p.authPort = tc.authPort
			}
			d := p.Discover(ctxTimeout(t, 10*time.Second), tc.zone, tc.resolvers)
			if d.Zone != canonical(tc.zone) || !d.Time.Equal(time.Unix(1700000000, 0)) {
				t.Errorf("zone %q time %v", d.Zone, d.Time)
			}
			if tc.wantErr != "" {
				if !strings.Contains(d.Error, tc.wantErr) || len(d.Servers) != 0 {
					t.Fatalf("error %q servers %v, want error containing %q and no servers", d.Error, d.Servers, tc.wantErr)
				}
				t.Logf("error: %s", d.Error)
				return
			}
			if d.Error != "" {
				t.Fatalf("error %q", d.Error)
			}
			if !slices.Equal(d.NS, tc.wantNS) {
				t.Errorf("NS %q, want %q", d.NS, tc.wantNS)
			}
			if d.TTL != tc.wantTTL {
				t.Errorf("TTL %v, want %v", d.TTL, tc.wantTTL)
			}
			if len(d.Servers) != len(tc.want) {
				t.Fatalf("servers %+v, want %+v", d.Servers, tc.want)
			}
			for i, s := range d.Servers {
				want := tc.want[i]
				if s.Host != want.Host || !slices.Equal(s.Sources, want.Sources) ||
					(want.Addr.IsValid() && s.Addr != want.Addr) || s.Addr.Port() != p.authPort {
					t.Errorf("server %d = %+v, want %+v", i, s, want)
				}
			}
		})
	}
}

// TestDiscoverBounded: a resolver that keeps naming more nameservers cannot
// make Discover send more than maxLookupQueries queries.
func TestDiscoverBounded(t *testing.T) {
	t.Parallel()
	data := mustRRs(t, "big.test. 300 IN SOA ns0.big.test. h.big.test. 1 2 3 4 5")
	for i := range 60 {
		rr, _ := dns.NewRR(fmt.Sprintf("big.test. 300 IN NS ns%d.big.test.", i))
		data.add(rr)
	}
	var queries atomic.Int64
	// Slow enough that Discover cannot finish early by luck; SERVFAIL
	// for addresses so every lookup costs a query.
	addr := startServer(t, resolverHandler(data, func(req *dns.Msg) bool {
		return req.Question[0].Qtype == dns.TypeA || req.Question[0].Qtype == dns.TypeAAAA
	}, func(*dns.Msg) { queries.Add(1) })).Addr
	p := New(Options{Timeout: time.Second})
	p.authPort = closedUDPPort(t)
	d := p.Discover(ctxTimeout(t, 20*time.Second), "big.test.", []model.Server{resolverAt(addr, model.TransportUDP), resolverAt(addr, model.TransportUDP)})
	n := queries.Load()
	t.Logf("%d queries", n)
	if n > maxLookupQueries || n < 10 {
		t.Errorf("%d queries, want between 10 and %d", n, maxLookupQueries)
	}
	if d.Error == "" || len(d.Servers) != 0 {
		t.Errorf("error %q servers %v", d.Error, d.Servers)
	}
}

func TestFindZone(t *testing.T) {
	t.Parallel()
	w := startWorld(t)
	tests := []struct {
		name, want string
		resolver   string
		wantErr    bool
	}{
		{name: "www.example.test.", want: "example.test."},
		{name: "example.test.", want: "example.test."},
		{name: "WWW.Example.Test", want: "example.test."},
		{name: "nope.example.test.", want: "example.test."},
		{name: "deep.nope.test.", want: "test."},
		{name: "test.", want: "test."},
		// An alias: walk up to example.test., then ask its server.
		{name: "alias.example.test.", want: "example.test."},
		// Resolvers SERVFAIL (the zone's servers are dead): follow the
		// referral from test.'s own server.
		{name: "www.dead.test.", want: "dead.test."},
		{name: "www.example.test.", resolver: closedPort(t), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name+" "+tc.resolver, func(t *testing.T) {
			p := New(Options{Timeout: time.Second})
			p.authPort = w.authPort
			r := w.resolver
			if tc.resolver != "" {
				r = tc.resolver
			}
			z, err := p.FindZone(ctxTimeout(t, 10*time.Second), tc.name, []model.Server{resolverAt(r, model.TransportUDP)})
			if tc.wantErr {
				if err == nil {
					t.Fatalf("zone %q, want an error", z)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil || z != tc.want {
				t.Fatalf("zone %q, %v; want %q", z, err, tc.want)
			}
		})
	}
}

// closedUDPPort is a port with nothing on 127.0.0.1 (nor, very likely, on
// the other 127/8 addresses the tests use).
func closedUDPPort(t *testing.T) uint16 {
	return netip.MustParseAddrPort(closedPort(t)).Port()
}

// Lookups about different zones start at different resolvers (spreading
// thousands of discoveries over all of them); one zone always starts at the
// same one, and every resolver stays in the list.
func TestLookupSpreadsResolvers(t *testing.T) {
	p := New(Options{})
	rs := []model.Server{resolverAt("127.0.0.1:1", model.TransportUDP), resolverAt("127.0.0.2:1", model.TransportUDP), resolverAt("127.0.0.3:1", model.TransportUDP)}
	first := map[string]int{}
	for i := range 300 {
		zone := fmt.Sprintf("z%05d.test.", i)
		l := p.newLookup(zone, rs)
		if len(l.resolvers) != len(rs) {
			t.Fatalf("%s: %d resolvers, want %d", zone, len(l.resolvers), len(rs))
		}
		for _, r := range rs {
			if !slices.Contains(l.resolvers, r) {
				t.Fatalf("%s: resolver %s missing from %v", zone, r.Addr, l.resolvers)
			}
		}
		if again := p.newLookup(strings.ToUpper(zone), rs); again.resolvers[0] != l.resolvers[0] {
			t.Errorf("%s: starts at %s, then at %s", zone, l.resolvers[0].Addr, again.resolvers[0].Addr)
		}
		first[l.resolvers[0].Addr]++
	}
	for _, r := range rs {
		if n := first[r.Addr]; n < 60 {
			t.Errorf("resolver %s asked first for %d of 300 zones, want about 100 (at least 60): %v", r.Addr, n, first)
		}
	}
	if rs[0].Addr != "127.0.0.1:1" {
		t.Errorf("the caller's slice was reordered: %v", rs)
	}
}
