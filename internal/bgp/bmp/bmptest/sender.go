// Package bmptest is an in-process BMP sender for tests and benchmarks:
// a router's side of a BMP session, serialising messages with GoBGP's
// packet packages over a real TCP connection (GoBGP's types stay inside).
package bmptest

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	gobmp "github.com/osrg/gobgp/v3/pkg/packet/bmp"
)

// Sender is one router's BMP session.
type Sender struct {
	c    net.Conn
	self netip.Addr
}

// Dial connects to the station at addr from the local address from (the
// router's address as the station sees it; on Linux any 127.0.0.0/8
// address works without configuration).
func Dial(addr string, from netip.Addr) (*Sender, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bmptest: dial %s from %s: %w", addr, from, err)
	}
	return &Sender{c: c, self: from}, nil
}

// Close ends the session (a lost BMP session, as the station sees it).
func (s *Sender) Close() error { return s.c.Close() }

func (s *Sender) send(m *gobmp.BMPMessage) error {
	b, err := m.Serialize()
	if err != nil {
		return fmt.Errorf("bmptest: serialize: %w", err)
	}
	_, err = s.c.Write(b)
	return err
}

// Peer is a monitored peer of the router.
type Peer struct {
	Addr netip.Addr
	ASN  uint32
}

func (p Peer) header() gobmp.BMPPeerHeader {
	return *gobmp.NewBMPPeerHeader(gobmp.BMP_PEER_TYPE_GLOBAL, 0, 0, p.Addr.String(), p.ASN, "192.0.2.255", float64(time.Now().Unix()))
}

// Initiation sends sysName and sysDescr.
func (s *Sender) Initiation(sysName, sysDescr string) error {
	return s.send(gobmp.NewBMPInitiation([]gobmp.BMPInfoTLVInterface{
		gobmp.NewBMPInfoTLVString(gobmp.BMP_INIT_TLV_TYPE_SYS_NAME, sysName),
		gobmp.NewBMPInfoTLVString(gobmp.BMP_INIT_TLV_TYPE_SYS_DESCR, sysDescr),
	}))
}

// PeerUp reports p's session established, with IPv4 and IPv6 unicast.
func (s *Sender) PeerUp(p Peer) error {
	open := func(asn uint32, id string) *bgp.BGPMessage {
		return bgp.NewBGPOpenMessage(23456, 90, id, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(
			[]bgp.ParameterCapabilityInterface{bgp.NewCapFourOctetASNumber(asn),
				bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC)})})
	}
	return s.send(gobmp.NewBMPPeerUpNotification(p.header(), s.self.String(), 179, 40000,
		open(64999, "192.0.2.254"), open(p.ASN, "192.0.2.253")))
}

// PeerDown reports p's session lost (remote close, no notification).
func (s *Sender) PeerDown(p Peer) error {
	return s.send(gobmp.NewBMPPeerDownNotification(p.header(), gobmp.BMP_PEER_DOWN_REASON_REMOTE_NO_NOTIFICATION, nil, nil))
}

// PeerDeconfigured reports p's session gone because the router no longer
// has the peer (RFC 9069 reason 5, "peer de-configured").
func (s *Sender) PeerDeconfigured(p Peer) error {
	return s.send(gobmp.NewBMPPeerDownNotification(p.header(), gobmp.BMP_PEER_DOWN_REASON_PEER_DE_CONFIGURED, nil, nil))
}

// Announce reports p announcing prefixes with AS path path.
func (s *Sender) Announce(p Peer, path []uint32, prefixes ...netip.Prefix) error {
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, path)}),
	}
	var v4 []*bgp.IPAddrPrefix
	var v6 []bgp.AddrPrefixInterface
	for _, x := range prefixes {
		if x.Addr().Is4() {
			v4 = append(v4, bgp.NewIPAddrPrefix(uint8(x.Bits()), x.Addr().String()))
		} else {
			v6 = append(v6, bgp.NewIPv6AddrPrefix(uint8(x.Bits()), x.Addr().String()))
		}
	}
	if len(v4) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeNextHop(p.Addr.String()))
	}
	if len(v6) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI("2001:db8::1", v6))
	}
	return s.send(gobmp.NewBMPRouteMonitoring(p.header(), bgp.NewBGPUpdateMessage(nil, attrs, v4)))
}

// Withdraw reports p withdrawing prefixes (IPv6 ones in MP_UNREACH_NLRI).
func (s *Sender) Withdraw(p Peer, prefixes ...netip.Prefix) error {
	var w []*bgp.IPAddrPrefix
	var v6 []bgp.AddrPrefixInterface
	for _, x := range prefixes {
		if x.Addr().Is4() {
			w = append(w, bgp.NewIPAddrPrefix(uint8(x.Bits()), x.Addr().String()))
		} else {
			v6 = append(v6, bgp.NewIPv6AddrPrefix(uint8(x.Bits()), x.Addr().String()))
		}
	}
	var attrs []bgp.PathAttributeInterface
	if len(v6) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeMpUnreachNLRI(v6))
	}
	return s.send(gobmp.NewBMPRouteMonitoring(p.header(), bgp.NewBGPUpdateMessage(w, attrs, nil)))
}

// EndOfRIB reports the end of p's initial IPv4 and IPv6 tables.
func (s *Sender) EndOfRIB(p Peer) error {
	for _, rf := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		if err := s.send(gobmp.NewBMPRouteMonitoring(p.header(), bgp.NewEndOfRib(rf))); err != nil {
			return err
		}
	}
	return nil
}
