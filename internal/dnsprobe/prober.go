package dnsprobe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// DefaultTimeout is the per-query timeout used when Options.Timeout is
// zero.
const DefaultTimeout = 5 * time.Second

// Options configure a Prober. The zero value is usable.
type Options struct {
	// Timeout bounds every query (default 5s); a context deadline that
	// comes sooner shortens it.
	Timeout time.Duration
	// Logger receives per-probe detail at Debug; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TLSConfig is the base TLS configuration for DoT and DoH (tests put a
	// private CA here); ServerName is set per server.
	TLSConfig *tls.Config
	// HTTPClient is used for DoH; nil means a client built from TLSConfig.
	HTTPClient *http.Client
}

// Prober sends DNS probes. It is safe for concurrent use.
type Prober struct {
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
	tlsBase *tls.Config
	httpCli *http.Client // from Options; nil means per-server-name clients

	tlsConfs sync.Map // TLS server name -> *tls.Config (DoT)
	dohClis  sync.Map // TLS server name -> *http.Client (DoH)

	// authPort is the port of servers learnt from NS records (referrals
	// always go to port 53); tests point it at in-process servers.
	authPort uint16
}

// New returns a Prober.
func New(o Options) *Prober {
	p := &Prober{
		timeout:  o.Timeout,
		log:      o.Logger,
		now:      o.Now,
		tlsBase:  o.TLSConfig,
		httpCli:  o.HTTPClient,
		authPort: 53,
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// Query is one probe: a name and type asked of one server.
type Query struct {
	// Target is the configured zone label, copied into the Observation
	// ("" for ad-hoc probes).
	Target string
	// Server is where the query goes. Its Kind decides RD: resolvers get
	// RD=1, authoritative servers RD=0.
	Server model.Server
	// Name is an FQDN with a trailing dot (one is added if missing).
	Name string
	// Type is a record type mnemonic ("A", "AAAA", "SOA", "TYPE65").
	Type string
}

// Probe sends q and describes the outcome. It never returns an error: a
// failure is an Observation with Error set. When a validating resolver
// answers SERVFAIL the query is repeated with CD=1 (Observation.CDRetry).
func (p *Prober) Probe(ctx context.Context, q Query) model.Observation {
	start := p.now()
	obs := model.Observation{
		Time:   start,
		Target: q.Target,
		Server: q.Server,
		Name:   q.Name,
		Type:   q.Type,
	}
	_, qtype, err := config.RecordType(q.Type)
	if err != nil {
		obs.Error = model.ErrMalformed
		obs.ErrorDetail = "query not sent: " + err.Error()
		p.logProbe(ctx, &obs)
		return obs
	}
	rd := q.Server.Kind != model.KindAuthoritative
	res := p.exchange(ctx, q.Server, request{name: q.Name, qtype: qtype, rd: rd})
	fillObservation(&obs, res, qtype)

	if q.Server.Kind == model.KindResolver && q.Server.Validating &&
		res.class == model.ErrNone && res.msg != nil && res.msg.Rcode == dns.RcodeServerFailure {
		cd := p.exchange(ctx, q.Server, request{name: q.Name, qtype: qtype, rd: true, cd: true})
		obs.CDRetry = cdRetry(cd)
	}
	p.logProbe(ctx, &obs)
	return obs
}

func (p *Prober) logProbe(ctx context.Context, o *model.Observation) {
	if !p.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("target", o.Target),
		slog.String("server", o.Server.Name),
		slog.String("server_addr", o.Server.Addr),
		slog.String("transport", string(o.Server.Transport)),
		slog.String("name", o.Name),
		slog.String("type", o.Type),
		slog.String("rcode", o.Rcode),
		slog.Int("answers", len(o.Answers)),
		slog.Duration("latency", o.Latency),
		slog.Bool("tcp_fallback", o.TCPFallback),
	}
	if o.Error != model.ErrNone {
		attrs = append(attrs, slog.String("error", string(o.Error)), slog.String("error_detail", o.ErrorDetail))
	}
	if o.CDRetry != nil {
		attrs = append(attrs, slog.String("cd_retry_rcode", o.CDRetry.Rcode), slog.Bool("cd_retry_succeeded", o.CDRetry.Succeeded))
	}
	p.log.LogAttrs(ctx, slog.LevelDebug, "dns probe", attrs...)
}

// deadline returns the deadline every I/O of one exchange must respect.
// start comes from the real clock (time.Now), never from Options.Now.
// Every query gets at most the prober's timeout, whatever is left of the
// context: a lookup that asks several servers in turn under one longer
// deadline (discovery, the DS check) must not give its first, silent
// server all of it.
func (p *Prober) deadline(ctx context.Context, start time.Time) time.Time {
	d := start.Add(p.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// dialer returns a net.Dialer bounded by deadline.
func dialer(deadline time.Time) *net.Dialer {
	return &net.Dialer{Deadline: deadline}
}

// errHostName is why a server given by name is not dialled.
var errHostName = errors.New("host names are not resolved (a monitor must not depend on the system resolver): give the address, and for DoT/DoH the name as TLS server name")

// dialIP connects to addr, which must be an IP address and port: a
// monitor of DNS must not depend on the system resolver (nor on the
// resolvers it monitors) to find the servers it asks, so no name is ever
// looked up here.
func dialIP(ctx context.Context, d *net.Dialer, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		host, _, _ := net.SplitHostPort(addr)
		return nil, fmt.Errorf("%s %q: %w", network, host, errHostName)
	}
	return d.DialContext(ctx, network, ap.String())
}
