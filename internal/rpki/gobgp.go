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
// one RTR session per server (AddRpki), its ROA table (ListRpkiTable) and
// each session's state (ListRpki). GoBGP's client speaks RTR version 0
// (RFC 6810): it sends a Reset Query at connect, a Serial Query on each
// Serial Notify, reconnects every 30 s after a loss and keeps a lost
// server's ROAs for its lifetime. GoBGP types stay in this file.

// rtrClient is the GoBGP server that holds the RTR sessions.
type rtrClient struct {
	s       *server.BgpServer
	servers []config.RTRServer
	log     *rtrLogger
}

// connectGuard is how long after GoBGP connects a session state is not
// read. GoBGP v3.37 writes a session's counters from the session's own
// goroutine right after it connects (roaClient.softReset, called by
// established) while ListRpki reads them on the server's goroutine: a
// data race (found by TestMonitorStayRTR under -race). The write follows
// the "ROA server is connected" log line by microseconds; waiting this
// long after that line keeps the two apart.
const connectGuard = 2 * time.Second

// rtrStatus is one RTR session's state.
type rtrStatus struct {
	Name string // host:port as configured
	Up   bool
	// Serial and EndOfData (End of Data PDUs received this session) tell
	// a finished transfer; CacheReset counts Cache Resets.
	Serial                uint32
	EndOfData, CacheReset int64
	// Records4 and Records6 are the ROAs the table holds from it.
	Records4, Records6 int
}

// rtrState is every session's state and the ROA table's size.
type rtrState struct {
	Servers            []rtrStatus
	Records4, Records6 int
}

func newRTRClient(ctx context.Context, servers []config.RTRServer, log *slog.Logger) (*rtrClient, error) {
	l := &rtrLogger{log: log, level: gobgplog.InfoLevel}
	s := server.NewBgpServer(server.LoggerOption(l))
	go s.Serve()
	c := &rtrClient{s: s, log: l}
	for _, srv := range servers {
		if err := s.AddRpki(ctx, &api.AddRpkiRequest{Address: srv.Address, Port: uint32(srv.Port), Lifetime: int64(srv.Lifetime.Seconds())}); err != nil {
			c.stop()
			return nil, fmt.Errorf("rpki: add RTR server %s: %w", srv.Name(), err)
		}
		c.servers = append(c.servers, srv)
	}
	return c, nil
}

// settling reports whether a session connected less than connectGuard
// ago (its state must not be read yet).
func (c *rtrClient) settling(now time.Time) bool {
	return now.Sub(c.log.lastConnect()) < connectGuard
}

// state reads the sessions' states.
func (c *rtrClient) state(ctx context.Context) (rtrState, error) {
	var st rtrState
	byName := map[string]rtrStatus{}
	err := c.s.ListRpki(ctx, &api.ListRpkiRequest{}, func(r *api.Rpki) {
		name := netipJoin(r.GetConf().GetAddress(), r.GetConf().GetRemotePort())
		s := r.GetState()
		byName[name] = rtrStatus{Name: name, Up: s.GetUp(), Serial: s.GetSerial(), EndOfData: s.GetEndOfData(), CacheReset: s.GetCacheReset(),
			Records4: int(s.GetRecordIpv4()), Records6: int(s.GetRecordIpv6())}
		st.Records4 += int(s.GetRecordIpv4())
		st.Records6 += int(s.GetRecordIpv6())
	})
	if err != nil {
		return st, fmt.Errorf("rpki: list RTR sessions: %w", err)
	}
	for _, srv := range c.servers {
		x, ok := byName[srv.Name()]
		if !ok {
			x = rtrStatus{Name: srv.Name()}
		}
		st.Servers = append(st.Servers, x)
	}
	return st, nil
}

// netipJoin is host:port as config.RTRServer.Name writes it.
func netipJoin(host string, port uint32) string {
	return config.RTRServer{Address: host, Port: int(port)}.Name()
}

// roas calls fn with every ROA of the table (every server's), IPv4 then
// IPv6. GoBGP builds the list of a family before it returns any.
func (c *rtrClient) roas(ctx context.Context, fn func(model.VRP)) error {
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
			fn(model.VRP{Prefix: p, MaxLength: uint8(r.GetMaxlen()), ASN: r.GetAsn()})
		})
		if err != nil {
			return fmt.Errorf("rpki: list ROAs: %w", err)
		}
		if bad != nil {
			return bad
		}
	}
	return nil
}

// stop ends the sessions and the server.
func (c *rtrClient) stop() {
	ctx := context.Background()
	for _, srv := range c.servers {
		_ = c.s.DeleteRpki(ctx, &api.DeleteRpkiRequest{Address: srv.Name()})
	}
	c.s.Stop()
}

// rtrLogger adapts GoBGP's logger to slog: GoBGP's RTR messages
// ("ROA server is connected") are reachmon's debug, its errors warnings.
type rtrLogger struct {
	log       *slog.Logger
	mu        sync.Mutex
	level     gobgplog.LogLevel
	connected time.Time // the latest "ROA server is connected"
}

func (l *rtrLogger) lastConnect() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected
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
	if msg == "ROA server is connected" {
		l.mu.Lock()
		l.connected = time.Now()
		l.mu.Unlock()
	}
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
