package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify/webhook"
	"github.com/reachmon/reachmon/internal/testdns"
)

// startAlertmanager runs the real Alertmanager (Debian
// prometheus-alertmanager) on a free loopback port with its storage in a
// temporary directory and clustering off; it returns its base URL. It is
// stopped by pid when the test ends. Missing, the test skips, or fails
// with CI=true.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		bin, err = exec.LookPath("alertmanager")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("prometheus-alertmanager is not installed (scripts/install-test-deps.sh installs it)")
		}
		t.Skip("prometheus-alertmanager is not installed")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	base := "http://" + listen
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get(t, base+"/-/ready"); code == http.StatusOK {
			return base
		}
		select {
		case <-exited:
			t.Fatal("alertmanager exited at start")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("alertmanager not ready after 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gettableAlert is what GET /api/v2/alerts answers, the fields read here.
type gettableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

func amAlerts(t *testing.T, base string) []gettableAlert {
	t.Helper()
	code, body := get(t, base+"/api/v2/alerts")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v2/alerts = %d %s", code, body)
	}
	var out []gettableAlert
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("GET /api/v2/alerts: %v: %s", err, body)
	}
	return out
}

// TestAlertmanagerReceivesIncident runs the daemon with an
// [[alertmanager]] pointing at a real Alertmanager and a [[webhook]] at a
// local receiver: an authoritative outage becomes one active alert with
// the contract's labels and annotations, whose generatorURL serves the
// incident; the webhook receives the same incident, signed; the recovery
// resolves the alert (Alertmanager no longer lists it) and posts the
// webhook's resolve.
func TestAlertmanagerReceivesIncident(t *testing.T) {
	am := startAlertmanager(t)
	const secret = "webhook-test-secret"
	t.Setenv("REACHMON_TEST_WEBHOOK_SECRET", secret)
	var (
		mu   sync.Mutex
		docs []webhook.Document
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !webhook.Verify([]byte(secret), b, r.Header.Get(webhook.SignatureHeader)) {
			t.Errorf("webhook signature %q does not verify", r.Header.Get(webhook.SignatureHeader))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var d webhook.Document
		if err := json.Unmarshal(b, &d); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		docs = append(docs, d)
		mu.Unlock()
	}))
	defer rcv.Close()
	received := func() []webhook.Document {
		mu.Lock()
		defer mu.Unlock()
		return append([]webhook.Document(nil), docs...)
	}

	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen := freeAddr(t)
	base := "http://" + listen
	stop := startDaemon(t, outageConfig(t, listen, resolver.Addr, auth.Addr, fmt.Sprintf(`
[[alertmanager]]
urls = [%q]
resend_interval = "2s"
runbook_url = "https://wiki.example/runbooks/reachmon#{kind}"

[[webhook]]
name = "bridge"
url = %q
secret_env = "REACHMON_TEST_WEBHOOK_SECRET"
`, am, rcv.URL)))
	defer stop()

	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; alertmanager has %+v", what, amAlerts(t, am))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	auth.SetRcode("lab.example.", "REFUSED")
	var alert gettableAlert
	wait("the alert in Alertmanager", func() bool {
		for _, a := range amAlerts(t, am) {
			if a.Labels["alertname"] == "ReachmonAuthoritativeOutage" {
				alert = a
				return true
			}
		}
		return false
	})
	want := map[string]string{
		"alertname": "ReachmonAuthoritativeOutage", "kind": "authoritative_outage", "severity": "critical",
		"subject": "lab.example", "zone": "lab.example", "vantage": "default",
	}
	if fmt.Sprint(alert.Labels) != fmt.Sprint(want) {
		t.Errorf("labels %v, want %v", alert.Labels, want)
	}
	if alert.Status.State != "active" {
		t.Errorf("state %q", alert.Status.State)
	}
	id := alert.Annotations["incident_id"]
	if id == "" || !strings.Contains(alert.Annotations["root_cause"], "REFUSED") || alert.Annotations["summary"] == "" ||
		alert.Annotations["evidence"] == "" || alert.Annotations["runbook_url"] != "https://wiki.example/runbooks/reachmon#authoritative_outage" {
		t.Errorf("annotations %v", alert.Annotations)
	}
	if alert.GeneratorURL != base+"/api/v1/incidents?id="+id {
		t.Errorf("generatorURL %q", alert.GeneratorURL)
	}
	code, body := get(t, alert.GeneratorURL)
	var v incident.View
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || len(v.Open) != 1 || v.Open[0].ID != id {
		t.Fatalf("generatorURL answered %d %s", code, body)
	}
	if !alert.StartsAt.Equal(v.Open[0].Opened.Truncate(time.Millisecond)) { // Alertmanager keeps milliseconds
		t.Errorf("startsAt %s, incident opened %s", alert.StartsAt, v.Open[0].Opened)
	}
	if !v.Open[0].Paged {
		t.Error("the incident store does not show the Alertmanager delivery (paged false)")
	}
	wait("the webhook's page", func() bool { return len(received()) > 0 })
	if d := received()[0]; d.Schema != webhook.Schema || d.Change != "open" || d.Incident.ID != id || d.Incident.Kind != model.IncidentAuthOutage {
		t.Errorf("webhook document %+v", d)
	}

	auth.SetRcode("lab.example.", "")
	wait("the resolve in Alertmanager", func() bool {
		for _, a := range amAlerts(t, am) {
			if a.Annotations["incident_id"] == id {
				return false
			}
		}
		return true
	})
	wait("the webhook's resolve", func() bool {
		d := received()
		return len(d) > 0 && d[len(d)-1].Change == "resolve"
	})
	_, metrics := get(t, base+"/metrics")
	for _, w := range []string{
		fmt.Sprintf(`reachmon_alertmanager_requests_total{alertmanager="default",result="success",url=%q,vantage="default"}`, am),
		`reachmon_notifications_total{channel="alertmanager/default",result="sent",vantage="default"}`,
		`reachmon_notifications_total{channel="webhook/bridge",result="sent",vantage="default"}`,
		`reachmon_ready{check="notify_alertmanager_default",vantage="default"} 1`,
		`reachmon_ready{check="notify_webhook_bridge",vantage="default"} 1`,
	} {
		if !strings.Contains(metrics, w) {
			t.Errorf("/metrics lacks %s:\n%s", w, grep(metrics, "alertmanager"))
		}
	}
}
