// Package app wires reachmon's components into the long-running daemon.
// It is the only package besides cmd that imports them all.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/metrics"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/schedule"
	"github.com/reachmon/reachmon/internal/server"
	"github.com/reachmon/reachmon/internal/version"
)

// Daemon is a configured, not yet running reachmon.
type Daemon struct {
	cfg    *config.Config
	log    *slog.Logger
	reg    *prometheus.Registry
	sched  *schedule.Scheduler
	srv    *server.Server
	dns    *metrics.DNS
	events chan model.Event
}

// New builds the daemon from a validated configuration.
func New(cfg *config.Config, log *slog.Logger) (*Daemon, error) {
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
		cfg:    cfg,
		log:    log,
		reg:    reg,
		dns:    metrics.NewDNS(wrapped),
		events: make(chan model.Event, 1024),
	}
	prober := dnsprobe.New(dnsprobe.Options{Timeout: cfg.Probe.Timeout.Duration, Logger: log})
	var err error
	d.sched, err = schedule.New(cfg, prober, d.events, schedule.Options{Logger: log, Registerer: wrapped})
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	d.srv = server.New(cfg.Listen, reg, log)
	d.srv.AddCheck("dns_discovery", d.sched.Ready)
	d.srv.Handle("GET /api/v1/nameservers", http.HandlerFunc(d.nameservers))
	return d, nil
}

// Run runs the daemon until ctx is cancelled; it returns after every
// goroutine has finished.
func (d *Daemon) Run(ctx context.Context) error {
	if err := os.MkdirAll(d.cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("app: state directory: %w", err)
	}
	ln, err := d.srv.Listen()
	if err != nil {
		return err
	}
	d.log.Info("reachmon starting", "version", version.Get(), "vantage", d.cfg.Vantage,
		"zones", len(d.cfg.Zone), "resolvers", len(d.cfg.Resolver))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.srv.Serve(ctx, ln) })
	g.Go(func() error { return d.sched.Run(ctx) })
	g.Go(func() error { d.consume(ctx); return nil })
	err = g.Wait()
	d.log.Info("reachmon stopped")
	return err
}

// consume is the single reader of the event channel: it feeds metrics now
// and the evaluator and BGP watch list later.
func (d *Daemon) consume(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-d.events:
			d.handle(ev)
		}
	}
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
		d.dns.ObserveDS(schedule.ZoneLabel(e.Zone), e)
		if e.Status != model.DSOK && e.Status != model.DSUnsigned {
			d.log.Warn("ds check", "zone", e.Zone, "status", string(e.Status), "detail", e.Detail)
		}
	case model.Discovery:
		d.dns.ObserveDiscovery(schedule.ZoneLabel(e.Zone), e)
	}
}

// nameservers serves the authoritative server addresses of every zone,
// discovered or configured: the addresses the BGP feed watches.
func (d *Daemon) nameservers(w http.ResponseWriter, _ *http.Request) {
	type zone struct {
		Zone    string             `json:"zone"`
		Servers []model.AuthServer `json:"servers"`
	}
	all := d.sched.AuthServers()
	out := struct {
		Zones []zone `json:"zones"`
	}{Zones: make([]zone, 0, len(all))}
	for z, s := range all {
		out.Zones = append(out.Zones, zone{z, s})
	}
	slices.SortFunc(out.Zones, func(a, b zone) int { return strings.Compare(a.Zone, b.Zone) })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// Registry returns the metrics registry (for tests).
func (d *Daemon) Registry() *prometheus.Registry { return d.reg }
