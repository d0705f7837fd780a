package slack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// maxReportBody bounds how much of each answer the test report shows.
const maxReportBody = 2000

// SendTest sends a test message to every channel incidents can be routed
// to (bot token: after auth.test) or through the webhook, and reports
// each request with exactly what Slack answered (HTTP status and body,
// secrets redacted). The error is non-nil when any step failed; the
// report is filled either way. It is the body of `reachmon notify test`.
func SendTest(ctx context.Context, cfg config.SlackConfig, opts Options) (string, error) {
	n, err := New(cfg, opts)
	if err != nil {
		return "", err
	}
	rec := &recorder{next: n.hc}
	var b strings.Builder
	now := time.Now()
	msg := n.render.test(now)
	var failed []string
	if n.api == nil {
		fmt.Fprintf(&b, "mode: incoming webhook (channel label %s)\n", cfg.ChannelFor("", ""))
		status, body, hdr, err := n.postWebhook(ctx, msg)
		if err != nil {
			fmt.Fprintf(&b, "POST webhook: %v\n", err)
			return b.String(), fmt.Errorf("slack: test message not sent: %w", err)
		}
		fmt.Fprintf(&b, "POST webhook -> HTTP %d\n%s\n", status, indent(model.Truncate(body, maxReportBody)))
		if err := webhookResult(status, body, hdr); err != nil {
			return b.String(), fmt.Errorf("slack: test message rejected: %w", err)
		}
		return b.String(), nil
	}
	api := slack.New(n.tokenForTest(), slack.OptionAPIURL(n.apiURL()), slack.OptionHTTPClient(rec), slack.OptionLog(logBridge{n}))
	fmt.Fprintf(&b, "mode: bot token, api %s\n", n.apiURL())
	rctx, cancel := context.WithTimeout(ctx, n.timeout)
	auth, err := api.AuthTestContext(rctx)
	cancel()
	b.WriteString(n.exchange("auth.test", rec.take()))
	if err != nil {
		ce := n.classify("auth.test", err)
		fmt.Fprintf(&b, "  => %s\n", ce.Error())
		failed = append(failed, "auth.test: "+ce.Code)
	} else {
		fmt.Fprintf(&b, "  => team %q, bot user %q (%s), bot ID %s\n", auth.Team, auth.User, auth.UserID, auth.BotID)
	}
	for _, ch := range cfg.Channels() {
		rctx, cancel := context.WithTimeout(ctx, n.timeout)
		respCh, ts, err := api.PostMessageContext(rctx, ch,
			slack.MsgOptionText(msg.text, false), slack.MsgOptionBlocks(msg.blocks...), slack.MsgOptionDisableLinkUnfurl())
		cancel()
		b.WriteString(n.exchange("chat.postMessage channel="+ch, rec.take()))
		if err != nil {
			ce := n.classify("chat.postMessage", err)
			fmt.Fprintf(&b, "  => %s\n", ce.Error())
			failed = append(failed, ch+": "+ce.Code)
			continue
		}
		fmt.Fprintf(&b, "  => posted to %s, ts %s\n", respCh, ts)
	}
	if len(failed) > 0 {
		return b.String(), errors.New("slack: test failed: " + strings.Join(failed, ", "))
	}
	return b.String(), nil
}

func (n *Notifier) apiURL() string {
	u := n.cfg.APIURL
	if u == "" {
		u = slack.APIURL
	}
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

// tokenForTest re-reads the token (New checked that it can be read).
func (n *Notifier) tokenForTest() string {
	t, _ := n.cfg.Token()
	return t
}

func (n *Notifier) exchange(what string, x []exchange) string {
	var b strings.Builder
	if len(x) == 0 {
		fmt.Fprintf(&b, "%s -> no answer\n", what)
		return b.String()
	}
	for _, e := range x {
		if e.err != nil {
			fmt.Fprintf(&b, "%s -> %s\n", what, n.redact(e.err.Error()))
			continue
		}
		fmt.Fprintf(&b, "%s -> HTTP %d", what, e.status)
		if ra := e.header.Get("Retry-After"); ra != "" {
			fmt.Fprintf(&b, " (Retry-After: %s)", ra)
		}
		fmt.Fprintf(&b, "\n%s\n", indent(model.Truncate(n.redact(strings.TrimSpace(string(e.body))), maxReportBody)))
	}
	return b.String()
}

func indent(s string) string {
	if s == "" {
		return "  (empty body)"
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// recorder is an HTTP client that keeps every answer's status, headers
// and body for the test report.
type recorder struct {
	next *http.Client
	mu   sync.Mutex
	log  []exchange
}

type exchange struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	if err != nil {
		r.add(exchange{err: err})
		return nil, err
	}
	body, rerr := io.ReadAll(resp.Body) // capped by boundedTransport
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.add(exchange{status: resp.StatusCode, header: resp.Header.Clone(), body: body, err: rerr})
	return resp, nil
}

func (r *recorder) add(e exchange) {
	r.mu.Lock()
	r.log = append(r.log, e)
	r.mu.Unlock()
}

func (r *recorder) take() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	x := r.log
	r.log = nil
	return x
}
