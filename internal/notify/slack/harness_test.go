package slack_test

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/notifytest"
	rslack "github.com/reachmon/reachmon/internal/notify/slack"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
	"github.com/reachmon/reachmon/internal/syncbuf"
)

const (
	goodToken = "xoxb-1111-2222-goodsecrettoken"
	badToken  = "xoxb-9999-8888-wrongsecrettoken"
)

var t0 = time.Date(2021, 10, 4, 15, 40, 2, 0, time.UTC)

// harness runs a dispatcher with the Slack notifier against a fake Slack
// server, on a manual clock.
type harness struct {
	t        *testing.T
	srv      *fakeslack.Server
	clk      *notifytest.Clock
	cfg      config.SlackConfig
	stateDir string
	logs     *syncbuf.Buffer
	reg      *prometheus.Registry
	d        *notify.Dispatcher

	cancel context.CancelFunc
	done   chan error
}

func newServer(t *testing.T) *fakeslack.Server {
	t.Helper()
	srv := fakeslack.New(goodToken, map[string]string{"#alerts": "C0ALERTS1", "#monitor": "C0MONITOR"})
	t.Cleanup(srv.Close)
	return srv
}

// botConfig is a bot-token configuration against srv; token is written to
// a file.
func botConfig(t *testing.T, srv *fakeslack.Server, token, channel string) config.SlackConfig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yes := true
	return config.SlackConfig{
		TokenFile:  path,
		APIURL:     srv.APIURL(),
		Channel:    channel,
		Route:      []config.SlackRoute{{MonitorHealth: &yes, Channel: "#monitor"}},
		GrafanaURL: "https://grafana.example/d/reachmon?var-subject={subject}",
		RunbookURL: "https://wiki.example/runbooks/{kind}",
		// These tests follow each message through Slack; the spacing of
		// updates is tested in internal/notify (spacing_test.go).
		MinUpdateInterval: noSpacing,
	}
}

func webhookConfig(t *testing.T, url string) config.SlackConfig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "webhook")
	if err := os.WriteFile(path, []byte(url), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.SlackConfig{WebhookURLFile: path, Channel: "#alerts", MinUpdateInterval: noSpacing}
}

// noSpacing is the shortest minimum update interval: updates go out as
// they come.
var noSpacing = config.Duration{Duration: time.Nanosecond}

func newHarness(t *testing.T, srv *fakeslack.Server, cfg config.SlackConfig, stateDir string) *harness {
	t.Helper()
	h := &harness{
		t: t, srv: srv, cfg: cfg, stateDir: stateDir,
		clk:  notifytest.NewClock(t0),
		logs: &syncbuf.Buffer{},
	}
	if srv != nil {
		srv.Now = h.clk.Now
	}
	h.build()
	return h
}

// build makes a fresh notifier, registry and dispatcher over the state
// directory (a restart).
func (h *harness) build() {
	h.t.Helper()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := rslack.New(h.cfg, rslack.Options{Logger: log, Vantage: "test1", HTTPClient: &http.Client{}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.reg = prometheus.NewRegistry()
	h.d, err = notify.New(h.cfg, h.stateDir, n, notify.Options{
		Logger: log, Registerer: h.reg, Clock: h.clk,
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	d := h.d
	go func() { h.done <- d.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// stop cancels Run and waits for it.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
	h.cancel = nil
}

// restart stops Run, rebuilds everything from the state directory and
// starts again.
func (h *harness) restart() {
	h.stop()
	h.build()
	h.start()
}

// drive advances the manual clock whenever the dispatcher waits on it,
// until cond holds (bounded by real time).
func (h *harness) drive(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; calls: %+v\nlogs:\n%s", what, h.srv.Calls(), h.logs.String())
		}
		if h.clk.Waiters() > 0 {
			h.clk.AdvanceToNext()
		}
		time.Sleep(time.Millisecond)
	}
}

// state is what the dispatcher recorded as delivered for incident id.
func (h *harness) state(id string) (model.NotifyState, bool) {
	return h.d.Delivered(id)
}

func (h *harness) counter(channel, result string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "reachmon_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ch, res string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "channel":
					ch = l.GetValue()
				case "result":
					res = l.GetValue()
				}
			}
			if ch == channel && res == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func (h *harness) lint() {
	h.t.Helper()
	problems, err := testutil.GatherAndLint(h.reg)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, p := range problems {
		h.t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

func incident(id string, kind model.IncidentKind, sev model.Severity, subject string) model.Incident {
	return model.Incident{
		ID: id, Kind: kind, Severity: sev, State: model.StateOpen,
		SubjectKind: model.SubjectZone, Subject: subject,
		Opened: t0, Confirmed: t0.Add(30 * time.Second), Updated: t0.Add(30 * time.Second),
		RootCause: "The routes covering all 4 nameservers of " + subject + " (129.134.30.0/23) were withdrawn; 129.134.0.0/17 still covers them.",
		Evidence: []model.EvidenceItem{
			{Time: t0, Text: "129.134.30.0/24 withdrawn, seen by 0 of 3 peers, last origin AS32934"},
			{Time: t0.Add(10 * time.Second), Text: "a.ns." + subject + " timed out from this vantage"},
		},
		Affected: []string{subject, "www." + subject},
	}
}

func open(inc model.Incident) model.IncidentChange {
	return model.IncidentChange{Type: model.ChangeOpen, Incident: inc, Reason: "routes withdrawn"}
}

func update(inc model.Incident, reason string, extra string, at time.Time) model.IncidentChange {
	inc.Evidence = append(append([]model.EvidenceItem(nil), inc.Evidence...), model.EvidenceItem{Time: at, Text: extra})
	inc.Updated = at
	return model.IncidentChange{Type: model.ChangeUpdate, Incident: inc, Reason: reason, Material: reason}
}

func resolve(inc model.Incident, at time.Time) model.IncidentChange {
	inc.State = model.StateResolved
	inc.Resolved = at
	inc.Updated = at
	inc.Evidence = append(append([]model.EvidenceItem(nil), inc.Evidence...), model.EvidenceItem{Time: at, Text: "129.134.30.0/24 announced again by AS32934"})
	return model.IncidentChange{Type: model.ChangeResolve, Incident: inc, Reason: "routes back"}
}
