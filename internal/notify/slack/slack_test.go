package slack_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	rslack "github.com/reachmon/reachmon/internal/notify/slack"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
)

func sent(h *harness, method string, n int) func() bool {
	return func() bool { return len(h.srv.CallsOf(method)) >= n }
}

func TestThreadLifecycle(t *testing.T) {
	srv := newServer(t)
	h := newHarness(t, srv, botConfig(t, srv, goodToken, "#alerts"), t.TempDir())
	h.start()
	inc := incident("20211004T154002Z-3fa2c1", model.IncidentBGPOutage, model.SeverityWarning, "facebook.com")

	h.d.Submit(open(inc))
	h.drive("open", func() bool { _, ok := h.state(inc.ID); return ok })
	upd := update(inc, "severity warning -> critical", "all 4 resolvers SERVFAIL for facebook.com", t0.Add(5*time.Minute))
	upd.Incident.Severity = model.SeverityCritical
	h.d.Submit(upd)
	res := resolve(upd.Incident, t0.Add(65*time.Minute))
	res.Incident.Recovery = "routes re-announced 16:44:10, resolvers answer again 16:45:00"
	h.d.Submit(res)
	h.drive("resolve", func() bool { st, _ := h.state(inc.ID); return st.Delivered == model.ChangeResolve })

	calls := srv.Calls()
	want := []struct{ method, channel, thread string }{
		{"chat.postMessage", "#alerts", ""},
		{"chat.postMessage", "C0ALERTS1", "parent"},
		{"chat.update", "C0ALERTS1", ""},
		{"chat.postMessage", "C0ALERTS1", "parent"},
	}
	if len(calls) != len(want) {
		t.Fatalf("got %d calls, want %d: %+v", len(calls), len(want), calls)
	}
	parent := calls[0].TS
	for i, w := range want {
		c := calls[i]
		thread := w.thread
		if thread == "parent" {
			thread = parent
		}
		if c.Method != w.method || c.Channel != w.channel || c.ThreadTS != thread {
			t.Errorf("call %d = %s channel=%s thread_ts=%s; want %s channel=%s thread_ts=%s", i, c.Method, c.Channel, c.ThreadTS, w.method, w.channel, thread)
		}
		if c.Token != goodToken {
			t.Errorf("call %d: wrong token", i)
		}
	}
	if calls[2].TS != parent {
		t.Errorf("chat.update ts = %s, want the parent %s", calls[2].TS, parent)
	}
	// The page: kind and severity in the title, root cause, evidence,
	// affected names, times as date tokens with UTC fallbacks, configured
	// links, a plain-text fallback.
	for _, s := range []string{"WARNING", "BGP-caused DNS outage: facebook.com", "129.134.0.0/17 still covers them",
		"<!date^1633362002^{time_secs}|15:40:02 UTC> 129.134.30.0/24 withdrawn", "www.facebook.com", "2021-10-04 15:40:02 UTC",
		"https://grafana.example/d/reachmon?var-subject=facebook.com", "https://wiki.example/runbooks/bgp_dns_outage"} {
		if !strings.Contains(unescapeJSON(calls[0].Blocks), s) {
			t.Errorf("page blocks lack %q:\n%s", s, calls[0].Blocks)
		}
	}
	if !strings.HasPrefix(calls[0].Text, "[WARNING] BGP-caused DNS outage: facebook.com") {
		t.Errorf("fallback text = %q", calls[0].Text)
	}
	// The update reply carries the reason and only the new evidence.
	if !strings.Contains(unescapeJSON(calls[1].Blocks), "severity warning -&gt; critical") || !strings.Contains(calls[1].Blocks, "all 4 resolvers SERVFAIL") {
		t.Errorf("update reply: %s", calls[1].Blocks)
	}
	if strings.Contains(calls[1].Blocks, "129.134.30.0/24 withdrawn") {
		t.Errorf("update reply repeats old evidence: %s", calls[1].Blocks)
	}
	// The parent is marked resolved, with the duration.
	msgs := srv.Messages()
	if len(msgs) != 3 {
		t.Fatalf("stored messages = %d, want 3 (parent, 2 replies)", len(msgs))
	}
	if msgs[0].Updated != 1 || !strings.Contains(msgs[0].Blocks, "RESOLVED") || !strings.Contains(msgs[0].Blocks, "1h 05m") {
		t.Errorf("parent after resolve (updated %d times): %s", msgs[0].Updated, msgs[0].Blocks)
	}
	if !strings.Contains(calls[3].Blocks, "Resolved") || !strings.Contains(calls[3].Blocks, "16:45:02 UTC") {
		t.Errorf("resolve reply: %s", calls[3].Blocks)
	}
	// The resolve tells the whole story: what happened (the diagnosis),
	// how long, how it recovered; in the edited page and in the reply.
	for _, c := range []string{msgs[0].Blocks, calls[3].Blocks} {
		for _, s := range []string{"129.134.0.0/17 still covers them", "1h 05m", "How it recovered:* routes re-announced 16:44:10, resolvers answer again 16:45:00"} {
			if !strings.Contains(c, s) {
				t.Errorf("resolve message lacks %q:\n%s", s, c)
			}
		}
	}
	if !strings.Contains(calls[3].Blocks, "What happened:* The routes covering all 4 nameservers") {
		t.Errorf("resolve reply lacks the diagnosis: %s", calls[3].Blocks)
	}
	for _, c := range []fakeslack.Call{calls[2], calls[3]} {
		if !strings.Contains(c.Text, "after 1h 05m (routes re-announced 16:44:10, resolvers answer again 16:45:00)") {
			t.Errorf("resolve fallback text lacks the duration and recovery: %q", c.Text)
		}
	}
	st, _ := h.state(inc.ID)
	if st.Ref != "C0ALERTS1/"+parent {
		t.Errorf("Ref = %q, want C0ALERTS1/%s", st.Ref, parent)
	}
	if got := h.counter("#alerts", "sent"); got != 3 {
		t.Errorf("sent = %v, want 3", got)
	}
	if err := h.d.Ready(); err != nil {
		t.Errorf("Ready: %v", err)
	}
	h.lint()
}

func TestRoutingMonitorHealth(t *testing.T) {
	srv := newServer(t)
	h := newHarness(t, srv, botConfig(t, srv, goodToken, "#alerts"), t.TempDir())
	h.start()
	h.d.Submit(open(incident("feed-1", model.IncidentFeedLost, model.SeverityWarning, "192.0.2.2")))
	h.d.Submit(open(incident("dns-1", model.IncidentDNSSEC, model.SeverityCritical, "slack.com")))
	h.drive("both", sent(h, "chat.postMessage", 2))
	got := map[string]string{}
	for _, m := range srv.Messages() {
		got[m.Key[:strings.Index(m.Key, "#")]] = m.Channel
	}
	if got["feed-1"] != "C0MONITOR" || got["dns-1"] != "C0ALERTS1" {
		t.Errorf("routing: %v", got)
	}
}

func TestWebhookMode(t *testing.T) {
	srv := newServer(t)
	h := newHarness(t, srv, webhookConfig(t, srv.WebhookURL()), t.TempDir())
	h.start()
	inc := incident("wh-1", model.IncidentDNSSEC, model.SeverityCritical, "slack.com")
	h.d.Submit(open(inc))
	u := update(inc, "root cause", "DS at .com does not match any DNSKEY", t0.Add(time.Minute))
	h.d.Submit(u)
	h.d.Submit(resolve(u.Incident, t0.Add(24*time.Hour)))
	h.drive("3 webhook posts", sent(h, "webhook", 3))
	h.drive("resolve recorded", func() bool { st, _ := h.state(inc.ID); return st.Delivered == model.ChangeResolve })
	calls := srv.CallsOf("webhook")
	wants := []string{"[CRITICAL] DNSSEC failure: slack.com", "Update: root cause: [CRITICAL] DNSSEC failure: slack.com", "[RESOLVED] [CRITICAL] DNSSEC failure: slack.com after 24h 00m"}
	for i, w := range wants {
		if !strings.HasPrefix(calls[i].Text, w) {
			t.Errorf("webhook message %d = %q, want prefix %q", i, calls[i].Text, w)
		}
	}
	if len(srv.CallsOf("chat.postMessage")) != 0 {
		t.Error("webhook mode used the Web API")
	}
	if got := h.counter("#alerts", "sent"); got != 3 {
		t.Errorf("sent = %v, want 3", got)
	}
}

func TestWebhookRevokedAndSecretsRedacted(t *testing.T) {
	srv := newServer(t)
	h := newHarness(t, srv, webhookConfig(t, srv.WebhookURL()), t.TempDir())
	srv.Fail("webhook", fakeslack.Fault{Status: 403, Error: "invalid_token"})
	h.start()
	h.d.Submit(open(incident("wh-2", model.IncidentAuthOutage, model.SeverityCritical, "example.com")))
	h.drive("degraded", func() bool { return h.d.Ready() != nil })
	err := h.d.Ready()
	if !strings.Contains(err.Error(), "invalid_token") {
		t.Errorf("Ready = %v", err)
	}
	if len(srv.CallsOf("webhook")) != 1 || h.d.Pending() != 1 {
		t.Errorf("webhook calls %d, pending %d; want 1 and 1 (kept for a restart)", len(srv.CallsOf("webhook")), h.d.Pending())
	}
	assertNoSecret(t, "fakewebhooksecret", h.logs.String(), err.Error())
}

func TestWebhookNetworkErrorRedacted(t *testing.T) {
	srv := newServer(t)
	url := srv.WebhookURL()
	srv.Close() // connection refused: the error names the URL
	h := newHarness(t, nil, webhookConfig(t, url), t.TempDir())
	h.srv = srv
	h.start()
	h.d.Submit(open(incident("wh-3", model.IncidentAuthOutage, model.SeverityCritical, "example.com")))
	h.drive("two retries", func() bool { return h.counter("#alerts", "retry") >= 2 })
	logs := h.logs.String()
	if !strings.Contains(logs, "[REDACTED]") {
		t.Errorf("expected a redacted error in the logs:\n%s", logs)
	}
	if strings.Count(logs, "level=WARN msg=\"notification failed; retrying\"") != 1 {
		t.Errorf("a repeating failure must be logged once at WARN:\n%s", logs)
	}
	assertNoSecret(t, "fakewebhooksecret", logs)
}

func assertNoSecret(t *testing.T, secret string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("secret %q leaked in:\n%s", secret, s)
		}
	}
}

func TestRateLimitedRetryAfter(t *testing.T) {
	srv := newServer(t)
	h := newHarness(t, srv, botConfig(t, srv, goodToken, "#alerts"), t.TempDir())
	srv.Fail("chat.postMessage", fakeslack.Fault{Status: 429, RetryAfter: 7})
	h.start()
	h.d.Submit(open(incident("rl-1", model.IncidentHijack, model.SeverityCritical, "192.0.2.0/24")))
	h.drive("delivered", func() bool { _, ok := h.state("rl-1"); return ok })
	calls := srv.CallsOf("chat.postMessage")
	if len(calls) != 2 {
		t.Fatalf("postMessage calls = %d, want 2", len(calls))
	}
	if gap := calls[1].Time.Sub(calls[0].Time); gap < 7*time.Second || gap > 8*time.Second {
		t.Errorf("retry after %s, want Retry-After 7s", gap)
	}
	if len(srv.CallsOf("conversations.history")) != 0 {
		t.Error("a 429 is definite non-delivery: no lookup needed")
	}
	if len(srv.Messages()) != 1 || h.counter("#alerts", "retry") != 1 || h.counter("#alerts", "sent") != 1 {
		t.Errorf("messages %d, retry %v, sent %v", len(srv.Messages()), h.counter("#alerts", "retry"), h.counter("#alerts", "sent"))
	}
}

func TestServerErrorThenSuccess(t *testing.T) {
	srv := newServer(t)
	h := newHarness(t, srv, botConfig(t, srv, goodToken, "C0ALERTS1"), t.TempDir())
	srv.Fail("chat.postMessage", fakeslack.Fault{Status: 500}, fakeslack.Fault{Status: 503})
	h.start()
	h.d.Submit(open(incident("5xx-1", model.IncidentAuthOutage, model.SeverityCritical, "example.com")))
	h.drive("delivered", func() bool { _, ok := h.state("5xx-1"); return ok })
	calls := srv.CallsOf("chat.postMessage")
	if len(calls) != 3 || len(srv.Messages()) != 1 {
		t.Fatalf("postMessage calls %d (want 3), messages %d (want 1)", len(calls), len(srv.Messages()))
	}
	// Exponential backoff with jitter: [0.5s, 1s] then [1s, 2s], and never
	// faster than the channel rate.
	g1, g2 := calls[1].Time.Sub(calls[0].Time), calls[2].Time.Sub(calls[1].Time)
	if g1 < time.Second || g1 > 2*time.Second || g2 < time.Second || g2 > 2*time.Second {
		t.Errorf("retry gaps %s, %s", g1, g2)
	}
	// A 5xx may hide a delivered message: each retry looked first.
	if n := len(srv.CallsOf("conversations.history")); n != 2 {
		t.Errorf("history lookups = %d, want 2", n)
	}
	if err := h.d.Ready(); err != nil {
		t.Errorf("Ready after recovery: %v", err)
	}
}

// A request that times out after Slack posted the message: the retry
// finds the message by the key in its metadata (conversations.history,
// conversations.replies for thread replies) and does not post again.
func TestTimeoutThenSuccessNoDuplicate(t *testing.T) {
	srv := newServer(t)
	cfg := botConfig(t, srv, goodToken, "C0ALERTS1")
	cfg.Timeout = config.Duration{Duration: time.Second}
	h := newHarness(t, srv, cfg, t.TempDir())
	srv.Fail("chat.postMessage", fakeslack.Fault{HangAfter: 3 * time.Second}, fakeslack.Fault{HangAfter: 3 * time.Second})
	h.start()
	inc := incident("to-1", model.IncidentResolverOutage, model.SeverityWarning, "quad9")
	h.d.Submit(open(inc))
	h.drive("open", func() bool { _, ok := h.state(inc.ID); return ok })
	h.d.Submit(update(inc, "evidence", "quad9 SERVFAIL for every zone", t0.Add(time.Minute)))
	h.drive("update", func() bool { st, _ := h.state(inc.ID); return st.Delivered == model.ChangeUpdate })

	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("messages = %d, want 2 (no duplicate): %+v", len(msgs), msgs)
	}
	if n := len(srv.CallsOf("chat.postMessage")); n != 2 {
		t.Errorf("postMessage calls = %d, want 2 (each retry found its message)", n)
	}
	if len(srv.CallsOf("conversations.history")) != 1 || len(srv.CallsOf("conversations.replies")) != 1 {
		t.Errorf("lookups: history %d, replies %d; want 1 and 1", len(srv.CallsOf("conversations.history")), len(srv.CallsOf("conversations.replies")))
	}
	st, _ := h.state(inc.ID)
	if st.Ref != "C0ALERTS1/"+msgs[0].TS || msgs[1].ThreadTS != msgs[0].TS {
		t.Errorf("Ref %q; reply thread %q; parent %q", st.Ref, msgs[1].ThreadTS, msgs[0].TS)
	}
	if !strings.Contains(h.logs.String(), "earlier attempt was delivered") {
		t.Error("recovery not logged")
	}
}

func TestInvalidAuthNotRetried(t *testing.T) {
	srv := newServer(t)
	cfg := botConfig(t, srv, badToken, "#alerts")
	dir := t.TempDir()
	h := newHarness(t, srv, cfg, dir)
	h.start()
	a := incident("auth-a", model.IncidentBGPOutage, model.SeverityCritical, "a.example")
	b := incident("auth-b", model.IncidentBGPOutage, model.SeverityCritical, "b.example")
	h.d.Submit(open(a))
	h.d.Submit(open(b))
	h.drive("degraded", func() bool { return h.d.Ready() != nil })
	// Give a wrongly retrying dispatcher the chance to call again.
	for range 20 {
		h.clk.Advance(time.Hour)
		time.Sleep(2 * time.Millisecond)
	}
	if n := len(srv.CallsOf("chat.postMessage")); n != 1 {
		t.Errorf("postMessage calls = %d, want 1 (not retried)", n)
	}
	err := h.d.Ready()
	if !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("Ready = %v", err)
	}
	if got := h.counter("#alerts", "rejected"); got != 1 {
		t.Errorf("rejected = %v, want 1", got)
	}
	logs := h.logs.String()
	if c := strings.Count(logs, "code=invalid_auth"); c != 1 {
		t.Errorf("invalid_auth logged %d times, want once:\n%s", c, logs)
	}
	assertNoSecret(t, badToken, logs, err.Error())
	assertNoSecret(t, goodToken, logs, err.Error())
	if h.d.Pending() != 2 {
		t.Fatalf("pending = %d, want 2 kept for a restart", h.d.Pending())
	}
	// Fixed token, restart: both pages go out, in order.
	h.cfg = botConfig(t, srv, goodToken, "#alerts")
	h.restart()
	h.drive("both delivered", func() bool { return h.d.Pending() == 0 })
	msgs := srv.Messages()
	if len(msgs) != 2 || !strings.HasPrefix(msgs[0].Key, "auth-a#") || !strings.HasPrefix(msgs[1].Key, "auth-b#") {
		t.Errorf("after restart: %+v", msgs)
	}
	if err := h.d.Ready(); err != nil {
		t.Errorf("Ready after restart: %v", err)
	}
}

// A restart during a Slack outage: one request was in flight (Slack had
// posted it), the others failed with 503. After the restart everything is
// delivered once, in order.
func TestRestartWithPendingOutbox(t *testing.T) {
	srv := newServer(t)
	cfg := botConfig(t, srv, goodToken, "C0ALERTS1")
	dir := t.TempDir()
	h := newHarness(t, srv, cfg, dir)
	a := incident("rs-a", model.IncidentBGPOutage, model.SeverityCritical, "a.example")
	b := incident("rs-b", model.IncidentDNSSEC, model.SeverityCritical, "b.example")
	srv.Fail("chat.postMessage", fakeslack.Fault{HangAfter: time.Minute})
	h.start()
	h.d.Submit(open(a))
	h.drive("first post in flight", sent(h, "chat.postMessage", 1))
	h.d.Submit(open(b))
	ua := update(a, "evidence", "resolvers SERVFAIL", t0.Add(2*time.Minute))
	h.d.Submit(ua)
	h.d.Submit(resolve(ua.Incident, t0.Add(3*time.Minute)))
	h.stop() // the process stops mid-request
	if h.d.Pending() != 4 {
		t.Fatalf("pending before restart = %d, want 4", h.d.Pending())
	}
	srv.Fail("chat.postMessage", fakeslack.Fault{Status: 503}, fakeslack.Fault{Status: 503})
	h.build()
	if h.d.Pending() != 4 {
		t.Fatalf("pending after reload = %d, want 4", h.d.Pending())
	}
	h.start()
	h.drive("outbox drained", func() bool { return h.d.Pending() == 0 })

	msgs := srv.Messages()
	var keys []string
	for _, m := range msgs {
		keys = append(keys, m.Key)
	}
	want := []string{"rs-a#1", "rs-b#2", "rs-a#3", "rs-a#4"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Errorf("delivered %v, want %v once each, in order", keys, want)
	}
	if msgs[2].ThreadTS != msgs[0].TS || msgs[3].ThreadTS != msgs[0].TS {
		t.Errorf("replies not in a's thread: %+v", msgs)
	}
	if msgs[0].Updated != 1 {
		t.Errorf("a's parent updated %d times on resolve, want 1", msgs[0].Updated)
	}
	// A third start finds nothing to do.
	h.restart()
	if h.d.Pending() != 0 {
		t.Errorf("pending after clean restart = %d", h.d.Pending())
	}
}

// A burst of 50 pages for one channel and 5 for another: nothing lost,
// in order, at most one message per second per channel, and the second
// channel is not held up behind the first.
func TestBurstRespectsChannelRate(t *testing.T) {
	srv := newServer(t)
	h := newHarness(t, srv, botConfig(t, srv, goodToken, "#alerts"), t.TempDir())
	h.start()
	for i := range 50 {
		h.d.Submit(open(incident("burst-"+itoa(i), model.IncidentAuthOutage, model.SeverityCritical, "z"+itoa(i)+".example")))
	}
	for i := range 5 {
		h.d.Submit(open(incident("mon-"+itoa(i), model.IncidentVantageDown, model.SeverityCritical, "test1")))
	}
	h.drive("all sent", func() bool { return h.d.Pending() == 0 })
	byChannel := map[string][]fakeslack.Call{}
	for _, c := range srv.CallsOf("chat.postMessage") {
		byChannel[c.Channel] = append(byChannel[c.Channel], c)
	}
	alerts, mon := byChannel["#alerts"], byChannel["#monitor"]
	if len(alerts) != 50 || len(mon) != 5 {
		t.Fatalf("sent %d to #alerts, %d to #monitor; want 50 and 5", len(alerts), len(mon))
	}
	for _, calls := range [][]fakeslack.Call{alerts, mon} {
		for i := 1; i < len(calls); i++ {
			if gap := calls[i].Time.Sub(calls[i-1].Time); gap < time.Second {
				t.Errorf("%s: messages %d and %d only %s apart", calls[i].Channel, i-1, i, gap)
			}
		}
	}
	for i, c := range alerts {
		if !strings.HasPrefix(c.Key, "burst-"+itoa(i)+"#") {
			t.Fatalf("#alerts message %d is %s: out of order", i, c.Key)
		}
	}
	if span := alerts[len(alerts)-1].Time.Sub(alerts[0].Time); span < 49*time.Second {
		t.Errorf("50 messages in %s", span)
	}
	if took := mon[len(mon)-1].Time.Sub(t0); took > 10*time.Second {
		t.Errorf("#monitor took %s: held up behind #alerts", took)
	}
	if got := h.counter("#alerts", "sent"); got != 50 {
		t.Errorf("sent = %v", got)
	}
}

// unescapeJSON undoes encoding/json's HTML escaping, to read mrkdwn.
func unescapeJSON(s string) string {
	return strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">").Replace(s)
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestRepeatReminders(t *testing.T) {
	srv := newServer(t)
	cfg := botConfig(t, srv, goodToken, "#alerts")
	cfg.RepeatInterval = config.Duration{Duration: time.Hour}
	h := newHarness(t, srv, cfg, t.TempDir())
	h.start()
	inc := incident("rep-1", model.IncidentBGPOutage, model.SeverityCritical, "facebook.com")
	h.d.Submit(open(inc))
	h.drive("two reminders", sent(h, "chat.postMessage", 3))
	calls := srv.CallsOf("chat.postMessage")
	for _, c := range calls[1:] {
		if c.ThreadTS != calls[0].TS || !c.Broadcast || !strings.Contains(c.Blocks, "Still open") {
			t.Errorf("reminder: thread %q broadcast %v blocks %s", c.ThreadTS, c.Broadcast, c.Blocks)
		}
	}
	if gap := calls[2].Time.Sub(calls[1].Time); gap != time.Hour {
		t.Errorf("reminder interval %s, want 1h", gap)
	}
	h.d.Submit(resolve(inc, h.clk.Now()))
	h.drive("resolved", func() bool { st, _ := h.state(inc.ID); return st.Delivered == model.ChangeResolve })
	before := len(srv.Calls())
	for range 10 {
		h.clk.Advance(time.Hour)
		time.Sleep(2 * time.Millisecond)
	}
	if n := len(srv.Calls()); n != before {
		t.Errorf("%d calls after resolve", n-before)
	}
}

func TestRepeatOffByDefault(t *testing.T) {
	srv := newServer(t)
	h := newHarness(t, srv, botConfig(t, srv, goodToken, "#alerts"), t.TempDir())
	h.start()
	h.d.Submit(open(incident("norep", model.IncidentBGPOutage, model.SeverityCritical, "facebook.com")))
	h.drive("open", sent(h, "chat.postMessage", 1))
	for range 10 {
		h.clk.Advance(24 * time.Hour)
		time.Sleep(2 * time.Millisecond)
	}
	if n := len(srv.Calls()); n != 1 {
		t.Errorf("%d calls, want only the page", n)
	}
}

func TestSendTest(t *testing.T) {
	srv := newServer(t)
	cfg := botConfig(t, srv, goodToken, "#alerts")
	cfg.Route = append(cfg.Route, config.SlackRoute{Severities: []string{"critical"}, Channel: "#nope"})
	report, err := rslack.SendTest(context.Background(), cfg, rslack.Options{Vantage: "test1"})
	if err == nil || !strings.Contains(err.Error(), "#nope: channel_not_found") {
		t.Errorf("err = %v", err)
	}
	for _, s := range []string{"auth.test -> HTTP 200", `"team":"Fake"`, "chat.postMessage channel=#alerts -> HTTP 200",
		`"ok":true`, "posted to C0ALERTS1", "chat.postMessage channel=#monitor -> HTTP 200",
		"chat.postMessage channel=#nope -> HTTP 200", `"error":"channel_not_found"`} {
		if !strings.Contains(report, s) {
			t.Errorf("report lacks %q:\n%s", s, report)
		}
	}
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("test messages stored = %d, want 2", n)
	}

	bad := botConfig(t, srv, badToken, "#alerts")
	report, err = rslack.SendTest(context.Background(), bad, rslack.Options{})
	if err == nil || !strings.Contains(report, `"error":"invalid_auth"`) {
		t.Errorf("bad token: err %v report:\n%s", err, report)
	}
	assertNoSecret(t, badToken, report, err.Error())

	wh := webhookConfig(t, srv.WebhookURL())
	report, err = rslack.SendTest(context.Background(), wh, rslack.Options{})
	if err != nil || !strings.Contains(report, "POST webhook -> HTTP 200\n  ok") {
		t.Errorf("webhook: err %v report:\n%s", err, report)
	}
	srv.Fail("webhook", fakeslack.Fault{Status: 404, Error: "no_service"})
	report, err = rslack.SendTest(context.Background(), wh, rslack.Options{})
	if err == nil || !strings.Contains(report, "HTTP 404") || !strings.Contains(report, "no_service") {
		t.Errorf("revoked webhook: err %v report:\n%s", err, report)
	}
	assertNoSecret(t, "fakewebhooksecret", report, err.Error())
}
