package notify_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/notifytest"
)

func sinkPolicy(kind, name string) notify.Policy {
	return notify.Policy{
		Name:       notify.SinkChannel(kind, name),
		Dir:        notify.SinkDir(kind, name),
		Channels:   []string{notify.SinkChannel(kind, name)},
		MaxBackoff: time.Minute,
	}
}

// Two sinks in one daemon: each dispatcher has its own directory and
// delivery state, and the metrics are one set, told apart by channel.
func TestDispatchersShareMetrics(t *testing.T) {
	clk := notifytest.NewClock(t0)
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	m := notify.NewMetrics(reg)
	slackN, amN := &fakeNotifier{}, &fakeNotifier{block: make(chan struct{})}
	ds, err := notify.New(routedConfig(), dir, slackN, notify.Options{Clock: clk, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	da, err := notify.NewPolicy(sinkPolicy("alertmanager", "eu"), dir, amN, notify.Options{Clock: clk, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	run(t, ds)
	run(t, da)
	ds.Submit(page("i1", model.IncidentAuthOutage))
	da.Submit(page("i1", model.IncidentAuthOutage))
	da.Submit(page("i2", model.IncidentAuthOutage))
	waitFor(t, clk, "slack delivered", func() bool { return ds.Pending() == 0 && len(amN.deliveries()) == 1 })
	// The Alertmanager dispatcher is stuck in its first request: its
	// outbox holds both pages, Slack's none; the gauge is the sum.
	if got := testutil.ToFloat64(gauge(t, reg)); got != 2 {
		t.Errorf("queue depth = %v, want 2", got)
	}
	close(amN.block)
	waitFor(t, clk, "alertmanager delivered", func() bool { return da.Pending() == 0 })
	if got := testutil.ToFloat64(gauge(t, reg)); got != 0 {
		t.Errorf("queue depth = %v, want 0", got)
	}
	if got := testutil.ToFloat64(counter(t, reg, "#a", notify.ResultSent)); got != 1 {
		t.Errorf("slack #a sent = %v", got)
	}
	if got := testutil.ToFloat64(counter(t, reg, "alertmanager/eu", notify.ResultSent)); got != 2 {
		t.Errorf("alertmanager/eu sent = %v", got)
	}
	for _, dl := range amN.deliveries() {
		if dl.Channel != "alertmanager/eu" {
			t.Errorf("alertmanager delivery on channel %q", dl.Channel)
		}
	}
	for _, sub := range []string{"notify", "notify-alertmanager-eu"} {
		if _, err := os.Stat(filepath.Join(dir, sub, "state.json")); err != nil {
			t.Errorf("%s: %v", sub, err)
		}
	}
	if _, ok := ds.Delivered("i2"); ok {
		t.Error("Slack's state knows i2, which only the Alertmanager sink delivered")
	}
	if _, ok := da.Delivered("i2"); !ok {
		t.Error("the Alertmanager sink's state does not know i2")
	}
	saved, err := notify.ReadDeliveredDir(dir, "notify-alertmanager-eu")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := saved.Delivered("i2"); !ok {
		t.Error("ReadDeliveredDir: i2 missing")
	}
}

func gauge(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "reachmon_notification_queue_depth",
		Help: "Notifications waiting in the persistent outboxes (every sink's).",
	})
	if err := reg.Register(g); err != nil {
		are, ok := err.(prometheus.AlreadyRegisteredError)
		if !ok {
			t.Fatal(err)
		}
		return are.ExistingCollector
	}
	t.Fatal("queue depth gauge was not registered")
	return nil
}

// Reconfigure: the repeat interval (Alertmanager's resend) starts and
// stops at runtime, new incidents follow the new routes, a new notifier
// lifts a credentials halt, and the directory cannot change.
func TestReconfigure(t *testing.T) {
	clk := notifytest.NewClock(t0)
	first := &fakeNotifier{script: map[string][]error{"webhook/x": {&notify.Error{Code: "http_401", Fatal: true, Msg: "401"}}}}
	p := sinkPolicy("webhook", "x")
	d, err := notify.NewPolicy(p, t.TempDir(), first, notify.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	d.Submit(page("i1", model.IncidentAuthOutage))
	waitFor(t, clk, "halt", func() bool { return d.Ready() != nil })
	if !strings.Contains(d.Ready().Error(), "401") {
		t.Fatalf("Ready = %v", d.Ready())
	}

	second := &fakeNotifier{}
	p.Repeat = time.Minute
	if err := d.Reconfigure(p, second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, clk, "page after the new notifier", func() bool { return len(second.deliveries()) == 1 && d.Pending() == 0 })
	if err := d.Ready(); err != nil {
		t.Errorf("Ready after Reconfigure: %v", err)
	}
	waitFor(t, clk, "two reminders", func() bool { return len(second.deliveries()) >= 3 })
	for _, dl := range second.deliveries()[1:3] {
		if dl.Kind != notify.KindReminder || dl.Incident.ID != "i1" {
			t.Errorf("delivery %s of %s, want a reminder of i1", dl.Kind, dl.Incident.ID)
		}
	}

	// Reminders off, a route for new incidents: i1 keeps its channel.
	p.Repeat = 0
	p.Channels = []string{"webhook/x", "webhook/x-health"}
	p.Route = func(k model.IncidentKind, _ model.Severity) string {
		if k.MonitorHealth() {
			return "webhook/x-health"
		}
		return "webhook/x"
	}
	if err := d.Reconfigure(p, nil); err != nil {
		t.Fatal(err)
	}
	n := len(second.deliveries())
	d.Submit(page("i2", model.IncidentFeedLost))
	waitFor(t, clk, "i2", func() bool { return len(second.deliveries()) == n+1 && d.Pending() == 0 })
	if got := second.deliveries()[n]; got.Channel != "webhook/x-health" {
		t.Errorf("i2 routed to %q", got.Channel)
	}
	clk.Advance(time.Hour)
	time.Sleep(20 * time.Millisecond) // a reminder would be queued by now; none is expected
	if d.Pending() != 0 || len(second.deliveries()) != n+1 {
		t.Errorf("reminders after repeat = 0: pending %d, deliveries %d", d.Pending(), len(second.deliveries()))
	}

	p.Dir = "notify-webhook-y"
	if err := d.Reconfigure(p, nil); err == nil || !strings.Contains(err.Error(), "cannot change") {
		t.Errorf("Reconfigure with another directory = %v", err)
	}
	p.Dir = "../x"
	if _, err := notify.NewPolicy(p, t.TempDir(), second, notify.Options{}); err == nil {
		t.Error("NewPolicy accepted a directory outside the state directory")
	}
}

// CatchUp: at start, an open incident the dispatcher never had is
// queued as an open (a notifier added during an outage); one it
// delivered, one resolved and one that does not page are not sent.
func TestCatchUp(t *testing.T) {
	clk := notifytest.NewClock(t0)
	dir := t.TempDir()
	fn := &fakeNotifier{}
	d, err := notify.NewPolicy(sinkPolicy("alertmanager", "x"), dir, fn, notify.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	known := page("known", model.IncidentAuthOutage)
	d.Submit(known)
	waitFor(t, clk, "known paged", func() bool { return len(fn.deliveries()) == 1 && d.Pending() == 0 })

	fresh := page("fresh", model.IncidentAuthOutage).Incident
	resolved := page("resolved", model.IncidentAuthOutage).Incident
	resolved.State = model.StateResolved
	info := page("info", model.IncidentAuthOutage).Incident
	info.Severity = model.SeverityInfo
	if n := d.CatchUp([]model.Incident{known.Incident, fresh, resolved, info}); n != 2 {
		t.Errorf("CatchUp queued %d, want 2 (fresh, info)", n)
	}
	waitFor(t, clk, "catch-up", func() bool { return len(fn.deliveries()) == 2 && d.Pending() == 0 })
	got := fn.deliveries()[1]
	if got.Incident.ID != "fresh" || got.Kind != notify.KindOpen {
		t.Errorf("caught up %s as %s", got.Incident.ID, got.Kind)
	}
	if n := d.CatchUp([]model.Incident{known.Incident, fresh}); n != 0 {
		t.Errorf("second CatchUp queued %d", n)
	}
}
