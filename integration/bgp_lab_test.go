package integration

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/integration/bgplab"
	"github.com/reachmon/reachmon/integration/lab"
	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// Lab addresses, on the namespace's loopback.
const (
	labReachmon = "198.18.0.1"
	labBird     = "198.18.0.2"
	labGoBGP    = "198.18.0.3"
)

const labBirdConf = `
router id 198.18.0.2;
log stderr all;
protocol device {}
protocol static static4_ns {
	ipv4;
	route 198.18.30.0/24 blackhole { bgp_path.prepend(32934); };
	route 198.18.31.0/24 blackhole { bgp_path.prepend(32934); };
	route 198.18.30.0/23 blackhole { bgp_path.prepend(32934); };
}
protocol static static4_cover {
	ipv4;
	route 198.18.0.0/17 blackhole { bgp_path.prepend(32934); };
	route 203.0.113.0/24 blackhole { bgp_path.prepend(64496); };
}
protocol static static6 {
	ipv6;
	route 2001:db8:30::/48 blackhole { bgp_path.prepend(32934); };
}
protocol bgp reachmon {
	local 198.18.0.2 as 65010;
	neighbor 198.18.0.1 as 64512;
	passive on;
	strict bind yes;
	multihop;
	ipv4 { import none; export all; };
	ipv6 { import none; export all; extended next hop on; };
}
`

const labGoBGPConf = `
[global.config]
  as = 65020
  router-id = "198.18.0.3"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = 64512
  [neighbors.transport.config]
    local-address = "198.18.0.3"
    remote-port = 1790
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`

// TestBGPLab peers reachmon's feed with a real BIRD 2 (reachmon connects
// actively, BIRD is passive) and a real gobgpd (gobgpd connects, reachmon
// listens), inside a network namespace. The test binary re-runs itself
// inside the namespace for the part that needs its addresses.
func TestBGPLab(t *testing.T) {
	if ns := os.Getenv("REACHMON_BGPLAB_NS"); ns != "" {
		runBGPLab(t, ns)
		return
	}
	lab.Require(t, "bird", "birdc")
	gobgpd, gobgp := bgplab.GoBGPBinaries(t)
	ns := bgplab.Namespace(t, labReachmon+"/32", labBird+"/32", labGoBGP+"/32")
	t.Cleanup(func() { killNamespacePids(t, ns) })
	args := []string{os.Args[0], "-test.run=^TestBGPLab$", "-test.count=1", "-test.v"}
	cmd := bgplab.Command(ns, args...)
	cmd.Env = append(os.Environ(), "REACHMON_BGPLAB_NS="+ns, "REACHMON_GOBGPD="+gobgpd, "REACHMON_GOBGP="+gobgp)
	out, err := cmd.CombinedOutput()
	t.Logf("inside namespace %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("lab test failed inside the namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestBGPLab") {
		t.Fatal("inner test did not pass")
	}
}

// killNamespacePids kills what the inner test may have left running in
// the namespace (only processes this test started live there).
func killNamespacePids(t *testing.T, ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
}

type labEvents struct {
	mu  sync.Mutex
	evs []model.Event
}

func (l *labEvents) all() []model.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]model.Event(nil), l.evs...)
}

func (l *labEvents) wait(t *testing.T, from int, timeout time.Duration, what string, pred func(model.Event) bool) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		evs := l.all()
		for i := from; i < len(evs); i++ {
			if pred(evs[i]) {
				return i
			}
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, e := range evs[from:] {
				fmt.Fprintf(&b, "  %T %+v\n", e, e)
			}
			t.Fatalf("timed out after %s waiting for %s; events:\n%s", timeout, what, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runBGPLab(t *testing.T, ns string) {
	gobgpd, gobgp := os.Getenv("REACHMON_GOBGPD"), os.Getenv("REACHMON_GOBGP")
	bird := bgplab.StartBird(t, ns, labBirdConf)
	gd := bgplab.StartGoBGPD(t, ns, gobgpd, gobgp, labGoBGPConf, 50051)
	gd.CLI(t, "global", "rib", "add", "198.18.0.0/17", "aspath", "32934", "-a", "ipv4")
	gd.CLI(t, "global", "rib", "add", "198.18.30.0/24", "aspath", "32934", "-a", "ipv4")

	cfg := config.BGP{
		ASN: 64512, RouterID: labReachmon, ListenPort: 1790, ListenAddresses: []string{labReachmon},
		InitialSyncTimeout: config.Duration{Duration: 2 * time.Second},
		Neighbor: []config.Neighbor{
			{Address: labBird, PeerASN: 65010, LocalAddress: labReachmon, MultihopTTL: 2, Description: "bird",
				ConnectRetry: config.Duration{Duration: time.Second}},
			{Address: labGoBGP, PeerASN: 65020, Passive: true, Description: "gobgpd"},
		},
	}
	ch := make(chan model.Event, 4096)
	reg := prometheus.NewRegistry()
	feed, err := bgp.New(cfg, bgp.Watch{Prefixes: []model.WatchedPrefix{{Prefix: netip.MustParsePrefix("198.18.0.0/17"), Origins: []uint32{32934}}}},
		bgp.Options{Registerer: reg, Events: ch})
	if err != nil {
		t.Fatal(err)
	}
	ns1, ns2, ns6 := netip.MustParseAddr("198.18.30.53"), netip.MustParseAddr("198.18.31.53"), netip.MustParseAddr("2001:db8:30::53")
	if err := feed.SetNameserverAddrs("lab.", []netip.Addr{ns1, ns2, ns6}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- feed.Run(ctx) }()
	ev := &labEvents{}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-ch:
				ev.mu.Lock()
				ev.evs = append(ev.evs, e)
				ev.mu.Unlock()
			}
		}
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return")
		}
	}()
	peerEv := func(kind model.PeerEventKind, peer string) func(model.Event) bool {
		return func(e model.Event) bool {
			p, ok := e.(model.PeerEvent)
			return ok && p.Kind == kind && p.Peer == peer
		}
	}
	for _, p := range []string{labBird, labGoBGP} {
		i := ev.wait(t, 0, 30*time.Second, "synced "+p, peerEv(model.PeerSynced, p))
		t.Logf("peer %s synced; by End-of-RIB: %v", p, ev.all()[i].(model.PeerEvent).ByEndOfRIB)
	}
	n := len(ev.all())

	var view bgp.RoutesView
	waitView := func(what, q string, cond func(bgp.RoutesView) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			view, _ = feed.Routes(q)
			if cond(view) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; view %+v", what, view)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitView("both peers carry the NS /24", "198.18.30.53", func(v bgp.RoutesView) bool {
		return len(v.Addresses) == 1 && v.Addresses[0].Current != nil &&
			v.Addresses[0].Current.Prefix == netip.MustParsePrefix("198.18.30.0/24") && v.Addresses[0].Current.Peers == 2
	})
	waitView("v6 NS covered over the v4 session", "2001:db8:30::53", func(v bgp.RoutesView) bool {
		return len(v.Addresses) == 1 && v.Addresses[0].Current != nil && v.Addresses[0].Current.Prefix == netip.MustParsePrefix("2001:db8:30::/48")
	})
	if v, _ := feed.Routes("203.0.113.0/24"); len(v.Routes) != 0 {
		t.Errorf("unwatched prefix imported: %+v", v.Routes)
	}
	if got := metricValue(t, reg, "reachmon_bgp_prefix_visible_peers", "prefix", "198.18.0.0/17"); got != 2 {
		t.Errorf("visible peers of /17 = %v, want 2", got)
	}

	// BIRD withdraws the nameserver /24s and the /23; gobgpd still carries
	// 198.18.30.0/24, so only 198.18.31.53 loses its healthy route.
	bird.Ctl(t, "disable", "static4_ns")
	routeEv := func(kind model.RouteEventKind, peer, prefix string) func(model.Event) bool {
		return func(e model.Event) bool {
			r, ok := e.(model.RouteEvent)
			return ok && r.Kind == kind && r.Peer == peer && r.Prefix == netip.MustParsePrefix(prefix)
		}
	}
	coverEv := func(kind model.CoverEventKind, a netip.Addr) func(model.Event) bool {
		return func(e model.Event) bool {
			c, ok := e.(model.CoverEvent)
			return ok && c.Kind == kind && c.Addr == a
		}
	}
	for _, p := range []string{"198.18.30.0/24", "198.18.31.0/24", "198.18.30.0/23"} {
		ev.wait(t, n, 10*time.Second, "BIRD withdraws "+p, routeEv(model.RouteWithdraw, labBird, p))
	}
	ev.wait(t, n, 10*time.Second, "198.18.31.53 withdrawn", coverEv(model.CoverWithdrawn, ns2))

	gd.CLI(t, "global", "rib", "del", "198.18.30.0/24", "-a", "ipv4")
	i := ev.wait(t, n, 10*time.Second, "198.18.30.53 withdrawn", coverEv(model.CoverWithdrawn, ns1))
	if c := ev.all()[i].(model.CoverEvent); c.Current == nil || c.Current.Prefix != netip.MustParsePrefix("198.18.0.0/17") || c.Current.Peers != 2 {
		t.Errorf("cover event = %+v (current %+v)", c, c.Current)
	}
	waitMetric(t, reg, "reachmon_bgp_addresses_degraded", 2, "role", "nameserver", "name", "lab.")
	waitMetric(t, reg, "reachmon_bgp_prefix_visible_peers", 0, "prefix", "198.18.30.0/24")
	for _, e := range ev.all() {
		if c, ok := e.(model.CoverEvent); ok && c.Addr == ns1 && c.Kind == model.CoverWithdrawn && c.Time.Before(ev.all()[i].EventTime()) {
			t.Errorf("198.18.30.53 reported withdrawn while gobgpd still carried its /24: %+v", c)
		}
	}

	// gobgpd dies: its routes are unknown, not withdrawn.
	m := len(ev.all())
	gd.Stop()
	j := ev.wait(t, m, 30*time.Second, "gobgpd session down", peerEv(model.PeerDown, labGoBGP))
	for _, e := range ev.all()[m:j] {
		if r, ok := e.(model.RouteEvent); ok && r.Kind == model.RouteWithdraw {
			t.Errorf("session loss reported as withdrawal: %+v", r)
		}
	}
	waitMetric(t, reg, "reachmon_bgp_peer_up", 0, "peer", labGoBGP)
	waitMetric(t, reg, "reachmon_bgp_prefix_visible_peers", 1, "prefix", "198.18.0.0/17")

	// BIRD announces the nameserver prefixes again.
	bird.Ctl(t, "enable", "static4_ns")
	ev.wait(t, j, 10*time.Second, "198.18.30.53 restored", coverEv(model.CoverRestored, ns1))
	ev.wait(t, j, 10*time.Second, "198.18.31.53 restored", coverEv(model.CoverRestored, ns2))
	waitMetric(t, reg, "reachmon_bgp_addresses_degraded", 0, "role", "nameserver", "name", "lab.")
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

func waitMetric(t *testing.T, reg *prometheus.Registry, name string, want float64, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := metricValue(t, reg, name, labels...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
