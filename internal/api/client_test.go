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
