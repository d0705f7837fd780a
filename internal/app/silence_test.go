package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
	"github.com/reachmon/reachmon/internal/silence"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestSilencesAndSlack runs the daemon with Slack on a local fake of its
// API and silences made through the daemon's own API:
//
//  1. a silence made before the outage: the incident opens silenced
//     (shown in /api/v1/incidents), and the notifier decides not to page
//     it (reachmon_notifications_silenced_total) — nothing reaches Slack;
//  2. the silence is expired: the incident, still open, is paged then;
//  3. a new silence on the paged incident: one reply in its thread says
//     who silenced it, until when and why, and nothing more is sent while
//     it lasts;
//  4. the outage ends: the resolve of the paged incident is sent.
func TestSilencesAndSlack(t *testing.T) {
	const token = "xoxb-reachmon-silence-test"
	fake := fakeslack.New(token, map[string]string{"#dns": "C0DNS0001"})
	defer fake.Close()
	tokenFile := filepath.Join(t.TempDir(), "slack-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen := freeAddr(t)
	base := "http://" + listen
	stop := startDaemon(t, outageConfig(t, listen, resolver.Addr, auth.Addr, fmt.Sprintf(`
[slack]
token_file = %q
api_url = %q
channel = "C0DNS0001"
min_update_interval = "10ms"
`, tokenFile, fake.APIURL())))
	defer stop()

	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; Slack calls: %+v", what, fake.Calls())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	silencedTotal := func() string {
		_, body := get(t, base+"/metrics")
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, `reachmon_notifications_silenced_total{channel="C0DNS0001"`) {
				return l[strings.LastIndexByte(l, ' ')+1:]
			}
		}
		return ""
	}
	wait("the API", func() bool { _, ok := incidents(t, base); return ok })
	ctx := t.Context()

	// 1. Silenced before it opens: recorded and shown, not paged.
	s1, err := api.AddSilence(ctx, nil, base, silence.Request{Kind: "authoritative_outage", Subject: "lab.*", Duration: "1h",
		Reason: "nameserver migration", CreatedBy: "alice@ops1"})
	if err != nil {
		t.Fatal(err)
	}
	auth.SetRcode("lab.example.", "REFUSED")
	var open incident.Entry
	wait("a silenced incident", func() bool {
		v, _ := incidents(t, base)
		if len(v.Open) == 1 {
			open = v.Open[0]
		}
		return len(v.Open) == 1 && open.Silenced.ID == s1.Silence.ID
	})
	if open.Silenced.By != "alice@ops1" || open.Silenced.Reason != "nameserver migration" || !open.Silenced.Until.Equal(s1.Silence.Ends) || open.Paged {
		t.Errorf("open incident's silence = %+v (paged %v)", open.Silenced, open.Paged)
	}
	wait("the notifier's decision", func() bool { return silencedTotal() != "" && silencedTotal() != "0" })
	if calls := fake.CallsOf("chat.postMessage"); len(calls) != 0 {
		t.Fatalf("a silenced incident reached Slack: %+v", calls)
	}
	_, body := get(t, base+"/metrics")
	if !strings.Contains(body, `reachmon_silences_active{source="api",vantage="default"} 1`) {
		t.Errorf("/metrics: %s", grep(body, "silences_active"))
	}

	// 2. The silence expires while the incident is open: it is paged now.
	if _, err := api.ExpireSilence(ctx, nil, base, s1.Silence.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	wait("the page", func() bool { return len(fake.CallsOf("chat.postMessage")) > 0 })
	page := fake.CallsOf("chat.postMessage")[0]
	if page.ThreadTS != "" || !strings.Contains(page.Text, "lab.example") {
		t.Errorf("page = %+v", page)
	}
	wait("the incident shown paged, not silenced", func() bool {
		v, _ := incidents(t, base)
		return len(v.Open) == 1 && v.Open[0].Paged && !v.Open[0].IsSilenced()
	})

	// 3. Silenced after its page: one reply in the thread tells it.
	s2, err := api.AddSilence(ctx, nil, base, silence.Request{Subject: "lab.example", Duration: "2h",
		Reason: "provider is on it", CreatedBy: "carol@ops2"})
	if err != nil {
		t.Fatal(err)
	}
	replies := func() []fakeslack.Call {
		var out []fakeslack.Call
		for _, c := range fake.CallsOf("chat.postMessage") {
			if c.ThreadTS == page.TS && strings.Contains(c.Text, "silenced by") {
				out = append(out, c)
			}
		}
		return out
	}
	wait("the silence's thread reply", func() bool { return len(replies()) > 0 })
	if r := replies()[0]; !strings.Contains(r.Text, "silenced by carol@ops2 until "+s2.Silence.Ends.UTC().Format("2006-01-02 15:04 UTC")) ||
		!strings.Contains(r.Text, "provider is on it") {
		t.Errorf("silence reply = %q", r.Text)
	}
	wait("the incident shown silenced", func() bool {
		v, _ := incidents(t, base)
		return len(v.Open) == 1 && v.Open[0].Silenced.ID == s2.Silence.ID && v.Open[0].Paged
	})

	// 4. The outage ends: the resolve of a paged incident is always sent.
	before := len(fake.Calls())
	auth.SetRcode("lab.example.", "")
	wait("the resolve", func() bool { return len(fake.CallsOf("chat.update")) > 0 })
	if n := len(replies()); n != 1 {
		t.Errorf("%d silence replies, want 1", n)
	}
	for _, c := range fake.Calls()[:before] {
		if c.ThreadTS == page.TS && !strings.Contains(c.Text, "silenced by") {
			t.Errorf("a message while silenced: %+v", c)
		}
	}
	var parents int
	for _, c := range fake.CallsOf("chat.postMessage") {
		if c.ThreadTS == "" {
			parents++
		}
	}
	if parents != 1 {
		t.Errorf("%d top-level messages for one incident, want 1", parents)
	}
}
