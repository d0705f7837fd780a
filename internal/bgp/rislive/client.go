package rislive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"time"

	// github.com/coder/websocket: a maintained websocket library (the
	// successor of nhooyr.io/websocket, context-aware reads and writes,
	// concurrent-safe writes, answers websocket pings while reading, read
	// limit), served by the module proxy. gorilla/websocket is only an
	// indirect dependency of GoBGP here.
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultURL          = "wss://ris-live.ripe.net/v1/ws/"
	DefaultClient       = "reachmon"
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 2 * time.Minute
	DefaultPingInterval = 30 * time.Second
	// DefaultStaleFactor × PingInterval without any message (a pong
	// included) ends the connection as stale.
	DefaultStaleFactor = 3
	dialTimeout        = 30 * time.Second
	writeTimeout       = 10 * time.Second
)

// Config says where and how to connect.
type Config struct {
	// URL of the websocket (ws:// or wss://); Client is sent as ?client=
	// unless the URL already has one.
	URL    string
	Client string
	// Host limits the subscriptions to one collector ("rrc00"); empty for
	// every collector.
	Host string
	// MinBackoff and MaxBackoff bound the wait before a reconnect: it
	// doubles from MinBackoff after each failure up to MaxBackoff, with
	// jitter (a random wait between half and all of it).
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how often a RIS Live ping is sent; a connection with
	// no message at all for StaleFactor × PingInterval is closed.
	PingInterval time.Duration
}

func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Client == "" {
		c.Client = DefaultClient
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	return c
}

// Options are the client's dependencies.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// OnUpdate receives every parsed UPDATE, in the order received, from
	// the read loop (it must not block for long).
	OnUpdate func(Update)
	// OnConnection is called with true once a connection is up and its
	// subscriptions are sent, with false when it is lost.
	OnConnection func(up bool)
}

// Status is the client's state for views.
type Status struct {
	URL           string    `json:"url"`
	Connected     bool      `json:"connected"`
	Since         time.Time `json:"since,omitzero"`
	Subscriptions int       `json:"subscriptions"`
	LastError     string    `json:"last_error,omitempty"`
	LastRISError  string    `json:"last_ris_error,omitempty"`
	Reconnects    int       `json:"reconnects"`
}

// Client keeps one RIS Live connection with reachmon's subscriptions.
type Client struct {
	cfg  Config
	url  string
	log  *slog.Logger
	now  func() time.Time
	opts Options
	m    *metrics

	mu   sync.Mutex
	want map[Subscription]bool
	conn *websocket.Conn
	sent map[Subscription]bool
	st   Status
}

// New checks cfg and returns a client; Run connects.
func New(cfg Config, opts Options) (*Client, error) {
	cfg = cfg.withDefaults()
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ris_live url %q: %w", cfg.URL, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("ris_live url %q: scheme must be ws or wss", cfg.URL)
	}
	q := u.Query()
	if q.Get("client") == "" {
		q.Set("client", cfg.Client)
		u.RawQuery = q.Encode()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Client{cfg: cfg, url: u.String(), log: opts.Logger, now: opts.Now, opts: opts,
		m: newMetrics(opts.Registerer), want: map[Subscription]bool{}}
	c.st.URL = u.Redacted()
	return c, nil
}

// URL is the URL the client dials (with ?client=).
func (c *Client) URL() string { return c.url }

// Subscriptions returns the filters for a watched set: each prefix with
// its more-specifics, each address's host prefix with the routes covering
// it (less-specifics).
func Subscriptions(prefixes []netip.Prefix, addrs []netip.Addr, host string) []Subscription {
	set := map[Subscription]bool{}
	for _, p := range prefixes {
		set[Subscription{Prefix: p.Masked(), MoreSpecific: true, Host: host}] = true
	}
	for _, a := range addrs {
		a = a.Unmap()
		p := netip.PrefixFrom(a, a.BitLen())
		set[Subscription{Prefix: p, LessSpecific: true, Host: host}] = true
	}
	out := make([]Subscription, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.SortFunc(out, compareSub)
	return out
}

func compareSub(a, b Subscription) int {
	if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
		return c
	}
	if a.Prefix.Bits() != b.Prefix.Bits() {
		return a.Prefix.Bits() - b.Prefix.Bits()
	}
	if a.MoreSpecific != b.MoreSpecific {
		if a.MoreSpecific {
			return -1
		}
		return 1
	}
	return 0
}

// SetWatch sets the watched prefixes and addresses. On a live connection
// new filters are subscribed and dropped ones unsubscribed at once; a new
// connection subscribes to the current set.
func (c *Client) SetWatch(prefixes []netip.Prefix, addrs []netip.Addr) {
	subs := Subscriptions(prefixes, addrs, c.cfg.Host)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = make(map[Subscription]bool, len(subs))
	for _, s := range subs {
		c.want[s] = true
	}
	if c.conn != nil {
		if err := c.syncSubsLocked(context.Background(), c.conn); err != nil {
			c.log.Warn("ris live: updating subscriptions failed; reconnecting", "err", err)
			c.conn.Close(websocket.StatusInternalError, "subscription update failed")
		}
	}
}

// syncSubsLocked sends ris_unsubscribe for filters no longer wanted and
// ris_subscribe for new ones. c.mu is held.
func (c *Client) syncSubsLocked(ctx context.Context, conn *websocket.Conn) error {
	var drop, add []Subscription
	for s := range c.sent {
		if !c.want[s] {
			drop = append(drop, s)
		}
	}
	for s := range c.want {
		if !c.sent[s] {
			add = append(add, s)
		}
	}
	slices.SortFunc(drop, compareSub)
	slices.SortFunc(add, compareSub)
	for _, s := range drop {
		if err := write(ctx, conn, s.message("ris_unsubscribe")); err != nil {
			return err
		}
		delete(c.sent, s)
	}
	for _, s := range add {
		if err := write(ctx, conn, s.message("ris_subscribe")); err != nil {
			return err
		}
		c.sent[s] = true
	}
	c.st.Subscriptions = len(c.sent)
	c.m.subscriptions.Set(float64(len(c.sent)))
	return nil
}

func write(ctx context.Context, conn *websocket.Conn, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, b)
}

// Status returns the client's state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// Run connects and reconnects until ctx ends (its error is returned).
func (c *Client) Run(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			c.m.reconnects.Inc()
			c.mu.Lock()
			c.st.Reconnects++
			c.mu.Unlock()
		}
		got, err := c.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if got {
			backoff = c.cfg.MinBackoff // the connection worked: start over
		}
		c.mu.Lock()
		c.st.LastError = err.Error()
		c.mu.Unlock()
		wait := jitter(backoff)
		c.log.Warn("ris live: connection ended; reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		backoff = min(2*backoff, c.cfg.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// jitter returns a random wait between half of d and d.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// session runs one connection; got reports whether any message arrived.
func (c *Client) session(ctx context.Context) (got bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	conn, resp, err := websocket.Dial(dctx, c.url, nil)
	cancel()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return false, fmt.Errorf("connecting to %s: %w", c.st.URL, err)
	}
	conn.SetReadLimit(MaxMessageBytes)
	defer conn.CloseNow()

	c.mu.Lock()
	c.sent = map[Subscription]bool{}
	err = c.syncSubsLocked(ctx, conn)
	nsubs := len(c.sent)
	if err == nil {
		c.conn = conn
		c.st.Connected, c.st.Since = true, c.now()
	}
	c.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("subscribing: %w", err)
	}
	c.m.connected.Set(1)
	c.log.Info("ris live: connected", "url", c.st.URL, "subscriptions", nsubs)
	if c.opts.OnConnection != nil {
		c.opts.OnConnection(true)
	}
	defer func() {
		c.mu.Lock()
		c.conn = nil
		c.st.Connected, c.st.Since = false, c.now()
		if err != nil {
			c.st.LastError = err.Error()
		}
		c.mu.Unlock()
		c.m.connected.Set(0)
		if c.opts.OnConnection != nil {
			c.opts.OnConnection(false)
		}
	}()

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go c.pinger(sctx, conn)
	stale := DefaultStaleFactor * c.cfg.PingInterval
	for {
		rctx, cancel := context.WithTimeout(sctx, stale)
		typ, b, err := conn.Read(rctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return got, fmt.Errorf("no message for %s: connection stale", stale)
			}
			return got, fmt.Errorf("reading: %w", err)
		}
		got = true
		if typ != websocket.MessageText {
			c.m.message("invalid")
			c.log.Warn("ris live: binary message ignored", "bytes", len(b))
			continue
		}
		c.handle(b)
	}
}

func (c *Client) pinger(ctx context.Context, conn *websocket.Conn) {
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := write(ctx, conn, pingMessage); err != nil {
				if ctx.Err() == nil {
					c.log.Warn("ris live: ping failed", "err", err)
					conn.Close(websocket.StatusGoingAway, "ping failed")
				}
				return
			}
		}
	}
}

// handle parses and dispatches one message.
func (c *Client) handle(b []byte) {
	m, err := Parse(b)
	if err != nil {
		c.m.message("invalid")
		c.log.Warn("ris live: message refused", "err", err)
		return
	}
	c.m.message(m.Type)
	switch m.Type {
	case TypeMessage:
		if m.Update == nil {
			return
		}
		c.m.lag.Set(c.now().Sub(m.Update.Time).Seconds())
		if c.opts.OnUpdate != nil {
			c.opts.OnUpdate(*m.Update)
		}
	case TypeError:
		c.log.Warn("ris live: server error", "message", m.Error)
		c.mu.Lock()
		c.st.LastRISError = m.Error
		c.mu.Unlock()
	}
}
