package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/silence"
)

// testSources are the daemon's real components, minus the network: an
// evaluator with one zone (published only if publish), an empty incident
// store and a BGP feed without [bgp] asn.
func testSources(t *testing.T, publish bool) Sources {
	t.Helper()
	cfg, err := config.Parse("t.toml", []byte("[[zone]]\nname = \"example.com\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var pub evaluate.Publisher
	if publish {
		pub.Publish(evaluate.New(cfg.Evaluate, evaluate.TargetsFromPlan(cfg)).Snapshot(time.Now()))
	}
	store, err := incident.Open(t.TempDir(), incident.Options{})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := bgp.New(config.BGP{}, bgp.Watch{}, bgp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ns := map[string][]model.AuthServer{"example.com.": {{Host: "ns1.example.com.", Addr: netip.MustParseAddrPort("192.0.2.53:53"),
		Sources: []model.AuthSource{model.SourceConfig}}}}
	sil, err := silence.Open(t.TempDir(), nil, silence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return Sources{Status: pub.Load, Incidents: store.View, Peers: feed.PeersView, Routes: feed.RoutesView,
		Nameservers: func() map[string][]model.AuthServer { return ns }, Silences: sil}
}

// post sends a JSON body (none when empty) to target.
func post(h http.Handler, target, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, r)
	return rec
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

// TestSchemaOnEveryRoute asks every route of the table and checks the
// answer is a JSON document carrying the route's schema.
func TestSchemaOnEveryRoute(t *testing.T) {
	src := testSources(t, true)
	h := Handler(src)
	rs := src.routes()
	if len(rs) != 8 {
		t.Errorf("route table has %d routes, want status, incidents, peers, routes, nameservers, silences (GET, POST), expire", len(rs))
	}
	var id string
	for _, rt := range rs {
		var rec *httptest.ResponseRecorder
		switch {
		case rt.method == "GET":
			rec = serve(h, "GET", rt.path)
		case rt.path == PathSilences:
			rec = post(h, rt.path, `{"subject": "*", "duration": "1h", "reason": "test", "created_by": "t"}`)
			var d silence.Doc
			_ = json.Unmarshal(rec.Body.Bytes(), &d)
			id = d.Silence.ID
			if rec.Code == http.StatusCreated {
				rec.Code = http.StatusOK
			}
		default:
			rec = post(h, strings.Replace(rt.path, "{id}", id, 1), "")
		}
		var doc struct {
			Schema string `json:"schema"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); rec.Code != http.StatusOK || err != nil {
			t.Errorf("GET %s = %d %v: %s", rt.path, rec.Code, err, rec.Body)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", rt.path, ct)
		}
		if doc.Schema == "" || doc.Schema != rt.schema {
			t.Errorf("GET %s: schema %q, want %q", rt.path, doc.Schema, rt.schema)
		}
	}
}

// TestErrorShape checks that every failure of the API is one JSON shape:
// the schema, the HTTP status and a message naming the problem.
func TestErrorShape(t *testing.T) {
	for _, tc := range []struct {
		name, method, target string
		publish              bool
		code                 int
		msg                  string
	}{
		{"bad limit", "GET", "/api/v1/incidents?limit=ten", true, 400, `query parameter limit: "ten" is not a non-negative number`},
		{"negative limit", "GET", "/api/v1/incidents?limit=-1", true, 400, `query parameter limit: "-1" is not a non-negative number`},
		{"bad state", "GET", "/api/v1/incidents?state=closed", true, 400, `query parameter state: "closed" is not one of open, all`},
		{"empty incident id", "GET", "/api/v1/incidents?id=", true, 400, `query parameter id: "" is not an incident ID (such as 20211004T154002Z-3fa2c1)`},
		{"unknown incident", "GET", "/api/v1/incidents?id=20211004T154002Z-000000", true, 404, `query parameter id: no incident "20211004T154002Z-000000" (resolved incidents are kept for evaluate.keep_resolved)`},
		{"bad route query", "GET", "/api/v1/routes?q=not-a-prefix", true, 400, `query parameter q: bgp: "not-a-prefix" is neither a prefix nor an address`},
		{"status not ready", "GET", "/api/v1/status", false, 503, "status not ready: the evaluator has not run yet"},
		{"unknown route", "GET", "/api/v1/prefixes", true, 404, "/api/v1/prefixes: no such API route (routes: /api/v1/status, /api/v1/incidents, /api/v1/peers, /api/v1/routes, /api/v1/nameservers, /api/v1/silences, /api/v1/silences/{id}/expire)"},
		{"wrong method", "POST", "/api/v1/status", true, 405, "POST /api/v1/status: method not allowed, use GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(Handler(testSources(t, tc.publish)), tc.method, tc.target)
			var e ErrorDoc
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("%s %s: body is not JSON: %v: %s", tc.method, tc.target, err, rec.Body)
			}
			want := ErrorDoc{Schema: ErrorSchema, Status: tc.code, Message: tc.msg}
			if rec.Code != tc.code || e != want || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s %s = %d %+v (%s), want %d %+v", tc.method, tc.target, rec.Code, e, rec.Header().Get("Content-Type"), tc.code, want)
			}
			if tc.code == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("405 without Allow: %q", rec.Header().Get("Allow"))
			}
		})
	}
}

// TestClientReadsErrorShape checks that the fetch helpers report the
// API's message, and refuse a document of another schema.
func TestClientReadsErrorShape(t *testing.T) {
	srv := httptest.NewServer(Handler(testSources(t, false)))
	defer srv.Close()
	ctx := t.Context()
	if _, err := FetchStatus(ctx, srv.Client(), srv.URL); err == nil || !strings.Contains(err.Error(), "/api/v1/status: status not ready: the evaluator has not run yet") {
		t.Errorf("FetchStatus before the first publish: %v", err)
	}
	if _, err := FetchRoutes(ctx, srv.Client(), srv.URL, "not-a-prefix"); err == nil || !strings.Contains(err.Error(), `query parameter q: bgp: "not-a-prefix" is neither a prefix nor an address`) {
		t.Errorf("FetchRoutes with a bad query: %v", err)
	}
	if v, err := FetchPeers(ctx, srv.Client(), srv.URL); err != nil || v.Schema != bgp.PeersSchema || v.Enabled {
		t.Errorf("FetchPeers = %+v, %v", v, err)
	}
	wrong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"schema": "reachmon.other/v9"})
	}))
	defer wrong.Close()
	if _, err := FetchIncidents(ctx, wrong.Client(), wrong.URL, false); err == nil || !strings.Contains(err.Error(), `answered schema "reachmon.other/v9", want "reachmon.incidents/v1"`) {
		t.Errorf("FetchIncidents of another schema: %v", err)
	}
	if _, err := FetchPeers(ctx, wrong.Client(), wrong.URL); err == nil || !strings.Contains(err.Error(), `answered schema "reachmon.other/v9", want "reachmon.peers/v1"`) {
		t.Errorf("FetchPeers of another schema: %v", err)
	}
	// A daemon from before the peers and routes documents had a schema
	// sends none; status and incidents always had one.
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"enabled": true})
	}))
	defer old.Close()
	if v, err := FetchRoutes(ctx, old.Client(), old.URL, ""); err != nil || !v.Enabled {
		t.Errorf("FetchRoutes of a document without schema = %+v, %v", v, err)
	}
	if _, err := FetchStatus(ctx, old.Client(), old.URL); err == nil || !strings.Contains(err.Error(), `answered schema "", want "reachmon.status/v1"`) {
		t.Errorf("FetchStatus of a document without schema: %v", err)
	}
}

// TestNameserversView checks the document app used to build: zones in
// name order, never null.
func TestNameserversView(t *testing.T) {
	a := model.AuthServer{Host: "a.example.", Addr: netip.MustParseAddrPort("192.0.2.1:53")}
	v := nameserversView(map[string][]model.AuthServer{"z.example.": {a}, "b.example.": {a}})
	if len(v.Zones) != 2 || v.Zones[0].Zone != "b.example." || v.Zones[1].Zone != "z.example." || v.Schema != NameserversSchema {
		t.Errorf("view %+v", v)
	}
	b, _ := json.Marshal(nameserversView(nil))
	if string(b) != `{"schema":"reachmon.nameservers/v1","zones":[]}` {
		t.Errorf("no zones: %s", b)
	}
}

// TestIncidentByID checks ?id=: the incidents document holding that
// incident alone, open or resolved (the generatorURL of alerts).
func TestIncidentByID(t *testing.T) {
	store, err := incident.Open(t.TempDir(), incident.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Second) // resolved incidents older than keep_resolved are pruned
	open := model.Incident{ID: "20240627T180000Z-aaaaaa", Kind: model.IncidentAuthOutage, Severity: model.SeverityCritical,
		State: model.StateOpen, Subject: "a.example", Opened: t0, Confirmed: t0, Updated: t0}
	done := model.Incident{ID: "20240627T170000Z-bbbbbb", Kind: model.IncidentDNSSEC, Severity: model.SeverityCritical,
		State: model.StateResolved, Subject: "b.example", Opened: t0.Add(-time.Hour), Confirmed: t0.Add(-time.Hour), Updated: t0, Resolved: t0}
	if err := store.Apply([]model.IncidentChange{{Type: model.ChangeOpen, Incident: open}, {Type: model.ChangeResolve, Incident: done}}); err != nil {
		t.Fatal(err)
	}
	src := testSources(t, true)
	src.Incidents = store.View
	h := Handler(src)
	for _, tc := range []struct {
		id         string
		open, done int
	}{{open.ID, 1, 0}, {done.ID, 0, 1}} {
		rec := serve(h, "GET", "/api/v1/incidents?id="+tc.id)
		var v incident.View
		if err := json.Unmarshal(rec.Body.Bytes(), &v); rec.Code != 200 || err != nil {
			t.Fatalf("?id=%s: %d %v %s", tc.id, rec.Code, err, rec.Body)
		}
		if v.Schema != incident.Schema || len(v.Open) != tc.open || len(v.Recent) != tc.done {
			t.Errorf("?id=%s: %+v", tc.id, v)
		}
		all := append(v.Open, v.Recent...)
		if len(all) != 1 || all[0].ID != tc.id {
			t.Errorf("?id=%s answered %+v", tc.id, all)
		}
	}
}
