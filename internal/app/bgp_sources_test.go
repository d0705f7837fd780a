package app

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/bgp/bgptest"
	"github.com/reachmon/reachmon/internal/bgp/bmp/bmptest"
	"github.com/reachmon/reachmon/internal/bgp/rislive/rislivetest"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestThreeBGPSourcesTogether runs one daemon with every BGP source at
// once, all carrying the nameserver's /24 (and its covering /8): an
// embedded-peer session with an in-process GoBGP speaker, a BMP router
// (edge1, two monitored peers) and RIS Live (three RIS peers).
// /api/v1/peers lists the peers of all three sources with their labels; a
// withdrawal at one source only (both BMP views) opens nothing while the
// others still carry the route, which stays visible; a withdrawal at all
// three opens bgp_dns_outage whose evidence names peers of each source;
// the BMP router's session going opens feed_lost for that router only,
// and the route stays known (and not degraded) at the other sources.
func TestThreeBGPSourcesTogether(t *testing.T) {
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen, bmpListen := freeAddr(t), freeAddr(t)
	const router = "127.0.0.2"
	sp := bgptest.Start(t, "127.0.0.3", 65001, "127.0.0.1", 64512)
	ris := rislivetest.New(t)
	cfgText := outageConfig(t, listen, resolver.Addr, auth.Addr, fmt.Sprintf(`
[bgp]
asn = 64512
router_id = "127.0.0.1"
initial_sync_timeout = "1s"
[[bgp.neighbor]]
address = "127.0.0.3"
port = %d
peer_asn = 65001
local_address = "127.0.0.1"
hold_time = "9s"
connect_retry = "1s"
[bmp]
listen = %q
[[bmp.router]]
address = %q
name = "edge1"
description = "lab edge"
[ris_live]
url = %q
min_backoff = "10ms"
max_backoff = "50ms"
[[prefix]]
prefix = "203.0.113.0/24"
origins = [64500]
`, sp.Port, bmpListen, router, ris.URL()))
	cfgText = strings.Replace(cfgText, "[evaluate]\n", "[evaluate]\nbgp_open_after = \"0s\"\nstart_grace = \"100ms\"\npeer_grace = \"5s\"\n", 1)
	base := "http://" + listen
	ns, cover := netip.MustParsePrefix("127.0.0.0/24"), netip.MustParsePrefix("127.0.0.0/8")
	watched := netip.MustParsePrefix("203.0.113.0/24")

	// The embedded peer's router carries both before the daemon starts.
	sp.Announce(cover.String(), 64500)
	sp.Announce(ns.String(), 64500)
	sp.Announce(watched.String(), 64500)
	stop := startDaemon(t, cfgText)
	defer stop()

	// BMP: router edge1 with two monitored peers.
	s := dialBMP(t, bmpListen, router)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	bmpPeers := []bmptest.Peer{{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 64501}, {Addr: netip.MustParseAddr("192.0.2.2"), ASN: 64502}}
	must(s.Initiation("edge1.lab", "bmptest"))
	for _, p := range bmpPeers {
		must(s.PeerUp(p))
		must(s.Announce(p, []uint32{p.ASN, 64500}, cover, ns, watched))
		must(s.EndOfRIB(p))
	}

	// RIS Live: three RIS peers announce the /24.
	conn := ris.Conn()
	ris.Next("ris_subscribe")
	type risPeer struct {
		host, addr string
		asn        uint32
	}
	risPeers := []risPeer{{"rrc00", "198.51.100.1", 64601}, {"rrc00", "198.51.100.2", 64602}, {"rrc01", "198.51.100.3", 64603}}
	risSend := func(p risPeer, announce, withdraw []string) {
		t.Helper()
		var path []uint32
		nh := ""
		if announce != nil {
			path, nh = []uint32{p.asn, 3356, 64500}, p.addr
		}
		must(conn.Send(rislivetest.Update(float64(time.Now().Unix()), p.host, p.addr, p.asn, path, nh, announce, withdraw)))
	}
	for _, p := range risPeers {
		risSend(p, []string{ns.String(), watched.String()}, nil)
	}

	var carriersOf func(netip.Prefix) ([]string, bool)
	// carriers lists the peers /api/v1/routes shows carrying the /24, and
	// whether the nameserver address is degraded.
	carriers := func() (peers []string, degraded bool) {
		return carriersOf(ns)
	}
	carriersOf = func(pfx netip.Prefix) (peers []string, degraded bool) {
		_, body := get(t, base+"/api/v1/routes?q="+pfx.String())
		var v bgp.RoutesView
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("/api/v1/routes: %v\n%s", err, body)
		}
		for _, r := range v.Routes {
			if r.Prefix == pfx {
				for _, p := range r.Paths {
					peers = append(peers, p.Peer)
				}
			}
		}
		for _, a := range v.Addresses {
			degraded = degraded || a.Degraded
		}
		slices.Sort(peers)
		return peers, degraded
	}
	peersDoc := func() bgp.PeersView {
		_, body := get(t, base+"/api/v1/peers")
		var v bgp.PeersView
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("/api/v1/peers: %v\n%s", err, body)
		}
		return v
	}
	// The embedded speaker's neighbors have no label (model.PeerEvent):
	// evidence names them by address and ASN.
	type want struct{ source, label string }
	wantPeers := map[string]want{
		"127.0.0.3":              {model.SourceBGP, ""},
		"bmp edge1 192.0.2.1":    {model.SourceBMP, "router edge1, peer 192.0.2.1 (AS64501)"},
		"bmp edge1 192.0.2.2":    {model.SourceBMP, "router edge1, peer 192.0.2.2 (AS64502)"},
		"ris rrc00 198.51.100.1": {model.SourceRISLive, "RIS rrc00 peer 198.51.100.1 (AS64601)"},
		"ris rrc00 198.51.100.2": {model.SourceRISLive, "RIS rrc00 peer 198.51.100.2 (AS64602)"},
		"ris rrc01 198.51.100.3": {model.SourceRISLive, "RIS rrc01 peer 198.51.100.3 (AS64603)"},
	}
	var last bgp.PeersView
	waitUntil(t, 20*time.Second, "six peers of three sources up and synced", func() bool {
		last = peersDoc()
		n := 0
		for _, p := range last.Peers {
			if w, ok := wantPeers[p.Peer]; ok && w == (want{p.Source, p.Label}) && p.State == "up" && p.Synced {
				n++
			}
		}
		return n == len(wantPeers)
	})
	if len(last.Peers) != len(wantPeers) {
		t.Errorf("/api/v1/peers: %d peers, want %d: %+v", len(last.Peers), len(wantPeers), last.Peers)
	}
	waitUntil(t, 10*time.Second, "the /24 at all six peers", func() bool {
		p, _ := carriers()
		return len(p) == 6
	})
	all, _ := carriers()
	t.Logf("carriers: %v", all)
	time.Sleep(500 * time.Millisecond)
	if v, _ := incidents(t, base); len(v.Open) != 0 {
		t.Fatalf("open before any withdrawal: %+v", v.Open)
	}

	// A withdrawal at one source only: both BMP views withdraw the /24.
	for _, p := range bmpPeers {
		must(s.Withdraw(p, ns))
	}
	waitUntil(t, 10*time.Second, "the BMP views' withdrawal", func() bool {
		p, _ := carriers()
		return len(p) == 4
	})
	time.Sleep(time.Second) // bgp_open_after is 0s: an outage would be open by now
	if v, _ := incidents(t, base); len(v.Open) != 0 {
		t.Errorf("open after a withdrawal at the BMP router only: %+v", v.Open)
	}
	if p, degraded := carriers(); len(p) != 4 || degraded {
		t.Errorf("after the BMP withdrawal: carriers %v, degraded %v; want the embedded and RIS peers, not degraded", p, degraded)
	}
	for _, p := range bmpPeers {
		must(s.Announce(p, []uint32{p.ASN, 64500}, ns))
	}
	waitUntil(t, 10*time.Second, "the BMP views' re-announcement", func() bool {
		p, _ := carriers()
		return len(p) == 6
	})

	// [evaluate] min_peers (2) counts withdrawals over the peers of every
	// source: the two BMP views withdrawing a watched [[prefix]] is
	// prefix_withdrawn, though the other sources still carry it.
	if p, _ := carriersOf(watched); len(p) != 6 {
		t.Fatalf("%s at %v, want all six peers", watched, p)
	}
	for _, p := range bmpPeers {
		must(s.Withdraw(p, watched))
	}
	var pw incident.Entry
	waitUntil(t, 20*time.Second, "prefix_withdrawn", func() bool {
		v, _ := incidents(t, base)
		for _, e := range v.Open {
			if e.Kind == model.IncidentPrefixWithdrawn {
				pw = e
				return true
			}
		}
		return false
	})
	if !strings.Contains(pw.RootCause, "seen by 4 of 6 peers") {
		t.Errorf("prefix_withdrawn root cause %q, want it seen by 4 of 6 peers", pw.RootCause)
	}

	// A withdrawal at all three sources.
	sp.Withdraw(ns.String())
	for _, p := range bmpPeers {
		must(s.Withdraw(p, ns))
	}
	for _, p := range risPeers {
		risSend(p, nil, []string{ns.String()})
	}
	var outage incident.Entry
	waitUntil(t, 20*time.Second, "bgp_dns_outage", func() bool {
		v, _ := incidents(t, base)
		for _, e := range v.Open {
			if e.Kind == model.IncidentBGPOutage {
				outage = e
				return true
			}
		}
		return false
	})
	if !strings.Contains(outage.RootCause, ns.String()) {
		t.Errorf("root cause %q does not name %s", outage.RootCause, ns)
	}
	ev := ""
	for _, l := range outage.Evidence {
		ev += l.Text + "\n"
	}
	t.Logf("root cause: %s\nevidence:\n%s", outage.RootCause, ev)
	for _, want := range []string{"peer 127.0.0.3 (AS65001)", "router edge1, peer 192.0.2.", "RIS rrc0"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence does not name %q:\n%s", want, ev)
		}
	}

	// Back at all three, then the BMP router's session goes.
	sp.Announce(ns.String(), 64500)
	for _, p := range bmpPeers {
		must(s.Announce(p, []uint32{p.ASN, 64500}, ns))
	}
	for _, p := range risPeers {
		risSend(p, []string{ns.String()}, nil)
	}
	waitUntil(t, 10*time.Second, "the /24 back at all six peers", func() bool {
		p, degraded := carriers()
		return len(p) == 6 && !degraded
	})
	s.Close()
	var lost []incident.Entry
	waitUntil(t, 20*time.Second, "feed_lost of the router", func() bool {
		v, _ := incidents(t, base)
		lost = nil
		for _, e := range v.Open {
			if e.Kind == model.IncidentFeedLost {
				lost = append(lost, e)
			}
		}
		return len(lost) > 0
	})
	time.Sleep(500 * time.Millisecond)
	v, _ := incidents(t, base)
	lost = lost[:0]
	for _, e := range v.Open {
		if e.Kind == model.IncidentFeedLost {
			lost = append(lost, e)
		}
	}
	if len(lost) != 1 || lost[0].Subject != "bmp router edge1" {
		t.Errorf("feed_lost incidents %+v, want one for bmp router edge1", lost)
	}
	p, degraded := carriers()
	if degraded || len(p) != 4 {
		t.Errorf("after the BMP session went: carriers %v, degraded %v; want the embedded and RIS peers' routes known", p, degraded)
	}
	for _, pe := range peersDoc().Peers {
		want := "up"
		if pe.Source == model.SourceBMP {
			want = "down"
		}
		if pe.State != want {
			t.Errorf("peer %s (%s) is %s, want %s", pe.Label, pe.Source, pe.State, want)
		}
	}
}

// TestBMPDeconfiguredViewLeavesStatus: a router reporting one of its
// peers de-configured (BMP Peer Down reason 5) makes reachmon forget the
// view: it leaves /api/v1/peers and /api/v1/status rather than staying
// there down.
func TestBMPDeconfiguredViewLeavesStatus(t *testing.T) {
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen, bmpListen := freeAddr(t), freeAddr(t)
	const router = "127.0.0.2"
	cfgText := outageConfig(t, listen, resolver.Addr, auth.Addr, `
[bgp]
initial_sync_timeout = "1s"
[bmp]
listen = "`+bmpListen+`"
[[bmp.router]]
address = "`+router+`"
name = "edge1"
`)
	cfgText = strings.Replace(cfgText, "[evaluate]\n", "[evaluate]\nstart_grace = \"100ms\"\npeer_grace = \"5s\"\n", 1)
	base := "http://" + listen
	stop := startDaemon(t, cfgText)
	defer stop()
	s := dialBMP(t, bmpListen, router)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ns := netip.MustParsePrefix("127.0.0.0/24")
	peers := []bmptest.Peer{{Addr: netip.MustParseAddr("192.0.2.1"), ASN: 64501}, {Addr: netip.MustParseAddr("192.0.2.2"), ASN: 64502}}
	must(s.Initiation("edge1.lab", "bmptest"))
	for _, p := range peers {
		must(s.PeerUp(p))
		must(s.Announce(p, []uint32{p.ASN, 64500}, ns))
		must(s.EndOfRIB(p))
	}
	statusPeers := func() []string {
		_, body := get(t, base+"/api/v1/status")
		var st evaluate.Status
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("/api/v1/status: %v\n%s", err, body)
		}
		var out []string
		for _, p := range st.BGP.Peers {
			out = append(out, p.Peer+"="+p.State)
		}
		return out
	}
	apiPeers := func() []string {
		_, body := get(t, base+"/api/v1/peers")
		var v bgp.PeersView
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("/api/v1/peers: %v\n%s", err, body)
		}
		var out []string
		for _, p := range v.Peers {
			out = append(out, p.Peer+"="+p.State)
		}
		return out
	}
	both := "bmp edge1 192.0.2.1=up,bmp edge1 192.0.2.2=up"
	waitUntil(t, 20*time.Second, "both views up in /api/v1/status", func() bool {
		return strings.Join(statusPeers(), ",") == both && strings.Join(apiPeers(), ",") == both
	})

	must(s.PeerDeconfigured(peers[1]))
	waitUntil(t, 20*time.Second, "the de-configured view gone from /api/v1/peers and /api/v1/status", func() bool {
		return strings.Join(statusPeers(), ",") == "bmp edge1 192.0.2.1=up" && strings.Join(apiPeers(), ",") == "bmp edge1 192.0.2.1=up"
	})
}
