package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/syncbuf"
	"github.com/reachmon/reachmon/internal/testdns"
)

// startDaemon runs a daemon on cfgText until the returned stop is called.
func startDaemon(t *testing.T, cfgText string) (stop func()) {
	t.Helper()
	return startDaemonLog(t, cfgText, nil)
}

// startDaemonLog is startDaemon that also logs (at debug) into logs.
func startDaemonLog(t *testing.T, cfgText string, logs *syncbuf.Buffer) (stop func()) {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	log := newTestLogger(t)
	if logs != nil {
		log = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("daemon did not stop")
		}
	}
}

// outageConfig is a daemon configuration with one zone on one resolver
// and one authoritative server, probed fast, and thresholds that open and
// resolve incidents after two rounds; extra is appended.
func outageConfig(t *testing.T, listen, resolver, auth, extra string) string {
	return fmt.Sprintf(`
listen = %q
state_dir = %q
[probe]
interval = "100ms"
timeout = "80ms"
[[resolver]]
name = "local"
address = %q
[[zone]]
name = "lab.example"
types = ["SOA"]
authoritative = [%q]
dnssec = false
[evaluate]
open_rounds = 2
resolve_rounds = 2
open_after = "0s"
resolve_after = "0s"
`, listen, t.TempDir(), resolver, auth) + extra
}

// incidents reads /api/v1/incidents; ok is false while the daemon does
// not serve yet.
func incidents(t *testing.T, base string) (v incident.View, ok bool) {
	t.Helper()
	code, body := get(t, base+"/api/v1/incidents")
	if code != 200 {
		return v, false
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("/api/v1/incidents is not JSON: %v\n%s", err, body)
	}
	return v, true
}

// TestIncidentLifecycle runs the daemon end to end: the authoritative
// server starts refusing, an authoritative-outage incident opens and is
// served by /api/v1/incidents and /api/v1/status; the daemon restarts
// with the incident still open (restored, not opened again); the server
// recovers and the incident resolves.
func TestIncidentLifecycle(t *testing.T) {
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen := freeAddr(t)
	cfgText := outageConfig(t, listen, resolver.Addr, auth.Addr, "")
	base := "http://" + listen
	waitOpen := func(what string, cond func(incident.View) bool) incident.View {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			v, ok := incidents(t, base)
			if ok && cond(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, v)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	stop := startDaemon(t, cfgText)
	auth.SetRcode("lab.example.", "REFUSED")
	v := waitOpen("an incident", func(v incident.View) bool { return len(v.Open) > 0 })
	inc := v.Open[0].Incident
	if inc.Kind != model.IncidentAuthOutage || inc.Subject != "lab.example" || !strings.Contains(inc.RootCause, "REFUSED") {
		t.Errorf("incident = %s %s %q", inc.Kind, inc.Subject, inc.RootCause)
	}
	if code, body := get(t, base+"/api/v1/status"); code != 200 || !strings.Contains(body, `"lab.example"`) {
		t.Errorf("/api/v1/status = %d %s", code, body)
	}
	stop()

	// Restart mid-incident: the same incident is open again at once, from
	// the store, with the same id.
	stop = startDaemon(t, cfgText)
	defer stop()
	v = waitOpen("the restored incident", func(v incident.View) bool { return len(v.Open) == 1 })
	if v.Open[0].ID != inc.ID {
		t.Errorf("after restart the open incident is %s, want the restored %s", v.Open[0].ID, inc.ID)
	}
	auth.SetRcode("lab.example.", "")
	v = waitOpen("the resolve", func(v incident.View) bool { return len(v.Open) == 0 && len(v.Recent) > 0 })
	if r := v.Recent[0]; r.ID != inc.ID || r.State != model.StateResolved || r.Resolved.IsZero() {
		t.Errorf("resolved incident = %+v", r.Incident)
	}
}
