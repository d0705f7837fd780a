package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/api"
)

// newAPIServer is a server with a stand-in API document mounted.
func newAPIServer(a Access) *Server {
	s := New("127.0.0.1:9798", prometheus.NewRegistry(), nil)
	s.Handle(api.Prefix, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"schema":"test/v1"}`))
	}))
	s.SetAccess(a)
	return s
}

type request struct {
	path, host, auth string
}

func (q request) do(s *Server) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", q.path, nil)
	if q.host != "" {
		r.Host = q.host
	}
	if q.auth != "" {
		r.Header.Set("Authorization", q.auth)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, r)
	return rec
}

// checkAnswer fails unless rec has status want and, when refused, the
// API's error document with that status.
func checkAnswer(t *testing.T, q request, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Errorf("%+v: status %d, want %d (%s)", q, rec.Code, want, rec.Body.String())
		return
	}
	if want == http.StatusOK {
		return
	}
	var doc api.ErrorDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.Schema != api.ErrorSchema || doc.Status != want || doc.Message == "" {
		t.Errorf("%+v: body %q is not the API error document (%v)", q, rec.Body.String(), err)
	}
}

// The zero Access (the default, on loopback) answers everyone as before.
func TestAccessDefaultOpen(t *testing.T) {
	s := newAPIServer(Access{})
	for _, q := range []request{
		{path: "/api/v1/status"},
		{path: "/api/v1/status", host: "evil.example"},
		{path: "/metrics", host: "evil.example"},
		{path: "/api/v1/status", auth: "Bearer anything"},
	} {
		checkAnswer(t, q, q.do(s), http.StatusOK)
	}
}

func TestAccessToken(t *testing.T) {
	const token = "s3cret-api-token"
	for _, tc := range []struct {
		protectMetrics bool
		q              request
		want           int
	}{
		{false, request{path: "/api/v1/status"}, http.StatusUnauthorized},
		{false, request{path: "/api/v1/status", auth: "Bearer wrong"}, http.StatusUnauthorized},
		{false, request{path: "/api/v1/status", auth: "Basic " + token}, http.StatusUnauthorized},
		{false, request{path: "/api/v1/status", auth: "Bearer " + token}, http.StatusOK},
		{false, request{path: "/api/v1/status", auth: "bearer " + token}, http.StatusOK},
		// Unknown paths are refused before they are looked up.
		{false, request{path: "/api/v1/nosuch"}, http.StatusUnauthorized},
		{false, request{path: "/metrics"}, http.StatusOK},
		{true, request{path: "/metrics"}, http.StatusUnauthorized},
		{true, request{path: "/metrics", auth: "Bearer " + token}, http.StatusOK},
		{true, request{path: "/healthz"}, http.StatusOK},
		{true, request{path: "/readyz"}, http.StatusOK},
	} {
		s := newAPIServer(Access{Token: token, ProtectMetrics: tc.protectMetrics})
		rec := tc.q.do(s)
		checkAnswer(t, tc.q, rec, tc.want)
		if tc.want == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%+v: 401 without WWW-Authenticate", tc.q)
		}
	}
}

func TestAccessHostCheck(t *testing.T) {
	s := newAPIServer(Access{Hosts: []string{"localhost", "127.0.0.1", "::1", "mon1.example.net"}})
	for _, tc := range []struct {
		q    request
		want int
	}{
		{request{path: "/api/v1/status", host: "evil.example"}, http.StatusForbidden},
		{request{path: "/api/v1/status", host: "evil.example:9798"}, http.StatusForbidden},
		{request{path: "/metrics", host: "evil.example:9798"}, http.StatusForbidden},
		{request{path: "/api/v1/status", host: "127.0.0.1:9798"}, http.StatusOK},
		{request{path: "/api/v1/status", host: "[::1]:9798"}, http.StatusOK},
		{request{path: "/api/v1/status", host: "localhost"}, http.StatusOK},
		{request{path: "/api/v1/status", host: "MON1.example.net.:9798"}, http.StatusOK},
		{request{path: "/healthz", host: "10.1.2.3:9798"}, http.StatusOK},
	} {
		checkAnswer(t, tc.q, tc.q.do(s), tc.want)
	}
}

// Changes (any method but GET and HEAD) come from loopback only, unless
// [api] has a token: then the token is what lets them in, from anywhere.
func TestAccessChanges(t *testing.T) {
	post := func(s *Server, remote, auth string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/api/v1/silences", nil)
		r.RemoteAddr = remote
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, r)
		return rec
	}
	open := newAPIServer(Access{})
	for _, tc := range []struct {
		remote string
		want   int
	}{
		{"127.0.0.1:40000", http.StatusOK},
		{"127.9.8.7:40000", http.StatusOK},
		{"[::1]:40000", http.StatusOK},
		{"[::ffff:127.0.0.1]:40000", http.StatusOK},
		{"192.0.2.7:40000", http.StatusForbidden},
		{"[2001:db8::7]:40000", http.StatusForbidden},
		{"garbage", http.StatusForbidden},
	} {
		rec := post(open, tc.remote, "")
		checkAnswer(t, request{path: "POST /api/v1/silences from " + tc.remote}, rec, tc.want)
	}
	// Reads stay open to every address on the zero Access.
	r := httptest.NewRequest("GET", "/api/v1/silences", nil)
	r.RemoteAddr = "192.0.2.7:40000"
	rec := httptest.NewRecorder()
	open.Handler().ServeHTTP(rec, r)
	checkAnswer(t, request{path: "GET from 192.0.2.7"}, rec, http.StatusOK)

	tok := newAPIServer(Access{Token: "s3cret"})
	checkAnswer(t, request{path: "POST, remote, token"}, post(tok, "192.0.2.7:40000", "Bearer s3cret"), http.StatusOK)
	checkAnswer(t, request{path: "POST, loopback, no token"}, post(tok, "127.0.0.1:40000", ""), http.StatusUnauthorized)
	checkAnswer(t, request{path: "POST, remote, wrong token"}, post(tok, "192.0.2.7:40000", "Bearer nope"), http.StatusUnauthorized)
}

// TestLocalOrToken: an endpoint that changes the daemon answers loopback
// clients without a token, refuses others with the API's error document,
// and with an [api] token lets in whoever sends it (from anywhere) and
// nobody else.
func TestLocalOrToken(t *testing.T) {
	for _, tc := range []struct {
		name, token, remote, auth string
		want                      int
	}{
		{"loopback, no token configured", "", "127.0.0.1:40000", "", http.StatusOK},
		{"IPv6 loopback, no token configured", "", "[::1]:40000", "", http.StatusOK},
		{"remote, no token configured", "", "192.0.2.7:40000", "", http.StatusForbidden},
		{"remote with the token", "s3cret", "192.0.2.7:40000", "Bearer s3cret", http.StatusOK},
		{"loopback without the token", "s3cret", "127.0.0.1:40000", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New("127.0.0.1:9798", prometheus.NewRegistry(), nil)
			s.Handle("/-/reload", s.LocalOrToken(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusOK)
			})))
			s.SetAccess(Access{Token: tc.token})
			r := httptest.NewRequest("POST", "/-/reload", nil)
			r.RemoteAddr = tc.remote
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, r)
			checkAnswer(t, request{path: "/-/reload"}, rec, tc.want)
		})
	}
}
