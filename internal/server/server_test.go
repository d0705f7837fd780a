package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestReadyz(t *testing.T) {
	s := New("127.0.0.1:0", prometheus.NewRegistry(), nil)
	var discovery error = errors.New("first discovery pending for 1 zone(s): [example.com]")
	s.AddCheck("dns_discovery", func() error { return discovery })
	s.AddCheck("bgp", func() error { return nil })
	for _, tc := range []struct {
		name string
		want int
		body string
	}{
		{"not ready", 503, "dns_discovery: first discovery pending for 1 zone(s): [example.com]\n"},
		{"ready", 200, "ok\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tc.want || rec.Body.String() != tc.body {
				t.Errorf("/readyz = %d %q, want %d %q", rec.Code, rec.Body.String(), tc.want, tc.body)
			}
			discovery = nil
		})
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/healthz", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", rec.Code)
	}
}

func TestServeAndShutdown(t *testing.T) {
	s := New("127.0.0.1:0", prometheus.NewRegistry(), nil)
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(ln.Addr().String(), prometheus.NewRegistry(), nil).Listen(); err == nil || !strings.Contains(err.Error(), "server: listen on "+ln.Addr().String()) {
		t.Errorf("second listen on a busy port: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok\n" {
		t.Errorf("/healthz = %q", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
