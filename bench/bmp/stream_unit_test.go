package benchbmp

import (
	"encoding/binary"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/reachmon/reachmon/bench/fulltable"
)

// TestStream decodes a small table's BMP stream with GoBGP's BMP parser:
// Initiation, one Peer Up of the monitored peer, then a Route Monitoring
// message per UPDATE of the table carrying every route and both
// End-of-RIB markers.
func TestStream(t *testing.T) {
	tb, err := fulltable.Generate(3000, 600, 100)
	if err != nil {
		t.Fatal(err)
	}
	f, err := encodeBMP(tb)
	if err != nil {
		t.Fatal(err)
	}
	byType := map[uint8]int{}
	prefixes, eor, n := 0, 0, 0
	for off := 0; off < len(f.stream); n++ {
		l := int(binary.BigEndian.Uint32(f.stream[off+1:]))
		m, err := bmp.ParseBMPMessage(f.stream[off : off+l])
		if err != nil {
			t.Fatalf("message %d at %d: %v", n, off, err)
		}
		byType[m.Header.Type]++
		switch body := m.Body.(type) {
		case *bmp.BMPPeerUpNotification:
			if m.PeerHeader.PeerAS != peerAS || m.PeerHeader.PeerAddress.String() != peerAddr {
				t.Errorf("peer up of %s AS%d", m.PeerHeader.PeerAddress, m.PeerHeader.PeerAS)
			}
		case *bmp.BMPRouteMonitoring:
			u := body.BGPUpdate.Body.(*bgp.BGPUpdate)
			if ok, _ := u.IsEndOfRib(); ok {
				eor++
			}
			prefixes += len(u.NLRI)
			for _, pa := range u.PathAttributes {
				if r, ok := pa.(*bgp.PathAttributeMpReachNLRI); ok {
					prefixes += len(r.Value)
				}
			}
		}
		off += l
	}
	if n != f.nMsgs || byType[bmp.BMP_MSG_INITIATION] != 1 || byType[bmp.BMP_MSG_PEER_UP_NOTIFICATION] != 1 ||
		byType[bmp.BMP_MSG_ROUTE_MONITORING] != tb.NUpdates || prefixes != tb.Routes() || eor != 2 {
		t.Errorf("%d messages (want %d), by type %v (want %d Route Monitoring), %d prefixes (want %d), %d End-of-RIB",
			n, f.nMsgs, byType, tb.NUpdates, prefixes, tb.Routes(), eor)
	}
}
