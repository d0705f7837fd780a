package bmp

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	gobmp "github.com/osrg/gobgp/v3/pkg/packet/bmp"
)

// FuzzParseMessage: any byte string read as one BMP message either
// parses or is a *malformed error; it never panics, a length the header
// promises beyond the limit is refused before it is read, and every kept
// route is watched and valid. (scripts/fuzz.sh finds every Fuzz target.)
func FuzzParseMessage(f *testing.F) {
	ph := peerHeader("192.0.2.1", 64500, 0)
	for _, m := range []*gobmp.BMPMessage{
		initiation(),
		peerUp(ph, bgp.RF_IPv4_UC, bgp.RF_IPv6_UC),
		announce(ph, []uint32{64500, 64501}, "198.18.0.0/16", "198.18.7.0/24", "203.0.113.0/24", "2001:db8::/32"),
		withdraw(ph, "198.18.7.0/24"),
		gobmp.NewBMPRouteMonitoring(ph, bgp.NewEndOfRib(bgp.RF_IPv6_UC)),
		gobmp.NewBMPPeerDownNotification(ph, gobmp.BMP_PEER_DOWN_REASON_REMOTE_BGP_NOTIFICATION, bgp.NewBGPNotificationMessage(6, 2, nil), nil),
		gobmp.NewBMPTermination([]gobmp.BMPTermTLVInterface{gobmp.NewBMPTermTLV16(gobmp.BMP_TERM_TLV_TYPE_REASON, 1)}),
		gobmp.NewBMPStatisticsReport(ph, []gobmp.BMPStatsTLVInterface{gobmp.NewBMPStatsTLV32(0, 5)}),
	} {
		b, err := m.Serialize()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{3, 0, 0, 0, 6, 9})
	watch := netip.MustParsePrefix("198.18.0.0/16")
	watched := func(p netip.Prefix) bool { return watch.Overlaps(p) && p.Bits() >= watch.Bits() }
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 8192
		raw, err := readMessage(bytes.NewReader(data), limit, nil)
		if err != nil {
			var mf *malformed
			if !errors.As(err, &mf) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("read error of type %T: %v", err, err)
			}
			return
		}
		if len(raw) > limit {
			t.Fatalf("read %d bytes beyond the %d limit", len(raw), limit)
		}
		ap := addPathModes{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_RECEIVE}
		m, err := parseMessage(raw, watched, func(peerID) addPathModes { return ap })
		if err != nil {
			var mf *malformed
			if !errors.As(err, &mf) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, r := range m.routes {
			if !r.Prefix.IsValid() || !watched(r.Prefix) {
				t.Fatalf("kept route %+v is not watched", r)
			}
		}
		if len(m.sysName) > 256 || len(m.sysDescr) > 256 {
			t.Fatalf("unbounded initiation strings: %d, %d bytes", len(m.sysName), len(m.sysDescr))
		}
	})
}
