package slack

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxResponseBody caps what is read of one answer from Slack (or from
// whatever api_url or the webhook URL points at). Slack's own answers are
// a few KB; a misbehaving endpoint streaming hundreds of MB must not grow
// the heap with them.
const maxResponseBody = 1 << 20

// errResponseTooLarge is the read error of an answer longer than
// maxResponseBody.
var errResponseTooLarge = errors.New("answer larger than 1 MiB: not read further")

// boundedTransport bounds every answer slack-go and the webhook path read:
// the body to maxResponseBody and a 429's Retry-After to the configured
// max_backoff. The bounds live in the transport because slack-go reads
// bodies and parses Retry-After itself, without limits.
type boundedTransport struct {
	base       http.RoundTripper
	maxBackoff time.Duration
}

// boundedClient returns a copy of hc (nil: a default client) whose
// transport bounds what Slack answers.
func boundedClient(hc *http.Client, maxBackoff time.Duration) *http.Client {
	c := &http.Client{}
	if hc != nil {
		*c = *hc
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = boundedTransport{base: base, maxBackoff: maxBackoff}
	return c
}

func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: maxResponseBody}
	clampRetryAfter(resp.Header, t.maxBackoff)
	return resp, nil
}

// clampRetryAfter rewrites a Retry-After in seconds that asks for more
// than maxBackoff (or more than an int64 holds) to maxBackoff, whole
// seconds: a rate limit of days would otherwise stop the channel until a
// restart, and slack-go's seconds-to-Duration conversion overflows past
// about 292 years. Other forms (an HTTP date) are left as they are.
func clampRetryAfter(h http.Header, maxBackoff time.Duration) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	tooLong := err == nil && secs > int64(maxBackoff/time.Second) ||
		errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-")
	if tooLong {
		h.Set("Retry-After", strconv.FormatInt(int64(maxBackoff/time.Second), 10))
	}
}

// cappedBody reads at most left bytes of rc and then fails with
// errResponseTooLarge if more follow, so that a decoder stops with an
// error instead of taking a truncated document for the whole.
type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		// At the cap: the answer is complete only if nothing follows.
		var probe [1]byte
		if n, err := io.ReadFull(b.rc, probe[:]); n == 0 {
			return 0, err
		}
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
