package notify_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/notifytest"
)

var t0 = time.Date(2024, 6, 27, 18, 0, 0, 0, time.UTC)

// fakeNotifier answers each delivery with the next scripted result.
type fakeNotifier struct {
	mu      sync.Mutex
	script  map[string][]error // channel -> results, nil = success
	got     []notify.Delivery
	block   chan struct{} // when set, Deliver waits for it or ctx
	entered chan struct{}
}

func (f *fakeNotifier) Deliver(ctx context.Context, d notify.Delivery) (notify.Receipt, error) {
	f.mu.Lock()
	f.got = append(f.got, d)
	var err error
	if q := f.script[d.Channel]; len(q) > 0 {
		err, f.script[d.Channel] = q[0], q[1:]
	}
	block, entered := f.block, f.entered
	f.mu.Unlock()
	if entered != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return notify.Receipt{}, ctx.Err()
		}
	}
	if err != nil {
		return notify.Receipt{}, err
	}
	return notify.Receipt{Ref: d.Channel + "/" + d.Key}, nil
}

func (f *fakeNotifier) deliveries() []notify.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]notify.Delivery(nil), f.got...)
}

func routedConfig() config.SlackConfig {
	return config.SlackConfig{TokenEnv: "UNUSED", Channel: "#a", Route: []config.SlackRoute{{Kinds: []string{"feed_lost"}, Channel: "#b"}}}
}

func page(id string, kind model.IncidentKind) model.IncidentChange {
	return model.IncidentChange{Type: model.ChangeOpen, Incident: model.Incident{
		ID: id, Kind: kind, Severity: model.SeverityCritical, State: model.StateOpen, Opened: t0,
	}}
}

func run(t *testing.T, d *notify.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return")
		}
	})
}

func waitFor(t *testing.T, clk *notifytest.Clock, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		if clk != nil && clk.Waiters() > 0 {
			clk.AdvanceToNext()
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDefiniteErrorDegradesOneChannel(t *testing.T) {
	clk := notifytest.NewClock(t0)
	fn := &fakeNotifier{script: map[string][]error{
		"#a": {&notify.Error{Code: "channel_not_found", Msg: "slack chat.postMessage: channel_not_found"}},
	}}
	reg := prometheus.NewRegistry()
	d, err := notify.New(routedConfig(), t.TempDir(), fn, notify.Options{Clock: clk, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	d.Submit(page("a1", model.IncidentAuthOutage))
	d.Submit(page("b1", model.IncidentFeedLost))
	waitFor(t, clk, "both tried", func() bool { return len(fn.deliveries()) == 2 && d.Pending() == 0 })
	err = d.Ready()
	if err == nil || !strings.Contains(err.Error(), "channel #a: slack chat.postMessage: channel_not_found") {
		t.Fatalf("Ready = %v", err)
	}
	if got := testutil.ToFloat64(counter(t, reg, "#a", notify.ResultRejected)); got != 1 {
		t.Errorf("rejected = %v", got)
	}
	// The rejected page is not retried; a later success clears the state.
	d.Submit(page("a2", model.IncidentAuthOutage))
	waitFor(t, clk, "a2", func() bool { return len(fn.deliveries()) == 3 && d.Pending() == 0 })
	if err := d.Ready(); err != nil {
		t.Errorf("Ready after success: %v", err)
	}
	for _, dl := range fn.deliveries() {
		if dl.Incident.ID == "a1" && dl.Kind != notify.KindOpen {
			t.Errorf("a1 delivered as %s", dl.Kind)
		}
	}
}

func counter(t *testing.T, reg *prometheus.Registry, ch, result string) prometheus.Collector {
	t.Helper()
	// Re-registering the same descriptor returns the existing collector.
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reachmon_notifications_total",
		Help: "Notification attempts by routed channel and result (sent, retry, rejected, skipped, dropped).",
	}, []string{"channel", "result"})
	if err := reg.Register(cv); err != nil {
		are, ok := err.(prometheus.AlreadyRegisteredError)
		if !ok {
			t.Fatal(err)
		}
		cv = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return cv.WithLabelValues(ch, result)
}

func TestSubmitNeverWaitsForDelivery(t *testing.T) {
	fn := &fakeNotifier{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	d, err := notify.New(routedConfig(), t.TempDir(), fn, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	d.Submit(page("first", model.IncidentAuthOutage))
	<-fn.entered // delivery is stuck in the notifier
	done := make(chan struct{})
	go func() {
		for i := range 200 {
			d.Submit(page("p"+string(rune('a'+i%26))+string(rune('a'+i/26)), model.IncidentAuthOutage))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Submit blocked behind a stuck delivery")
	}
	if d.Pending() != 201 {
		t.Errorf("pending = %d, want 201", d.Pending())
	}
}

func TestReadyReportsStaleRetries(t *testing.T) {
	clk := notifytest.NewClock(t0)
	fail := &notify.Error{Code: "http_503", Retry: true, MaybeDelivered: true, Msg: "slack chat.postMessage: HTTP 503 Service Unavailable"}
	fn := &fakeNotifier{script: map[string][]error{"#a": {fail, fail, fail, fail, fail, fail, fail, fail, fail, fail}}}
	d, err := notify.New(routedConfig(), t.TempDir(), fn, notify.Options{Clock: clk, StaleAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	d.Submit(page("s1", model.IncidentAuthOutage))
	waitFor(t, nil, "first attempt", func() bool { return len(fn.deliveries()) == 1 })
	if err := d.Ready(); err != nil {
		t.Errorf("Ready right after one failure: %v", err)
	}
	waitFor(t, clk, "stale", func() bool { return d.Ready() != nil })
	if err := d.Ready(); !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("Ready = %v", err)
	}
	if clk.Now().Sub(t0) < time.Minute {
		t.Errorf("degraded after %s, before StaleAfter", clk.Now().Sub(t0))
	}
	waitFor(t, clk, "delivered", func() bool { return d.Pending() == 0 })
	if err := d.Ready(); err != nil {
		t.Errorf("Ready after delivery: %v", err)
	}
	// Every retry after a 503 is marked as maybe delivered.
	got := fn.deliveries()
	if len(got) != 11 || got[0].MaybeDelivered || !got[1].MaybeDelivered || got[1].Key != got[0].Key {
		t.Errorf("deliveries: %d, first maybe=%v, second maybe=%v", len(got), got[0].MaybeDelivered, got[1].MaybeDelivered)
	}
}

func TestRunTwiceAndShutdownMidDelivery(t *testing.T) {
	fn := &fakeNotifier{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	dir := t.TempDir()
	d, err := notify.New(routedConfig(), dir, fn, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	d.Submit(page("m1", model.IncidentAuthOutage))
	<-fn.entered
	if err := d.Run(ctx); err == nil {
		t.Error("a second Run must fail")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The interrupted delivery is kept, and the next run looks first.
	fn2 := &fakeNotifier{}
	d2, err := notify.New(routedConfig(), dir, fn2, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d2)
	waitFor(t, nil, "redelivery", func() bool { return d2.Pending() == 0 })
	got := fn2.deliveries()
	if len(got) != 1 || !got[0].MaybeDelivered || got[0].Incident.ID != "m1" {
		t.Errorf("after restart: %+v", got)
	}
}

// A process killed during a request leaves its entry marked in flight;
// the next start treats it as maybe delivered (the notifier looks first).
func TestCrashMidDeliveryIsMaybeDelivered(t *testing.T) {
	fn := &fakeNotifier{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	dir := t.TempDir()
	d, err := notify.New(routedConfig(), dir, fn, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.Submit(page("c1", model.IncidentAuthOutage))
	run(t, d)
	<-fn.entered
	// The first process is still inside Deliver: read its files as a new
	// process would after a crash.
	fn2 := &fakeNotifier{}
	d2, err := notify.New(routedConfig(), dir, fn2, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d2.Pending() != 1 {
		t.Fatalf("pending after crash = %d", d2.Pending())
	}
	run(t, d2)
	waitFor(t, nil, "redelivery", func() bool { return len(fn2.deliveries()) == 1 })
	if got := fn2.deliveries()[0]; !got.MaybeDelivered || got.Incident.ID != "c1" {
		t.Errorf("after crash: %+v", got)
	}
}

// A Retry-After far beyond max_backoff (a broken or hostile endpoint)
// delays the channel by max_backoff at most, whatever notifier says it.
func TestRetryAfterClampedToMaxBackoff(t *testing.T) {
	clk := notifytest.NewClock(t0)
	slow := &notify.Error{Code: "ratelimited", Retry: true, RetryAfter: 1_000_000 * time.Hour, Msg: "slack chat.postMessage: ratelimited"}
	fn := &fakeNotifier{script: map[string][]error{"#a": {slow}}}
	cfg := routedConfig()
	cfg.MaxBackoff.Duration = 2 * time.Minute
	d, err := notify.New(cfg, t.TempDir(), fn, notify.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	d.Submit(page("r1", model.IncidentAuthOutage))
	waitFor(t, clk, "delivered after the rate limit", func() bool { return len(fn.deliveries()) == 2 && d.Pending() == 0 })
	if waited := clk.Now().Sub(t0); waited > cfg.MaxBackoff.Duration {
		t.Errorf("retried after %s, want at most max_backoff %s", waited, cfg.MaxBackoff.Duration)
	}
}
