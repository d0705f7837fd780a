package session

// Everything that touches GoBGP's packet types lives in this file: BGP
// messages are built and parsed with GoBGP's pkg/packet/bgp and turned
// into values holding reachmon types only; UPDATEs are filtered to the
// watched routes as they are decoded.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/reachmon/reachmon/internal/bgp/wire"
)

// Message types (RFC 4271 4.1, RFC 2918).
const (
	msgOpen         = bgp.BGP_MSG_OPEN
	msgUpdate       = bgp.BGP_MSG_UPDATE
	msgNotification = bgp.BGP_MSG_NOTIFICATION
	msgKeepalive    = bgp.BGP_MSG_KEEPALIVE
	msgRouteRefresh = bgp.BGP_MSG_ROUTE_REFRESH
)

const (
	headerLen = bgp.BGP_HEADER_LENGTH
	// maxMessage is the largest message without RFC 8654 extended
	// messages, which reachmon does not advertise.
	maxMessage = bgp.BGP_MAX_MESSAGE_LENGTH
	asTrans    = 23456
)

// NOTIFICATION codes and subcodes reachmon sends (RFC 4271 4.5, RFC 4486).
const (
	codeHeader      = bgp.BGP_ERROR_MESSAGE_HEADER_ERROR
	codeOpen        = bgp.BGP_ERROR_OPEN_MESSAGE_ERROR
	codeUpdate      = bgp.BGP_ERROR_UPDATE_MESSAGE_ERROR
	codeHoldExpired = bgp.BGP_ERROR_HOLD_TIMER_EXPIRED
	codeFSM         = bgp.BGP_ERROR_FSM_ERROR
	codeCease       = bgp.BGP_ERROR_CEASE

	subNotSync     = bgp.BGP_ERROR_SUB_CONNECTION_NOT_SYNCHRONIZED
	subBadLength   = bgp.BGP_ERROR_SUB_BAD_MESSAGE_LENGTH
	subBadType     = bgp.BGP_ERROR_SUB_BAD_MESSAGE_TYPE
	subUnsupCap    = bgp.BGP_ERROR_SUB_UNSUPPORTED_CAPABILITY
	subMaxPrefixes = bgp.BGP_ERROR_SUB_MAXIMUM_NUMBER_OF_PREFIXES_REACHED
	subShutdown    = bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN
	subDeconfig    = bgp.BGP_ERROR_SUB_PEER_DECONFIGURED
	subAdminReset  = bgp.BGP_ERROR_SUB_ADMINISTRATIVE_RESET
	subConfigChg   = bgp.BGP_ERROR_SUB_OTHER_CONFIGURATION_CHANGE
	subCollision   = bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION
	// FSM error subcodes (RFC 6608).
	subFSMOpenSent    = bgp.BGP_ERROR_SUB_RECEIVE_UNEXPECTED_MESSAGE_IN_OPENSENT_STATE
	subFSMOpenConfirm = bgp.BGP_ERROR_SUB_RECEIVE_UNEXPECTED_MESSAGE_IN_OPENCONFIRM_STATE
)

// notifyError is a protocol error that ends the session with a
// NOTIFICATION of code/subcode (data as RFC 4271 says for the error).
type notifyError struct {
	code, sub uint8
	data      []byte
	what      string
}

func (e *notifyError) Error() string {
	return fmt.Sprintf("%s (notification sent: %s)", e.what, codeText(e.code, e.sub))
}

func notify(code, sub uint8, format string, a ...any) *notifyError {
	return &notifyError{code: code, sub: sub, what: fmt.Sprintf(format, a...)}
}

// codeText words a NOTIFICATION's code and subcode ("cease/administrative
// reset").
func codeText(code, sub uint8) string {
	s := bgp.NotificationErrorCode(uint16(code)<<8 | uint16(sub)).String()
	return strings.ToLower(s)
}

// minLength is each message type's least length (RFC 4271 4, RFC 2918 3).
var minLength = map[uint8]int{msgOpen: 29, msgUpdate: 23, msgNotification: 21, msgKeepalive: 19, msgRouteRefresh: 23}

// readMessage reads one BGP message: the 19-byte header (marker all ones,
// a length between 19 and maxMessage and the type's minimum) and the
// body, into buf (grown as needed). It returns the type and the body.
func readMessage(r io.Reader, buf []byte) (typ uint8, body []byte, err error) {
	if cap(buf) < maxMessage {
		buf = make([]byte, maxMessage)
	}
	hdr := buf[:headerLen]
	if _, err := io.ReadFull(r, hdr); err != nil {
		return 0, nil, err
	}
	for _, b := range hdr[:16] {
		if b != 0xff {
			return 0, nil, notify(codeHeader, subNotSync, "message header marker is not all ones")
		}
	}
	n := int(binary.BigEndian.Uint16(hdr[16:18]))
	typ = hdr[18]
	want, known := minLength[typ]
	switch {
	case !known:
		e := notify(codeHeader, subBadType, "message type %d is unknown", typ)
		e.data = []byte{typ}
		return typ, nil, e
	case n < want || n > maxMessage || typ == msgKeepalive && n != headerLen:
		e := notify(codeHeader, subBadLength, "message of type %d has a bad length %d", typ, n)
		e.data = binary.BigEndian.AppendUint16(nil, uint16(n))
		return typ, nil, e
	}
	body = buf[headerLen:n]
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return typ, nil, err
	}
	return typ, body, nil
}

// openParams is what reachmon's OPEN says.
type openParams struct {
	asn      uint32
	hold     uint16 // seconds
	id       netip.Addr
	families []int
}

// encodeOpen builds reachmon's OPEN: MP-BGP for each unicast family,
// route refresh, 4-octet AS, graceful restart (End-of-RIB only).
func encodeOpen(p openParams) []byte {
	var caps []bgp.ParameterCapabilityInterface
	for _, f := range p.families {
		rf := bgp.RF_IPv4_UC
		if f == 6 {
			rf = bgp.RF_IPv6_UC
		}
		caps = append(caps, bgp.NewCapMultiProtocol(rf))
	}
	// Graceful restart with no family and no restart time: reachmon only
	// says it understands End-of-RIB (RFC 4724 section 3), which peers
	// such as GoBGP send only then.
	caps = append(caps, bgp.NewCapRouteRefresh(), bgp.NewCapFourOctetASNumber(p.asn), bgp.NewCapGracefulRestart(false, false, 0, nil))
	myAS := uint16(asTrans)
	if p.asn <= 0xffff {
		myAS = uint16(p.asn)
	}
	m := bgp.NewBGPOpenMessage(myAS, p.hold, p.id.String(), []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	b, err := m.Serialize()
	if err != nil {
		panic("session: serialize OPEN: " + err.Error()) // built from validated values only
	}
	return b
}

// peerOpen is what the peer's OPEN says, checked.
type peerOpen struct {
	asn          uint32
	hold         uint16
	id           netip.Addr
	families     []int // offered unicast families (none offered: IPv4, RFC 4760)
	routeRefresh bool
}

// decodeOpen parses and checks the peer's OPEN against the configured
// peer AS and reachmon's own AS and identifier (RFC 4271 6.2, RFC 6286,
// RFC 6793).
func decodeOpen(body []byte, peerAS, localAS uint32, localID netip.Addr) (o peerOpen, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = notify(codeOpen, 0, "OPEN could not be parsed: %v", r)
		}
	}()
	var m bgp.BGPOpen
	if err := m.DecodeFromBytes(body); err != nil {
		return o, messageError(err, "OPEN")
	}
	as, err := bgp.ValidateOpenMsg(&m, peerAS, localAS, net.IP(localID.AsSlice()))
	if err != nil {
		e := messageError(err, "OPEN")
		if m.Version != 4 {
			e.data = []byte{0, 4}
		}
		return o, e
	}
	o.asn, o.hold = as, m.HoldTime
	if id, ok := netip.AddrFromSlice(m.ID.To4()); ok {
		o.id = id
	}
	caps := wire.OpenCaps(&m)
	o.routeRefresh = caps.RouteRefresh
	if caps.Families[bgp.RF_IPv4_UC] {
		o.families = append(o.families, 4)
	}
	if caps.Families[bgp.RF_IPv6_UC] {
		o.families = append(o.families, 6)
	}
	return o, nil
}

// messageError turns GoBGP's MessageError into a notifyError.
func messageError(err error, what string) *notifyError {
	var me *bgp.MessageError
	if errors.As(err, &me) {
		return &notifyError{code: me.TypeCode, sub: me.SubTypeCode, data: me.Data, what: what + ": " + me.Message}
	}
	return notify(codeHeader, 0, "%s: %v", what, err)
}

// encodeKeepalive, encodeNotification, encodeRouteRefresh build messages.
func encodeKeepalive() []byte {
	b, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	return b
}

func encodeNotification(code, sub uint8, data []byte) []byte {
	if len(data) > maxMessage-21 {
		data = data[:maxMessage-21]
	}
	b, _ := bgp.NewBGPNotificationMessage(code, sub, data).Serialize()
	return b
}

func encodeRouteRefresh(family int) []byte {
	afi := uint16(bgp.AFI_IP)
	if family == 6 {
		afi = bgp.AFI_IP6
	}
	b, _ := bgp.NewBGPRouteRefreshMessage(afi, 0, bgp.SAFI_UNICAST).Serialize()
	return b
}

// decodeNotification words a received NOTIFICATION ("cease/maximum
// number of prefixes reached").
func decodeNotification(body []byte) string {
	if len(body) < 2 {
		return "malformed notification"
	}
	s := codeText(body[0], body[1])
	if body[0] == codeCease && (body[1] == subShutdown || body[1] == subAdminReset) && len(body) > 3 {
		// RFC 8203 shutdown communication: a length and UTF-8 text.
		if n := int(body[2]); n > 0 && 3+n <= len(body) {
			s += ": " + clean(string(body[3:3+n]))
		}
	}
	return s
}

// updateResult says how an UPDATE was handled.
type updateResult struct {
	// attrError is an attribute error handled as RFC 7606 says (the
	// attribute discarded, or the UPDATE's routes withdrawn).
	attrError string
	// ignored says the UPDATE was of a family the session does not take.
	ignored string
}

// unicast are the families the session takes routes of.
var unicast = map[bgp.RouteFamily]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_NONE, bgp.RF_IPv6_UC: bgp.BGP_ADD_PATH_NONE}

// decodeUpdate decodes one UPDATE's body and hands every unicast prefix
// (or its End-of-RIB) to sink (wire.Walk); an error is a notifyError (the session ends). Errors RFC 7606
// allows to survive make the UPDATE a withdrawal of its routes
// (treat-as-withdraw) or drop the bad attribute. A panic inside GoBGP's
// decoder is an UPDATE error too.
func decodeUpdate(body []byte, ebgp bool, sink wire.Sink) (res updateResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = notify(codeUpdate, bgp.BGP_ERROR_SUB_MALFORMED_ATTRIBUTE_LIST, "UPDATE could not be parsed: %v", r)
		}
	}()
	u := &bgp.BGPUpdate{}
	withdrawAll := false
	handle := func(err error) error {
		var me *bgp.MessageError
		if !errors.As(err, &me) {
			return notify(codeUpdate, bgp.BGP_ERROR_SUB_MALFORMED_ATTRIBUTE_LIST, "UPDATE: %v", err)
		}
		switch {
		case me.TypeCode == 0:
			// A family not negotiated: GoBGP's validation says so with
			// code 0; the UPDATE is ignored.
			res.ignored = me.Message
			return nil
		case me.ErrorHandling == bgp.ERROR_HANDLING_ATTRIBUTE_DISCARD:
		case me.ErrorHandling == bgp.ERROR_HANDLING_TREAT_AS_WITHDRAW:
			withdrawAll = true
		default:
			return messageError(err, "UPDATE")
		}
		if res.attrError == "" {
			res.attrError = me.Message
		}
		return nil
	}
	if err := u.DecodeFromBytes(body); err != nil {
		if e := handle(err); e != nil || res.ignored != "" {
			return res, e
		}
	}
	if !withdrawAll {
		if _, err := bgp.ValidateUpdateMsg(u, unicast, ebgp, false, true); err != nil {
			if e := handle(err); e != nil || res.ignored != "" {
				return res, e
			}
		}
	}
	if withdrawAll {
		u = bgp.TreatAsWithdraw(u)
	}
	wire.Walk(u, sink)
	return res, nil
}

// clean bounds a peer-supplied string for logs and the API: printable
// characters only, at most 128 bytes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return -1
		}
		return r
	}, s)
	if len(s) > 128 {
		s = strings.ToValidUTF8(s[:128], "")
	}
	return strings.TrimSpace(s)
}
