package bgplab

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/mrt"
)

// MRTRoute is one route of a table dump: its prefix and AS path (origin
// last). IPv4 only.
type MRTRoute struct {
	Prefix netip.Prefix
	ASPath []uint32
}

// WriteMRT writes routes as an MRT TABLE_DUMP_V2 file (RFC 6396) of one
// peer (peerAddr, peerAS) with nextHop, for `gobgp mrt inject global`:
// the fast way to give a real gobgpd a full table (`gobgp global rib add`
// costs a process per route).
func WriteMRT(path string, peerAddr netip.Addr, peerAS uint32, nextHop netip.Addr, routes []MRTRoute) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	write := func(st mrt.MRTSubTypeTableDumpv2, body mrt.Body) error {
		m, err := mrt.NewMRTMessage(0, mrt.TABLE_DUMPv2, st, body)
		if err != nil {
			return err
		}
		b, err := m.Serialize()
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	peers := []*mrt.Peer{mrt.NewPeer(peerAddr.String(), peerAddr.String(), peerAS, true)}
	if err := write(mrt.PEER_INDEX_TABLE, mrt.NewPeerIndexTable(peerAddr.String(), "", peers)); err != nil {
		f.Close()
		return fmt.Errorf("mrt: peer index: %w", err)
	}
	for i, r := range routes {
		if !r.Prefix.Addr().Is4() {
			f.Close()
			return fmt.Errorf("mrt: %s: only IPv4 routes", r.Prefix)
		}
		attrs := []bgp.PathAttributeInterface{
			bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, r.ASPath)}),
			bgp.NewPathAttributeNextHop(nextHop.String()),
		}
		nlri := bgp.NewIPAddrPrefix(uint8(r.Prefix.Bits()), r.Prefix.Addr().String())
		rib := mrt.NewRib(uint32(i), nlri, []*mrt.RibEntry{mrt.NewRibEntry(0, 0, 0, attrs, false)})
		if err := write(mrt.RIB_IPV4_UNICAST, rib); err != nil {
			f.Close()
			return fmt.Errorf("mrt: %s: %w", r.Prefix, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
