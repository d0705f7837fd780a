package session

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/reachmon/reachmon/internal/config"
)

// TestReadMessageErrors: a bad header is the NOTIFICATION RFC 4271 6.1
// asks for: marker not all ones, a length out of range (or a KEEPALIVE
// longer than 19), an unknown type.
func TestReadMessageErrors(t *testing.T) {
	hdr := func(n int, typ byte) []byte {
		b := bytes.Repeat([]byte{0xff}, 16)
		return append(b, byte(n>>8), byte(n), typ)
	}
	badMarker := hdr(19, msgKeepalive)
	badMarker[3] = 0
	for _, tc := range []struct {
		name      string
		in        []byte
		code, sub uint8
	}{
		{"marker", badMarker, codeHeader, subNotSync},
		{"short", hdr(18, msgKeepalive), codeHeader, subBadLength},
		{"long", hdr(4097, msgUpdate), codeHeader, subBadLength},
		{"keepalive with a body", append(hdr(20, msgKeepalive), 0), codeHeader, subBadLength},
		{"open too short", append(hdr(28, msgOpen), make([]byte, 9)...), codeHeader, subBadLength},
		{"type", hdr(19, 9), codeHeader, subBadType},
	} {
		_, _, err := readMessage(bytes.NewReader(tc.in), nil)
		var ne *notifyError
		if !errors.As(err, &ne) || ne.code != tc.code || ne.sub != tc.sub {
			t.Errorf("%s: %v, want notification %d/%d", tc.name, err, tc.code, tc.sub)
		}
	}
	typ, body, err := readMessage(bytes.NewReader(append(hdr(23, msgUpdate), 0, 0, 0, 0)), nil)
	if err != nil || typ != msgUpdate || len(body) != 4 {
		t.Errorf("empty UPDATE: %d %v %v", typ, body, err)
	}
}

// TestOpenNegotiation: the peer's OPEN is checked (AS, hold time, BGP
// identifier) and its capabilities read.
func TestOpenNegotiation(t *testing.T) {
	open := encodeOpen(openParams{asn: 4200000001, hold: 90, id: mustAddr("192.0.2.9"), families: []int{4, 6}})
	o, err := decodeOpen(open[headerLen:], 4200000001, 64512, mustAddr("10.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if o.asn != 4200000001 || o.hold != 90 || o.id.String() != "192.0.2.9" || !o.routeRefresh || len(o.families) != 2 {
		t.Errorf("decoded %+v", o)
	}
	if _, err := decodeOpen(open[headerLen:], 64500, 64512, mustAddr("10.0.0.1")); !isNotify(err, codeOpen, 2) {
		t.Errorf("wrong peer AS: %v", err)
	}
	if _, err := decodeOpen(encodeOpen(openParams{asn: 64512, hold: 2, id: mustAddr("192.0.2.9"), families: []int{4}})[headerLen:], 64512, 64512, mustAddr("10.0.0.1")); !isNotify(err, codeOpen, 6) {
		t.Errorf("hold time 2: %v", err)
	}
	if _, err := decodeOpen(encodeOpen(openParams{asn: 64512, hold: 90, id: mustAddr("10.0.0.1"), families: []int{4}})[headerLen:], 64512, 64512, mustAddr("10.0.0.1")); !isNotify(err, codeOpen, 3) {
		t.Errorf("iBGP peer with reachmon's identifier: %v", err)
	}
}

// TestTTL: eBGP without multihop_ttl is 1 (directly connected), as
// GoBGP does; multihop_ttl wins; iBGP keeps the system default.
func TestTTL(t *testing.T) {
	if got := ttlFor(config.Neighbor{}, true); got != 1 {
		t.Errorf("eBGP: %d", got)
	}
	if got := ttlFor(config.Neighbor{MultihopTTL: 5}, true); got != 5 {
		t.Errorf("eBGP multihop: %d", got)
	}
	if got := ttlFor(config.Neighbor{}, false); got != 0 {
		t.Errorf("iBGP: %d", got)
	}
}

func isNotify(err error, code, sub uint8) bool {
	var ne *notifyError
	return errors.As(err, &ne) && ne.code == code && ne.sub == sub
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
