// Package httpsink holds what the HTTP notifiers without a client
// library (Alertmanager, the generic webhook) share: one bounded POST and
// the classification of its outcome into a *notify.Error, the way the
// Slack notifier classifies Slack's answers.
//
//   - 2xx: delivered;
//   - 429 and 408: retried (429 honouring Retry-After, capped at the
//     sink's max_backoff by the dispatcher);
//   - 401 and 403: fatal: the credentials (bearer token, a proxy's
//     access rule) are wrong; the dispatcher keeps the message and stops
//     until a reload or restart;
//   - any other 4xx: a definite rejection of this message (not retried);
//   - 5xx, timeouts, network errors: retried with backoff.
package httpsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify"
)

// MaxResponseBody caps what is read of an answer (for its error message).
const MaxResponseBody = 64 << 10

// Response is a server's answer to a POST.
type Response struct {
	Status int
	Header http.Header
	// Body is the start of the answer, trimmed (at most 200 characters).
	Body string
}

// Post sends body to url with the headers, within timeout. The error is a
// classified *notify.Error for a request that got no answer; an answer
// of any status is a Response (Result classifies it).
func Post(ctx context.Context, hc *http.Client, sink, url string, body []byte, header http.Header, timeout time.Duration) (Response, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Response{}, &notify.Error{Code: "request", Fatal: true, Msg: fmt.Sprintf("%s: %v", sink, err)}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, Transport(sink, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: model.Truncate(strings.TrimSpace(string(b)), 200)}, nil
}

// Transport classifies an error of a request that got no answer:
// retried, "timeout" (may have been carried out) or "network".
func Transport(sink string, err error) *notify.Error {
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &notify.Error{Code: "timeout", Retry: true, MaybeDelivered: true, Msg: fmt.Sprintf("%s: timeout: %v", sink, err)}
	case errors.As(err, &op) && op.Op == "dial":
		return &notify.Error{Code: "network", Retry: true, Msg: fmt.Sprintf("%s: %v", sink, err)}
	}
	return &notify.Error{Code: "network", Retry: true, MaybeDelivered: true, Msg: fmt.Sprintf("%s: %v", sink, err)}
}

// Result classifies an answer: nil for 2xx, else a *notify.Error (see the
// package comment).
func Result(sink string, r Response) *notify.Error {
	if r.Status >= 200 && r.Status < 300 {
		return nil
	}
	msg := fmt.Sprintf("%s: HTTP %d %s", sink, r.Status, http.StatusText(r.Status))
	if r.Body != "" {
		msg += ": " + r.Body
	}
	e := &notify.Error{Code: "http_" + strconv.Itoa(r.Status), Msg: msg}
	switch {
	case r.Status >= 500:
		e.Retry, e.MaybeDelivered = true, true
	case r.Status == http.StatusTooManyRequests:
		e.Retry = true
		e.RetryAfter = RetryAfter(r.Header)
	case r.Status == http.StatusRequestTimeout:
		e.Retry, e.MaybeDelivered = true, true
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		e.Fatal = true
	case r.Status < 400:
		// 1xx, 3xx (redirects are followed by the client): not delivered.
		e.Retry = true
	}
	return e
}

// RetryAfter reads a Retry-After in seconds or as an HTTP date; 0 when
// absent or unreadable. The dispatcher caps it at max_backoff.
func RetryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > int64(24*time.Hour/time.Second) {
			s = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
