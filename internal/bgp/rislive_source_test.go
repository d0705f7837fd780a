package bgp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/bgp/rislive/rislivetest"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

type risFeed struct {
	*testFeed
	ris *RISLive
	srv *rislivetest.Server
}

// startRISFeed runs a feed whose only source is RIS Live, connected to a
// local RIS Live server.
func startRISFeed(t *testing.T, w Watch, minPeers int) *risFeed {
	t.Helper()
	srv := rislivetest.New(t)
	ch := make(chan model.Event, 4096)
	reg := prometheus.NewRegistry()
	f, err := New(config.BGP{}, w, Options{Logger: testLogger(t), Registerer: reg, Events: ch})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.NewRISLive(config.RISLive{URL: srv.URL(), Client: "reachmon-test", MinPeers: minPeers,
		MinBackoff: config.Duration{Duration: 10 * time.Millisecond}, MaxBackoff: config.Duration{Duration: 50 * time.Millisecond},
		PingInterval: config.Duration{Duration: time.Second}}, RISLiveOptions{Logger: testLogger(t), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Enabled() {
		t.Fatal("the feed is not enabled with RIS Live as its only source")
	}
	ctx, cancel := context.WithCancel(context.Background())
	tf := &testFeed{Feed: f, reg: reg, ev: collect(ctx, ch), cancel: cancel, done: make(chan error, 1)}
	risDone := make(chan error, 1)
	go func() { tf.done <- f.Run(ctx) }()
	go func() { risDone <- r.Run(ctx) }()
	t.Cleanup(func() {
		tf.stop(t)
		select {
		case <-risDone:
		case <-time.After(10 * time.Second):
			t.Error("RISLive.Run did not return within 10s of cancel")
		}
	})
	return &risFeed{testFeed: tf, ris: r, srv: srv}
}

type risSub struct {
	Prefix       string `json:"prefix"`
	MoreSpecific bool   `json:"moreSpecific"`
	LessSpecific bool   `json:"lessSpecific"`
	Type         string `json:"type"`
}

func (rf *risFeed) subscribed(t *testing.T, n int) map[string]risSub {
	t.Helper()
	out := map[string]risSub{}
	for range n {
		m := rf.srv.Next("ris_subscribe")
		var s risSub
		if err := json.Unmarshal(m.Data, &s); err != nil {
			t.Fatal(err)
		}
		out[s.Prefix] = s
	}
	return out
}

// risPeers are n RIS peer views over two collectors.
type risPeerT struct {
	host, addr string
	asn        uint32
}

func risPeerSet(n int) []risPeerT {
	var out []risPeerT
	for i := range n {
		out = append(out, risPeerT{fmt.Sprintf("rrc%02d", i%2), fmt.Sprintf("192.0.2.%d", i+1), uint32(64510 + i)})
	}
	return out
}

func (p risPeerT) key() string { return "ris " + p.host + " " + p.addr }

func (p risPeerT) announce(ts float64, origin uint32, prefixes ...string) string {
	return rislivetest.Update(ts, p.host, p.addr, p.asn, []uint32{p.asn, 3356, origin}, p.addr, prefixes, nil)
}

func (p risPeerT) withdraw(ts float64, prefixes ...string) string {
	return rislivetest.Update(ts, p.host, p.addr, p.asn, nil, "", nil, prefixes)
}

func countRoutes(evs []model.Event, kind model.RouteEventKind, prefix string) int {
	n := 0
	for _, e := range evs {
		if r, ok := e.(model.RouteEvent); ok && r.Kind == kind && r.Prefix.String() == prefix {
			n++
		}
	}
	return n
}

// TestRISLiveWithdrawalQuorum: ten RIS peers carry a nameserver's
// prefix; one withdrawing it reaches nothing (held: one RIS peer's own
// routing); at the fifth of eight withdrawals the default quorum (half of
// the ten) is met and the state sees all of them. RIS peers are peers of
// source ris_live named "RIS rrcNN peer ADDR (ASN)"; discovery adds a
// subscription for a new nameserver address.
func TestRISLiveWithdrawalQuorum(t *testing.T) {
	ns := netip.MustParseAddr("198.51.100.53")
	rf := startRISFeed(t, Watch{
		Prefixes:    []model.WatchedPrefix{wp("198.51.100.0/24", 64496)},
		Nameservers: map[string][]netip.Addr{"example.com.": {ns}},
	}, 0)
	conn := rf.srv.Conn()
	subs := rf.subscribed(t, 2)
	if s := subs["198.51.100.0/24"]; !s.MoreSpecific || s.Type != "UPDATE" {
		t.Errorf("prefix subscription %+v", s)
	}
	if s := subs["198.51.100.53/32"]; !s.LessSpecific || s.MoreSpecific {
		t.Errorf("nameserver subscription %+v", s)
	}
	// Discovery finds another nameserver address: subscribed on the live
	// connection.
	if err := rf.SetNameserverAddrs("example.com.", []netip.Addr{ns, netip.MustParseAddr("203.0.113.53")}); err != nil {
		t.Fatal(err)
	}
	if s := rf.subscribed(t, 1); !s["203.0.113.53/32"].LessSpecific {
		t.Errorf("after discovery: %+v", s)
	}

	peers := risPeerSet(10)
	ts := float64(time.Now().Unix())
	for _, p := range peers {
		conn.Send(p.announce(ts, 64496, "198.51.100.0/24"))
	}
	// Not watched: dropped where parsed.
	conn.Send(peers[0].announce(ts, 64496, "192.0.2.0/24"))
	i := 0
	for n := 0; n < 10; {
		var ev model.Event
		i, ev = rf.ev.wait(t, i, evTimeout, "announcements", isRoute(model.RouteAnnounce, "198.51.100.0/24"))
		i++
		n++
		_ = ev
	}
	var label string
	for _, e := range rf.ev.all() {
		if pe, ok := e.(model.PeerEvent); ok && pe.Peer == peers[3].key() && pe.Kind == model.PeerUp {
			label = pe.Label
			if pe.Source != model.SourceRISLive || pe.Feed != config.RISLiveFeed || pe.PeerASN != 64513 {
				t.Errorf("RIS peer event %+v", pe)
			}
		}
		if r, ok := e.(model.RouteEvent); ok && r.Prefix.String() == "192.0.2.0/24" {
			t.Errorf("an unwatched prefix reached the state: %+v", r)
		}
	}
	if label != "RIS rrc01 peer 192.0.2.4 (AS64513)" {
		t.Errorf("label %q", label)
	}

	// One RIS peer withdraws, then another peer's unrelated update marks
	// the point the withdrawal would have passed.
	conn.Send(peers[0].withdraw(ts+1, "198.51.100.0/24"))
	conn.Send(peers[9].announce(ts+1, 64496, "198.51.100.128/25"))
	i, _ = rf.ev.wait(t, i, evTimeout, "the marker", isRoute(model.RouteMoreSpecific, "198.51.100.128/25"))
	if n := countRoutes(rf.ev.all(), model.RouteWithdraw, "198.51.100.0/24"); n != 0 {
		t.Fatalf("%d withdrawals reached the state after one RIS peer of ten withdrew", n)
	}
	// Seven more: the quorum (5 of 10) is met at the fifth, all pass.
	for _, p := range peers[1:8] {
		conn.Send(p.withdraw(ts+2, "198.51.100.0/24"))
	}
	rf.eventually(t, "eight withdrawals", func() bool {
		return countRoutes(rf.ev.all(), model.RouteWithdraw, "198.51.100.0/24") == 8
	})
	if r := rf.route(t, "198.51.100.0/24"); r == nil || len(r.Paths) != 2 {
		t.Errorf("route after the withdrawals: %+v, want the /24 at the 2 RIS peers still carrying it", r)
	}
	if st := rf.ris.Status(); !st.Connected || st.Subscriptions != 3 {
		t.Errorf("status %+v", st)
	}
}

// route is the routes view's entry of prefix (nil: none).
func (rf *risFeed) route(t *testing.T, prefix string) *model.BGPRoute {
	t.Helper()
	v, err := rf.Routes(prefix)
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.Routes {
		if v.Routes[i].Prefix.String() == prefix {
			return &v.Routes[i]
		}
	}
	return nil
}

func (rf *risFeed) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually(t, evTimeout, what, cond)
}

// TestRISLiveMoreSpecificHijack: a more-specific of a watched prefix from
// another origin seen at several RIS peers reaches the state as the
// embedded peers' would: a more_specific route event with the unexpected
// origin, and a cover event for the nameserver address it now covers.
func TestRISLiveMoreSpecificHijack(t *testing.T) {
	ns := netip.MustParseAddr("198.51.100.53")
	rf := startRISFeed(t, Watch{
		Prefixes:    []model.WatchedPrefix{wp("198.51.100.0/24", 64496)},
		Nameservers: map[string][]netip.Addr{"example.com.": {ns}},
	}, 0)
	conn := rf.srv.Conn()
	rf.subscribed(t, 2)
	ts := float64(time.Now().Unix())
	peers := risPeerSet(6)
	for _, p := range peers {
		conn.Send(p.announce(ts, 64496, "198.51.100.0/24"))
	}
	rf.eventually(t, "the /24 at six peers", func() bool {
		return countRoutes(rf.ev.all(), model.RouteAnnounce, "198.51.100.0/24") == 6
	})
	for _, p := range peers[:4] {
		conn.Send(p.announce(ts+1, 64666, "198.51.100.0/25"))
	}
	_, ev := rf.ev.wait(t, 0, evTimeout, "the more-specific", isRoute(model.RouteMoreSpecific, "198.51.100.0/25"))
	if r := ev.(model.RouteEvent); !r.UnexpectedOrigin || r.Origin != 64666 || r.Watched != netip.MustParsePrefix("198.51.100.0/24") {
		t.Errorf("more-specific event %+v", r)
	}
	_, ev = rf.ev.wait(t, 0, evTimeout, "the cover", isCover(model.CoverMoreSpecific, "198.51.100.53"))
	if c := ev.(model.CoverEvent); !c.UnexpectedOrigin || c.Current == nil || c.Current.Prefix != netip.MustParsePrefix("198.51.100.0/25") {
		t.Errorf("cover event %+v", c)
	}
	rf.eventually(t, "the /25 at four peers", func() bool {
		r := rf.route(t, "198.51.100.0/25")
		return r != nil && len(r.Paths) == 4 && slices.Equal(r.Origins, []uint32{64666})
	})
}

// TestRISLiveReconnectKeepsRoutesUnknownNotWithdrawn: the server drops
// the connection: the RIS Live feed and its peers go down (routes
// unknown, not withdrawn); on reconnection the peers come back with the
// routes they were last known to carry (a withdrawal held below the
// quorum included), and no withdrawal is reported.
func TestRISLiveReconnectKeepsRoutesUnknownNotWithdrawn(t *testing.T) {
	rf := startRISFeed(t, Watch{Prefixes: []model.WatchedPrefix{wp("198.51.100.0/24", 64496)}}, 0)
	conn := rf.srv.Conn()
	rf.subscribed(t, 1)
	ts := float64(time.Now().Unix())
	peers := risPeerSet(3)
	for _, p := range peers {
		conn.Send(p.announce(ts, 64496, "198.51.100.0/24"))
	}
	rf.eventually(t, "three announcements", func() bool {
		return countRoutes(rf.ev.all(), model.RouteAnnounce, "198.51.100.0/24") == 3
	})
	// One withdraws (held: 1 of 3 is below the quorum of 2) before the
	// connection goes.
	conn.Send(peers[2].withdraw(ts+1, "198.51.100.0/24"))
	conn.Send(peers[0].announce(ts+1, 64496, "198.51.100.128/25"))
	rf.ev.wait(t, 0, evTimeout, "the marker", isRoute(model.RouteMoreSpecific, "198.51.100.128/25"))
	conn.WS.CloseNow()
	i, ev := rf.ev.wait(t, 0, evTimeout, "the feed down", func(e model.Event) bool { f, ok := e.(model.FeedEvent); return ok && !f.Up })
	if fe := ev.(model.FeedEvent); fe.Feed != config.RISLiveFeed || fe.Source != model.SourceRISLive || !strings.Contains(fe.Label, "127.0.0.1") {
		t.Errorf("feed event %+v", fe)
	}
	rf.ev.wait(t, i, evTimeout, "a RIS peer down", isPeer(model.PeerDown, peers[0].key()))
	conn = rf.srv.Conn() // reconnected (bounded by Conn's 10s)
	rf.subscribed(t, 1)
	rf.ev.wait(t, i, evTimeout, "the feed up again", func(e model.Event) bool { f, ok := e.(model.FeedEvent); return ok && f.Up })
	rf.eventually(t, "the three peers synced again with their route", func() bool {
		r := rf.route(t, "198.51.100.0/24")
		return r != nil && len(r.Paths) == 3
	})
	if n := countRoutes(rf.ev.all(), model.RouteWithdraw, "198.51.100.0/24"); n != 0 {
		t.Errorf("%d withdrawals reported across a reconnect", n)
	}
	_ = conn
}
