package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/statefile"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestSecondDaemonOnTheStateDirRefused: while a daemon runs, a second one
// on the same state_dir is refused, naming the first one's pid (before:
// both ran, sharing outbox sequence numbers and overwriting each other's
// incidents.json); once the first stops, the directory is free.
func TestSecondDaemonOnTheStateDirRefused(t *testing.T) {
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen := freeAddr(t)
	cfgText := outageConfig(t, listen, resolver.Addr, auth.Addr, "")
	stop := startDaemon(t, cfgText)
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := get(t, "http://"+listen+"/healthz"); code != 200; code, _ = get(t, "http://"+listen+"/healthz") {
		if time.Now().After(deadline) {
			t.Fatal("the first daemon never served")
		}
		time.Sleep(20 * time.Millisecond)
	}

	cfg, err := config.Parse("t.toml", []byte(strings.Replace(cfgText, listen, freeAddr(t), 1)))
	if err != nil {
		t.Fatal(err)
	}
	second, err := New(cfg, newTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = second.Run(context.Background())
	var locked *statefile.LockedError
	if !errors.As(err, &locked) || locked.PID != os.Getpid() || !errors.Is(err, statefile.ErrRefused) {
		t.Fatalf("second daemon: %v, want it refused naming pid %d", err, os.Getpid())
	}

	stop()
	l, err := statefile.Lock(cfg.StateDir)
	if err != nil {
		t.Fatalf("the state directory is still locked after the daemon stopped: %v", err)
	}
	l.Unlock()
}

// TestStateWriteFailureMakesNotReady: while the last write of the
// incident store failed, /readyz is 503 naming it and
// reachmon_state_write_errors_total counts it; a later good write makes
// the check pass (before: the failure was only logged).
func TestStateWriteFailureMakesNotReady(t *testing.T) {
	d := openStateOf(t, outageConfig(t, "127.0.0.1:1", "127.0.0.1:53", "127.0.0.1:53", ""))
	cfg := d.cfg
	// A directory where the store file goes: the rename over it fails.
	blocker := filepath.Join(cfg.StateDir, "incidents", "incidents.json")
	if err := os.MkdirAll(filepath.Join(blocker, "in-the-way"), 0o750); err != nil {
		t.Fatal(err)
	}
	inc := model.Incident{ID: "x", Kind: model.IncidentHijack, Severity: model.SeverityCritical, State: model.StateOpen,
		Subject: "192.0.2.0/24", Opened: time.Now()}
	d.after([]model.IncidentChange{{Type: model.ChangeOpen, Incident: inc}})
	d.store.Flush()

	readyz := func() string {
		rec := httptest.NewRecorder()
		d.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return fmt.Sprint(rec.Code, " ", rec.Body.String())
	}
	if r := readyz(); !strings.HasPrefix(r, "503 ") || !strings.Contains(r, "state_writes: incidents: the last write of 1 state file(s) failed") ||
		!strings.Contains(r, blocker) {
		t.Fatalf("/readyz after a failed write: %s", r)
	}
	rec := httptest.NewRecorder()
	d.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	want := fmt.Sprintf(`reachmon_state_write_errors_total{store="incidents",vantage=%q} 1`, cfg.Vantage)
	if !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("/metrics lacks %s:\n%s", want, grep(rec.Body.String(), "state_write"))
	}

	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	inc.Updated = time.Now()
	d.after([]model.IncidentChange{{Type: model.ChangeUpdate, Incident: inc}})
	d.store.Flush()
	if r := readyz(); strings.Contains(r, "state_writes") {
		t.Fatalf("/readyz after a good write still fails the state check: %s", r)
	}
}

// TestRestartReconcilesTheOutbox: state-v1 with its incidents.json
// unreadable (set aside at start): the update queued for the open
// incident, which the store no longer has, is not delivered; its page is
// resolved instead, so that the new incident the evaluator opens for the
// same outage is not paged beside an open one.
func TestRestartReconcilesTheOutbox(t *testing.T) {
	dir := copyStateV1(t)
	if err := os.WriteFile(filepath.Join(dir, "incidents", "incidents.json"), []byte(`{"schema":`), 0o640); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("xoxb-reconcile"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgText := fmt.Sprintf(`state_dir = %q
[[resolver]]
name = "local"
address = "127.0.0.1:53"
[slack]
token_file = %q
api_url = "http://127.0.0.1:1/api/"
channel = "#alerts"
`, dir, tokenFile)
	d := openStateOf(t, cfgText)
	d.flushState()
	if len(d.store.SetAside()) != 1 || len(d.store.Incidents()) != 0 {
		t.Fatalf("setup: the unreadable store was not set aside: %v", d.store.SetAside())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "notify", "outbox", "*.json"))
	if len(files) != 1 || filepath.Base(files[0]) == "00000000000000000004.json" {
		t.Fatalf("outbox %v: want the update (seq 4) dropped and one resolve queued", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil || !strings.Contains(string(b), `"type":"resolve"`) || !strings.Contains(string(b), v1OpenID) {
		t.Fatalf("queued %s (%v), want the resolve of %s", b, err, v1OpenID)
	}
}

// openStateOf builds a daemon of cfgText and opens its state stores, as
// Run does before it serves.
func openStateOf(t *testing.T, cfgText string) *Daemon {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, newTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.openState(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.flushState)
	return d
}
