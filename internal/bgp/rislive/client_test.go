package rislive

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/bgp/rislive/rislivetest"
)

type harness struct {
	f       *rislivetest.Server
	c       *Client
	reg     *prometheus.Registry
	updates chan Update
	mu      sync.Mutex
	conns   []bool
}

func startClient(t *testing.T, prefixes []netip.Prefix, addrs []netip.Addr) *harness {
	t.Helper()
	h := &harness{f: rislivetest.New(t), reg: prometheus.NewRegistry(), updates: make(chan Update, 1024)}
	c, err := New(Config{URL: h.f.URL(), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		PingInterval: 100 * time.Millisecond}, Options{
		Registerer: h.reg,
		OnUpdate:   func(u Update) { h.updates <- u },
		OnConnection: func(up bool) {
			h.mu.Lock()
			h.conns = append(h.conns, up)
			h.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	c.SetWatch(prefixes, addrs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context's end")
		}
	})
	return h
}

// subscription decodes a client ris_(un)subscribe message's data.
func subscription(t *testing.T, m rislivetest.ClientMessage) subscribeData {
	t.Helper()
	var d subscribeData
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("%s data %s: %v", m.Type, m.Data, err)
	}
	return d
}

// waitFor polls cond (bounded: 10s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (h *harness) update(t *testing.T) Update {
	t.Helper()
	select {
	case u := <-h.updates:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no update delivered within 10s")
		return Update{}
	}
}

func TestClientSubscribesAndFollowsTheWatchedSet(t *testing.T) {
	ns := netip.MustParsePrefix("198.51.100.0/24")
	addr := netip.MustParseAddr("192.0.2.53")
	h := startClient(t, []netip.Prefix{ns}, []netip.Addr{addr})
	h.f.Conn()
	if q := <-h.f.Query; q != "client=reachmon" {
		t.Errorf("query %q, want client=reachmon", q)
	}
	got := map[string]subscribeData{}
	for range 2 {
		d := subscription(t, h.f.Next("ris_subscribe"))
		got[d.Prefix] = d
	}
	if d := got["198.51.100.0/24"]; !d.MoreSpecific || d.LessSpecific || d.Type != "UPDATE" || !d.SocketOptions.Acknowledge {
		t.Errorf("prefix subscription %+v, want UPDATE with moreSpecific", d)
	}
	if d := got["192.0.2.53/32"]; d.MoreSpecific || !d.LessSpecific || d.Type != "UPDATE" {
		t.Errorf("address subscription %+v, want UPDATE of the host prefix with lessSpecific", d)
	}
	waitFor(t, "connected gauge", func() bool { return testutil.ToFloat64(h.c.m.connected) == 1 })

	// Discovery adds a prefix and drops the address.
	added := netip.MustParsePrefix("2001:db8::/32")
	h.c.SetWatch([]netip.Prefix{ns, added}, nil)
	un := subscription(t, h.f.Next("ris_unsubscribe"))
	if un.Prefix != "192.0.2.53/32" || !un.LessSpecific {
		t.Errorf("unsubscribed %+v, want the address's filter", un)
	}
	sub := subscription(t, h.f.Next("ris_subscribe"))
	if sub.Prefix != "2001:db8::/32" || !sub.MoreSpecific {
		t.Errorf("subscribed %+v, want the new prefix with its more-specifics", sub)
	}
	if n := testutil.ToFloat64(h.c.m.subscriptions); n != 2 {
		t.Errorf("reachmon_ris_live_subscriptions %v, want 2", n)
	}
	waitFor(t, "subscribe acknowledgements counted", func() bool {
		return testutil.ToFloat64(h.c.m.messages.WithLabelValues(TypeSubscribeOK)) == 3
	})
}

func TestClientUpdatesErrorsAndPings(t *testing.T) {
	h := startClient(t, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, nil)
	fc := h.f.Conn()
	h.f.Next("ris_subscribe")

	// RIS Live pings: the client sends them, the server's pongs count.
	h.f.Next("ping")
	waitFor(t, "a pong counted", func() bool { return testutil.ToFloat64(h.c.m.messages.WithLabelValues(TypePong)) >= 1 })

	// A websocket-level ping from the server is answered while reading.
	pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	fc.WMu.Lock()
	err := fc.WS.Ping(pctx)
	fc.WMu.Unlock()
	cancel()
	if err != nil {
		t.Errorf("websocket ping not answered: %v", err)
	}

	ts := float64(time.Now().Add(-2*time.Second).UnixMilli()) / 1000
	fc.Send(rislivetest.Update(ts, "rrc00", "192.0.2.1", 64500, []uint32{64500, 64496}, "192.0.2.1", []string{"198.51.100.0/24"}, nil))
	u := h.update(t)
	if u.Host != "rrc00" || u.Peer != netip.MustParseAddr("192.0.2.1") || u.PeerASN != 64500 || u.Origin != 64496 ||
		len(u.Announced) != 1 || u.Announced[0].Prefix != netip.MustParsePrefix("198.51.100.0/24") {
		t.Errorf("update %+v", u)
	}
	if lag := testutil.ToFloat64(h.c.m.lag); lag < 1.5 {
		t.Errorf("reachmon_ris_live_lag_seconds %v, want about 2 (the message is 2s old)", lag)
	}

	// ris_error: logged, kept in the status, counted; the connection stays.
	fc.Send(`{"type":"ris_error","data":{"message":"Invalid prefix filter"}}`)
	waitFor(t, "the ris_error in the status", func() bool { return h.c.Status().LastRISError == "Invalid prefix filter" })
	if n := testutil.ToFloat64(h.c.m.messages.WithLabelValues(TypeError)); n != 1 {
		t.Errorf("ris_error counted %v times", n)
	}
	// A malformed message is refused and counted; later ones still arrive.
	fc.Send(`{"type":"ris_message","data":{"type":"UPDATE","peer":"nope"}}`)
	fc.Send(rislivetest.Update(ts, "rrc01", "192.0.2.2", 64501, []uint32{64501}, "192.0.2.2", nil, []string{"198.51.100.0/24"}))
	if u := h.update(t); u.Host != "rrc01" || len(u.Withdrawn) != 1 {
		t.Errorf("update after the malformed one: %+v", u)
	}
	if n := testutil.ToFloat64(h.c.m.messages.WithLabelValues("invalid")); n != 1 {
		t.Errorf("invalid messages %v, want 1", n)
	}
	if st := h.c.Status(); !st.Connected || st.Reconnects != 0 {
		t.Errorf("status %+v: the connection should have stayed", st)
	}
}

func TestClientReconnectsAfterTheServerDrops(t *testing.T) {
	h := startClient(t, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, []netip.Addr{netip.MustParseAddr("192.0.2.53")})
	fc := h.f.Conn()
	h.f.Next("ris_subscribe")
	h.f.Next("ris_subscribe")
	fc.WS.Close(websocket.StatusGoingAway, "server restart")

	h.f.Conn() // bounded: the fake's conn() fails the test after 10s
	got := map[string]bool{}
	for range 2 {
		got[subscription(t, h.f.Next("ris_subscribe")).Prefix] = true
	}
	if !got["198.51.100.0/24"] || !got["192.0.2.53/32"] {
		t.Errorf("resubscribed %v, want both filters again", got)
	}
	waitFor(t, "a reconnect counted", func() bool { return testutil.ToFloat64(h.c.m.reconnects) >= 1 })
	waitFor(t, "connected again", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.conns) >= 3
	})
	h.mu.Lock()
	conns := append([]bool(nil), h.conns...)
	h.mu.Unlock()
	if len(conns) < 3 || !conns[0] || conns[1] || !conns[2] {
		t.Errorf("connection callbacks %v, want up, down, up", conns)
	}
	if e := h.c.Status().LastError; !strings.Contains(e, "reading") {
		t.Errorf("last error %q, want the read failure", e)
	}
}

func TestClientBackoffIsBounded(t *testing.T) {
	for range 100 {
		for _, d := range []time.Duration{10 * time.Millisecond, time.Second, 2 * time.Minute} {
			if j := jitter(d); j < d/2 || j > d {
				t.Fatalf("jitter(%v) = %v, outside [%v, %v]", d, j, d/2, d)
			}
		}
	}
	// Refused connections: the client keeps retrying, waits growing to the
	// bound, until its context ends.
	c, err := New(Config{URL: "ws://127.0.0.1:1/v1/ws/", MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}, Options{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := c.Run(ctx); err != context.DeadlineExceeded {
		t.Errorf("Run: %v", err)
	}
	if n := testutil.ToFloat64(c.m.reconnects); n < 2 {
		t.Errorf("%v reconnects in 300ms with a 4ms bound", n)
	}
	if st := c.Status(); st.Connected || !strings.Contains(st.LastError, "connecting to ws://127.0.0.1:1/v1/ws/") {
		t.Errorf("status %+v", st)
	}
}

func TestNewRefusesBadURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1/", "://", "ftp://x"} {
		if _, err := New(Config{URL: u}, Options{}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	c, err := New(Config{URL: "wss://ris-live.ripe.net/v1/ws/?client=other"}, Options{})
	if err != nil || c.URL() != "wss://ris-live.ripe.net/v1/ws/?client=other" {
		t.Errorf("URL %q, %v: a given client is kept", c.URL(), err)
	}
}

// TestClientReplacesAStaleConnection: a server that stays connected but
// sends nothing (not even pongs) is left after three ping intervals.
func TestClientReplacesAStaleConnection(t *testing.T) {
	h := startClient(t, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, nil)
	h.f.Mute(true)
	h.f.Conn()
	h.f.Next("ris_subscribe")
	h.f.Next("ping")
	h.f.Conn() // the replacement (bounded by Conn's 10s)
	waitFor(t, "the stale connection's error", func() bool {
		return strings.Contains(h.c.Status().LastError, "connection stale")
	})
	if n := testutil.ToFloat64(h.c.m.reconnects); n < 1 {
		t.Errorf("reconnects %v", n)
	}
}
