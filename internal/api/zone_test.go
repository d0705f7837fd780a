package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/model"
)

// zoneSources are testSources with ?zone= answered by a real evaluator
// watching example.com (one resolver answered a probe).
func zoneSources(t *testing.T) Sources {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte("[[zone]]\nname = \"example.com\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ev := evaluate.New(cfg.Evaluate, evaluate.TargetsFromPlan(cfg))
	ev.Apply(model.Observation{Time: now, Target: "example.com", Name: "example.com.", Type: "SOA", Rcode: "NOERROR", RA: true,
		Latency: 3 * time.Millisecond, Server: model.Server{Name: "r1", Kind: model.KindResolver, Addr: "127.0.0.1:53", Transport: model.TransportUDP}})
	src := testSources(t, true)
	src.Zone = func(_ context.Context, name string) (*evaluate.ZoneDetail, error) {
		return ev.ZoneDetail(name, now), nil
	}
	return src
}

// TestZoneDetailRoute: ?zone= answers the zone's detail in any spelling of
// its name; the status without it is unchanged, other parameters are
// ignored as before.
func TestZoneDetailRoute(t *testing.T) {
	h := Handler(zoneSources(t))
	for _, q := range []string{"example.com", "example.com.", "EXAMPLE.COM.", "Example.Com"} {
		rec := serve(h, "GET", "/api/v1/status?zone="+q)
		var d evaluate.ZoneDetail
		if err := json.Unmarshal(rec.Body.Bytes(), &d); rec.Code != 200 || err != nil {
			t.Fatalf("?zone=%s: %d %v: %s", q, rec.Code, err, rec.Body)
		}
		if d.Schema != evaluate.ZoneSchema || d.Zone != "example.com" || len(d.Servers) != 1 || len(d.Servers[0].Results) != 1 ||
			d.Servers[0].Results[0].LatencyMS != 3 || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("?zone=%s: %s", q, rec.Body)
		}
	}
	for _, target := range []string{"/api/v1/status", "/api/v1/status?all=1", "/api/v1/status?zones=example.com"} {
		rec := serve(h, "GET", target)
		var st evaluate.Status
		if err := json.Unmarshal(rec.Body.Bytes(), &st); rec.Code != 200 || err != nil || st.Schema != evaluate.StatusSchema {
			t.Errorf("GET %s = %d %v: %.200s", target, rec.Code, err, rec.Body)
		}
	}
}

// TestZoneDetailErrors: an unknown zone is a 404 naming it, an empty or
// repeated ?zone= a 400, an evaluator that does not answer a 503; each in
// the API's error shape.
func TestZoneDetailErrors(t *testing.T) {
	src := zoneSources(t)
	stopped := src
	stopped.Zone = func(context.Context, string) (*evaluate.ZoneDetail, error) {
		return nil, errors.New("reachmon is stopping")
	}
	none := src
	none.Zone = nil
	for _, tc := range []struct {
		name   string
		src    Sources
		target string
		code   int
		msg    string
	}{
		{"unknown zone", src, "/api/v1/status?zone=example.org", 404, `query parameter zone: no zone "example.org" (not a zone this instance watches)`},
		{"a name in the zone", src, "/api/v1/status?zone=www.example.com.", 404, `query parameter zone: no zone "www.example.com." (not a zone this instance watches)`},
		{"empty", src, "/api/v1/status?zone=", 400, "query parameter zone: empty, name a zone (such as example.com)"},
		{"no value", src, "/api/v1/status?zone", 400, "query parameter zone: empty, name a zone (such as example.com)"},
		{"twice", src, "/api/v1/status?zone=example.com&zone=example.org", 400, "query parameter zone: given 2 times, name one zone"},
		{"too long", src, "/api/v1/status?zone=" + strings.Repeat("a", 300), 400,
			`query parameter zone: "` + strings.Repeat("a", 63) + `…" is longer than a DNS name (254 characters)`},
		{"evaluator stopping", stopped, "/api/v1/status?zone=example.com", 503, `zone "example.com": the evaluator did not answer: reachmon is stopping`},
		{"no zone source", none, "/api/v1/status?zone=example.com", 503, "query parameter zone: zone detail not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(Handler(tc.src), "GET", tc.target)
			var e ErrorDoc
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("GET %s: body is not JSON: %v: %s", tc.target, err, rec.Body)
			}
			want := ErrorDoc{Schema: ErrorSchema, Status: tc.code, Message: tc.msg}
			if rec.Code != tc.code || e != want || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("GET %s = %d %+v, want %d %+v", tc.target, rec.Code, e, tc.code, want)
			}
		})
	}
}

// TestFetchZone: the client gets the detail, reports the API's message
// for an unknown zone, and refuses another document.
func TestFetchZone(t *testing.T) {
	srv := httptest.NewServer(Handler(zoneSources(t)))
	defer srv.Close()
	ctx := t.Context()
	d, err := FetchZone(ctx, srv.Client(), srv.URL, "example.com.")
	if err != nil || d.Zone != "example.com" || d.Schema != evaluate.ZoneSchema {
		t.Fatalf("FetchZone = %+v, %v", d, err)
	}
	if _, err := FetchZone(ctx, srv.Client(), srv.URL, "nope.example"); err == nil || !strings.Contains(err.Error(), `no zone "nope.example"`) {
		t.Errorf("FetchZone of an unknown zone: %v", err)
	}
	// A daemon from before ?zone= answers the full status.
	old := testSources(t, true)
	oldSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, old.Status()) }))
	defer oldSrv.Close()
	if _, err := FetchZone(ctx, oldSrv.Client(), oldSrv.URL, "example.com"); err == nil ||
		!strings.Contains(err.Error(), `answered schema "reachmon.status/v1", want "reachmon.zone/v1"`) {
		t.Errorf("FetchZone from a daemon answering the status: %v", err)
	}
}
