package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/reachmon/reachmon/bench/fulltable"
	"github.com/reachmon/reachmon/integration/bgplab"
	"github.com/reachmon/reachmon/integration/lab"
	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/bgp/session"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/syncbuf"
)

// Addresses of TestBGPFullTableLab, on its own namespace's loopback.
const (
	ftReachmon = "198.18.0.1"
	ftBirdA    = "198.18.0.2" // full_table, passive on reachmon's side (BIRD connects), hold 3 s; TCP-MD5 in TestBGPFullTableMD5Lab
	ftGoBGP    = "198.18.0.3" // full_table, both ends connect (collision), sends the full table
	ftBirdB    = "198.18.0.4" // full_table, reachmon connects; its path is the non-best one and flaps
	ftBirdC    = "198.18.0.5" // ordinary neighbor (embedded GoBGP), hold 3 s: the reference for a lost session
	ftBirdD    = "198.18.0.6" // TestBGPFullTableMD5Lab: full_table, passive, TCP-MD5 with the WRONG password: never up

	ftPasswordEnv = "REACHMON_FTLAB_PASSWORD"
	ftFlapPrefix  = "198.18.40.0/24"
	// ftGoBGPProxyPort is where reachmon connects to reach gobgpd: a
	// relay that holds the connection back (startDelayRelay).
	ftGoBGPProxyPort = 1179
	// ftTableRoutes is the size of the table gobgpd sends (IPv4).
	ftTableRoutes = 150_000
)

func ftBirdConf(id, localAS, peerMode, extra, statics string) string {
	return fmt.Sprintf(`
router id %[1]s;
log stderr all;
protocol device {}
%[5]s
protocol bgp reachmon {
	local %[1]s as %[2]s;
	neighbor 198.18.0.1 as 64512;
	%[3]s
	strict bind yes;
	multihop;
	connect retry time 1;
	error wait time 1, 2;
	%[4]s
	ipv4 { import none; export all; };
}
`, id, localAS, peerMode, extra, statics)
}

// birdA: the best path to the flap prefix, and the nameserver /24.
const ftStaticsA = `
protocol static st { ipv4; route 198.18.40.0/24 blackhole { bgp_path.prepend(32934); }; route 198.18.30.0/24 blackhole { bgp_path.prepend(32934); }; }
`

// birdB: two candidate paths to the flap prefix (pa preferred), so that
// disabling pa changes the exported path and disabling both withdraws it.
const ftStaticsB = `
protocol static pa { ipv4 { preference 200; }; route 198.18.40.0/24 blackhole { bgp_path.prepend(32934); bgp_path.prepend(65101); }; }
protocol static pb { ipv4 { preference 100; }; route 198.18.40.0/24 blackhole { bgp_path.prepend(32934); bgp_path.prepend(65103); bgp_path.prepend(65102); }; }
`

const ftStaticsC = `
protocol static st { ipv4; route 198.18.40.0/24 blackhole { bgp_path.prepend(32934); }; route 198.18.30.0/24 blackhole { bgp_path.prepend(32934); }; }
`

const ftGoBGPConf = `
[global.config]
  as = 65020
  router-id = "198.18.0.3"
  port = 179
  local-address-list = ["198.18.0.3"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = 64512
  [neighbors.transport.config]
    local-address = "198.18.0.3"
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`

// TestBGPFullTableLab runs full_table sessions (internal/bgp/session
// feeding the feed's state through a Source, as `reachmon run` wires
// them) against real daemons in a network namespace:
//
//   - gobgpd sends a 150,000-route table (injected from an MRT dump);
//     the peers view shows it synced with exactly the watched routes,
//     route by route, and the session counted every prefix received;
//     both ends connect actively (gobgpd to reachmon's listener, reachmon
//     to gobgpd's port through a relay that holds its connection back
//     3 s), and the collision, resolved by reachmon every run, leaves one
//     stable session;
//   - the watched set widens (a nameserver address inside a route no one
//     watched): the route arrives from gobgpd by a route refresh,
//     without a session reset;
//   - BIRD B's non-best path to a watched prefix changes its AS path,
//     is withdrawn and comes back, also in quick flaps: the per-peer view
//     is exact after each step, the best peers' paths untouched;
//   - reloads move BIRD B between the full_table speaker and the
//     embedded one, the other sessions untouched;
//   - BIRD A (full_table) and BIRD C (ordinary, embedded GoBGP) are
//     stopped with SIGSTOP (by pid) at once: both sessions are lost by
//     hold timer expiry, their routes become unknown (no withdrawals),
//     the two peer-down events agree field by field, and after SIGCONT
//     both come back and sync.
func TestBGPFullTableLab(t *testing.T) {
	if ns := os.Getenv("REACHMON_FTLAB_NS"); ns != "" {
		runFullTableLab(t, ns)
		return
	}
	lab.Require(t, "bird", "birdc")
	gobgpd, gobgp := bgplab.GoBGPBinaries(t)
	ns := bgplab.Namespace(t, ftReachmon+"/32", ftBirdA+"/32", ftGoBGP+"/32", ftBirdB+"/32", ftBirdC+"/32")
	t.Cleanup(func() { killNamespacePids(t, ns) })
	cmd := bgplab.Command(ns, os.Args[0], "-test.run=^TestBGPFullTableLab$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "REACHMON_FTLAB_NS="+ns, "REACHMON_GOBGPD="+gobgpd, "REACHMON_GOBGP="+gobgp)
	out, err := cmd.CombinedOutput()
	t.Logf("inside namespace %s:\n%s", ns, out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestBGPFullTableLab") {
		t.Fatalf("full_table lab test failed inside the namespace: %v", err)
	}
}

func runFullTableLab(t *testing.T, ns string) {
	// The table gobgpd sends, and the watched prefixes inside it.
	table, err := fulltable.Generate(ftTableRoutes, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	routes := make([]bgplab.MRTRoute, 0, len(table.V4)+30_000)
	for _, r := range table.V4 {
		routes = append(routes, bgplab.MRTRoute{Prefix: r.Prefix, ASPath: []uint32{65021, r.Origin}})
	}
	// `gobgp mrt inject` exits without waiting for its last stream
	// messages: the tail of the dump can be lost. Repeat the first routes
	// at the end (the same paths again change nothing) so that the loss
	// falls on repeats; the count is checked below.
	routes = append(routes, routes[:30_000]...)
	mrtFile := filepath.Join(t.TempDir(), "table.mrt")
	if err := bgplab.WriteMRT(mrtFile, netip.MustParseAddr(ftGoBGP), 65020, netip.MustParseAddr(ftGoBGP), routes); err != nil {
		t.Fatal(err)
	}

	birdA := bgplab.StartBird(t, ns, ftBirdConf(ftBirdA, "65010", "", "hold time 3; keepalive time 1;", ftStaticsA))
	birdB := bgplab.StartBird(t, ns, ftBirdConf(ftBirdB, "65011", "passive on;", "", ftStaticsB))
	birdC := bgplab.StartBird(t, ns, ftBirdConf(ftBirdC, "65030", "passive on;", "hold time 3; keepalive time 1;", ftStaticsC))
	gd := bgplab.StartGoBGPD(t, ns, os.Getenv("REACHMON_GOBGPD"), os.Getenv("REACHMON_GOBGP"), ftGoBGPConf, 50052)
	time.Sleep(200 * time.Millisecond)
	for _, b := range []*bgplab.Bird{birdA, birdB, birdC} {
		if b.Exited() {
			t.Fatalf("a BIRD exited at start:\n%s", b.Output())
		}
	}
	st := time.Now()
	gd.CLI(t, "mrt", "inject", "global", mrtFile)
	waitFor(t, 60*time.Second, "gobgpd's RIB holds the whole table", func() (bool, string) {
		out, err := gd.Try("global", "rib", "summary", "-a", "ipv4")
		return err == nil && strings.Contains(out, fmt.Sprintf("Destination: %d,", ftTableRoutes)), out
	})
	t.Logf("gobgpd took the %d-route table in %s", ftTableRoutes, time.Since(st).Round(time.Millisecond))

	hold3 := config.Duration{Duration: 3 * time.Second}
	retry1 := config.Duration{Duration: time.Second}
	cfg := config.BGP{
		ASN: 64512, RouterID: ftReachmon, ListenPort: 179, ListenAddresses: []string{ftReachmon},
		InitialSyncTimeout: config.Duration{Duration: 2 * time.Second},
		Neighbor: []config.Neighbor{
			{Address: ftBirdA, PeerASN: 65010, Passive: true, FullTable: true, MultihopTTL: 2, HoldTime: hold3, Description: "bird A"},
			{Address: ftGoBGP, Port: ftGoBGPProxyPort, PeerASN: 65020, FullTable: true, LocalAddress: ftReachmon, ConnectRetry: retry1, Description: "gobgpd"},
			{Address: ftBirdB, PeerASN: 65011, FullTable: true, LocalAddress: ftReachmon, MultihopTTL: 2, ConnectRetry: retry1, Description: "bird B"},
			{Address: ftBirdC, PeerASN: 65030, LocalAddress: ftReachmon, MultihopTTL: 2, HoldTime: hold3, ConnectRetry: retry1, Description: "bird C"},
		},
	}
	if !cfg.FullTableListener() {
		t.Fatal("the full_table speaker should own the listener (passive full_table neighbors)")
	}
	flap := netip.MustParsePrefix(ftFlapPrefix)
	watch := bgp.Watch{Prefixes: []model.WatchedPrefix{
		{Prefix: flap, Origins: []uint32{32934}},
		{Prefix: netip.MustParsePrefix("198.18.30.0/24"), Origins: []uint32{32934}},
	}}
	for _, w := range table.Watched {
		watch.Prefixes = append(watch.Prefixes, model.WatchedPrefix{Prefix: w.Prefix, Origins: []uint32{w.Origin}})
	}
	// Both ends connect: gobgpd (connect-retry 1 s) to reachmon's
	// listener, reachmon to gobgpd through a relay that forwards to
	// gobgpd's port only after 3 s. So reachmon's own connection waits in
	// OpenSent when gobgpd's arrives: a connection collision (RFC 4271
	// 6.8) that reachmon resolves by BGP identifier, every run.
	startDelayRelay(t, netip.AddrPortFrom(netip.MustParseAddr(ftGoBGP), ftGoBGPProxyPort),
		netip.AddrPortFrom(netip.MustParseAddr(ftGoBGP), 179), netip.MustParseAddr(ftReachmon), 3*time.Second)
	feed, mgr, ev, logs := startFullTableFeed(t, cfg, watch)
	peerEv := func(kind model.PeerEventKind, peer string) func(model.Event) bool {
		return func(e model.Event) bool {
			p, ok := e.(model.PeerEvent)
			return ok && p.Kind == kind && p.Peer == peer
		}
	}
	for _, p := range []string{ftBirdA, ftBirdB, ftBirdC, ftGoBGP} {
		ev.wait(t, 0, 90*time.Second, "synced "+p, peerEv(model.PeerSynced, p))
	}

	// 1. The full table from gobgpd: synced with exactly the watched
	// routes, each with the path gobgpd sent.
	var gv model.BGPPeer
	for _, p := range feed.PeersView().Peers {
		if p.Peer == ftGoBGP {
			gv = p
		}
	}
	if gv.State != "up" || !gv.Synced || gv.Routes != table.Imported {
		t.Errorf("/api/v1/peers: gobgpd = %+v, want up, synced, %d watched routes", gv, table.Imported)
	}
	want := map[netip.Prefix]uint32{}
	watched := map[netip.Prefix]bool{}
	for _, w := range table.Watched {
		watched[w.Prefix] = true
	}
	for _, r := range table.V4 {
		for bits := r.Prefix.Bits(); bits >= 0; bits-- {
			if watched[netip.PrefixFrom(r.Prefix.Addr(), bits).Masked()] {
				want[r.Prefix] = r.Origin
				break
			}
		}
	}
	view, err := feed.Routes("")
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, r := range view.Routes {
		for _, p := range r.Paths {
			if p.Peer != ftGoBGP {
				continue
			}
			got++
			o, ok := want[r.Prefix]
			if !ok || p.Origin != o || !slices.Equal(p.ASPath, []uint32{65020, 65021, o}) {
				t.Errorf("gobgpd's route %s: origin %d path %v; sent: watched %v, origin %d, path [65020 65021 %d]", r.Prefix, p.Origin, p.ASPath, ok, o, o)
			}
		}
	}
	if got != len(want) || got != table.Imported {
		t.Errorf("gobgpd's watched routes in the view: %d, want %d (table: %d)", got, len(want), table.Imported)
	}
	var gs session.PeerStatus
	for _, s := range mgr.Status() {
		if s.Peer == ftGoBGP {
			gs = s
		}
	}
	if gs.State != session.StateEstablished || gs.Mode != session.Mode || gs.Received[4] != ftTableRoutes {
		t.Errorf("session status of gobgpd = %+v, want established, mode full_table, %d IPv4 prefixes received", gs, ftTableRoutes)
	}

	// 5. The collision: both ends connect with a 1 s retry; one session
	// survives and stays up (gobgpd: no flops).
	time.Sleep(4 * time.Second)
	if n := countEvents(ev.all(), 0, peerEv(model.PeerUp, ftGoBGP)); n != 1 {
		t.Errorf("gobgpd's session came up %d times, want once (collision resolved to one session)", n)
	}
	if out := strings.ToLower(gd.CLI(t, "neighbor", ftReachmon)); !strings.Contains(out, "bgp state = established") || !strings.Contains(out, "flops = 0") {
		t.Errorf("gobgpd's view of the session:\n%s", out)
	}
	collided := false
	for _, l := range strings.Split(logs.String(), "\n") {
		collided = collided || strings.Contains(l, "peer="+ftGoBGP+" ") && strings.Contains(l, "collision")
	}
	if !collided {
		t.Errorf("reachmon logged no connection collision with gobgpd (both ends connected):\n%s", logs.String())
	}

	// 6. No Adj-RIB-In: when the watched set widens (discovery finds a
	// nameserver address inside a route nobody watched), the session
	// asks gobgpd for its table again (ROUTE-REFRESH) and the route
	// arrives without a session reset.
	var extra fulltable.Route
	for _, r := range table.V4 {
		if _, ok := want[r.Prefix]; !ok && r.Prefix.Bits() == 24 {
			extra = r
			break
		}
	}
	nsAddr := extra.Prefix.Addr().Next()
	ups := countEvents(ev.all(), 0, peerEv(model.PeerUp, ftGoBGP))
	if err := feed.SetNameserverAddrs("lab.", []netip.Addr{nsAddr}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "gobgpd's route to the newly watched "+nsAddr.String()+" after a route refresh", func() (bool, string) {
		v, err := feed.Routes(nsAddr.String())
		if err != nil {
			return false, err.Error()
		}
		for _, r := range v.Routes {
			for _, p := range r.Paths {
				if r.Prefix == extra.Prefix && p.Peer == ftGoBGP && p.Origin == extra.Origin {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("%+v", v.Routes)
	})
	if n := countEvents(ev.all(), 0, peerEv(model.PeerUp, ftGoBGP)); n != ups {
		t.Errorf("gobgpd's session was reset to widen the watched set (%d ups, was %d); gobgpd supports route refresh", n, ups)
	}

	// 2. BIRD B's non-best path flaps; the per-peer view is exact.
	pathsOf := func() map[string][]uint32 {
		v, err := feed.Routes(ftFlapPrefix)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]uint32{}
		for _, r := range v.Routes {
			if r.Prefix != flap {
				continue
			}
			for _, p := range r.Paths {
				out[p.Peer] = p.ASPath
			}
		}
		return out
	}
	best := map[string][]uint32{ftBirdA: {65010, 32934}, ftBirdC: {65030, 32934}}
	expect := func(what string, b []uint32) {
		t.Helper()
		w := map[string][]uint32{ftBirdA: best[ftBirdA], ftBirdC: best[ftBirdC]}
		if b != nil {
			w[ftBirdB] = b
		}
		waitFor(t, 10*time.Second, what, func() (bool, string) {
			g := pathsOf()
			ok := len(g) == len(w)
			for k, v := range w {
				ok = ok && slices.Equal(g[k], v)
			}
			return ok, fmt.Sprintf("paths %v, want %v", g, w)
		})
	}
	pathA, pathB := []uint32{65011, 65101, 32934}, []uint32{65011, 65102, 65103, 32934}
	expect("BIRD B's non-best path", pathA)
	n := len(ev.all())
	routeEv := func(kind model.RouteEventKind, peer string) func(model.Event) bool {
		return func(e model.Event) bool {
			r, ok := e.(model.RouteEvent)
			return ok && r.Kind == kind && r.Peer == peer && r.Prefix == flap
		}
	}
	birdB.Ctl(t, "disable", "pa")
	ev.wait(t, n, 10*time.Second, "BIRD B's path change", routeEv(model.RoutePathChange, ftBirdB))
	expect("BIRD B's other path", pathB)
	birdB.Ctl(t, "disable", "pb")
	ev.wait(t, n, 10*time.Second, "BIRD B's withdrawal", routeEv(model.RouteWithdraw, ftBirdB))
	expect("BIRD B's path withdrawn", nil)
	birdB.Ctl(t, "enable", "pa")
	ev.wait(t, n, 10*time.Second, "BIRD B's announcement", routeEv(model.RouteAnnounce, ftBirdB))
	expect("BIRD B's path back", pathA)
	birdB.Ctl(t, "enable", "pb")
	for i := 0; i < 5; i++ { // quick flaps between the two paths
		birdB.Ctl(t, "disable", "pa")
		birdB.Ctl(t, "enable", "pa")
	}
	birdB.Ctl(t, "disable", "pa")
	expect("BIRD B's path after the flaps", pathB)
	for _, e := range ev.all()[n:] {
		if r, ok := e.(model.RouteEvent); ok && r.Prefix == flap && r.Peer != ftBirdB {
			t.Errorf("the best peers' routes changed while only BIRD B's path flapped: %+v", r)
		}
	}

	// 4. Hold timer expiry: BIRD A (full_table) and BIRD C (embedded)
	// stop answering at once.
	m := len(ev.all())
	for _, b := range []*bgplab.Bird{birdA, birdC} {
		pid := b.Pid()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP %d: %v", pid, err)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	}
	ia := ev.wait(t, m, 20*time.Second, "BIRD A's session lost", peerEv(model.PeerDown, ftBirdA))
	ic := ev.wait(t, m, 20*time.Second, "BIRD C's session lost", peerEv(model.PeerDown, ftBirdC))
	all := ev.all()
	da, dc := all[ia].(model.PeerEvent), all[ic].(model.PeerEvent)
	t.Logf("full_table peer down: %+v", da)
	t.Logf("embedded peer down:   %+v", dc)
	for _, e := range all[m:] {
		if r, ok := e.(model.RouteEvent); ok && (r.Peer == ftBirdA || r.Peer == ftBirdC) {
			t.Errorf("a lost session's route reported as a change (its routes are unknown): %+v", r)
		}
	}
	if da.Source != dc.Source || da.Feed != dc.Feed || da.Reason != dc.Reason || da.Routes != dc.Routes {
		t.Errorf("a lost full_table session is reported unlike a lost embedded one:\n full_table %+v\n embedded   %+v", da, dc)
	}
	// The incidents the evaluator makes of these events: the lost
	// full_table session's are the lost embedded session's, word for
	// word once the peers' names are swapped (and how each initial
	// table ended, below).
	var peers []evaluate.Peer
	for _, n := range cfg.Neighbor {
		peers = append(peers, evaluate.Peer{Name: n.Name(), ASN: n.PeerASN, Description: n.Description})
	}
	evl := evaluate.New(config.Evaluate{}, evaluate.Targets{Vantage: "lab", Prefixes: watch.Prefixes, Peers: peers})
	for _, e := range ev.all() {
		evl.Apply(e)
	}
	evl.Tick(time.Now().Add(time.Hour))
	about := func(addr, asn, desc string) []string {
		var out []string
		for _, inc := range evl.Open() {
			text := fmt.Sprintf("%s %s %s %s | %s |", inc.Kind, inc.Severity, inc.SubjectKind, inc.Subject, inc.RootCause)
			for _, e := range inc.Evidence {
				text += " " + e.Text + ";"
			}
			if !strings.Contains(text, addr) {
				continue
			}
			// How the initial table ended may differ: the full_table
			// session asks for End-of-RIB (graceful restart capability),
			// BIRD sends none to GoBGP, whose sessions end it by the
			// initial-sync timeout.
			out = append(out, strings.NewReplacer(addr, "PEER", asn, "ASN", desc, "DESC",
				"(End-of-RIB)", "(SYNC)", "(initial-sync timeout)", "(SYNC)").Replace(text))
		}
		slices.Sort(out)
		return out
	}
	incA, incC := about(ftBirdA, "65010", "bird A"), about(ftBirdC, "65030", "bird C")
	if len(incC) == 0 || !slices.Equal(incA, incC) {
		t.Errorf("incidents of the lost full_table session differ from the lost embedded session's:\n full_table %q\n embedded   %q", incA, incC)
	}
	t.Logf("incidents of each lost session: %q", incC)

	expectLost := map[string][]uint32{ftBirdB: pathB}
	waitFor(t, 10*time.Second, "the lost peers' paths unknown", func() (bool, string) {
		g := pathsOf()
		return len(g) == 1 && slices.Equal(g[ftBirdB], pathB), fmt.Sprintf("paths %v, want %v", g, expectLost)
	})
	for _, s := range mgr.Status() {
		if s.Peer == ftBirdA {
			t.Logf("BIRD A's session after the stop: state %s, last error %q", s.State, s.LastError)
			if s.State == session.StateEstablished {
				t.Error("BIRD A's session still established after hold expiry")
			}
		}
	}
	k := len(ev.all())
	for _, b := range []*bgplab.Bird{birdA, birdC} {
		if err := syscall.Kill(b.Pid(), syscall.SIGCONT); err != nil {
			t.Fatalf("SIGCONT: %v", err)
		}
	}
	ev.wait(t, k, 60*time.Second, "BIRD A synced again", peerEv(model.PeerSynced, ftBirdA))
	ev.wait(t, k, 60*time.Second, "BIRD C synced again", peerEv(model.PeerSynced, ftBirdC))
	expect("all paths back after SIGCONT", pathB)

	// 7. Reloads move BIRD B (active) to the embedded speaker and back,
	// in the order `reachmon run` applies them (feed, then Manager): its
	// path is carried by one speaker at a time, the others' sessions stay.
	reload := func(what string, c config.BGP, viaSession bool) {
		t.Helper()
		r := len(ev.all())
		if _, err := feed.Reconfigure(c.Neighbor, watch, []string{"lab."}); err != nil {
			t.Fatalf("%s: feed: %v", what, err)
		}
		if err := mgr.Reconfigure(c); err != nil {
			t.Fatalf("%s: manager: %v", what, err)
		}
		ev.wait(t, r, 30*time.Second, what+": BIRD B synced", peerEv(model.PeerSynced, ftBirdB))
		expect(what+": BIRD B's path", pathB)
		inSession := false
		for _, st := range mgr.Status() {
			inSession = inSession || (st.Peer == ftBirdB && st.State == session.StateEstablished)
		}
		if inSession != viaSession {
			t.Errorf("%s: BIRD B's session in the full_table speaker: %v, want %v", what, inSession, viaSession)
		}
		for _, p := range []string{ftBirdA, ftGoBGP, ftBirdC} {
			if n := countEvents(ev.all(), r, peerEv(model.PeerDown, p)); n != 0 {
				t.Errorf("%s: the unchanged neighbor %s went down", what, p)
			}
		}
	}
	ordinary := cfg
	ordinary.Neighbor = slices.Clone(cfg.Neighbor)
	ordinary.Neighbor[2].FullTable = false
	if ordinary.Neighbor[2].Address != ftBirdB || ordinary.FullTableListener() != cfg.FullTableListener() {
		t.Fatal("test bug: neighbor 2 is not BIRD B, or the listener would change hands")
	}
	reload("BIRD B moved to the embedded speaker", ordinary, false)
	reload("BIRD B moved back to full_table", cfg, true)
}

// waitFor polls cond (every 50 ms, at most timeout) and fails with its
// last description.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, desc := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, desc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func countEvents(evs []model.Event, from int, pred func(model.Event) bool) int {
	n := 0
	for _, e := range evs[from:] {
		if pred(e) {
			n++
		}
	}
	return n
}

func randomPassword(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// startFullTableFeed runs a feed and a session Manager for cfg's
// full_table neighbors, wired as `reachmon run` wires them (the Manager
// feeds the state through the feed's Source "bgp"); both stop when the
// test ends.
func startFullTableFeed(t *testing.T, cfg config.BGP, watch bgp.Watch) (*bgp.Feed, *session.Manager, *labEvents, *syncbuf.Buffer) {
	t.Helper()
	ch := make(chan model.Event, 1<<16)
	feed, err := bgp.New(cfg, watch, bgp.Options{Registerer: prometheus.NewRegistry(), Events: ch})
	if err != nil {
		t.Fatal(err)
	}
	src := feed.NewSource(model.SourceBGP)
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	mgr, err := session.NewManager(cfg, src, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	feedDone, mgrDone := make(chan error, 1), make(chan error, 1)
	go func() { feedDone <- feed.Run(ctx) }()
	go func() { mgrDone <- mgr.Run(ctx) }()
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
	t.Cleanup(func() {
		cancel()
		for name, done := range map[string]chan error{"feed": feedDone, "manager": mgrDone} {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s Run: %v", name, err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("%s Run did not return", name)
			}
		}
	})
	return feed, mgr, ev, logs
}

// TestBGPFullTableMD5Lab: full_table sessions with TCP-MD5 against real
// BIRD (the password from password_env, never in the config): BIRD A
// with the right password gets its session and routes; BIRD D, with a
// wrong one, none (its segments are dropped by the kernel).
func TestBGPFullTableMD5Lab(t *testing.T) {
	if ns := os.Getenv("REACHMON_FTMD5LAB_NS"); ns != "" {
		runFullTableMD5Lab(t)
		return
	}
	lab.Require(t, "bird", "birdc")
	if err := md5Probe(); err != nil {
		lab.Missing(t, "this kernel refuses TCP_MD5SIG (%v): TCP-MD5 cannot be tested here", err)
	}
	ns := bgplab.Namespace(t, ftReachmon+"/32", ftBirdA+"/32", ftBirdD+"/32")
	t.Cleanup(func() { killNamespacePids(t, ns) })
	cmd := bgplab.Command(ns, os.Args[0], "-test.run=^TestBGPFullTableMD5Lab$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "REACHMON_FTMD5LAB_NS="+ns)
	out, err := cmd.CombinedOutput()
	t.Logf("inside namespace %s:\n%s", ns, out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestBGPFullTableMD5Lab") {
		t.Fatalf("full_table TCP-MD5 lab test failed inside the namespace: %v", err)
	}
}

func runFullTableMD5Lab(t *testing.T) {
	ns := os.Getenv("REACHMON_FTMD5LAB_NS")
	pw := randomPassword(t)
	t.Setenv(ftPasswordEnv, pw)
	birdA := bgplab.StartBird(t, ns, ftBirdConf(ftBirdA, "65010", "", fmt.Sprintf("password %q;", pw), ftStaticsA))
	birdD := bgplab.StartBird(t, ns, ftBirdConf(ftBirdD, "65040", "", fmt.Sprintf("password %q;", pw+"-wrong"), ftStaticsC))
	cfg := config.BGP{
		ASN: 64512, RouterID: ftReachmon, ListenPort: 179, ListenAddresses: []string{ftReachmon},
		InitialSyncTimeout: config.Duration{Duration: 2 * time.Second},
		Neighbor: []config.Neighbor{
			{Address: ftBirdA, PeerASN: 65010, Passive: true, FullTable: true, MultihopTTL: 2, PasswordEnv: ftPasswordEnv, Description: "bird A"},
			{Address: ftBirdD, PeerASN: 65040, Passive: true, FullTable: true, MultihopTTL: 2, PasswordEnv: ftPasswordEnv, Description: "bird D"},
		},
	}
	feed, _, ev, _ := startFullTableFeed(t, cfg, bgp.Watch{Prefixes: []model.WatchedPrefix{
		{Prefix: netip.MustParsePrefix(ftFlapPrefix), Origins: []uint32{32934}},
	}})
	synced := func(peer string) func(model.Event) bool {
		return func(e model.Event) bool {
			p, ok := e.(model.PeerEvent)
			return ok && p.Kind == model.PeerSynced && p.Peer == peer
		}
	}
	ev.wait(t, 0, 30*time.Second, "BIRD A's TCP-MD5 session synced", synced(ftBirdA))
	if v, _ := feed.Routes(ftFlapPrefix); len(v.Routes) != 1 || len(v.Routes[0].Paths) != 1 || v.Routes[0].Paths[0].Peer != ftBirdA {
		t.Errorf("routes over the TCP-MD5 session: %+v", v.Routes)
	}
	if out := birdA.Ctl(t, "show", "protocols", "reachmon"); !strings.Contains(out, "Established") {
		t.Errorf("BIRD A's TCP-MD5 session is not established:\n%s", out)
	}
	time.Sleep(3 * time.Second) // BIRD D retries every second meanwhile
	for _, e := range ev.all() {
		if p, ok := e.(model.PeerEvent); ok && p.Peer == ftBirdD && p.Kind == model.PeerUp {
			t.Errorf("BIRD D with the wrong TCP-MD5 password got a session: %+v", p)
		}
	}
	if out := birdD.Ctl(t, "show", "protocols", "reachmon"); strings.Contains(out, "Established") {
		t.Errorf("BIRD D's session is established despite the wrong password:\n%s", out)
	}
}

// md5Probe reports whether this kernel accepts TCP_MD5SIG on a listening
// socket as reachmon opens it (an MPTCP socket refuses it: go.mod sets
// godebug multipathtcp=0 for that).
func md5Probe() error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	sc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		return err
	}
	sig := &unix.TCPMD5Sig{Keylen: 5}
	sig.Addr.Family = unix.AF_INET
	copy(sig.Addr.Data[2:], []byte{127, 0, 0, 2})
	copy(sig.Key[:], "probe")
	var serr error
	if err := sc.Control(func(fd uintptr) {
		serr = unix.SetsockoptTCPMD5Sig(int(fd), unix.IPPROTO_TCP, unix.TCP_MD5SIG, sig)
	}); err != nil {
		return err
	}
	return serr
}

// startDelayRelay accepts TCP connections on listen and, after delay,
// relays each to target from the address from (so that the target sees
// the original peer's address); it stops when the test ends.
func startDelayRelay(t *testing.T, listen, target netip.AddrPort, from netip.Addr, delay time.Duration) {
	t.Helper()
	ln, err := net.Listen("tcp", listen.String())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				select {
				case <-done:
					return
				case <-time.After(delay):
				}
				d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), Timeout: 5 * time.Second}
				u, err := d.Dial("tcp", target.String())
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c); u.Close() }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
}
