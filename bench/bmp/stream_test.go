package benchbmp

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/reachmon/reachmon/bench/fulltable"
)

// The router exporting BMP, and the one peer it monitors (the table's
// sender, whose AS begins every AS path).
const (
	routerAddr = "127.0.0.3"
	routerName = "bench-router"
	routerAS   = 65200
	peerAddr   = "127.0.0.2"
	peerAS     = fulltable.SenderAS
)

// Table sizes: as bench/bgp (the same environment variables).
var (
	nV4    = envInt("BENCH_BGP_V4", 900_000)
	nV6    = envInt("BENCH_BGP_V6", 200_000)
	nWatch = envInt("BENCH_BGP_WATCH", 10_000)
)

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

// feed is the table and the BMP stream carrying it.
type feed struct {
	*fulltable.Table
	stream []byte // back-to-back BMP messages
	nMsgs  int
}

var (
	feedOnce sync.Once
	theFeed  *feed
	feedErr  error
)

func getFeed() (*feed, error) {
	feedOnce.Do(func() {
		t, err := fulltable.Generate(nV4, nV6, nWatch)
		if err != nil {
			feedErr = err
			return
		}
		theFeed, feedErr = encodeBMP(t)
	})
	return theFeed, feedErr
}

// openMsg is a BGP OPEN of as with IPv4/IPv6 unicast and 4-octet AS.
func openMsg(as uint32, id string) *bgp.BGPMessage {
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
		bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
		bgp.NewCapRouteRefresh(),
		bgp.NewCapFourOctetASNumber(as),
	}
	return bgp.NewBGPOpenMessage(uint16(as), 90, id, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
}

// encodeBMP wraps the table as a router dumps its Adj-RIB-In over BMP:
// Initiation (sysName, sysDescr), Peer Up of the monitored peer (the
// OPENs both sides sent, 4-octet AS), then one pre-policy Route
// Monitoring message per UPDATE of the table (End-of-RIB included), each
// with the same per-peer header. Encoded ahead, so that the sender's own
// cost stays out of the measurement.
func encodeBMP(t *fulltable.Table) (*feed, error) {
	f := &feed{Table: t}
	add := func(m *bmp.BMPMessage) error {
		b, err := m.Serialize()
		if err != nil {
			return err
		}
		f.stream = append(f.stream, b...)
		f.nMsgs++
		return nil
	}
	init := bmp.NewBMPInitiation([]bmp.BMPInfoTLVInterface{
		bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_SYS_NAME, routerName),
		bmp.NewBMPInfoTLVString(bmp.BMP_INIT_TLV_TYPE_SYS_DESCR, "reachmon bench/bmp sender"),
	})
	if err := add(init); err != nil {
		return nil, fmt.Errorf("initiation: %w", err)
	}
	ph := bmp.NewBMPPeerHeader(bmp.BMP_PEER_TYPE_GLOBAL, 0, 0, peerAddr, peerAS, peerAddr, 1.7e9)
	up := bmp.NewBMPPeerUpNotification(*ph, routerAddr, 179, 40000, openMsg(routerAS, routerAddr), openMsg(peerAS, peerAddr))
	if err := add(up); err != nil {
		return nil, fmt.Errorf("peer up: %w", err)
	}
	hdr, err := ph.Serialize()
	if err != nil {
		return nil, err
	}
	// Route Monitoring: common header, per-peer header, the UPDATE as it
	// is (no re-encoding of 190,000 messages).
	f.stream = append(make([]byte, 0, len(f.stream)+len(t.Updates)+t.NUpdates*(6+len(hdr))), f.stream...)
	for off := 0; off < len(t.Updates); {
		n := int(binary.BigEndian.Uint16(t.Updates[off+16:]))
		total := 6 + len(hdr) + n
		var ch [6]byte
		ch[0] = bmp.BMP_VERSION
		binary.BigEndian.PutUint32(ch[1:], uint32(total))
		ch[5] = bmp.BMP_MSG_ROUTE_MONITORING
		f.stream = append(f.stream, ch[:]...)
		f.stream = append(f.stream, hdr...)
		f.stream = append(f.stream, t.Updates[off:off+n]...)
		f.nMsgs++
		off += n
	}
	return f, nil
}
