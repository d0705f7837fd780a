// Package wire takes GoBGP-decoded UPDATEs apart into reachmon's types,
// for the readers that decode BGP themselves with GoBGP's packet package
// (the BMP station, bgp/bmp, and the full_table sessions, bgp/session):
// every IPv4 and IPv6 unicast prefix, announced or withdrawn, and
// End-of-RIB, with the announcement's origin, AS path and next hop built
// only when a reader asks for them (a route it keeps), so an UPDATE of
// routes nobody watches costs no AS path.
package wire

import (
	"net"
	"net/netip"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
)

// Sink receives what an UPDATE says. Announce and Withdraw are called for
// every IPv4 and IPv6 unicast prefix, in the order withdrawn routes,
// MP_REACH_NLRI, MP_UNREACH_NLRI, NLRI; family is 4 or 6.
type Sink interface {
	Announce(p netip.Prefix, family int, a *Attrs)
	Withdraw(p netip.Prefix, family int)
	EndOfRIB(family int)
}

// Attrs are an UPDATE's attributes as an announcement needs them.
type Attrs struct {
	asPath  *bgp.PathAttributeAsPath
	as4Path *bgp.PathAttributeAs4Path
	nextHop netip.Addr
	built   bool
	r       rbgp.Route
}

// Route is the announcement (Prefix unset): origin and AS path (built on
// the first call and shared by the UPDATE's routes) and the next hop of
// the NLRI or MP_REACH_NLRI the prefix came in.
func (a *Attrs) Route() rbgp.Route {
	if !a.built {
		a.built = true
		if a.asPath != nil {
			a.r.ASPath, a.r.Origin = asPath(a.asPath.Value)
		}
		if a.as4Path != nil {
			if as4, _ := asPath4(a.as4Path.Value); len(as4) > 0 && len(as4) <= len(a.r.ASPath) {
				// RFC 6793: a 2-octet speaker carried AS_TRANS in AS_PATH
				// and the real trailing ASNs in AS4_PATH.
				a.r.ASPath = append(a.r.ASPath[:len(a.r.ASPath)-len(as4)], as4...)
				a.r.Origin = as4[len(as4)-1]
			}
		}
	}
	r := a.r
	r.NextHop = a.nextHop
	return r
}

// Walk hands u's unicast prefixes, or its End-of-RIB, to sink.
func Walk(u *bgp.BGPUpdate, sink Sink) {
	if eor, rf := u.IsEndOfRib(); eor {
		switch rf {
		case bgp.RF_IPv4_UC:
			sink.EndOfRIB(4)
		case bgp.RF_IPv6_UC:
			sink.EndOfRIB(6)
		}
		return
	}
	a := &Attrs{}
	var nh4 netip.Addr
	for _, x := range u.PathAttributes {
		switch v := x.(type) {
		case *bgp.PathAttributeAsPath:
			a.asPath = v
		case *bgp.PathAttributeAs4Path:
			a.as4Path = v
		case *bgp.PathAttributeNextHop:
			if nh, ok := netip.AddrFromSlice(v.Value); ok {
				nh4 = nh.Unmap()
			}
		}
	}
	for _, w := range u.WithdrawnRoutes {
		if p := PrefixOf(w); p.IsValid() {
			sink.Withdraw(p, 4)
		}
	}
	for _, x := range u.PathAttributes {
		switch v := x.(type) {
		case *bgp.PathAttributeMpReachNLRI:
			nh, _ := netip.AddrFromSlice(v.Nexthop)
			a.nextHop = nh.Unmap()
			for _, n := range v.Value {
				if p := PrefixOf(n); p.IsValid() {
					sink.Announce(p, Family(p), a)
				}
			}
		case *bgp.PathAttributeMpUnreachNLRI:
			for _, n := range v.Value {
				if p := PrefixOf(n); p.IsValid() {
					sink.Withdraw(p, Family(p))
				}
			}
		}
	}
	a.nextHop = nh4
	for _, n := range u.NLRI {
		if p := PrefixOf(n); p.IsValid() {
			sink.Announce(p, 4, a)
		}
	}
}

// Family is 4 or 6.
func Family(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

// PrefixOf is an IPv4 or IPv6 unicast NLRI's prefix (invalid for others).
func PrefixOf(n bgp.AddrPrefixInterface) netip.Prefix {
	var ip net.IP
	var l uint8
	v6 := false
	switch v := n.(type) {
	case *bgp.IPAddrPrefix:
		ip, l = v.Prefix, v.Length
	case *bgp.IPv6AddrPrefix:
		ip, l, v6 = v.Prefix, v.Length, true
	default:
		return netip.Prefix{}
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Prefix{}
	}
	if !v6 {
		a = a.Unmap()
	}
	p, err := a.Prefix(int(l))
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// asPath flattens AS_PATH segments; the origin is the last AS of a final
// AS_SEQUENCE (0 when the path ends in a set or is empty).
func asPath(segs []bgp.AsPathParamInterface) (path []uint32, origin uint32) {
	last := uint8(0)
	for _, s := range segs {
		as := s.GetAS()
		path = append(path, as...)
		if len(as) > 0 {
			last = s.GetType()
			origin = as[len(as)-1]
		}
	}
	if last != bgp.BGP_ASPATH_ATTR_TYPE_SEQ {
		origin = 0
	}
	return path, origin
}

func asPath4(segs []*bgp.As4PathParam) ([]uint32, uint32) {
	in := make([]bgp.AsPathParamInterface, 0, len(segs))
	for _, s := range segs {
		in = append(in, s)
	}
	return asPath(in)
}

// Caps is what an OPEN's capabilities say about what its sender speaks.
type Caps struct {
	// Families are the multiprotocol families listed; none listed means
	// IPv4 unicast (RFC 4760).
	Families map[bgp.RouteFamily]bool
	// AddPath are the ADD-PATH modes per family (RFC 7911).
	AddPath map[bgp.RouteFamily]bgp.BGPAddPathMode
	// RouteRefresh: the sender accepts ROUTE-REFRESH (RFC 2918, or the
	// pre-standard Cisco code).
	RouteRefresh bool
}

// OpenCaps reads an OPEN's capabilities (o nil: an OPEN without any).
func OpenCaps(o *bgp.BGPOpen) Caps {
	c := Caps{Families: map[bgp.RouteFamily]bool{}, AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{}}
	if o != nil {
		for _, p := range o.OptParams {
			op, ok := p.(*bgp.OptionParameterCapability)
			if !ok {
				continue
			}
			for _, x := range op.Capability {
				switch v := x.(type) {
				case *bgp.CapMultiProtocol:
					c.Families[v.CapValue] = true
				case *bgp.CapAddPath:
					for _, t := range v.Tuples {
						c.AddPath[t.RouteFamily] = t.Mode
					}
				case *bgp.CapRouteRefresh, *bgp.CapRouteRefreshCisco:
					c.RouteRefresh = true
				}
			}
		}
	}
	if len(c.Families) == 0 {
		c.Families[bgp.RF_IPv4_UC] = true
	}
	return c
}
