package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
	"github.com/reachmon/reachmon/internal/syncbuf"
	"github.com/reachmon/reachmon/internal/testdns"
)

// reloadZones is what the DNS servers of the reload test serve: three
// zones, of which the configuration watches two at a time.
const reloadZones = `
lab.example. 300 IN SOA ns1.lab.example. host.lab.example. 2026112301 3600 600 86400 300
gone.example. 300 IN SOA ns1.gone.example. host.gone.example. 2026112301 3600 600 86400 300
new.example. 300 IN SOA ns1.new.example. host.new.example. 2026112301 3600 600 86400 300
`

// reloadConfig is the reload test's configuration: zones (each served by
// auth), and the route of authoritative outages to routeChannel.
func reloadConfig(listen, stateDir, resolver, auth, token, apiURL, routeChannel string, zones ...string) string {
	s := fmt.Sprintf(`
listen = %q
state_dir = %q
[probe]
interval = "100ms"
timeout = "80ms"
[[resolver]]
name = "local"
address = %q
[evaluate]
open_rounds = 2
resolve_rounds = 2
open_after = "0s"
resolve_after = "0s"
[slack]
token_file = %q
api_url = %q
channel = "C0DNS0001"
max_backoff = "5s"
min_update_interval = "0s"
[[slack.route]]
kinds = ["authoritative_outage"]
channel = %q
`, listen, stateDir, resolver, token, apiURL, routeChannel)
	for _, z := range zones {
		s += fmt.Sprintf(`
[[zone]]
name = %q
types = ["SOA"]
authoritative = [%q]
dnssec = false
`, z, auth)
	}
	return s
}

// runDaemonFile runs a daemon on the configuration file path, reloading
// from it, until the test ends.
func runDaemonFile(t *testing.T, path string, logs *syncbuf.Buffer) *Daemon {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	log := newTestLogger(t)
	if logs != nil {
		log = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	d, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	d.SetReloader(path, func() (*config.Plan, error) { return config.Load(path) })
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
		case <-time.After(10 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	return d
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// metricLine returns the value text of the first /metrics line starting
// with prefix ("" if none).
func metricLine(body, prefix string) string {
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	return ""
}

// TestReloadKeepsIncidentsAndOutbox runs the daemon on a configuration
// file with two zones and Slack, opens an incident on each while Slack
// answers 429 (so that the pages wait in the outbox), and reloads a file
// that removes one zone, adds another and routes authoritative outages to
// a new channel. The incident of the kept zone stays open with its id;
// the removed zone's incident is resolved as removed from the
// configuration; the outbox keeps its pages, which go to the channel they
// were routed to before; the added zone is probed, and its incident goes
// to the new route; the metrics follow. Then an invalid file is refused,
// over HTTP too, and the configuration in force stays.
func TestReloadKeepsIncidentsAndOutbox(t *testing.T) {
	const token = "xoxb-reachmon-reload-secret"
	fake := fakeslack.New(token, map[string]string{"#dns": "C0DNS0001", "#old": "C0OLD0001", "#new": "C0NEW0001"})
	defer fake.Close()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "slack-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resolver := testdns.Start(t, reloadZones, false)
	auth := testdns.Start(t, reloadZones, true)
	listen := freeAddr(t)
	base := "http://" + listen
	stateDir := t.TempDir()
	path := filepath.Join(dir, "reachmon.toml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadConfig(listen, stateDir, resolver.Addr, auth.Addr, tokenFile, fake.APIURL(), "C0OLD0001", "lab.example", "gone.example"))
	var logs syncbuf.Buffer
	d := runDaemonFile(t, path, &logs)

	// The first pages meet a 429 with a 4 s Retry-After: they wait in
	// the outbox across the reload.
	fake.Fail("chat.postMessage", fakeslack.Fault{Status: 429, RetryAfter: 4})
	auth.SetRcode("lab.example.", "REFUSED")
	auth.SetRcode("gone.example.", "REFUSED")
	var before incident.View
	waitUntil(t, 15*time.Second, "incidents on both zones", func() bool {
		v, ok := incidents(t, base)
		before = v
		return ok && len(v.Open) == 2
	})
	openID := map[string]string{}
	for _, o := range before.Open {
		openID[o.Subject] = o.ID
	}
	pending := d.notifier.Pending()
	if pending == 0 {
		t.Fatal("no page waits in the outbox before the reload; the test cannot show that the outbox is kept")
	}
	_, m0 := get(t, base+"/metrics")
	if !strings.Contains(m0, `reachmon_zone_health{health="failing",vantage="default",zone="gone.example"} 1`) ||
		!strings.Contains(m0, `reachmon_dns_probe_failing{kind="authoritative",name="gone.example.",qtype="SOA"`) {
		t.Errorf("/metrics before the reload: gone.example should be failing:\n%s", grep(m0, "gone.example"))
	}
	sha0 := regexp.MustCompile(`reachmon_config_info\{sha256="([0-9a-f]+)"`).FindStringSubmatch(m0)

	write(reloadConfig(listen, stateDir, resolver.Addr, auth.Addr, tokenFile, fake.APIURL(), "C0NEW0001", "lab.example", "new.example"))
	res, err := d.Reload(context.Background())
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if !strings.Contains(strings.Join(res.Changed, "\n"), "zones: added new.example; removed gone.example") ||
		!strings.Contains(strings.Join(res.Changed, "\n"), "slack") {
		t.Errorf("changed = %q", res.Changed)
	}
	if res.Resolved != 1 || len(res.RestartNeeded) != 0 {
		t.Errorf("resolved %d, restart needed %q; want 1 and none", res.Resolved, res.RestartNeeded)
	}
	if got := d.notifier.Pending(); got < pending {
		t.Errorf("outbox holds %d after the reload, %d before: pages were lost", got, pending)
	}
	v, _ := incidents(t, base)
	if len(v.Open) != 1 || v.Open[0].Subject != "lab.example" || v.Open[0].ID != openID["lab.example"] {
		t.Fatalf("open after the reload: %+v; want lab.example's %s kept", v.Open, openID["lab.example"])
	}
	var gone *model.Incident
	for i := range v.Recent {
		if v.Recent[i].ID == openID["gone.example"] {
			gone = &v.Recent[i].Incident
		}
	}
	if gone == nil || gone.State != model.StateResolved ||
		!strings.Contains(gone.Evidence[len(gone.Evidence)-1].Text, evaluate.ReasonZoneRemoved) {
		t.Fatalf("gone.example's incident after the reload: %+v", gone)
	}

	// The added zone is probed; the removed one's series are gone.
	waitUntil(t, 10*time.Second, "new.example probed", func() bool {
		_, body := get(t, base+"/metrics")
		return metricLine(body, `reachmon_zone_health{health="ok",vantage="default",zone="new.example"}`) == "1"
	})
	_, m1 := get(t, base+"/metrics")
	if strings.Contains(m1, `zone="gone.example"`) {
		t.Errorf("/metrics still has gone.example series:\n%s", grep(m1, "gone.example"))
	}
	for _, want := range []string{
		`reachmon_config_reloads_total{result="success",vantage="default"} 1`,
		`reachmon_config_reloads_total{result="failure",vantage="default"} 0`,
		`reachmon_config_last_reload_successful{vantage="default"} 1`,
	} {
		if !strings.Contains(m1, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grep(m1, "reachmon_config"))
		}
	}
	if sha1 := regexp.MustCompile(`reachmon_config_info\{sha256="([0-9a-f]+)"`).FindStringSubmatch(m1); sha0 == nil || sha1 == nil ||
		sha0[1] == sha1[1] || sha1[1] != res.ConfigSHA256 {
		t.Errorf("config_info before %v, after %v, reload said %s", sha0, sha1, res.ConfigSHA256)
	}

	// The pages that waited are delivered, to the channel routed before
	// the reload; a new incident goes by the new route.
	auth.SetRcode("new.example.", "REFUSED")
	waitUntil(t, 20*time.Second, "every page", func() bool {
		got := map[string]string{}
		for _, m := range fake.Messages() {
			if m.ThreadTS == "" {
				for _, z := range []string{"lab.example", "gone.example", "new.example"} {
					if strings.Contains(m.Text, z) {
						got[z] = m.Channel
					}
				}
			}
		}
		return got["lab.example"] == "C0OLD0001" && got["gone.example"] == "C0OLD0001" && got["new.example"] == "C0NEW0001"
	})

	// An invalid file is refused: the error names the file and line, the
	// running configuration stays, the metrics say so.
	write("[[zone]\nname = \"broken\"\n")
	if _, err := d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 2:") {
		t.Errorf("Reload of an invalid file: %v; want an error naming %s and the line", err, path)
	}
	resp, err := http.Post(base+ReloadPath, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc api.ErrorDoc
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || doc.Schema != api.ErrorSchema || !strings.Contains(doc.Message, "line 2:") {
		t.Errorf("POST %s with an invalid file = %d %+v", ReloadPath, resp.StatusCode, doc)
	}
	if code, body := get(t, base+ReloadPath); code != http.StatusMethodNotAllowed || !strings.Contains(body, api.ErrorSchema) {
		t.Errorf("GET %s = %d %s, want 405 in the error shape", ReloadPath, code, body)
	}
	_, m2 := get(t, base+"/metrics")
	for _, want := range []string{
		`reachmon_config_reloads_total{result="failure",vantage="default"} 2`,
		`reachmon_config_last_reload_successful{vantage="default"} 0`,
		`reachmon_config_info{sha256="` + res.ConfigSHA256 + `"`,
	} {
		if !strings.Contains(m2, want) {
			t.Errorf("/metrics after the refused reloads lacks %s:\n%s", want, grep(m2, "reachmon_config"))
		}
	}
	if !strings.Contains(logs.String(), "configuration reload refused") {
		t.Error("the refused reload is not logged")
	}
	n := auth.Queries()
	waitUntil(t, 10*time.Second, "probing to go on", func() bool { return auth.Queries() > n+5 })
	if len(d.cfg.Zones) != 2 || d.cfg.Zones[1].Name.Label() != "new.example" {
		t.Errorf("configuration in force after the refused reload: %v", zoneNames(d.cfg))
	}

	// A key that needs a restart is reported and left as running.
	write(strings.Replace(reloadConfig(listen, stateDir, resolver.Addr, auth.Addr, tokenFile, fake.APIURL(), "C0NEW0001", "lab.example", "new.example"),
		`listen = "`+listen+`"`, `listen = "127.0.0.1:1"`, 1))
	res, err = d.Reload(context.Background())
	if err != nil || len(res.RestartNeeded) != 1 || res.RestartNeeded[0] != "listen" || d.cfg.Listen != listen {
		t.Errorf("reload with a new listen: %v, restart needed %q, listen in force %s", err, res.RestartNeeded, d.cfg.Listen)
	}
	if !strings.Contains(logs.String(), "restart needed for: listen") {
		t.Error("the restart-needed key is not logged")
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the Slack token appears in the logs")
	}
}
