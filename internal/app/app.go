// Package app wires reachmon's components into the long-running daemon.
// It is the only package besides cmd that imports them all.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/bgp/bmp"
	"github.com/reachmon/reachmon/internal/bgp/session"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/metrics"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/alertmanager"
	"github.com/reachmon/reachmon/internal/rpki"
	"github.com/reachmon/reachmon/internal/schedule"
	"github.com/reachmon/reachmon/internal/server"
	"github.com/reachmon/reachmon/internal/silence"
	"github.com/reachmon/reachmon/internal/statefile"
	"github.com/reachmon/reachmon/internal/version"
)

// Daemon is a configured, not yet running reachmon.
type Daemon struct {
	cfg *config.Plan
	log *slog.Logger
	reg *prometheus.Registry
	// wrapped adds the vantage label to every reachmon metric.
	wrapped prometheus.Registerer
	health  *metrics.Health
	sched   *schedule.Scheduler
	srv     *server.Server
	dns     *metrics.DNS
	feed    *bgp.Feed
	ris     *bgp.RISLive  // nil without [ris_live]
	bmp     *bmp.Station  // nil without [bmp]
	bmpGate chan struct{} // closed once the first discovery's addresses are watched (openBMPGate); BMP and full_table sessions wait for it
	rpki    *rpki.Monitor // nil without [rpki]
	events  chan model.Event
	// zoneReq carries /api/v1/status?zone= to the consume loop (zone.go).
	zoneReq chan zoneReq

	// sessions runs the full_table neighbors' own BGP sessions (nil
	// without [bgp]).
	sessions *session.Manager

	// The evaluator is owned by the consume goroutine; readers see only
	// the published status and the store (which has its own lock).
	ev    *evaluate.Evaluator
	store *incident.Store
	im    *evaluate.Metrics
	pub   evaluate.Publisher
	// sinks are the notifiers' dispatchers: Slack first when [slack] is
	// configured, then every [[alertmanager]] and [[webhook]], in file
	// order. submit hands every incident change to each.
	sinks []sink
	// notifier is the dispatcher whose delivery state the incident store
	// shows: Slack's when it is configured, else the first sink's; nil
	// without sinks.
	notifier *notify.Dispatcher
	// notifyMetrics and amMetrics are shared by every sink (made once).
	notifyMetrics *notify.Metrics
	amMetrics     *alertmanager.Metrics
	// silences are the silences made at run time and the maintenance
	// windows; the evaluator asks them on every tick.
	silences *silence.Store
	// nsAddrs carries discovered nameserver addresses to the BGP watch
	// list; SetNameserverAddrs may block on GoBGP, so it has its own
	// goroutine and never holds up the event loop.
	nsAddrs chan model.Discovery

	// Reloads (reload.go): load reads the configuration again (from
	// reloadFile); reloadMu serialises reloads; started is closed once
	// every component runs; reconf carries the evaluator's new targets to
	// the consume loop, consumeDone is closed when that loop ends.
	load        func() (*config.Plan, error)
	reloadFile  string
	reloadMu    sync.Mutex
	started     chan struct{}
	reconf      chan reconfReq
	consumeDone chan struct{}

	// shard is this instance's share of the zones (shard.go): cfg holds
	// only those zones.
	shard        atomic.Pointer[evaluate.ShardStatus]
	shardMetrics *shardMetrics
}

// New builds the daemon from the configuration plan. With [shard] it
// watches only the zones its shard owns (config.Plan.Owned).
func New(cfg *config.Plan, log *slog.Logger) (*Daemon, error) {
	cfg, share := ownedPlan(cfg)
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Every reachmon metric carries the vantage, so that several instances
	// can be told apart (and counted for quorum) in one Prometheus.
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"vantage": cfg.Vantage}, reg)
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "reachmon_build_info",
		Help: "Always 1; labels carry the reachmon version and Go version.",
	}, []string{"version", "goversion"})
	wrapped.MustRegister(buildInfo)
	buildInfo.WithLabelValues(version.Get(), runtime.Version()).Set(1)

	d := &Daemon{
		cfg:     cfg,
		log:     log,
		reg:     reg,
		wrapped: wrapped,
		dns:     metrics.NewDNS(wrapped, cfg.Metrics.ZoneLatency),
		events:  make(chan model.Event, 1024),
		nsAddrs: make(chan model.Discovery, 64),
		zoneReq: make(chan zoneReq),

		started:     make(chan struct{}),
		reconf:      make(chan reconfReq),
		consumeDone: make(chan struct{}),
	}
	d.shardMetrics = newShardMetrics(wrapped)
	d.setShard(share)
	prober := dnsprobe.New(dnsprobe.Options{Timeout: cfg.Probe.Timeout.Duration, Logger: log})
	var err error
	d.sched, err = schedule.New(cfg, prober, d.events, schedule.Options{Logger: log, Registerer: wrapped})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	d.feed, err = bgp.New(cfg.BGP, bgp.WatchFromPlan(cfg), bgp.Options{Logger: log, Registerer: wrapped, Events: d.events})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	if cfg.BGP.Enabled() {
		// Always with [bgp], so that a reload can add full_table
		// neighbors; without any it only waits.
		d.sessions, err = session.NewManager(cfg.BGP, d.feed.NewSource(model.SourceBGP), log, wrapped)
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
	}
	if cfg.RISLive != nil {
		d.ris, err = d.feed.NewRISLive(*cfg.RISLive, bgp.RISLiveOptions{Logger: log, Registerer: wrapped})
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
	}
	if cfg.BMP.Enabled() || len(session.FullTableNeighbors(cfg.BGP)) > 0 {
		d.bmpGate = make(chan struct{})
	}
	if d.sessions != nil && d.bmpGate != nil {
		d.sessions.SetGate(d.bmpGate)
	}
	if cfg.BMP.Enabled() {
		d.bmp = bmp.New(cfg.BMP, d.feed.NewSource(model.SourceBMP), bmp.Options{Logger: log, Registerer: wrapped, Gate: d.bmpGate})
	}
	if cfg.RPKI.Enabled() {
		prefixes, addrs := rpkiWatch(cfg)
		d.rpki = rpki.New(*cfg.RPKI, prefixes, addrs, rpki.Options{Logger: log, Registerer: wrapped, Events: d.events})
	}
	d.ev = evaluate.New(cfg.Evaluate, evaluate.TargetsFromPlan(cfg))
	d.im = evaluate.NewMetrics(wrapped)
	// Registered unwrapped, with the vantage as a const label: its
	// series are most of a scrape at many zones, and wrapping costs
	// CPU for each at every scrape (evaluate.ZoneCollector).
	evaluate.NewZoneCollector(reg, d.pub.Load, prometheus.Labels{"vantage": cfg.Vantage})
	d.srv = server.New(cfg.Listen, reg, log)
	apiToken, err := cfg.API.Token()
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	d.srv.SetAccess(server.Access{Token: apiToken, ProtectMetrics: cfg.API.ProtectMetrics, Hosts: cfg.API.HostsAllowed(cfg.Listen)})
	cfgJSON, err := json.Marshal(cfg.Config) // the file as decoded, not the plan resolved from it
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	d.health = metrics.NewHealth(wrapped, cfgJSON, time.Now())
	d.addCheck("dns_discovery", d.sched.Ready)
	return d, nil
}

// Run runs the daemon until ctx is cancelled; it returns after every
// goroutine has finished.
//
// The state directory is locked for the daemon's life: a second daemon on
// the same state_dir is refused (an error carrying statefile.ErrRefused,
// as is a state file of a newer schema).
func (d *Daemon) Run(ctx context.Context) error {
	if err := os.MkdirAll(d.cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("app: state directory: %w", err)
	}
	lock, err := statefile.Lock(d.cfg.StateDir)
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	defer lock.Unlock()
	if err := d.openState(); err != nil {
		return err
	}
	defer d.flushState()
	store := d.store
	restored := store.Incidents()
	d.ev.Restore(restored)
	d.im.Restore(restored)
	d.publish(d.ev.Snapshot(time.Now()))
	// The API is mounted once the store it serves exists; nothing is
	// served before Listen below.
	d.srv.Handle(api.Prefix, api.Handler(api.Sources{
		Status:      d.pub.Load,
		Incidents:   store.View,
		Peers:       d.peersView,
		Routes:      d.feed.RoutesView,
		Nameservers: d.sched.AuthServers,
		Silences:    d.silences,
		Zone:        d.zoneDetail,
	}))
	d.srv.Handle(ReloadPath, d.srv.LocalOrToken(http.HandlerFunc(d.serveReload)))
	if n := len(d.ev.Open()); n > 0 {
		d.log.Info("incidents restored", "open", n)
	}
	ln, err := d.srv.Listen()
	if err != nil {
		// A port in use or an address not on this host: restarting
		// unchanged fails the same way.
		return config.Invalid(err)
	}
	d.log.Info("reachmon starting", "version", version.Get(), "vantage", d.cfg.Vantage,
		"zones", len(d.cfg.Zones), "resolvers", len(d.cfg.Resolvers), "bgp_neighbors", len(d.cfg.BGP.Neighbor))
	if s := d.shard.Load(); s.Count > 1 {
		d.log.Info(shardLine(s), "shard_index", s.Index, "shard_count", s.Count, "zones", s.Zones, "of", s.Of)
	}
	if n := len(d.cfg.Zones); n > config.ZoneLatencyWarnZones && d.cfg.Metrics.ZoneLatency {
		d.log.Warn("per-zone latency histograms are on for many zones: they will be most of reachmon's memory and of every /metrics scrape; set [metrics] zone_latency = false",
			"zones", n, "histograms_per_zone", "one per server")
	}
	if d.cfg.APIExposedWithoutToken() {
		d.log.Warn("the HTTP API is served beyond this host without a token: whoever reaches the listen address reads every zone, incident and route; set [api] token_env or token_file",
			"listen", d.cfg.Listen)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.srv.Serve(ctx, ln) })
	g.Go(func() error { return d.sched.Run(ctx) })
	g.Go(func() error { defer close(d.consumeDone); d.consume(ctx); return nil })
	g.Go(func() error { return d.feed.Run(ctx) })
	if d.ris != nil {
		g.Go(func() error { return d.ris.Run(ctx) })
	}
	if d.sessions != nil {
		g.Go(func() error { return d.sessions.Run(ctx) })
	}
	if d.rpki != nil {
		g.Go(func() error { return d.rpki.Run(ctx) })
	}
	if d.bmp != nil {
		g.Go(func() error { return d.bmp.Run(ctx) })
	}
	if d.bmpGate != nil {
		g.Go(func() error { d.openBMPGate(ctx); return nil })
	}
	g.Go(func() error { d.watchNameservers(ctx); return nil })
	for _, s := range d.sinks {
		g.Go(func() error { return s.d.Run(ctx) })
	}
	close(d.started)
	err = g.Wait()
	d.log.Info("reachmon stopped")
	return err
}

// consume is the single reader of the event channel and the only owner of
// the evaluator: it feeds metrics, the evaluator and the BGP watch list.
func (d *Daemon) consume(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	p := publishing{snapshot: func(now time.Time) { d.publish(d.ev.Snapshot(now)) }}
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-d.events:
			if d.ev.Ignored(ev) {
				continue // about a zone or resolver a reload removed
			}
			d.handle(ev)
			if d.after(d.ev.Apply(ev)) {
				p.changed(time.Now())
			}
		case req := <-d.reconf:
			// Zones added or removed: the status and the zone series
			// follow at once (or within a second).
			resolved := d.reconfigure(req)
			p.changed(time.Now())
			req.done <- resolved
		case req := <-d.zoneReq:
			d.answerZone(req)
		case now := <-tick.C:
			changed := d.after(d.ev.Tick(now))
			if d.rpki != nil {
				if states, changed := d.ev.RPKIRouteStates(); changed {
					d.rpki.SetRouteStates(states)
				}
			}
			p.tick(now, changed)
		}
	}
}

// publishing decides when the consume loop publishes a status snapshot
// (/api/v1/status and the zone collector's series). Snapshots cost tens
// of milliseconds for thousands of zones (86 ms at 10,000 zones and
// 20,000 watched prefixes), so they are never built per event:
//   - after incident changes and reloads: at once when the last snapshot
//     is at least gap old, else at the next tick, so that a zone's
//     reachmon_zone_health follows its incident within a second;
//   - every statusEvery, when gap allows.
//
// gap is 20 times what the last snapshot cost: at most 5% of a core,
// except while incidents change every second (a mass outage), when the
// snapshot of every second costs what it costs (9% of a core at 10,000
// zones).
type publishing struct {
	snapshot func(now time.Time) // builds and publishes one
	last     time.Time
	gap      time.Duration
	pending  bool // incident changes not yet published
}

// changed is called after an event changed incidents, and after a reload.
func (p *publishing) changed(now time.Time) {
	if now.Sub(p.last) >= p.gap {
		p.publish(now)
		return
	}
	p.pending = true
}

// tick is called every second; changed: the tick changed incidents.
func (p *publishing) tick(now time.Time, changed bool) {
	since := now.Sub(p.last)
	if p.pending || (changed && since >= p.gap) || (since >= p.gap && since >= statusEvery) {
		p.publish(now)
	} else if changed {
		p.pending = true
	}
}

func (p *publishing) publish(now time.Time) {
	began := time.Now()
	p.snapshot(now)
	p.gap = 20 * time.Since(began)
	p.last, p.pending = now, false
}

// openState opens the state stores of the locked state directory: one
// outbox per notifier (Slack, each [[alertmanager]], each [[webhook]])
// and the incident store, reconciles the first with the second, and adds
// the readiness check and the write error counter of each.
func (d *Daemon) openState() error {
	if err := d.startNotifiers(); err != nil {
		return err
	}
	delivery, err := d.deliveryState()
	if err != nil {
		return err
	}
	d.store, err = openIncidents(d.cfg.StateDir, delivery, d.log)
	if err != nil {
		return err
	}
	if err := d.openSilences(); err != nil {
		return err
	}
	writes := []statefile.WriteStatus{d.store.WriteStatus()}
	d.health.AddStateStore("incidents", d.store.WriteStatus().Failures)
	incidents := d.store.Incidents()
	for _, s := range d.sinks {
		s.d.Reconcile(incidents)
		s.d.CatchUp(incidents)
		writes = append(writes, s.d.WriteStatus())
		d.health.AddStateStore(s.dir, s.d.WriteStatus().Failures)
	}
	d.addCheck("state_writes", func() error {
		errs := make([]error, len(writes))
		for i, w := range writes {
			errs[i] = w.Err()
		}
		return errors.Join(errs...)
	})
	return nil
}

// openSilences opens state_dir/silences.json with the configured
// maintenance windows and hands them to the evaluator. The store writes
// each change before it answers the API, so a failed write is the
// request's error, not a state write error.
func (d *Daemon) openSilences() error {
	var err error
	d.silences, err = silence.Open(d.cfg.StateDir, d.cfg.Windows, silence.Options{Logger: d.log})
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	d.ev.SetSilencer(d.silences)
	d.wrapped.MustRegister(d.silences.Collector())
	return nil
}

// flushState writes what the stores have queued (at shutdown).
func (d *Daemon) flushState() {
	d.store.Flush()
	for _, s := range d.sinks {
		s.d.Flush()
	}
}

// deliveryState is what the incident store shows as delivered: the
// dispatcher's own state while notifications are on, else what Slack's
// saved while they were (incidents paged then still say so). A saved
// state of a newer schema is refused as with notifications on.
func (d *Daemon) deliveryState() (incident.DeliveryState, error) {
	if d.notifier != nil {
		return d.notifier, nil
	}
	saved, err := notify.ReadDelivered(d.cfg.StateDir)
	if errors.Is(err, statefile.ErrRefused) {
		return nil, fmt.Errorf("app: %w", err)
	}
	if err != nil {
		d.log.Warn("saved notification state unreadable; incidents are shown as not paged", "error", err)
		return nil, nil
	}
	return saved, nil
}

// openIncidents opens the incident store of stateDir, showing delivery
// (nil: nothing was delivered) with each incident.
func openIncidents(stateDir string, delivery incident.DeliveryState, log *slog.Logger) (*incident.Store, error) {
	store, err := incident.Open(filepath.Join(stateDir, "incidents"), incident.Options{Logger: log, Delivery: delivery})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	return store, nil
}

// addCheck adds a readiness check to /readyz and to reachmon_ready.
func (d *Daemon) addCheck(name string, check server.Check) {
	d.srv.AddCheck(name, check)
	d.health.AddCheck(name, check)
}

// statusEvery is how often /api/v1/status is refreshed without changes.
const statusEvery = 5 * time.Second

// after records the evaluator's incident changes: metrics, the store, the
// log (and the notifier). It reports whether there were any.
func (d *Daemon) after(changes []model.IncidentChange) bool {
	if len(changes) == 0 {
		return false
	}
	d.im.Observe(changes)
	if err := d.store.Apply(changes); err != nil {
		d.log.Error("incident store write failed", "error", err)
	}
	for _, c := range changes {
		d.submit(c)
	}
	for _, c := range changes {
		i := c.Incident
		d.log.Warn("incident", "change", string(c.Type), "id", i.ID, "kind", string(i.Kind), "severity", string(i.Severity),
			"subject", i.Subject, "root_cause", i.RootCause, "reason", c.Reason, "pages", i.Pages(), "silenced", i.Silenced.ID)
	}
	return true
}

func (d *Daemon) handle(ev model.Event) {
	switch e := ev.(type) {
	case model.Observation:
		d.dns.Observe(e)
		if d.log.Enabled(context.Background(), slog.LevelDebug) {
			d.log.Debug("probe", "zone", e.Target, "server", e.Server.Name, "name", e.Name, "type", e.Type,
				"rcode", e.Rcode, "error", string(e.Error), "latency", e.Latency.Round(time.Microsecond))
		}
	case model.DSCheck:
		if e.Status != model.DSOK && e.Status != model.DSUnsigned {
			d.log.Warn("ds check", "zone", e.Zone, "status", string(e.Status), "detail", e.Detail)
		}
	case model.Discovery:
		d.dns.ObserveDiscovery(model.ZoneNameOf(e.Zone).Label(), e)
		if (d.feed.Enabled() || d.rpki != nil) && len(e.Servers) > 0 {
			select {
			case d.nsAddrs <- e:
			default:
				// The watcher is behind; the next discovery carries the set again.
				d.log.Warn("bgp watch update skipped", "zone", e.Zone)
			}
		}
	case model.RouteEvent:
		// What can page (a withdrawal, another origin, a new
		// more-specific) is logged at info; announcements, path changes
		// and the initial tables, at debug: thousands of lines a second
		// under churn would drown the log (and journald's rate limit).
		level := slog.LevelInfo
		if e.Initial || e.Kind == model.RouteAnnounce || e.Kind == model.RoutePathChange {
			level = slog.LevelDebug
		}
		if d.log.Enabled(context.Background(), level) {
			d.log.Log(context.Background(), level, "bgp route", "kind", string(e.Kind), "peer", e.Peer, "prefix", e.Prefix.String(),
				"origin", e.Origin, "visible_peers", e.VisiblePeers, "initial", e.Initial)
		}
	case model.CoverEvent:
		d.log.Warn("bgp cover", "kind", string(e.Kind), "address", e.Addr.String(), "roles", e.Roles)
	case model.PeerEvent:
		d.log.Info("bgp peer", "kind", string(e.Kind), "peer", e.Peer, "reason", e.Reason, "routes", e.Routes)
	case model.FeedEvent:
		d.log.Info("bgp feed", "feed", e.Feed, "source", e.Source, "up", e.Up, "reason", e.Reason)
	case model.RPKIEvent:
		d.log.Info("rpki vrps", "ready", e.Ready, "relevant", len(e.VRPs), "sources", e.Sources)
	}
}

// watchNameservers hands discovered nameserver addresses to the BGP feed,
// which widens its import policy to every route covering them.
func (d *Daemon) watchNameservers(ctx context.Context) {
	last := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return
		case disc := <-d.nsAddrs:
			addrs := disc.Addrs()
			slices.SortFunc(addrs, netip.Addr.Compare)
			key := fmt.Sprint(addrs)
			if last[disc.Zone] == key {
				continue
			}
			if d.rpki != nil {
				d.rpki.SetNameserverAddrs(disc.Zone, addrs)
			}
			if !d.feed.Enabled() {
				last[disc.Zone] = key
				continue
			}
			if err := d.feed.SetNameserverAddrs(disc.Zone, addrs); err != nil {
				d.log.Warn("bgp watch update failed", "zone", disc.Zone, "error", err)
				continue
			}
			last[disc.Zone] = key
		}
	}
}

// bmpGateSettle is how long after the first discovery of every zone the
// BMP station starts reading, for the discovered nameserver addresses to
// reach the feed's watched set (through consume and watchNameservers);
// bmpGateMax bounds the whole wait.
const (
	bmpGateSettle = 2 * time.Second
	bmpGateMax    = 2 * time.Minute
)

// openBMPGate lets the BMP station read, and the full_table sessions
// connect, once every zone had its first discovery (or after
// bmpGateMax): routers' initial tables are then filtered with the
// nameserver addresses found. A later widening resets a router's session
// instead (bmp.Options.MinReset), and makes a full_table session ask for
// its neighbor's table again (route refresh).
func (d *Daemon) openBMPGate(ctx context.Context) {
	defer close(d.bmpGate)
	start := time.Now()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for d.sched.Ready() != nil && time.Since(start) < bmpGateMax {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(bmpGateSettle):
	}
}

// peersView is the /api/v1/peers document: the feed's peers, the
// full_table ones with their session.
func (d *Daemon) peersView() bgp.PeersView {
	v := d.feed.PeersView()
	if d.sessions != nil {
		v = d.sessions.Annotate(v)
	}
	return v
}

// Registry returns the metrics registry (for tests).
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }

// rpkiWatch is what the RPKI monitor keeps VRPs for: the watched
// prefixes and the configured addresses (resolvers, configured
// authoritative servers); discovered nameservers follow
// (watchNameservers).
func rpkiWatch(p *config.Plan) ([]netip.Prefix, []netip.Addr) {
	w := bgp.WatchFromPlan(p)
	var prefixes []netip.Prefix
	for _, x := range w.Prefixes {
		prefixes = append(prefixes, x.Prefix)
	}
	var addrs []netip.Addr
	for _, as := range w.Nameservers {
		addrs = append(addrs, as...)
	}
	for _, a := range w.Resolvers {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return prefixes, slices.Compact(addrs)
}
