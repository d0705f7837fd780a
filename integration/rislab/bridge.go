// Package rislab is a RIS Live stand-in fed by real BGP, for the outage
// lab (issue 16): an in-test GoBGP speaker peers with the lab's BIRD
// routers (in reachmon's place, from its address and AS) and a local
// websocket server speaking RIS Live's message shapes serves what they
// announce as N synthetic RIS peers spread over the collectors rrc00 and
// rrc01. RIS peer j follows BIRD peer j mod len(BIRD peers): every
// announcement or withdrawal that BIRD peer sends becomes a ris_message
// UPDATE from each RIS peer following it (path: the RIS peer's AS, then
// the path BIRD sent), sent to each client whose ris_subscribe filters
// match the prefix. RIS Live streams changes only; the bridge sends, at
// each ris_subscribe, the routes its RIS peers carry that match the new
// filter as announcements, as the real service would show them at their
// next change.
//
// GoBGP's and the websocket library's types stay inside this package.
package rislab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/reachmon/reachmon/internal/bgp/rislive/rislivetest"
)

// BIRDPeer is one lab router the bridge peers with (it connects to it).
type BIRDPeer struct {
	Addr netip.Addr
	ASN  uint32
}

// Config of Start.
type Config struct {
	// LocalAddr and LocalASN are the bridge speaker's address and AS (the
	// lab routers' configured neighbor).
	LocalAddr netip.Addr
	LocalASN  uint32
	// Peers are the lab routers.
	Peers []BIRDPeer
	// RISPeers is how many synthetic RIS peers serve the routes (at least
	// one).
	RISPeers int
}

// RISPeer is one synthetic RIS peer: a peer of collector Host.
type RISPeer struct {
	Host string
	Addr netip.Addr
	ASN  uint32
	// Follows is the index of the BIRD peer whose routes it carries.
	Follows int
}

// Description is how reachmon names the RIS peer in evidence.
func (p RISPeer) Description() string {
	return fmt.Sprintf("RIS %s peer %s (AS%d)", p.Host, p.Addr, p.ASN)
}

// Bridge is a running bridge.
type Bridge struct {
	t     testing.TB
	cfg   Config
	s     *server.BgpServer
	srv   *httptest.Server
	peers map[netip.Addr]int

	// RISPeers are the synthetic RIS peers.
	RISPeers []RISPeer

	// mu orders route changes with subscriptions: a client gets the
	// initial announcements of a filter and then every change, in order.
	mu     sync.Mutex
	routes []map[netip.Prefix][]uint32 // per BIRD peer: prefix → AS path
	conns  map[*conn]bool
	closed bool
}

type filter struct {
	Prefix     netip.Prefix
	More, Less bool
	Host       string
}

func (f filter) match(host string, p netip.Prefix) bool {
	if f.Host != "" && f.Host != host {
		return false
	}
	switch {
	case p == f.Prefix:
		return true
	case f.More && p.Bits() > f.Prefix.Bits() && f.Prefix.Contains(p.Addr()):
		return true
	case f.Less && p.Bits() < f.Prefix.Bits() && p.Contains(f.Prefix.Addr()):
		return true
	}
	return false
}

type conn struct {
	ws      *websocket.Conn
	wmu     sync.Mutex
	filters []filter // guarded by Bridge.mu
}

func (c *conn) send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, []byte(s))
}

func (c *conn) wants(host string, p netip.Prefix) bool {
	for _, f := range c.filters {
		if f.match(host, p) {
			return true
		}
	}
	return false
}

// Start starts the speaker (connecting to every BIRD peer) and the
// websocket server on 127.0.0.1; both stop when the test ends.
func Start(t testing.TB, cfg Config) *Bridge {
	t.Helper()
	if cfg.RISPeers < 1 || len(cfg.Peers) == 0 {
		t.Fatalf("rislab: need at least one RIS peer and one BIRD peer (got %d, %d)", cfg.RISPeers, len(cfg.Peers))
	}
	b := &Bridge{t: t, cfg: cfg, peers: map[netip.Addr]int{}, conns: map[*conn]bool{}}
	for i, p := range cfg.Peers {
		b.peers[p.Addr] = i
		b.routes = append(b.routes, map[netip.Prefix][]uint32{})
	}
	half := (cfg.RISPeers + 1) / 2
	for j := range cfg.RISPeers {
		host := "rrc00"
		if j >= half {
			host = "rrc01"
		}
		b.RISPeers = append(b.RISPeers, RISPeer{Host: host, Addr: netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + j)}),
			ASN: uint32(64600 + j), Follows: j % len(cfg.Peers)})
	}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	b.s = server.NewBgpServer(server.LoggerOption(quiet{}))
	go b.s.Serve()
	ctx := context.Background()
	if err := b.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.LocalASN, RouterId: cfg.LocalAddr.String(), ListenPort: -1,
	}}); err != nil {
		t.Fatalf("rislab: start speaker: %v", err)
	}
	t.Cleanup(b.stop)
	if err := b.s.WatchEvent(ctx, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{
		Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_POST_POLICY}},
	}}, b.onEvent); err != nil {
		t.Fatalf("rislab: watch: %v", err)
	}
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	for _, p := range cfg.Peers {
		if err := b.s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
			Conf:         &api.PeerConf{NeighborAddress: p.Addr.String(), PeerAsn: p.ASN},
			Transport:    &api.Transport{LocalAddress: cfg.LocalAddr.String(), RemotePort: 179},
			Timers:       &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, IdleHoldTimeAfterReset: 1}},
			EbgpMultihop: &api.EbgpMultihop{Enabled: true, MultihopTtl: 2},
			AfiSafis:     []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
		}}); err != nil {
			t.Fatalf("rislab: add peer %v: %v", p.Addr, err)
		}
	}
	return b
}

// URL is the websocket URL for [ris_live] url.
func (b *Bridge) URL() string { return "ws" + strings.TrimPrefix(b.srv.URL, "http") + "/v1/ws/" }

func (b *Bridge) stop() {
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		c.ws.CloseNow()
	}
	b.mu.Unlock()
	b.s.Stop()
	b.srv.Close()
}

// onEvent turns the BIRD peers' route changes into RIS messages.
func (b *Bridge) onEvent(r *api.WatchEventResponse) {
	tbl := r.GetTable()
	if tbl == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range tbl.GetPaths() {
		a, err := netip.ParseAddr(p.GetNeighborIp())
		if err != nil {
			continue
		}
		i, ok := b.peers[a.Unmap()]
		if !ok || p.GetNlri() == nil {
			continue
		}
		var n api.IPAddressPrefix
		if err := p.GetNlri().UnmarshalTo(&n); err != nil {
			continue
		}
		addr, err := netip.ParseAddr(n.Prefix)
		if err != nil {
			continue
		}
		pfx := netip.PrefixFrom(addr.Unmap(), int(n.PrefixLen)).Masked()
		if p.GetIsWithdraw() {
			if _, had := b.routes[i][pfx]; !had {
				continue
			}
			delete(b.routes[i], pfx)
			b.broadcast(i, pfx, nil, true)
			continue
		}
		path := asPath(p)
		b.routes[i][pfx] = path
		b.broadcast(i, pfx, path, false)
	}
}

func asPath(p *api.Path) []uint32 {
	var out []uint32
	for _, a := range p.GetPattrs() {
		var ap api.AsPathAttribute
		if a.UnmarshalTo(&ap) != nil {
			continue
		}
		for _, s := range ap.GetSegments() {
			out = append(out, s.GetNumbers()...)
		}
	}
	return out
}

// message is RIS peer rp's UPDATE announcing pfx with the BIRD path, or
// withdrawing it.
func message(rp RISPeer, pfx netip.Prefix, path []uint32, withdraw bool) string {
	ts := float64(time.Now().UnixMicro()) / 1e6
	if withdraw {
		return rislivetest.Update(ts, rp.Host, rp.Addr.String(), rp.ASN, nil, "", nil, []string{pfx.String()})
	}
	full := append([]uint32{rp.ASN}, path...)
	return rislivetest.Update(ts, rp.Host, rp.Addr.String(), rp.ASN, full, rp.Addr.String(), []string{pfx.String()}, nil)
}

// broadcast sends BIRD peer i's change of pfx from every RIS peer
// following it to every client subscribed to it. b.mu is held.
func (b *Bridge) broadcast(i int, pfx netip.Prefix, path []uint32, withdraw bool) {
	for _, rp := range b.RISPeers {
		if rp.Follows != i {
			continue
		}
		msg := message(rp, pfx, path, withdraw)
		for c := range b.conns {
			if c.wants(rp.Host, pfx) {
				if err := c.send(msg); err != nil {
					b.t.Logf("rislab: send: %v", err)
				}
			}
		}
	}
}

type clientMessage struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type subscribeData struct {
	Host         string `json:"host"`
	Type         string `json:"type"`
	Prefix       string `json:"prefix"`
	MoreSpecific bool   `json:"moreSpecific"`
	LessSpecific bool   `json:"lessSpecific"`
}

func (b *Bridge) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	c := &conn{ws: ws}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		ws.CloseNow()
		return
	}
	b.conns[c] = true
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		ws.CloseNow()
	}()
	for {
		_, msg, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		var m clientMessage
		if err := json.Unmarshal(msg, &m); err != nil {
			_ = c.send(`{"type":"ris_error","data":{"message":"Malformed message"}}`)
			continue
		}
		switch m.Type {
		case "ping":
			_ = c.send(`{"type":"pong","data":null}`)
		case "ris_subscribe", "ris_unsubscribe":
			var d subscribeData
			perr := json.Unmarshal(m.Data, &d)
			var pfx netip.Prefix
			if perr == nil {
				pfx, perr = netip.ParsePrefix(d.Prefix)
			}
			if perr != nil || (d.Type != "" && d.Type != "UPDATE") {
				_ = c.send(fmt.Sprintf(`{"type":"ris_error","data":{"message":"bad %s: %s"}}`, m.Type, strings.ReplaceAll(string(m.Data), `"`, `'`)))
				continue
			}
			f := filter{Prefix: pfx.Masked(), More: d.MoreSpecific, Less: d.LessSpecific, Host: d.Host}
			if m.Type == "ris_unsubscribe" {
				b.unsubscribe(c, f)
				continue
			}
			_ = c.send(fmt.Sprintf(`{"type":"ris_subscribe_ok","data":{"subscription":%s,"socketOptions":{"acknowledge":true}}}`, m.Data))
			b.subscribe(c, f)
		}
	}
}

// subscribe adds a filter and sends the routes the RIS peers carry that
// match it (and no earlier filter of the connection) as announcements.
func (b *Bridge) subscribe(c *conn, f filter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rp := range b.RISPeers {
		for pfx, path := range b.routes[rp.Follows] {
			if f.match(rp.Host, pfx) && !c.wants(rp.Host, pfx) {
				if err := c.send(message(rp, pfx, path, false)); err != nil {
					b.t.Logf("rislab: send: %v", err)
					return
				}
			}
		}
	}
	c.filters = append(c.filters, f)
}

func (b *Bridge) unsubscribe(c *conn, f filter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, g := range c.filters {
		if g == f {
			c.filters = append(c.filters[:k], c.filters[k+1:]...)
			return
		}
	}
}

// Routes returns how many routes the bridge holds from each BIRD peer.
func (b *Bridge) Routes() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]int, len(b.routes))
	for i, m := range b.routes {
		out[i] = len(m)
	}
	return out
}

// quiet drops GoBGP's log (the test logs what matters).
type quiet struct{}

func (quiet) Panic(msg string, _ gobgplog.Fields) { panic(msg) }
func (quiet) Fatal(string, gobgplog.Fields)       {}
func (quiet) Error(string, gobgplog.Fields)       {}
func (quiet) Warn(string, gobgplog.Fields)        {}
func (quiet) Info(string, gobgplog.Fields)        {}
func (quiet) Debug(string, gobgplog.Fields)       {}
func (quiet) SetLevel(gobgplog.LogLevel)          {}
func (quiet) GetLevel() gobgplog.LogLevel         { return gobgplog.InfoLevel }
