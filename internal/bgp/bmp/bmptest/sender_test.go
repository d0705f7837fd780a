package bmptest

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
)

// TestSenderFrames: every message the sender writes is one well-formed
// BMP frame (version 3, its length, the type expected).
func TestSenderFrames(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	types := make(chan []byte, 16)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			var h [6]byte
			if _, err := io.ReadFull(r, h[:]); err != nil {
				close(types)
				return
			}
			body := make([]byte, binary.BigEndian.Uint32(h[1:5])-6)
			if _, err := io.ReadFull(r, body); err != nil {
				close(types)
				return
			}
			types <- []byte{h[0], h[5]}
		}
	}()
	s, err := Dial(ln.Addr().String(), netip.MustParseAddr("127.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	p := Peer{Addr: netip.MustParseAddr("2001:db8::1"), ASN: 64500}
	for _, f := range []func() error{
		func() error { return s.Initiation("r", "d") },
		func() error { return s.PeerUp(p) },
		func() error {
			return s.Announce(p, []uint32{64500}, netip.MustParsePrefix("198.18.0.0/16"), netip.MustParsePrefix("2001:db8::/32"))
		},
		func() error { return s.Withdraw(p, netip.MustParsePrefix("2001:db8::/32")) },
		func() error { return s.EndOfRIB(p) },
		func() error { return s.PeerDown(p) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	want := []byte{4, 3, 0, 0, 0, 0, 2} // initiation, peer up, 4 route monitoring, peer down
	var got []byte
	for tv := range types {
		if tv[0] != 3 {
			t.Errorf("version %d", tv[0])
		}
		got = append(got, tv[1])
	}
	if string(got) != string(want) {
		t.Errorf("message types %v, want %v", got, want)
	}
}
