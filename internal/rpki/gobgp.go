package rpki

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// The RTR client is GoBGP's (pkg/server/rpki.go): a BgpServer that is
// never started as a speaker (no StartBgp: no listener, no peers) keeps
// one RTR session per server (AddRpki) and the ROA table
// (ListRpkiTable). GoBGP's client speaks RTR version 0 (RFC 6810): it
// sends a Reset Query at connect, a Serial Query on each Serial Notify,
// reconnects every 30 s after a loss and keeps a lost server's ROAs for
// its lifetime. It connects to a relay per server (relay.go), which
// tells the session's state; ListRpki is not used (a data race inside
// GoBGP v3.37, see relay). GoBGP types stay in this file.

// rtrClient is the GoBGP server that holds the RTR sessions.
type rtrClient struct {
	s      *server.BgpServer
	relays []*relay
}

// rtrState is every session's state.
type rtrState struct {
	Servers []relayStatus
}

func newRTRClient(ctx context.Context, servers []config.RTRServer, log *slog.Logger) (*rtrClient, error) {
	s := server.NewBgpServer(server.LoggerOption(&rtrLogger{log: log, level: gobgplog.InfoLevel}))
	go s.Serve()
	c := &rtrClient{s: s}
	for _, srv := range servers {
		r, err := newRelay(srv, log)
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("rpki: relay for RTR server %s: %w", srv.Name(), err)
		}
		c.relays = append(c.relays, r)
		go r.serve()
		if err := s.AddRpki(ctx, &api.AddRpkiRequest{Address: "127.0.0.1", Port: uint32(r.port()), Lifetime: int64(srv.Lifetime.Seconds())}); err != nil {
			c.stop()
			return nil, fmt.Errorf("rpki: add RTR server %s: %w", srv.Name(), err)
		}
	}
	return c, nil
}

// state reads the sessions' states from the relays.
func (c *rtrClient) state(now time.Time) rtrState {
	var st rtrState
	for _, r := range c.relays {
		st.Servers = append(st.Servers, r.status(now))
	}
	return st
}

// roas calls fn with every ROA of the table (every server's), IPv4 then
// IPv6, and counts them by server (by relay port). GoBGP builds the list
// of a family before it returns any.
func (c *rtrClient) roas(ctx context.Context, fn func(model.VRP)) (map[int]int, error) {
	bySrc := map[int]int{}
	for _, fam := range []*api.Family{
		{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
		{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST},
	} {
		var bad error
		err := c.s.ListRpkiTable(ctx, &api.ListRpkiTableRequest{Family: fam}, func(r *api.Roa) {
			a, err := netip.ParseAddr(r.GetPrefix())
			if err != nil || r.GetPrefixlen() > 128 || r.GetMaxlen() > 128 {
				bad = fmt.Errorf("rpki: GoBGP listed a ROA that is not one: %s/%d", r.GetPrefix(), r.GetPrefixlen())
				return
			}
			p, err := a.Prefix(int(r.GetPrefixlen()))
			if err != nil {
				bad = fmt.Errorf("rpki: GoBGP listed a ROA that is not one: %s/%d", r.GetPrefix(), r.GetPrefixlen())
				return
			}
			bySrc[int(r.GetConf().GetRemotePort())]++
			fn(model.VRP{Prefix: p, MaxLength: uint8(r.GetMaxlen()), ASN: r.GetAsn()})
		})
		if err != nil {
			return nil, fmt.Errorf("rpki: list ROAs: %w", err)
		}
		if bad != nil {
			return nil, bad
		}
	}
	return bySrc, nil
}

// stop ends the sessions and the server.
func (c *rtrClient) stop() {
	ctx := context.Background()
	for _, r := range c.relays {
		r.close() // first: the session it ends is not a loss to report
		_ = c.s.DeleteRpki(ctx, &api.DeleteRpkiRequest{Address: fmt.Sprintf("127.0.0.1:%d", r.port())})
	}
	c.s.Stop()
}

// rtrLogger adapts GoBGP's logger to slog: GoBGP's RTR messages
// ("ROA server is connected") are reachmon's debug, its errors warnings.
type rtrLogger struct {
	log   *slog.Logger
	mu    sync.Mutex
	level gobgplog.LogLevel
}

func (l *rtrLogger) attrs(f gobgplog.Fields) []any {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := []any{}
	for _, k := range keys {
		out = append(out, k, fmt.Sprint(f[k]))
	}
	return out
}

func (l *rtrLogger) Panic(msg string, f gobgplog.Fields) {
	l.log.Error("rpki gobgp", append([]any{"event", msg}, l.attrs(f)...)...)
	panic(msg)
}
func (l *rtrLogger) Fatal(msg string, f gobgplog.Fields) {
	l.log.Error("rpki gobgp", append([]any{"event", msg}, l.attrs(f)...)...)
}
func (l *rtrLogger) Error(msg string, f gobgplog.Fields) {
	l.log.Warn("rpki gobgp", append([]any{"event", msg}, l.attrs(f)...)...)
}
func (l *rtrLogger) Warn(msg string, f gobgplog.Fields) {
	l.log.Warn("rpki gobgp", append([]any{"event", msg}, l.attrs(f)...)...)
}
func (l *rtrLogger) Info(msg string, f gobgplog.Fields) {
	l.log.Debug("rpki gobgp", append([]any{"event", msg}, l.attrs(f)...)...)
}
func (l *rtrLogger) Debug(string, gobgplog.Fields) {}
func (l *rtrLogger) SetLevel(level gobgplog.LogLevel) {
	l.mu.Lock()
	l.level = level
	l.mu.Unlock()
}
func (l *rtrLogger) GetLevel() gobgplog.LogLevel {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.level
}
