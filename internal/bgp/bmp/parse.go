package bmp

// Everything that touches GoBGP's packet types lives in this file: BMP
// messages are read, parsed with GoBGP's pkg/packet/bmp and pkg/packet/bgp
// and turned into msg values holding reachmon types only, filtered to
// the watched routes as they are parsed.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	gobmp "github.com/osrg/gobgp/v3/pkg/packet/bmp"

	rbgp "github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/bgp/wire"
)

// DefaultMaxMessage bounds one BMP message: a Route Monitoring message
// carries one BGP message (at most 65,535 bytes with RFC 8654 extended
// messages) behind the common and per-peer headers; a Peer Up carries
// two OPENs and information TLVs. Longer messages close the session.
const DefaultMaxMessage = 1 << 18

// BMP message types (RFC 7854 section 4.1), as metric label values.
var msgTypeNames = map[uint8]string{
	gobmp.BMP_MSG_ROUTE_MONITORING:       "route_monitoring",
	gobmp.BMP_MSG_STATISTICS_REPORT:      "statistics_report",
	gobmp.BMP_MSG_PEER_DOWN_NOTIFICATION: "peer_down",
	gobmp.BMP_MSG_PEER_UP_NOTIFICATION:   "peer_up",
	gobmp.BMP_MSG_INITIATION:             "initiation",
	gobmp.BMP_MSG_TERMINATION:            "termination",
	gobmp.BMP_MSG_ROUTE_MIRRORING:        "route_mirroring",
}

// msgTypeName names a message type for logs and metrics.
func msgTypeName(t uint8) string {
	if n, ok := msgTypeNames[t]; ok {
		return n
	}
	return "unknown"
}

// readMessage reads one BMP message: the common header (version 3, a
// length of at least the header and at most max) and the rest.
func readMessage(r io.Reader, max int, buf []byte) ([]byte, error) {
	var hdr [gobmp.BMP_HEADER_SIZE]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] != gobmp.BMP_VERSION {
		return nil, &malformed{fmt.Sprintf("BMP version %d, want %d", hdr[0], gobmp.BMP_VERSION)}
	}
	n := int(binary.BigEndian.Uint32(hdr[1:5]))
	switch {
	case n < gobmp.BMP_HEADER_SIZE:
		return nil, &malformed{fmt.Sprintf("message length %d is shorter than the %d-byte header", n, gobmp.BMP_HEADER_SIZE)}
	case n > max:
		return nil, &malformed{fmt.Sprintf("%s message of %d bytes exceeds the limit of %d", msgTypeName(hdr[5]), n, max)}
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[gobmp.BMP_HEADER_SIZE:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// malformed is a message the station cannot use; the session is closed.
type malformed struct{ what string }

func (m *malformed) Error() string { return "malformed BMP message: " + m.what }

// peerID identifies a monitored peer (a view) of one router: the
// per-peer header's type, distinguisher, address and the flags that make
// another RIB of the same peer (post-policy, Adj-RIB-Out).
type peerID struct {
	typ        uint8
	rd         uint64
	addr       netip.Addr
	postPolicy bool
	adjRIBOut  bool
}

// Message types the station acts on.
const (
	typeRouteMonitoring = gobmp.BMP_MSG_ROUTE_MONITORING
	typePeerDown        = gobmp.BMP_MSG_PEER_DOWN_NOTIFICATION
	typePeerUp          = gobmp.BMP_MSG_PEER_UP_NOTIFICATION
	typeInitiation      = gobmp.BMP_MSG_INITIATION
	typeTermination     = gobmp.BMP_MSG_TERMINATION
)

// addPathModes are the families whose UPDATEs carry ADD-PATH path
// identifiers (RFC 7911), from a peer's Peer Up.
type addPathModes map[bgp.RouteFamily]bgp.BGPAddPathMode

// Peer types (RFC 7854 4.2, RFC 9069).
const (
	peerGlobal = gobmp.BMP_PEER_TYPE_GLOBAL
	peerRD     = gobmp.BMP_PEER_TYPE_L3VPN
	peerLocal  = gobmp.BMP_PEER_TYPE_LOCAL
	peerLocRIB = gobmp.BMP_PEER_TYPE_LOCAL_RIB
)

// String is the view's qualifier in keys and labels ("" for a global
// peer's pre-policy Adj-RIB-In, the common case).
func (id peerID) qualifiers() []string {
	var q []string
	switch id.typ {
	case peerRD:
		q = append(q, "rd "+strconv.FormatUint(id.rd, 10))
	case peerLocal:
		q = append(q, "local instance "+strconv.FormatUint(id.rd, 10))
	case peerLocRIB:
		if id.rd != 0 {
			q = append(q, "vrf "+strconv.FormatUint(id.rd, 10))
		}
		return q // Loc-RIB: no pre/post policy, no Adj-RIB-Out
	}
	if id.adjRIBOut {
		q = append(q, "adj-rib-out")
	}
	if id.postPolicy {
		q = append(q, "post-policy")
	}
	return q
}

// msg is a parsed BMP message in reachmon's types.
type msg struct {
	typ  uint8
	peer peerID
	asn  uint32
	// Initiation.
	sysName, sysDescr string
	// Termination: its reason and strings.
	termination string
	// Peer Up: the unicast families both OPENs carry (4, 6) and the
	// ADD-PATH receive modes of the peer's UPDATEs.
	families []int
	addPath  addPathModes
	// Peer Down: why, and whether the router no longer has the peer.
	downReason   string
	deconfigured bool
	// Route Monitoring: kept routes, how many were filtered out, and
	// the End-of-RIB family (0: none).
	routes   []rbgp.Route
	filtered int
	eor      int
	// attrError is an UPDATE's attribute error handled as RFC 7606 says
	// (attribute discarded, or the routes withdrawn).
	attrError string
}

// parseMessage parses one whole BMP message (as readMessage returns it).
// watched filters the routes of Route Monitoring messages; addPath gives
// a peer's ADD-PATH modes (from its Peer Up). Errors describe what is
// wrong; a panic inside the parser is an error too.
func parseMessage(data []byte, watched func(netip.Prefix) bool, addPath func(peerID) addPathModes) (m msg, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &malformed{fmt.Sprintf("parser failed: %v", r)}
		}
	}()
	if len(data) < gobmp.BMP_HEADER_SIZE {
		return m, &malformed{"shorter than the common header"}
	}
	m.typ = data[5]
	if _, ok := msgTypeNames[m.typ]; !ok {
		return m, &malformed{fmt.Sprintf("unknown message type %d", m.typ)}
	}
	if m.typ != gobmp.BMP_MSG_INITIATION && m.typ != gobmp.BMP_MSG_TERMINATION && len(data) < gobmp.BMP_HEADER_SIZE+gobmp.BMP_PEER_HEADER_SIZE {
		return m, &malformed{fmt.Sprintf("%s message of %d bytes has no room for the per-peer header", msgTypeName(m.typ), len(data))}
	}
	if m.typ == gobmp.BMP_MSG_PEER_UP_NOTIFICATION && len(data) < gobmp.BMP_HEADER_SIZE+gobmp.BMP_PEER_HEADER_SIZE+20 {
		return m, &malformed{"peer_up message too short for its local address and ports"}
	}
	if m.typ == gobmp.BMP_MSG_PEER_DOWN_NOTIFICATION && len(data) < gobmp.BMP_HEADER_SIZE+gobmp.BMP_PEER_HEADER_SIZE+1 {
		return m, &malformed{"peer_down message without a reason"}
	}
	if m.typ == gobmp.BMP_MSG_STATISTICS_REPORT || m.typ == gobmp.BMP_MSG_ROUTE_MIRRORING {
		// Counted, not used: only the per-peer header is read.
		var ph gobmp.BMPPeerHeader
		if err := ph.DecodeFromBytes(data[gobmp.BMP_HEADER_SIZE:]); err != nil {
			return m, &malformed{err.Error()}
		}
		m.peer, m.asn = peerOf(&ph), ph.PeerAS
		return m, nil
	}
	var opts func(gobmp.BMPPeerHeader) []*bgp.MarshallingOption
	if addPath != nil {
		opts = func(ph gobmp.BMPPeerHeader) []*bgp.MarshallingOption {
			if ap := addPath(peerOf(&ph)); len(ap) > 0 {
				return []*bgp.MarshallingOption{{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode(ap)}}
			}
			return nil
		}
	}
	bm, err := gobmp.ParseBMPMessageWithOptions(data, opts)
	withdrawAll := false
	if err != nil {
		// RFC 7606 in a Route Monitoring message's UPDATE: a bad optional
		// attribute is discarded, a bad mandatory one makes the UPDATE a
		// withdrawal of its routes; anything else is malformed.
		var me *bgp.MessageError
		switch {
		case bm == nil || m.typ != gobmp.BMP_MSG_ROUTE_MONITORING || !errors.As(err, &me):
			return m, &malformed{fmt.Sprintf("%s: %v", msgTypeName(m.typ), err)}
		case me.ErrorHandling == bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD:
		case me.ErrorHandling == bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW:
			withdrawAll = true
		default:
			return m, &malformed{fmt.Sprintf("%s: %v", msgTypeName(m.typ), err)}
		}
		m.attrError = err.Error()
	}
	if bm == nil || bm.Body == nil {
		return m, &malformed{msgTypeName(m.typ) + ": no body"}
	}
	m.peer, m.asn = peerOf(&bm.PeerHeader), bm.PeerHeader.PeerAS
	switch b := bm.Body.(type) {
	case *gobmp.BMPInitiation:
		var info []string
		for _, t := range b.Info {
			if s, ok := t.(*gobmp.BMPInfoTLVString); ok {
				switch s.Type {
				case gobmp.BMP_INIT_TLV_TYPE_SYS_NAME:
					m.sysName = clean(s.Value)
				case gobmp.BMP_INIT_TLV_TYPE_SYS_DESCR:
					m.sysDescr = clean(s.Value)
				default:
					info = append(info, clean(s.Value))
				}
			}
		}
		if m.sysDescr == "" && len(info) > 0 {
			m.sysDescr = strings.Join(info, "; ")
		}
	case *gobmp.BMPTermination:
		var reason string
		var text []string
		for _, t := range b.Info {
			switch v := t.(type) {
			case *gobmp.BMPTermTLV16:
				reason = termReason(v.Value)
			case *gobmp.BMPTermTLVString:
				text = append(text, clean(v.Value))
			}
		}
		m.termination = strings.Join(append([]string{reason}, text...), ": ")
		m.termination = strings.Trim(m.termination, ": ")
		if m.termination == "" {
			m.termination = "terminated"
		}
	case *gobmp.BMPPeerUpNotification:
		m.families, m.addPath = openFamilies(b.SentOpenMsg, b.ReceivedOpenMsg)
	case *gobmp.BMPPeerDownNotification:
		m.downReason = downReason(b)
		m.deconfigured = b.Reason == gobmp.BMP_PEER_DOWN_REASON_PEER_DE_CONFIGURED
	case *gobmp.BMPRouteMonitoring:
		if b.BGPUpdate == nil {
			return m, &malformed{"route_monitoring without a BGP message"}
		}
		u, ok := b.BGPUpdate.Body.(*bgp.BGPUpdate)
		if !ok {
			return m, &malformed{fmt.Sprintf("route_monitoring carries a BGP message of type %d, not an UPDATE", b.BGPUpdate.Header.Type)}
		}
		if withdrawAll {
			u = bgp.TreatAsWithdraw(u)
		}
		m.update(u, watched)
	}
	return m, nil
}

func peerOf(ph *gobmp.BMPPeerHeader) peerID {
	id := peerID{typ: ph.PeerType, rd: ph.PeerDistinguisher}
	if ph.PeerType == peerLocRIB {
		return id // RFC 9069: no peer address; the F flag is not the V flag
	}
	id.postPolicy, id.adjRIBOut = ph.IsPostPolicy(), ph.IsAdjRIBOut()
	if a, ok := netip.AddrFromSlice(ph.PeerAddress); ok {
		id.addr = a.Unmap()
	}
	return id
}

// update takes an UPDATE's announcements and withdrawals of IPv4 and IPv6
// unicast prefixes, keeping only the watched ones.
func (m *msg) update(u *bgp.BGPUpdate, watched func(netip.Prefix) bool) {
	wire.Walk(u, &msgSink{m: m, watched: watched})
}

// msgSink keeps a Route Monitoring message's watched routes.
type msgSink struct {
	m       *msg
	watched func(netip.Prefix) bool
}

func (s *msgSink) keep(p netip.Prefix) bool {
	if s.watched != nil && !s.watched(p) {
		s.m.filtered++
		return false
	}
	return true
}

func (s *msgSink) Announce(p netip.Prefix, _ int, a *wire.Attrs) {
	if s.keep(p) {
		r := a.Route()
		r.Prefix = p
		s.m.routes = append(s.m.routes, r)
	}
}

func (s *msgSink) Withdraw(p netip.Prefix, _ int) {
	if s.keep(p) {
		s.m.routes = append(s.m.routes, rbgp.Route{Prefix: p, Withdraw: true})
	}
}

func (s *msgSink) EndOfRIB(family int) { s.m.eor = family }

// openFamilies reads the unicast families both OPENs of a Peer Up carry
// (none listed: IPv4 unicast, RFC 4760) and the ADD-PATH modes under
// which the router receives the peer's UPDATEs.
func openFamilies(sent, recv *bgp.BGPMessage) ([]int, addPathModes) {
	caps := func(m *bgp.BGPMessage) (map[bgp.RouteFamily]bool, addPathModes) {
		var o *bgp.BGPOpen
		if m != nil {
			o, _ = m.Body.(*bgp.BGPOpen)
		}
		c := wire.OpenCaps(o)
		return c.Families, c.AddPath
	}
	sf, sap := caps(sent)
	rf, rap := caps(recv)
	var out []int
	if sf[bgp.RF_IPv4_UC] && rf[bgp.RF_IPv4_UC] {
		out = append(out, 4)
	}
	if sf[bgp.RF_IPv6_UC] && rf[bgp.RF_IPv6_UC] {
		out = append(out, 6)
	}
	if len(out) == 0 {
		out = []int{4} // what the peer sends is read anyway
	}
	var ap addPathModes
	for _, f := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		// The peer sends paths with identifiers when it offered to send
		// and the router offered to receive them.
		if rap[f]&bgp.BGP_ADD_PATH_SEND != 0 && sap[f]&bgp.BGP_ADD_PATH_RECEIVE != 0 {
			if ap == nil {
				ap = addPathModes{}
			}
			ap[f] = bgp.BGP_ADD_PATH_RECEIVE
		}
	}
	return out, ap
}

// downReason words a Peer Down notification's reason (RFC 7854 4.9, RFC
// 9069 for Loc-RIB).
func downReason(b *gobmp.BMPPeerDownNotification) string {
	switch b.Reason {
	case gobmp.BMP_PEER_DOWN_REASON_LOCAL_BGP_NOTIFICATION, gobmp.BMP_PEER_DOWN_REASON_REMOTE_BGP_NOTIFICATION:
		side := "local"
		if b.Reason == gobmp.BMP_PEER_DOWN_REASON_REMOTE_BGP_NOTIFICATION {
			side = "remote"
		}
		if b.BGPNotification != nil {
			if n, ok := b.BGPNotification.Body.(*bgp.BGPNotification); ok {
				return fmt.Sprintf("%s notification %d/%d", side, n.ErrorCode, n.ErrorSubcode)
			}
		}
		return side + " notification"
	case gobmp.BMP_PEER_DOWN_REASON_LOCAL_NO_NOTIFICATION:
		return "local close without notification"
	case gobmp.BMP_PEER_DOWN_REASON_REMOTE_NO_NOTIFICATION:
		return "remote close without notification"
	case gobmp.BMP_PEER_DOWN_REASON_PEER_DE_CONFIGURED:
		return "peer de-configured"
	case 6:
		return "monitoring stopped"
	}
	return "reason " + strconv.Itoa(int(b.Reason))
}

// termReason words a Termination message's reason code (RFC 7854 4.5).
func termReason(v uint16) string {
	switch v {
	case gobmp.BMP_TERM_REASON_ADMIN:
		return "session administratively closed"
	case gobmp.BMP_TERM_REASON_UNSPEC:
		return "unspecified reason"
	case gobmp.BMP_TERM_REASON_OUT_OF_RESOURCES:
		return "out of resources"
	case gobmp.BMP_TERM_REASON_REDUNDANT_CONNECTION:
		return "redundant connection"
	case gobmp.BMP_TERM_REASON_PERMANENTLY_ADMIN:
		return "session permanently administratively closed"
	}
	return "reason " + strconv.Itoa(int(v))
}

// clean bounds a router-supplied string for logs and the API: printable
// characters only, at most 256 bytes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return -1
		}
		return r
	}, s)
	if len(s) > 256 {
		s = s[:256]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return strings.TrimSpace(s)
}
