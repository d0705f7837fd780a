package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/syncbuf"
	"github.com/reachmon/reachmon/internal/testdns"
)

// alertSink is a stand-in for an Alertmanager's POST /api/v2/alerts that
// records the bodies.
type alertSink struct {
	mu     sync.Mutex
	bodies []string
	srv    *httptest.Server
}

func newAlertSink(t *testing.T) *alertSink {
	s := &alertSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *alertSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

// TestReconfigureNotifiers: a reload (Daemon.Reload of the rewritten
// file) brings the notifier settings to the running dispatcher (the
// resends go to the new Alertmanager URL, at the new interval) and the
// maintenance windows to the silences; a reload that adds a notifier
// keeps the running notifiers (restart needed) and changes nothing of
// theirs.
func TestReconfigureNotifiers(t *testing.T) {
	a, b := newAlertSink(t), newAlertSink(t)
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen := freeAddr(t)
	base := outageConfig(t, listen, resolver.Addr, auth.Addr, "")
	amConf := func(url, resend string) string {
		return fmt.Sprintf("\n[[alertmanager]]\nurls = [%q]\nresend_interval = %q\n", url, resend)
	}
	path := filepath.Join(t.TempDir(), "reachmon.toml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(base + amConf(a.srv.URL, "1h"))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, newTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	d.SetReloader(path, func() (*config.Plan, error) { return config.Load(path) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	auth.SetRcode("lab.example.", "REFUSED")
	wait("the alert at the first Alertmanager", func() bool { return a.count() == 1 })

	// A window open now (crossing midnight when now is late in the day)
	// silences nothing of this outage: its subject is another zone.
	now := time.Now().UTC()
	window := fmt.Sprintf("\n[[maintenance]]\nname = \"nightly\"\nweekdays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\nstart = %q\nend = %q\nsubject = \"other.example\"\n",
		now.Add(-time.Hour).Format("15:04"), now.Add(time.Hour).Format("15:04"))
	write(base + amConf(b.srv.URL, "1s") + window)
	res, err := d.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Changed, "alertmanager") || !slices.Contains(res.Changed, "maintenance") || len(res.RestartNeeded) != 0 {
		t.Errorf("reload changed %q, restart needed for %q; want alertmanager and maintenance changed, no restart", res.Changed, res.RestartNeeded)
	}
	if v := d.silences.View(); len(v.Maintenance) != 1 || v.Maintenance[0].Name != "nightly" || !v.Maintenance[0].Active {
		t.Errorf("maintenance windows after the reload: %+v, want nightly open", v.Maintenance)
	}
	wait("two resends at the second Alertmanager", func() bool { return b.count() >= 2 })
	if a.count() != 1 {
		t.Errorf("the first Alertmanager got %d posts after the reload", a.count())
	}
	b.mu.Lock()
	resent := b.bodies[0]
	b.mu.Unlock()
	if !strings.Contains(resent, `"alertname":"ReachmonAuthoritativeOutage"`) {
		t.Errorf("resend %s", resent)
	}

	t.Setenv("REACHMON_TEST_WEBHOOK_SECRET", "x")
	more, err := config.Parse("t.toml", []byte(base+amConf(a.srv.URL, "1s")+
		"\n[[webhook]]\nname = \"w\"\nurl = \"http://127.0.0.1:1/\"\nsecret_env = \"REACHMON_TEST_WEBHOOK_SECRET\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = reconfigureFrom(d, more)
	if !errors.Is(err, errSinksChanged) || !strings.Contains(err.Error(), "running: notify_alertmanager_default; configured: notify_alertmanager_default, notify_webhook_w") {
		t.Fatalf("reconfiguring with a webhook added: %v", err)
	}
	// A reload that adds a notifier keeps the running notifiers' sections
	// (the URL change with it waits for the restart) and says so.
	write(base + amConf(a.srv.URL, "1s") + "\n[[webhook]]\nname = \"w\"\nurl = \"http://127.0.0.1:1/\"\nsecret_env = \"REACHMON_TEST_WEBHOOK_SECRET\"\n")
	res, err = d.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.RestartNeeded) != 1 || !strings.HasPrefix(res.RestartNeeded[0], "notifiers") {
		t.Errorf("restart needed for %q, want the notifiers", res.RestartNeeded)
	}
	n := b.count()
	wait("resends still at the second Alertmanager", func() bool { return b.count() > n })
	if a.count() != 1 {
		t.Errorf("the refused reload changed the URL: the first Alertmanager got %d posts", a.count())
	}
}

// TestNotifierAddedDuringOutage: an [[alertmanager]] added by a restart
// while an incident is open gets that incident at start, not only the
// next one.
func TestNotifierAddedDuringOutage(t *testing.T) {
	am := newAlertSink(t)
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen := freeAddr(t)
	base := outageConfig(t, listen, resolver.Addr, auth.Addr, "")
	stop := startDaemon(t, base)
	auth.SetRcode("lab.example.", "REFUSED")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if v, ok := incidents(t, "http://"+listen); ok && len(v.Open) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no incident")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	var logs syncbuf.Buffer
	stop = startDaemonLog(t, base+fmt.Sprintf("\n[[alertmanager]]\nurls = [%q]\n", am.srv.URL), &logs)
	defer stop()
	deadline = time.Now().Add(20 * time.Second)
	for am.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the open incident never reached the Alertmanager added by the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	am.mu.Lock()
	body := am.bodies[0]
	am.mu.Unlock()
	if !strings.Contains(body, `"alertname":"ReachmonAuthoritativeOutage"`) || strings.Contains(body, "endsAt") {
		t.Errorf("posted %s", body)
	}
	// Sent by the catch-up at start, not by a later update of the
	// incident (which may or may not come).
	// (an update would be delivered as "first notification: now pages").
	if !strings.Contains(logs.String(), `msg="open incidents queued at start for a notifier that never had them" component=notify sink=alertmanager/default incidents=1`) ||
		!strings.Contains(logs.String(), `kind=open channel=alertmanager/default reason="first notification" attempts=1`) {
		t.Errorf("the first alert was not the catch-up at start:\n%s", grep(logs.String(), "notification sent"))
	}
}

// reconfigureFrom does what a reload does to the notifiers: build them
// from p, then hand them to the running dispatchers.
func reconfigureFrom(d *Daemon, p *config.Plan) error {
	specs, err := d.sinkSpecs(p)
	if err != nil {
		return err
	}
	return d.reconfigureSinks(specs)
}
