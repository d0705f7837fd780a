package notify

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// SlackDir is the Slack dispatcher's directory in the state directory
// (the one every reachmon before several sinks used).
const SlackDir = dirName

// Policy is how one sink's dispatcher delivers: where its outbox lives,
// how incidents are routed to channels and how fast and how often
// messages go out. Each sink (Slack, an [[alertmanager]], a [[webhook]])
// has its own dispatcher with its own policy; they share the notify
// metrics (Options.Metrics), told apart by the channel label.
type Policy struct {
	// Name names the sink in logs ("slack", "alertmanager/default").
	Name string
	// Dir is the dispatcher's directory in the state directory: "notify"
	// for Slack, "notify-alertmanager-<name>", "notify-webhook-<name>".
	// It cannot change at runtime (Reconfigure).
	Dir string
	// Route returns the channel of a new incident (fixed at the
	// incident's first change); nil routes everything to Channels[0].
	Route func(kind model.IncidentKind, sev model.Severity) string
	// Channels lists every channel Route returns (the metrics' channel
	// label values, initialised at zero); at least one.
	Channels []string
	// Rate is the most messages per second per channel; 0: no limit.
	Rate float64
	// Repeat re-sends open incidents whose last message is this old
	// (Slack reminders, Alertmanager's resend); 0: never.
	Repeat time.Duration
	// MinUpdate is the least time between an update and the incident's
	// message before it (severity changes and resolves are never held);
	// 0: updates are never held.
	MinUpdate time.Duration
	// MaxBackoff bounds the wait between retries (and a Retry-After).
	MaxBackoff time.Duration
	// QuietRepeat logs delivered repeats at debug, not info: Alertmanager's
	// resend of every open alert each minute is routine.
	QuietRepeat bool
}

// SlackPolicy is the policy of the Slack dispatcher, from [slack]: its
// routes and channels, rate, repeat_interval, min_update_interval and
// max_backoff, in the "notify" directory.
func SlackPolicy(cfg config.SlackConfig) Policy {
	return Policy{
		Name:       "slack",
		Dir:        SlackDir,
		Route:      cfg.ChannelFor,
		Channels:   cfg.Channels(),
		Rate:       cfg.RatePerSecond(),
		Repeat:     cfg.RepeatInterval.Duration,
		MinUpdate:  cfg.UpdateInterval(),
		MaxBackoff: cfg.MaxRetryBackoff(),
	}
}

// SinkDir is the state directory of a sink other than Slack: "notify-"
// kind "-" name ("notify-alertmanager-default").
func SinkDir(kind, name string) string { return "notify-" + kind + "-" + name }

// SinkChannel is the channel label of a sink other than Slack:
// kind "/" name ("alertmanager/default", "webhook/teams").
func SinkChannel(kind, name string) string { return kind + "/" + name }

// check reports what is wrong with p.
func (p Policy) check() error {
	switch {
	case p.Dir == "" || p.Dir != filepath.Base(p.Dir) || p.Dir == "." || p.Dir == ".." || strings.ContainsAny(p.Dir, `/\`):
		return fmt.Errorf("notify: policy %q: directory %q is not one path element", p.Name, p.Dir)
	case len(p.Channels) == 0:
		return fmt.Errorf("notify: policy %q: no channel", p.Name)
	case p.Rate < 0:
		return fmt.Errorf("notify: policy %q: negative rate", p.Name)
	case p.Repeat < 0 || p.MinUpdate < 0 || p.MaxBackoff < 0:
		return fmt.Errorf("notify: policy %q: negative interval", p.Name)
	}
	return nil
}

// timing is the part of a policy the Run goroutine reads, swapped whole
// by Reconfigure.
type timing struct {
	route      func(model.IncidentKind, model.Severity) string
	channels   []string
	interval   time.Duration
	repeat     time.Duration
	minUpdate  time.Duration
	maxBackoff time.Duration
	quiet      bool
	n          Notifier
}

func (d *Dispatcher) newTiming(p Policy, n Notifier) *timing {
	t := &timing{
		route:      p.Route,
		channels:   p.Channels,
		repeat:     p.Repeat,
		minUpdate:  p.MinUpdate,
		maxBackoff: p.MaxBackoff,
		quiet:      p.QuietRepeat,
		n:          n,
	}
	if p.Rate > 0 {
		t.interval = time.Duration(float64(time.Second) / p.Rate)
	}
	if t.route == nil {
		ch := p.Channels[0]
		t.route = func(model.IncidentKind, model.Severity) string { return ch }
	}
	if t.maxBackoff < d.baseBackoff {
		t.maxBackoff = d.baseBackoff
	}
	return t
}

func (d *Dispatcher) timing() *timing { return d.pol.Load() }

// Reconfigure changes the policy (and, when n is not nil, the notifier)
// of a running dispatcher: a configuration reload. Incidents keep the
// channel they were routed to; new ones follow the new routes. The rate,
// repeat, update spacing and backoff apply from the next decision on. A
// new notifier (new credentials, URLs) also lifts a halt caused by
// rejected credentials. The directory cannot change: a sink with another
// directory is another dispatcher.
func (d *Dispatcher) Reconfigure(p Policy, n Notifier) error {
	if err := p.check(); err != nil {
		return err
	}
	if p.Dir != d.store.name {
		return fmt.Errorf("notify: policy %q: the directory cannot change at runtime (%s to %s)", p.Name, d.store.name, p.Dir)
	}
	if n == nil {
		n = d.timing().n
	} else {
		d.mu.Lock()
		if d.halted != nil {
			d.log.Info("notifier replaced: delivery resumes", "halted_by", d.halted.Error())
		}
		d.halted = nil
		d.mu.Unlock()
	}
	d.m.init(p.Channels)
	d.pol.Store(d.newTiming(p, n))
	d.log.Info("notification policy changed", "channels", p.Channels, "rate", p.Rate, "repeat", p.Repeat,
		"min_update", p.MinUpdate, "max_backoff", p.MaxBackoff)
	d.poke()
	return nil
}

var errNoNotifier = errors.New("notify: no notifier")
