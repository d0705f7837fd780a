package rpki

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/reachmon/reachmon/internal/config"
)

// relay sits between GoBGP's RTR client and one RTR server: GoBGP
// connects to the relay's loopback port, the relay connects to the
// server and copies both ways, reading the server's PDU headers as they
// pass. It tells reachmon what GoBGP's ListRpki would, without calling
// it: ListRpki reads each session's counters on the server's goroutine
// while GoBGP v3.37's session goroutine writes them right after connecting
// (roaClient.softReset from established), a data race the race detector
// finds (TestMonitorStayRTR under -race). The relay knows
//   - whether the session is up (both connections open),
//   - every End of Data PDU: a transfer finished, the table may have
//     changed (GoBGP applies a transfer's announcements at End of Data),
//     and how many ROAs GoBGP's table holds from the server once GoBGP
//     has taken in the transfer (the announcements of a full transfer,
//     answering a Reset Query; the previous count plus announcements minus
//     withdrawals of an incremental one): GoBGP takes in PDUs one by one
//     through its event loop, seconds behind the relay for a full set,
//     so a listing of its table is current only once it holds that many,
//   - when the session was lost, so that the table is listed again once
//     GoBGP dropped the server's ROAs (its lifetime after the loss).
//
// It parses nothing else and changes no byte.
type relay struct {
	srv      config.RTRServer
	upstream string // host:port of the RTR server
	ln       net.Listener
	log      *slog.Logger

	mu        sync.Mutex
	up        bool
	eod       uint64    // End of Data PDUs seen since start
	sessionOK bool      // an End of Data in the current session
	lastQuery byte      // the type of GoBGP's last query (1 serial, 2 reset)
	full      bool      // the transfer under way answers a Reset Query
	ann, wd   int       // its announcements and withdrawals so far
	expected  int       // ROAs GoBGP holds from the server after the last transfer
	downSince time.Time // when the last session ended (zero: never up)
	conns     map[net.Conn]bool
	busy      bool // a session is relayed (one at a time: GoBGP's)
	closed    bool
}

// relayStatus is what the relay knows of its session.
type relayStatus struct {
	Name      string
	Up        bool
	EndOfData uint64
	SessionOK bool
	// Port is the relay's loopback port (GoBGP's name for the server);
	// Expected the ROAs GoBGP's table holds from the server once it took
	// in the last transfer (valid with SessionOK).
	Port     int
	Expected int
	// Expired is true once the session has been lost for longer than the
	// server's lifetime (GoBGP has dropped its ROAs).
	Expired bool
}

// maxPDU bounds an RTR PDU the relay reads a header of; a longer one
// ends the session (RFC 8210 PDUs are at most a few KiB; GoBGP's v0
// client gets no ASPA or router key PDUs).
const maxPDU = 1 << 20

// rtrDialTimeout bounds the connection to the RTR server.
const rtrDialTimeout = 10 * time.Second

func newRelay(srv config.RTRServer, log *slog.Logger) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &relay{srv: srv, upstream: srv.Name(), ln: ln, log: log, conns: map[net.Conn]bool{}}, nil
}

// port is the loopback port GoBGP connects to.
func (r *relay) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

// serve accepts GoBGP's connections until close.
func (r *relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.session(c)
	}
}

func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = true
	return true
}

func (r *relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
}

// session relays one GoBGP connection.
func (r *relay) session(down net.Conn) {
	defer down.Close()
	r.mu.Lock()
	if r.busy {
		r.mu.Unlock()
		return // another local process: GoBGP has one session
	}
	r.busy = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.busy = false
		r.mu.Unlock()
	}()
	if !r.track(down) {
		return
	}
	defer r.untrack(down)
	up, err := net.DialTimeout("tcp", r.upstream, rtrDialTimeout)
	if err != nil {
		r.log.Debug("rpki: RTR server unreachable", "server", r.srv.Name(), "err", err)
		return // GoBGP sees the connection close and retries in 30 s
	}
	defer up.Close()
	if !r.track(up) {
		return
	}
	defer r.untrack(up)
	r.mu.Lock()
	r.up, r.sessionOK = true, false
	r.mu.Unlock()
	r.log.Info("rpki: RTR session up", "server", r.srv.Name())
	done := make(chan struct{})
	go func() {
		_ = r.copyPDUs(up, down, r.query) // GoBGP's queries
		_ = up.Close()
		close(done)
	}()
	err = r.copyPDUs(down, up, r.answer)
	_ = down.Close()
	<-done
	r.mu.Lock()
	r.up, r.sessionOK, r.downSince = false, false, time.Now()
	stopping := r.closed
	r.mu.Unlock()
	if stopping {
		return
	}
	r.log.Warn("rpki: RTR session lost", "server", r.srv.Name(), "err", err)
}

// query notes a PDU from GoBGP.
func (r *relay) query(typ byte, _ []byte) {
	if typ == 1 || typ == 2 { // Serial Query, Reset Query
		r.mu.Lock()
		r.lastQuery = typ
		r.mu.Unlock()
	}
}

// answer notes a PDU from the server.
func (r *relay) answer(typ byte, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch typ {
	case 3: // Cache Response
		r.full, r.ann, r.wd = r.lastQuery == 2, 0, 0
	case 4, 6: // IPv4 Prefix, IPv6 Prefix: flags first, bit 0 announce
		if len(body) > 0 && body[0]&1 == 1 {
			r.ann++
		} else {
			r.wd++
		}
	case 7: // End of Data
		if r.full {
			r.expected = r.ann
		} else {
			r.expected = max(0, r.expected+r.ann-r.wd)
		}
		r.full, r.ann, r.wd = false, 0, 0
		r.eod++
		r.sessionOK = true
	}
}

// copyPDUs copies PDUs from src to dst, calling note with each one's type
// and body. It reads and writes through buffers (a full transfer is
// 700,000 PDUs of 20 to 32 bytes) and flushes whenever nothing more has
// arrived and at each End of Data.
func (r *relay) copyPDUs(dstConn io.Writer, srcConn io.Reader, note func(typ byte, body []byte)) error {
	src := bufio.NewReaderSize(srcConn, 64<<10)
	dst := bufio.NewWriterSize(dstConn, 64<<10)
	var hdr [8]byte
	buf := make([]byte, 0, 64)
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(src, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(hdr[4:8])
		if n < 8 || n > maxPDU {
			return errors.New("RTR PDU length out of bounds")
		}
		if _, err := dst.Write(hdr[:]); err != nil {
			return err
		}
		if cap(buf) < int(n-8) {
			buf = make([]byte, n-8)
		}
		body := buf[:n-8]
		if _, err := io.ReadFull(src, body); err != nil {
			return err
		}
		if _, err := dst.Write(body); err != nil {
			return err
		}
		if hdr[1] == 7 { // End of Data
			if err := dst.Flush(); err != nil {
				return err
			}
		}
		note(hdr[1], body)
	}
}

func (r *relay) status(now time.Time) relayStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return relayStatus{Name: r.srv.Name(), Up: r.up, EndOfData: r.eod, SessionOK: r.sessionOK, Port: r.port(), Expected: r.expected,
		Expired: !r.up && !r.downSince.IsZero() && now.Sub(r.downSince) > r.srv.Lifetime.Duration+2*time.Second}
}

// close stops accepting and ends the sessions.
func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	_ = r.ln.Close()
}
