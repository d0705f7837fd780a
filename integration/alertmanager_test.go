package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/reachmon/reachmon/integration/amlab"
	"github.com/reachmon/reachmon/internal/model"
)

// amAlertName is the alertname reachmon gives an incident kind's alert
// (COMMON contract: "Reachmon" + CamelCase(kind)).
func amAlertName(k model.IncidentKind) string {
	var b strings.Builder
	b.WriteString("Reachmon")
	for _, w := range strings.Split(string(k), "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// amLabels are the labels of reachmon's alert for an incident.
func amLabels(kind model.IncidentKind, sev model.Severity, subject, zone, vantage string) map[string]string {
	l := map[string]string{"alertname": amAlertName(kind), "kind": string(kind), "severity": string(sev),
		"subject": subject, "vantage": vantage}
	if zone != "" {
		l["zone"] = zone
	}
	return l
}

// TestAlertmanagerConfig checks the shipped config/alertmanager.yml (and
// its template config/alertmanager.tmpl): amtool check-config, amtool
// config routes test for each severity, its grouping and inhibitions as
// written, and then its behaviour in a real Alertmanager with the Slack
// receivers pointed at a local recorder: the same outage from two vantages
// is one Slack message naming both, a bgp_dns_outage inhibits the
// authoritative_outage of its zone (from any vantage) and nothing else,
// and one vantage's vantage_down and feed_lost inhibit nothing.
func TestAlertmanagerConfig(t *testing.T) {
	_, amtool := amlab.Binaries(t)
	cfgDir := filepath.Join(repoRoot(t), "config")
	if out, err := run(t, cfgDir, amtool, "check-config", "alertmanager.yml"); err != nil {
		t.Fatalf("amtool check-config config/alertmanager.yml: %v\n%s", err, out)
	} else if !strings.Contains(out, "1 templates") {
		t.Errorf("amtool check-config did not load the template alertmanager.tmpl:\n%s", out)
	}

	// Routing: each severity to its receiver; a label set without one
	// (say a Prometheus alert without severity) to the default.
	for _, c := range []struct {
		want   string
		labels map[string]string
	}{
		{"slack-critical", amLabels(model.IncidentBGPOutage, model.SeverityCritical, "fb.example", "fb.example", "fra")},
		{"slack-critical", amLabels(model.IncidentHijack, model.SeverityCritical, "198.51.100.0/24 AS64666", "", "fra")},
		{"slack-warning", amLabels(model.IncidentAuthOutage, model.SeverityWarning, "auth.example", "auth.example", "ams")},
		{"slack-info", amLabels(model.IncidentVantageDown, model.SeverityInfo, "fra", "", "fra")},
		{"slack-info", amLabels(model.IncidentFeedLost, model.SeverityInfo, "192.0.2.1", "", "fra")},
		{"slack-warning", map[string]string{"alertname": "ReachmonDown", "instance": "fra:9798"}},
		{"slack-critical", map[string]string{"alertname": "ReachmonDown", "severity": "critical", "instance": "fra:9798"}},
	} {
		args := []string{"config", "routes", "test", "--config.file=alertmanager.yml", "--verify.receivers=" + c.want}
		for k, v := range c.labels {
			args = append(args, k+"="+v)
		}
		out, err := run(t, cfgDir, amtool, args...)
		// The last line is the receiver; a warning about --config.file
		// comes before it.
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if err != nil || strings.TrimSpace(lines[len(lines)-1]) != c.want {
			t.Errorf("amtool config routes test %v: %v: %s (want receiver %s)", c.labels, err, out, c.want)
		}
	}

	shipped := readFile(t, filepath.Join(cfgDir, "alertmanager.yml"))
	checkAMConfigText(t, shipped)

	// The real thing: the shipped routes, inhibitions, receivers and
	// template, the Slack URL pointing at the recorder, short timings.
	rec := amlab.NewReceiver(t)
	urlFile := filepath.Join(t.TempDir(), "slack_api_url")
	if err := os.WriteFile(urlFile, []byte(rec.SlackURL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf, err := amlab.TestConfig([]byte(shipped), amlab.TestOptions{SlackURLFile: urlFile,
		Timing: amlab.Timing{GroupWait: time.Second, GroupInterval: 2 * time.Second, RepeatInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	am := amlab.Start(t, map[string][]byte{"alertmanager.yml": conf,
		"alertmanager.tmpl": []byte(readFile(t, filepath.Join(cfgDir, "alertmanager.tmpl")))})

	// startsAt now, as reachmon sends a new incident: an alert that
	// started more than group_wait ago is flushed at once, before the
	// inhibitor has seen an alert posted with it.
	start := time.Now().UTC()
	alert := func(labels map[string]string, id string) amlab.PostableAlert {
		return amlab.PostableAlert{Labels: labels, StartsAt: start,
			Annotations: map[string]string{"summary": fmt.Sprintf("%s of %s from %s", labels["kind"], labels["subject"], labels["vantage"]),
				"root_cause": "root cause seen from " + labels["vantage"], "runbook_url": "https://runbooks.example/" + labels["kind"],
				"dashboard_url": "https://grafana.example/d/x", "incident_id": id},
			GeneratorURL: "http://" + labels["vantage"] + ".example:9798/api/v1/incidents?id=" + id}
	}
	// One outage from two vantages; a BGP-caused outage of fb.example from
	// v1 with the authoritative outage it explains from v2; another zone's
	// authoritative outage; v1's own problems.
	authV1 := alert(amLabels(model.IncidentAuthOutage, model.SeverityCritical, "auth.example", "auth.example", "v1"), "a1")
	authV2 := alert(amLabels(model.IncidentAuthOutage, model.SeverityCritical, "auth.example", "auth.example", "v2"), "a2")
	bgpV1 := alert(amLabels(model.IncidentBGPOutage, model.SeverityCritical, "fb.example", "fb.example", "v1"), "b1")
	fbAuthV2 := alert(amLabels(model.IncidentAuthOutage, model.SeverityCritical, "fb.example", "fb.example", "v2"), "f2")
	downV1 := alert(amLabels(model.IncidentVantageDown, model.SeverityInfo, "v1", "", "v1"), "d1")
	feedV1 := alert(amLabels(model.IncidentFeedLost, model.SeverityInfo, "192.0.2.1", "", "v1"), "l1")
	// Prometheus' ReachmonIncidentOpen (config/alerts.yml) for v1's
	// auth.example incident, which v1 sends itself (inhibited), and for a
	// vantage v3 that does not send its incidents here (not inhibited).
	promOpen := func(zone, vantage string) amlab.PostableAlert {
		return amlab.PostableAlert{StartsAt: start, Labels: map[string]string{"alertname": "ReachmonIncidentOpen", "kind": "authoritative_outage",
			"severity": "critical", "subject": zone, "subject_kind": "zone", "zone": zone, "vantage": vantage, "job": "reachmon", "instance": vantage + ":9798"},
			Annotations: map[string]string{"summary": "reachmon " + vantage + ": authoritative_outage of " + zone + " (critical)"}}
	}
	promV1, promV3 := promOpen("auth.example", "v1"), promOpen("other.example", "v3")
	if err := am.Post(authV1, authV2, bgpV1, fbAuthV2, downV1, feedV1, promV1, promV3); err != nil {
		t.Fatal(err)
	}

	waitUntil(t, 30*time.Second, "Alertmanager to process the alerts and inhibit fb.example's authoritative outage", func() (bool, string) {
		got, err := am.Alerts()
		if err != nil {
			return false, err.Error()
		}
		var b strings.Builder
		ok := len(got) == 8
		for _, a := range got {
			fmt.Fprintf(&b, "%v %s inhibitedBy=%v\n", a.Labels, a.Status.State, a.Status.InhibitedBy)
			inhibited := a.Labels["kind"] == string(model.IncidentAuthOutage) && a.Labels["zone"] == "fb.example" ||
				a.Labels["alertname"] == "ReachmonIncidentOpen" && a.Labels["vantage"] == "v1"
			switch {
			case inhibited && (a.Status.State != "suppressed" || len(a.Status.InhibitedBy) != 1):
				ok = false
			case !inhibited && a.Status.State != "active":
				ok = false
			}
		}
		return ok, b.String()
	})

	// Slack: one message per group, after group_wait: auth.example from
	// both vantages (critical), fb.example's BGP-caused outage (critical),
	// v1's two monitor problems (info channel) and v3's
	// ReachmonIncidentOpen; never fb.example's inhibited authoritative
	// outage, nor v1's ReachmonIncidentOpen.
	waitUntil(t, 30*time.Second, "five Slack messages", func() (bool, string) {
		return len(rec.Slack()) >= 5, rec.Log()
	})
	time.Sleep(3 * time.Second) // a group_interval: room for a wrong extra message
	msgs := rec.Slack()
	find := func(title string) []amlab.SlackMessage { return slackTitled(msgs, title) }
	if len(msgs) != 5 {
		t.Errorf("%d Slack messages, want 5:\n%s", len(msgs), rec.Log())
	}
	for _, c := range []struct {
		title, channel string
		text           []string
	}{
		{"[FIRING:2] ReachmonAuthoritativeOutage auth.example (critical)", "#reachmon-critical",
			[]string{"*v1*: authoritative_outage of auth.example from v1", "root cause seen from v1",
				"*v2*: authoritative_outage of auth.example from v2", "root cause seen from v2",
				"<https://runbooks.example/authoritative_outage|Runbook>", "<http://v2.example:9798/api/v1/incidents?id=a2|Incident>"}},
		{"[FIRING:1] ReachmonBgpDnsOutage fb.example (critical)", "#reachmon-critical", []string{"*v1*: bgp_dns_outage of fb.example"}},
		{"[FIRING:1] ReachmonVantageDown v1 (info)", "#reachmon-info", []string{"*v1*"}},
		{"[FIRING:1] ReachmonFeedLost 192.0.2.1 (info)", "#reachmon-info", []string{"*v1*"}},
		{"[FIRING:1] ReachmonIncidentOpen other.example (critical)", "#reachmon-critical", []string{"*v3*: reachmon v3: authoritative_outage of other.example"}},
	} {
		got := find(c.title)
		if len(got) != 1 {
			t.Errorf("%d Slack messages titled %q, want 1:\n%s", len(got), c.title, rec.Log())
			continue
		}
		if got[0].Channel != c.channel {
			t.Errorf("%q went to %s, want %s", c.title, got[0].Channel, c.channel)
		}
		if m := missing(got[0].Attachments[0].Text, c.text...); len(m) > 0 {
			t.Errorf("%q lacks %q:\n%s", c.title, m, got[0].Attachments[0].Text)
		}
	}
	if got := find("ReachmonAuthoritativeOutage fb.example"); len(got) > 0 {
		t.Errorf("the authoritative outage of fb.example paged although its BGP-caused outage inhibits it:\n%s", rec.Log())
	}

	// The outage ends at both vantages: one resolved message for the
	// group; the info receiver sends no resolve.
	end := time.Now().UTC()
	// (Prometheus resolves its mirror of v1's incident too.)
	authV1.EndsAt, authV2.EndsAt, downV1.EndsAt, promV1.EndsAt = end, end, end, end
	if err := am.Post(authV1, authV2, downV1, promV1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the resolved Slack message of auth.example", func() (bool, string) {
		return len(slackTitled(rec.Slack(), "[RESOLVED] ReachmonAuthoritativeOutage auth.example")) == 1, rec.Log()
	})
	time.Sleep(5 * time.Second) // two group_intervals
	if n := len(rec.Slack()); n != 6 {
		t.Errorf("%d Slack messages, want 6 (5 firing, 1 resolved):\n%s", n, rec.Log())
	}
	res := slackTitled(rec.Slack(), "[RESOLVED] ReachmonAuthoritativeOutage auth.example")[0]
	if m := missing(res.Attachments[0].Text, "*v1* (resolved)", "*v2* (resolved)"); len(m) > 0 {
		t.Errorf("the resolved message lacks %q:\n%s", m, res.Attachments[0].Text)
	}
	if s := rec.Stray(); len(s) > 0 {
		t.Errorf("stray requests to the receiver: %v", s)
	}
}

// slackTitled are the messages whose title contains title.
func slackTitled(msgs []amlab.SlackMessage, title string) []amlab.SlackMessage {
	var out []amlab.SlackMessage
	for _, m := range msgs {
		if len(m.Attachments) > 0 && strings.Contains(m.Attachments[0].Title, title) {
			out = append(out, m)
		}
	}
	return out
}

// amConfigDoc is the part of alertmanager.yml checked as written.
type amConfigDoc struct {
	Global struct {
		ResolveTimeout  string `yaml:"resolve_timeout"`
		SlackAPIURL     string `yaml:"slack_api_url"`
		SlackAPIURLFile string `yaml:"slack_api_url_file"`
	} `yaml:"global"`
	Route        amRoute `yaml:"route"`
	InhibitRules []struct {
		SourceMatchers []string `yaml:"source_matchers"`
		TargetMatchers []string `yaml:"target_matchers"`
		Equal          []string `yaml:"equal"`
	} `yaml:"inhibit_rules"`
	Receivers []struct {
		Name         string           `yaml:"name"`
		SlackConfigs []map[string]any `yaml:"slack_configs"`
	} `yaml:"receivers"`
}

type amRoute struct {
	GroupBy  []string  `yaml:"group_by"`
	Matchers []string  `yaml:"matchers"`
	Routes   []amRoute `yaml:"routes"`
}

// checkAMConfigText checks what the file says that routing tests cannot:
// group_by without vantage everywhere, the BGP/authoritative inhibition,
// no inhibition on a monitor-health kind (or on any alert) unless equal
// has vantage, and no secret in the file.
func checkAMConfigText(t *testing.T, text string) {
	t.Helper()
	var doc amConfigDoc
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("config/alertmanager.yml: %v", err)
	}
	var walk func(r amRoute, path string)
	walk = func(r amRoute, path string) {
		if slices.Contains(r.GroupBy, "vantage") || slices.Contains(r.GroupBy, "...") {
			t.Errorf("config/alertmanager.yml %s: group_by %v splits one outage per vantage", path, r.GroupBy)
		}
		for i, s := range r.Routes {
			walk(s, fmt.Sprintf("%s.routes[%d]", path, i))
		}
	}
	walk(doc.Route, "route")
	for _, l := range []string{"alertname", "zone", "subject"} {
		if !slices.Contains(doc.Route.GroupBy, l) {
			t.Errorf("config/alertmanager.yml route.group_by %v lacks %s", doc.Route.GroupBy, l)
		}
	}
	found := false
	for i, r := range doc.InhibitRules {
		src := strings.Join(r.SourceMatchers, ",")
		if slices.Equal(r.SourceMatchers, []string{`kind="bgp_dns_outage"`}) &&
			slices.Equal(r.TargetMatchers, []string{`kind="authoritative_outage"`}) && slices.Equal(r.Equal, []string{"zone"}) {
			found = true
		}
		monitor := strings.Contains(src, string(model.IncidentVantageDown)) || strings.Contains(src, string(model.IncidentFeedLost)) ||
			!strings.Contains(src, "kind=")
		if monitor && !slices.Contains(r.Equal, "vantage") {
			t.Errorf("config/alertmanager.yml inhibit_rules[%d] (source %s) may let one vantage's own problem inhibit another's alerts: equal %v lacks vantage",
				i, src, r.Equal)
		}
	}
	if !found {
		t.Errorf("config/alertmanager.yml lacks the inhibition bgp_dns_outage → authoritative_outage with equal: [zone]")
	}
	if doc.Global.SlackAPIURL != "" || doc.Global.SlackAPIURLFile == "" {
		t.Errorf("config/alertmanager.yml: the Slack URL is a secret: slack_api_url_file only (slack_api_url %q, file %q)",
			doc.Global.SlackAPIURL, doc.Global.SlackAPIURLFile)
	}
	for _, r := range doc.Receivers {
		for _, c := range r.SlackConfigs {
			if _, ok := c["api_url"]; ok {
				t.Errorf("config/alertmanager.yml receiver %s has api_url: a secret in the file", r.Name)
			}
		}
	}
	if d, err := time.ParseDuration(doc.Global.ResolveTimeout); err != nil || d <= time.Minute {
		t.Errorf("config/alertmanager.yml resolve_timeout %q: want above reachmon's default resend_interval (1m)", doc.Global.ResolveTimeout)
	}
}
