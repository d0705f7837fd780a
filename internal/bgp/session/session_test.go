package session

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// TestActiveSessionRoutes: reachmon connects to a passive GoBGP, which
// sends watched and unwatched IPv4 and IPv6 routes; only the watched ones
// reach the state, every one is counted, End-of-RIB syncs the peer, and
// withdrawals (IPv4 withdrawn routes and MP_UNREACH) remove them.
func TestActiveSessionRoutes(t *testing.T) {
	g := startGoBGP(t, "127.0.0.2", speakerOpts{})
	g.announce([]uint32{64500}, "198.18.1.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8:100::/48", "2001:db8:999::/48")
	n := g.neighbor()
	n.Description = "edge"
	l := startLab(t, config.BGP{Neighbor: []config.Neighbor{n}})
	key := "127.0.0.2"
	l.established(key)
	l.synced(key)
	if ev := l.events(model.PeerSynced); len(ev) != 1 || !ev[0].ByEndOfRIB {
		t.Fatalf("synced events %+v, want one by End-of-RIB", ev)
	}
	want := map[string][]uint32{"198.18.1.0/24": {64500, 64500}, "198.51.100.0/24": {64500, 64500}, "2001:db8:100::/48": {64500, 64500}}
	l.waitUntil("watched routes", func() bool { return len(l.paths(key)) == 3 })
	for p, path := range want {
		if got := l.paths(key)[p]; !slices.Equal(got, path) {
			t.Errorf("%s: AS path %v, want %v", p, got, path)
		}
	}
	st := l.status(key)
	if st.Mode != "full_table" || st.Received[4] != 3 || st.Received[6] != 2 || !st.RouteRefresh || st.RouterID != "127.0.0.2" ||
		st.HoldTime != 9*time.Second || st.Uptime <= 0 || !slices.Equal(st.Families, []int{4, 6}) {
		t.Errorf("status %+v", st)
	}
	if p := l.peer(key); p.Source != model.SourceBGP || p.Label != "" || p.Feed != "" || p.PeerASN != 64500 || p.Description != "edge" {
		t.Errorf("peer %+v: want an embedded-like peer", p)
	}
	v := l.mgr.Annotate(l.feed.PeersView())
	if len(v.Peers) != 1 || v.Peers[0].Session == nil || v.Peers[0].Session.Mode != "full_table" ||
		v.Peers[0].Session.ReceivedPrefixes["ipv4-unicast"] != 3 || v.Peers[0].Session.ReceivedPrefixes["ipv6-unicast"] != 2 ||
		v.Peers[0].Session.State != "established" || v.Peers[0].Session.HoldTimeSeconds != 9 {
		t.Errorf("peers document %+v", v.Peers)
	}
	g.withdraw("198.18.1.0/24", "2001:db8:100::/48", "203.0.113.0/24")
	l.waitUntil("withdrawals", func() bool { return len(l.paths(key)) == 1 })
	l.waitUntil("received counts", func() bool {
		st := l.status(key)
		return st.Received[4] == 1 && st.Received[6] == 1
	})
}

// TestPassiveSession: GoBGP connects to the Manager's listener; a
// connection from an address that is no full_table neighbor is refused.
func TestPassiveSession(t *testing.T) {
	port := freePort(t, localAddr)
	n := config.Neighbor{Address: "127.0.0.3", PeerASN: 64500, Passive: true, FullTable: true,
		HoldTime: config.Duration{Duration: 9 * time.Second}, ConnectRetry: config.Duration{Duration: time.Second}}
	l := startLab(t, config.BGP{ListenPort: port, ListenAddresses: []string{localAddr}, Neighbor: []config.Neighbor{n}})
	if st := l.status("127.0.0.3"); st.State != StateActive && st.State != StateIdle {
		t.Errorf("passive neighbor before it connects: %s", st.State)
	}
	g := startGoBGP(t, "127.0.0.3", speakerOpts{active: true, peerPort: port})
	g.announce([]uint32{64500}, "198.18.7.0/24")
	l.established("127.0.0.3")
	l.waitUntil("route", func() bool { return len(l.paths("127.0.0.3")) == 1 })
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.44")}}
	c, err := d.Dial("tcp", l.mgr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a stranger's connection was answered")
	}
	l.waitUntil("refusal logged", func() bool { return l.logged("not a full_table neighbor") })
}

// TestPassiveSessionMD5: GoBGP connects to the Manager's listener with a
// TCP-MD5 password; the session comes up with the key on both sides, and
// a neighbor whose key differs never gets a session (its SYNs are
// dropped). Skipped where the kernel refuses TCP_MD5SIG (failed under
// CI=true).
func TestPassiveSessionMD5(t *testing.T) {
	needMD5(t)
	t.Setenv("SESSION_TEST_PW", "s3cret-md5")
	port := freePort(t, localAddr)
	good := config.Neighbor{Address: "127.0.0.3", PeerASN: 64500, Passive: true, FullTable: true, PasswordEnv: "SESSION_TEST_PW",
		HoldTime: config.Duration{Duration: 9 * time.Second}, ConnectRetry: config.Duration{Duration: time.Second}}
	bad := good
	bad.Address = "127.0.0.4"
	l := startLab(t, config.BGP{ListenPort: port, ListenAddresses: []string{localAddr}, Neighbor: []config.Neighbor{good, bad}})
	g := startGoBGP(t, "127.0.0.3", speakerOpts{active: true, peerPort: port, password: "s3cret-md5"})
	startGoBGP(t, "127.0.0.4", speakerOpts{active: true, peerPort: port, password: "wrong"})
	g.announce([]uint32{64500}, "198.18.7.0/24")
	l.established("127.0.0.3")
	l.waitUntil("route over the MD5 session", func() bool { return len(l.paths("127.0.0.3")) == 1 })
	time.Sleep(2 * time.Second)
	if st := l.status("127.0.0.4"); st.State == StateEstablished || st.State == StateOpenSent {
		t.Fatalf("neighbor with the wrong TCP-MD5 key reached %s", st.State)
	}
}

// TestActiveSessionMD5: reachmon connects with the key set on its
// socket. Skipped where the kernel refuses TCP_MD5SIG (failed under
// CI=true).
func TestActiveSessionMD5(t *testing.T) {
	needMD5(t)
	t.Setenv("SESSION_TEST_PW", "s3cret-md5")
	g := startGoBGP(t, "127.0.0.2", speakerOpts{password: "s3cret-md5"})
	n := g.neighbor()
	n.PasswordEnv = "SESSION_TEST_PW"
	l := startLab(t, config.BGP{Neighbor: []config.Neighbor{n}})
	l.established("127.0.0.2")
}

// TestHoldTimerExpiry: a peer that stops sending anything is cut after
// the negotiated hold time (min of 3 s and the peer's 20 s) with a
// NOTIFICATION Hold Timer Expired, and its peer goes down with the
// reason an embedded session's loss has ("").
func TestHoldTimerExpiry(t *testing.T) {
	r := startRaw(t, "127.0.0.5")
	l := startLab(t, config.BGP{Neighbor: []config.Neighbor{r.neighbor(64500)}})
	r.accept()
	r.handshake(64500, 20, true)
	r.send(update([]uint32{64500}, "198.18.9.0/24"))
	l.established("127.0.0.5")
	l.waitUntil("route", func() bool { return len(l.paths("127.0.0.5")) == 1 })
	start := time.Now()
	m := r.until(bgp.BGP_MSG_NOTIFICATION) // keepalives are read and ignored; none is sent
	if code, _ := notification(m); code != bgp.BGP_ERROR_HOLD_TIMER_EXPIRED {
		t.Fatalf("notification code %d, want hold timer expired", code)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("cut after %s, want about the 3 s hold time", d)
	}
	l.waitUntil("peer down", func() bool { return l.peer("127.0.0.5").State == "down" })
	if ev := l.events(model.PeerDown); len(ev) != 1 || ev[0].Reason != "" || ev[0].Routes != 1 {
		t.Fatalf("down events %+v", ev)
	}
	if st := l.status("127.0.0.5"); st.LastError == "" || len(st.Received) != 0 {
		t.Errorf("status after hold expiry %+v", st)
	}
}

// TestMaxPrefixes: every prefix counts, watched or not, announcements
// minus withdrawals; one more than max_prefixes in a family cuts the
// session with Cease/Maximum Number of Prefixes Reached and reports the
// peer down with max_prefixes_exceeded, as the embedded speaker does.
func TestMaxPrefixes(t *testing.T) {
	r := startRaw(t, "127.0.0.6")
	n := r.neighbor(64500)
	n.MaxPrefixes = 3
	l := startLab(t, config.BGP{Neighbor: []config.Neighbor{n}})
	r.accept()
	r.handshake(64500, 90, true)
	r.send(update([]uint32{64500}, "198.18.1.0/24", "192.0.2.0/24", "203.0.113.0/24", "2001:db8:100::/48", "2001:db8:200::/48"))
	r.send(withdrawal("192.0.2.0/24"))
	r.send(update([]uint32{64500}, "198.18.1.0/24", "203.0.113.0/24")) // again: no new prefix
	r.send(update([]uint32{64500}, "192.0.2.128/25"))                  // 3 IPv4 again
	l.waitUntil("counts", func() bool { s := l.status("127.0.0.6"); return s.Received[4] == 3 && s.Received[6] == 2 })
	r.send(update([]uint32{64500}, "100.64.0.0/10")) // the fourth
	m := r.until(bgp.BGP_MSG_NOTIFICATION)
	if code, sub := notification(m); code != bgp.BGP_ERROR_CEASE || sub != bgp.BGP_ERROR_SUB_MAXIMUM_NUMBER_OF_PREFIXES_REACHED {
		t.Fatalf("notification %d/%d, want cease/max prefixes", code, sub)
	}
	l.waitUntil("peer down", func() bool { return l.peer("127.0.0.6").State == "down" })
	if ev := l.events(model.PeerDown); len(ev) != 1 || ev[0].Reason != "max_prefixes_exceeded" {
		t.Fatalf("down events %+v", ev)
	}
	l.waitUntil("the cut logged", func() bool { return l.logged("exceeded max_prefixes") })
}

func (l *lab) count(s string) int { return strings.Count(l.logs.String(), s) }

// TestCollision: GoBGP and reachmon both connect (reachmon also
// listens); collision detection keeps one session, by BGP identifier,
// and it stays up. Run with reachmon's identifier lower and higher than
// GoBGP's.
func TestCollision(t *testing.T) {
	for _, tc := range []struct {
		name, routerID string
	}{{"peer-wins", "10.0.0.1"}, {"reachmon-wins", "200.0.0.1"}} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t, localAddr)
			g := startGoBGP(t, "127.0.0.7", speakerOpts{active: true, listen: true, peerPort: port, routerID: "127.0.0.7"})
			n := g.neighbor()
			dummy := config.Neighbor{Address: "127.0.0.77", PeerASN: 64501, Passive: true, FullTable: true} // makes the Manager own the listener
			l := startLab(t, config.BGP{RouterID: tc.routerID, ListenPort: port, ListenAddresses: []string{localAddr}, Neighbor: []config.Neighbor{n, dummy}})
			g.announce([]uint32{64500}, "198.18.3.0/24")
			l.established("127.0.0.7")
			l.waitUntil("route", func() bool { return len(l.paths("127.0.0.7")) == 1 })
			time.Sleep(4 * time.Second) // several connect retries of both sides
			if st := l.status("127.0.0.7"); st.State != StateEstablished || st.Uptime < 4*time.Second {
				t.Fatalf("session not stable: %+v", st)
			}
			if n := l.count("bgp full_table session established"); n != 1 {
				t.Fatalf("%d sessions established, want 1", n)
			}
			if g.state() != api.PeerState_ESTABLISHED {
				t.Fatalf("GoBGP's side: %v", g.state())
			}
			t.Logf("collisions resolved: %d", l.count("connection collision"))
		})
	}
}

// TestRouteRefreshOnWidening: a route dropped as unwatched is asked for
// again with ROUTE-REFRESH once the watched set widens to cover it.
func TestRouteRefreshOnWidening(t *testing.T) {
	g := startGoBGP(t, "127.0.0.8", speakerOpts{})
	g.announce([]uint32{64500}, "198.18.1.0/24", "203.0.113.0/24")
	l := startLab(t, config.BGP{Neighbor: []config.Neighbor{g.neighbor()}})
	l.established("127.0.0.8")
	l.synced("127.0.0.8")
	if _, ok := l.paths("127.0.0.8")["203.0.113.0/24"]; ok {
		t.Fatal("unwatched route kept")
	}
	if err := l.feed.SetNameserverAddrs("example.com.", []netip.Addr{netip.MustParseAddr("198.51.100.53"), netip.MustParseAddr("203.0.113.53")}); err != nil {
		t.Fatal(err)
	}
	l.waitUntil("refreshed route", func() bool { _, ok := l.paths("127.0.0.8")["203.0.113.0/24"]; return ok })
	l.waitUntil("route refresh logged", func() bool { return l.logged("route refresh sent") })
	if n := l.count("bgp full_table session established"); n != 1 {
		t.Errorf("the session was reset (%d establishments)", n)
	}
}

// TestResetOnWideningWithoutRouteRefresh: a peer without route refresh
// is reset (Cease/Administrative Reset) when the watched set widens, and
// sends its table again on the new session.
func TestResetOnWideningWithoutRouteRefresh(t *testing.T) {
	r := startRaw(t, "127.0.0.9")
	l := startLab(t, config.BGP{Neighbor: []config.Neighbor{r.neighbor(64500)}})
	r.accept()
	r.handshake(64500, 90, false)
	r.send(update([]uint32{64500}, "203.0.113.0/24"))
	l.established("127.0.0.9")
	if err := l.feed.SetNameserverAddrs("example.com.", []netip.Addr{netip.MustParseAddr("203.0.113.53")}); err != nil {
		t.Fatal(err)
	}
	m := r.until(bgp.BGP_MSG_NOTIFICATION)
	if code, sub := notification(m); code != bgp.BGP_ERROR_CEASE || sub != bgp.BGP_ERROR_SUB_ADMINISTRATIVE_RESET {
		t.Fatalf("notification %d/%d, want cease/administrative reset", code, sub)
	}
	r.accept()
	r.handshake(64500, 90, false)
	r.send(update([]uint32{64500}, "203.0.113.0/24"))
	l.waitUntil("route after the reset", func() bool { _, ok := l.paths("127.0.0.9")["203.0.113.0/24"]; return ok })
	l.waitUntil("reset logged", func() bool { return l.logged("does not support route refresh") })
}

// TestMalformedUpdate: an UPDATE with a bad ORIGIN withdraws its routes
// (RFC 7606 treat-as-withdraw) and the session stays; an UPDATE whose
// NLRI cannot be parsed ends it with an UPDATE Message Error.
func TestMalformedUpdate(t *testing.T) {
	r := startRaw(t, "127.0.0.10")
	l := startLab(t, config.BGP{Neighbor: []config.Neighbor{r.neighbor(64500)}})
	r.accept()
	r.handshake(64500, 90, true)
	r.send(update([]uint32{64500}, "198.18.1.0/24", "198.18.2.0/24", "2001:db8:100::/48"))
	l.waitUntil("routes", func() bool { return len(l.paths("127.0.0.10")) == 3 })
	bad := update([]uint32{64500}, "198.18.1.0/24", "2001:db8:100::/48")
	bad.Body.(*bgp.BGPUpdate).PathAttributes[0] = bgp.NewPathAttributeOrigin(7)
	r.send(bad)
	l.waitUntil("treat-as-withdraw", func() bool { return len(l.paths("127.0.0.10")) == 1 })
	if st := l.status("127.0.0.10"); st.State != StateEstablished || st.Received[4] != 1 || st.Received[6] != 0 {
		t.Fatalf("after treat-as-withdraw: %+v", st)
	}
	// NLRI of length 33.
	b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, bgp.BGP_MSG_UPDATE,
		0, 0, 0, 0, 33, 10, 0, 0, 0, 1}
	b[17] = byte(len(b))
	r.sendBytes(b)
	m := r.until(bgp.BGP_MSG_NOTIFICATION)
	if code, _ := notification(m); code != bgp.BGP_ERROR_UPDATE_MESSAGE_ERROR {
		t.Fatalf("notification code %d, want UPDATE message error", code)
	}
	l.waitUntil("peer down", func() bool { return l.peer("127.0.0.10").State == "down" })
	l.waitUntil("errors logged", func() bool { return l.logged("UPDATE malformed") && l.logged("RFC 7606") })
}

// TestUpdatesThatCrashGoBGP: UPDATEs on which GoBGP v3.37.0's decoder
// panics (internal/bgp FuzzUpdateEvents found them): an MP_REACH_NLRI of
// 3 bytes (AFI and SAFI, no next-hop length), and an IPv6 FlowSpec NLRI in
// an MP_UNREACH_NLRI that runs past its end. In GoBGP's own session the
// panic ends the process; the full_table session ends with an UPDATE
// Message Error, forgets the peer's routes and takes the reconnection.
func TestUpdatesThatCrashGoBGP(t *testing.T) {
	r := startRaw(t, "127.0.0.10")
	l := startLab(t, config.BGP{Neighbor: []config.Neighbor{r.neighbor(64500)}})
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"MP_REACH_NLRI of 3 bytes", []byte{0, 0, 0, 6, 0x80, byte(bgp.BGP_ATTR_TYPE_MP_REACH_NLRI), 3, 0, 1, 1}},
		{"FlowSpec NLRI past the end of MP_UNREACH_NLRI", []byte{0, 0, 0, 13, 0x80, byte(bgp.BGP_ATTR_TYPE_MP_UNREACH_NLRI), 10,
			0, 2, 0x85, 0, 3, 13, 1, 0xb8, 0xe1, 1}},
	} {
		r.accept()
		r.handshake(64500, 90, true)
		r.send(update([]uint32{64500}, "198.18.1.0/24"))
		l.waitUntil(tc.name+": route", func() bool { return len(l.paths("127.0.0.10")) == 1 })
		b := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			0, byte(19 + len(tc.body)), bgp.BGP_MSG_UPDATE}, tc.body...)
		r.sendBytes(b)
		m := r.until(bgp.BGP_MSG_NOTIFICATION)
		if code, _ := notification(m); code != bgp.BGP_ERROR_UPDATE_MESSAGE_ERROR {
			t.Fatalf("%s: notification code %d, want UPDATE message error", tc.name, code)
		}
		l.waitUntil(tc.name+": peer down", func() bool { return l.peer("127.0.0.10").State == "down" })
		l.waitUntil(tc.name+": route gone", func() bool { return len(l.paths("127.0.0.10")) == 0 })
	}
	if !l.logged("UPDATE could not be parsed") {
		t.Error("the decoder's failure is not logged")
	}
	r.accept()
	r.handshake(64500, 90, true)
	r.send(update([]uint32{64500}, "198.18.1.0/24"))
	l.waitUntil("route after reconnecting", func() bool { return len(l.paths("127.0.0.10")) == 1 })
}

// TestReconfigure: a reload adds and removes full_table neighbors; a
// changed description keeps the session, a changed hold time resets it.
func TestReconfigure(t *testing.T) {
	g1 := startGoBGP(t, "127.0.0.11", speakerOpts{})
	g2 := startGoBGP(t, "127.0.0.12", speakerOpts{})
	cfg := config.BGP{ASN: localASN, RouterID: "10.0.0.1", Neighbor: []config.Neighbor{g1.neighbor()}}
	l := startLab(t, cfg)
	l.established("127.0.0.11")
	n1 := g1.neighbor()
	n1.Description = "renamed"
	cfg.Neighbor = []config.Neighbor{n1, g2.neighbor()}
	if err := l.mgr.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	l.established("127.0.0.12")
	l.waitUntil("description", func() bool { return l.peer("127.0.0.11").Description == "renamed" })
	if n := l.count("bgp full_table session established"); n != 2 {
		t.Fatalf("%d establishments, want 2 (the description change must not reset)", n)
	}
	n1.HoldTime = config.Duration{Duration: 6 * time.Second}
	cfg.Neighbor = []config.Neighbor{n1}
	if err := l.mgr.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	l.waitUntil("127.0.0.12 removed", func() bool { return l.peer("127.0.0.12").Peer == "" })
	l.waitUntil("127.0.0.11 reset with the new hold time", func() bool {
		st := l.status("127.0.0.11")
		return st.State == StateEstablished && st.HoldTime == 6*time.Second
	})
	if len(l.mgr.Status()) != 1 {
		t.Errorf("status %+v", l.mgr.Status())
	}
	cfg.Neighbor[0].PasswordEnv = "SESSION_TEST_UNSET_VAR"
	if err := l.mgr.Reconfigure(cfg); err == nil || !strings.Contains(err.Error(), "127.0.0.11") {
		t.Errorf("reload with an unreadable password: %v", err)
	}
}

// TestCollisionDetection drives a collision: the peer (BGP identifier
// 127.0.0.13) has reachmon's connection in OpenSent and opens one of its
// own; the connection opened by the side with the higher identifier
// stays, the other is closed with Cease/Connection Collision Resolution.
func TestCollisionDetection(t *testing.T) {
	for _, tc := range []struct {
		name, routerID string
		reachmonWins   bool
	}{{"peer-wins", "10.0.0.1", false}, {"reachmon-wins", "200.0.0.1", true}} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t, localAddr)
			r := startRaw(t, "127.0.0.13")
			n := r.neighbor(64500)
			n.HoldTime = config.Duration{Duration: 30 * time.Second}
			dummy := config.Neighbor{Address: "127.0.0.77", PeerASN: 64501, Passive: true, FullTable: true}
			l := startLab(t, config.BGP{RouterID: tc.routerID, ListenPort: port, ListenAddresses: []string{localAddr}, Neighbor: []config.Neighbor{n, dummy}})
			r.accept() // reachmon's connection: A
			if m := r.next(); m.Header.Type != bgp.BGP_MSG_OPEN {
				t.Fatalf("A: type %d, want OPEN", m.Header.Type)
			}
			b := r.dial(l.mgr.Addr().String()) // the peer's connection: B
			if m := b.next(); m.Header.Type != bgp.BGP_MSG_OPEN {
				t.Fatalf("B: type %d, want OPEN", m.Header.Type)
			}
			b.sendOpen(64500, 30)
			m := b.next()
			if tc.reachmonWins {
				if code, sub := notification(m); m.Header.Type != bgp.BGP_MSG_NOTIFICATION || code != bgp.BGP_ERROR_CEASE || sub != bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION {
					t.Fatalf("B: %+v, want cease/collision", m)
				}
				r.sendOpen(64500, 30)
				r.send(bgp.NewBGPKeepAliveMessage())
				if m := r.until(bgp.BGP_MSG_KEEPALIVE); m == nil {
					t.Fatal("A: no keepalive")
				}
			} else {
				if m.Header.Type != bgp.BGP_MSG_KEEPALIVE {
					t.Fatalf("B: type %d, want KEEPALIVE", m.Header.Type)
				}
				if m := r.next(); m.Header.Type != bgp.BGP_MSG_NOTIFICATION {
					t.Fatalf("A: type %d, want NOTIFICATION", m.Header.Type)
				} else if code, sub := notification(m); code != bgp.BGP_ERROR_CEASE || sub != bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION {
					t.Fatalf("A: notification %d/%d, want cease/collision", code, sub)
				}
				b.send(bgp.NewBGPKeepAliveMessage())
			}
			l.established("127.0.0.13")
			// The losing connection is logged after its NOTIFICATION is sent.
			l.waitUntil("collision logged", func() bool { return l.logged("connection collision resolved by BGP identifier") })
		})
	}
}

// TestGate: with a gate, the Manager neither connects nor listens until
// it is closed.
func TestGate(t *testing.T) {
	g := startGoBGP(t, "127.0.0.14", speakerOpts{})
	gate := make(chan struct{})
	l := startLabGated(t, config.BGP{Neighbor: []config.Neighbor{g.neighbor()}}, gate)
	time.Sleep(1500 * time.Millisecond)
	if st := g.state(); st == api.PeerState_ESTABLISHED || st == api.PeerState_OPENSENT || st == api.PeerState_OPENCONFIRM {
		t.Fatalf("a session before the gate opened: %v", st)
	}
	close(gate)
	l.established("127.0.0.14")
}

// TestIPv6Transport: a session over IPv6 (::1 both ends), with the hop
// limit of a directly connected eBGP peer set on the IPv6 socket.
func TestIPv6Transport(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	g := startGoBGP(t, "::1", speakerOpts{peer: "::1"})
	g.announce([]uint32{64500}, "2001:db8:100::/48", "198.18.1.0/24")
	n := g.neighbor()
	n.LocalAddress = "::1"
	l := startLab(t, config.BGP{Neighbor: []config.Neighbor{n}})
	l.established("::1")
	l.waitUntil("routes over IPv6 transport", func() bool { return len(l.paths("::1")) == 2 })
}
