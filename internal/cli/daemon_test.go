package cli

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
)

// TestIncidentsAndStatus runs `reachmon incidents` and `reachmon status`
// against the daemon's own handlers.
func TestIncidentsAndStatus(t *testing.T) {
	store, err := incident.Open(t.TempDir(), incident.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Flush) // its queued write lands before the directory is removed
	now := time.Date(2021, 10, 4, 15, 40, 2, 0, time.UTC)
	inc := model.Incident{ID: "20211004T154002Z-3fa2c1", Kind: model.IncidentBGPOutage, Severity: model.SeverityCritical,
		State: model.StateOpen, SubjectKind: model.SubjectZone, Subject: "facebook.com", Opened: now, Confirmed: now, Updated: now,
		RootCause: "The routes covering every nameserver of facebook.com were withdrawn.",
		Evidence:  []model.EvidenceItem{{Time: now, Text: "129.134.30.0/24 withdrawn, seen by 0 of 3 peers, last origin AS32934"}}}
	if err := store.Apply([]model.IncidentChange{{Type: model.ChangeOpen, Incident: inc}}); err != nil {
		t.Fatal(err)
	}
	var pub evaluate.Publisher
	cfg, err := config.Parse("t.toml", []byte("[[zone]]\nname = \"facebook.com\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	pub.Publish(evaluate.New(cfg.Evaluate, evaluate.TargetsFromPlan(cfg)).Snapshot(now))
	srv := httptest.NewServer(api.Handler(api.Sources{Incidents: store.View, Status: pub.Load}))
	defer srv.Close()

	code, out, errOut := runMain("incidents", "--url", srv.URL, "-v")
	if code != ExitOK {
		t.Fatalf("incidents: exit %d: %s", code, errOut)
	}
	for _, w := range []string{"facebook.com", "bgp_dns_outage", "129.134.30.0/24 withdrawn, seen by 0 of 3 peers"} {
		if !strings.Contains(out, w) {
			t.Errorf("incidents output lacks %q:\n%s", w, out)
		}
	}
	code, out, errOut = runMain("status", "--url", srv.URL, "--all")
	if code != ExitOK || !strings.Contains(out, "facebook.com") {
		t.Errorf("status: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := runMain("status", "--url", srv.URL, "--json"); code != ExitOK || !strings.Contains(out, `"facebook.com"`) {
		t.Errorf("status --json: exit %d\n%s", code, out)
	}
	if code, _, errOut := runMain("incidents", "--url", "http://127.0.0.1:1"); code != ExitProblem || errOut == "" {
		t.Errorf("unreachable daemon: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runMain("bgp", "neighbours", "--url", srv.URL); code != ExitUsage || !strings.Contains(errOut, "peers, or routes") {
		t.Errorf("bad bgp argument: exit %d, stderr %q", code, errOut)
	}
}
