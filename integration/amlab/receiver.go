package amlab

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Receiver records every notification Alertmanager delivers to it: on
// /webhook/<receiver> the webhook payload (webhook_configs), on
// /slack the Slack incoming-webhook message (slack_configs, api_url).
// Anything else is recorded as a stray request and answered 404.
type Receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	webhooks []Notification
	slack    []SlackMessage
	stray    []string
}

// Notification is one webhook payload (Alertmanager's format version 4).
type Notification struct {
	Time              time.Time         `json:"-"`
	Path              string            `json:"-"`
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	Status            string            `json:"status"` // firing or resolved
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a webhook payload.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// SlackMessage is one Slack incoming-webhook message.
type SlackMessage struct {
	Time        time.Time `json:"-"`
	Channel     string    `json:"channel"`
	Username    string    `json:"username"`
	Attachments []struct {
		Title     string `json:"title"`
		TitleLink string `json:"title_link"`
		Text      string `json:"text"`
		Color     string `json:"color"`
		Fallback  string `json:"fallback"`
	} `json:"attachments"`
}

// NewReceiver starts a receiver on 127.0.0.1, closed when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// WebhookURL is the URL of webhook receiver name.
func (r *Receiver) WebhookURL(name string) string { return r.srv.URL + "/webhook/" + name }

// SlackURL is the URL to put in slack_api_url_file.
func (r *Receiver) SlackURL() string { return r.srv.URL + "/slack" }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	b, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || req.Method != http.MethodPost {
		r.stray = append(r.stray, fmt.Sprintf("%s %s: %v", req.Method, req.URL.Path, err))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	switch {
	case strings.HasPrefix(req.URL.Path, "/webhook/"):
		var n Notification
		if err := json.Unmarshal(b, &n); err != nil {
			r.stray = append(r.stray, fmt.Sprintf("%s: %v: %s", req.URL.Path, err, b))
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n.Time, n.Path = now, req.URL.Path
		r.webhooks = append(r.webhooks, n)
	case req.URL.Path == "/slack":
		var m SlackMessage
		if err := json.Unmarshal(b, &m); err != nil {
			r.stray = append(r.stray, fmt.Sprintf("%s: %v: %s", req.URL.Path, err, b))
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		m.Time = now
		r.slack = append(r.slack, m)
		_, _ = io.WriteString(w, "ok")
	default:
		r.stray = append(r.stray, fmt.Sprintf("%s %s: %s", req.Method, req.URL.Path, b))
		http.NotFound(w, req)
	}
}

// Notifications are the webhook payloads received so far, in order.
func (r *Receiver) Notifications() []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.webhooks)
}

// Slack are the Slack messages received so far, in order.
func (r *Receiver) Slack() []SlackMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.slack)
}

// Stray are the requests that were neither a webhook nor a Slack message.
func (r *Receiver) Stray() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.stray)
}

// Log renders everything received, for failure messages.
func (r *Receiver) Log() string {
	var b strings.Builder
	for _, n := range r.Notifications() {
		fmt.Fprintf(&b, "%s webhook %s receiver=%s status=%s group=%v\n", n.Time.Format("15:04:05.000"), n.Path, n.Receiver, n.Status, n.GroupLabels)
		for _, a := range n.Alerts {
			fmt.Fprintf(&b, "    %s %s\n", a.Status, labelString(a.Labels))
		}
	}
	for _, m := range r.Slack() {
		for _, a := range m.Attachments {
			fmt.Fprintf(&b, "%s slack %s: %s | %s\n", m.Time.Format("15:04:05.000"), m.Channel, a.Title,
				strings.ReplaceAll(a.Text, "\n", " | "))
		}
	}
	for _, s := range r.Stray() {
		fmt.Fprintf(&b, "stray: %s\n", s)
	}
	if b.Len() == 0 {
		return "(nothing received)"
	}
	return b.String()
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
