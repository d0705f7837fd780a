package httpsink

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"":                     0,
		"7":                    7 * time.Second,
		"0":                    0,
		"-3":                   0,
		"soon":                 0,
		"99999999999999999999": 0, // out of range: unreadable
		"999999999":            24 * time.Hour,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0,
	} {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		if got := RetryAfter(h); got != want {
			t.Errorf("Retry-After %q = %s, want %s", v, got, want)
		}
	}
	h := http.Header{}
	h.Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	if got := RetryAfter(h); got < 58*time.Minute || got > time.Hour {
		t.Errorf("Retry-After an hour from now = %s", got)
	}
}

func TestResult(t *testing.T) {
	for status, want := range map[int]struct{ retry, fatal bool }{
		200: {}, 202: {}, 204: {},
		400: {}, 404: {}, 413: {}, 422: {},
		401: {fatal: true}, 403: {fatal: true},
		408: {retry: true}, 429: {retry: true},
		500: {retry: true}, 503: {retry: true},
	} {
		e := Result("sink", Response{Status: status, Header: http.Header{}, Body: "why"})
		if status < 300 {
			if e != nil {
				t.Errorf("HTTP %d: %v", status, e)
			}
			continue
		}
		if e == nil || e.Retry != want.retry || e.Fatal != want.fatal || e.Msg == "" {
			t.Errorf("HTTP %d: %+v", status, e)
		}
	}
}
