package bgp

// Everything that touches GoBGP's types lives in this file: the speaker's
// configuration, the import policy and the translation of watch events.

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/reachmon/reachmon/internal/config"
)

const (
	policyName = "reachmon-import"
	setName4   = "reachmon-watch-v4"
	setName6   = "reachmon-watch-v6"
)

var (
	family4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	family6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
)

// startSpeaker starts GoBGP's global instance (with no listener when the
// full_table speaker owns it: config.BGP.FullTableListener) and installs the import
// policy (watched prefixes only, default reject) and a default-reject
// export policy: reachmon never advertises anything.
func startSpeaker(ctx context.Context, s *server.BgpServer, cfg config.BGP) error {
	port := int32(-1)
	if cfg.ListenPort > 0 && !cfg.FullTableListener() {
		port = int32(cfg.ListenPort)
	}
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.ASN, RouterId: cfg.RouterID, ListenPort: port, ListenAddresses: cfg.ListenAddresses,
	}}); err != nil {
		// The configuration was validated: what is left to fail is the
		// listener (a port in use, an address not on this host), which
		// restarting unchanged does not fix.
		return config.Invalid(fmt.Errorf("bgp: start speaker (listen_port %d): %w", cfg.ListenPort, err))
	}
	for _, name := range []string{setName4, setName6} {
		if err := s.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{
			DefinedType: api.DefinedType_PREFIX, Name: name,
		}}); err != nil {
			return fmt.Errorf("bgp: add prefix set %s: %w", name, err)
		}
	}
	stmt := func(set string) *api.Statement {
		return &api.Statement{
			Name:       set,
			Conditions: &api.Conditions{PrefixSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: set}},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		}
	}
	if err := s.AddPolicy(ctx, &api.AddPolicyRequest{Policy: &api.Policy{
		Name: policyName, Statements: []*api.Statement{stmt(setName4), stmt(setName6)},
	}}); err != nil {
		return fmt.Errorf("bgp: add import policy: %w", err)
	}
	if err := s.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_IMPORT,
		Policies: []*api.Policy{{Name: policyName}}, DefaultAction: api.RouteAction_REJECT,
	}}); err != nil {
		return fmt.Errorf("bgp: assign import policy: %w", err)
	}
	if err := s.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_EXPORT, DefaultAction: api.RouteAction_REJECT,
	}}); err != nil {
		return fmt.Errorf("bgp: assign export policy: %w", err)
	}
	return nil
}

// applyEntries changes the import policy's prefix sets in place from old
// to new; sessions are not reset. Additions come first so that a route is
// never rejected while it is in both sets.
func applyEntries(ctx context.Context, s *server.BgpServer, old, new map[policyEntry]bool, add bool) error {
	var list4, list6 []*api.Prefix
	for e := range new {
		if old[e] {
			continue
		}
		p := &api.Prefix{IpPrefix: e.prefix.String(), MaskLengthMin: uint32(e.min), MaskLengthMax: uint32(e.max)}
		if e.prefix.Addr().Is4() {
			list4 = append(list4, p)
		} else {
			list6 = append(list6, p)
		}
	}
	for _, x := range []struct {
		name string
		list []*api.Prefix
	}{{setName4, list4}, {setName6, list6}} {
		if len(x.list) == 0 {
			continue
		}
		sort.Slice(x.list, func(i, j int) bool { return x.list[i].IpPrefix < x.list[j].IpPrefix })
		ds := &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: x.name, Prefixes: x.list}
		var err error
		if add {
			err = s.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: ds})
		} else {
			err = s.DeleteDefinedSet(ctx, &api.DeleteDefinedSetRequest{DefinedSet: ds, All: false})
		}
		if err != nil {
			return fmt.Errorf("bgp: update prefix set %s: %w", x.name, err)
		}
	}
	return nil
}

// addNeighbor configures one peer. password is the TCP-MD5 secret.
func addNeighbor(ctx context.Context, s *server.BgpServer, n config.Neighbor, password string) error {
	hold, keepalive, retry := n.Timers()
	p := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: n.Addr().String(), PeerAsn: n.PeerASN, Description: n.Description, AuthPassword: password,
		},
		Transport: &api.Transport{
			PassiveMode: n.Passive, RemotePort: uint32(n.RemotePort()), LocalAddress: n.LocalAddress,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: uint64(hold / time.Second), KeepaliveInterval: uint64(keepalive / time.Second),
			ConnectRetry: uint64(retry / time.Second), IdleHoldTimeAfterReset: uint64(retry / time.Second),
		}},
	}
	if n.MultihopTTL > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(n.MultihopTTL)}
	}
	for _, f := range n.FamilyList() {
		fam := family4
		if f == config.FamilyIPv6Unicast {
			fam = family6
		}
		as := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}
		if n.MaxPrefixes > 0 {
			as.PrefixLimits = &api.PrefixLimit{Family: fam, MaxPrefixes: n.MaxPrefixes}
		}
		p.AfiSafis = append(p.AfiSafis, as)
	}
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: p}); err != nil {
		return fmt.Errorf("bgp: add neighbor %s: %w", n.Name(), err)
	}
	return nil
}

// translatePath turns a watch-event path into an item; ok is false for
// paths that are neither unicast routes nor End-of-RIB markers.
func translatePath(p *api.Path) (it item, ok bool) {
	peer := p.GetNeighborIp()
	if a, err := netip.ParseAddr(peer); err == nil {
		peer = a.Unmap().String()
	}
	it.peer, it.peerASN = peer, p.GetSourceAsn()
	if p.GetNlri() == nil {
		it.kind = itemEOR
		switch p.GetFamily().GetAfi() {
		case api.Family_AFI_IP:
			it.family = 4
		case api.Family_AFI_IP6:
			it.family = 6
		default:
			return it, false
		}
		return it, p.GetFamily().GetSafi() == api.Family_SAFI_UNICAST
	}
	pfx, ok := nlriPrefix(p.GetNlri())
	if !ok {
		return it, false
	}
	it.kind, it.prefix, it.withdraw = itemRoute, pfx, p.GetIsWithdraw()
	return it, true
}

var ipPrefixType = (&api.IPAddressPrefix{}).ProtoReflect().Descriptor().FullName()

func nlriPrefix(a *anypb.Any) (netip.Prefix, bool) {
	if a.MessageName() != ipPrefixType {
		return netip.Prefix{}, false
	}
	var n api.IPAddressPrefix
	if err := a.UnmarshalTo(&n); err != nil {
		return netip.Prefix{}, false
	}
	addr, err := netip.ParseAddr(n.Prefix)
	if err != nil {
		return netip.Prefix{}, false
	}
	addr = addr.Unmap()
	pfx, err := addr.Prefix(int(n.PrefixLen))
	if err != nil {
		return netip.Prefix{}, false
	}
	return pfx, true
}

// pathRoute decodes origin, AS path and next hop of an announced path.
func pathRoute(p *api.Path) route {
	var r route
	for _, a := range p.GetPattrs() {
		m, err := a.UnmarshalNew()
		if err != nil {
			continue
		}
		switch v := m.(type) {
		case *api.AsPathAttribute:
			var last uint32
			lastSet := false
			for _, seg := range v.Segments {
				r.asPath = append(r.asPath, seg.Numbers...)
				if len(seg.Numbers) > 0 {
					last = seg.Numbers[len(seg.Numbers)-1]
					lastSet = seg.Type == api.AsSegment_AS_SET || seg.Type == api.AsSegment_AS_CONFED_SET
				}
			}
			if !lastSet {
				r.origin = last
			}
		case *api.NextHopAttribute:
			if nh, err := netip.ParseAddr(v.NextHop); err == nil {
				r.nextHop = nh.Unmap()
			}
		case *api.MpReachNLRIAttribute:
			if len(v.NextHops) > 0 {
				if nh, err := netip.ParseAddr(v.NextHops[0]); err == nil {
					r.nextHop = nh
				}
			}
		}
	}
	return r
}

// listRIB reads every watched path of the global RIB (which the import
// policy limits to watched prefixes) per peer.
func listRIB(ctx context.Context, s *server.BgpServer) (map[string]map[netip.Prefix]route, error) {
	out := map[string]map[netip.Prefix]route{}
	for _, fam := range []*api.Family{family4, family6} {
		err := s.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: fam}, func(d *api.Destination) {
			for _, p := range d.Paths {
				it, ok := translatePath(p)
				if !ok || it.kind != itemRoute || p.GetIsWithdraw() {
					continue
				}
				if out[it.peer] == nil {
					out[it.peer] = map[netip.Prefix]route{}
				}
				out[it.peer][it.prefix] = pathRoute(p)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("bgp: list paths: %w", err)
		}
	}
	return out, nil
}

// peerStatus is a peer's session as GoBGP has it.
type peerStatus struct {
	up  bool  // established
	eor []int // the unicast families (4, 6) End-of-RIB was received for in this session
}

// listPeerStates reads which peers have an established session, and for
// which families they have sent End-of-RIB (GoBGP records it whether or
// not graceful restart was negotiated, and clears it when the session
// goes down).
func listPeerStates(ctx context.Context, s *server.BgpServer) (map[string]peerStatus, error) {
	out := map[string]peerStatus{}
	err := s.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		a, err := netip.ParseAddr(p.GetConf().GetNeighborAddress())
		if err != nil {
			return
		}
		st := peerStatus{up: p.GetState().GetSessionState() == api.PeerState_ESTABLISHED}
		for _, as := range p.GetAfiSafis() {
			fam := as.GetConfig().GetFamily()
			if !as.GetMpGracefulRestart().GetState().GetEndOfRibReceived() || fam.GetSafi() != api.Family_SAFI_UNICAST {
				continue
			}
			switch fam.GetAfi() {
			case api.Family_AFI_IP:
				st.eor = append(st.eor, 4)
			case api.Family_AFI_IP6:
				st.eor = append(st.eor, 6)
			}
		}
		out[a.Unmap().String()] = st
	})
	if err != nil {
		return nil, fmt.Errorf("bgp: list peers: %w", err)
	}
	return out, nil
}

// slogLogger adapts GoBGP's logger to slog (GoBGP info is reachmon debug)
// and notices the prefix-limit cut-off, which GoBGP reports only there.
type slogLogger struct {
	log   *slog.Logger
	mu    sync.Mutex
	level gobgplog.LogLevel
	// onMaxPrefix is called with the peer address when GoBGP cuts a peer
	// for exceeding its prefix limit.
	onMaxPrefix func(peer string)
}

func (l *slogLogger) attrs(fields gobgplog.Fields) []any {
	out := make([]any, 0, 2*len(fields))
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.EqualFold(k, "password") || strings.Contains(strings.ToLower(k), "auth") {
			continue
		}
		if k == "Data" { // whole paths and messages: too much
			continue
		}
		out = append(out, strings.ToLower(k), fmt.Sprint(fields[k]))
	}
	return out
}

func (l *slogLogger) Panic(msg string, f gobgplog.Fields) {
	l.log.Error("gobgp", append([]any{"event", msg}, l.attrs(f)...)...)
	panic(msg)
}
func (l *slogLogger) Fatal(msg string, f gobgplog.Fields) {
	l.log.Error("gobgp", append([]any{"event", msg}, l.attrs(f)...)...)
}
func (l *slogLogger) Error(msg string, f gobgplog.Fields) {
	l.log.Error("gobgp", append([]any{"event", msg}, l.attrs(f)...)...)
}
func (l *slogLogger) Warn(msg string, f gobgplog.Fields) {
	if msg == "prefix limit reached" && f["Pct"] == nil && l.onMaxPrefix != nil {
		if k, ok := f["Key"].(string); ok {
			l.onMaxPrefix(k)
		}
	}
	l.log.Warn("gobgp", append([]any{"event", msg}, l.attrs(f)...)...)
}
func (l *slogLogger) Info(msg string, f gobgplog.Fields) {
	l.log.Debug("gobgp", append([]any{"event", msg}, l.attrs(f)...)...)
}
func (l *slogLogger) Debug(msg string, f gobgplog.Fields) {}
func (l *slogLogger) SetLevel(level gobgplog.LogLevel) {
	l.mu.Lock()
	l.level = level
	l.mu.Unlock()
}
func (l *slogLogger) GetLevel() gobgplog.LogLevel {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.level
}

// stopServer stops a GoBGP server, deleting its peers first: StopBgp
// clears the global configuration while sessions' goroutines may still
// read it (a data race inside GoBGP v3.37.0). DeletePeer only cancels a
// session's goroutines, which wind down on their own, and GoBGP offers
// no way to wait for them; they take milliseconds, so a pause of
// sessionWindDown after deleting peers leaves them time to end.
func stopServer(s *server.BgpServer) {
	ctx := context.Background()
	var addrs []string
	_ = s.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		addrs = append(addrs, p.GetConf().GetNeighborAddress())
	})
	for _, a := range addrs {
		_ = s.DeletePeer(ctx, &api.DeletePeerRequest{Address: a})
	}
	if len(addrs) > 0 {
		time.Sleep(sessionWindDown)
	}
	s.Stop()
}

const sessionWindDown = 200 * time.Millisecond

// deleteNeighbor removes one peer from the speaker (its session ends).
func deleteNeighbor(ctx context.Context, s *server.BgpServer, n config.Neighbor) error {
	if err := s.DeletePeer(ctx, &api.DeletePeerRequest{Address: n.Addr().String()}); err != nil {
		return fmt.Errorf("bgp: delete neighbor %s: %w", n.Name(), err)
	}
	return nil
}
