package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/metrics"
	"github.com/reachmon/reachmon/internal/model"
)

// ReloadPath is the endpoint that reloads the configuration (POST).
const ReloadPath = "/-/reload"

// ReloadSchema names the version of the reload answer.
const ReloadSchema = "reachmon.reload/v1"

// ReloadResult is what a successful reload did: the answer of POST
// /-/reload, and what the log says.
type ReloadResult struct {
	Schema string `json:"schema"`
	// File is the configuration file read.
	File string `json:"file,omitempty"`
	// ConfigSHA256 is the first 12 hex digits of the new configuration's
	// digest (reachmon_config_info's sha256 label).
	ConfigSHA256 string    `json:"config_sha256"`
	Loaded       time.Time `json:"loaded"`
	// Changed lists what changed and was applied, one line per part
	// ("zones: added b.example; removed c.example").
	Changed []string `json:"changed"`
	// RestartNeeded lists the keys that changed in the file but need a
	// restart: they keep their running values until then.
	RestartNeeded []string `json:"restart_needed"`
	// Resolved is how many open incidents the reload resolved (their
	// subject left the configuration).
	Resolved int `json:"resolved_incidents"`
}

// SetReloader names where a reload reads the configuration from: load is
// called on every SIGHUP and POST /-/reload (the CLI's: config.Load of the
// --config file with the command line's overrides applied). Without one,
// reloads are refused. Call before Run.
func (d *Daemon) SetReloader(file string, load func() (*config.Plan, error)) {
	d.reloadFile, d.load = file, load
}

// reconfReq asks the consume loop to reconfigure the evaluator.
type reconfReq struct {
	plan *config.Plan
	// removedZones and removedResolvers lose their metric series;
	// changedZones (in plan) lose those of queries no longer asked.
	removedZones, removedResolvers, changedZones []string
	done                                         chan int // the number of incidents resolved
}

// Reload reads the configuration again and applies what can change while
// running: zones, resolvers, watched prefixes, BGP neighbors (a changed
// one is reset alone), [slack] routes and settings, [probe] intervals and
// [evaluate] thresholds. Open incidents, the notification outbox and the
// BGP sessions of unchanged neighbors are kept; incidents of removed
// subjects are resolved (evaluate.ReasonZoneRemoved, ...). Keys that need
// a restart keep their running values and are listed in the result.
//
// An invalid file (or an unreadable secret) is refused as a whole: the
// running configuration stays, the error is logged and counted
// (reachmon_config_reloads_total{result="failure"},
// reachmon_config_last_reload_successful 0) and returned. Reloads are
// serialised; Reload waits for the daemon to have started.
func (d *Daemon) Reload(ctx context.Context) (ReloadResult, error) {
	select {
	case <-d.started:
	case <-ctx.Done():
		return ReloadResult{}, ctx.Err()
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	res, err := d.reload(ctx)
	if err != nil {
		d.health.ReloadFailed()
		d.log.Error("configuration reload refused; the running configuration is kept", "file", d.reloadFile, "error", err)
		return res, err
	}
	d.log.Info("configuration reloaded", "file", d.reloadFile, "sha256", res.ConfigSHA256,
		"changed", res.Changed, "resolved_incidents", res.Resolved)
	if len(res.RestartNeeded) > 0 {
		d.log.Warn("configuration reload: restart needed for: "+strings.Join(res.RestartNeeded, ", ")+" (running values kept)",
			"keys", res.RestartNeeded)
	}
	return res, nil
}

func (d *Daemon) reload(ctx context.Context) (ReloadResult, error) {
	if d.load == nil {
		return ReloadResult{}, errors.New("no configuration file to reload from")
	}
	plan, err := d.load()
	if err != nil {
		return ReloadResult{}, err
	}
	// The plan run is the new shard's share of the new zones: a changed
	// [shard] adds and removes zones like an edited zone list.
	plan, share := ownedPlan(plan)
	loaded := time.Now()
	old := d.cfg
	restart := restartNeeded(old.Config, plan.Config)
	eff := effectivePlan(old, plan)

	// Everything that can fail is done before anything changes.
	for i, n := range eff.BGP.Neighbor {
		if _, err := n.Password(); err != nil {
			return ReloadResult{}, config.Invalid(fmt.Errorf("bgp.neighbor[%d] (%s): password: %w", i, n.Name(), err))
		}
	}
	// The notifiers are built again whether or not their sections
	// changed: a token, webhook URL or secret they name may have (a
	// rotated file).
	specs, err := d.sinkSpecs(eff)
	if err != nil {
		return ReloadResult{}, config.Invalid(err)
	}
	cfgJSON, err := json.Marshal(plan.Config)
	if err != nil {
		return ReloadResult{}, err
	}

	res := ReloadResult{Schema: ReloadSchema, File: d.reloadFile, Loaded: loaded, RestartNeeded: restart, Changed: []string{}}
	if res.RestartNeeded == nil {
		res.RestartNeeded = []string{}
	}
	zonesAdded, zonesRemoved := diffNames(zoneNames(old), zoneNames(eff))
	resAdded, resRemoved := diffNames(resolverNames(old), resolverNames(eff))
	pfxAdded, pfxRemoved := diffNames(prefixNames(old), prefixNames(eff))
	res.Changed = appendChange(res.Changed, "zones", zonesAdded, zonesRemoved)
	res.Changed = appendChange(res.Changed, "resolvers", resAdded, resRemoved)
	res.Changed = appendChange(res.Changed, "prefixes", pfxAdded, pfxRemoved)
	changed := changedZones(old, eff)
	if len(changed) > 0 {
		res.Changed = append(res.Changed, "zones: changed "+strings.Join(changed, ", "))
	}
	if was := d.shard.Load(); was.Index != share.Index || was.Count != share.Count {
		res.Changed = append(res.Changed, fmt.Sprintf("shard: was %d of %d, now %s", was.Index, was.Count, shardLine(share)))
	}
	if old.Probe != eff.Probe {
		res.Changed = append(res.Changed, "probe")
	}
	if !reflect.DeepEqual(old.Evaluate, eff.Evaluate) {
		res.Changed = append(res.Changed, "evaluate")
	}

	d.setShard(share)
	d.sched.SetPlan(eff)
	done := make(chan int, 1)
	req := reconfReq{plan: eff, removedZones: zonesRemoved, removedResolvers: resRemoved, changedZones: changed, done: done}
	select {
	case d.reconf <- req:
	case <-d.consumeDone:
		return ReloadResult{}, errors.New("the daemon is stopping")
	}
	select {
	case res.Resolved = <-done:
	case <-d.consumeDone:
		return ReloadResult{}, errors.New("the daemon is stopping")
	}
	var errs []error
	if d.feed.Enabled() {
		zones := make([]string, 0, len(eff.Zones))
		for _, z := range eff.Zones {
			zones = append(zones, z.Name.FQDN())
		}
		ch, err := d.feed.Reconfigure(eff.BGP.Neighbor, bgp.WatchFromPlan(eff), zones)
		if err != nil {
			// The configuration is valid and applied; GoBGP refused part
			// of it (it logged why): report it, the rest stands.
			errs = append(errs, err)
		}
		if d.sessions != nil {
			if err := d.sessions.Reconfigure(eff.BGP); err != nil {
				errs = append(errs, err)
			}
		}
		res.Changed = appendChange(res.Changed, "bgp neighbors", ch.Added, ch.Removed)
		if len(ch.Reset) > 0 {
			res.Changed = append(res.Changed, "bgp neighbors: reset "+strings.Join(ch.Reset, ", "))
		}
		for _, z := range zonesRemoved {
			select {
			case d.nsAddrs <- model.Discovery{Zone: model.ZoneNameOf(z).FQDN()}:
			case <-ctx.Done():
			case <-d.consumeDone:
			}
		}
	}
	if d.rpki != nil {
		d.rpki.SetWatched(rpkiWatch(eff))
		if !d.feed.Enabled() {
			for _, z := range zonesRemoved {
				d.rpki.SetNameserverAddrs(model.ZoneNameOf(z).FQDN(), nil)
			}
		}
	}
	if err := d.reconfigureSinks(specs); err != nil {
		errs = append(errs, err)
	}
	for _, n := range []struct {
		name    string
		changed bool
	}{
		{"slack", !reflect.DeepEqual(old.Slack, eff.Slack)},
		{"alertmanager", !reflect.DeepEqual(old.Alertmanager, eff.Alertmanager)},
		{"webhook", !reflect.DeepEqual(old.Webhook, eff.Webhook)},
	} {
		if n.changed {
			res.Changed = append(res.Changed, n.name)
		}
	}
	if d.silences != nil {
		d.silences.SetWindows(eff.Windows)
		if !reflect.DeepEqual(old.Maintenance, eff.Maintenance) {
			res.Changed = append(res.Changed, "maintenance")
		}
	}
	d.cfg = eff
	d.health.SetConfig(cfgJSON, loaded)
	res.ConfigSHA256 = metrics.ConfigDigest(cfgJSON)
	if err := errors.Join(errs...); err != nil {
		d.log.Error("configuration reload applied with errors", "error", err)
	}
	return res, nil
}

// listenerOwnerKey is what restartNeeded names when a reload would move
// [bgp]'s listener between the embedded GoBGP speaker and the full_table
// speaker (config.BGP.FullTableListener).
const listenerOwnerKey = "bgp.neighbor (a passive full_table neighbor added or removed: the listener changes hands)"

// restartNeeded lists the keys that differ between the running and the
// new configuration but cannot change without a restart.
func restartNeeded(old, new *config.Config) []string {
	var out []string
	add := func(key string, changed bool) {
		if changed {
			out = append(out, key)
		}
	}
	add("vantage", old.Vantage != new.Vantage)
	add("listen", old.Listen != new.Listen)
	add("state_dir", old.StateDir != new.StateDir)
	add("log", old.Log != new.Log)
	add("api", !reflect.DeepEqual(old.API, new.API))
	add("metrics", old.Metrics != new.Metrics)
	add("probe.timeout", old.Probe.Timeout != new.Probe.Timeout)
	add("bgp.asn", old.BGP.ASN != new.BGP.ASN)
	add("bgp.router_id", old.BGP.RouterID != new.BGP.RouterID)
	add("bgp.listen_port", old.BGP.ListenPort != new.BGP.ListenPort)
	add("bgp.listen_addresses", !slices.Equal(old.BGP.ListenAddresses, new.BGP.ListenAddresses))
	add("bgp.initial_sync_timeout", old.BGP.InitialSyncTimeout != new.BGP.InitialSyncTimeout)
	add(listenerOwnerKey, old.BGP.FullTableListener() != new.BGP.FullTableListener())
	add("ris_live", !reflect.DeepEqual(old.RISLive, new.RISLive))
	add("bmp", !reflect.DeepEqual(old.BMP, new.BMP))
	add("rpki", !reflect.DeepEqual(old.RPKI, new.RPKI))
	add("notifiers (adding or removing [slack], [[alertmanager]] or [[webhook]])", !slices.Equal(sinkNames(old), sinkNames(new)))
	return out
}

// effectivePlan is the new plan with the keys that need a restart set
// back to their running values.
func effectivePlan(old, plan *config.Plan) *config.Plan {
	c := *plan.Config
	c.Vantage, c.Listen, c.StateDir, c.Log, c.API, c.Metrics = old.Vantage, old.Listen, old.StateDir, old.Log, old.API, old.Metrics
	c.Probe.Timeout = old.Probe.Timeout
	c.BGP.ASN, c.BGP.RouterID, c.BGP.ListenPort = old.BGP.ASN, old.BGP.RouterID, old.BGP.ListenPort
	c.BGP.ListenAddresses, c.BGP.InitialSyncTimeout = old.BGP.ListenAddresses, old.BGP.InitialSyncTimeout
	c.RISLive = old.RISLive
	c.BMP = old.BMP
	if old.BGP.FullTableListener() != c.BGP.FullTableListener() {
		// The listener cannot change hands while running (GoBGP holds
		// it or the full_table speaker does): the running neighbors
		// stay until a restart, listed under listenerOwnerKey.
		c.BGP.Neighbor = old.BGP.Neighbor
	}
	c.RPKI = old.RPKI
	if !c.BGP.Enabled() {
		c.BGP.Neighbor = nil
	}
	if !slices.Equal(sinkNames(old.Config), sinkNames(&c)) {
		c.Slack, c.Alertmanager, c.Webhook = old.Slack, old.Alertmanager, old.Webhook
	}
	eff := *plan
	eff.Config = &c
	return &eff
}

func zoneNames(p *config.Plan) []string {
	out := make([]string, 0, len(p.Zones))
	for _, z := range p.Zones {
		out = append(out, z.Name.Label())
	}
	return out
}

func resolverNames(p *config.Plan) []string {
	out := make([]string, 0, len(p.Resolvers))
	for _, r := range p.Resolvers {
		out = append(out, r.Server.Name)
	}
	return out
}

func prefixNames(p *config.Plan) []string {
	out := make([]string, 0, len(p.Prefixes))
	for _, w := range p.Prefixes {
		out = append(out, w.Prefix.String())
	}
	return out
}

// changedZones names the zones in both plans whose settings differ.
func changedZones(old, new *config.Plan) []string {
	was := map[string]config.ZonePlan{}
	for _, z := range old.Zones {
		was[z.Name.Label()] = z
	}
	var out []string
	for _, z := range new.Zones {
		if w, ok := was[z.Name.Label()]; ok && !reflect.DeepEqual(w, z) {
			out = append(out, z.Name.Label())
		}
	}
	return out
}

// diffNames returns the names only in b (added) and only in a (removed).
func diffNames(a, b []string) (added, removed []string) {
	for _, x := range b {
		if !slices.Contains(a, x) {
			added = append(added, x)
		}
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			removed = append(removed, x)
		}
	}
	return added, removed
}

func appendChange(out []string, what string, added, removed []string) []string {
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	if len(parts) == 0 {
		return out
	}
	return append(out, what+": "+strings.Join(parts, "; "))
}

// reconfigure runs in the consume loop: the evaluator takes the new
// targets, and the incidents it resolves are recorded like any others.
// It returns how many it resolved.
func (d *Daemon) reconfigure(req reconfReq) int {
	changes := d.ev.Reconfigure(req.plan.Evaluate, evaluate.TargetsFromPlan(req.plan), time.Now())
	for _, z := range req.removedZones {
		d.dns.ForgetZone(z)
	}
	for _, r := range req.removedResolvers {
		d.dns.ForgetResolver(r)
	}
	for _, z := range req.plan.Zones {
		if slices.Contains(req.changedZones, z.Name.Label()) {
			d.dns.KeepQueries(z.Name.Label(), askedBy(z))
		}
	}
	resolved := 0
	for _, c := range changes {
		if c.Type == model.ChangeResolve {
			resolved++
		}
	}
	d.after(changes)
	return resolved
}

// serveReload is POST /-/reload: 200 with the ReloadResult, or the API's
// error document saying why the file was refused.
func (d *Daemon) serveReload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		api.WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use POST to reload the configuration", r.Method, r.URL.Path))
		return
	}
	res, err := d.Reload(r.Context())
	if err != nil {
		code := http.StatusInternalServerError
		if config.IsInvalid(err) {
			code = http.StatusUnprocessableEntity
		}
		api.WriteError(w, code, "configuration reload refused, the running configuration is kept: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// askedBy says whether zone z's plan asks a query of a server of kind:
// every name and type of a resolver; of an authoritative server the same
// but SOA only at the apex, and the apex SOA always (schedule's probe
// jobs).
func askedBy(z config.ZonePlan) func(name, qtype string, kind model.ServerKind) bool {
	apex := z.Name.FQDN()
	return func(name, qtype string, kind model.ServerKind) bool {
		if kind == model.KindAuthoritative && qtype == "SOA" {
			return strings.EqualFold(name, apex)
		}
		return slices.ContainsFunc(z.Names, func(n string) bool { return strings.EqualFold(n, name) }) && slices.Contains(z.Types, qtype)
	}
}
