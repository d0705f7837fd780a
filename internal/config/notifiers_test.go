package config

import (
	"strings"
	"testing"
	"time"
)

func TestNotifiers(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
listen = "127.0.0.1:9798"
[slack]
runbook_url = "https://wiki.example/runbooks#{kind}"
grafana_url = "https://grafana.example/d/r?var-subject={subject}"
[[alertmanager]]
urls = ["http://127.0.0.1:9093", "http://10.0.0.2:9093"]
[[alertmanager]]
name = "eu"
urls = ["https://am.example/alertmanager/"]
resend_interval = "30s"
dashboard_url = "https://grafana.example/d/other"
bearer_token_file = "/run/credentials/am-token"
[[webhook]]
name = "bridge"
url = "https://hooks.example/reachmon"
secret_env = "REACHMON_WEBHOOK_SECRET"
`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Alertmanager[0], cfg.Alertmanager[1]
	if a.Name != "default" || a.Resend() != time.Minute || a.RequestTimeout() != 10*time.Second || a.MaxRetryBackoff() != 5*time.Minute {
		t.Errorf("defaults: %+v", a)
	}
	if a.RunbookURL != cfg.Slack.RunbookURL || a.DashboardURL != cfg.Slack.GrafanaURL {
		t.Errorf("links default to [slack]'s: %+v", a)
	}
	if b.Resend() != 30*time.Second || b.DashboardURL != "https://grafana.example/d/other" || b.RunbookURL != cfg.Slack.RunbookURL {
		t.Errorf("eu: %+v", b)
	}
	if cfg.ExternalBase() != "http://127.0.0.1:9798" {
		t.Errorf("ExternalBase = %q", cfg.ExternalBase())
	}
	w := cfg.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "alertmanager[0].urls[1]: http://10.0.0.2:9093 is plain http beyond this host") {
		t.Errorf("warnings %q", w)
	}
	cfg, err = Parse("t.toml", []byte("[api]\nexternal_url = \"https://mon1.example.net:9798/\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ExternalBase() != "https://mon1.example.net:9798" {
		t.Errorf("ExternalBase = %q", cfg.ExternalBase())
	}
}

func TestNotifierErrors(t *testing.T) {
	_, err := Parse("t.toml", []byte(`
[api]
external_url = "mon1.example.net"
[[alertmanager]]
urls = []
[[alertmanager]]
urls = ["ftp://x", "http://user:pw@127.0.0.1:9093", "http://10.0.0.1:9093", "http://10.0.0.1:9093/"]
resend_interval = "2h"
timeout = "-1s"
bearer_token_env = "T"
bearer_token_file = "/t"
runbook_url = "wiki"
[[alertmanager]]
name = "a/b"
urls = ["http://127.0.0.1:9093"]
bearer_token = "inline"
[[webhook]]
url = "http://hooks.example/x"
secret = "inline"
[[webhook]]
name = "w"
url = "https://hooks.example/x"
[[webhook]]
name = "w"
url = "https://hooks.example/y"
secret_env = "S"
max_backoff = "10ms"
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{
		`api.external_url: "mon1.example.net" is not an http(s) URL`,
		`alertmanager[0].urls: must list at least one Alertmanager URL`,
		`alertmanager[1].name: "default" is already the name of alertmanager[0]`,
		`alertmanager[1].urls[0]: "ftp://x" is not an http(s) URL`,
		`alertmanager[1].urls[1]: "http://user:xxxxx@127.0.0.1:9093" holds a password`,
		`alertmanager[1].urls[2]: "http://10.0.0.1:9093": use https with a bearer token`,
		`alertmanager[1].urls[3]: "http://10.0.0.1:9093/" is already urls[2]`,
		`alertmanager[1]: set bearer_token_env or bearer_token_file, not both`,
		`alertmanager[1].resend_interval: 2h is outside 1s..1h (0: default 1m)`,
		`alertmanager[1].timeout: -1s is outside 1ms..1m (0: default 10s)`,
		`alertmanager[1].runbook_url: "wiki" is not an http(s) URL`,
		`alertmanager[2].name: "a/b" may hold only letters, digits, '-', '_' and '.'`,
		`alertmanager.bearer_token: secrets are not accepted in the config file; use alertmanager.bearer_token_env`,
		`webhook[0].name: must not be empty`,
		`webhook[0].url: "http://hooks.example/x": use https (plain http only to a loopback address`,
		`webhook.secret: secrets are not accepted in the config file; use webhook.secret_env`,
		`webhook[1]: secret_env or secret_file must name the HMAC key`,
		`webhook[2].name: "w" is already the name of webhook[1]`,
		`webhook[2].max_backoff: 10ms is outside 1s..1h (0: default 5m)`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), ":pw@") {
		t.Errorf("a password in the errors:\n%v", err)
	}
}
