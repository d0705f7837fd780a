package slack_test

import (
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
)

// TestMentionOnlyOnCriticalPages follows a route's mention through the
// dispatcher and the fake Slack: it is in the text (which notifies) and
// the first section of a critical page and of the update that raises an
// incident to critical; never in other updates, the resolve edit, the
// resolve reply, warning pages, or pages routed by other routes.
func TestMentionOnlyOnCriticalPages(t *testing.T) {
	const mention = "<!subteam^S0123ABC>"
	srv := newServer(t)
	cfg := botConfig(t, srv, goodToken, "#alerts")
	cfg.Route = append(cfg.Route, config.SlackRoute{Kinds: []string{"dnssec_failure"}, Channel: "#alerts", Mention: mention})
	h := newHarness(t, srv, cfg, t.TempDir())
	h.start()

	crit := incident("crit-1", model.IncidentDNSSEC, model.SeverityCritical, "slack.com")
	h.d.Submit(open(crit))
	h.drive("critical page", sent(h, "chat.postMessage", 1))

	warn := incident("warn-1", model.IncidentDNSSEC, model.SeverityWarning, "example.com")
	h.d.Submit(open(warn))
	h.drive("warning page", sent(h, "chat.postMessage", 2))

	up := update(warn, "severity warning -> critical", "all 4 resolvers SERVFAIL", t0.Add(time.Minute))
	up.Incident.Severity, up.PrevSeverity = model.SeverityCritical, model.SeverityWarning
	h.d.Submit(up)
	h.drive("upgrade reply", sent(h, "chat.postMessage", 3))

	more := update(up.Incident, "newly affected: resolvers r1", "resolver r1 SERVFAIL", t0.Add(2*time.Minute))
	h.d.Submit(more)
	h.drive("later update", sent(h, "chat.postMessage", 4))

	h.d.Submit(resolve(more.Incident, t0.Add(time.Hour)))
	h.drive("resolve", sent(h, "chat.postMessage", 5))

	other := incident("bgp-1", model.IncidentBGPOutage, model.SeverityCritical, "facebook.com")
	h.d.Submit(open(other))
	feed := incident("feed-1", model.IncidentFeedLost, model.SeverityCritical, "192.0.2.2")
	h.d.Submit(open(feed))
	h.drive("other pages", sent(h, "chat.postMessage", 7))

	posts := srv.CallsOf("chat.postMessage")
	byKey := func(prefix string) []fakeslack.Call {
		var out []fakeslack.Call
		for _, c := range posts {
			if strings.HasPrefix(c.Key, prefix+"#") {
				out = append(out, c)
			}
		}
		return out
	}
	firstSection := func(c fakeslack.Call) string {
		b := unescapeJSON(c.Blocks)
		i := strings.Index(b, `{"type":"section","text":{"type":"mrkdwn","text":"`)
		if i < 0 {
			return ""
		}
		return b[i+len(`{"type":"section","text":{"type":"mrkdwn","text":"`):]
	}

	page := byKey("crit-1")[0]
	if want := mention + " [CRITICAL] DNSSEC failure: slack.com: The routes covering"; !strings.HasPrefix(page.Text, want) {
		t.Errorf("critical page text = %q, want prefix %q", page.Text, want)
	}
	if got := firstSection(page); !strings.HasPrefix(got, mention+`"}}`) {
		t.Errorf("critical page: first section %q, want the mention alone", got)
	}

	w := byKey("warn-1")
	if len(w) != 4 {
		t.Fatalf("warn-1 posts = %d, want page, upgrade, update, resolve reply", len(w))
	}
	if strings.Contains(w[0].Text+w[0].Blocks, "subteam") {
		t.Errorf("warning page mentions: %q", w[0].Text)
	}
	if want := mention + " Update: DNSSEC failure: example.com: severity warning -&gt; critical"; w[1].Text != want {
		t.Errorf("upgrade reply text = %q, want %q", w[1].Text, want)
	}
	if got := firstSection(w[1]); !strings.HasPrefix(got, mention+" :red_circle: *Update:* severity warning -&gt; critical") {
		t.Errorf("upgrade reply: first section %q", got)
	}
	for i, c := range w[2:] {
		if strings.Contains(c.Text+c.Blocks, "subteam") {
			t.Errorf("reply %d after the upgrade mentions: %q", i+2, c.Text)
		}
	}
	edits := srv.CallsOf("chat.update")
	if len(edits) != 1 || strings.Contains(edits[0].Text+edits[0].Blocks, "subteam") || !strings.HasPrefix(edits[0].Text, "[RESOLVED]") {
		t.Errorf("resolve edit: %+v", edits)
	}
	for _, k := range []string{"bgp-1", "feed-1"} {
		if c := byKey(k); len(c) != 1 || strings.Contains(c[0].Text+c[0].Blocks, "subteam") {
			t.Errorf("%s (another route) mentions or is missing: %+v", k, c)
		}
	}
}
