package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// AlertmanagerConfig is one [[alertmanager]] target: an Alertmanager, or
// a cluster of them (every alert is posted to every URL, as Prometheus
// does; the cluster deduplicates).
//
//	[[alertmanager]]
//	name = "default"                      # unique; the sink's name in metrics and its state directory
//	urls = ["http://127.0.0.1:9093"]      # several: the members of one cluster
//	timeout = "10s"                       # per request
//	resend_interval = "1m"                # firing alerts are re-sent this often; keep it below Alertmanager's resolve_timeout (default 5m)
//	max_backoff = "5m"                    # longest wait between retries
//	runbook_url = "https://wiki.example/runbooks/reachmon#{kind}"      # default: [slack] runbook_url
//	dashboard_url = "https://grafana.example/d/reachmon?var-subject={subject}"   # default: [slack] grafana_url
//	# bearer_token_env = "REACHMON_AM_TOKEN"   # Authorization: Bearer; or bearer_token_file
type AlertmanagerConfig struct {
	Name           string   `toml:"name"`
	URLs           []string `toml:"urls"`
	Timeout        Duration `toml:"timeout"`
	ResendInterval Duration `toml:"resend_interval"`
	MaxBackoff     Duration `toml:"max_backoff"`
	RunbookURL     string   `toml:"runbook_url"`
	DashboardURL   string   `toml:"dashboard_url"`
	// BearerTokenEnv / BearerTokenFile name where the bearer token sent
	// in the Authorization header is read from (optional).
	BearerTokenEnv  string `toml:"bearer_token_env"`
	BearerTokenFile string `toml:"bearer_token_file"`
}

// WebhookConfig is one [[webhook]]: every incident change is posted as a
// JSON document (schema reachmon.webhook/v1), signed with HMAC-SHA256.
//
//	[[webhook]]
//	name = "teams-bridge"                 # unique; the sink's name in metrics and its state directory
//	url = "https://hooks.example/reachmon"   # https (plain http only to a loopback address)
//	secret_env = "REACHMON_WEBHOOK_SECRET"   # HMAC key for X-Reachmon-Signature; or secret_file
//	timeout = "10s"                       # per request
//	max_backoff = "5m"                    # longest wait between retries
type WebhookConfig struct {
	Name       string   `toml:"name"`
	URL        string   `toml:"url"`
	SecretEnv  string   `toml:"secret_env"`
	SecretFile string   `toml:"secret_file"`
	Timeout    Duration `toml:"timeout"`
	MaxBackoff Duration `toml:"max_backoff"`
}

// Notifier defaults and bounds ([[alertmanager]], [[webhook]]).
const (
	DefaultAlertmanagerName = "default"
	DefaultNotifierTimeout  = 10 * time.Second
	DefaultResendInterval   = time.Minute
	DefaultNotifierBackoff  = 5 * time.Minute
	// MinResendInterval and MaxResendInterval bound resend_interval. The
	// ceiling is below any sensible resolve_timeout of Alertmanager's
	// (default 5m) only if that was raised: reachmon cannot know it, so
	// the documentation says to keep resend_interval below it.
	MinResendInterval = time.Second
	MaxResendInterval = time.Hour
	// MaxNotifierBackoff bounds max_backoff.
	MaxNotifierBackoff = time.Hour
)

var (
	notifierTimeoutRange = durationRange{min: MinPeriod, max: MaxTimeout, unset: "default 10s"}
	resendRange          = durationRange{min: MinResendInterval, max: MaxResendInterval, unset: "default 1m"}
	notifierBackoffRange = durationRange{min: time.Second, max: MaxNotifierBackoff, unset: "default 5m"}
)

// RequestTimeout is the per-request timeout, default applied.
func (a AlertmanagerConfig) RequestTimeout() time.Duration {
	return orDefault(a.Timeout.Duration, DefaultNotifierTimeout)
}

// Resend is the resend interval of firing alerts, default applied.
func (a AlertmanagerConfig) Resend() time.Duration {
	return orDefault(a.ResendInterval.Duration, DefaultResendInterval)
}

// MaxRetryBackoff is the longest wait between retries, default applied.
func (a AlertmanagerConfig) MaxRetryBackoff() time.Duration {
	return orDefault(a.MaxBackoff.Duration, DefaultNotifierBackoff)
}

// BearerToken reads the bearer token; "" when none is configured.
func (a AlertmanagerConfig) BearerToken() (string, error) {
	v, err := Secret(a.BearerTokenEnv, a.BearerTokenFile)
	if err != nil {
		return "", fmt.Errorf("alertmanager %q bearer token: %w", a.Name, err)
	}
	return v, nil
}

// RequestTimeout is the per-request timeout, default applied.
func (w WebhookConfig) RequestTimeout() time.Duration {
	return orDefault(w.Timeout.Duration, DefaultNotifierTimeout)
}

// MaxRetryBackoff is the longest wait between retries, default applied.
func (w WebhookConfig) MaxRetryBackoff() time.Duration {
	return orDefault(w.MaxBackoff.Duration, DefaultNotifierBackoff)
}

// Secret reads the HMAC key from its environment variable or file.
func (w WebhookConfig) Secret() (string, error) {
	v, err := Secret(w.SecretEnv, w.SecretFile)
	if err != nil {
		return "", fmt.Errorf("webhook %q secret: %w", w.Name, err)
	}
	return v, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Link expands a link template ({id}, {kind}, {severity}, {subject},
// query-escaped) for an incident, as [slack]'s links.
func Link(tmpl string, inc model.Incident) string { return SlackConfig{}.Link(tmpl, inc) }

// ExternalBase is the base URL under which others reach this daemon's API
// ([api] external_url, without a trailing slash): by default
// "http://<listen>", a wildcard listen host replaced by this host's name.
func (c *Config) ExternalBase() string {
	if c.API.ExternalURL != "" {
		return strings.TrimSuffix(c.API.ExternalURL, "/")
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return "http://" + c.Listen
	}
	if isWildcardHost(host) {
		host = "localhost"
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// validateNotifiers checks [[alertmanager]] and [[webhook]] and fills in
// the default Alertmanager name and links.
func (c *Config) validateNotifiers(e *Errors) {
	names := map[string]int{}
	for i := range c.Alertmanager {
		a := &c.Alertmanager[i]
		key := fmt.Sprintf("alertmanager[%d]", i)
		if a.Name == "" {
			a.Name = DefaultAlertmanagerName
		}
		sinkName(e, key, "alertmanager", a.Name, i, names)
		if len(a.URLs) == 0 {
			e.add("%s.urls: must list at least one Alertmanager URL (such as \"http://127.0.0.1:9093\")", key)
		}
		seen := map[string]int{}
		for j, u := range a.URLs {
			k := fmt.Sprintf("%s.urls[%d]", key, j)
			if err := checkSinkURL(u, false); err != nil {
				e.add("%s: %v", k, err)
			} else if p, dup := seen[strings.TrimSuffix(u, "/")]; dup {
				e.add("%s: %q is already urls[%d]", k, u, p)
			} else {
				seen[strings.TrimSuffix(u, "/")] = j
			}
			if a.BearerTokenEnv != "" || a.BearerTokenFile != "" {
				if u2, err := url.Parse(u); err == nil && u2.Scheme == "http" && !IsLoopbackHost(u2.Hostname()) {
					e.add("%s: %q: use https with a bearer token (plain http only to a loopback address: 127.0.0.0/8, ::1, localhost); the token travels in every request", k, u)
				}
			}
		}
		if a.BearerTokenEnv != "" && a.BearerTokenFile != "" {
			e.add("%s: set bearer_token_env or bearer_token_file, not both", key)
		}
		notifierTimeoutRange.check(e, key+".timeout", a.Timeout.Duration)
		resendRange.check(e, key+".resend_interval", a.ResendInterval.Duration)
		notifierBackoffRange.check(e, key+".max_backoff", a.MaxBackoff.Duration)
		if a.RunbookURL == "" {
			a.RunbookURL = c.Slack.RunbookURL
		}
		if a.DashboardURL == "" {
			a.DashboardURL = c.Slack.GrafanaURL
		}
		for _, l := range []struct{ key, v string }{{"runbook_url", a.RunbookURL}, {"dashboard_url", a.DashboardURL}} {
			if l.v != "" && !isHTTPURL(l.v) {
				e.add("%s.%s: %q is not an http(s) URL", key, l.key, l.v)
			}
		}
	}
	names = map[string]int{}
	for i := range c.Webhook {
		w := &c.Webhook[i]
		key := fmt.Sprintf("webhook[%d]", i)
		if w.Name == "" {
			e.add("%s.name: must not be empty (it names the webhook in metrics and its state directory)", key)
		} else {
			sinkName(e, key, "webhook", w.Name, i, names)
		}
		if w.URL == "" {
			e.add("%s.url: must not be empty", key)
		} else if err := checkSinkURL(w.URL, true); err != nil {
			e.add("%s.url: %v", key, err)
		}
		switch {
		case w.SecretEnv != "" && w.SecretFile != "":
			e.add("%s: set secret_env or secret_file, not both", key)
		case w.SecretEnv == "" && w.SecretFile == "":
			e.add("%s: secret_env or secret_file must name the HMAC key the X-Reachmon-Signature header is made with", key)
		}
		notifierTimeoutRange.check(e, key+".timeout", w.Timeout.Duration)
		notifierBackoffRange.check(e, key+".max_backoff", w.MaxBackoff.Duration)
	}
	if u := c.API.ExternalURL; u != "" {
		if !isHTTPURL(u) {
			e.add("api.external_url: %q is not an http(s) URL", u)
		} else if pu, _ := url.Parse(u); pu.RawQuery != "" || pu.Fragment != "" || pu.User != nil {
			e.add("api.external_url: %q: a base URL without user, query or fragment (such as \"https://mon1.example.net:9798\")", u)
		}
	}
}

// sinkName checks a sink's name, unique among its kind: it is part of a
// directory name and of a metric label.
func sinkName(e *Errors, key, kind, name string, i int, names map[string]int) {
	if !labelSafe(name) || strings.Trim(name, ".") == "" {
		e.add("%s.name: %q may hold only letters, digits, '-', '_' and '.'", key, name)
		return
	}
	if j, dup := names[name]; dup {
		e.add("%s.name: %q is already the name of %s[%d]", key, name, kind, j)
		return
	}
	names[name] = i
}

// checkSinkURL checks a notifier's URL: http(s), a host, no password or
// query; https when strict, unless to a loopback address.
func checkSinkURL(s string, strict bool) error {
	if !isHTTPURL(s) {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	u, _ := url.Parse(s)
	if _, ok := u.User.Password(); ok {
		return fmt.Errorf("%q holds a password: secrets are not accepted in the config file (use bearer_token_env or bearer_token_file)", redactURL(u))
	}
	if u.Fragment != "" {
		return fmt.Errorf("%q: a fragment is not sent to a server", s)
	}
	if strict && !isSecureURL(s) {
		return fmt.Errorf("%q: use https (plain http only to a loopback address: 127.0.0.0/8, ::1, localhost)", s)
	}
	return nil
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = url.UserPassword(u.User.Username(), "xxxxx")
	return c.String()
}

// plainHTTPWarnings are the Alertmanager URLs that send alerts over plain
// http beyond this host: accepted (Alertmanager listens on plain http by
// default, inside a cluster network), worth a warning.
func (c *Config) plainHTTPWarnings() []string {
	var out []string
	for i, a := range c.Alertmanager {
		for j, s := range a.URLs {
			if u, err := url.Parse(s); err == nil && u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
				out = append(out, fmt.Sprintf("alertmanager[%d].urls[%d]: %s is plain http beyond this host: alerts travel unencrypted", i, j, s))
			}
		}
	}
	return out
}
