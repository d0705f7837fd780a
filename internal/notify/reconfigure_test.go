package notify_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/notifytest"
)

// TestReconfigureRoutesNewIncidentsOnly reloads the routes of a running
// dispatcher: an incident routed before keeps its channel (its thread), a
// new one follows the new route, the new channel has its series at once,
// and a replacement notifier delivers from then on.
func TestReconfigureRoutesNewIncidentsOnly(t *testing.T) {
	clk := notifytest.NewClock(t0)
	fn := &fakeNotifier{}
	reg := prometheus.NewRegistry()
	d, err := notify.New(routedConfig(), t.TempDir(), fn, notify.Options{Clock: clk, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	d.Submit(page("a1", model.IncidentAuthOutage))
	waitFor(t, clk, "a1 paged", func() bool { return len(fn.deliveries()) == 1 && d.Pending() == 0 })

	cfg := routedConfig()
	cfg.Route = append([]config.SlackRoute{{Kinds: []string{"authoritative_outage"}, Channel: "#c"}}, cfg.Route...)
	fn2 := &fakeNotifier{}
	if err := d.Reconfigure(notify.SlackPolicy(cfg), fn2); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "reachmon_notification_latency_seconds"); n != 3 {
		t.Errorf("latency series = %d, want 3 (#a, #b and the new #c)", n)
	}
	resolve := page("a1", model.IncidentAuthOutage)
	resolve.Type = model.ChangeResolve
	resolve.Incident.State = model.StateResolved
	d.Submit(resolve)
	d.Submit(page("a2", model.IncidentAuthOutage))
	waitFor(t, clk, "a1's resolve and a2", func() bool { return len(fn2.deliveries()) == 2 && d.Pending() == 0 })
	if len(fn.deliveries()) != 1 {
		t.Errorf("the replaced notifier delivered %d times after the reload", len(fn.deliveries())-1)
	}
	for _, dl := range fn2.deliveries() {
		want := "#c"
		if dl.Incident.ID == "a1" {
			want = "#a" // routed before the reload: its thread stays
		}
		if dl.Channel != want {
			t.Errorf("%s (%s) went to %s, want %s", dl.Incident.ID, dl.Kind, dl.Channel, want)
		}
	}
}
