package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/app"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/silence"
	"github.com/reachmon/reachmon/internal/testdns"
)

const silenceZone = `
lab.example. 300 IN SOA ns1.lab.example. host.lab.example. 2026112301 3600 600 86400 300
lab.example. 300 IN NS ns1.lab.example.
`

// startTestDaemon runs the real daemon (app.Run) on a loopback port with
// extra appended to a one-zone configuration; it returns the config file
// (for --config) and stops the daemon at the end of the test.
func startTestDaemon(t *testing.T, extra string) (cfgPath string) {
	t.Helper()
	srv := testdns.Start(t, silenceZone, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	text := fmt.Sprintf(`
listen = %q
state_dir = %q
[probe]
interval = "1s"
timeout = "500ms"
[[resolver]]
name = "local"
address = %q
[[zone]]
name = "lab.example"
types = ["SOA"]
authoritative = [%q]
`, listen, filepath.Join(dir, "state"), srv.Addr, srv.Addr) + extra
	cfgPath = filepath.Join(dir, "reachmon.toml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	plan, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := app.New(plan, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _, _ := runMain("silence", "list", "--config", cfgPath); code == ExitOK {
			return cfgPath
		}
		if time.Now().After(deadline) {
			t.Fatal("the daemon never answered")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSilenceCommands adds, lists and expires silences of a running
// daemon with the CLI, and checks its usage errors and exit codes.
func TestSilenceCommands(t *testing.T) {
	cfg := startTestDaemon(t, `
[[maintenance]]
name = "nightly"
weekdays = ["sat", "sun"]
start = "22:00"
end = "02:00"
timezone = "Europe/Berlin"
kinds = ["authoritative_outage"]
subject = "*.example"
`)
	code, out, errOut := runMain("silence", "add", "--config", cfg, "--kind", "resolver_outage", "--subject", "local",
		"--for", "2h", "--reason", "resolver upgrade", "--by", "alice@ops1")
	m := regexp.MustCompile(`^silence ([0-9a-f]{12}) added: resolver_outage of local, by alice@ops1: resolver upgrade until \S+ \(2h0m0s\)\n`).FindStringSubmatch(out)
	if code != ExitOK || m == nil || !strings.Contains(out, "reachmon silence expire "+m[1]) {
		t.Fatalf("silence add: exit %d\n%s%s", code, out, errOut)
	}
	id := m[1]

	code, out, errOut = runMain("silence", "list", "--config", cfg)
	if code != ExitOK || !regexp.MustCompile(`(?m)^  `+id+` +active +resolver_outage +local +.* alice@ops1 +resolver upgrade$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^  nightly +sat,sun +22:00-02:00 +Europe/Berlin +authoritative_outage +\*\.example +(OPEN until|closed, opens) `).MatchString(out) {
		t.Errorf("silence list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runMain("silence", "list", "--config", cfg, "--json")
	var v silence.View
	if err := json.Unmarshal([]byte(out), &v); code != ExitOK || err != nil || v.Schema != silence.ListSchema || len(v.Silences) != 1 ||
		len(v.Maintenance) != 1 || v.Maintenance[0].ID != "maintenance/nightly" {
		t.Errorf("silence list --json: exit %d, %v\n%s", code, err, out)
	}

	code, out, errOut = runMain("silence", "expire", id, "--config", cfg, "--by", "bob")
	if code != ExitOK || out != "silence "+id+" expired: resolver_outage of local, by alice@ops1: resolver upgrade\n" {
		t.Errorf("silence expire: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runMain("silence", "expire", id, "--config", cfg)
	if code != ExitProblem || !strings.Contains(errOut, "already ended at") {
		t.Errorf("second expire: exit %d, %s", code, errOut)
	}
	code, _, errOut = runMain("silence", "expire", "0123456789ab", "--config", cfg)
	if code != ExitProblem || !strings.Contains(errOut, `silence "0123456789ab": no such silence`) {
		t.Errorf("expire of an unknown id: exit %d, %s", code, errOut)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"silence"}, "name what to do: add, list or expire ID"},
		{[]string{"silence", "mute"}, `unknown silence command "mute"`},
		{[]string{"silence", "add", "--subject", "*"}, "silence add needs --for DURATION, --reason TEXT"},
		{[]string{"silence", "add", "--subject", "*", "--for", "1h", "--reason", "two", "words"}, `unexpected arguments ["words"]`},
		{[]string{"silence", "add", "--kind", "outage", "--subject", "*", "--for", "1h", "--reason", "r"}, `--kind: "outage" is not an incident kind`},
		{[]string{"silence", "add", "--subject", "[a]", "--for", "1h", "--reason", "r"}, `--subject: "[a]" uses [: only * and ? are wildcards`},
		{[]string{"silence", "add", "--subject", "*", "--for", "soon", "--reason", "r"}, `invalid value "soon" for flag -for`},
		{[]string{"silence", "add", "--subject", "*", "--for", "9000h", "--reason", "r"}, "--for: 9000h0m0s is longer than 8784h0m0s"},
		{[]string{"silence", "expire"}, "name one silence ID"},
		{[]string{"silence", "list", "extra"}, `unexpected arguments ["extra"]`},
	} {
		code, _, errOut := runMain(append(tc.args, "--config", cfg)...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	// A reason the daemon refuses (too long) is its 400, exit 1.
	code, _, errOut = runMain("silence", "add", "--config", cfg, "--subject", "*", "--for", "1h", "--reason", strings.Repeat("x", silence.MaxReason+1))
	if code != ExitProblem || !strings.Contains(errOut, "field reason: longer than") {
		t.Errorf("too long a reason: exit %d, %s", code, errOut)
	}
}

// TestSilenceCommandsToken: a daemon with an [api] token takes changes
// with it (from --config) and refuses them without it.
func TestSilenceCommandsToken(t *testing.T) {
	const env = "REACHMON_TEST_SILENCE_TOKEN"
	t.Setenv(env, "s3cret-silence-token")
	cfg := startTestDaemon(t, "[api]\ntoken_env = \""+env+"\"\n")
	if code, out, errOut := runMain("silence", "add", "--config", cfg, "--subject", "*", "--for", "1h", "--reason", "r"); code != ExitOK {
		t.Fatalf("add with the token: exit %d\n%s%s", code, out, errOut)
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	listen := regexp.MustCompile(`listen = "([^"]+)"`).FindStringSubmatch(string(b))[1]
	code, _, errOut := runMain("silence", "add", "--url", "http://"+listen, "--subject", "*", "--for", "1h", "--reason", "r")
	if code != ExitProblem || !strings.Contains(errOut, "missing or wrong bearer token") || strings.Contains(errOut, "s3cret") {
		t.Errorf("add without the token: exit %d, %s", code, errOut)
	}
}

// The incident table shows a silenced incident in its PAGED column and
// tells the silence under the table; --kind completes incident kinds.
func TestIncidentTableShowsSilence(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	inc := model.Incident{ID: "20261202T140000Z-abcdef", Kind: model.IncidentAuthOutage, Severity: model.SeverityCritical,
		State: model.StateOpen, Subject: "lab.example", Opened: t0, RootCause: "Every authoritative server fails.",
		Silenced: model.Silenced{ID: "0123456789ab", By: "alice@ops1", Until: t0.Add(2 * time.Hour), Reason: "migration"}}
	var b strings.Builder
	WriteIncidentsTable(&b, &incident.View{Time: t0.Add(time.Minute), Open: []incident.Entry{{Incident: inc, Paged: true}}}, false)
	out := b.String()
	if !regexp.MustCompile(`(?m)^  20261202T140000Z-abcdef +critical +authoritative_outage +lab\.example +2026-12-02 14:00:00 +1m0s +yes, silenced +Every`).MatchString(out) ||
		!strings.Contains(out, "\n  20261202T140000Z-abcdef silenced by alice@ops1 until 2026-12-02 16:00 UTC (silence 0123456789ab): migration\n") {
		t.Errorf("table:\n%s", out)
	}
	if code, out, _ := runMain("__complete", "silence", "add", "--kind", "auth"); code != ExitOK || out != "authoritative_outage\n" {
		t.Errorf("completion of --kind: %q", out)
	}
}
