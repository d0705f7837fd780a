package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
	"github.com/reachmon/reachmon/internal/syncbuf"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestIncidentPagesSlack runs the daemon with [slack] pointed at a local
// server speaking Slack's Web API: an authoritative outage posts one
// message, its recovery updates that message and replies in its thread,
// and the token never shows in the logs.
func TestIncidentPagesSlack(t *testing.T) {
	const token = "xoxb-reachmon-test-secret"
	fake := fakeslack.New(token, map[string]string{"#dns": "C0DNS0001"})
	defer fake.Close()
	tokenFile := filepath.Join(t.TempDir(), "slack-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen := freeAddr(t)
	var logs syncbuf.Buffer
	stop := startDaemonLog(t, outageConfig(t, listen, resolver.Addr, auth.Addr, fmt.Sprintf(`
[slack]
token_file = %q
api_url = %q
channel = "C0DNS0001"
`, tokenFile, fake.APIURL())), &logs)
	defer stop()

	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; calls: %+v", what, fake.Calls())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	auth.SetRcode("lab.example.", "REFUSED")
	wait("the page", func() bool { return len(fake.CallsOf("chat.postMessage")) > 0 })
	page := fake.CallsOf("chat.postMessage")[0]
	if page.Channel != "C0DNS0001" || page.ThreadTS != "" || !strings.Contains(page.Text, "lab.example") {
		t.Errorf("page = %+v", page)
	}
	auth.SetRcode("lab.example.", "")
	wait("the resolve", func() bool { return len(fake.CallsOf("chat.update")) > 0 })
	upd := fake.CallsOf("chat.update")[0]
	if upd.TS != page.TS {
		t.Errorf("chat.update of ts %s, want the page's %s", upd.TS, page.TS)
	}
	wait("the thread reply", func() bool {
		for _, c := range fake.CallsOf("chat.postMessage") {
			if c.ThreadTS == page.TS {
				return true
			}
		}
		return false
	})
	var parents int
	for _, c := range fake.CallsOf("chat.postMessage") {
		if c.ThreadTS == "" {
			parents++
		}
	}
	if parents != 1 {
		t.Errorf("%d top-level messages for one incident, want 1", parents)
	}
	_, body := get(t, "http://"+listen+"/metrics")
	for _, w := range []string{`reachmon_notifications_total{channel="C0DNS0001",result="sent",vantage="default"}`,
		`reachmon_notification_queue_depth{vantage="default"}`, `reachmon_ready{check="notify",vantage="default"} 1`} {
		if !strings.Contains(body, w) {
			t.Errorf("/metrics lacks %s:\n%s", w, grep(body, "notif"))
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Error("the Slack token appears in the logs")
	}
}
