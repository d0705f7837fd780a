package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// SlackConfig configures paging through Slack; a section with neither a
// token nor a webhook URL means no paging.
//
//	[slack]
//	token_env = "REACHMON_SLACK_TOKEN"   # bot token (chat:write; channels:history for exactly-once after timeouts); or token_file
//	# webhook_url_env = "REACHMON_SLACK_WEBHOOK"   # incoming webhook instead of a bot token; or webhook_url_file
//	api_url = "https://slack.com/api/"   # Web API base URL (proxies, Enterprise Grid, tests)
//	channel = "C0123456789"              # default channel: an ID (best) or "#name"
//	repeat_interval = "0s"               # remind about incidents still open this often; 0: never (default)
//	min_update_interval = "1m"           # least time between an incident's update (thread reply) and its previous message
//	grafana_url = "https://grafana.example/d/reachmon?var-subject={subject}"
//	runbook_url = "https://wiki.example/runbooks/reachmon#{kind}"
//	rate = 1.0                           # messages per second per channel (Slack allows about 1)
//	timeout = "10s"                      # per Slack API request
//	max_backoff = "5m"                   # longest wait between retries
//
//	[[slack.route]]                      # first match wins; no match: channel
//	monitor_health = true                # feed_lost, vantage_down: the monitor's own problems
//	channel = "C0MONITOR01"
//
//	[[slack.route]]
//	severities = ["critical"]
//	kinds = ["bgp_dns_outage", "dnssec_failure"]
//	channel = "#dns-pages"
//	mention = "<!subteam^S0123ABC>"      # notified on critical pages of this route
//
// Links may hold {id}, {kind}, {severity} and {subject}, replaced by the
// incident's values (query-escaped).
type SlackConfig struct {
	// TokenEnv / TokenFile name where the bot token is read from.
	TokenEnv  string `toml:"token_env"`
	TokenFile string `toml:"token_file"`
	// WebhookURLEnv / WebhookURLFile name where an incoming-webhook URL is.
	WebhookURLEnv  string `toml:"webhook_url_env"`
	WebhookURLFile string `toml:"webhook_url_file"`
	// APIURL overrides Slack's Web API base URL (proxies, tests).
	APIURL string `toml:"api_url"`
	// Channel is the default channel (bot-token mode), or a label for the
	// webhook's channel in metrics and logs (webhook mode).
	Channel string       `toml:"channel"`
	Route   []SlackRoute `toml:"route"`
	// RepeatInterval re-notifies incidents still open this long after the
	// last message about them; 0 (default) never does.
	RepeatInterval Duration `toml:"repeat_interval"`
	// MinUpdateInterval is the least time between an update message
	// (a thread reply) about an incident and the message before it, the
	// page included (default 1m): an update due sooner is held and sent
	// when the interval ends, with whatever changed meanwhile. Severity
	// changes and the resolve are never held.
	MinUpdateInterval Duration `toml:"min_update_interval"`
	GrafanaURL        string   `toml:"grafana_url"`
	RunbookURL        string   `toml:"runbook_url"`
	// Rate is the most messages per second sent to one channel (default 1).
	Rate float64 `toml:"rate"`
	// Timeout bounds one Slack API request (default 10s).
	Timeout Duration `toml:"timeout"`
	// MaxBackoff bounds the wait between retries (default 5m).
	MaxBackoff Duration `toml:"max_backoff"`
}

// SlackRoute sends matching incidents to Channel. Every set condition must
// match; a route with none matches every incident.
type SlackRoute struct {
	// Severities and Kinds are model.Severity and model.IncidentKind values.
	Severities []string `toml:"severities"`
	Kinds      []string `toml:"kinds"`
	// MonitorHealth, when set, matches incidents whose kind is (true) or
	// is not (false) about the monitor itself.
	MonitorHealth *bool  `toml:"monitor_health"`
	Channel       string `toml:"channel"`
	// Mention is prefixed to the critical pages of incidents this route
	// routes, and to their upgrades to critical: one or more of
	// "<!subteam^S0123ABC>" (a user group), "<@U0123ABC>" (a user),
	// "<!here>", "<!channel>", separated by spaces. Never to updates,
	// reminders, resolves or warnings.
	Mention string `toml:"mention"`
}

// Slack defaults.
const (
	DefaultSlackRate       = 1.0
	DefaultSlackTimeout    = 10 * time.Second
	DefaultSlackMaxBackoff = 5 * time.Minute
	// MinSlackRepeatInterval is the shortest repeat interval accepted.
	MinSlackRepeatInterval = time.Minute
	// DefaultSlackMinUpdateInterval spaces the updates of one incident;
	// MaxSlackMinUpdateInterval is the longest spacing accepted.
	DefaultSlackMinUpdateInterval = time.Minute
	MaxSlackMinUpdateInterval     = time.Hour
	// SlackWebhookChannel labels the webhook's channel when none is set.
	SlackWebhookChannel = "webhook"
)

// Enabled reports whether Slack paging is configured.
func (s SlackConfig) Enabled() bool { return s.BotMode() || s.WebhookMode() }

// BotMode reports whether a bot token is configured (Web API mode).
func (s SlackConfig) BotMode() bool { return s.TokenEnv != "" || s.TokenFile != "" }

// WebhookMode reports whether an incoming webhook is configured instead
// of a bot token.
func (s SlackConfig) WebhookMode() bool {
	return !s.BotMode() && (s.WebhookURLEnv != "" || s.WebhookURLFile != "")
}

// Token reads the bot token from its environment variable or file.
func (s SlackConfig) Token() (string, error) {
	v, err := Secret(s.TokenEnv, s.TokenFile)
	if err != nil {
		return "", fmt.Errorf("slack token: %w", err)
	}
	return v, nil
}

// WebhookURL reads the incoming-webhook URL from its environment variable
// or file.
func (s SlackConfig) WebhookURL() (string, error) {
	v, err := Secret(s.WebhookURLEnv, s.WebhookURLFile)
	if err != nil {
		return "", fmt.Errorf("slack webhook URL: %w", err)
	}
	// The URL is a secret: the message names where it came from, not it.
	if !isHTTPURL(v) {
		return "", fmt.Errorf("slack webhook URL (%s): not an http(s) URL", secretSource(s.WebhookURLEnv, s.WebhookURLFile))
	}
	if !isSecureURL(v) {
		return "", fmt.Errorf("slack webhook URL (%s): use https (plain http only to a loopback address: 127.0.0.0/8, ::1, localhost)",
			secretSource(s.WebhookURLEnv, s.WebhookURLFile))
	}
	return v, nil
}

// RatePerSecond is the per-channel message rate, default applied.
func (s SlackConfig) RatePerSecond() float64 {
	if s.Rate <= 0 {
		return DefaultSlackRate
	}
	return s.Rate
}

// RequestTimeout is the per-request timeout, default applied.
func (s SlackConfig) RequestTimeout() time.Duration {
	if s.Timeout.Duration <= 0 {
		return DefaultSlackTimeout
	}
	return s.Timeout.Duration
}

// UpdateInterval is the least time between two updates of one incident,
// default applied.
func (s SlackConfig) UpdateInterval() time.Duration {
	if s.MinUpdateInterval.Duration <= 0 {
		return DefaultSlackMinUpdateInterval
	}
	return s.MinUpdateInterval.Duration
}

// MaxRetryBackoff is the longest wait between retries, default applied.
func (s SlackConfig) MaxRetryBackoff() time.Duration {
	if s.MaxBackoff.Duration <= 0 {
		return DefaultSlackMaxBackoff
	}
	return s.MaxBackoff.Duration
}

// ChannelFor routes an incident: the channel of the first matching route,
// else Channel. In webhook mode it is the webhook's label.
func (s SlackConfig) ChannelFor(kind model.IncidentKind, sev model.Severity) string {
	if s.WebhookMode() {
		if s.Channel != "" {
			return s.Channel
		}
		return SlackWebhookChannel
	}
	for _, r := range s.Route {
		if r.Matches(kind, sev) {
			return r.Channel
		}
	}
	return s.Channel
}

// Channels lists every channel incidents can be routed to, default first.
func (s SlackConfig) Channels() []string {
	out := []string{s.ChannelFor("", "")}
	if s.WebhookMode() {
		return out
	}
	for _, r := range s.Route {
		dup := false
		for _, c := range out {
			dup = dup || c == r.Channel
		}
		if !dup {
			out = append(out, r.Channel)
		}
	}
	return out
}

// Matches reports whether the route applies to an incident of kind and
// severity.
func (r SlackRoute) Matches(kind model.IncidentKind, sev model.Severity) bool {
	if r.MonitorHealth != nil && *r.MonitorHealth != kind.MonitorHealth() {
		return false
	}
	if len(r.Kinds) > 0 && !slackContains(r.Kinds, string(kind)) {
		return false
	}
	if len(r.Severities) > 0 && !slackContains(r.Severities, string(sev)) {
		return false
	}
	return true
}

// MentionFor is the mention of a critical message about an incident of
// kind in channel (the channel the incident was routed to): that of the
// first route to channel matching kind at severity sev, else (the
// incident was routed when it was less severe, by a route limited to
// lower severities) that of the first route to channel matching kind at
// any severity; "" when no route to channel matches (the default
// channel) or in webhook mode.
func (s SlackConfig) MentionFor(channel string, kind model.IncidentKind, sev model.Severity) string {
	if s.WebhookMode() {
		return ""
	}
	for _, r := range s.Route {
		if r.Channel == channel && r.Matches(kind, sev) {
			return r.Mention
		}
	}
	for _, r := range s.Route {
		if r.Channel != channel {
			continue
		}
		for _, v := range model.Severities {
			if r.Matches(kind, v) {
				return r.Mention
			}
		}
	}
	return ""
}

// Link expands a link template (GrafanaURL, RunbookURL) for an incident.
func (s SlackConfig) Link(tmpl string, inc model.Incident) string {
	if tmpl == "" {
		return ""
	}
	return strings.NewReplacer(
		"{id}", url.QueryEscape(inc.ID),
		"{kind}", url.QueryEscape(string(inc.Kind)),
		"{severity}", url.QueryEscape(string(inc.Severity)),
		"{subject}", url.QueryEscape(inc.Subject),
	).Replace(tmpl)
}

func slackContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// slackChannelRe accepts a channel ID ("C0123ABCD") or "#name".
var slackChannelRe = regexp.MustCompile(`^(?:[CGD][A-Z0-9]{6,}|#[a-z0-9][a-z0-9._-]{0,79})$`)

func (s *SlackConfig) validate(e *Errors) {
	s.validateCredentials(e)
	s.validateLinks(e)
	s.validateTimings(e)
	for i, r := range s.Route {
		r.validate(fmt.Sprintf("slack.route[%d]", i), e)
	}
	s.validateDestination(e)
}

// validateCredentials: one way to authenticate, a bot token or an
// incoming webhook, and an API URL only for a bot token.
func (s *SlackConfig) validateCredentials(e *Errors) {
	if s.TokenEnv != "" && s.TokenFile != "" {
		e.add("slack: set token_env or token_file, not both")
	}
	if s.WebhookURLEnv != "" && s.WebhookURLFile != "" {
		e.add("slack: set webhook_url_env or webhook_url_file, not both")
	}
	if s.BotMode() && (s.WebhookURLEnv != "" || s.WebhookURLFile != "") {
		e.add("slack: set a bot token (token_env/token_file) or an incoming webhook (webhook_url_env/webhook_url_file), not both")
	}
	if s.APIURL != "" {
		if !isHTTPURL(s.APIURL) {
			e.add("slack.api_url: %q is not an http(s) URL", s.APIURL)
		} else if !isSecureURL(s.APIURL) {
			e.add("slack.api_url: %q: use https (plain http only to a loopback address: 127.0.0.0/8, ::1, localhost); the bot token travels in every request", s.APIURL)
		} else if s.WebhookMode() {
			e.add("slack.api_url: only used with a bot token (an incoming webhook has its own URL)")
		}
	}
}

// validateLinks checks the link templates messages carry.
func (s *SlackConfig) validateLinks(e *Errors) {
	for _, k := range []struct{ key, v string }{{"grafana_url", s.GrafanaURL}, {"runbook_url", s.RunbookURL}} {
		if k.v != "" && !isHTTPURL(k.v) {
			e.add("slack.%s: %q is not an http(s) URL", k.key, k.v)
		}
	}
}

// validateTimings checks the intervals, rate and timeouts (zero: default).
func (s *SlackConfig) validateTimings(e *Errors) {
	if s.RepeatInterval.Duration < 0 {
		e.add("slack.repeat_interval: must not be negative")
	} else if s.RepeatInterval.Duration > 0 && s.RepeatInterval.Duration < MinSlackRepeatInterval {
		e.add("slack.repeat_interval: %s is shorter than %s (0 turns reminders off)", s.RepeatInterval.Duration, MinSlackRepeatInterval)
	}
	if s.MinUpdateInterval.Duration < 0 {
		e.add("slack.min_update_interval: must not be negative")
	} else if s.MinUpdateInterval.Duration > MaxSlackMinUpdateInterval {
		e.add("slack.min_update_interval: %s is longer than %s (updates would wait too long)", s.MinUpdateInterval.Duration, MaxSlackMinUpdateInterval)
	}
	if s.Rate < 0 || s.Rate > 10 {
		e.add("slack.rate: %g is outside 0..10 messages per second (0: default %g)", s.Rate, DefaultSlackRate)
	}
	if s.Timeout.Duration < 0 {
		e.add("slack.timeout: must not be negative")
	}
	if s.MaxBackoff.Duration < 0 {
		e.add("slack.max_backoff: must not be negative")
	}
}

// validate checks one route, found under key.
func (r SlackRoute) validate(key string, e *Errors) {
	if r.Channel == "" {
		e.add("%s.channel: must not be empty", key)
	} else if !slackChannelRe.MatchString(r.Channel) {
		e.add("%s.channel: %q is neither a channel ID (C0123456789) nor #name", key, r.Channel)
	}
	for j, k := range r.Kinds {
		if !slackValidKind(k) {
			e.add("%s.kinds[%d]: %q is not an incident kind (%s)", key, j, k, slackKindList())
		}
	}
	for j, sv := range r.Severities {
		if model.Severity(sv).Rank() == 0 {
			e.add("%s.severities[%d]: %q is not one of critical, warning, info", key, j, sv)
		}
	}
	if r.Mention != "" && !validMention(r.Mention) {
		e.add("%s.mention: %q is not a Slack mention; accepted: \"<!subteam^S0123ABC>\" (a user group, by ID), "+
			"\"<@U0123ABC>\" (a user, by ID), \"<!here>\", \"<!channel>\", several (at most 10) separated by spaces "+
			"(a name such as \"@oncall\" does not notify anyone)", key, r.Mention)
	}
}

// mentionRe is one mention in Slack's message syntax: a user group or a
// user by ID, or @here / @channel.
var mentionRe = regexp.MustCompile(`^(?:<!subteam\^S[A-Z0-9]{2,20}>|<@[UW][A-Z0-9]{2,20}>|<!here>|<!channel>)$`)

// maxMentions bounds the mentions of one route.
const maxMentions = 10

// validMention reports whether s is one or more mentions separated by
// spaces.
func validMention(s string) bool {
	parts := strings.Fields(s)
	if len(parts) == 0 || len(parts) > maxMentions {
		return false
	}
	for _, p := range parts {
		if !mentionRe.MatchString(p) {
			return false
		}
	}
	return true
}

// validateDestination checks where messages go as the mode allows: no
// channel without credentials, one channel label and no routes with a
// webhook, a channel with a bot token.
func (s *SlackConfig) validateDestination(e *Errors) {
	if !s.Enabled() {
		if s.Channel != "" || len(s.Route) > 0 {
			e.add("slack: channel or routes are set but neither token_env/token_file nor webhook_url_env/webhook_url_file is")
		}
		return
	}
	if s.WebhookMode() {
		if len(s.Route) > 0 {
			e.add("slack.route: routing needs a bot token (an incoming webhook posts to one channel)")
		}
		if s.Channel != "" && !labelSafe(strings.TrimPrefix(s.Channel, "#")) {
			e.add("slack.channel: %q may hold only letters, digits, '-', '_' and '.' after an optional '#'", s.Channel)
		}
		return
	}
	if s.Channel == "" {
		e.add("slack.channel: must be set with a bot token (a channel ID such as C0123456789, or #name)")
	} else if !slackChannelRe.MatchString(s.Channel) {
		e.add("slack.channel: %q is neither a channel ID (C0123456789) nor #name", s.Channel)
	}
}

// isHTTPURL reports whether s is an absolute http or https URL.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// isSecureURL reports whether the http(s) URL s is https, or http to a
// loopback address, where plain http crosses no network (tests, a local
// proxy).
func isSecureURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	return u.Scheme == "https" || u.Scheme == "http" && IsLoopbackHost(u.Hostname())
}

// secretSource names where a secret is read from, for messages that must
// not hold the secret itself.
func secretSource(env, file string) string {
	if env != "" {
		return "environment variable " + env
	}
	return "file " + file
}

func slackValidKind(k string) bool {
	for _, x := range model.IncidentKinds {
		if string(x) == k {
			return true
		}
	}
	return false
}

func slackKindList() string {
	var b strings.Builder
	for i, k := range model.IncidentKinds {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(k))
	}
	return b.String()
}
