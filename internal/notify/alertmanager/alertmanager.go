// Package alertmanager delivers reachmon incidents to Prometheus
// Alertmanager through its v2 API (POST /api/v2/alerts), one alert per
// incident, so that Alertmanager groups, deduplicates, inhibits, silences
// and routes them with every other alert of a team.
//
// An [[alertmanager]] entry may list several URLs: the members of one
// Alertmanager cluster. Every alert is posted to every member, as
// Prometheus does (the cluster deduplicates the notifications); a
// delivery succeeds when at least one member accepted it. A member that
// fails is logged and counted in reachmon_alertmanager_requests_total.
//
// Firing alerts carry no endsAt: Alertmanager resolves an alert that is
// not re-sent within its resolve_timeout (default 5m). The dispatcher
// re-sends every open incident's alert each resend_interval (default 1m,
// its repeat machinery, through the persistent outbox), which must be
// shorter than resolve_timeout; if reachmon stops, its alerts resolve
// after resolve_timeout. The resolve of an incident sends endsAt.
//
// The wire format is the v2 OpenAPI's postableAlert, written with
// encoding/json here: Alertmanager's Go module is not imported.
package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/httpsink"
)

// AlertsPath is the v2 API path alerts are posted to, under each URL.
const AlertsPath = "/api/v2/alerts"

// Evidence bounds: the newest MaxEvidenceLines evidence lines, at most
// MaxEvidenceChars characters in all (older lines are left out first).
const (
	MaxEvidenceLines = 10
	MaxEvidenceChars = 2000
	// MaxRootCauseChars bounds the root_cause annotation.
	MaxRootCauseChars = 1000
)

// Values of the result label of reachmon_alertmanager_requests_total.
const (
	ResultSuccess  = "success"  // 2xx
	ResultRejected = "rejected" // a 4xx other than 408 and 429: not retried
	ResultError    = "error"    // 5xx, 408, 429, timeout, network: retried
)

// Metrics are the Alertmanager request counters, shared by every
// [[alertmanager]] entry of a daemon.
type Metrics struct {
	requests *prometheus.CounterVec
}

// NewMetrics registers the counters on reg (nil: a private registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	return &Metrics{requests: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
		Name: "reachmon_alertmanager_requests_total",
		Help: "Requests to each configured Alertmanager URL by [[alertmanager]] name, URL and result (success, rejected, error).",
	}, []string{"alertmanager", "url", "result"})}
}

// Options are the notifier's dependencies.
type Options struct {
	Logger *slog.Logger
	// HTTPClient sends the requests (default: a client without a global
	// timeout; each request gets the configured timeout).
	HTTPClient *http.Client
	// Metrics are the shared request counters (nil: private ones).
	Metrics *Metrics
	// Vantage is this reachmon's vantage: the vantage label.
	Vantage string
	// ExternalURL is this daemon's API base URL, for generatorURL
	// (config.Config.ExternalBase).
	ExternalURL string
}

// Notifier implements notify.Notifier for one [[alertmanager]] entry.
type Notifier struct {
	cfg     config.AlertmanagerConfig
	log     *slog.Logger
	hc      *http.Client
	m       *Metrics
	vantage string
	base    string
	token   string
	timeout time.Duration

	mu      sync.Mutex
	failing map[string]string // URL -> error code of its last failure
}

// New reads the bearer token (if one is configured) and returns the
// notifier of cfg. It makes no request.
func New(cfg config.AlertmanagerConfig, opts Options) (*Notifier, error) {
	if len(cfg.URLs) == 0 {
		return nil, fmt.Errorf("alertmanager %q: no URL", cfg.Name)
	}
	token, err := cfg.BearerToken()
	if err != nil {
		return nil, err
	}
	n := &Notifier{
		cfg:     cfg,
		log:     opts.Logger,
		hc:      opts.HTTPClient,
		m:       opts.Metrics,
		vantage: opts.Vantage,
		base:    strings.TrimSuffix(opts.ExternalURL, "/"),
		token:   token,
		timeout: cfg.RequestTimeout(),
		failing: map[string]string{},
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.log = n.log.With("component", "alertmanager", "alertmanager", cfg.Name)
	if n.hc == nil {
		n.hc = &http.Client{}
	}
	if n.m == nil {
		n.m = NewMetrics(nil)
	}
	for _, u := range cfg.URLs {
		for _, r := range []string{ResultSuccess, ResultRejected, ResultError} {
			n.m.requests.WithLabelValues(cfg.Name, u, r)
		}
	}
	return n, nil
}

// Channel is the sink's channel label: "alertmanager/<name>".
func Channel(cfg config.AlertmanagerConfig) string {
	return notify.SinkChannel("alertmanager", cfg.Name)
}

// Policy is the dispatcher policy of cfg: its own directory
// ("notify-alertmanager-<name>"), one channel, no rate limit and no
// update spacing (Alertmanager groups and throttles notifications
// itself), every open alert re-sent each resend_interval (logged at
// debug).
func Policy(cfg config.AlertmanagerConfig) notify.Policy {
	ch := Channel(cfg)
	return notify.Policy{
		Name:        ch,
		Dir:         notify.SinkDir("alertmanager", cfg.Name),
		Channels:    []string{ch},
		Repeat:      cfg.Resend(),
		MaxBackoff:  cfg.MaxRetryBackoff(),
		QuietRepeat: true,
	}
}

// PostableAlert is one alert of the v2 API (the OpenAPI postableAlert).
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// AlertName is the alertname label of an incident kind: "Reachmon" and
// the kind in CamelCase ("ReachmonBgpDnsOutage").
func AlertName(kind model.IncidentKind) string {
	var b strings.Builder
	b.WriteString("Reachmon")
	for part := range strings.SplitSeq(string(kind), "_") {
		if part == "" {
			continue
		}
		r := []rune(part)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// Alert is the alert of a delivery: labels alertname, kind, severity,
// subject, zone (zone incidents), vantage; annotations summary,
// root_cause, evidence, runbook_url, dashboard_url, incident_id;
// startsAt the incident's opening; endsAt its resolution (a resolve
// only).
func (n *Notifier) Alert(d notify.Delivery) PostableAlert {
	inc := d.Incident
	labels := map[string]string{
		"alertname": AlertName(inc.Kind),
		"kind":      string(inc.Kind),
		"severity":  string(inc.Severity),
		"subject":   inc.Subject,
		"vantage":   n.vantage,
	}
	if inc.SubjectKind == model.SubjectZone && inc.Subject != "" {
		labels["zone"] = inc.Subject
	}
	ann := map[string]string{
		"summary":     inc.Headline(),
		"root_cause":  model.Truncate(inc.RootCause, MaxRootCauseChars),
		"evidence":    Evidence(inc.Evidence),
		"incident_id": inc.ID,
	}
	if l := config.Link(n.cfg.RunbookURL, inc); l != "" {
		ann["runbook_url"] = l
	}
	if l := config.Link(n.cfg.DashboardURL, inc); l != "" {
		ann["dashboard_url"] = l
	}
	for k, v := range ann {
		if v == "" {
			delete(ann, k)
		}
	}
	a := PostableAlert{Labels: labels, Annotations: ann, StartsAt: inc.Opened.UTC()}
	if n.base != "" {
		a.GeneratorURL = n.base + "/api/v1/incidents?id=" + url.QueryEscape(inc.ID)
	}
	if d.Kind == notify.KindResolve {
		end := inc.Resolved
		if end.IsZero() {
			end = d.Now
		}
		// Alertmanager refuses an alert that ends before it starts.
		if !end.After(a.StartsAt) {
			end = a.StartsAt.Add(time.Second)
		}
		a.EndsAt = end.UTC()
	}
	return a
}

// replaced returns the alert last sent for the incident, ended, when its
// labels differ from cur's: a reclassification or a severity change makes
// a new alert in Alertmanager (alerts are their label sets), and the old
// one must not stay firing until resolve_timeout.
func (n *Notifier) replaced(d notify.Delivery, cur PostableAlert) (PostableAlert, bool) {
	if d.Previous.ID == "" {
		return PostableAlert{}, false
	}
	old := n.Alert(notify.Delivery{Kind: notify.KindResolve, Incident: d.Previous, Now: d.Now})
	if maps.Equal(old.Labels, cur.Labels) {
		return PostableAlert{}, false
	}
	end := d.Now
	if end.IsZero() || !end.After(old.StartsAt) {
		end = old.StartsAt.Add(time.Second)
	}
	old.EndsAt = end.UTC()
	return old, true
}

// Evidence renders the newest evidence lines within the bounds, oldest
// first.
func Evidence(items []model.EvidenceItem) string {
	var lines []string
	total := 0
	for i := len(items) - 1; i >= 0 && len(lines) < MaxEvidenceLines; i-- {
		l := model.Truncate(items[i].String(), MaxEvidenceChars)
		if total+len([]rune(l))+1 > MaxEvidenceChars && len(lines) > 0 {
			break
		}
		total += len([]rune(l)) + 1
		lines = append(lines, l)
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return strings.Join(lines, "\n")
}

// Deliver posts the delivery's alert to every URL of the entry; see
// notify.Notifier. It succeeds when at least one accepted it. When the
// incident's kind or severity changed since the last delivery, the alert
// with the old labels is ended in the same request.
func (n *Notifier) Deliver(ctx context.Context, d notify.Delivery) (notify.Receipt, error) {
	switch d.Kind {
	case notify.KindOpen, notify.KindUpdate, notify.KindReminder, notify.KindResolve:
	default:
		return notify.Receipt{}, &notify.Error{Code: "unsupported", Msg: "alertmanager: unsupported delivery kind " + string(d.Kind)}
	}
	alerts := []PostableAlert{n.Alert(d)}
	if ended, ok := n.replaced(d, alerts[0]); ok {
		alerts = append(alerts, ended)
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return notify.Receipt{}, &notify.Error{Code: "encode", Msg: "alertmanager: " + err.Error()}
	}
	hdr := http.Header{}
	if n.token != "" {
		hdr.Set("Authorization", "Bearer "+n.token)
	}
	errs := make([]*notify.Error, len(n.cfg.URLs))
	var wg sync.WaitGroup
	for i, u := range n.cfg.URLs {
		wg.Go(func() { errs[i] = n.post(ctx, u, body, hdr, d.Incident.ID) })
	}
	wg.Wait()
	return notify.Receipt{}, combine(n.cfg.Name, errs)
}

// post sends body to one member and counts and logs the outcome.
func (n *Notifier) post(ctx context.Context, base string, body []byte, hdr http.Header, id string) *notify.Error {
	target := strings.TrimSuffix(base, "/") + AlertsPath
	sink := "alertmanager " + base
	resp, err := httpsink.Post(ctx, n.hc, sink, target, body, hdr, n.timeout)
	var ne *notify.Error
	if err != nil {
		errors.As(err, &ne)
	} else {
		ne = httpsink.Result(sink, resp)
	}
	result := ResultSuccess
	switch {
	case ne == nil:
	case ne.Retry:
		result = ResultError
	default:
		result = ResultRejected
	}
	n.m.requests.WithLabelValues(n.cfg.Name, base, result).Inc()
	n.mu.Lock()
	last := n.failing[base]
	if ne == nil {
		delete(n.failing, base)
	} else {
		n.failing[base] = ne.Code
	}
	n.mu.Unlock()
	switch {
	case ne == nil && last != "":
		n.log.Info("alertmanager accepts alerts again", "url", base, "after", last)
	case ne != nil && ctx.Err() == nil:
		// Once per change of failure: a member that is down for an
		// hour is one warning, not one per alert.
		level := slog.LevelWarn
		if last == ne.Code {
			level = slog.LevelDebug
		}
		n.log.Log(ctx, level, "alertmanager request failed", "url", base, "incident", id, "code", ne.Code, "error", ne.Error())
	}
	return ne
}

// combine is the outcome of posting to every member: success when one
// accepted; else retried when any failure may pass (the longest
// Retry-After asked), fatal when every member refused the credentials,
// else rejected.
func combine(name string, errs []*notify.Error) error {
	var retry, fatal, rejected *notify.Error
	var msgs []string
	for _, e := range errs {
		if e == nil {
			return nil
		}
		msgs = append(msgs, e.Error())
		switch {
		case e.Retry:
			if retry == nil || e.RetryAfter > retry.RetryAfter {
				retry = e
			}
		case e.Fatal:
			fatal = e
		default:
			rejected = e
		}
	}
	out := rejected
	switch {
	case retry != nil:
		out = retry
	case rejected == nil:
		out = fatal
	}
	msg := fmt.Sprintf("alertmanager %q: no member accepted the alert: %s", name, strings.Join(msgs, "; "))
	return &notify.Error{Code: out.Code, Retry: out.Retry, RetryAfter: out.RetryAfter, Fatal: out.Fatal, Msg: msg}
}
