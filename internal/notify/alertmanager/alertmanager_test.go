package alertmanager_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/alertmanager"
	"github.com/reachmon/reachmon/internal/notify/notifytest"
	"github.com/reachmon/reachmon/internal/syncbuf"
)

var t0 = time.Date(2024, 6, 27, 18, 0, 0, 0, time.UTC)

// fakeAM records the bodies posted to /api/v2/alerts and answers with
// the scripted statuses (then 200).
type fakeAM struct {
	mu      sync.Mutex
	bodies  []string
	auth    []string
	script  []int
	retryAt string
	srv     *httptest.Server
}

func newFakeAM(t *testing.T, script ...int) *fakeAM {
	f := &fakeAM{script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/alerts" {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(b))
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		status := http.StatusOK
		if len(f.script) > 0 {
			status, f.script = f.script[0], f.script[1:]
		}
		retryAt := f.retryAt
		f.mu.Unlock()
		if status == http.StatusTooManyRequests && retryAt != "" {
			w.Header().Set("Retry-After", retryAt)
		}
		w.WriteHeader(status)
		if status == http.StatusBadRequest {
			_, _ = io.WriteString(w, `{"code":400,"message":"start time must be before end time"}`)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAM) posted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

func incident() model.Incident {
	return model.Incident{
		ID: "20240627T180000Z-3fa2c1", Kind: model.IncidentBGPOutage, Severity: model.SeverityCritical,
		State: model.StateOpen, SubjectKind: model.SubjectZone, Subject: "example.com",
		Opened: t0, Confirmed: t0.Add(time.Minute), Updated: t0.Add(time.Minute),
		RootCause: "192.0.2.0/24 withdrawn by AS64500: every authoritative server of example.com unreachable",
		Evidence: []model.EvidenceItem{
			{Time: t0, Text: "route 192.0.2.0/24 withdrawn"},
			{Time: t0.Add(30 * time.Second), Text: "ns1.example.com timeout"},
		},
	}
}

func newNotifier(t *testing.T, cfg config.AlertmanagerConfig, reg prometheus.Registerer) *alertmanager.Notifier {
	t.Helper()
	n, err := alertmanager.New(cfg, alertmanager.Options{
		Vantage: "fra1", ExternalURL: "http://mon1.example.net:9798/", Metrics: alertmanager.NewMetrics(reg),
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAlertBodyExact(t *testing.T) {
	am := newFakeAM(t)
	cfg := config.AlertmanagerConfig{
		Name: "default", URLs: []string{am.srv.URL},
		RunbookURL:   "https://wiki.example/runbooks/reachmon#{kind}",
		DashboardURL: "https://grafana.example/d/reachmon?var-subject={subject}",
	}
	n := newNotifier(t, cfg, nil)
	if _, err := n.Deliver(context.Background(), notify.Delivery{Kind: notify.KindOpen, Incident: incident(), Now: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	want := `[{"labels":{"alertname":"ReachmonBgpDnsOutage","kind":"bgp_dns_outage","severity":"critical","subject":"example.com","vantage":"fra1","zone":"example.com"},` +
		`"annotations":{"dashboard_url":"https://grafana.example/d/reachmon?var-subject=example.com",` +
		`"evidence":"18:00:00 route 192.0.2.0/24 withdrawn\n18:00:30 ns1.example.com timeout",` +
		`"incident_id":"20240627T180000Z-3fa2c1",` +
		`"root_cause":"192.0.2.0/24 withdrawn by AS64500: every authoritative server of example.com unreachable",` +
		`"runbook_url":"https://wiki.example/runbooks/reachmon#bgp_dns_outage",` +
		`"summary":"BGP-caused DNS outage: example.com"},` +
		`"startsAt":"2024-06-27T18:00:00Z",` +
		`"generatorURL":"http://mon1.example.net:9798/api/v1/incidents?id=20240627T180000Z-3fa2c1"}]`
	got := am.posted()
	if len(got) != 1 {
		t.Fatalf("%d posts", len(got))
	}
	if got[0] != want {
		t.Errorf("body\n got %s\nwant %s", got[0], want)
	}

	// The resolve carries endsAt: the incident's resolution.
	inc := incident()
	inc.State, inc.Resolved = model.StateResolved, t0.Add(20*time.Minute)
	if _, err := n.Deliver(context.Background(), notify.Delivery{Kind: notify.KindResolve, Incident: inc, Now: t0.Add(21 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var alerts []map[string]any
	if err := json.Unmarshal([]byte(am.posted()[1]), &alerts); err != nil {
		t.Fatal(err)
	}
	if alerts[0]["endsAt"] != "2024-06-27T18:20:00Z" || alerts[0]["startsAt"] != "2024-06-27T18:00:00Z" {
		t.Errorf("resolve: startsAt %v endsAt %v", alerts[0]["startsAt"], alerts[0]["endsAt"])
	}
}

func TestAlertLabels(t *testing.T) {
	n := newNotifier(t, config.AlertmanagerConfig{Name: "x", URLs: []string{"http://127.0.0.1:1"}}, nil)
	inc := incident()
	inc.Kind, inc.SubjectKind, inc.Subject = model.IncidentVantageDown, model.SubjectVantage, "fra1"
	a := n.Alert(notify.Delivery{Kind: notify.KindOpen, Incident: inc})
	if _, ok := a.Labels["zone"]; ok {
		t.Errorf("zone label on a vantage incident: %v", a.Labels)
	}
	if a.Labels["alertname"] != "ReachmonVantageDown" {
		t.Errorf("alertname %q", a.Labels["alertname"])
	}
	if _, ok := a.Annotations["runbook_url"]; ok {
		t.Error("empty runbook_url annotation sent")
	}
	for _, k := range model.IncidentKinds {
		if name := alertmanager.AlertName(k); !strings.HasPrefix(name, "Reachmon") || strings.Contains(name, "_") {
			t.Errorf("AlertName(%s) = %q", k, name)
		}
	}
	// Evidence is bounded: the newest lines.
	inc.Evidence = nil
	for i := range 50 {
		inc.Evidence = append(inc.Evidence, model.EvidenceItem{Time: t0.Add(time.Duration(i) * time.Second), Text: strings.Repeat("x", 300)})
	}
	ev := alertmanager.Evidence(inc.Evidence)
	if len([]rune(ev)) > alertmanager.MaxEvidenceChars || !strings.HasPrefix(strings.Split(ev, "\n")[len(strings.Split(ev, "\n"))-1], "18:00:49 ") {
		t.Errorf("evidence: %d characters, last line %q", len([]rune(ev)), ev[len(ev)-20:])
	}
}

// A cluster of two: one member down, the other accepts: delivered, the
// failure counted per URL.
func TestClusterOneMemberDown(t *testing.T) {
	up := newFakeAM(t)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	reg := prometheus.NewRegistry()
	n := newNotifier(t, config.AlertmanagerConfig{Name: "eu", URLs: []string{downURL, up.srv.URL}}, reg)
	if _, err := n.Deliver(context.Background(), notify.Delivery{Kind: notify.KindOpen, Incident: incident()}); err != nil {
		t.Fatalf("one member up: %v", err)
	}
	if len(up.posted()) != 1 {
		t.Errorf("the member up got %d posts", len(up.posted()))
	}
	if got := testutil.ToFloat64(requests(t, reg, "eu", downURL, alertmanager.ResultError)); got != 1 {
		t.Errorf("errors of the member down = %v", got)
	}
	if got := testutil.ToFloat64(requests(t, reg, "eu", up.srv.URL, alertmanager.ResultSuccess)); got != 1 {
		t.Errorf("successes of the member up = %v", got)
	}

	// Both down: a retryable failure naming both.
	up.srv.Close()
	_, err := n.Deliver(context.Background(), notify.Delivery{Kind: notify.KindOpen, Incident: incident()})
	var ne *notify.Error
	if !errors.As(err, &ne) || !ne.Retry || !strings.Contains(ne.Msg, downURL) || !strings.Contains(ne.Msg, up.srv.URL) {
		t.Fatalf("both down: %#v", err)
	}
}

func requests(t *testing.T, reg *prometheus.Registry, name, url, result string) prometheus.Collector {
	t.Helper()
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "reachmon_alertmanager_requests_total",
		Help: "Requests to each configured Alertmanager URL by [[alertmanager]] name, URL and result (success, rejected, error).",
	}, []string{"alertmanager", "url", "result"})
	if err := reg.Register(cv); err != nil {
		are, ok := err.(prometheus.AlreadyRegisteredError)
		if !ok {
			t.Fatal(err)
		}
		cv = are.ExistingCollector.(*prometheus.CounterVec)
	}
	return cv.WithLabelValues(name, url, result)
}

func TestClassification(t *testing.T) {
	t.Setenv("REACHMON_TEST_AM_TOKEN", "s3cr3t")
	for _, tc := range []struct {
		status      int
		retry       bool
		fatal       bool
		code        string
		retryAfter  time.Duration
		retryHeader string
	}{
		{status: 400, code: "http_400"},
		{status: 404, code: "http_404"},
		{status: 401, fatal: true, code: "http_401"},
		{status: 429, retry: true, code: "http_429", retryHeader: "7", retryAfter: 7 * time.Second},
		{status: 500, retry: true, code: "http_500"},
		{status: 503, retry: true, code: "http_503"},
	} {
		am := newFakeAM(t, tc.status)
		am.retryAt = tc.retryHeader
		n := newNotifier(t, config.AlertmanagerConfig{Name: "x", URLs: []string{am.srv.URL}, BearerTokenEnv: "REACHMON_TEST_AM_TOKEN"}, nil)
		_, err := n.Deliver(context.Background(), notify.Delivery{Kind: notify.KindOpen, Incident: incident()})
		var ne *notify.Error
		if !errors.As(err, &ne) {
			t.Fatalf("HTTP %d: %v", tc.status, err)
		}
		if ne.Retry != tc.retry || ne.Fatal != tc.fatal || ne.Code != tc.code || ne.RetryAfter != tc.retryAfter {
			t.Errorf("HTTP %d: %+v", tc.status, ne)
		}
		if tc.status == 400 && !strings.Contains(ne.Msg, "start time must be before end time") {
			t.Errorf("HTTP 400 message %q lacks Alertmanager's reason", ne.Msg)
		}
		if strings.Contains(ne.Msg, "s3cr3t") {
			t.Errorf("token in the error: %q", ne.Msg)
		}
		if a := am.auth[0]; a != "Bearer s3cr3t" {
			t.Errorf("Authorization %q", a)
		}
	}
}

// Through the dispatcher: a firing alert is re-sent every
// resend_interval through the outbox, a 503 is retried, and the resolve
// ends it.
func TestResendRetryResolve(t *testing.T) {
	am := newFakeAM(t, http.StatusServiceUnavailable)
	cfg := config.AlertmanagerConfig{Name: "default", URLs: []string{am.srv.URL}, ResendInterval: config.Duration{Duration: time.Minute}}
	n := newNotifier(t, cfg, nil)
	clk := notifytest.NewClock(t0)
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := notify.NewPolicy(alertmanager.Policy(cfg), t.TempDir(), n, notify.Options{Clock: clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	inc := incident()
	d.Submit(model.IncidentChange{Type: model.ChangeOpen, Incident: inc})
	waitFor(t, clk, "the page after a 503", func() bool { return len(am.posted()) == 2 && d.Pending() == 0 })
	waitFor(t, clk, "two resends", func() bool { return len(am.posted()) >= 4 })
	if d.Pending() > 1 {
		t.Errorf("pending %d", d.Pending())
	}
	for i, b := range am.posted()[:4] {
		if strings.Contains(b, "endsAt") || !strings.Contains(b, `"alertname":"ReachmonBgpDnsOutage"`) {
			t.Errorf("post %d: %s", i, b)
		}
	}
	inc.State, inc.Resolved = model.StateResolved, clk.Now()
	d.Submit(model.IncidentChange{Type: model.ChangeResolve, Incident: inc, Reason: "recovered"})
	waitFor(t, clk, "the resolve", func() bool {
		p := am.posted()
		return strings.Contains(p[len(p)-1], `"endsAt"`) && d.Pending() == 0
	})
	// Resends are routine: logged at debug, the page and the resolve at info.
	levels := map[string]int{}
	for _, l := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(l, `msg="notification sent"`) {
			continue
		}
		reminder, debug := strings.Contains(l, "kind=reminder"), strings.Contains(l, "level=DEBUG")
		if reminder != debug {
			t.Errorf("log level: %s", l)
		}
		levels[fmt.Sprint(reminder, debug)]++
	}
	if levels["true true"] < 2 || levels["false false"] != 2 {
		t.Errorf("notification sent lines (reminder debug: count) %v, want ≥2 resends at debug, the page and the resolve at info", levels)
	}
	n1 := len(am.posted())
	clk.Advance(10 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if len(am.posted()) != n1 {
		t.Errorf("a resolved alert was re-sent: %s", am.posted()[n1])
	}
}

func waitFor(t *testing.T, clk *notifytest.Clock, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		if clk.Waiters() > 0 {
			clk.AdvanceToNext()
		}
		time.Sleep(time.Millisecond)
	}
}

// A severity change is a new label set in Alertmanager: the request that
// fires the critical alert ends the warning one, so it does not stay
// firing until resolve_timeout.
func TestSeverityChangeEndsOldAlert(t *testing.T) {
	am := newFakeAM(t)
	n := newNotifier(t, config.AlertmanagerConfig{Name: "x", URLs: []string{am.srv.URL}}, nil)
	prev := incident()
	prev.Severity = model.SeverityWarning
	cur := incident()
	now := t0.Add(5 * time.Minute)
	if _, err := n.Deliver(context.Background(), notify.Delivery{Kind: notify.KindUpdate, Incident: cur, Previous: prev, Now: now}); err != nil {
		t.Fatal(err)
	}
	var alerts []alertmanager.PostableAlert
	if err := json.Unmarshal([]byte(am.posted()[0]), &alerts); err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 {
		t.Fatalf("%d alerts posted, want the new one and the old one ended: %s", len(alerts), am.posted()[0])
	}
	if alerts[0].Labels["severity"] != "critical" || !alerts[0].EndsAt.IsZero() {
		t.Errorf("new alert %+v", alerts[0])
	}
	if alerts[1].Labels["severity"] != "warning" || !alerts[1].EndsAt.Equal(now) {
		t.Errorf("old alert %+v", alerts[1])
	}
	// Same labels (an update of the root cause): one alert.
	if _, err := n.Deliver(context.Background(), notify.Delivery{Kind: notify.KindUpdate, Incident: cur, Previous: cur, Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(am.posted()[1]), &alerts); err != nil || len(alerts) != 1 {
		t.Errorf("unchanged labels: %s", am.posted()[1])
	}
}
