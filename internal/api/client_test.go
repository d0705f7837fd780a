package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestGetJSON(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/doc", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"q":"` + r.URL.Query().Get("q") + `"}`))
	})
	mux.HandleFunc("GET /api/v1/bad", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"\"x\" is not a prefix or address"}`))
	})
	mux.HandleFunc("GET /api/v1/text", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()

	var doc struct{ Q string }
	if err := GetJSON(ctx, nil, srv.URL, "/api/v1/doc", url.Values{"q": {"192.0.2.1"}}, &doc); err != nil || doc.Q != "192.0.2.1" {
		t.Errorf("doc = %+v, %v", doc, err)
	}
	for path, want := range map[string]string{
		"/api/v1/bad":  `/api/v1/bad: "x" is not a prefix or address`,
		"/api/v1/text": "/api/v1/text: 500 Internal Server Error: boom",
		"/api/v1/none": "404 Not Found",
	} {
		if err := GetJSON(ctx, nil, srv.URL, path, nil, &doc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
	if err := GetJSON(ctx, nil, "http://127.0.0.1:1", "/api/v1/doc", nil, &doc); err == nil || !strings.Contains(err.Error(), "is reachmon running?") {
		t.Errorf("no daemon: %v", err)
	}
}

// NewClient sends the token to the daemon's host only, not along a
// redirect to another.
func TestNewClientToken(t *testing.T) {
	var elsewhere string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere = r.Header.Get("Authorization")
		w.Write([]byte(`{"q":"other"}`))
	}))
	defer other.Close()
	daemon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/moved" {
			http.Redirect(w, r, other.URL+"/api/v1/doc", http.StatusFound)
			return
		}
		w.Write([]byte(`{"q":"` + r.Header.Get("Authorization") + `"}`))
	}))
	defer daemon.Close()
	// The redirect target is another host for the client: localhost, not 127.0.0.1.
	other.URL = strings.Replace(other.URL, "127.0.0.1", "localhost", 1)

	hc, err := NewClient(DefaultTimeout, daemon.URL, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Q string }
	if err := GetJSON(context.Background(), hc, daemon.URL, "/api/v1/doc", nil, &doc); err != nil || doc.Q != "Bearer s3cret" {
		t.Errorf("daemon saw Authorization %q (%v), want the bearer token", doc.Q, err)
	}
	if err := GetJSON(context.Background(), hc, daemon.URL, "/api/v1/moved", nil, &doc); err != nil || doc.Q != "other" || elsewhere != "" {
		t.Errorf("redirected host saw Authorization %q (%+v, %v), want none", elsewhere, doc, err)
	}
	if hc, _ := NewClient(DefaultTimeout, daemon.URL, ""); hc.Transport != nil {
		t.Error("a client without a token should use the default transport")
	}
}
