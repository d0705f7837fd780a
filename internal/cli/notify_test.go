package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
	"github.com/reachmon/reachmon/internal/notify/webhook"
)

func TestNotifyTest(t *testing.T) {
	const token = "xoxb-cli-test-secret"
	fake := fakeslack.New(token, map[string]string{"#test": "C0TEST0001"})
	defer fake.Close()
	dir := t.TempDir()
	write := func(name, text string) string { return writeFile(t, dir, name, text) }
	t.Setenv("REACHMON_TEST_SLACK_TOKEN", token)
	good := write("good.toml", fmt.Sprintf("[slack]\ntoken_env = \"REACHMON_TEST_SLACK_TOKEN\"\napi_url = %q\nchannel = \"C0TEST0001\"\n", fake.APIURL()))
	code, out, errOut := runMain("notify", "test", "--config", good)
	if code != ExitOK || len(fake.CallsOf("chat.postMessage")) != 1 {
		t.Fatalf("exit %d, %d posts\n%s\n%s", code, len(fake.CallsOf("chat.postMessage")), out, errOut)
	}
	if !strings.Contains(out, "chat.postMessage") || strings.Contains(out+errOut, token) {
		t.Errorf("report does not show the post, or leaks the token:\n%s%s", out, errOut)
	}

	fake.Fail("auth.test", fakeslack.Fault{Error: "invalid_auth"})
	code, out, errOut = runMain("notify", "test", "--config", good)
	if code != ExitProblem || !strings.Contains(out+errOut, "invalid_auth") {
		t.Errorf("invalid_auth: exit %d\n%s\n%s", code, out, errOut)
	}

	none := write("none.toml", "vantage = \"x\"\n")
	if code, _, errOut := runMain("notify", "test", "--config", none); code != ExitUsage || !strings.Contains(errOut, "configures no Slack paging, no [[alertmanager]] and no [[webhook]]") {
		t.Errorf("no [slack]: exit %d, %s", code, errOut)
	}
	if code, _, _ := runMain("notify", "send", "--config", good); code != ExitUsage {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}

// TestNotifyTestAlertmanagerAndWebhook: `notify test` asks each
// Alertmanager URL for its status (posting no alert) and posts a signed
// test document to each webhook; a down Alertmanager fails the command.
func TestNotifyTestAlertmanagerAndWebhook(t *testing.T) {
	var posted []string
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/api/v2/status" {
			posted = append(posted, r.Method+" "+r.URL.Path)
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, `{"cluster":{"status":"disabled"},"versionInfo":{"version":"0.25.0"},"config":{"original":""},"uptime":"2026-12-02T13:00:00Z"}`)
	}))
	defer am.Close()
	const secret = "cli-webhook-secret"
	t.Setenv("REACHMON_TEST_WEBHOOK_SECRET", secret)
	var doc webhook.Document
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !webhook.Verify([]byte(secret), b, r.Header.Get(webhook.SignatureHeader)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_ = json.Unmarshal(b, &doc)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	dir := t.TempDir()
	cfgText := func(amURL string) string {
		return fmt.Sprintf("vantage = \"cli\"\n[[alertmanager]]\nurls = [%q]\n[[webhook]]\nname = \"bridge\"\nurl = %q\nsecret_env = \"REACHMON_TEST_WEBHOOK_SECRET\"\n", amURL, hook.URL)
	}
	good := writeFile(t, dir, "good.toml", cfgText(am.URL))
	code, out, errOut := runMain("notify", "test", "--config", good)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, w := range []string{
		"== alertmanager default (status of every URL; no alert is sent)\nGET " + am.URL + "/api/v2/status -> HTTP 200: Alertmanager 0.25.0, cluster disabled (0 peers)\n",
		"== webhook bridge\nPOST " + hook.URL + " -> HTTP 204\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if len(posted) > 0 {
		t.Errorf("notify test sent %v to Alertmanager", posted)
	}
	if doc.Schema != webhook.Schema || doc.Change != webhook.ChangeTest || doc.Incident != nil || doc.Vantage != "cli" {
		t.Errorf("test document %+v", doc)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	bad := writeFile(t, dir, "bad.toml", cfgText(downURL))
	code, out, errOut = runMain("notify", "test", "--config", bad)
	if code != ExitProblem || !strings.Contains(errOut, `alertmanager "default": no URL answered`) || !strings.Contains(out, "== webhook bridge") {
		t.Errorf("Alertmanager down: exit %d\n%s\n%s", code, out, errOut)
	}
}
