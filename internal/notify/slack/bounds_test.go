package slack_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
	rslack "github.com/reachmon/reachmon/internal/notify/slack"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
)

// bothModes are the two ways of posting: the Web API (the method posting
// a page) and an incoming webhook.
var bothModes = []struct {
	name, method string
	cfg          func(*testing.T, *fakeslack.Server) config.SlackConfig
}{
	{"bot", "chat.postMessage", func(t *testing.T, srv *fakeslack.Server) config.SlackConfig {
		return botConfig(t, srv, goodToken, "#alerts")
	}},
	{"webhook", "webhook", func(t *testing.T, srv *fakeslack.Server) config.SlackConfig {
		return webhookConfig(t, srv.WebhookURL())
	}},
}

// A 429 asking for a billion seconds waits max_backoff, in both modes: it
// must not stop the channel until a restart.
func TestRetryAfterClampedToMaxBackoff(t *testing.T) {
	const maxBackoff = 2 * time.Minute
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			srv := newServer(t)
			cfg := mode.cfg(t, srv)
			cfg.MaxBackoff = config.Duration{Duration: maxBackoff}
			h := newHarness(t, srv, cfg, t.TempDir())
			srv.Fail(mode.method, fakeslack.Fault{Status: 429, RetryAfter: 1_000_000_000})
			h.start()
			h.d.Submit(open(incident("ra-1", model.IncidentHijack, model.SeverityCritical, "192.0.2.0/24")))
			h.drive("retried", sent(h, mode.method, 2))
			calls := srv.CallsOf(mode.method)
			if gap := calls[1].Time.Sub(calls[0].Time); gap <= 0 || gap > maxBackoff {
				t.Errorf("retry after %s, want at most max_backoff %s", gap, maxBackoff)
			}
		})
	}
}

// countingTransport counts the bytes read from the wire.
type countingTransport struct{ read atomic.Int64 }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = countingBody{ReadCloser: resp.Body, n: &c.read}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// An endpoint answering with 100 MB is read no further than 1 MiB, and the
// attempt fails (the message may have been posted: retried with a lookup).
func TestHugeAnswerCutAtCap(t *testing.T) {
	srv := newServer(t)
	ct := &countingTransport{}
	n, err := rslack.New(botConfig(t, srv, goodToken, "#alerts"), rslack.Options{HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Fail("chat.postMessage", fakeslack.Fault{PadTo: 100 << 20})
	_, err = n.Deliver(context.Background(), notify.Delivery{
		Key: "k1", Kind: notify.KindOpen, Channel: "#alerts", Now: t0,
		Incident: incident("big-1", model.IncidentHijack, model.SeverityCritical, "192.0.2.0/24"),
	})
	var ne *notify.Error
	if !errors.As(err, &ne) || ne.Code != "response_too_large" || !ne.Retry || !ne.MaybeDelivered {
		t.Fatalf("Deliver = %v, want a retryable response_too_large error", err)
	}
	if got := ct.read.Load(); got > 1<<20+1 {
		t.Errorf("read %d bytes of the answer, want at most 1 MiB", got)
	}
}

// Slack parses the plain-text fallback like mrkdwn: a root cause holding
// <!channel>, a link or & arrives escaped, as in the blocks.
func TestFallbackTextEscaped(t *testing.T) {
	const cause = "<!channel> see <http://x|y> & more"
	const want = "&lt;!channel&gt; see &lt;http://x|y&gt; &amp; more"
	for _, mode := range bothModes {
		t.Run(mode.name, func(t *testing.T) {
			srv := newServer(t)
			n, err := rslack.New(mode.cfg(t, srv), rslack.Options{})
			if err != nil {
				t.Fatal(err)
			}
			inc := incident("esc-1", model.IncidentHijack, model.SeverityCritical, "192.0.2.0/24")
			inc.RootCause = cause
			if _, err := n.Deliver(context.Background(), notify.Delivery{Key: "k1", Kind: notify.KindOpen, Channel: "#alerts", Now: t0, Incident: inc}); err != nil {
				t.Fatal(err)
			}
			calls := srv.CallsOf(mode.method)
			if len(calls) != 1 {
				t.Fatalf("%d %s calls, want 1", len(calls), mode.method)
			}
			if text := calls[0].Text; !strings.Contains(text, want) || strings.Contains(text, "<!channel>") {
				t.Errorf("text = %q, want the root cause escaped (%q)", text, want)
			}
		})
	}
}
