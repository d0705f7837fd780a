// Package amlab runs a real Alertmanager (Debian prometheus-alertmanager)
// for reachmon's integration tests, on 127.0.0.1 with clustering off and
// its storage in the test's temporary directory, and a local receiver
// (Receiver) that records every notification it sends: webhook payloads
// and Slack incoming-webhook messages. TestConfig derives a test
// configuration from the shipped config/alertmanager.yml.
package amlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/lab"
	"github.com/reachmon/reachmon/internal/notify/alertmanager"
	"github.com/reachmon/reachmon/internal/syncbuf"
)

// Binaries returns the alertmanager and amtool executables, or skips the
// test (fails it under CI=true) naming the Debian package.
func Binaries(t testing.TB) (alertmanager, amtool string) {
	t.Helper()
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := lab.BinPath(name); err == nil {
			alertmanager = p
			break
		}
	}
	amtool, err := lab.BinPath("amtool")
	if alertmanager == "" || err != nil {
		lab.Missing(t, "Alertmanager not found: prometheus-alertmanager and amtool (apt-get install -y prometheus-alertmanager)")
	}
	return alertmanager, amtool
}

// Alertmanager is a running Alertmanager.
type Alertmanager struct {
	// URL is its base URL (http://127.0.0.1:port).
	URL string
	// Dir holds its configuration and storage.
	Dir string
	out *syncbuf.Buffer
}

// Start runs Alertmanager with files (name → content) written into a
// fresh directory; files must hold "alertmanager.yml", the others (a
// template) sit beside it. It returns once /-/ready answers; the process is
// stopped when the test ends.
func Start(t testing.TB, files map[string][]byte) *Alertmanager {
	t.Helper()
	bin, _ := Binaries(t)
	if _, ok := files["alertmanager.yml"]; !ok {
		t.Fatal("amlab.Start: no alertmanager.yml")
	}
	a := &Alertmanager{Dir: t.TempDir(), out: &syncbuf.Buffer{}}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(a.Dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := freePort(t)
	a.URL = "http://" + addr
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(a.Dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(a.Dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no cluster: no gossip port, no peers
		"--log.level=debug")
	cmd.Stdout, cmd.Stderr = a.out, a.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("alertmanager did not stop within 10 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("alertmanager output (last lines):\n%s", tail(a.out.String(), 80))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("alertmanager exited: %v\n%s", err, a.out.String())
		default:
		}
		if _, err := a.get("/-/ready"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready after 30 s: %v\n%s", err, a.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return a
}

// Output is what Alertmanager logged so far.
func (a *Alertmanager) Output() string { return a.out.String() }

// freePort returns a 127.0.0.1 address with a port free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (a *Alertmanager) do(method, path string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

func (a *Alertmanager) get(path string) ([]byte, error) { return a.do(http.MethodGet, path, nil) }

// PostableAlert is one alert of POST /api/v2/alerts: the type reachmon's
// notifier sends.
type PostableAlert = alertmanager.PostableAlert

// Post sends alerts to the v2 API, as a client would.
func (a *Alertmanager) Post(alerts ...PostableAlert) error {
	b, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	_, err = a.do(http.MethodPost, "/api/v2/alerts", b)
	return err
}

// GettableAlert is one alert of GET /api/v2/alerts.
type GettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State       string   `json:"state"` // active, suppressed, unprocessed
		InhibitedBy []string `json:"inhibitedBy"`
		SilencedBy  []string `json:"silencedBy"`
	} `json:"status"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers"`
}

// Alerts is GET /api/v2/alerts: every alert Alertmanager holds (active,
// inhibited and silenced; resolved ones are dropped).
func (a *Alertmanager) Alerts() ([]GettableAlert, error) {
	b, err := a.get("/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	var out []GettableAlert
	return out, json.Unmarshal(b, &out)
}
