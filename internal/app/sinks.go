package app

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/alertmanager"
	notifyslack "github.com/reachmon/reachmon/internal/notify/slack"
	"github.com/reachmon/reachmon/internal/notify/webhook"
)

// sink is one notifier's dispatcher.
type sink struct {
	// name is the readiness check's name: "notify" for Slack,
	// "notify_alertmanager_<name>", "notify_webhook_<name>".
	name string
	// dir is its directory in the state directory (Policy.Dir), the
	// store label of reachmon_state_write_errors_total.
	dir string
	d   *notify.Dispatcher
}

// sinkSpec is one configured notifier, built but not yet running.
type sinkSpec struct {
	check  string
	policy notify.Policy
	n      notify.Notifier
}

// sinkSpecs builds the notifiers p configures, in order: Slack, every
// [[alertmanager]], every [[webhook]]. It reads their secrets; an error
// (a secret missing) leaves nothing changed.
func (d *Daemon) sinkSpecs(p *config.Plan) ([]sinkSpec, error) {
	var out []sinkSpec
	if p.Slack.Enabled() {
		sn, err := notifyslack.New(p.Slack, notifyslack.Options{Logger: d.log, Vantage: p.Vantage})
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		out = append(out, sinkSpec{"notify", notify.SlackPolicy(p.Slack), sn})
	}
	if len(p.Alertmanager) > 0 && d.amMetrics == nil {
		d.amMetrics = alertmanager.NewMetrics(d.wrapped)
	}
	for _, c := range p.Alertmanager {
		n, err := alertmanager.New(c, alertmanager.Options{Logger: d.log, Metrics: d.amMetrics, Vantage: p.Vantage, ExternalURL: p.ExternalBase()})
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		out = append(out, sinkSpec{"notify_alertmanager_" + c.Name, alertmanager.Policy(c), n})
	}
	for _, c := range p.Webhook {
		n, err := webhook.New(c, webhook.Options{Logger: d.log, Vantage: p.Vantage, Entry: d.incidentEntry})
		if err != nil {
			return nil, fmt.Errorf("app: %w", err)
		}
		out = append(out, sinkSpec{"notify_webhook_" + c.Name, webhook.Policy(c), n})
	}
	return out, nil
}

// startNotifiers builds every configured notifier and its dispatcher
// (its outbox and what it delivered about each incident), sharing one
// set of notify metrics, and picks the dispatcher the incident store
// shows: Slack's when configured, else the first sink's.
func (d *Daemon) startNotifiers() error {
	specs, err := d.sinkSpecs(d.cfg)
	if err != nil {
		return err
	}
	if d.notifyMetrics == nil {
		d.notifyMetrics = notify.NewMetrics(d.wrapped)
	}
	opts := notify.Options{Logger: d.log, Metrics: d.notifyMetrics}
	for _, s := range specs {
		disp, err := notify.NewPolicy(s.policy, d.cfg.StateDir, s.n, opts)
		if err != nil {
			return fmt.Errorf("app: %w", err)
		}
		d.sinks = append(d.sinks, sink{name: s.check, dir: s.policy.Dir, d: disp})
		d.addCheck(s.check, disp.Ready)
	}
	if len(d.sinks) > 0 {
		d.notifier = d.sinks[0].d
	}
	return nil
}

// errSinksChanged is the error of a reload that adds or removes a
// notifier: that needs a restart (a new outbox, a new goroutine, another
// dispatcher behind the incident store).
var errSinksChanged = errors.New("notifiers added or removed")

// sinkNames are the readiness check names of the notifiers c configures,
// in sinkSpecs' order: "notify" for Slack, "notify_alertmanager_<name>",
// "notify_webhook_<name>".
func sinkNames(c *config.Config) []string {
	var out []string
	if c.Slack.Enabled() {
		out = append(out, "notify")
	}
	for _, a := range c.Alertmanager {
		out = append(out, "notify_alertmanager_"+a.Name)
	}
	for _, w := range c.Webhook {
		out = append(out, "notify_webhook_"+w.Name)
	}
	return out
}

// reconfigureSinks applies notifier specs built from a reloaded
// configuration (sinkSpecs) to the running dispatchers: Slack's channels,
// routes, rate and intervals, an Alertmanager's URLs, resend interval and
// token, a webhook's URL and secret. Incidents keep the channel they were
// routed to. The set of notifiers must be the same (by name: a reload
// keeps the running notifiers' sections when it is not); otherwise
// nothing changes and the error says why.
func (d *Daemon) reconfigureSinks(specs []sinkSpec) error {
	have := make([]string, len(d.sinks))
	for i, s := range d.sinks {
		have[i] = s.name
	}
	want := make([]string, len(specs))
	for i, s := range specs {
		want[i] = s.check
	}
	if !slices.Equal(have, want) {
		return fmt.Errorf("app: %w (running: %s; configured: %s): restart to apply", errSinksChanged,
			listOrNone(have), listOrNone(want))
	}
	for i, s := range specs {
		if err := d.sinks[i].d.Reconfigure(s.policy, s.n); err != nil {
			return fmt.Errorf("app: %s: %w", s.check, err)
		}
	}
	return nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// incidentEntry renders an incident as /api/v1/incidents does (the
// webhook document's incident); the store exists before any delivery.
func (d *Daemon) incidentEntry(inc model.Incident) incident.Entry { return d.store.Entry(inc) }

// submit hands an incident change to every notifier: each persists it to
// its outbox and never waits on the network.
func (d *Daemon) submit(c model.IncidentChange) {
	for _, s := range d.sinks {
		s.d.Submit(c)
	}
}
