package benchbgp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// The sender is a minimal BGP speaker: it opens the session, waits for
// Established, then writes the pre-encoded UPDATE stream as fast as the
// receiver reads it (TCP back-pressure paces it) and keeps the session up
// with keepalives until closed. Encoding ahead keeps the sender's own
// cost (a few hundred ms of CPU for the whole table) out of the
// measurement, on a machine with two cores where a GoBGP sender building
// its Adj-RIB-Out would compete with the receiver for most of a core.

const (
	senderAddr = "127.0.0.2"
	holdTime   = 90
)

type session struct {
	conn        net.Conn
	wmu         sync.Mutex
	established time.Time // when the receiver's KEEPALIVE arrived
	sent        time.Time // when the last byte was handed to the kernel
	done        chan struct{}
	readErr     chan error
}

func readMsg(c net.Conn) (typ byte, body []byte, err error) {
	var h [19]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(h[16:18]))
	if n < 19 || n > 65535 {
		return 0, nil, fmt.Errorf("bad BGP message length %d", n)
	}
	body = make([]byte, n-19)
	if _, err := io.ReadFull(c, body); err != nil {
		return 0, nil, err
	}
	return h[18], body, nil
}

// dialSession connects from senderAddr to addr and brings the session to
// Established. Connection refusals are retried until deadline (the
// receiver may still be starting).
func dialSession(addr string, deadline time.Time) (*session, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(senderAddr)}, Timeout: 2 * time.Second}
	var lastErr error
	for attempt := 0; time.Now().Before(deadline) && attempt < 200; attempt++ {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			lastErr = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s, err := openSession(c, senderAS, senderAddr)
		if err == nil {
			go s.readLoop()
			return s, nil
		}
		c.Close()
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("no session with %s: %v", addr, lastErr)
}

func openSession(c net.Conn, as uint32, id string) (*session, error) {
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
		bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
		bgp.NewCapRouteRefresh(),
		bgp.NewCapFourOctetASNumber(as),
	}
	open := bgp.NewBGPOpenMessage(uint16(as), holdTime, id, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	b, _ := open.Serialize()
	ka, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	gotOpen := false
	for {
		typ, body, err := readMsg(c)
		if err != nil {
			return nil, fmt.Errorf("opening: %w", err)
		}
		switch typ {
		case bgp.BGP_MSG_OPEN:
			gotOpen = true
			if _, err := c.Write(ka); err != nil {
				return nil, err
			}
		case bgp.BGP_MSG_KEEPALIVE:
			if !gotOpen {
				continue
			}
			_ = c.SetDeadline(time.Time{})
			s := &session{conn: c, established: time.Now(), done: make(chan struct{}), readErr: make(chan error, 1)}
			go s.keepalive(ka)
			return s, nil
		case bgp.BGP_MSG_NOTIFICATION:
			code, sub := byte(0), byte(0)
			if len(body) >= 2 {
				code, sub = body[0], body[1]
			}
			return nil, fmt.Errorf("NOTIFICATION %d/%d while opening", code, sub)
		}
	}
}

// readLoop drains what the receiver sends (keepalives, its own updates).
func (s *session) readLoop() {
	for {
		typ, body, err := readMsg(s.conn)
		if err != nil {
			s.readErr <- err
			return
		}
		if typ == bgp.BGP_MSG_NOTIFICATION {
			code, sub := byte(0), byte(0)
			if len(body) >= 2 {
				code, sub = body[0], body[1]
			}
			s.readErr <- fmt.Errorf("receiver sent NOTIFICATION %d/%d", code, sub)
			return
		}
	}
}

func (s *session) keepalive(ka []byte) {
	t := time.NewTicker(holdTime / 3 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.wmu.Lock()
			_, err := s.conn.Write(ka)
			s.wmu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// send writes the whole UPDATE stream in 64 KiB chunks (so that
// keepalives interleave) and records when it was all written.
func (s *session) send(stream []byte) error {
	const chunk = 64 << 10
	for off := 0; off < len(stream); off += chunk {
		end := min(off+chunk, len(stream))
		s.wmu.Lock()
		_, err := s.conn.Write(stream[off:end])
		s.wmu.Unlock()
		if err != nil {
			return err
		}
		select {
		case err := <-s.readErr:
			s.readErr <- err
			return err
		default:
		}
	}
	s.sent = time.Now()
	return nil
}

// failed reports a session error seen so far, if any.
func (s *session) failed() error {
	select {
	case err := <-s.readErr:
		s.readErr <- err
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	default:
		return nil
	}
}

func (s *session) close() {
	close(s.done)
	s.conn.Close()
}
