package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
)

// deliveries is an incident.DeliveryState the test fills in: what the
// notification dispatcher would report.
type deliveries map[string]model.NotifyState

func (d deliveries) Delivered(id string) (model.NotifyState, bool) {
	n, ok := d[id]
	return n, ok
}

// TestHandlerFetchTable serves a store's incidents through the API, reads
// them back as `reachmon incidents` does and renders the table.
func TestHandlerFetchTable(t *testing.T) {
	t0 := time.Date(2021, 9, 30, 15, 0, 0, 0, time.UTC)
	now := t0.Add(10 * time.Minute)
	delivered := deliveries{}
	st, err := incident.Open(t.TempDir(), incident.Options{Now: func() time.Time { return now }, Delivery: delivered})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Flush) // its queued write lands before the directory is removed
	open := model.Incident{ID: "20210930T150000Z-abcdef", Kind: model.IncidentDNSSEC, Severity: model.SeverityCritical,
		State: model.StateOpen, SubjectKind: model.SubjectZone, Subject: "slack.com", Opened: t0, Confirmed: t0, Updated: t0,
		RootCause: "DNSSEC validation of slack.com fails.", Evidence: []model.EvidenceItem{{Time: t0, Text: "resolver google: SERVFAIL"}}}
	done := model.Incident{ID: "20210930T140000Z-123456", Kind: model.IncidentFeedLost, Severity: model.SeverityInfo,
		State: model.StateResolved, Subject: "192.0.2.1", Opened: t0.Add(-time.Hour), Resolved: t0.Add(-30 * time.Minute), RootCause: "BGP session down.",
		Recovery: "the session is back 14:30:00"}
	if err := st.Apply([]model.IncidentChange{{Type: model.ChangeOpen, Incident: open}, {Type: model.ChangeResolve, Incident: done}}); err != nil {
		t.Fatal(err)
	}
	delivered[open.ID] = model.NotifyState{Delivered: model.ChangeOpen}
	srv := httptest.NewServer(api.Handler(api.Sources{Incidents: st.View}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := api.FetchIncidents(ctx, srv.Client(), srv.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Open) != 1 || !v.Open[0].Paged || len(v.Recent) != 1 || v.Open[0].ID != open.ID {
		t.Fatalf("view %+v", v)
	}
	if v.Recent[0].Recovery != done.Recovery {
		t.Errorf("recovery over the API: %q, want %q", v.Recent[0].Recovery, done.Recovery)
	}
	var b bytes.Buffer
	WriteIncidentsTable(&b, v, true)
	for _, want := range []string{"open incidents (1)", "slack.com", "dnssec_failure", "yes", "recently resolved (1)", "info",
		"15:00:00 resolver google: SERVFAIL", "10m0s",
		"BGP feed lost: 192.0.2.1 (resolved after 30m0s)\n  BGP session down.\n  recovered: the session is back 14:30:00"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	v, err = api.FetchIncidents(ctx, srv.Client(), srv.URL, true)
	if err != nil || len(v.Recent) != 0 {
		t.Fatalf("state=open: %v %+v", err, v)
	}
	nf := httptest.NewServer(http.NotFoundHandler())
	defer nf.Close()
	if _, err := api.FetchIncidents(ctx, nf.Client(), nf.URL, false); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a 404 gave %v", err)
	}
}
