package evaluate

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/model"
)

// TestStatusPublish checks the status document of the facebook world with
// every cover withdrawn. internal/cli/testdata/status.json is this
// document, rendered there as a table.
func TestStatusPublish(t *testing.T) {
	w := facebookWorld(t)
	w.runFor(5*time.Minute, 30*time.Second)
	var p Publisher
	if st := p.Load(); st != nil {
		t.Fatalf("before the first publish: %+v", st)
	}
	w.withdraw(peers3, "129.134.30.0/24", 32934)
	w.apply(coverWithdrawn(w.now, fbAuth[0], "129.134.30.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[1], "129.134.31.0/24", "129.134.0.0/17"),
		coverWithdrawn(w.now, fbAuth[2], "185.89.218.0/24", ""),
		coverWithdrawn(w.now, fbAuth[3], "185.89.219.0/24", ""))
	p.Publish(w.e.Snapshot(w.now))
	st := p.Load()
	if st == nil || st.Schema != StatusSchema {
		t.Fatalf("published status %+v", st)
	}
	if len(st.Zones) != 1 || st.Zones[0].Health != HealthFailing || st.Zones[0].Kind != model.IncidentBGPOutage || st.Zones[0].Incident == "" {
		t.Errorf("zones %+v", st.Zones)
	}
	if len(st.Authoritative) != 4 || !st.Authoritative[0].RouteWithdrawn || st.Authoritative[0].Route.String() != "129.134.30.0/24" {
		t.Errorf("authoritative %+v", st.Authoritative)
	}
	if len(st.Resolvers) != 3 || st.Resolvers[0].Health != HealthOK || st.Resolvers[0].Zones != 1 {
		t.Errorf("resolvers %+v", st.Resolvers)
	}
	if len(st.Prefixes) != 2 || st.Prefixes[0].Health != HealthOK || st.Prefixes[0].Peers != 3 {
		t.Errorf("prefixes %+v", st.Prefixes)
	}
	if !st.BGP.Usable || len(st.BGP.Peers) != 3 || len(st.Open) != 1 {
		t.Errorf("bgp %+v open %d", st.BGP, len(st.Open))
	}
}

// A root cause over MaxRootCauseLabel characters is cut, marked with
// "…"; a new diagnosis replaces the series rather than adding one.
func TestRootCauseSeriesCutAndReplaced(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	inc := model.Incident{ID: "i1", Kind: model.IncidentAuthOutage, Severity: model.SeverityCritical, State: model.StateOpen,
		SubjectKind: model.SubjectZone, Subject: "example.com", RootCause: strings.Repeat("é", MaxRootCauseLabel+50)}
	m.Observe([]model.IncidentChange{{Type: model.ChangeOpen, Incident: inc}})
	cut := strings.Repeat("é", MaxRootCauseLabel-1) + "…"
	if v := testutil.ToFloat64(m.cause.vec.WithLabelValues("authoritative_outage", "critical", "zone", "example.com", "example.com", cut)); v != 1 {
		t.Fatalf("cut root cause series: %v", v)
	}
	inc.RootCause = "every server times out"
	m.Observe([]model.IncidentChange{{Type: model.ChangeUpdate, Incident: inc}})
	if n, err := testutil.GatherAndCount(reg, "reachmon_incident_root_cause_info"); err != nil || n != 1 {
		t.Fatalf("series after a new diagnosis: %d %v", n, err)
	}
	if v := testutil.ToFloat64(m.cause.vec.WithLabelValues("authoritative_outage", "critical", "zone", "example.com", "example.com", inc.RootCause)); v != 1 {
		t.Fatalf("new root cause series: %v", v)
	}
	if n, err := testutil.GatherAndCount(reg, "reachmon_incident_open_info"); err != nil || n != 1 {
		t.Fatalf("open info series: %d %v", n, err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	n, err := testutil.GatherAndCount(reg, "reachmon_incidents_open")
	if err != nil || n != len(model.IncidentKinds)*len(model.Severities) {
		t.Fatalf("pre-created series: %d %v", n, err)
	}
	w := slackWorld(t)
	ds := slackDS
	ds.Time = w.now
	w.apply(ds)
	w.runFor(2*time.Minute, 30*time.Second) // DNSSEC warning
	m.Observe(w.changes)
	if v := testutil.ToFloat64(m.open.WithLabelValues("dnssec_failure", "warning")); v != 1 {
		t.Fatalf("warning gauge %v", v)
	}
	w.changes = nil
	w.probe = dnssecFailing
	w.runFor(3*time.Minute, 30*time.Second) // raised to critical
	m.Observe(w.changes)
	if a, b := testutil.ToFloat64(m.open.WithLabelValues("dnssec_failure", "warning")), testutil.ToFloat64(m.open.WithLabelValues("dnssec_failure", "critical")); a != 0 || b != 1 {
		t.Fatalf("after raise: warning %v critical %v", a, b)
	}
	// One info series per open incident, moved with its severity.
	wantInfo := `
# HELP reachmon_incident_open_info 1 per open incident: its kind, severity and subject (zone set when the subject is a zone).
# TYPE reachmon_incident_open_info gauge
reachmon_incident_open_info{kind="dnssec_failure",severity="critical",subject="slack.com",subject_kind="zone",zone="slack.com"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantInfo), "reachmon_incident_open_info"); err != nil {
		t.Fatalf("info while open: %v", err)
	}
	// And one root-cause series, with the incident's root cause as it is now.
	if n, err := testutil.GatherAndCount(reg, "reachmon_incident_root_cause_info"); err != nil || n != 1 {
		t.Fatalf("root cause series while open: %d %v", n, err)
	}
	open := w.e.Open()
	if len(open) != 1 {
		t.Fatalf("open %+v", open)
	}
	if v := testutil.ToFloat64(m.cause.vec.WithLabelValues("dnssec_failure", "critical", "zone", "slack.com", "slack.com", open[0].RootCause)); v != 1 {
		t.Fatalf("root cause series for %q: %v", open[0].RootCause, v)
	}
	w.changes = nil
	w.apply(model.DSCheck{Time: w.now, Zone: "slack.com", Status: model.DSUnsigned})
	w.probe = healthy("54.230.1.1", 60)
	w.runFor(6*time.Minute, 30*time.Second)
	m.Observe(w.changes)
	if v := testutil.ToFloat64(m.open.WithLabelValues("dnssec_failure", "critical")); v != 0 {
		t.Fatalf("after resolve: %v", v)
	}
	if v := testutil.ToFloat64(m.transitions.WithLabelValues("dnssec_failure", "resolve")); v != 1 {
		t.Fatalf("resolve transitions %v", v)
	}
	if n, err := testutil.GatherAndCount(reg, "reachmon_incident_open_info"); err != nil || n != 0 {
		t.Fatalf("info series after resolve: %d %v", n, err)
	}
	if n, err := testutil.GatherAndCount(reg, "reachmon_incident_root_cause_info"); err != nil || n != 0 {
		t.Fatalf("root cause series after resolve: %d %v", n, err)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %v", err, probs)
	}
}
