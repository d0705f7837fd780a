package session

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/reachmon/reachmon/internal/config"
)

// raw is a hand-driven BGP speaker for what GoBGP cannot be made to do:
// stop sending keepalives, leave out route refresh, send malformed
// UPDATEs. It listens; reachmon connects.
type raw struct {
	t    testing.TB
	ln   net.Listener
	c    net.Conn
	addr string
	port int
}

func startRaw(t testing.TB, addr string) *raw {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	r := &raw{t: t, ln: ln, addr: addr, port: ln.Addr().(*net.TCPAddr).Port}
	t.Cleanup(func() {
		ln.Close()
		if r.c != nil {
			r.c.Close()
		}
	})
	return r
}

// dial opens a second connection from the speaker's address to
// reachmon's listener at to.
func (r *raw) dial(to string) *raw {
	r.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(r.addr)}, Timeout: waitFor}
	c, err := d.Dial("tcp", to)
	if err != nil {
		r.t.Fatalf("raw dial: %v", err)
	}
	r.t.Cleanup(func() { c.Close() })
	return &raw{t: r.t, c: c, addr: r.addr}
}

// sendOpen sends the speaker's OPEN (hold seconds; route refresh).
func (r *raw) sendOpen(asn uint32, hold uint16) {
	r.t.Helper()
	caps := []bgp.ParameterCapabilityInterface{bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(asn), bgp.NewCapRouteRefresh()}
	r.send(bgp.NewBGPOpenMessage(uint16(asn), hold, r.addr, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)}))
}

// neighbor is reachmon's configuration for this speaker (hold 3 s).
func (r *raw) neighbor(asn uint32) config.Neighbor {
	return config.Neighbor{Address: r.addr, Port: r.port, PeerASN: asn, LocalAddress: localAddr, FullTable: true,
		HoldTime: config.Duration{Duration: 3 * time.Second}, ConnectRetry: config.Duration{Duration: time.Second}}
}

// accept takes reachmon's next connection.
func (r *raw) accept() {
	r.t.Helper()
	if r.c != nil {
		r.c.Close()
	}
	_ = r.ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitFor))
	c, err := r.ln.Accept()
	if err != nil {
		r.t.Fatalf("raw accept: %v", err)
	}
	r.c = c
}

// handshake answers reachmon's OPEN with asn's (hold seconds; route
// refresh when rr) and completes the session.
func (r *raw) handshake(asn uint32, hold uint16, rr bool) {
	r.t.Helper()
	if m := r.next(); m.Header.Type != bgp.BGP_MSG_OPEN {
		r.t.Fatalf("raw: first message of type %d, want OPEN", m.Header.Type)
	}
	caps := []bgp.ParameterCapabilityInterface{bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC), bgp.NewCapFourOctetASNumber(asn)}
	if rr {
		caps = append(caps, bgp.NewCapRouteRefresh())
	}
	r.send(bgp.NewBGPOpenMessage(uint16(asn), hold, r.addr, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)}))
	r.send(bgp.NewBGPKeepAliveMessage())
	if m := r.next(); m.Header.Type != bgp.BGP_MSG_KEEPALIVE {
		r.t.Fatalf("raw: message of type %d after OPEN, want KEEPALIVE", m.Header.Type)
	}
}

func (r *raw) send(m *bgp.BGPMessage) {
	r.t.Helper()
	b, err := m.Serialize()
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendBytes(b)
}

func (r *raw) sendBytes(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

// next reads reachmon's next message.
func (r *raw) next() *bgp.BGPMessage {
	r.t.Helper()
	m, err := r.read(waitFor)
	if err != nil {
		r.t.Fatalf("raw read: %v", err)
	}
	return m
}

func (r *raw) read(d time.Duration) (*bgp.BGPMessage, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	hdr := make([]byte, 19)
	if _, err := io.ReadFull(r.c, hdr); err != nil {
		return nil, err
	}
	n := int(hdr[16])<<8 | int(hdr[17])
	b := make([]byte, n)
	copy(b, hdr)
	if _, err := io.ReadFull(r.c, b[19:]); err != nil {
		return nil, err
	}
	return bgp.ParseBGPMessage(b)
}

// until reads messages, skipping KEEPALIVEs, until one of type typ.
func (r *raw) until(typ uint8) *bgp.BGPMessage {
	r.t.Helper()
	for range 100 {
		m := r.next()
		if m.Header.Type == typ {
			return m
		}
		if m.Header.Type != bgp.BGP_MSG_KEEPALIVE {
			r.t.Fatalf("raw: message of type %d, want %d", m.Header.Type, typ)
		}
	}
	r.t.Fatalf("raw: no message of type %d", typ)
	return nil
}

// update builds an UPDATE announcing prefixes (IPv4 in NLRI, IPv6 in
// MP_REACH) with AS path path.
func update(path []uint32, prefixes ...string) *bgp.BGPMessage {
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, path)}),
	}
	var nlri []*bgp.IPAddrPrefix
	var mp []bgp.AddrPrefixInterface
	for _, s := range prefixes {
		p := netip.MustParsePrefix(s)
		if p.Addr().Is4() {
			nlri = append(nlri, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
		} else {
			mp = append(mp, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String()))
		}
	}
	if len(nlri) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeNextHop("127.0.0.9"))
	}
	if len(mp) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeMpReachNLRI("2001:db8::1", mp))
	}
	return bgp.NewBGPUpdateMessage(nil, attrs, nlri)
}

func withdrawal(prefixes ...string) *bgp.BGPMessage {
	var w []*bgp.IPAddrPrefix
	var mp []bgp.AddrPrefixInterface
	for _, s := range prefixes {
		p := netip.MustParsePrefix(s)
		if p.Addr().Is4() {
			w = append(w, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
		} else {
			mp = append(mp, bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String()))
		}
	}
	var attrs []bgp.PathAttributeInterface
	if len(mp) > 0 {
		attrs = append(attrs, bgp.NewPathAttributeMpUnreachNLRI(mp))
	}
	return bgp.NewBGPUpdateMessage(w, attrs, nil)
}

func notification(m *bgp.BGPMessage) (code, sub uint8) {
	n := m.Body.(*bgp.BGPNotification)
	return n.ErrorCode, n.ErrorSubcode
}
