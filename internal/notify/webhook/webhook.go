// Package webhook delivers reachmon incident changes to any HTTP
// receiver ([[webhook]]): one JSON document per change, schema
// reachmon.webhook/v1, whose incident is the same document as in
// /api/v1/incidents, signed with HMAC-SHA256 of the body in the
// X-Reachmon-Signature header. It is the route to Teams, Mattermost,
// Matrix and home-made tooling (through a small bridge that verifies the
// signature and reformats the document).
//
// Delivery is at least once: retries go through the dispatcher's
// persistent outbox with backoff, and a retry after an ambiguous failure
// (a timeout, a 5xx) may deliver a document twice; X-Reachmon-Delivery
// names the delivery so that a receiver can drop the repeat.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	"github.com/reachmon/reachmon/internal/notify/httpsink"
	"github.com/reachmon/reachmon/internal/version"
)

// Schema names the version of the webhook document.
const Schema = "reachmon.webhook/v1"

// Headers of every request.
const (
	// SignatureHeader is "sha256=" and the hex HMAC-SHA256 of the body
	// keyed with the configured secret.
	SignatureHeader = "X-Reachmon-Signature"
	// DeliveryHeader identifies the delivery: the same on every retry of
	// one document, so a receiver can drop a repeat.
	DeliveryHeader = "X-Reachmon-Delivery"
)

// Rate is the most documents per second sent to one webhook, and
// MinUpdate the least time between an incident's updates (as [slack]'s
// default): chat bridges behind webhooks have rate limits of their own.
const (
	Rate      = 1.0
	MinUpdate = config.DefaultSlackMinUpdateInterval
)

// Document is the body of every request.
type Document struct {
	Schema string `json:"schema"`
	// Change is open, update, resolve or reminder.
	Change string `json:"change"`
	// Reason says why it is sent ("first notification", "severity
	// warning -> critical", "resolved").
	Reason string    `json:"reason"`
	SentAt time.Time `json:"sent_at"`
	// Vantage names the reachmon instance that sends it.
	Vantage string `json:"vantage"`
	// Incident is the incident as /api/v1/incidents shows it.
	Incident incident.Entry `json:"incident"`
}

// Options are the notifier's dependencies.
type Options struct {
	Logger     *slog.Logger
	HTTPClient *http.Client
	Vantage    string
	// Entry renders an incident as /api/v1/incidents does
	// (incident.Store.Entry); nil: without delivery state.
	Entry func(model.Incident) incident.Entry
}

// Notifier implements notify.Notifier for one [[webhook]].
type Notifier struct {
	cfg     config.WebhookConfig
	log     *slog.Logger
	hc      *http.Client
	secret  []byte
	vantage string
	entry   func(model.Incident) incident.Entry
}

// New reads the secret and returns the notifier of cfg. It makes no
// request.
func New(cfg config.WebhookConfig, opts Options) (*Notifier, error) {
	secret, err := cfg.Secret()
	if err != nil {
		return nil, err
	}
	if secret == "" {
		return nil, fmt.Errorf("webhook %q: no secret configured (secret_env or secret_file)", cfg.Name)
	}
	n := &Notifier{cfg: cfg, log: opts.Logger, hc: opts.HTTPClient, secret: []byte(secret), vantage: opts.Vantage, entry: opts.Entry}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.hc == nil {
		n.hc = &http.Client{}
	}
	if n.entry == nil {
		n.entry = func(inc model.Incident) incident.Entry { return incident.NewEntry(inc, model.NotifyState{}) }
	}
	return n, nil
}

// Channel is the sink's channel label: "webhook/<name>".
func Channel(cfg config.WebhookConfig) string { return notify.SinkChannel("webhook", cfg.Name) }

// Policy is the dispatcher policy of cfg: its own directory
// ("notify-webhook-<name>"), one channel, Rate, MinUpdate, no reminders.
func Policy(cfg config.WebhookConfig) notify.Policy {
	ch := Channel(cfg)
	return notify.Policy{
		Name:       ch,
		Dir:        notify.SinkDir("webhook", cfg.Name),
		Channels:   []string{ch},
		Rate:       Rate,
		MinUpdate:  MinUpdate,
		MaxBackoff: cfg.MaxRetryBackoff(),
	}
}

// Sign returns the X-Reachmon-Signature value of body: "sha256=" and the
// hex HMAC-SHA256 keyed with secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature with secret (constant
// time): what a receiver written in Go does.
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, body)))
}

// Document builds the document of a delivery.
func (n *Notifier) Document(d notify.Delivery) Document {
	return Document{
		Schema:   Schema,
		Change:   string(d.Kind),
		Reason:   d.Reason,
		SentAt:   d.Now.UTC(),
		Vantage:  n.vantage,
		Incident: n.entry(d.Incident),
	}
}

// Deliver posts the document; see notify.Notifier.
func (n *Notifier) Deliver(ctx context.Context, d notify.Delivery) (notify.Receipt, error) {
	body, err := json.Marshal(n.Document(d))
	if err != nil {
		return notify.Receipt{}, &notify.Error{Code: "encode", Msg: "webhook: " + err.Error()}
	}
	hdr := http.Header{}
	hdr.Set(SignatureHeader, Sign(n.secret, body))
	hdr.Set(DeliveryHeader, d.Key)
	hdr.Set("User-Agent", "reachmon/"+version.Get())
	sink := fmt.Sprintf("webhook %q", n.cfg.Name)
	resp, err := httpsink.Post(ctx, n.hc, sink, n.cfg.URL, body, hdr, n.cfg.RequestTimeout())
	if err != nil {
		var ne *notify.Error
		errors.As(err, &ne)
		return notify.Receipt{}, ne
	}
	if ne := httpsink.Result(sink, resp); ne != nil {
		return notify.Receipt{}, ne
	}
	return notify.Receipt{}, nil
}
