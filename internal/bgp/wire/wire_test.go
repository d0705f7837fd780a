package wire

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
)

type rec struct {
	ann []rbgp.Route
	wd  []netip.Prefix
	eor []int
}

func (r *rec) Announce(p netip.Prefix, f int, a *Attrs) {
	if Family(p) != f {
		panic("family")
	}
	x := a.Route()
	x.Prefix = p
	r.ann = append(r.ann, x)
}
func (r *rec) Withdraw(p netip.Prefix, _ int) { r.wd = append(r.wd, p) }
func (r *rec) EndOfRIB(f int)                 { r.eor = append(r.eor, f) }

// TestWalk: origin and AS path (an AS_TRANS path completed from AS4_PATH,
// a path ending in an AS_SET has no origin), the next hop of each
// family, withdrawals of both kinds, End-of-RIB.
func TestWalk(t *testing.T) {
	u := bgp.NewBGPUpdateMessage(
		[]*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(24, "192.0.2.0")},
		[]bgp.PathAttributeInterface{
			bgp.NewPathAttributeOrigin(0),
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAsPathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint16{64500, 23456})}),
			bgp.NewPathAttributeAs4Path([]*bgp.As4PathParam{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{4200000001})}),
			bgp.NewPathAttributeNextHop("192.0.2.254"),
			bgp.NewPathAttributeMpReachNLRI("2001:db8::1", []bgp.AddrPrefixInterface{bgp.NewIPv6AddrPrefix(48, "2001:db8:100::")}),
			bgp.NewPathAttributeMpUnreachNLRI([]bgp.AddrPrefixInterface{bgp.NewIPv6AddrPrefix(48, "2001:db8:200::")}),
		},
		[]*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(24, "198.18.1.0")},
	).Body.(*bgp.BGPUpdate)
	r := &rec{}
	Walk(u, r)
	if len(r.ann) != 2 || len(r.wd) != 2 {
		t.Fatalf("%+v", r)
	}
	v6, v4 := r.ann[0], r.ann[1]
	if v6.Prefix.String() != "2001:db8:100::/48" || v6.NextHop.String() != "2001:db8::1" ||
		v4.Prefix.String() != "198.18.1.0/24" || v4.NextHop.String() != "192.0.2.254" {
		t.Errorf("announcements %+v", r.ann)
	}
	if !slices.Equal(v4.ASPath, []uint32{64500, 4200000001}) || v4.Origin != 4200000001 {
		t.Errorf("AS4_PATH not merged: %v origin %d", v4.ASPath, v4.Origin)
	}
	if r.wd[0].String() != "192.0.2.0/24" || r.wd[1].String() != "2001:db8:200::/48" {
		t.Errorf("withdrawals %v", r.wd)
	}
	set := bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{
			bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{64500}),
			bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SET, []uint32{64501, 64502}),
		}),
		bgp.NewPathAttributeNextHop("192.0.2.254"),
	}, []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(24, "198.18.2.0")}).Body.(*bgp.BGPUpdate)
	r = &rec{}
	Walk(set, r)
	if len(r.ann) != 1 || r.ann[0].Origin != 0 || len(r.ann[0].ASPath) != 3 {
		t.Errorf("AS_SET path: %+v", r.ann)
	}
	for _, rf := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		Walk(bgp.NewEndOfRib(rf).Body.(*bgp.BGPUpdate), r)
	}
	if !slices.Equal(r.eor, []int{4, 6}) {
		t.Errorf("End-of-RIB %v", r.eor)
	}
}
