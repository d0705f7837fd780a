package dnsprobe

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/model"
)

const (
	ednsBufSize  = 1232  // EDNS0 UDP payload size we advertise (DNS flag day 2020)
	udpBufSize   = 4096  // largest UDP answer read (a server must not exceed ednsBufSize)
	maxMsgSize   = 65535 // largest DNS message (TCP, DoT, DoH)
	maxDatagrams = 32    // datagrams read per UDP exchange before giving up
	maxQuerySize = 512   // an EDNS query with a 255-byte name fits easily
)

// request is one query as the transports see it.
type request struct {
	name   string // FQDN
	qtype  uint16
	rd, cd bool
}

// result is the outcome of one exchange: a parsed response, or why none.
// msg may be set together with a class (ErrTruncated keeps the UDP answer).
type result struct {
	msg         *dns.Msg
	class       model.ErrorClass
	detail      string
	tcpFallback bool
	latency     time.Duration
}

// buffers holds the packed query (with room for the TCP length prefix in
// front) and the UDP receive buffer of one exchange (one byte more than
// udpBufSize, to tell a larger datagram). Pooled: the hot path allocates
// neither. Streams (TCP, DoT, DoH) take a streamBuf besides: kept apart
// so that thousands of UDP probes in flight (a resolver that stopped
// answering, with automatic concurrency) hold 4 KiB each, not 64.
type buffers struct {
	query [2 + maxQuerySize]byte
	resp  [udpBufSize + 1]byte
}

type streamBuf [maxMsgSize + 1]byte

var (
	bufPool    = sync.Pool{New: func() any { return new(buffers) }}
	streamPool = sync.Pool{New: func() any { return new(streamBuf) }}
)

// exchange sends rq to srv over srv.Transport and returns the parsed answer.
func (p *Prober) exchange(ctx context.Context, srv model.Server, rq request) result {
	start := time.Now()
	deadline := p.deadline(ctx, start)
	res := p.exchangeAt(ctx, srv, rq, start, deadline)
	res.latency = time.Since(start)
	return res
}

func (p *Prober) exchangeAt(ctx context.Context, srv model.Server, rq request, start, deadline time.Time) result {
	if err := ctx.Err(); err != nil {
		return errResult(ctx, err, start, deadline)
	}
	if srv.Addr == "" {
		return result{class: model.ErrNetwork, detail: "query not sent: the server has no address"}
	}
	rq.name = dns.Fqdn(rq.name)
	var id uint16
	if srv.Transport != model.TransportDoH {
		id = uint16(rand.Uint32()) // RFC 8484 §4.1: DoH uses ID 0
	}
	b := bufPool.Get().(*buffers)
	defer bufPool.Put(b)
	n, err := packQuery(b.query[2:], id, rq)
	if err != nil {
		return result{class: model.ErrMalformed, detail: "query not sent: " + err.Error()}
	}
	binary.BigEndian.PutUint16(b.query[:2], uint16(n))
	framed := b.query[:2+n]

	switch srv.Transport {
	case model.TransportTCP, model.TransportDoT, model.TransportDoH:
		sb := streamPool.Get().(*streamBuf)
		defer streamPool.Put(sb)
		switch srv.Transport {
		case model.TransportTCP:
			return p.stream(ctx, srv.Addr, "", false, framed, id, rq, sb[:], start, deadline)
		case model.TransportDoT:
			return p.stream(ctx, srv.Addr, srv.TLSServerName, true, framed, id, rq, sb[:], start, deadline)
		default:
			return p.doh(ctx, srv, framed[2:], id, rq, sb[:], start, deadline)
		}
	}
	res := p.udp(ctx, srv.Addr, framed[2:], id, rq, b.resp[:], start, deadline)
	if res.class != model.ErrNone || !res.msg.Truncated {
		return res
	}
	sb := streamPool.Get().(*streamBuf)
	defer streamPool.Put(sb)
	tcp := p.stream(ctx, srv.Addr, "", false, framed, id, rq, sb[:], start, deadline)
	tcp.tcpFallback = true
	if tcp.class == model.ErrNone {
		return tcp
	}
	return result{
		msg:         res.msg,
		class:       model.ErrTruncated,
		detail:      "truncated UDP answer (TC=1) and the TCP retry failed: " + tcp.detail,
		tcpFallback: true,
	}
}

// packQuery writes a query for rq with ID id into dst: EDNS0 with buffer
// size 1232, the DO bit and an empty NSID option. It returns the length.
func packQuery(dst []byte, id uint16, rq request) (int, error) {
	var flags uint16
	if rq.rd {
		flags |= 1 << 8
	}
	if rq.cd {
		flags |= 1 << 4
	}
	binary.BigEndian.PutUint16(dst[0:], id)
	binary.BigEndian.PutUint16(dst[2:], flags)
	binary.BigEndian.PutUint16(dst[4:], 1)  // QDCOUNT
	binary.BigEndian.PutUint16(dst[6:], 0)  // ANCOUNT
	binary.BigEndian.PutUint16(dst[8:], 0)  // NSCOUNT
	binary.BigEndian.PutUint16(dst[10:], 1) // ARCOUNT: OPT
	off, err := dns.PackDomainName(rq.name, dst, 12, nil, false)
	if err != nil {
		return 0, errors.New("cannot encode name " + strconv.Quote(rq.name) + ": " + err.Error())
	}
	const tail = 4 + 11 + 4
	if off+tail > len(dst) {
		return 0, errors.New("name " + strconv.Quote(rq.name) + " is too long")
	}
	binary.BigEndian.PutUint16(dst[off:], rq.qtype)
	binary.BigEndian.PutUint16(dst[off+2:], dns.ClassINET)
	off += 4
	dst[off] = 0                                            // OPT owner: root
	binary.BigEndian.PutUint16(dst[off+1:], dns.TypeOPT)    // TYPE
	binary.BigEndian.PutUint16(dst[off+3:], ednsBufSize)    // CLASS = UDP payload size
	binary.BigEndian.PutUint32(dst[off+5:], 0x8000)         // TTL: ext rcode 0, version 0, DO
	binary.BigEndian.PutUint16(dst[off+9:], 4)              // RDLEN
	binary.BigEndian.PutUint16(dst[off+11:], dns.EDNS0NSID) // option NSID
	binary.BigEndian.PutUint16(dst[off+13:], 0)             // empty
	return off + 15, nil
}

// hostPort returns addr as host:port, adding the transport's default port.
func hostPort(addr string, t model.Transport) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	port := "53"
	if t == model.TransportDoT {
		port = "853"
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), port)
}

// cancelOnDone makes conn's pending I/O fail as soon as ctx is done. The
// socket deadline already covers ctx's deadline; this covers cancellation.
func cancelOnDone(ctx context.Context, conn net.Conn) (stop func() bool) {
	if ctx.Done() == nil {
		return func() bool { return true }
	}
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

func (p *Prober) udp(ctx context.Context, addr string, query []byte, id uint16, rq request, buf []byte, start, deadline time.Time) result {
	var (
		conn net.Conn
		err  error
	)
	if ap, perr := netip.ParseAddrPort(hostPort(addr, model.TransportUDP)); perr == nil {
		conn, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	} else {
		conn, err = dialIP(ctx, dialer(deadline), "udp", hostPort(addr, model.TransportUDP))
	}
	if err != nil {
		return errResult(ctx, err, start, deadline)
	}
	defer conn.Close()
	defer cancelOnDone(ctx, conn)()
	if err := conn.SetDeadline(deadline); err != nil {
		return errResult(ctx, err, start, deadline)
	}
	if _, err := conn.Write(query); err != nil {
		return errResult(ctx, err, start, deadline)
	}
	// A datagram that is not a valid answer to this query (garbage, wrong
	// ID, another question) may be spoofed or stale (RFC 5452): keep
	// listening until the deadline and report it only if nothing valid came.
	var bad result
	for range maxDatagrams {
		n, err := conn.Read(buf)
		if err != nil {
			if bad.class != model.ErrNone && isTimeout(err) && ctx.Err() != context.Canceled {
				return bad
			}
			return errResult(ctx, err, start, deadline)
		}
		if n >= len(buf) {
			bad = result{class: model.ErrMalformed, detail: fmt.Sprintf("a UDP answer larger than %d bytes (the query advertised an EDNS buffer of %d)", len(buf)-1, ednsBufSize)}
			continue
		}
		m, class, detail := decode(buf[:n], id, rq, true)
		if class == model.ErrNone {
			return result{msg: m}
		}
		bad = result{class: class, detail: detail}
	}
	return bad
}

// stream exchanges a length-prefixed query over TCP or, when useTLS, DoT.
func (p *Prober) stream(ctx context.Context, addr, tlsName string, useTLS bool, framed []byte, id uint16, rq request, buf []byte, start, deadline time.Time) result {
	t := model.TransportTCP
	if useTLS {
		t = model.TransportDoT
	}
	hp := hostPort(addr, t)
	conn, err := dialIP(ctx, dialer(deadline), "tcp", hp)
	if err != nil {
		return errResult(ctx, err, start, deadline)
	}
	defer conn.Close()
	defer cancelOnDone(ctx, conn)()
	if err := conn.SetDeadline(deadline); err != nil {
		return errResult(ctx, err, start, deadline)
	}
	if useTLS {
		if tlsName == "" {
			tlsName, _, _ = net.SplitHostPort(hp)
		}
		tc := tls.Client(conn, p.tlsConfig(tlsName))
		if err := tc.HandshakeContext(ctx); err != nil {
			r := errResult(ctx, err, start, deadline)
			if r.class != model.ErrTimeout {
				r.class = model.ErrTLS
				r.detail = "TLS handshake with " + hp + " (server name " + strconv.Quote(tlsName) + "): " + err.Error()
			}
			return r
		}
		conn = tc
	}
	if _, err := conn.Write(framed); err != nil {
		return errResult(ctx, err, start, deadline)
	}
	if _, err := io.ReadFull(conn, buf[:2]); err != nil {
		switch {
		case errors.Is(err, io.EOF):
			return result{class: model.ErrNetwork, detail: "server closed the connection without answering"}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return result{class: model.ErrMalformed, detail: "connection closed inside the 2-byte length prefix"}
		}
		return errResult(ctx, err, start, deadline)
	}
	n := int(binary.BigEndian.Uint16(buf[:2]))
	got, err := io.ReadFull(conn, buf[:n])
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return result{class: model.ErrMalformed, detail: "connection closed after " + strconv.Itoa(got) + " of " + strconv.Itoa(n) + " announced bytes"}
		}
		return errResult(ctx, err, start, deadline)
	}
	m, class, detail := decode(buf[:n], id, rq, false)
	return result{msg: m, class: class, detail: detail}
}

func (p *Prober) doh(ctx context.Context, srv model.Server, query []byte, id uint16, rq request, buf []byte, start, deadline time.Time) result {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.Addr, bytes.NewReader(query))
	if err != nil {
		return result{class: model.ErrNetwork, detail: "cannot build DoH request: " + err.Error()}
	}
	if srv.TLSServerName != "" {
		// The URL holds the address (no name is looked up); the server
		// serves its DoH endpoint under its name.
		req.Host = srv.TLSServerName
	}
	req.Header.Set("Content-Type", "application/dns-message")
	req.Header.Set("Accept", "application/dns-message")
	resp, err := p.dohClient(srv.TLSServerName).Do(req)
	if err != nil {
		r := errResult(ctx, err, start, deadline)
		if r.class == model.ErrNetwork && isTLSError(err) {
			r.class = model.ErrTLS
		}
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return result{class: model.ErrHTTP, detail: "DoH server answered HTTP " + resp.Status}
	}
	n, err := io.ReadFull(resp.Body, buf)
	switch {
	case err == nil:
		return result{class: model.ErrMalformed, detail: "DoH response body is larger than 65535 bytes"}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		// The whole body fitted.
	default:
		return errResult(ctx, err, start, deadline)
	}
	m, class, detail := decode(buf[:n], id, rq, false)
	return result{msg: m, class: class, detail: detail}
}

// tlsConfig returns the DoT client configuration for a server name.
func (p *Prober) tlsConfig(serverName string) *tls.Config {
	if c, ok := p.tlsConfs.Load(serverName); ok {
		return c.(*tls.Config)
	}
	c := p.baseTLS()
	c.ServerName = serverName
	actual, _ := p.tlsConfs.LoadOrStore(serverName, c)
	return actual.(*tls.Config)
}

func (p *Prober) baseTLS() *tls.Config {
	var c *tls.Config
	if p.tlsBase != nil {
		c = p.tlsBase.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// dohClient returns Options.HTTPClient, or a client per TLS server name
// built from Options.TLSConfig (an empty name verifies the URL's host).
func (p *Prober) dohClient(serverName string) *http.Client {
	if p.httpCli != nil {
		return p.httpCli
	}
	if c, ok := p.dohClis.Load(serverName); ok {
		return c.(*http.Client)
	}
	tc := p.baseTLS()
	if serverName != "" {
		tc.ServerName = serverName
	}
	d := &net.Dialer{}
	c := &http.Client{
		Transport: &http.Transport{
			// No proxy: a monitor measures its own path to the server.
			// The URL's host is an address: dialIP never looks a name up.
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dialIP(ctx, d, network, addr)
			},
			TLSClientConfig:     tc,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	actual, _ := p.dohClis.LoadOrStore(serverName, c)
	return actual.(*http.Client)
}

// errResult classifies an I/O error.
func errResult(ctx context.Context, err error, start, deadline time.Time) result {
	class, detail := classify(ctx, err)
	if class == model.ErrTimeout && ctx.Err() != context.Canceled {
		detail = "no answer within " + deadline.Sub(start).Round(time.Millisecond).String() + ": " + detail
	}
	return result{class: class, detail: detail}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// classify maps an I/O error to an ErrorClass and a readable detail.
func classify(ctx context.Context, err error) (model.ErrorClass, string) {
	switch {
	case errors.Is(err, context.Canceled) || ctx.Err() == context.Canceled:
		return model.ErrTimeout, "probe canceled before an answer arrived"
	case isTimeout(err):
		return model.ErrTimeout, err.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return model.ErrRefused, err.Error()
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES),
		errors.Is(err, syscall.ENETDOWN), errors.Is(err, syscall.EHOSTDOWN),
		errors.Is(err, syscall.EADDRNOTAVAIL):
		return model.ErrUnreachable, err.Error()
	case isTLSError(err):
		return model.ErrTLS, err.Error()
	}
	return model.ErrNetwork, err.Error()
}

func isTLSError(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
		ae tls.AlertError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci) || errors.As(err, &rh) || errors.As(err, &ae)
}
