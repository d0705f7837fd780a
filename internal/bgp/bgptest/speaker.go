// Package bgptest runs an in-process GoBGP speaker playing a user's router
// for tests outside internal/bgp (internal/app) that need a real BGP
// session with reachmon's embedded peer. GoBGP's types stay inside this
// package.
package bgptest

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"
)

var family4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

// Speaker is a GoBGP server listening on Addr:Port (IPv4 unicast), waiting
// passively for reachmon (at the peer address given to Start) to connect.
type Speaker struct {
	t    *testing.T
	s    *server.BgpServer
	ASN  uint32
	Addr string
	Port int
	peer string
}

// Start runs a speaker of AS asn on addr (a loopback address) that accepts
// one session from reachmon at peerAddr, AS peerASN. It stops at the end
// of the test.
func Start(t *testing.T, addr string, asn uint32, peerAddr string, peerASN uint32) *Speaker {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("bgptest: free port on %s: %v", addr, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	sp := &Speaker{t: t, s: server.NewBgpServer(server.LoggerOption(discard{})), ASN: asn, Addr: addr, Port: port, peer: peerAddr}
	go sp.s.Serve()
	ctx := context.Background()
	if err := sp.s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: addr, ListenPort: int32(port), ListenAddresses: []string{addr},
	}}); err != nil {
		t.Fatalf("bgptest: start speaker: %v", err)
	}
	if err := sp.s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: peerAddr, PeerAsn: peerASN},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3, ConnectRetry: 1, IdleHoldTimeAfterReset: 1}},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: family4, Enabled: true}}},
	}}); err != nil {
		t.Fatalf("bgptest: add peer: %v", err)
	}
	t.Cleanup(sp.stop)
	return sp
}

// HostPort is the speaker's address and port ("127.0.0.3:40123").
func (sp *Speaker) HostPort() string { return net.JoinHostPort(sp.Addr, strconv.Itoa(sp.Port)) }

func (sp *Speaker) path(prefix string, asPath []uint32) *api.Path {
	sp.t.Helper()
	pfx, err := netip.ParsePrefix(prefix)
	if err != nil || !pfx.Addr().Is4() {
		sp.t.Fatalf("bgptest: %q is not an IPv4 prefix", prefix)
	}
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: pfx.Addr().String(), PrefixLen: uint32(pfx.Bits())})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	nh, _ := anypb.New(&api.NextHopAttribute{NextHop: sp.Addr})
	attrs := []*anypb.Any{origin, nh}
	if len(asPath) > 0 {
		a, _ := anypb.New(&api.AsPathAttribute{Segments: []*api.AsSegment{{Type: api.AsSegment_AS_SEQUENCE, Numbers: asPath}}})
		attrs = append(attrs, a)
	}
	return &api.Path{Family: family4, Nlri: nlri, Pattrs: attrs}
}

// Announce originates prefix with the AS path (the speaker prepends its
// own AS on the eBGP session).
func (sp *Speaker) Announce(prefix string, asPath ...uint32) {
	sp.t.Helper()
	if _, err := sp.s.AddPath(context.Background(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: sp.path(prefix, asPath)}); err != nil {
		sp.t.Fatalf("bgptest: announce %s: %v", prefix, err)
	}
}

// Withdraw withdraws prefix.
func (sp *Speaker) Withdraw(prefix string) {
	sp.t.Helper()
	p := sp.path(prefix, nil)
	if err := sp.s.DeletePath(context.Background(), &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: p.Family, Path: p}); err != nil {
		sp.t.Fatalf("bgptest: withdraw %s: %v", prefix, err)
	}
}

// stop deletes the peer first (StopBgp races with session goroutines in
// GoBGP v3) and gives the session a moment to wind down.
func (sp *Speaker) stop() {
	_ = sp.s.DeletePeer(context.Background(), &api.DeletePeerRequest{Address: sp.peer})
	time.Sleep(200 * time.Millisecond)
	sp.s.Stop()
}

// discard drops GoBGP's log.
type discard struct{}

func (discard) Panic(msg string, _ gobgplog.Fields) { panic(msg) }
func (discard) Fatal(string, gobgplog.Fields)       {}
func (discard) Error(string, gobgplog.Fields)       {}
func (discard) Warn(string, gobgplog.Fields)        {}
func (discard) Info(string, gobgplog.Fields)        {}
func (discard) Debug(string, gobgplog.Fields)       {}
func (discard) SetLevel(gobgplog.LogLevel)          {}
func (discard) GetLevel() gobgplog.LogLevel         { return gobgplog.InfoLevel }
