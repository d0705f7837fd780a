package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/silence"
)

// TestSilenceRoutes adds, lists and expires a silence through the API, and
// checks that every bad request is refused with the error document naming
// the problem.
func TestSilenceRoutes(t *testing.T) {
	h := Handler(testSources(t, true))
	rec := post(h, PathSilences, `{"kind": "authoritative_outage", "subject": "*.example.com", "duration": "2h", "reason": "migration", "created_by": "alice@ops1"}`)
	var d silence.Doc
	if err := json.Unmarshal(rec.Body.Bytes(), &d); rec.Code != http.StatusCreated || err != nil || d.Schema != silence.Schema ||
		d.Silence.State != silence.StateActive || d.Silence.CreatedBy != "alice@ops1" || d.Silence.ID == "" {
		t.Fatalf("POST = %d %s", rec.Code, rec.Body)
	}
	var v silence.View
	rec = serve(h, "GET", PathSilences)
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || len(v.Silences) != 1 || v.Silences[0].ID != d.Silence.ID {
		t.Fatalf("GET = %d %s", rec.Code, rec.Body)
	}
	expire := "/api/v1/silences/" + d.Silence.ID + "/expire"

	for _, tc := range []struct {
		name, method, target, ctype, body string
		code                              int
		msg                               string
	}{
		{"bad kind", "POST", PathSilences, "application/json", `{"kind": "outage", "subject": "*", "duration": "1h", "reason": "r", "created_by": "a"}`,
			400, `field kind: "outage" is not an incident kind`},
		{"no reason", "POST", PathSilences, "application/json", `{"subject": "*", "duration": "1h", "created_by": "a"}`, 400, "field reason: required"},
		{"bad pattern", "POST", PathSilences, "application/json", `{"subject": "[x", "duration": "1h", "reason": "r", "created_by": "a"}`,
			400, `field subject: "[x" uses [: only * and ? are wildcards`},
		{"bad duration", "POST", PathSilences, "application/json", `{"subject": "*", "duration": "2 hours", "reason": "r", "created_by": "a"}`,
			400, `field duration: "2 hours" is not a positive duration`},
		{"unknown field", "POST", PathSilences, "application/json", `{"subject": "*", "duration": "1h", "reason": "r", "created_by": "a", "comment": "x"}`,
			400, `body: unknown field "comment"`},
		{"wrong type", "POST", PathSilences, "application/json", `{"subject": 7}`, 400, "body: field subject: a JSON number where a string belongs"},
		{"not json", "POST", PathSilences, "application/json", `{"subject": `, 400, "body: not JSON"},
		{"two values", "POST", PathSilences, "application/json", `{} {}`, 400, "body: more than one JSON value"},
		{"empty", "POST", PathSilences, "application/json", ``, 400, "body: empty; send a JSON object"},
		{"form", "POST", PathSilences, "application/x-www-form-urlencoded", `subject=*`, 415, `Content-Type "application/x-www-form-urlencoded": send the body as application/json`},
		{"text/plain", "POST", expire, "text/plain", `{}`, 415, `Content-Type "text/plain": send the body as application/json`},
		{"too large", "POST", PathSilences, "application/json", `{"reason": "` + strings.Repeat("x", 70000) + `"}`, 413, "body: larger than 65536 bytes"},
		{"expire unknown", "POST", "/api/v1/silences/0123abcd/expire", "application/json", ``, 404, `silence "0123abcd": no such silence`},
		{"bad expired_by", "POST", expire, "application/json", `{"expired_by": "a\u0007"}`, 400, "field expired_by"},
		{"delete", "DELETE", PathSilences, "", ``, 405, "DELETE /api/v1/silences: method not allowed, use GET or POST"},
		{"get expire", "GET", expire, "", ``, 405, "GET " + expire + ": method not allowed, use POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			var e ErrorDoc
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != tc.code || e.Schema != ErrorSchema ||
				e.Status != tc.code || !strings.HasPrefix(e.Message, tc.msg) {
				t.Errorf("%s %s = %d %s, want %d %q", tc.method, tc.target, rec.Code, rec.Body, tc.code, tc.msg)
			}
		})
	}
	if rec := serve(h, "DELETE", PathSilences); rec.Header().Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("Allow = %q", rec.Header().Get("Allow"))
	}

	rec = post(h, expire, `{"expired_by": "bob"}`)
	if err := json.Unmarshal(rec.Body.Bytes(), &d); rec.Code != http.StatusOK || err != nil || d.Silence.State != silence.StateExpired || d.Silence.ExpiredBy != "bob" {
		t.Fatalf("expire = %d %s", rec.Code, rec.Body)
	}
	rec = post(h, expire, ``)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "already ended at") {
		t.Errorf("second expire = %d %s", rec.Code, rec.Body)
	}
}

// TestSilenceClient drives the client functions the CLI uses against the
// handler.
func TestSilenceClient(t *testing.T) {
	srv := httptest.NewServer(Handler(testSources(t, true)))
	defer srv.Close()
	ctx := t.Context()
	d, err := AddSilence(ctx, srv.Client(), srv.URL, silence.Request{Subject: "192.0.2.*", Duration: "30m", Reason: "r", CreatedBy: "me"})
	if err != nil || d.Silence.Subject != "192.0.2.*" {
		t.Fatalf("AddSilence = %+v, %v", d, err)
	}
	if _, err := AddSilence(ctx, srv.Client(), srv.URL, silence.Request{Subject: "*", Duration: "30m", CreatedBy: "me"}); err == nil ||
		!strings.Contains(err.Error(), "/api/v1/silences: field reason: required") {
		t.Errorf("AddSilence without a reason: %v", err)
	}
	v, err := FetchSilences(ctx, srv.Client(), srv.URL)
	if err != nil || len(v.Silences) != 1 {
		t.Fatalf("FetchSilences = %+v, %v", v, err)
	}
	e, err := ExpireSilence(ctx, srv.Client(), srv.URL, d.Silence.ID, "me")
	if err != nil || e.Silence.State != silence.StateExpired {
		t.Fatalf("ExpireSilence = %+v, %v", e, err)
	}
	if _, err := ExpireSilence(ctx, srv.Client(), srv.URL, "../../status", "me"); err == nil || !strings.Contains(err.Error(), "no such") {
		t.Errorf("ExpireSilence of a path: %v", err)
	}
}
