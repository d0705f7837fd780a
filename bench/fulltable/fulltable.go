// Package fulltable generates the full-table-sized BGP feed of reachmon's
// benchmarks (bench/bgp, bench/bmp): a deterministic table with the prefix
// length mix of a real Internet table (900,000 IPv4 and 200,000 IPv6 routes
// by default), encoded ahead as back-to-back BGP UPDATE messages ending
// with End-of-RIB for both families, and the watched prefixes reachmon is
// configured with (half of them routes of the feed, half not announced).
package fulltable

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

const (
	// SenderAS is the AS of the sending router: first in every AS path.
	SenderAS = 65100
	// Seed makes the table the same every run.
	Seed = 20211004
)

// route is one generated route.
type Route struct {
	Prefix netip.Prefix
	Origin uint32
}

// table is the generated feed: routes, the encoded UPDATE stream that
// carries them (ending with the End-of-RIB markers of both families), and
// the watched prefixes of reachmon's configuration.
type Table struct {
	V4, V6   []Route
	Updates  []byte // back-to-back BGP messages
	NUpdates int
	Watched  []Route // prefix and its expected origin
	InFeed   int     // watched prefixes that are routes of the feed
	Imported int     // routes of the feed inside a watched prefix (what reachmon keeps)
}

// Routes is the number of routes of the table.
func (t *Table) Routes() int { return len(t.V4) + len(t.V6) }

// IPv4 prefix lengths of a real table (share in percent, roughly that of
// the 2024 DFZ): mostly /24, then /22, /23, /21 ...
var v4Lens = []struct{ bits, pct int }{
	{24, 60}, {23, 9}, {22, 12}, {21, 5}, {20, 5}, {19, 3}, {18, 2}, {17, 2}, {16, 2},
}

// IPv6: mostly /48, then /32, /44, /40, /36 ...
var v6Lens = []struct{ bits, pct int }{
	{48, 52}, {32, 14}, {44, 10}, {40, 8}, {36, 5}, {46, 3}, {47, 2}, {42, 2}, {45, 2}, {38, 2},
}

func pickLen(r *rand.Rand, lens []struct{ bits, pct int }) int {
	n := r.IntN(100)
	for _, l := range lens {
		if n < l.pct {
			return l.bits
		}
		n -= l.pct
	}
	return lens[0].bits
}

// publicV4 reports whether a /8 looks like routed unicast space.
func publicV4(a byte) bool {
	switch {
	case a == 0, a == 10, a == 127, a >= 224:
		return false
	}
	return true
}

// Generate builds the table: n4 IPv4 and n6 IPv6 routes, nw watched
// prefixes. The same arguments give the same table every time.
func Generate(n4, n6, nw int) (*Table, error) {
	r := rand.New(rand.NewPCG(Seed, Seed>>3))
	t := &Table{}
	seen := make(map[netip.Prefix]bool, n4+n6)
	// Origins: about 75,000 ASes, half of them 4-byte; each announces a
	// few prefixes (a heavy tail: some announce hundreds).
	origins := make([]uint32, 75_000)
	for i := range origins {
		if i%2 == 0 {
			origins[i] = 1 + uint32(r.IntN(64000))
		} else {
			origins[i] = 131072 + uint32(r.IntN(270000))
		}
	}
	origin := func() uint32 {
		// Zipf-like: squares skew towards low indices.
		x := r.Float64()
		return origins[int(x*x*float64(len(origins)))]
	}
	for len(t.V4) < n4 {
		bits := pickLen(r, v4Lens)
		var a [4]byte
		for {
			a[0] = byte(1 + r.IntN(223))
			if publicV4(a[0]) {
				break
			}
		}
		binary.BigEndian.PutUint32(a[:], uint32(a[0])<<24|uint32(r.IntN(1<<24)))
		p := netip.PrefixFrom(netip.AddrFrom4(a), bits).Masked()
		if seen[p] {
			continue
		}
		seen[p] = true
		t.V4 = append(t.V4, Route{p, origin()})
	}
	for len(t.V6) < n6 {
		bits := pickLen(r, v6Lens)
		var a [16]byte
		// 2001::/16 .. 2c0f::/16, like the allocated part of 2000::/3.
		binary.BigEndian.PutUint16(a[0:], 0x2001+uint16(r.IntN(0x2c0f-0x2001)))
		binary.BigEndian.PutUint64(a[2:], r.Uint64())
		p := netip.PrefixFrom(netip.AddrFrom16(a), bits).Masked()
		if seen[p] {
			continue
		}
		seen[p] = true
		t.V6 = append(t.V6, Route{p, origin()})
	}
	// A table dump is sorted by prefix.
	for _, l := range [][]Route{t.V4, t.V6} {
		sort.Slice(l, func(i, j int) bool {
			if c := l[i].Prefix.Addr().Compare(l[j].Prefix.Addr()); c != 0 {
				return c < 0
			}
			return l[i].Prefix.Bits() < l[j].Prefix.Bits()
		})
	}
	if err := t.encode(r); err != nil {
		return nil, err
	}
	t.pickWatched(r, nw, seen)
	return t, nil
}

// attrs are the path attributes of one UPDATE: AS path from the sender to
// the origin (2 to 7 ASes), next hop, sometimes communities and a MED.
func attrs(r *rand.Rand, origin uint32, v6 bool, nlri []bgp.AddrPrefixInterface) []bgp.PathAttributeInterface {
	n := 1 + r.IntN(6)
	path := make([]uint32, 0, n+1)
	path = append(path, SenderAS)
	for i := 1; i < n; i++ {
		path = append(path, 1+uint32(r.IntN(400000)))
	}
	path = append(path, origin)
	pa := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(uint8(r.IntN(3) / 2)),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, path)}),
	}
	if v6 {
		pa = append(pa, bgp.NewPathAttributeMpReachNLRI("2001:db8::2", nlri))
	} else {
		pa = append(pa, bgp.NewPathAttributeNextHop("127.0.0.2"))
	}
	if r.IntN(3) == 0 {
		pa = append(pa, bgp.NewPathAttributeMultiExitDisc(uint32(r.IntN(1000))))
	}
	if k := r.IntN(5); k > 0 {
		cs := make([]uint32, k)
		for i := range cs {
			cs[i] = uint32(path[1+r.IntN(len(path)-1)]&0xffff)<<16 | uint32(r.IntN(5000))
		}
		pa = append(pa, bgp.NewPathAttributeCommunities(cs))
	}
	return pa
}

// encode packs the routes into UPDATE messages the way a router dumps a
// table: consecutive prefixes of the same origin share an UPDATE (up to
// 8 IPv4 / 4 IPv6 prefixes), IPv6 in MP_REACH_NLRI; then End-of-RIB for
// IPv4 and IPv6.
func (t *Table) encode(r *rand.Rand) error {
	var buf []byte
	add := func(m *bgp.BGPMessage) error {
		b, err := m.Serialize()
		if err != nil {
			return err
		}
		buf = append(buf, b...)
		t.NUpdates++
		return nil
	}
	for fam, l := range [][]Route{t.V4, t.V6} {
		v6 := fam == 1
		maxPer := 8
		if v6 {
			maxPer = 4
		}
		for i := 0; i < len(l); {
			// A run of 1..maxPer prefixes, given one origin.
			k := 1 + r.IntN(maxPer)
			if r.IntN(2) == 0 {
				k = 1 + r.IntN(2)
			}
			k = min(k, len(l)-i)
			orig := l[i].Origin
			var nlri []bgp.AddrPrefixInterface
			var nlri4 []*bgp.IPAddrPrefix
			for j := i; j < i+k; j++ {
				l[j].Origin = orig
				p := l[j].Prefix
				if v6 {
					nlri = append(nlri, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String()))
				} else {
					nlri4 = append(nlri4, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
				}
			}
			if err := add(bgp.NewBGPUpdateMessage(nil, attrs(r, orig, v6, nlri), nlri4)); err != nil {
				return fmt.Errorf("encoding update: %w", err)
			}
			i += k
		}
	}
	for _, f := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		if err := add(bgp.NewEndOfRib(f)); err != nil {
			return err
		}
	}
	t.Updates = buf
	return nil
}

// pickWatched chooses reachmon's [[prefix]] entries: half of them routes
// of the feed (with their origin), half prefixes the feed does not carry
// (as a monitor watches space that is not announced yet, or withdrawn).
// imported counts the routes of the feed inside a watched prefix (the
// import policy accepts a watched prefix and its more-specifics).
func (t *Table) pickWatched(r *rand.Rand, n int, seen map[netip.Prefix]bool) {
	all := append(append([]Route(nil), t.V4...), t.V6...)
	chosen := map[netip.Prefix]bool{}
	inFeed := n / 2
	for len(t.Watched) < inFeed {
		rt := all[r.IntN(len(all))]
		if chosen[rt.Prefix] {
			continue
		}
		chosen[rt.Prefix] = true
		t.Watched = append(t.Watched, rt)
	}
	t.InFeed = len(t.Watched)
	for len(t.Watched) < n {
		var p netip.Prefix
		if r.IntN(5) == 0 {
			var a [16]byte
			binary.BigEndian.PutUint16(a[0:], 0x2001+uint16(r.IntN(0x2c0f-0x2001)))
			binary.BigEndian.PutUint64(a[2:], r.Uint64())
			p = netip.PrefixFrom(netip.AddrFrom16(a), 48).Masked()
		} else {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], uint32(1+r.IntN(223))<<24|uint32(r.IntN(1<<24)))
			if !publicV4(a[0]) {
				continue
			}
			p = netip.PrefixFrom(netip.AddrFrom4(a), 24).Masked()
		}
		if seen[p] || chosen[p] {
			continue
		}
		chosen[p] = true
		t.Watched = append(t.Watched, Route{p, 64496 + uint32(r.IntN(16))})
	}
	// Imported: every route inside a watched prefix.
	lens := map[bool]map[int]bool{false: {}, true: {}}
	for p := range chosen {
		lens[p.Addr().Is6()][p.Bits()] = true
	}
	for _, rt := range all {
		for l := range lens[rt.Prefix.Addr().Is6()] {
			if l > rt.Prefix.Bits() {
				continue
			}
			q, _ := rt.Prefix.Addr().Prefix(l)
			if chosen[q] {
				t.Imported++
				break
			}
		}
	}
}
