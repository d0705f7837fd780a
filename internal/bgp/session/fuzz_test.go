package session

import (
	"net/netip"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/reachmon/reachmon/internal/bgp/wire"
)

// countSink records what decodeUpdate hands over.
type countSink struct {
	set       *prefixSet
	announced int
	withdrawn int
	eor       []int
}

func (s *countSink) Announce(p netip.Prefix, family int, a *wire.Attrs) {
	if !p.IsValid() || wire.Family(p) != family || a == nil {
		panic("bad announcement")
	}
	_ = a.Route()
	s.set.add(p)
	s.announced++
}

func (s *countSink) Withdraw(p netip.Prefix, family int) {
	if !p.IsValid() || wire.Family(p) != family {
		panic("bad withdrawal")
	}
	s.set.remove(p)
	s.withdrawn++
}

func (s *countSink) EndOfRIB(family int) { s.eor = append(s.eor, family) }

func body(m *bgp.BGPMessage) []byte {
	b, err := m.Serialize()
	if err != nil {
		panic(err)
	}
	return b[headerLen:]
}

// FuzzDecodeUpdate feeds arbitrary UPDATE bodies to the decoder and
// filter: it never panics, an error is always a NOTIFICATION to send
// (code 3 for an UPDATE), and every prefix handed over is valid and of
// the family it is counted in.
func FuzzDecodeUpdate(f *testing.F) {
	f.Add(body(update([]uint32{64500, 64501}, "198.18.1.0/24", "2001:db8:100::/48")))
	f.Add(body(withdrawal("198.18.1.0/24", "2001:db8:100::/48")))
	f.Add(body(bgp.NewEndOfRib(bgp.RF_IPv6_UC)))
	f.Add(body(bgp.NewEndOfRib(bgp.RF_IPv4_UC)))
	bad := update([]uint32{64500}, "198.18.1.0/24")
	bad.Body.(*bgp.BGPUpdate).PathAttributes[0] = bgp.NewPathAttributeOrigin(7)
	f.Add(body(bad))
	f.Add([]byte{0, 0, 0, 0, 33, 10, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &countSink{set: newPrefixSet()}
		_, err := decodeUpdate(b, true, s)
		if err != nil {
			ne, ok := err.(*notifyError)
			if !ok || ne.code == 0 {
				t.Fatalf("error %v is no NOTIFICATION", err)
			}
		}
		if s.set.len4()+s.set.len6() > s.announced {
			t.Fatalf("set holds %d after %d announcements", s.set.len4()+s.set.len6(), s.announced)
		}
	})
}

// TestDecodeUpdate checks the decoder on hand-built UPDATEs: AS path,
// origin, next hops per family, withdrawals of both kinds, End-of-RIB.
func TestDecodeUpdate(t *testing.T) {
	type got struct {
		p       netip.Prefix
		origin  uint32
		path    []uint32
		nextHop netip.Addr
	}
	var ann []got
	var wd []netip.Prefix
	var eor []int
	s := sinkFuncs{
		a: func(p netip.Prefix, _ int, a *wire.Attrs) {
			r := a.Route()
			ann = append(ann, got{p, r.Origin, append([]uint32(nil), r.ASPath...), r.NextHop})
		},
		w: func(p netip.Prefix, _ int) { wd = append(wd, p) },
		e: func(f int) { eor = append(eor, f) },
	}
	if _, err := decodeUpdate(body(update([]uint32{64501, 64500}, "198.18.1.0/24", "2001:db8:100::/48")), true, s); err != nil {
		t.Fatal(err)
	}
	if len(ann) != 2 || ann[0].p.String() != "2001:db8:100::/48" || ann[0].nextHop.String() != "2001:db8::1" || ann[0].origin != 64500 ||
		ann[1].p.String() != "198.18.1.0/24" || ann[1].nextHop.String() != "127.0.0.9" || len(ann[1].path) != 2 {
		t.Errorf("announcements %+v", ann)
	}
	if _, err := decodeUpdate(body(withdrawal("198.18.1.0/24", "2001:db8:100::/48")), true, s); err != nil {
		t.Fatal(err)
	}
	if len(wd) != 2 {
		t.Errorf("withdrawals %v", wd)
	}
	for _, rf := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		if _, err := decodeUpdate(body(bgp.NewEndOfRib(rf)), true, s); err != nil {
			t.Fatal(err)
		}
	}
	if len(eor) != 2 || eor[0] != 4 || eor[1] != 6 {
		t.Errorf("End-of-RIB %v", eor)
	}
}

type sinkFuncs struct {
	a func(netip.Prefix, int, *wire.Attrs)
	w func(netip.Prefix, int)
	e func(int)
}

func (s sinkFuncs) Announce(p netip.Prefix, f int, a *wire.Attrs) { s.a(p, f, a) }
func (s sinkFuncs) Withdraw(p netip.Prefix, f int)                { s.w(p, f) }
func (s sinkFuncs) EndOfRIB(f int)                                { s.e(f) }
