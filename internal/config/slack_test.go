package config

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/reachmon/reachmon/internal/model"
)

func parseSlack(t *testing.T, src string) SlackConfig {
	t.Helper()
	var doc struct {
		Slack SlackConfig `toml:"slack"`
	}
	md, err := toml.Decode(src, &doc)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("undecoded keys: %v", u)
	}
	return doc.Slack
}

func TestSlackConfigValid(t *testing.T) {
	s := parseSlack(t, `
[slack]
token_env = "REACHMON_SLACK_TOKEN"
api_url = "http://127.0.0.1:8080/api/"
channel = "C0123456789"
repeat_interval = "4h"
grafana_url = "https://grafana.example/d/x?var-subject={subject}"
runbook_url = "https://wiki.example/{kind}"
rate = 0.5
timeout = "5s"
max_backoff = "2m"
min_update_interval = "30s"

[[slack.route]]
monitor_health = true
channel = "#reachmon-health"

[[slack.route]]
severities = ["critical"]
kinds = ["bgp_dns_outage", "dnssec_failure"]
channel = "#dns-pages"
`)
	e := &Errors{}
	s.validate(e)
	if len(e.List) > 0 {
		t.Fatalf("errors: %v", e.List)
	}
	if !s.BotMode() || s.WebhookMode() || s.RatePerSecond() != 0.5 || s.RequestTimeout() != 5*time.Second ||
		s.MaxRetryBackoff() != 2*time.Minute || s.RepeatInterval.Duration != 4*time.Hour || s.UpdateInterval() != 30*time.Second {
		t.Errorf("decoded: %+v", s)
	}
	for _, tc := range []struct {
		kind model.IncidentKind
		sev  model.Severity
		want string
	}{
		{model.IncidentFeedLost, model.SeverityCritical, "#reachmon-health"},
		{model.IncidentVantageDown, model.SeverityWarning, "#reachmon-health"},
		{model.IncidentBGPOutage, model.SeverityCritical, "#dns-pages"},
		{model.IncidentBGPOutage, model.SeverityWarning, "C0123456789"},
		{model.IncidentHijack, model.SeverityCritical, "C0123456789"},
	} {
		if got := s.ChannelFor(tc.kind, tc.sev); got != tc.want {
			t.Errorf("ChannelFor(%s, %s) = %s, want %s", tc.kind, tc.sev, got, tc.want)
		}
	}
	if got := strings.Join(s.Channels(), " "); got != "C0123456789 #reachmon-health #dns-pages" {
		t.Errorf("Channels = %s", got)
	}
	inc := model.Incident{ID: "a b", Kind: model.IncidentDNSSEC, Subject: "slack.com"}
	if got := s.Link(s.GrafanaURL, inc); got != "https://grafana.example/d/x?var-subject=slack.com" {
		t.Errorf("Link = %s", got)
	}
}

func TestSlackConfigDefaults(t *testing.T) {
	var s SlackConfig
	if s.Enabled() || s.RatePerSecond() != 1 || s.RequestTimeout() != 10*time.Second || s.MaxRetryBackoff() != 5*time.Minute || s.RepeatInterval.Duration != 0 ||
		s.UpdateInterval() != time.Minute {
		t.Errorf("defaults: %+v", s)
	}
	e := &Errors{}
	s.validate(e)
	if len(e.List) > 0 {
		t.Errorf("empty section: %v", e.List)
	}
	w := SlackConfig{WebhookURLFile: "/run/secrets/hook"}
	if !w.WebhookMode() || w.ChannelFor(model.IncidentFeedLost, model.SeverityCritical) != "webhook" {
		t.Errorf("webhook channel label = %s", w.ChannelFor(model.IncidentFeedLost, model.SeverityCritical))
	}
}

func TestSlackConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string
	}{
		{"both secrets forms", `token_env = "A"
token_file = "/x"
channel = "#a"`, []string{"slack: set token_env or token_file, not both"}},
		{"token and webhook", `token_env = "A"
webhook_url_env = "B"
channel = "#a"`, []string{"slack: set a bot token (token_env/token_file) or an incoming webhook (webhook_url_env/webhook_url_file), not both"}},
		{"no channel", `token_env = "A"`, []string{"slack.channel: must be set with a bot token (a channel ID such as C0123456789, or #name)"}},
		{"bad channel", `token_env = "A"
channel = "alerts"`, []string{`slack.channel: "alerts" is neither a channel ID (C0123456789) nor #name`}},
		{"channel without secret", `channel = "#a"`, []string{"slack: channel or routes are set but neither token_env/token_file nor webhook_url_env/webhook_url_file is"}},
		{"bad values", `token_env = "A"
channel = "#a"
api_url = "ftp://x"
grafana_url = "grafana"
repeat_interval = "30s"
rate = 20.0
timeout = "-1s"
min_update_interval = "2h"`, []string{
			`slack.api_url: "ftp://x" is not an http(s) URL`,
			`slack.grafana_url: "grafana" is not an http(s) URL`,
			"slack.repeat_interval: 30s is shorter than 1m0s (0 turns reminders off)",
			"slack.min_update_interval: 2h0m0s is longer than 1h0m0s (updates would wait too long)",
			"slack.rate: 20 is outside 0..10 messages per second (0: default 1)",
			"slack.timeout: must not be negative",
		}},
		{"negative update interval", `token_env = "A"
channel = "#a"
min_update_interval = "-1s"`, []string{"slack.min_update_interval: must not be negative"}},
		{"bad route", `token_env = "A"
channel = "#a"
[[slack.route]]
kinds = ["outage"]
severities = ["page"]`, []string{
			"slack.route[0].channel: must not be empty",
			`slack.route[0].kinds[0]: "outage" is not an incident kind (` + kindList() + `)`,
			`slack.route[0].severities[0]: "page" is not one of critical, warning, info`,
		}},
		{"webhook with routes and api_url", `webhook_url_env = "B"
api_url = "https://proxy.example/api/"
[[slack.route]]
channel = "#b"`, []string{
			"slack.api_url: only used with a bot token (an incoming webhook has its own URL)",
			"slack.route: routing needs a bot token (an incoming webhook posts to one channel)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := parseSlack(t, "[slack]\n"+tc.src)
			e := &Errors{}
			s.validate(e)
			if got, want := strings.Join(e.List, "\n"), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("errors:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestSlackThroughParse checks the [slack] section as the loader sees it:
// routes decode, an inline token is refused with a pointer to the _env and
// _file keys, and errors carry their key paths.
func TestSlackThroughParse(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
[slack]
token_env = "REACHMON_SLACK_TOKEN"
channel = "C0DEFAULT01"
[[slack.route]]
monitor_health = true
channel = "C0MONITOR01"
`))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Slack.Enabled() || len(cfg.Slack.Route) != 1 || cfg.Slack.Route[0].Channel != "C0MONITOR01" {
		t.Errorf("slack = %+v", cfg.Slack)
	}
	_, err = Parse("t.toml", []byte(`
[slack]
token = "xoxb-inline"
webhook_url = "https://hooks.slack.com/services/x"
[[slack.route]]
kinds = ["outage"]
`))
	if err == nil {
		t.Fatal("inline secrets accepted")
	}
	for _, w := range []string{
		"slack.token: secrets are not accepted in the config file; use slack.token_env",
		"slack.webhook_url: secrets are not accepted in the config file; use slack.webhook_url_env",
		`slack.route[0].kinds[0]: "outage"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "xoxb-inline") {
		t.Error("the inline token is echoed in the error")
	}
}

// The bot token travels in every Web API request and the webhook URL is
// itself the secret: plain http is refused except to a loopback address.
func TestSlackURLsNeedHTTPS(t *testing.T) {
	for _, tc := range []struct {
		url    string
		secure bool
	}{
		{"https://slack.com/api/", true},
		{"http://127.0.0.1:8080/api/", true},
		{"http://127.4.5.6/api/", true},
		{"http://[::1]:8080/api/", true},
		{"http://localhost:8080/api/", true},
		{"http://slack-proxy.example/api/", false},
		{"http://10.0.0.1/api/", false},
		{"http://[::ffff:10.0.0.1]/api/", false},
		{"http://localhost.evil.example/api/", false},
	} {
		_, err := Parse("t.toml", []byte("[slack]\ntoken_env = \"T\"\nchannel = \"#a\"\napi_url = \""+tc.url+"\"\n"))
		want := `slack.api_url: "` + tc.url + `": use https (plain http only to a loopback address`
		if tc.secure && err != nil {
			t.Errorf("api_url %s refused: %v", tc.url, err)
		}
		if !tc.secure && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("api_url %s: error %v, want %q", tc.url, err, want)
		}

		t.Setenv("REACHMON_TEST_WEBHOOK", tc.url)
		_, err = SlackConfig{WebhookURLEnv: "REACHMON_TEST_WEBHOOK"}.WebhookURL()
		if tc.secure && err != nil {
			t.Errorf("webhook %s refused: %v", tc.url, err)
		}
		if !tc.secure && (err == nil || !strings.Contains(err.Error(), "slack webhook URL (environment variable REACHMON_TEST_WEBHOOK): use https")) {
			t.Errorf("webhook %s: error %v, want a refusal naming where the URL came from", tc.url, err)
		}
		if err != nil && strings.Contains(err.Error(), tc.url) {
			t.Errorf("the webhook URL is a secret; the error shows it: %v", err)
		}
	}
}

// TestSlackRouteMention checks the forms a route's mention accepts, the
// error naming the route and showing them, and which route's mention a
// critical message gets.
func TestSlackRouteMention(t *testing.T) {
	accepted := `accepted: "<!subteam^S0123ABC>" (a user group, by ID), "<@U0123ABC>" (a user, by ID), "<!here>", "<!channel>", ` +
		`several (at most 10) separated by spaces (a name such as "@oncall" does not notify anyone)`
	for _, m := range []string{"<!subteam^S0123ABC>", "<@U0123ABC>", "<@W0123ABC>", "<!here>", "<!channel>", "<!subteam^S0123ABC> <@U0123ABC>"} {
		if !validMention(m) {
			t.Errorf("%q refused", m)
		}
	}
	for _, m := range []string{"@oncall", "<!subteam^oncall>", "<@u0123abc>", "<!everyone>", "<!subteam^S0123ABC|@oncall>",
		"<!here> @oncall", "<!here><!channel>", " ", "<!date^1^{time}|x>", strings.Repeat("<!here> ", 11)} {
		if validMention(m) {
			t.Errorf("%q accepted", m)
		}
	}
	_, err := Parse("t.toml", []byte(`
[slack]
token_env = "REACHMON_SLACK_TOKEN"
channel = "C0DEFAULT01"
[[slack.route]]
channel = "#dns"
mention = "<!here>"
[[slack.route]]
channel = "#dns-pages"
mention = "@dns-oncall"
`))
	want := `slack.route[1].mention: "@dns-oncall" is not a Slack mention; ` + accepted
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v\nwant it to hold %s", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "route[0]") {
		t.Errorf("a valid mention refused: %v", err)
	}

	s := parseSlack(t, `
[slack]
token_env = "A"
channel = "C0DEFAULT01"
[[slack.route]]
kinds = ["dnssec_failure"]
severities = ["warning"]
channel = "#dns-warn"
mention = "<@U0WARN01>"
[[slack.route]]
kinds = ["dnssec_failure"]
severities = ["critical"]
channel = "#dns-pages"
mention = "<!subteam^S0PAGES1>"
[[slack.route]]
kinds = ["bgp_dns_outage"]
channel = "#dns-pages"
mention = "<!here>"
[[slack.route]]
monitor_health = true
channel = "#dns-pages"
`)
	for _, tc := range []struct {
		channel string
		kind    model.IncidentKind
		want    string
	}{
		{"#dns-pages", model.IncidentDNSSEC, "<!subteam^S0PAGES1>"},
		// Routed to #dns-warn while a warning: that route's mention.
		{"#dns-warn", model.IncidentDNSSEC, "<@U0WARN01>"},
		{"#dns-pages", model.IncidentBGPOutage, "<!here>"},
		// A route without a mention, and the default channel.
		{"#dns-pages", model.IncidentFeedLost, ""},
		{"C0DEFAULT01", model.IncidentHijack, ""},
		{"C0DEFAULT01", model.IncidentDNSSEC, ""},
	} {
		if got := s.MentionFor(tc.channel, tc.kind, model.SeverityCritical); got != tc.want {
			t.Errorf("MentionFor(%s, %s) = %q, want %q", tc.channel, tc.kind, got, tc.want)
		}
	}
	w := SlackConfig{WebhookURLEnv: "B", Route: []SlackRoute{{Channel: "webhook", Mention: "<!here>"}}}
	if got := w.MentionFor("webhook", model.IncidentDNSSEC, model.SeverityCritical); got != "" {
		t.Errorf("webhook mode mention = %q", got)
	}
}
