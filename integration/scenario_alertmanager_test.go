package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/amlab"
	"github.com/reachmon/reachmon/integration/outagelab"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
)

// Timing of the Alertmanager in TestScenarioAlertmanagerMultiVantage,
// derived from what the scenario needs rather than made as short as
// possible:
//   - group_wait covers the skew between the two vantages' detection (each
//     opens after open_rounds probe rounds of its own), so the first
//     notification already holds both alerts;
//   - group_interval covers the skew between their resolutions: the
//     recovery is injected right after the first notification, so both
//     vantages resolve well inside the same group_interval and the group
//     gets one resolved notification, not a "1 firing, 1 resolved" one;
//   - repeat_interval is longer than the test: reachmon's re-sends of
//     firing alerts (resend_interval) must not notify again.
var scenarioAMTiming = amlab.Timing{GroupWait: 15 * time.Second, GroupInterval: 45 * time.Second, RepeatInterval: time.Hour}

// TestScenarioAlertmanagerMultiVantage: two reachmon vantages (v1, v2)
// watch the same outage lab and send their incidents to one real
// Alertmanager running config/alertmanager.yml (its receivers turned into
// webhooks to a local recorder, its timing scenarioAMTiming). Both
// nameservers of auth.test become unreachable at once (one nftables
// change; routes stay): both vantages open a critical
// authoritative_outage, and Alertmanager delivers exactly one
// notification, to the critical receiver, grouping both vantages' alerts;
// after the servers are reachable again, exactly one resolved
// notification of the same group; nothing else.
//
// (Both servers at once, not the NSD stopped as in
// TestScenarioAuthoritative: stopping one server after the other lets a
// vantage open the incident at warning and raise it to critical, a path
// TestScenarioAlertmanagerEscalation covers.)
func TestScenarioAlertmanagerMultiVantage(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	const zone = "auth.test"
	cfgDir := filepath.Join(repoRoot(t), "config")
	rec := amlab.NewReceiver(t)
	urlFile := filepath.Join(t.TempDir(), "slack_api_url")
	if err := os.WriteFile(urlFile, []byte(rec.SlackURL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := amlab.TestConfig([]byte(readFile(t, filepath.Join(cfgDir, "alertmanager.yml"))),
		amlab.TestOptions{SlackURLFile: urlFile, Webhook: rec.WebhookURL, Timing: scenarioAMTiming})
	if err != nil {
		t.Fatal(err)
	}
	am := amlab.Start(t, map[string][]byte{"alertmanager.yml": conf,
		"alertmanager.tmpl": []byte(readFile(t, filepath.Join(cfgDir, "alertmanager.tmpl")))})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the receiver got:\n%s", rec.Log())
		}
	})

	vantages := []string{"v1", "v2"}
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"auth.test."}, Vantages: vantages,
		ReachmonExtra: func(string) string {
			return fmt.Sprintf("[[alertmanager]]\nurls = [%q]\ntimeout = \"3s\"\nresend_interval = \"5s\"\nmax_backoff = \"2s\"\n", am.URL)
		}})
	if n := rec.Notifications(); len(n) > 0 {
		t.Fatalf("Alertmanager notified before any fault:\n%s", rec.Log())
	}

	fault := l.Mark("DROP both nameservers of auth.test (routes stay); two vantages watch")
	l.Block(l.NSAddrs(zone)...)
	incs := map[string]incident.Entry{}
	for _, v := range l.Vantages {
		incs[v.Name] = waitIncidentAt(t, l, v, model.IncidentAuthOutage, zone, 30*time.Second, func(e incident.Entry) bool {
			return e.IsOpen() && e.Severity == model.SeverityCritical
		})
		t.Logf("%s: %s %s opened %v after the fault", v.Name, incs[v.Name].ID, incs[v.Name].Kind, incs[v.Name].Opened.Sub(fault).Round(time.Millisecond))
	}

	l.WaitFor("Alertmanager's first notification", 60*time.Second, func() (bool, string) {
		return len(rec.Notifications()) > 0, rec.Log()
	})
	recovery := l.Mark("lift the DROP; resolvers drop their cached failures")
	l.Unblock(l.NSAddrs(zone)...)
	l.DNS.FlushResolvers()
	first := rec.Notifications()[0]
	t.Logf("first notification %v after the fault", first.Time.Sub(fault).Round(time.Millisecond))
	checkGroup(t, "the firing notification", first, "firing", incs)

	for _, v := range l.Vantages {
		waitIncidentAt(t, l, v, model.IncidentAuthOutage, zone, 40*time.Second, func(e incident.Entry) bool {
			return e.State == model.StateResolved
		})
	}
	var resolved amlab.Notification
	l.WaitFor("Alertmanager's resolved notification", scenarioAMTiming.GroupInterval+30*time.Second, func() (bool, string) {
		for _, n := range rec.Notifications() {
			if n.Status == "resolved" {
				resolved = n
				return true, ""
			}
		}
		return false, rec.Log()
	})
	t.Logf("resolved notification %v after the recovery", resolved.Time.Sub(recovery).Round(time.Millisecond))
	checkGroup(t, "the resolved notification", resolved, "resolved", incs)
	if resolved.GroupKey != first.GroupKey {
		t.Errorf("the resolved notification is of group %s, the firing one of %s", resolved.GroupKey, first.GroupKey)
	}

	// Room for anything else: a late alert of either vantage would open a
	// new group and notify after group_wait.
	time.Sleep(scenarioAMTiming.GroupWait + 5*time.Second)
	if n := rec.Notifications(); len(n) != 2 {
		t.Errorf("%d notifications, want exactly 2 (one firing with both vantages, one resolved):\n%s", len(n), rec.Log())
	}
	if s := rec.Stray(); len(s) > 0 {
		t.Errorf("stray requests to the receiver: %v", s)
	}
	if got, err := am.Alerts(); err != nil {
		t.Error(err)
	} else {
		for _, a := range got {
			if a.Status.State == "active" {
				t.Errorf("alert still active in Alertmanager after the recovery: %v (ends %v)", a.Labels, a.EndsAt)
			}
		}
	}
	for _, v := range l.Vantages {
		for _, e := range l.AllAt(v) {
			if e.Kind != model.IncidentAuthOutage {
				t.Errorf("%s: unexpected %s incident %s: %s", v.Name, e.Kind, e.Subject, e.RootCause)
			}
		}
	}
}

// checkGroup checks a notification of the auth.test group: its status,
// the critical receiver, the group labels without vantage, and exactly
// one alert per vantage, each with its incident's labels, annotations,
// generatorURL and start.
func checkGroup(t *testing.T, what string, n amlab.Notification, status string, incs map[string]incident.Entry) {
	t.Helper()
	if n.Status != status {
		t.Errorf("%s: status %s, want %s", what, n.Status, status)
	}
	if n.Receiver != "slack-critical" {
		t.Errorf("%s went to receiver %s, want slack-critical (the critical route)", what, n.Receiver)
	}
	wantGroup := map[string]string{"alertname": amAlertName(model.IncidentAuthOutage), "zone": "auth.test", "subject": "auth.test"}
	if fmt.Sprint(n.GroupLabels) != fmt.Sprint(wantGroup) {
		t.Errorf("%s: group labels %v, want %v", what, n.GroupLabels, wantGroup)
	}
	var seen []string
	for _, a := range n.Alerts {
		v := a.Labels["vantage"]
		seen = append(seen, v)
		inc, ok := incs[v]
		if !ok {
			t.Errorf("%s: an alert of vantage %q: %v", what, v, a.Labels)
			continue
		}
		if a.Status != status {
			t.Errorf("%s: %s's alert is %s, want %s", what, v, a.Status, status)
		}
		want := amLabels(model.IncidentAuthOutage, model.SeverityCritical, "auth.test", "auth.test", v)
		if fmt.Sprint(a.Labels) != fmt.Sprint(want) {
			t.Errorf("%s: %s's alert has labels %v, want %v", what, v, a.Labels, want)
		}
		if a.Annotations["incident_id"] != inc.ID || !strings.HasSuffix(a.GeneratorURL, "/api/v1/incidents?id="+inc.ID) {
			t.Errorf("%s: %s's alert names incident %q at %q, want %s", what, v, a.Annotations["incident_id"], a.GeneratorURL, inc.ID)
		}
		if m := missing(a.Annotations["root_cause"], "Every authoritative server of auth.test fails"); len(m) > 0 || a.Annotations["summary"] == "" {
			t.Errorf("%s: %s's alert lacks the summary or the root cause: %v", what, v, a.Annotations)
		}
		if !a.StartsAt.Equal(inc.Opened) {
			t.Logf("%s: %s's alert starts at %v, the incident at %v", what, v, a.StartsAt, inc.Opened)
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"v1", "v2"}) {
		t.Errorf("%s holds the alerts of vantages %v, want one of v1 and one of v2", what, seen)
	}
}

// waitIncidentAt is Lab.WaitIncident at vantage v.
func waitIncidentAt(t *testing.T, l *outagelab.Lab, v *outagelab.Vantage, kind model.IncidentKind, subject string, timeout time.Duration,
	pred func(incident.Entry) bool) incident.Entry {
	t.Helper()
	var found incident.Entry
	l.WaitFor(fmt.Sprintf("a %s incident about %q at %s", kind, subject, v.Name), timeout, func() (bool, string) {
		all := l.AllAt(v)
		var b strings.Builder
		for _, e := range all {
			if e.Kind == kind && e.Subject == subject && pred(e) {
				found = e
				return true, ""
			}
			fmt.Fprintf(&b, "%s %s %s %s %s\n", e.ID, e.State, e.Kind, e.Severity, e.Subject)
		}
		return false, b.String()
	})
	return found
}

// TestScenarioAlertmanagerEscalation: an incident that changes severity
// changes its alert's severity label, hence its identity in Alertmanager
// and its route. One vantage, one real Alertmanager running the shipped
// routes (receivers turned into webhooks, short timings): one nameserver
// of auth.test becomes unreachable (authoritative_outage, warning: paged
// on the warning route), then the other (the same incident, critical:
// paged on the critical route). The warning alert must end when the
// critical one starts — not linger until resolve_timeout, as an alert
// nobody re-sends does — and after the recovery nothing is left firing:
// warning firing and resolved, critical firing and resolved, nothing else.
func TestScenarioAlertmanagerEscalation(t *testing.T) {
	if !outagelab.Enter(t) {
		return
	}
	const zone = "auth.test"
	cfgDir := filepath.Join(repoRoot(t), "config")
	rec := amlab.NewReceiver(t)
	conf, err := amlab.TestConfig([]byte(readFile(t, filepath.Join(cfgDir, "alertmanager.yml"))),
		amlab.TestOptions{SlackURLFile: filepath.Join(t.TempDir(), "unused"), Webhook: rec.WebhookURL,
			Timing: amlab.Timing{GroupWait: 3 * time.Second, GroupInterval: 5 * time.Second, RepeatInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	am := amlab.Start(t, map[string][]byte{"alertmanager.yml": conf,
		"alertmanager.tmpl": []byte(readFile(t, filepath.Join(cfgDir, "alertmanager.tmpl")))})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the receiver got:\n%s", rec.Log())
		}
	})
	l := outagelab.Start(t, outagelab.Options{Zones: []string{"auth.test."}, Vantages: []string{"v1"},
		ReachmonExtra: func(string) string {
			return fmt.Sprintf("[[alertmanager]]\nurls = [%q]\ntimeout = \"3s\"\nresend_interval = \"5s\"\nmax_backoff = \"2s\"\n", am.URL)
		}})
	v := l.Vantages[0]
	ns := l.NSAddrs(zone)
	received := func(receiver, status string) func() (bool, string) {
		return func() (bool, string) {
			for _, n := range rec.Notifications() {
				if n.Receiver == receiver && n.Status == status {
					return true, ""
				}
			}
			return false, rec.Log()
		}
	}
	active := func(sev model.Severity) []amlab.GettableAlert {
		got, err := am.Alerts()
		if err != nil {
			t.Fatal(err)
		}
		var out []amlab.GettableAlert
		for _, a := range got {
			if a.Status.State == "active" && a.Labels["severity"] == string(sev) {
				out = append(out, a)
			}
		}
		return out
	}

	l.Mark("DROP ns2.auth.test only")
	l.Block(ns[1])
	inc := waitIncidentAt(t, l, v, model.IncidentAuthOutage, zone, 30*time.Second, func(e incident.Entry) bool {
		return e.IsOpen() && e.Severity == model.SeverityWarning
	})
	l.WaitFor("the warning notification", 30*time.Second, received("slack-warning", "firing"))

	l.Mark("DROP ns1.auth.test too")
	l.Block(ns[0])
	waitIncidentAt(t, l, v, model.IncidentAuthOutage, zone, 30*time.Second, func(e incident.Entry) bool {
		return e.ID == inc.ID && e.IsOpen() && e.Severity == model.SeverityCritical
	})
	l.WaitFor("the critical notification", 30*time.Second, received("slack-critical", "firing"))
	// The escalation's delivery ends the warning alert (resend_interval is
	// 5 s, resolve_timeout 5 m: 20 s is neither).
	l.WaitFor("the warning alert to end in Alertmanager", 20*time.Second, func() (bool, string) {
		w := active(model.SeverityWarning)
		return len(w) == 0, fmt.Sprint(w)
	})
	l.WaitFor("the warning route's resolved notification", 30*time.Second, received("slack-warning", "resolved"))

	l.Mark("lift the DROP; resolvers drop their cached failures")
	l.Unblock(ns...)
	l.DNS.FlushResolvers()
	waitIncidentAt(t, l, v, model.IncidentAuthOutage, zone, 40*time.Second, func(e incident.Entry) bool {
		return e.ID == inc.ID && e.State == model.StateResolved
	})
	l.WaitFor("the critical route's resolved notification", 30*time.Second, received("slack-critical", "resolved"))
	time.Sleep(5 * time.Second) // a group_wait and more: room for a stray notification
	var got []string
	for _, n := range rec.Notifications() {
		for _, a := range n.Alerts {
			got = append(got, fmt.Sprintf("%s %s %s/%s", n.Receiver, n.Status, a.Labels["severity"], a.Status))
		}
	}
	// The warning page first; the warning resolve and the critical page
	// in either order (each group's own timer); the critical resolve last.
	want := []string{"slack-warning firing warning/firing", "slack-critical firing critical/firing",
		"slack-warning resolved warning/resolved", "slack-critical resolved critical/resolved"}
	sorted := func(v []string) []string { v = slices.Clone(v); slices.Sort(v); return v }
	if !slices.Equal(sorted(got), sorted(want)) || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
		t.Errorf("notifications (receiver status alert-severity/alert-status):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, sev := range model.Severities {
		if a := active(sev); len(a) > 0 {
			t.Errorf("still active in Alertmanager after the recovery: %v", a)
		}
	}
}
