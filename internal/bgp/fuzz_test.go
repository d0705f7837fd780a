package bgp

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// The watched set of the fuzz target: two configured prefixes and three
// addresses (a resolver, an IPv6 and an IPv4 nameserver).
var (
	fuzzPrefixes = []model.WatchedPrefix{wp("198.18.0.0/15", 64500), wp("2001:db8::/32", 64500)}
	fuzzAddrs    = []netip.Addr{
		netip.MustParseAddr("203.0.113.53"), netip.MustParseAddr("2001:db8:53::1"), netip.MustParseAddr("198.51.100.1"),
	}
)

// fuzzSender is who an UPDATE comes from: a configured neighbor (also in
// the IPv4-mapped spelling GoBGP may use) or a peer reachmon does not know.
type fuzzSender struct {
	addr string // as GoBGP reports it
	name string // the configured neighbor it is; "" for none
	asn  uint32
}

var fuzzSenders = []fuzzSender{
	{"192.0.2.2", "192.0.2.2", 65001},
	{"::ffff:192.0.2.2", "192.0.2.2", 65001},
	{"2001:db8:ffff::2", "2001:db8:ffff::2", 65002},
	{"192.0.2.99", "", 65099},
}

// watchedByDefinition says what the feed must import, written from the
// documented rule rather than from watchSet: a prefix inside a configured
// prefix, or a /1 or longer that covers a watched address.
func watchedByDefinition(p netip.Prefix) bool {
	for _, w := range fuzzPrefixes {
		if w.Prefix.Addr().BitLen() == p.Addr().BitLen() && w.Prefix.Bits() <= p.Bits() && w.Prefix.Contains(p.Addr()) {
			return true
		}
	}
	for _, a := range fuzzAddrs {
		if p.Bits() >= 1 && p.Contains(a) {
			return true
		}
	}
	return false
}

// fuzzFeed is a Feed without a speaker: the test plays GoBGP's watch
// callback and the feed's two goroutines, one step at a time.
type fuzzFeed struct {
	t   *testing.T
	f   *Feed
	evs chan model.Event
}

const fuzzChunk = 64 // paths per watch event; the queue holds one chunk

func newFuzzFeed(t *testing.T) *fuzzFeed {
	t.Helper()
	cfg := config.BGP{ASN: feedASN, RouterID: feedAddr, Neighbor: []config.Neighbor{
		{Address: fuzzSenders[0].name, PeerASN: fuzzSenders[0].asn},
		{Address: fuzzSenders[2].name, PeerASN: fuzzSenders[2].asn},
	}}
	w := Watch{
		Prefixes:    fuzzPrefixes,
		Resolvers:   map[string]netip.Addr{"lab": fuzzAddrs[0]},
		Nameservers: map[string][]netip.Addr{"example.": fuzzAddrs[1:]},
	}
	now := time.Date(2021, 10, 4, 15, 0, 0, 0, time.UTC)
	evs := make(chan model.Event, 16*fuzzChunk)
	f, err := New(cfg, w, Options{Events: evs, Now: func() time.Time { return now }, QueueSize: fuzzChunk + 2})
	if err != nil {
		t.Fatal(err)
	}
	return &fuzzFeed{t: t, f: f, evs: evs}
}

// deliver hands paths to the feed as GoBGP's watch callback does, in
// chunks, then releases the held withdrawals (as flushLoop does once the
// session proved to be up) and applies the queue (as stateLoop does). It
// returns the events the state emitted.
func (h *fuzzFeed) deliver(r ...*api.WatchEventResponse) []model.Event {
	var out []model.Event
	for _, ev := range r {
		h.f.onEvent(ev)
		out = append(out, h.drain()...)
	}
	h.f.seqMu.Lock()
	h.f.flushLocked()
	h.f.seqMu.Unlock()
	return append(out, h.drain()...)
}

func (h *fuzzFeed) drain() []model.Event {
	for len(h.f.in) > 0 {
		h.f.st.apply(*<-h.f.in)
	}
	if h.f.needResync.Load() || h.f.needSnapsht.Load() {
		h.t.Fatal("the fuzz harness overflowed the feed's queue or event channel")
	}
	var out []model.Event
	for len(h.evs) > 0 {
		out = append(out, <-h.evs)
	}
	return out
}

func peerStateEvent(s fuzzSender, up bool) *api.WatchEventResponse {
	st := api.PeerState_IDLE
	if up {
		st = api.PeerState_ESTABLISHED
	}
	return &api.WatchEventResponse{Event: &api.WatchEventResponse_Peer{Peer: &api.WatchEventResponse_PeerEvent{
		Type: api.WatchEventResponse_PeerEvent_STATE,
		Peer: &api.Peer{State: &api.PeerState{NeighborAddress: s.addr, PeerAsn: s.asn, SessionState: st}},
	}}}
}

// tableEvents splits paths into watch events of at most fuzzChunk paths.
func tableEvents(paths []*api.Path) []*api.WatchEventResponse {
	var out []*api.WatchEventResponse
	for len(paths) > 0 {
		n := min(len(paths), fuzzChunk)
		out = append(out, &api.WatchEventResponse{Event: &api.WatchEventResponse_Table{
			Table: &api.WatchEventResponse_TableEvent{Paths: paths[:n]}}})
		paths = paths[n:]
	}
	return out
}

// fuzzPath is one path of a decoded UPDATE: GoBGP's API form and, for an
// IP unicast NLRI, the prefix it carries read straight from the wire form.
type fuzzPath struct {
	api      *api.Path
	prefix   netip.Prefix // invalid for End-of-RIB and other families
	withdraw bool
}

// updatePaths turns a decoded UPDATE into the paths GoBGP's watch reports
// for it, in GoBGP's order (table.ProcessMessage: NLRI, MP_REACH, then
// withdrawn and MP_UNREACH; one End-of-RIB path for an End-of-RIB
// marker), marshalled as GoBGP's toPathApi does.
func updatePaths(t *testing.T, u *bgp.BGPUpdate, from fuzzSender) []fuzzPath {
	t.Helper()
	path := func(n bgp.AddrPrefixInterface, withdraw bool, attrs []bgp.PathAttributeInterface) fuzzPath {
		nlri, err := apiutil.MarshalNLRI(n)
		if err != nil {
			t.Fatalf("marshal NLRI %v: %v", n, err)
		}
		pattrs, _ := apiutil.MarshalPathAttributes(attrs) // as toPathApi: attributes it cannot marshal are left out
		p := &api.Path{Nlri: nlri, Pattrs: pattrs, IsWithdraw: withdraw, Family: apiutil.ToApiFamily(n.AFI(), n.SAFI()),
			NeighborIp: from.addr, SourceAsn: from.asn}
		return fuzzPath{api: p, prefix: wirePrefix(n), withdraw: withdraw}
	}
	if eor, rf := u.IsEndOfRib(); eor {
		afi, safi := bgp.RouteFamilyToAfiSafi(rf)
		return []fuzzPath{{api: &api.Path{Family: apiutil.ToApiFamily(afi, safi), NeighborIp: from.addr, SourceAsn: from.asn}}}
	}
	var attrs []bgp.PathAttributeInterface
	var reach *bgp.PathAttributeMpReachNLRI
	var dels []bgp.AddrPrefixInterface
	for _, n := range u.WithdrawnRoutes {
		dels = append(dels, n)
	}
	for _, a := range u.PathAttributes {
		switch a := a.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			reach = a
		case *bgp.PathAttributeMpUnreachNLRI:
			dels = append(dels, a.Value...)
		default:
			attrs = append(attrs, a)
		}
	}
	var out []fuzzPath
	for _, n := range u.NLRI {
		out = append(out, path(n, false, attrs))
	}
	if reach != nil {
		for _, n := range reach.Value {
			one := bgp.NewPathAttributeMpReachNLRI(reach.Nexthop.String(), []bgp.AddrPrefixInterface{n})
			out = append(out, path(n, false, append(slices.Clone(attrs), one)))
		}
	}
	for _, n := range dels {
		out = append(out, path(n, true, nil))
	}
	return out
}

// wirePrefix is the unicast prefix an NLRI carries, host bits cleared;
// invalid for other families. An IPv6 NLRI stays IPv6 here even when its
// address is IPv4-mapped.
func wirePrefix(n bgp.AddrPrefixInterface) netip.Prefix {
	var ip net.IP
	var bits int
	switch v := n.(type) {
	case *bgp.IPAddrPrefix:
		ip, bits = v.Prefix.To4(), int(v.Length)
	case *bgp.IPv6AddrPrefix:
		ip, bits = v.Prefix.To16(), int(v.Length)
	default:
		return netip.Prefix{}
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// wantASPath is the AS path and origin of a route with these attributes:
// the AS_PATH segments in order; the origin is the last AS unless the
// last non-empty segment is a set.
func wantASPath(attrs []bgp.PathAttributeInterface) (path []uint32, origin uint32) {
	for _, a := range attrs {
		ap, ok := a.(*bgp.PathAttributeAsPath)
		if !ok {
			continue
		}
		path, origin = nil, 0
		set := false
		for _, seg := range ap.Value {
			as := seg.GetAS()
			path = append(path, as...)
			if len(as) > 0 {
				origin = as[len(as)-1]
				set = seg.GetType() == bgp.BGP_ASPATH_ATTR_TYPE_SET || seg.GetType() == bgp.BGP_ASPATH_ATTR_TYPE_CONFED_SET
			}
		}
		if set {
			origin = 0
		}
	}
	return path, origin
}

// FuzzUpdateEvents decodes a fuzzed BGP UPDATE body with GoBGP's packet
// decoder, turns it into the paths GoBGP's watch API reports and feeds
// them through the feed's translation (onEvent, translatePath,
// pathRoute) into its state. The events must be for watched prefixes
// only and for prefixes the UPDATE carried, from configured peers only,
// with the AS path the UPDATE gave; the peer's table must be what the
// UPDATE's announcements and withdrawals leave; and withdrawing every
// route again must empty it with one withdraw event per route. An UPDATE
// GoBGP's decoder panics on (which crashes GoBGP's own session) is left
// out: it is GoBGP's defect, documented in docs/configuration.md.
func FuzzUpdateEvents(f *testing.F) {
	body := func(m *bgp.BGPMessage) []byte {
		b, err := m.Serialize()
		if err != nil {
			f.Fatal(err)
		}
		return b[bgp.BGP_HEADER_LENGTH:]
	}
	seq := func(as ...uint32) bgp.PathAttributeInterface {
		return bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, as)})
	}
	v4 := func(p string) *bgp.IPAddrPrefix {
		q := netip.MustParsePrefix(p)
		return bgp.NewIPAddrPrefix(uint8(q.Bits()), q.Addr().String())
	}
	v6 := func(p string) bgp.AddrPrefixInterface {
		q := netip.MustParsePrefix(p)
		return bgp.NewIPv6AddrPrefix(uint8(q.Bits()), q.Addr().String())
	}
	attrs4 := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0), seq(65001, 64500), bgp.NewPathAttributeNextHop("192.0.2.2")}
	for i, m := range []*bgp.BGPMessage{
		bgp.NewBGPUpdateMessage(nil, attrs4, []*bgp.IPAddrPrefix{v4("198.18.0.0/15"), v4("198.18.1.0/24"), v4("203.0.113.0/24"), v4("192.0.2.0/24")}),
		bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{v4("198.18.1.0/24")}, nil, nil),
		bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{v4("198.18.1.0/24")}, attrs4, []*bgp.IPAddrPrefix{v4("198.18.1.0/24"), v4("0.0.0.0/0"), v4("128.0.0.0/1")}),
		bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(0),
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{
				bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{65002}),
				bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SET, []uint32{64500, 64501}),
			}),
			bgp.NewPathAttributeMpReachNLRI("2001:db8:ffff::1", []bgp.AddrPrefixInterface{v6("2001:db8:1::/48"), v6("2001:db8:53::/64"), v6("::/1")}),
		}, nil),
		bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{bgp.NewPathAttributeMpUnreachNLRI([]bgp.AddrPrefixInterface{v6("2001:db8:1::/48")})}, nil),
		bgp.NewEndOfRib(bgp.RF_IPv4_UC),
		bgp.NewEndOfRib(bgp.RF_IPv6_UC),
	} {
		f.Add(uint8(i), body(m))
	}
	f.Fuzz(func(t *testing.T, sender uint8, body []byte) {
		if len(body) > bgp.BGP_MAX_MESSAGE_LENGTH-bgp.BGP_HEADER_LENGTH {
			return // not a BGP message
		}
		m, err, crashed := parseUpdateBody(body)
		if crashed {
			// GoBGP's decoder panicked: its own session would crash the
			// process here (its receive loop has no recover), a defect of
			// GoBGP v3.37.0 and not of the translation under test. Known
			// inputs: testdata/fuzz/FuzzUpdateEvents/mp-reach-* and
			// flowspec-unreach; reachmon's own speaker survives them
			// (session.TestUpdatesThatCrashGoBGP).
			return
		}
		if err != nil {
			return // GoBGP's session sends a NOTIFICATION and resets
		}
		u := m.Body.(*bgp.BGPUpdate)
		from := fuzzSenders[int(sender)%len(fuzzSenders)]
		paths := updatePaths(t, u, from)
		apiPaths := make([]*api.Path, len(paths))
		for i, p := range paths {
			apiPaths[i] = p.api
		}
		h := newFuzzFeed(t)
		h.deliver(peerStateEvent(from, true))
		evs := h.deliver(tableEvents(apiPaths)...)

		// What the UPDATE leaves in the peer's table, by the rule.
		want := map[netip.Prefix]bool{}
		carried := map[netip.Prefix]bool{}
		for _, p := range paths {
			if !p.prefix.IsValid() || !watchedByDefinition(p.prefix) {
				continue
			}
			carried[p.prefix] = true
			if p.withdraw {
				delete(want, p.prefix)
			} else {
				want[p.prefix] = true
			}
		}
		wantPath, wantOrigin := wantASPath(u.PathAttributes)
		for _, e := range evs {
			switch e := e.(type) {
			case model.RouteEvent:
				if from.name == "" || e.Peer != from.name {
					t.Fatalf("route event from %q for an UPDATE sent by %q: %+v", e.Peer, from.addr, e)
				}
				if !watchedByDefinition(e.Prefix) || !carried[e.Prefix] {
					t.Fatalf("route event for %s, which is unwatched or not in the UPDATE: %+v", e.Prefix, e)
				}
				if e.Kind != model.RouteWithdraw && (!slices.Equal(e.ASPath, wantPath) || e.Origin != wantOrigin) {
					t.Fatalf("route event with AS path %v origin %d, want %v origin %d: %+v", e.ASPath, e.Origin, wantPath, wantOrigin, e)
				}
				if e.Watched.IsValid() && (!e.Watched.Contains(e.Prefix.Addr()) || e.Watched.Bits() > e.Prefix.Bits() || e.MoreSpecific != (e.Watched != e.Prefix)) {
					t.Fatalf("route event names watched prefix %s for %s: %+v", e.Watched, e.Prefix, e)
				}
			case model.CoverEvent:
				if !slices.Contains(fuzzAddrs, e.Addr) {
					t.Fatalf("cover event for unwatched address %s: %+v", e.Addr, e)
				}
			}
		}
		if from.name == "" {
			return
		}
		table := h.f.st.peers[from.name].routes
		for pfx := range table {
			if !want[pfx] {
				t.Fatalf("peer table holds %s, which the UPDATE did not leave announced (want %v)", pfx, want)
			}
		}
		for pfx := range want {
			if _, ok := table[pfx]; !ok {
				t.Fatalf("peer table lacks %s, which the UPDATE announced (table %v)", pfx, table)
			}
		}

		// Withdrawals round-trip: withdrawing every route as GoBGP reports it
		// empties the table, with one withdraw event per route.
		var withdrawals []*api.Path
		for pfx := range table {
			w := &api.Path{IsWithdraw: true, NeighborIp: from.addr, SourceAsn: from.asn, Family: family4}
			if pfx.Addr().Is6() {
				w.Family = family6
			}
			w.Nlri, _ = anypb.New(&api.IPAddressPrefix{Prefix: pfx.Addr().String(), PrefixLen: uint32(pfx.Bits())})
			withdrawals = append(withdrawals, w)
		}
		n := len(table)
		evs = h.deliver(tableEvents(withdrawals)...)
		if len(table) != 0 || len(h.f.st.peers[from.name].routes) != 0 {
			t.Fatalf("table after withdrawing every route: %v", h.f.st.peers[from.name].routes)
		}
		withdrawn := map[netip.Prefix]int{}
		for _, e := range evs {
			if r, ok := e.(model.RouteEvent); ok {
				if r.Kind != model.RouteWithdraw || r.VisiblePeers != 0 {
					t.Fatalf("withdrawing gave %+v", r)
				}
				withdrawn[r.Prefix]++
			}
		}
		if len(withdrawn) != n {
			t.Fatalf("%d routes withdrawn, %d withdraw events: %v", n, len(withdrawn), withdrawn)
		}
		for pfx, c := range withdrawn {
			if c != 1 || !want[pfx] {
				t.Fatalf("withdraw events for %s: %d (want one per route of %v)", pfx, c, want)
			}
		}
		if v, err := h.f.Routes(""); err != nil || len(v.Routes) != 0 {
			t.Fatalf("Routes(\"\") after withdrawing everything = %+v, %v", v.Routes, err)
		}
	})
}

// fuzzFamilies are the families the embedded peer negotiates (addNeighbor).
var fuzzFamilies = map[bgp.RouteFamily]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_NONE, bgp.RF_IPv6_UC: bgp.BGP_ADD_PATH_NONE}

// parseUpdateBody decodes and validates an UPDATE body as the embedded
// peer's GoBGP session does (fsm.go recvMessageWithError: ParseBGPBody,
// then ValidateUpdateMsg for an eBGP peer with the negotiated families;
// reachmon sets no treat-as-withdraw, so any validation error resets the
// session and the UPDATE never reaches the table). crashed reports that
// GoBGP panicked: only GoBGP's code runs here.
func parseUpdateBody(body []byte) (m *bgp.BGPMessage, err error, crashed bool) {
	defer func() {
		if recover() != nil {
			m, err, crashed = nil, nil, true
		}
	}()
	m, err = bgp.ParseBGPBody(&bgp.BGPHeader{Type: bgp.BGP_MSG_UPDATE, Len: uint16(bgp.BGP_HEADER_LENGTH + len(body))}, body)
	if err != nil {
		return nil, err, false
	}
	if ok, err := bgp.ValidateUpdateMsg(m.Body.(*bgp.BGPUpdate), fuzzFamilies, true, false, false); !ok {
		return nil, err, false
	}
	return m, nil, false
}
