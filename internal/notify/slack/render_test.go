package slack

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
)

var rt0 = time.Date(2026, 12, 2, 15, 4, 5, 0, time.UTC)

func renderIncident(kind model.IncidentKind, sev model.Severity, subject string) model.Incident {
	return model.Incident{
		ID: "20261202T150405Z-abc123", Kind: kind, Severity: sev, State: model.StateOpen,
		SubjectKind: model.SubjectZone, Subject: subject,
		Opened: rt0, Confirmed: rt0.Add(30 * time.Second), Updated: rt0.Add(30 * time.Second),
		RootCause: "The routes covering the nameservers of " + subject + " were withdrawn.",
		Evidence:  []model.EvidenceItem{{Time: rt0, Text: "192.0.2.0/24 withdrawn"}},
	}
}

func botRenderer() renderer {
	return renderer{vantage: "fra1", cfg: config.SlackConfig{
		TokenEnv: "T", Channel: "#alerts",
		Route: []config.SlackRoute{
			{Kinds: []string{"bgp_dns_outage"}, Channel: "#dns", Mention: "<!subteam^S0123ABC>  <@U0123ABC>"},
		},
		GrafanaURL: "https://grafana.example/d/reachmon?var-subject={subject}",
		RunbookURL: "https://wiki.example/runbooks#{kind}",
	}}
}

// blockJSON is one block as Slack receives it (without HTML escaping, for
// readable expectations).
func blockJSON(t *testing.T, b slack.Block) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(b); err != nil {
		t.Fatal(err)
	}
	// Some slack-go blocks marshal themselves with HTML escaping.
	return strings.NewReplacer(`\u0026`, "&", `\u003c`, "<", `\u003e`, ">").Replace(strings.TrimSpace(buf.String()))
}

func blocksOfType(t *testing.T, m message, typ string) []string {
	t.Helper()
	var out []string
	for _, b := range m.blocks {
		if string(b.BlockType()) == typ {
			out = append(out, blockJSON(t, b))
		}
	}
	return out
}

func allJSON(t *testing.T, m message) string {
	t.Helper()
	var parts []string
	for _, b := range m.blocks {
		parts = append(parts, blockJSON(t, b))
	}
	return strings.Join(parts, "\n")
}

// TestPageButtonsAndSilenceCommand: a bot-mode page carries the runbook
// and the dashboard as URL buttons and the exact silence command as code;
// the context line keeps the incident's ID and vantage only.
func TestPageButtonsAndSilenceCommand(t *testing.T) {
	r := botRenderer()
	inc := renderIncident(model.IncidentBGPOutage, model.SeverityWarning, "example.com")
	m := r.incident(inc, "", "")
	if got := blocksOfType(t, m, "actions"); len(got) != 1 || got[0] != `{"type":"actions","block_id":"reachmon_links","elements":[`+
		`{"type":"button","text":{"type":"plain_text","text":"Runbook","emoji":true},"action_id":"reachmon_runbook","url":"https://wiki.example/runbooks#bgp_dns_outage"},`+
		`{"type":"button","text":{"type":"plain_text","text":"Grafana dashboard","emoji":true},"action_id":"reachmon_dashboard","url":"https://grafana.example/d/reachmon?var-subject=example.com"}]}` {
		t.Errorf("actions blocks:\n%s", strings.Join(got, "\n"))
	}
	wantSilence := `{"type":"section","text":{"type":"mrkdwn","text":"*Silence for 2h:*\n` +
		"```reachmon silence add --kind bgp_dns_outage --subject 'example.com' --for 2h --reason \\\"...\\\"```" + `"}}`
	if !strings.Contains(allJSON(t, m), wantSilence) {
		t.Errorf("no silence section %s in:\n%s", wantSilence, allJSON(t, m))
	}
	ctx := blocksOfType(t, m, "context")
	if len(ctx) != 1 || ctx[0] != `{"type":"context","elements":[{"type":"mrkdwn","text":"incident `+"`20261202T150405Z-abc123`"+` · vantage fra1"}]}` {
		t.Errorf("context: %v", ctx)
	}

	// The resolve edit keeps the buttons (the postmortem needs them) and
	// drops the silence command: nothing is left to silence.
	res := inc
	res.State, res.Resolved = model.StateResolved, rt0.Add(time.Hour)
	m = r.incident(res, "", "")
	if len(blocksOfType(t, m, "actions")) != 1 || strings.Contains(allJSON(t, m), "silence add") {
		t.Errorf("resolve edit:\n%s", allJSON(t, m))
	}

	// A silenced incident (the update telling its silence) has nothing
	// left to silence either.
	sil := inc
	sil.Silenced = model.Silenced{ID: "0123456789ab", By: "alice", Until: rt0.Add(2 * time.Hour), Reason: "r"}
	if m = r.incident(sil, "", ""); strings.Contains(allJSON(t, m), "silence add") {
		t.Errorf("silenced incident offers the silence command:\n%s", allJSON(t, m))
	}

	// Only one link configured: one button. None: no actions block.
	r.cfg.GrafanaURL = ""
	if got := blocksOfType(t, r.incident(inc, "", ""), "actions"); len(got) != 1 || strings.Contains(got[0], "reachmon_dashboard") {
		t.Errorf("runbook only: %v", got)
	}
	r.cfg.RunbookURL = ""
	if got := blocksOfType(t, r.incident(inc, "", ""), "actions"); len(got) != 0 {
		t.Errorf("no links, yet: %v", got)
	}
	// A URL longer than Slack takes in a button is left out rather than
	// getting the page refused.
	r.cfg.RunbookURL = "https://wiki.example/" + strings.Repeat("x", 3000)
	if got := blocksOfType(t, r.incident(inc, "", ""), "actions"); len(got) != 0 {
		t.Errorf("an over-long URL made a button: %d blocks", len(got))
	}
}

// TestWebhookModeLinks: incoming-webhook messages carry the runbook and
// the dashboard as links in the context line (no actions block: nothing
// answers Slack's button callbacks), and the silence command.
func TestWebhookModeLinks(t *testing.T) {
	r := renderer{vantage: "fra1", cfg: config.SlackConfig{
		WebhookURLEnv: "W",
		GrafanaURL:    "https://grafana.example/d/reachmon?var-subject={subject}",
		RunbookURL:    "https://wiki.example/runbooks#{kind}",
	}}
	inc := renderIncident(model.IncidentDNSSEC, model.SeverityCritical, "example.org")
	m := r.webhook(notify.Delivery{Kind: notify.KindOpen, Channel: "webhook", Incident: inc, Now: rt0})
	if got := blocksOfType(t, m, "actions"); len(got) != 0 {
		t.Errorf("webhook message has buttons: %v", got)
	}
	ctx := blocksOfType(t, m, "context")
	want := `{"type":"context","elements":[{"type":"mrkdwn","text":"<https://grafana.example/d/reachmon?var-subject=example.org|Grafana dashboard> · ` +
		`<https://wiki.example/runbooks#dnssec_failure|Runbook> · incident ` + "`20261202T150405Z-abc123`" + ` · vantage fra1"}]}`
	if len(ctx) != 1 || ctx[0] != want {
		t.Errorf("context:\n%v\nwant:\n%s", ctx, want)
	}
	if !strings.Contains(allJSON(t, m), "```reachmon silence add --kind dnssec_failure --subject 'example.org' --for 2h") {
		t.Errorf("no silence command:\n%s", allJSON(t, m))
	}
	if strings.HasPrefix(m.text, "<") {
		t.Errorf("webhook page mentions: %q", m.text)
	}
}

// TestSilenceCommandShellQuoting runs the suggested command's arguments
// through real shells: whatever the subject holds, the shell passes it as
// one argument and runs nothing, and the pattern is one reachmon silence
// accepts that matches that subject (and not a longer one).
func TestSilenceCommandShellQuoting(t *testing.T) {
	canary := filepath.Join(t.TempDir(), "ran")
	subjects := []string{
		"example.com",
		"*.example.com",
		"it's.example.com",
		"'; touch " + canary + "; '",
		"$(touch " + canary + ")",
		"`touch " + canary + "`",
		"; touch " + canary,
		`a"b\c`,
		"x[ab]?y",
		"!!",
		"tab\there",
		"line\nbreak",
		"<!channel> & co",
		"192.0.2.0/24",
		"-dash",
		"",
	}
	if got := silenceCommand(renderIncident(model.IncidentBGPOutage, model.SeverityCritical, "it's.example.com")); got !=
		`reachmon silence add --kind bgp_dns_outage --subject 'it'\''s.example.com' --for 2h --reason "..."` {
		t.Errorf("quoted = %s", got)
	}
	for subj, want := range map[string]string{
		"*.example.com":          "?.example.com",
		"x[ab]?y":                "x?ab??y",
		`a"b\c`:                  `a"b?c`,
		"tab\there":              "tab?here",
		"bad\xffutf8":            "bad?utf8",
		strings.Repeat("é", 200): strings.Repeat("é", 127) + "*",
	} {
		if got := subjectPattern(subj); got != want {
			t.Errorf("subjectPattern(%q) = %q, want %q", subj, got, want)
		}
	}
	shells := 0
	for _, sh := range []string{"/bin/sh", "/bin/bash", "/usr/bin/dash"} {
		if _, err := exec.LookPath(sh); err != nil {
			continue
		}
		shells++
		for _, subj := range subjects {
			cmd := silenceCommand(renderIncident(model.IncidentBGPOutage, model.SeverityCritical, subj))
			args, ok := strings.CutPrefix(cmd, "reachmon ")
			if !ok {
				t.Fatalf("command %q", cmd)
			}
			// printf prints each argument NUL-terminated: the argv the
			// reachmon binary would get.
			out, err := exec.Command(sh, "-c", `printf '%s\0' `+args).Output()
			if err != nil {
				t.Errorf("%s: %q: %v", sh, cmd, err)
				continue
			}
			argv := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
			if len(argv) != 10 || strings.Join(argv[:5], " ") != "silence add --kind bgp_dns_outage --subject" ||
				strings.Join(argv[6:], " ") != "--for 2h --reason ..." {
				t.Errorf("%s: %q parsed as %q", sh, cmd, argv)
				continue
			}
			pattern := argv[5]
			if err := checkPattern(pattern); err != "" {
				t.Errorf("%s: pattern %q for %q %s", sh, pattern, subj, err)
			}
			if !globMatches(pattern, subj) {
				t.Errorf("%s: pattern %q does not match subject %q", sh, pattern, subj)
			}
			if globMatches(pattern, subj+"x") || globMatches(pattern, "x"+subj) {
				t.Errorf("%s: pattern %q matches more than %q", sh, pattern, subj)
			}
			// reachmon silence's own matcher agrees.
			if sp := model.SubjectPattern(pattern); sp.Check() != nil || !sp.Match(subj) {
				t.Errorf("%s: reachmon silence refuses %q or it does not match %q: %v", sh, pattern, subj, sp.Check())
			}
		}
	}
	if shells == 0 {
		t.Fatal("no POSIX shell found to check the quoting with")
	}
	if _, err := os.Stat(canary); err == nil {
		t.Error("a shell ran a command hidden in a subject")
	}
}

// checkPattern says why p is not a subject pattern reachmon silence
// accepts (only * and ? are wildcards; no [, ], \, spaces or control
// characters; at most 256 bytes), or "".
func checkPattern(p string) string {
	if len(p) > 256 || !utf8.ValidString(p) {
		return "is too long or not UTF-8"
	}
	for _, r := range p {
		if r == '[' || r == ']' || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return "holds " + strconv.QuoteRune(r)
		}
	}
	return ""
}

// globMatches is the reference matcher of subject patterns: "*" any run,
// "?" one character, anything else itself, case-insensitively.
func globMatches(p, s string) bool {
	var re strings.Builder
	re.WriteString("(?is)^")
	for _, r := range p {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(s)
}

// TestMrkdwnEscaping: Slack's control characters in a subject are
// escaped in the blocks (silence command included) and the fallback, so
// "<!channel>" notifies no one; only the configured mention is raw.
func TestMrkdwnEscaping(t *testing.T) {
	r := botRenderer()
	inc := renderIncident(model.IncidentBGPOutage, model.SeverityCritical, "<!channel> & <b>")
	inc.Affected = []string{inc.Subject}
	m := r.incident(inc, "", "<!here>")
	all := allJSON(t, m)
	for _, w := range []string{
		"*Affected:* &lt;!channel&gt; &amp; &lt;b&gt;",
		"--subject '&lt;!channel&gt;?&amp;?&lt;b&gt;'",
		"of &lt;!channel&gt; &amp; &lt;b&gt; were withdrawn",
		// Plain text is not parsed: the header shows the subject as is.
		`"type":"plain_text","text":":red_circle: CRITICAL · BGP-caused DNS outage: <!channel> & <b>"`,
	} {
		if !strings.Contains(all, w) {
			t.Errorf("blocks lack %q:\n%s", w, all)
		}
	}
	if strings.Count(all, "<!channel>") != 1 {
		t.Errorf("a raw <!channel> outside the plain-text header:\n%s", all)
	}
	want := "<!here> [CRITICAL] BGP-caused DNS outage: &lt;!channel&gt; &amp; &lt;b&gt;: The routes covering the nameservers of &lt;!channel&gt; &amp; &lt;b&gt; were withdrawn."
	if m.text != want {
		t.Errorf("text = %q\nwant   %q", m.text, want)
	}
	// The route's URL buttons take the subject query-escaped.
	if got := blocksOfType(t, m, "actions"); len(got) != 1 || !strings.Contains(got[0], "var-subject=%3C%21channel%3E+%26+%3Cb%3E") {
		t.Errorf("buttons: %v", got)
	}
}

// TestDateTokens: times reachmon knows are Slack date tokens with the UTC
// time as fallback; the plain-text fallback keeps UTC; evaluator prose
// (the recovery line) is left as it is.
func TestDateTokens(t *testing.T) {
	if got := when(rt0); got != "<!date^1796223845^{date_short_pretty} {time_secs}|2026-12-02 15:04:05 UTC>" {
		t.Errorf("when = %s", got)
	}
	if got := clock(rt0); got != "<!date^1796223845^{time_secs}|15:04:05 UTC>" {
		t.Errorf("clock = %s", got)
	}
	if when(time.Time{}) != "-" || clock(time.Time{}) != "-" {
		t.Error("zero time not '-'")
	}
	if got := when(time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)); got != "1969-01-01 00:00:00 UTC" {
		t.Errorf("before 1970: %s", got)
	}
	// Another zone in, UTC out.
	if got := when(rt0.In(time.FixedZone("X", 5*3600))); got != when(rt0) {
		t.Errorf("zone leaked: %s", got)
	}

	r := botRenderer()
	inc := renderIncident(model.IncidentBGPOutage, model.SeverityCritical, "example.com")
	inc.ImpactAt = rt0.Add(5 * time.Minute)
	all := allJSON(t, r.incident(inc, "", ""))
	for _, w := range []string{
		`"*Opened*\n<!date^1796223845^{date_short_pretty} {time_secs}|2026-12-02 15:04:05 UTC>"`,
		`"*Confirmed*\n<!date^1796223875^{date_short_pretty} {time_secs}|2026-12-02 15:04:35 UTC>"`,
		`"*Impact expected*\n<!date^1796224145^{date_short_pretty} {time_secs}|2026-12-02 15:09:05 UTC>"`,
		`*Evidence*\n• <!date^1796223845^{time_secs}|15:04:05 UTC> 192.0.2.0/24 withdrawn`,
	} {
		if !strings.Contains(all, w) {
			t.Errorf("page lacks %s:\n%s", w, all)
		}
	}
	res := inc
	res.State, res.Resolved, res.Recovery = model.StateResolved, rt0.Add(65*time.Minute), "routes re-announced 16:08:00"
	m := r.incident(res, "", "")
	all = allJSON(t, m)
	for _, w := range []string{
		`"*Resolved*\n<!date^1796227745^{date_short_pretty} {time_secs}|2026-12-02 16:09:05 UTC>"`,
		`"*Duration*\n1h 05m"`,
		`"*How it recovered:* routes re-announced 16:08:00"`,
	} {
		if !strings.Contains(all, w) {
			t.Errorf("resolve edit lacks %s:\n%s", w, all)
		}
	}
	if strings.Contains(m.text, "<!date") {
		t.Errorf("fallback text holds a date token: %q", m.text)
	}
	reply := r.threadReply(notify.Delivery{Kind: notify.KindResolve, Channel: "#dns", Incident: res, Now: res.Resolved}, "")
	if got := blockJSON(t, reply.blocks[0]); got != `{"type":"section","text":{"type":"mrkdwn","text":":white_check_mark: *Resolved* at <!date^1796227745^{date_short_pretty} {time_secs}|2026-12-02 16:09:05 UTC> after 1h 05m"}}` {
		t.Errorf("resolve reply head: %s", got)
	}
	rem := r.threadReply(notify.Delivery{Kind: notify.KindReminder, Channel: "#dns", Incident: inc, Now: rt0.Add(2 * time.Hour)}, "")
	if got := blockJSON(t, rem.blocks[0]); got != `{"type":"section","text":{"type":"mrkdwn","text":":rotating_light: *Still open* after 2h 00m (since <!date^1796223845^{date_short_pretty} {time_secs}|2026-12-02 15:04:05 UTC>)"}}` {
		t.Errorf("reminder head: %s", got)
	}
	test := r.test(rt0)
	if got := blockJSON(t, test.blocks[1]); got != `{"type":"section","text":{"type":"mrkdwn","text":"reachmon test message from vantage fra1 at <!date^1796223845^{date_short_pretty} {time_secs}|2026-12-02 15:04:05 UTC>: if you can read this, reachmon can page this channel."}}` {
		t.Errorf("test message: %s", got)
	}
	if test.text != "reachmon test message from vantage fra1 at 2026-12-02 15:04:05 UTC: if you can read this, reachmon can page this channel." {
		t.Errorf("test fallback: %q", test.text)
	}
}

// TestEvidenceNeverCutsAToken: a timeline longer than a section ends with
// whole lines and a count of those left out.
func TestEvidenceNeverCutsAToken(t *testing.T) {
	var items []model.EvidenceItem
	for i := range maxEvidence {
		items = append(items, model.EvidenceItem{Time: rt0.Add(time.Duration(i) * time.Second), Text: strings.Repeat("&", 400)})
	}
	ev := evidence(items, "Evidence")
	if len(ev) > maxSectionText {
		t.Fatalf("%d characters", len(ev))
	}
	lines := strings.Split(ev, "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "… and ") || !strings.HasSuffix(last, " more (see the incident in the API)") {
		t.Errorf("last line %q", last)
	}
	for _, l := range lines[1 : len(lines)-1] {
		if !strings.HasPrefix(l, "• <!date^") || !strings.HasSuffix(l, "&amp;") || strings.Count(l, "&amp;") != 400 {
			t.Errorf("line cut: %.80q…%q", l, l[len(l)-10:])
		}
	}
	shown := len(lines) - 2
	if want := "… and " + strconv.Itoa(maxEvidence-shown) + " more (see the incident in the API)"; last != want {
		t.Errorf("last line %q, want %q", last, want)
	}
}

// TestMentionDecision: which deliveries carry the route's mention.
func TestMentionDecision(t *testing.T) {
	r := botRenderer()
	const want = "<!subteam^S0123ABC> <@U0123ABC>" // spaces normalised
	crit := renderIncident(model.IncidentBGPOutage, model.SeverityCritical, "example.com")
	warn := renderIncident(model.IncidentBGPOutage, model.SeverityWarning, "example.com")
	resolved := crit
	resolved.State = model.StateResolved
	for _, tc := range []struct {
		name string
		d    notify.Delivery
		want string
	}{
		{"critical page", notify.Delivery{Kind: notify.KindOpen, Channel: "#dns", Incident: crit, Reason: "first notification"}, want},
		{"critical page after a quiet start", notify.Delivery{Kind: notify.KindOpen, Channel: "#dns", Incident: crit, Reason: "first notification: now pages"}, want},
		{"upgrade", notify.Delivery{Kind: notify.KindUpdate, Channel: "#dns", Incident: crit, Reason: "severity warning -> critical"}, want},
		{"upgrade among causes", notify.Delivery{Kind: notify.KindUpdate, Channel: "#dns", Incident: crit, Reason: "reclassified from authoritative_outage; severity info -> critical"}, want},
		{"other update", notify.Delivery{Kind: notify.KindUpdate, Channel: "#dns", Incident: crit, Reason: "newly affected: resolvers r1"}, ""},
		{"raised since the last message (held updates folded)", notify.Delivery{Kind: notify.KindUpdate, Channel: "#dns", Incident: crit, Previous: warn, Reason: "newly affected: resolvers r1"}, want},
		{"critical already in the last message", notify.Delivery{Kind: notify.KindUpdate, Channel: "#dns", Incident: crit, Previous: crit, Reason: "severity warning -> critical"}, ""},
		{"a cause merely naming it", notify.Delivery{Kind: notify.KindUpdate, Channel: "#dns", Incident: crit, Reason: "root cause: severity warning -> critical"}, ""},
		{"reminder", notify.Delivery{Kind: notify.KindReminder, Channel: "#dns", Incident: crit, Reason: "repeat interval"}, ""},
		{"resolve", notify.Delivery{Kind: notify.KindResolve, Channel: "#dns", Incident: resolved, Reason: "resolved"}, ""},
		{"warning page", notify.Delivery{Kind: notify.KindOpen, Channel: "#dns", Incident: warn, Reason: "first notification"}, ""},
		{"downgrade", notify.Delivery{Kind: notify.KindUpdate, Channel: "#dns", Incident: warn, Reason: "severity critical -> warning"}, ""},
		{"default channel", notify.Delivery{Kind: notify.KindOpen, Channel: "#alerts", Incident: crit, Reason: "first notification"}, ""},
	} {
		if got := r.mention(tc.d); got != tc.want {
			t.Errorf("%s: mention %q, want %q", tc.name, got, tc.want)
		}
	}
}
