package benchbgp

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"sync"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// Feed sizes: the issue asks for at least 900,000 IPv4 and 200,000 IPv6
// routes; BENCH_BGP_V4 / BENCH_BGP_V6 / BENCH_BGP_WATCH change them (for
// quick tries only).
var (
	nV4    = envInt("BENCH_BGP_V4", 900_000)
	nV6    = envInt("BENCH_BGP_V6", 200_000)
	nWatch = envInt("BENCH_BGP_WATCH", 10_000)
)

const (
	senderAS   = 65100
	receiverAS = 64512
	feedSeed   = 20211004 // deterministic: the same table every run
)

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

// route is one generated route.
type route struct {
	prefix netip.Prefix
	origin uint32
}

// table is the generated feed: routes, the encoded UPDATE stream that
// carries them (ending with the End-of-RIB markers of both families), and
// the watched prefixes of reachmon's configuration.
type table struct {
	v4, v6   []route
	updates  []byte // back-to-back BGP messages
	nUpdates int
	watched  []route // prefix and its expected origin
	inFeed   int     // watched prefixes that are routes of the feed
	imported int     // routes of the feed that the import policy accepts
}

func (t *table) routes() int { return len(t.v4) + len(t.v6) }

var (
	tableOnce sync.Once
	theTable  *table
	tableErr  error
)

// feedTable builds the table once per process.
func feedTable() (*table, error) {
	tableOnce.Do(func() { theTable, tableErr = genTable(nV4, nV6, nWatch) })
	return theTable, tableErr
}

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

func genTable(n4, n6, nw int) (*table, error) {
	r := rand.New(rand.NewPCG(feedSeed, feedSeed>>3))
	t := &table{}
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
	for len(t.v4) < n4 {
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
		t.v4 = append(t.v4, route{p, origin()})
	}
	for len(t.v6) < n6 {
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
		t.v6 = append(t.v6, route{p, origin()})
	}
	// A table dump is sorted by prefix.
	for _, l := range [][]route{t.v4, t.v6} {
		sort.Slice(l, func(i, j int) bool {
			if c := l[i].prefix.Addr().Compare(l[j].prefix.Addr()); c != 0 {
				return c < 0
			}
			return l[i].prefix.Bits() < l[j].prefix.Bits()
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
	path = append(path, senderAS)
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
func (t *table) encode(r *rand.Rand) error {
	var buf []byte
	add := func(m *bgp.BGPMessage) error {
		b, err := m.Serialize()
		if err != nil {
			return err
		}
		buf = append(buf, b...)
		t.nUpdates++
		return nil
	}
	for fam, l := range [][]route{t.v4, t.v6} {
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
			orig := l[i].origin
			var nlri []bgp.AddrPrefixInterface
			var nlri4 []*bgp.IPAddrPrefix
			for j := i; j < i+k; j++ {
				l[j].origin = orig
				p := l[j].prefix
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
	t.updates = buf
	return nil
}

// pickWatched chooses reachmon's [[prefix]] entries: half of them routes
// of the feed (with their origin), half prefixes the feed does not carry
// (as a monitor watches space that is not announced yet, or withdrawn).
// imported counts the routes of the feed inside a watched prefix (the
// import policy accepts a watched prefix and its more-specifics).
func (t *table) pickWatched(r *rand.Rand, n int, seen map[netip.Prefix]bool) {
	all := append(append([]route(nil), t.v4...), t.v6...)
	chosen := map[netip.Prefix]bool{}
	inFeed := n / 2
	for len(t.watched) < inFeed {
		rt := all[r.IntN(len(all))]
		if chosen[rt.prefix] {
			continue
		}
		chosen[rt.prefix] = true
		t.watched = append(t.watched, rt)
	}
	t.inFeed = len(t.watched)
	for len(t.watched) < n {
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
		t.watched = append(t.watched, route{p, 64496 + uint32(r.IntN(16))})
	}
	// Imported: every route inside a watched prefix.
	lens := map[bool]map[int]bool{false: {}, true: {}}
	for p := range chosen {
		lens[p.Addr().Is6()][p.Bits()] = true
	}
	for _, rt := range all {
		for l := range lens[rt.prefix.Addr().Is6()] {
			if l > rt.prefix.Bits() {
				continue
			}
			q, _ := rt.prefix.Addr().Prefix(l)
			if chosen[q] {
				t.imported++
				break
			}
		}
	}
}
