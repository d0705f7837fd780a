package bgpchurn

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

// A session is a minimal BGP speaker (one per simulated peer): it opens
// the session, then writes the UPDATEs the churn generator encodes, keeps
// the session up with keepalives and drains what reachmon sends. Nothing
// is buffered beyond the kernel's socket buffer, so what was written is
// what reachmon can read: the sending rate is the rate reachmon is fed.

const (
	holdTime     = 90 // seconds, proposed in our OPEN
	writeTimeout = 10 * time.Second
)

type session struct {
	conn    net.Conn
	wmu     sync.Mutex
	done    chan struct{}
	readErr chan error
	closeMu sync.Once
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

// dialSession connects from local to addr as AS as and brings the session
// to Established. Refused connections are retried until deadline (reachmon
// may still be starting); at most 300 attempts.
func dialSession(local, addr string, as uint32, deadline time.Time) (*session, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	var lastErr error
	for attempt := 0; time.Now().Before(deadline) && attempt < 300; attempt++ {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			lastErr = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s, err := openSession(c, as, local)
		if err == nil {
			go s.readLoop()
			return s, nil
		}
		c.Close()
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("no session from %s to %s: %v", local, addr, lastErr)
}

func openSession(c net.Conn, as uint32, id string) (*session, error) {
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
		bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
		bgp.NewCapRouteRefresh(),
		bgp.NewCapFourOctetASNumber(as),
	}
	as2 := uint16(as)
	if as > 0xffff {
		as2 = bgp.AS_TRANS
	}
	open := bgp.NewBGPOpenMessage(as2, holdTime, id, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	b, err := open.Serialize()
	if err != nil {
		return nil, err
	}
	ka, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	gotOpen := false
	for i := 0; i < 100; i++ {
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
			s := &session{conn: c, done: make(chan struct{}), readErr: make(chan error, 1)}
			go s.keepalive(ka)
			return s, nil
		case bgp.BGP_MSG_NOTIFICATION:
			return nil, fmt.Errorf("NOTIFICATION %s while opening", notification(body))
		}
	}
	return nil, errors.New("opening: no KEEPALIVE after 100 messages")
}

func notification(body []byte) string {
	if len(body) < 2 {
		return "(short)"
	}
	return fmt.Sprintf("%d/%d", body[0], body[1])
}

// readLoop drains what reachmon sends (keepalives; it exports nothing).
func (s *session) readLoop() {
	for {
		typ, body, err := readMsg(s.conn)
		if err != nil {
			s.fail(err)
			return
		}
		if typ == bgp.BGP_MSG_NOTIFICATION {
			s.fail(fmt.Errorf("reachmon sent NOTIFICATION %s", notification(body)))
			return
		}
	}
}

func (s *session) fail(err error) {
	select {
	case s.readErr <- err:
	default:
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
			if err := s.write(ka); err != nil {
				return
			}
		}
	}
}

// write sends bytes (whole BGP messages) within writeTimeout.
func (s *session) write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := s.conn.Write(b)
	return err
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
	s.closeMu.Do(func() {
		close(s.done)
		s.conn.Close()
	})
}
