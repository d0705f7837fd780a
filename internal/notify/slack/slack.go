// Package slack delivers reachmon notifications to Slack with
// github.com/slack-go/slack: a bot token (Web API: one thread per
// incident, the parent edited on resolve) or an incoming webhook (one
// message per transition). slack-go types stay in this package.
package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
)

// Options are the notifier's dependencies.
type Options struct {
	Logger *slog.Logger
	// HTTPClient sends every request (default: a client without a global
	// timeout; each request gets the configured timeout via its context).
	// The notifier uses a copy whose transport bounds Slack's answers.
	HTTPClient *http.Client
	// Vantage names this reachmon in messages.
	Vantage string
}

// Notifier implements notify.Notifier for Slack.
type Notifier struct {
	cfg     config.SlackConfig
	log     *slog.Logger
	hc      *http.Client
	api     *slack.Client // bot-token mode
	webhook string        // webhook mode
	secrets []string
	render  renderer
	timeout time.Duration

	mu         sync.Mutex
	channelIDs map[string]string // "#name" -> ID, learned from Slack's answers
	lookupWarn bool              // the lookup failure was logged
}

// New reads the token or webhook URL (from the environment or a file, as
// configured) and returns a notifier. It makes no request.
func New(cfg config.SlackConfig, opts Options) (*Notifier, error) {
	if !cfg.Enabled() {
		return nil, errors.New("slack: neither a bot token nor a webhook URL is configured")
	}
	n := &Notifier{
		cfg:        cfg,
		log:        opts.Logger,
		hc:         boundedClient(opts.HTTPClient, cfg.MaxRetryBackoff()),
		render:     renderer{cfg: cfg, vantage: opts.Vantage},
		timeout:    cfg.RequestTimeout(),
		channelIDs: map[string]string{},
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.log = n.log.With("component", "slack")
	if cfg.BotMode() {
		token, err := cfg.Token()
		if err != nil {
			return nil, fmt.Errorf("slack: %w", err)
		}
		n.addSecret(token)
		apiURL := cfg.APIURL
		if apiURL == "" {
			apiURL = slack.APIURL
		}
		if !strings.HasSuffix(apiURL, "/") {
			apiURL += "/"
		}
		n.api = slack.New(token,
			slack.OptionAPIURL(apiURL),
			slack.OptionHTTPClient(n.hc),
			slack.OptionLog(logBridge{n}),
		)
		return n, nil
	}
	u, err := cfg.WebhookURL()
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	// cfg.WebhookURL accepted the URL as https (or http to loopback).
	if pu, perr := url.Parse(u); perr == nil && pu.Path != "" && pu.Path != "/" {
		n.addSecret(pu.Path)
		n.addSecret(url.PathEscape(pu.Path))
	}
	n.addSecret(u)
	n.webhook = u
	return n, nil
}

func (n *Notifier) addSecret(s string) {
	if s != "" {
		n.secrets = append(n.secrets, s, url.QueryEscape(s))
	}
}

// redact removes the token and the webhook URL from s.
func (n *Notifier) redact(s string) string {
	// Longest first, so the URL goes before its path.
	for _, sec := range n.secretsByLength() {
		s = strings.ReplaceAll(s, sec, redactedMarker)
	}
	return s
}

func (n *Notifier) secretsByLength() []string {
	out := slices.Clone(n.secrets)
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// logBridge sends slack-go's own log lines (debug mode only) to slog,
// redacted.
type logBridge struct{ n *Notifier }

func (l logBridge) Output(_ int, s string) error {
	l.n.log.Debug("slack-go", "line", l.n.redact(s))
	return nil
}

// Deliver sends one notification; see notify.Notifier.
func (n *Notifier) Deliver(ctx context.Context, d notify.Delivery) (notify.Receipt, error) {
	if n.api == nil {
		return n.deliverWebhook(ctx, d)
	}
	mention := n.render.mention(d)
	switch d.Kind {
	case notify.KindOpen:
		return n.post(ctx, d, d.Channel, "", n.render.incident(d.Incident, "", mention), false)
	case notify.KindUpdate, notify.KindReminder:
		ch, ts := splitRef(d.Ref)
		if ts == "" {
			// No parent known: post a complete message instead.
			return n.post(ctx, d, d.Channel, "", n.render.incident(d.Incident, "Update: "+d.Reason, mention), false)
		}
		return n.post(ctx, d, ch, ts, n.render.threadReply(d, mention), d.Kind == notify.KindReminder)
	case notify.KindResolve:
		ch, ts := splitRef(d.Ref)
		if ts == "" {
			return n.post(ctx, d, d.Channel, "", n.render.incident(d.Incident, "", ""), false)
		}
		// The edited page loses its mention: a resolve notifies no one.
		if err := n.update(ctx, ch, ts, n.render.incident(d.Incident, "", "")); err != nil {
			var ne *notify.Error
			if !errors.As(err, &ne) || ne.Retry || ne.Fatal {
				return notify.Receipt{}, err
			}
			// The parent cannot be edited (deleted, too old): the thread
			// reply still tells the story.
			n.log.Warn("resolved incident's message not updated", "channel", ch, "code", ne.Code)
		}
		return n.post(ctx, d, ch, ts, n.render.threadReply(d, ""), false)
	}
	return notify.Receipt{}, &notify.Error{Code: "unsupported", Msg: "slack: unsupported delivery kind " + string(d.Kind)}
}

// post sends chat.postMessage (a thread reply when threadTS is set). When
// an earlier attempt may have been carried out, it first looks for the
// message by its key and returns it instead of posting again.
func (n *Notifier) post(ctx context.Context, d notify.Delivery, channel, threadTS string, m message, broadcast bool) (notify.Receipt, error) {
	if d.MaybeDelivered {
		if ch, ts, ok := n.find(ctx, d, channel, threadTS); ok {
			n.log.Info("earlier attempt was delivered; not posting again", "channel", channel, "key", d.Key)
			return notify.Receipt{Ref: ch + "/" + ts, Recovered: true}, nil
		}
	}
	opts := []slack.MsgOption{
		slack.MsgOptionText(m.text, false),
		slack.MsgOptionBlocks(m.blocks...),
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionMetadata(slack.SlackMetadata{
			EventType: metaEventType,
			EventPayload: map[string]any{
				metaKeyPayload: d.Key,
				"incident_id":  d.Incident.ID,
				"kind":         string(d.Kind),
			},
		}),
	}
	if threadTS != "" {
		opts = append(opts, slack.MsgOptionTS(threadTS))
		if broadcast {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	rctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	respCh, ts, err := n.api.PostMessageContext(rctx, channel, opts...)
	if err != nil {
		return notify.Receipt{}, n.classify("chat.postMessage", err)
	}
	n.learn(channel, respCh)
	if threadTS != "" {
		// Later messages keep threading on the parent.
		return notify.Receipt{Ref: respCh + "/" + threadTS}, nil
	}
	return notify.Receipt{Ref: respCh + "/" + ts}, nil
}

// update edits a message with chat.update (idempotent: retried freely).
func (n *Notifier) update(ctx context.Context, channel, ts string, m message) error {
	rctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	_, _, _, err := n.api.UpdateMessageContext(rctx, channel, ts,
		slack.MsgOptionText(m.text, false),
		slack.MsgOptionBlocks(m.blocks...),
	)
	if err != nil {
		return n.classify("chat.update", err)
	}
	return nil
}

// lookupPages bounds the history read when looking for an earlier attempt.
const (
	lookupPages  = 5
	lookupLimit  = 200
	lookupMargin = 10 * time.Minute
)

// find looks in the channel (or the thread) for a message carrying d.Key
// in its metadata, posted since shortly before the first attempt. It
// needs the channel's ID (configured, or learned from an earlier answer)
// and the channels:history scope; without them it reports false and the
// message is posted again (at least once rather than never).
func (n *Notifier) find(ctx context.Context, d notify.Delivery, channel, threadTS string) (string, string, bool) {
	id := n.channelID(channel)
	if id == "" {
		n.lookupFailed("channel ID unknown (configure the channel by ID)", channel)
		return "", "", false
	}
	since := d.FirstAttempt
	if since.IsZero() {
		since = d.Now
	}
	oldest := since.Add(-lookupMargin)
	oldestTS := fmt.Sprintf("%d.%06d", oldest.Unix(), oldest.Nanosecond()/1000)
	cursor := ""
	for range lookupPages {
		rctx, cancel := context.WithTimeout(ctx, n.timeout)
		var (
			msgs []slack.Message
			next string
			err  error
		)
		if threadTS == "" {
			var resp *slack.GetConversationHistoryResponse
			resp, err = n.api.GetConversationHistoryContext(rctx, &slack.GetConversationHistoryParameters{
				ChannelID: id, Oldest: oldestTS, Limit: lookupLimit, Cursor: cursor, IncludeAllMetadata: true,
			})
			if resp != nil {
				msgs, next = resp.Messages, resp.ResponseMetaData.NextCursor
			}
		} else {
			msgs, _, next, err = n.api.GetConversationRepliesContext(rctx, &slack.GetConversationRepliesParameters{
				ChannelID: id, Timestamp: threadTS, Oldest: oldestTS, Limit: lookupLimit, Cursor: cursor, IncludeAllMetadata: true,
			})
		}
		cancel()
		if err != nil {
			n.lookupFailed(n.classify("history", err).Error(), channel)
			return "", "", false
		}
		for _, m := range msgs {
			if m.Metadata.EventType == metaEventType && fmt.Sprint(m.Metadata.EventPayload[metaKeyPayload]) == d.Key {
				return id, m.Timestamp, true
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return "", "", false
}

func (n *Notifier) lookupFailed(why, channel string) {
	n.mu.Lock()
	first := !n.lookupWarn
	n.lookupWarn = true
	n.mu.Unlock()
	level := slog.LevelDebug
	if first {
		level = slog.LevelWarn
	}
	n.log.Log(context.Background(), level, "cannot check whether an earlier attempt was delivered; posting again",
		"channel", channel, "reason", n.redact(why))
}

var channelIDRe = regexp.MustCompile(`^[CGD][A-Z0-9]{6,}$`)

func (n *Notifier) channelID(channel string) string {
	if channelIDRe.MatchString(channel) {
		return channel
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.channelIDs[channel]
}

func (n *Notifier) learn(channel, id string) {
	if id == "" || channel == id {
		return
	}
	n.mu.Lock()
	n.channelIDs[channel] = id
	n.mu.Unlock()
}

func splitRef(ref string) (channel, ts string) {
	ch, ts, ok := strings.Cut(ref, "/")
	if !ok {
		return "", ""
	}
	return ch, ts
}

// Slack error codes by what they mean for delivery.
var (
	// fatalCodes: the credentials or the app's setup are wrong; nothing
	// can be delivered until a person fixes them.
	fatalCodes = map[string]bool{
		"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true,
		"token_expired": true, "no_permission": true, "missing_scope": true, "not_allowed_token_type": true,
		"org_login_required": true, "ekm_access_denied": true, "team_access_not_granted": true,
		"access_denied": true, "invalid_token": true, "no_service": true, "no_service_id": true,
		"no_team": true, "team_disabled": true,
	}
	// retryCodes: transient on Slack's side. Everything else is a
	// definite rejection of the message (channel_not_found,
	// not_in_channel, is_archived, msg_too_long, invalid_blocks …).
	retryCodes = map[string]bool{
		"ratelimited": true, "rate_limited": true, "internal_error": true, "fatal_error": true,
		"service_unavailable": true, "request_timeout": true, "team_added_to_org": true,
	}
)

// classify turns a slack-go or transport error into a *notify.Error with
// a redacted message.
func (n *Notifier) classify(method string, err error) *notify.Error {
	msg := n.redact(err.Error())
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	var se slack.SlackErrorResponse
	var op *net.OpError
	var syn *json.SyntaxError
	var ne net.Error
	switch {
	case errors.As(err, &rl):
		return &notify.Error{Code: "ratelimited", Retry: true, RetryAfter: rl.RetryAfter,
			Msg: fmt.Sprintf("slack %s: rate limited (HTTP 429), retry after %s", method, rl.RetryAfter)}
	case errors.As(err, &sc):
		return statusError(method, sc.Code, "")
	case errors.As(err, &se):
		return codeError(method, se.Err, msg)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &notify.Error{Code: "timeout", Retry: true, MaybeDelivered: true, Msg: fmt.Sprintf("slack %s: timeout: %s", method, msg)}
	case errors.As(err, &op) && op.Op == "dial":
		return &notify.Error{Code: "network", Retry: true, Msg: fmt.Sprintf("slack %s: %s", method, msg)}
	case errors.Is(err, errResponseTooLarge):
		return &notify.Error{Code: "response_too_large", Retry: true, MaybeDelivered: true,
			Msg: fmt.Sprintf("slack %s: %s", method, msg)}
	case errors.As(err, &syn):
		return &notify.Error{Code: "bad_response", Retry: true, MaybeDelivered: true, Msg: fmt.Sprintf("slack %s: unreadable answer: %s", method, msg)}
	}
	return &notify.Error{Code: "network", Retry: true, MaybeDelivered: true, Msg: fmt.Sprintf("slack %s: %s", method, msg)}
}

func codeError(method, code, msg string) *notify.Error {
	e := &notify.Error{Code: code, Msg: fmt.Sprintf("slack %s: %s", method, msg)}
	switch {
	case fatalCodes[code]:
		e.Fatal = true
	case retryCodes[code]:
		e.Retry = true
		e.MaybeDelivered = code != "ratelimited" && code != "rate_limited"
	}
	return e
}

// statusError classifies an HTTP status without a usable Slack answer.
func statusError(method string, status int, body string) *notify.Error {
	code := "http_" + strconv.Itoa(status)
	msg := fmt.Sprintf("slack %s: HTTP %d %s", method, status, http.StatusText(status))
	if body != "" {
		msg += ": " + body
	}
	e := &notify.Error{Code: code, Msg: msg}
	switch {
	case status >= 500:
		e.Retry, e.MaybeDelivered = true, true
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout:
		e.Retry = true
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
		// A proxy refusing us or a wrong api_url / webhook URL.
		e.Fatal = true
	}
	return e
}

// deliverWebhook posts one self-contained message per transition. Slack
// offers no way to look a webhook message up, so a retry after an
// ambiguous failure may post twice (at least once).
func (n *Notifier) deliverWebhook(ctx context.Context, d notify.Delivery) (notify.Receipt, error) {
	status, body, hdr, err := n.postWebhook(ctx, n.render.webhook(d))
	if err != nil {
		return notify.Receipt{}, err
	}
	return notify.Receipt{}, webhookResult(status, body, hdr)
}

func (n *Notifier) postWebhook(ctx context.Context, m message) (int, string, http.Header, error) {
	no := false
	raw, err := json.Marshal(&slack.WebhookMessage{
		Text:        m.text,
		Blocks:      &slack.Blocks{BlockSet: m.blocks},
		UnfurlLinks: &no,
		UnfurlMedia: &no,
	})
	if err != nil {
		return 0, "", nil, &notify.Error{Code: "encode", Msg: "slack webhook: " + err.Error()}
	}
	rctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, n.webhook, strings.NewReader(string(raw)))
	if err != nil {
		return 0, "", nil, &notify.Error{Code: "request", Fatal: true, Msg: "slack webhook: " + n.redact(err.Error())}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.hc.Do(req)
	if err != nil {
		return 0, "", nil, n.classify("webhook", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, n.redact(strings.TrimSpace(string(b))), resp.Header, nil
}

var webhookCodeRe = regexp.MustCompile(`^[a-z_]{3,64}$`)

// webhookResult classifies an incoming webhook's answer: 200 "ok", or a
// status with a code such as "invalid_token" or "channel_not_found".
func webhookResult(status int, body string, hdr http.Header) error {
	if status == http.StatusOK {
		return nil
	}
	if status == http.StatusTooManyRequests {
		e := &notify.Error{Code: "ratelimited", Retry: true, Msg: "slack webhook: rate limited (HTTP 429)"}
		if s, err := strconv.Atoi(hdr.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
			e.Msg += ", retry after " + e.RetryAfter.String()
		}
		return e
	}
	if status < 500 && webhookCodeRe.MatchString(body) {
		e := codeError("webhook", body, fmt.Sprintf("HTTP %d %s", status, body))
		if status == http.StatusForbidden || status == http.StatusNotFound || status == http.StatusGone {
			// A revoked or archived webhook stays that way.
			e.Fatal = e.Fatal || status != http.StatusNotFound || body == "no_service"
		}
		return e
	}
	return statusError("webhook", status, model.Truncate(body, 200))
}
