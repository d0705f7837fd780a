package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/bgplab"
	"github.com/reachmon/reachmon/integration/lab"
	"github.com/reachmon/reachmon/integration/stack"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
	"github.com/reachmon/reachmon/internal/rpki/rpkitest"
)

// repoRoot is the repository root (tests run in integration/).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
	return root
}

// requireBin finds a binary (PATH, then the sbin directories) or skips
// (fails under CI=true) naming the Debian package.
func requireBin(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	lab.Missing(t, "%s not found (apt-get install -y %s)", name, pkg)
	return ""
}

func run(t testing.TB, dir string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*60e9)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var alertNameRe = regexp.MustCompile(`(?m)^\s*- alert:\s*(\S+)\s*$`)

// TestPromRules checks config/alerts.yml with promtool and runs its unit
// tests (config/alerts_test.yml); every alert must have a test case in
// which it fires.
func TestPromRules(t *testing.T) {
	promtool := requireBin(t, "promtool", "prometheus")
	cfg := filepath.Join(repoRoot(t), "config")
	if out, err := run(t, cfg, promtool, "check", "rules", "alerts.yml"); err != nil {
		t.Fatalf("promtool check rules alerts.yml: %v\n%s", err, out)
	}
	if out, err := run(t, cfg, promtool, "test", "rules", "alerts_test.yml"); err != nil {
		t.Fatalf("promtool test rules alerts_test.yml: %v\n%s", err, out)
	}
	rules, err := os.ReadFile(filepath.Join(cfg, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(cfg, "alerts_test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	names := alertNameRe.FindAllStringSubmatch(string(rules), -1)
	if len(names) < 5 {
		t.Fatalf("alerts.yml: %d alerts found, want at least 5", len(names))
	}
	for _, n := range names {
		// A firing case is an alertname line followed by a non-empty
		// exp_alerts list.
		fires := regexp.MustCompile(`alertname: ` + regexp.QuoteMeta(n[1]) + `\s*\n\s*exp_alerts:\s*\n\s*- exp_labels`)
		if !fires.Match(tests) {
			t.Errorf("alerts_test.yml has no case in which %s fires", n[1])
		}
	}
	for _, want := range []string{"ReachmonDown", "ReachmonNotScraped", "ReachmonIncidentOpen", "ReachmonNotifierDegraded",
		"ReachmonBGPFeedLost", "ReachmonZoneUnresolvableMultiVantage"} {
		if !slices.ContainsFunc(names, func(n []string) bool { return n[1] == want }) {
			t.Errorf("alerts.yml lacks %s", want)
		}
	}
	// The shipped scrape configurations load the rules: one reachmon,
	// and the shards of one vantage (README "Sharding many zones").
	for _, f := range []string{"prometheus.yml", "prometheus-shards.yml"} {
		if out, err := run(t, cfg, promtool, "check", "config", f); err != nil {
			t.Errorf("promtool check config %s: %v\n%s", f, err, out)
		}
	}
	root := repoRoot(t)
	documented, err := stack.DocumentedMetrics(filepath.Join(root, "docs/metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	runbooks := readFile(t, filepath.Join(root, "docs/alerts.md"))
	checkAlertRules(t, "config/alerts.yml", string(rules), alertsDefaults, documented, runbooks)

	// scripts/alerts-config.sh sets the parameters the way a mixin's
	// _config does: the result is valid and uses only the new values.
	custom := alertsParams{selector: `job="dns-monitor", env=~"prod|dr"`, runbooks: "https://wiki.example/runbooks?a=1&b=2", grafana: "https://grafana.example/sub"}
	script := filepath.Join(root, "scripts/alerts-config.sh")
	out, err := exec.Command(script, "--selector", custom.selector, "--runbook-url", custom.runbooks, "--grafana", custom.grafana+"/").Output()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "alerts.yml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := run(t, dir, promtool, "check", "rules", "alerts.yml"); err != nil {
		t.Errorf("promtool check rules on alerts-config.sh's output: %v\n%s", err, o)
	}
	checkAlertRules(t, "alerts-config.sh output", string(out), custom, documented, runbooks)
	for _, bad := range []string{"--selector=job", "job=reachmon"} {
		if err := exec.Command(script, "--selector", bad).Run(); err == nil {
			t.Errorf("alerts-config.sh --selector %q: accepted, want a usage error", bad)
		}
	}
}

// alertsParams are the parameters of config/alerts.yml that
// scripts/alerts-config.sh sets.
type alertsParams struct{ selector, runbooks, grafana string }

var alertsDefaults = alertsParams{
	selector: `job=~"reachmon.*"`,
	runbooks: "https://github.com/reachmon/reachmon/blob/main/docs/alerts.md",
	grafana:  "http://127.0.0.1:3000",
}

var (
	alertBlockRe = regexp.MustCompile(`(?m)^(\s*)- alert:\s*(\S+)\s*$`)
	exprLineRe   = regexp.MustCompile(`(?m)^\s*expr: ([^|].*)$`)
	annotationRe = regexp.MustCompile(`(?m)^\s*(summary|description|runbook_url|dashboard_url): (.*)$`)
)

// ruleExpr returns the expr of a rule's YAML: a plain scalar on its line,
// or a literal block (`expr: |`), the lines indented deeper than it.
func ruleExpr(block string) string {
	if m := exprLineRe.FindStringSubmatch(block); m != nil {
		return m[1]
	}
	indent := func(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }
	lines := strings.Split(block, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "expr: |" {
			continue
		}
		var b strings.Builder
		for _, next := range lines[i+1:] {
			if strings.TrimSpace(next) != "" && indent(next) <= indent(l) {
				break
			}
			b.WriteString(next + "\n")
		}
		return b.String()
	}
	return ""
}

// checkAlertRules checks each alert of a rule file: every metric selector
// of its expression carries p.selector and names a documented metric (or
// up), and it has summary, description, a runbook_url pointing at its
// section of docs/alerts.md under p.runbooks and a dashboard_url under
// p.grafana.
func checkAlertRules(t *testing.T, file, rules string, p alertsParams, documented map[string]string, runbooks string) {
	t.Helper()
	locs := alertBlockRe.FindAllStringSubmatchIndex(rules, -1)
	if len(locs) == 0 {
		t.Fatalf("%s: no alerts", file)
	}
	for i, l := range locs {
		name := rules[l[4]:l[5]]
		end := len(rules)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		block := rules[l[1]:end]
		expr := ruleExpr(block)
		sels := stack.Selectors(expr)
		if len(sels) == 0 {
			t.Errorf("%s: %s: no metric in expr %q", file, name, expr)
		}
		for _, sel := range sels {
			if !strings.Contains(sel[1], "{"+p.selector) {
				t.Errorf("%s: %s: %s%s does not start its matchers with %s", file, name, sel[0], sel[1], p.selector)
			}
			if _, ok := documented[stack.Family(sel[0], documented)]; !ok && sel[0] != "up" {
				t.Errorf("%s: %s: %s is not a metric docs/metrics.md lists", file, name, sel[0])
			}
		}
		ann := map[string]string{}
		for _, m := range annotationRe.FindAllStringSubmatch(block, -1) {
			ann[m[1]] = strings.Trim(m[2], `"`)
		}
		for _, k := range []string{"summary", "description", "runbook_url", "dashboard_url"} {
			if strings.TrimSpace(ann[k]) == "" {
				t.Errorf("%s: %s has no %s annotation", file, name, k)
			}
		}
		anchor := strings.ToLower(name)
		if ann["runbook_url"] != p.runbooks+"#"+anchor {
			t.Errorf("%s: %s: runbook_url %q, want %s#%s", file, name, ann["runbook_url"], p.runbooks, anchor)
		}
		if !regexp.MustCompile(`(?m)^#+ ` + name + `$`).MatchString(runbooks) {
			t.Errorf("docs/alerts.md has no heading %q (the anchor #%s of %s's runbook_url)", name, anchor, name)
		}
		if !strings.HasPrefix(ann["dashboard_url"], p.grafana+"/d/reachmon-") {
			t.Errorf("%s: %s: dashboard_url %q is not a reachmon dashboard under %s", file, name, ann["dashboard_url"], p.grafana)
		}
	}
}

var vantageMatcher = `vantage=~"$vantage"`

// boundedRe matches an expression that keeps at most k series.
var boundedRe = regexp.MustCompile(`^\s*(topk|bottomk)\(\s*\d+\s*,`)

// TestDashboards checks the dashboards as data: each parses, has a unique
// uid, the datasource and vantage variables, and every panel query reads
// its datasource from the variable and filters every reachmon metric by
// vantage. Whether the queries are valid PromQL and return series is
// TestStack's job.
func TestDashboards(t *testing.T) {
	root := repoRoot(t)
	ds, err := stack.LoadDashboards(filepath.Join(root, "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	want := map[string]bool{"reachmon-overview": false, "reachmon-dns": false, "reachmon-bgp": false, "reachmon-health": false}
	for _, d := range ds {
		if prev, ok := uids[d.UID]; ok || d.UID == "" {
			t.Errorf("%s: uid %q empty or also used by %s", d.File, d.UID, prev)
		}
		uids[d.UID] = d.File
		if _, ok := want[d.UID]; ok {
			want[d.UID] = true
		}
		for _, name := range []string{"datasource", "vantage"} {
			if _, ok := d.Variable(name); !ok {
				t.Errorf("%s: no %q variable", d.File, name)
			}
		}
		if v, ok := d.Variable("datasource"); ok && (v.Type != "datasource" || v.QueryString() != "prometheus") {
			t.Errorf("%s: datasource variable is %s/%s, want a prometheus datasource variable", d.File, v.Type, v.QueryString())
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			if _, _, ok := stack.ParseLabelValues(v.QueryString()); !ok {
				t.Errorf("%s: variable %s: query %q is not label_values(...)", d.File, v.Name, v.QueryString())
			}
			if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("%s: variable %s does not use ${datasource}", d.File, v.Name)
			}
		}
		panels := d.AllPanels()
		if len(panels) < 5 {
			t.Errorf("%s: %d panels", d.File, len(panels))
		}
		titles := map[string]bool{}
		for _, p := range panels {
			if titles[p.Title] {
				t.Errorf("%s: two panels titled %q", d.File, p.Title)
			}
			titles[p.Title] = true
			if p.Type == "text" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: panel %q does not use the ${datasource} variable", d.File, p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", d.File, p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: panel %q query %s is empty", d.File, p.Title, tg.RefID)
				}
				// A line or a row per zone is 10,000 of them at 10,000
				// zones: per-zone views are tables or top-k lists.
				if p.Type != "table" && strings.Contains(tg.LegendFormat, "{{zone}}") && !boundedRe.MatchString(tg.Expr) {
					t.Errorf("%s: panel %q query %s draws one %s per zone (legend %q): make it a table or a topk/bottomk",
						d.File, p.Title, tg.RefID, p.Type, tg.LegendFormat)
				}
				for _, name := range stack.MetricNames(tg.Expr) {
					if !strings.HasPrefix(name, "reachmon_") {
						continue
					}
					for _, sel := range regexp.MustCompile(regexp.QuoteMeta(name)+`(\{[^}]*\})?`).FindAllStringSubmatch(tg.Expr, -1) {
						if !strings.Contains(sel[1], vantageMatcher) {
							t.Errorf("%s: panel %q: %s%s is not filtered by %s", d.File, p.Title, name, sel[1], vantageMatcher)
						}
					}
				}
			}
		}
	}
	for uid, ok := range want {
		if !ok {
			t.Errorf("no dashboard with uid %s", uid)
		}
	}
	for _, f := range []string{"overview", "dns"} {
		for _, d := range ds {
			if d.UID == "reachmon-"+f {
				// The zones watched, one series each; All a regex, not a
				// list of every zone in each query.
				const zones = `label_values(reachmon_zone_health{job=~"$job", vantage=~"$vantage"}, zone)`
				if v, ok := d.Variable("zone"); !ok || v.QueryString() != zones || !v.IncludeAll || v.AllValue != ".*" {
					t.Errorf("%s: no zone variable %s with All = .*", d.File, zones)
				}
				checkIncidentViews(t, d)
			}
		}
	}
	checkDashboardQueries(t, root, ds)
	// Provisioning: the dashboard provider reads the directory compose
	// mounts dashboards/ on, and the datasource is the compose Prometheus.
	prov, err := os.ReadFile(filepath.Join(root, "dashboards/provisioning/dashboards/reachmon.yml"))
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`path:\s*(\S+)`).FindSubmatch(prov)
	if m == nil || !bytes.Contains(compose, []byte("./dashboards:"+string(m[1])+":ro")) {
		t.Errorf("the dashboard provider's path is not where docker-compose.yml mounts dashboards/")
	}
	dsProv, err := os.ReadFile(filepath.Join(root, "dashboards/provisioning/datasources/reachmon.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"type: prometheus", "url: http://prometheus:9090"} {
		if !bytes.Contains(dsProv, []byte(w)) {
			t.Errorf("datasource provisioning lacks %q", w)
		}
	}
}

// jobMatcher is the job selector every dashboard query carries, so that
// one Grafana shows the reachmon of any scrape job (the mixin habit).
const jobMatcher = `job=~"$job"`

// checkDashboardQueries checks every PromQL expression of the dashboards
// (variables, panels, annotations): each dashboard has the job variable,
// every metric selector uses it, every metric is one reachmon documents in
// docs/metrics.md (or the Go/process collectors' or up), and every
// expression, its variables expanded, parses (promtool check rules on a
// rule file made of them).
func checkDashboardQueries(t *testing.T, root string, ds []stack.Dashboard) {
	t.Helper()
	documented, err := stack.DocumentedMetrics(filepath.Join(root, "docs/metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Values as Grafana interpolates them into a regex matcher: a
	// multi-value selection as (a|b), its dots escaped as \\. in the string.
	vals := map[string]string{"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "job": "reachmon",
		"vantage": ".*", "zone": `(example\\.com|example\\.org)`, "peer": ".*", "prefix": ".*", "reachmon_url": "http://127.0.0.1:9798"}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboards\n    rules:\n")
	n := 0
	for _, d := range ds {
		if v, ok := d.Variable("job"); !ok || v.QueryString() != "label_values(reachmon_build_info, job)" || !v.IncludeAll || !v.Multi {
			t.Errorf("%s: no multi-value job variable label_values(reachmon_build_info, job) with All", d.File)
		}
		for _, e := range d.Expressions() {
			for _, sel := range stack.Selectors(e.Expr) {
				if !strings.Contains(sel[1], jobMatcher) && e.Variable != "job" {
					t.Errorf("%s: %s%s is not filtered by %s", e.Where, sel[0], sel[1], jobMatcher)
				}
				name := sel[0]
				if name == "up" || strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
					continue
				}
				if _, ok := documented[stack.Family(name, documented)]; !ok {
					t.Errorf("%s: %s is not a metric docs/metrics.md lists", e.Where, name)
				}
			}
			expr, missing := stack.Expand(e.Expr, vals)
			if len(missing) > 0 {
				t.Errorf("%s: unknown variables %v", e.Where, missing)
			}
			n++
			q, _ := json.Marshal(expr) // a JSON string is a YAML string
			fmt.Fprintf(&rules, "      # %s\n      - record: dashboard:expr_%d\n        expr: %s\n", strings.ReplaceAll(e.Where, "\n", " "), n, q)
		}
	}
	promtool := requireBin(t, "promtool", "prometheus")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboards.yml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, dir, promtool, "check", "rules", "dashboards.yml"); err != nil {
		t.Errorf("promtool check rules (every dashboard expression as a recording rule): %v\n%s", err, out)
	}
}

// checkIncidentViews checks that a dashboard shows incidents: an enabled
// annotation query on reachmon_incident_open_info (regions from opening to
// resolution), and a table of the open ones from
// reachmon_incident_root_cause_info whose kind column turns every incident
// kind into plain words and that keeps the root cause column.
func checkIncidentViews(t *testing.T, d stack.Dashboard) {
	t.Helper()
	const info, causes = "reachmon_incident_open_info", "reachmon_incident_root_cause_info"
	if !slices.ContainsFunc(d.Annotations.List, func(a stack.Annotation) bool {
		return a.Enable && strings.Contains(a.Expr, info) && a.Datasource != nil && a.Datasource.UID == "${datasource}" &&
			strings.Contains(a.TitleFormat, "{{subject}}") && strings.Contains(a.TitleFormat, "{{kind}}")
	}) {
		t.Errorf("%s: no enabled incident annotation on %s titled with kind and subject", d.File, info)
	}
	tables := 0
	for _, p := range d.AllPanels() {
		if p.Type != "table" || !slices.ContainsFunc(p.Targets, func(tg stack.Target2) bool { return strings.Contains(tg.Expr, causes) }) {
			continue
		}
		tables++
		if !slices.ContainsFunc(p.Targets, func(tg stack.Target2) bool { return strings.Contains(tg.Expr, "root_cause)") }) {
			t.Errorf("%s: panel %q aggregates the root_cause label away", d.File, p.Title)
		}
		m := p.ValueMappings("kind")
		for _, k := range model.IncidentKinds {
			if !strings.HasPrefix(strings.ToLower(m[string(k)]), strings.ToLower(k.Title())) {
				t.Errorf("%s: panel %q maps kind %s to %q, want a text starting with %q", d.File, p.Title, k, m[string(k)], k.Title())
			}
		}
	}
	if tables == 0 {
		t.Errorf("%s: no table of open incidents (%s)", d.File, causes)
	}
}

// TestDockerBuildContext checks that every COPY source of the Dockerfiles
// exists in its build context and that .dockerignore excludes none of
// them, nor any Go file the build compiles.
func TestDockerBuildContext(t *testing.T) {
	root := repoRoot(t)
	for _, c := range []struct{ context, dockerfile string }{
		{root, filepath.Join(root, "Dockerfile")},
		{filepath.Join(root, "deploy/gobgpd"), filepath.Join(root, "deploy/gobgpd/Dockerfile")},
	} {
		srcs, err := stack.CopySources(c.dockerfile)
		if err != nil {
			t.Fatal(err)
		}
		if len(srcs) == 0 {
			t.Errorf("%s: no COPY from the build context", c.dockerfile)
		}
		ign, err := stack.ParseDockerignore(filepath.Join(c.context, ".dockerignore"))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range srcs {
			if _, err := os.Stat(filepath.Join(c.context, s)); err != nil {
				t.Errorf("%s: COPY source %s: %v", c.dockerfile, s, err)
			}
			if ign.Excluded(s) {
				t.Errorf("%s: COPY source %s is excluded by .dockerignore", c.dockerfile, s)
			}
		}
	}
	// Every non-test Go file of the packages the image compiles is in the
	// context.
	ign, err := stack.ParseDockerignore(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, dir := range []string{"cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			n++
			if ign.Excluded(rel) {
				t.Errorf(".dockerignore excludes %s, which the image build compiles", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Fatal("no Go files found under cmd/ and internal/")
	}
	// The matcher itself: what must be out is out.
	for _, p := range []string{".git/config", "bin/reachmon", "integration/stack_test.go", "var/incidents/x.json", "internal/dnsprobe/testdata/fuzz/FuzzObserve/cut"} {
		if !ign.Excluded(p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	// The image is static and unprivileged.
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"CGO_ENABLED=0", "USER 65532:65532", "AS build", "FROM gcr.io/distroless/static"} {
		if !bytes.Contains(df, []byte(w)) {
			t.Errorf("Dockerfile lacks %q", w)
		}
	}
}

// composeDoc is the part of `docker compose config --format json` read here.
type composeDoc struct {
	Services map[string]struct {
		Build *struct {
			Context    string `json:"context"`
			Dockerfile string `json:"dockerfile"`
		} `json:"build"`
		Image   string   `json:"image"`
		Command []string `json:"command"`
		Volumes []struct {
			Type     string `json:"type"`
			Source   string `json:"source"`
			Target   string `json:"target"`
			ReadOnly bool   `json:"read_only"`
		} `json:"volumes"`
		Networks map[string]*struct {
			IPv4Address string `json:"ipv4_address"`
		} `json:"networks"`
	} `json:"services"`
}

// TestCompose validates docker-compose.yml with the real docker compose v2
// (no engine needed for `config`), then checks what it wires together:
// every bind-mounted file exists, reachmon's config is valid, Prometheus'
// config and rules pass promtool, the demo gobgpd config passes gobgpd's
// own dry run, and the BGP addresses agree on both sides.
func TestCompose(t *testing.T) {
	root := repoRoot(t)
	ctx := context.Background()
	plugin, err := stack.ComposePlugin(ctx)
	if err != nil {
		lab.Missing(t, "docker compose v2 plugin unavailable: %v", err)
	}
	// As a docker CLI plugin when docker is installed (DOCKER_CONFIG in a
	// temp dir), else the same binary standalone.
	var cmd []string
	if docker, err := exec.LookPath("docker"); err == nil {
		cfg := t.TempDir()
		if err := os.MkdirAll(filepath.Join(cfg, "cli-plugins"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(plugin, filepath.Join(cfg, "cli-plugins", "docker-compose")); err != nil {
			t.Fatal(err)
		}
		t.Setenv("DOCKER_CONFIG", cfg)
		cmd = []string{docker, "compose"}
	} else {
		cmd = []string{plugin}
	}
	t.Setenv("SLACK_API_URL_FILE", "") // the placeholder the repository ships
	if out, err := run(t, root, cmd[0], append(cmd[1:], "config", "-q")...); err != nil {
		t.Fatalf("docker compose config -q: %v\n%s", err, out)
	}
	c := exec.Command(cmd[0], append(cmd[1:], "config", "--format", "json")...)
	c.Dir = root
	out, err := c.Output()
	if err != nil {
		t.Fatalf("docker compose config --format json: %v", err)
	}
	var doc composeDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"reachmon", "reachmon-v2", "alertmanager", "prometheus", "grafana", "gobgpd"} {
		if _, ok := doc.Services[s]; !ok {
			t.Errorf("docker-compose.yml has no %s service", s)
		}
	}
	mounts := map[string]string{} // service:target → source
	for name, s := range doc.Services {
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("service %s: build: %v", name, err)
			}
		}
		for _, v := range s.Volumes {
			if v.Type != "bind" {
				continue
			}
			mounts[name+":"+v.Target] = v.Source
			if !strings.HasPrefix(v.Source, root) {
				t.Errorf("service %s mounts %s from outside the repository", name, v.Source)
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s: bind mount source: %v", name, err)
			}
			if !v.ReadOnly {
				t.Errorf("service %s: bind mount %s is writable", name, v.Source)
			}
		}
	}
	// reachmon's config is valid and the files behind each mount are the
	// right ones.
	bin := filepath.Join(t.TempDir(), "reachmon")
	if err := buildReachmon(ctx, bin); err != nil {
		t.Fatal(err)
	}
	rcfg := mounts["reachmon:/etc/reachmon/reachmon.toml"]
	// Two vantages: each valid, with its own vantage name, sending to the
	// compose Alertmanager.
	vantages := map[string]bool{}
	for _, svc := range []string{"reachmon", "reachmon-v2"} {
		cfg := mounts[svc+":/etc/reachmon/reachmon.toml"]
		if out, err := run(t, root, bin, "check-config", "--config", cfg); err != nil {
			t.Errorf("reachmon check-config %s: %v\n%s", cfg, err, out)
		}
		if !slices.Contains(doc.Services[svc].Command, "/etc/reachmon/reachmon.toml") {
			t.Errorf("%s's command %q does not use the mounted config", svc, doc.Services[svc].Command)
		}
		text := readFile(t, cfg)
		if m := regexp.MustCompile(`(?m)^vantage = "([^"]+)"`).FindStringSubmatch(text); m == nil || vantages[m[1]] {
			t.Errorf("%s: no vantage of its own (%v)", cfg, m)
		} else {
			vantages[m[1]] = true
		}
		if !strings.Contains(text, `urls = ["http://alertmanager:9093"]`) {
			t.Errorf("%s does not send to the compose Alertmanager (urls = [\"http://alertmanager:9093\"])", cfg)
		}
	}
	// Alertmanager runs the shipped configuration and template; the
	// Slack URL is a file (a placeholder unless SLACK_API_URL_FILE).
	for target, want := range map[string]string{"alertmanager.yml": "config/alertmanager.yml", "alertmanager.tmpl": "config/alertmanager.tmpl",
		"secrets/slack_api_url": "deploy/alertmanager/slack_api_url.example"} {
		if got := mounts["alertmanager:/etc/alertmanager/"+target]; got != filepath.Join(root, want) {
			t.Errorf("alertmanager mounts %q at /etc/alertmanager/%s, want %s", got, target, want)
		}
	}
	if !strings.Contains(readFile(t, filepath.Join(root, "config/alertmanager.yml")), "slack_api_url_file: /etc/alertmanager/secrets/slack_api_url") {
		t.Errorf("config/alertmanager.yml does not read the Slack URL from /etc/alertmanager/secrets/slack_api_url, where compose mounts it")
	}
	if amtool, err := lab.BinPath("amtool"); err == nil {
		if out, err := run(t, filepath.Join(root, "config"), amtool, "check-config", "alertmanager.yml"); err != nil {
			t.Errorf("amtool check-config config/alertmanager.yml: %v\n%s", err, out)
		}
	} else {
		lab.Missing(t, "amtool not found (apt-get install -y prometheus-alertmanager)")
	}
	if mounts["prometheus:/etc/prometheus/alerts.yml"] != filepath.Join(root, "config/alerts.yml") {
		t.Errorf("prometheus does not mount config/alerts.yml at /etc/prometheus/alerts.yml: %v", mounts)
	}
	if mounts["grafana:/etc/grafana/provisioning"] != filepath.Join(root, "dashboards/provisioning") {
		t.Errorf("grafana does not mount dashboards/provisioning: %v", mounts)
	}
	// promtool on the compose Prometheus config, with the rule file where
	// the container sees it.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		dir := t.TempDir()
		pcfg, err := os.ReadFile(mounts["prometheus:/etc/prometheus/prometheus.yml"])
		if err != nil {
			t.Fatal(err)
		}
		rules, err := os.ReadFile(filepath.Join(root, "config/alerts.yml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"/etc/prometheus/alerts.yml", `"reachmon:9798"`, `"reachmon-v2:9798"`, `"alertmanager:9093"`} {
			if !bytes.Contains(pcfg, []byte(w)) {
				t.Errorf("deploy/prometheus/prometheus.yml lacks %s (rules, both vantages, Alertmanager)", w)
			}
		}
		pcfg = bytes.ReplaceAll(pcfg, []byte("/etc/prometheus/alerts.yml"), []byte(filepath.Join(dir, "alerts.yml")))
		for name, b := range map[string][]byte{"prometheus.yml": pcfg, "alerts.yml": rules} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := run(t, dir, promtool, "check", "config", "prometheus.yml"); err != nil {
			t.Errorf("promtool check config (compose): %v\n%s", err, out)
		}
	} else {
		lab.Missing(t, "promtool not found (apt-get install -y prometheus)")
	}
	// BGP addresses agree: compose IPs, reachmon's neighbor and router id,
	// gobgpd's neighbor.
	rtoml, _ := os.ReadFile(rcfg)
	r2toml, _ := os.ReadFile(mounts["reachmon-v2:/etc/reachmon/reachmon.toml"])
	gtoml, err := os.ReadFile(filepath.Join(root, "deploy/gobgpd/gobgpd.toml"))
	if err != nil {
		t.Fatal(err)
	}
	ip := func(svc string) string {
		if n := doc.Services[svc].Networks["reachmon"]; n != nil {
			return n.IPv4Address
		}
		return ""
	}
	for _, c := range []struct{ file, text, want string }{
		{"deploy/reachmon/reachmon.toml", string(rtoml), fmt.Sprintf("address = %q", ip("gobgpd"))},
		{"deploy/reachmon/reachmon.toml", string(rtoml), fmt.Sprintf("router_id = %q", ip("reachmon"))},
		{"deploy/gobgpd/gobgpd.toml", string(gtoml), fmt.Sprintf("neighbor-address = %q", ip("reachmon"))},
		{"deploy/reachmon/reachmon-v2.toml", string(r2toml), fmt.Sprintf("address = %q", ip("gobgpd"))},
		{"deploy/reachmon/reachmon-v2.toml", string(r2toml), fmt.Sprintf("router_id = %q", ip("reachmon-v2"))},
		{"deploy/reachmon/reachmon-v2.toml", string(r2toml), fmt.Sprintf("local_address = %q", ip("reachmon-v2"))},
		{"deploy/gobgpd/gobgpd.toml", string(gtoml), fmt.Sprintf("neighbor-address = %q", ip("reachmon-v2"))},
		{"deploy/gobgpd/gobgpd.toml", string(gtoml), fmt.Sprintf("router-id = %q", ip("gobgpd"))},
	} {
		if ip("gobgpd") == "" || !strings.Contains(c.text, c.want) {
			t.Errorf("%s lacks %s (the compose addresses)", c.file, c.want)
		}
	}
	// The demo gobgpd config passes gobgpd's own strict dry run, and its
	// script parses.
	if out, err := run(t, root, "sh", "-n", "deploy/gobgpd/announce.sh"); err != nil {
		t.Errorf("sh -n announce.sh: %v\n%s", err, out)
	}
	gobgpd, _ := bgplab.GoBGPBinaries(t) // the version the demo image installs
	if df := readFile(t, filepath.Join(root, "deploy/gobgpd/Dockerfile")); !strings.Contains(df, "gobgpd@"+bgplab.GoBGPVersion) {
		t.Errorf("deploy/gobgpd/Dockerfile does not install gobgpd %s, the version the lab and reachmon use", bgplab.GoBGPVersion)
	}
	if out, err := run(t, root, gobgpd, "--dry-run", "--config-strict", "--pprof-disable", "-f", "deploy/gobgpd/gobgpd.toml"); err != nil {
		t.Errorf("gobgpd --dry-run deploy/gobgpd/gobgpd.toml: %v\n%s", err, out)
	}
}

// TestSystemdUnit runs systemd-analyze verify on config/reachmon.service
// (with ExecStart pointing at a freshly built binary, as verify checks it
// exists) and requires an offline security exposure of at most 2.0.
func TestSystemdUnit(t *testing.T) {
	sa := requireBin(t, "systemd-analyze", "systemd")
	root := repoRoot(t)
	unit, err := os.ReadFile(filepath.Join(root, "config/reachmon.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"DynamicUser=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/reachmon",
		"StateDirectory=reachmon", "CapabilityBoundingSet=\n", "NoNewPrivileges=yes", "#AmbientCapabilities=CAP_NET_BIND_SERVICE"} {
		if !bytes.Contains(unit, []byte(w)) {
			t.Errorf("reachmon.service lacks %q", strings.TrimSpace(w))
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "reachmon")
	if err := buildReachmon(context.Background(), bin); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "reachmon.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/reachmon"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, dir, sa, "verify", path); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := run(t, dir, sa, "security", "--offline=yes", "--threshold=20", path)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Errorf("systemd-analyze security: exposure above 2.0:\n%s", out)
	} else if err != nil {
		lab.Missing(t, "systemd-analyze security --offline unsupported: %v\n%s", err, out)
	}
}

// Stack lab addresses, inside the DNS lab's 127.X/16 (X.250-255 is the
// plan's room for BGP peers and reachmon's own addresses).
func stackAddr(l *lab.DNS, d int) string {
	b := l.Plan.Base.Addr().As4()
	return fmt.Sprintf("%d.%d.250.%d", b[0], b[1], d)
}

// stackBirdConf announces two watched prefixes (one with the expected
// origin, one more-specific from an unexpected AS) to reachmon.
const stackBirdConf = `
router id %[1]s;
log stderr all;
protocol device {}
protocol static demo4 {
	ipv4;
	route 198.18.30.0/24 blackhole { bgp_path.prepend(64500); };
	route 198.18.31.0/24 blackhole { bgp_path.prepend(64500); };
	route 198.18.31.128/25 blackhole { bgp_path.prepend(64666); };
}
protocol static extra4 {
	ipv4;
	route 198.18.32.0/24 blackhole { bgp_path.prepend(64500); };
}
protocol bgp reachmon {
	local %[1]s port %[2]s as 65010;
	neighbor %[3]s as 64512;
	passive on;
	strict bind yes;
	multihop;
	ipv4 { import none; export all; };
}
`

// Panels (dashboard uid / panel title / refId) that may legitimately
// return no series in this lab, and why. Their queries must still be valid
// PromQL, and the metrics they name must be declared in reachmon's source.
var emptyPanels = map[string]string{
	"reachmon-dns/Zones with lame nameservers or SOA serials apart/A": "reachmon_dns_soa_serial_spread exists only while a zone's nameservers serve different serials; the lab's NSD serves one serial per zone",
	"reachmon-dns/Zones with lame nameservers or SOA serials apart/B": "reachmon_dns_lame_servers exists only while a nameserver answers without authority; every lab nameserver serves its zones",
	"reachmon-dns/Probe errors by class/B":                            "the lab's authoritative servers answer every probe: reachmon_dns_probe_errors_total has no authoritative series",
	"reachmon-health/Probe rounds skipped/A":                          "reachmon_probe_skipped_total appears at a zone's first skipped round; the lab's probes finish within their interval",
}

// Metrics a dashboard or rule names that the daemon may not expose in this
// lab (see emptyPanels); each must be declared in reachmon's Go source.
var absentMetrics = map[string]string{
	"reachmon_dns_soa_serial_spread": "present only while a zone's serials differ",
	"reachmon_dns_lame_servers":      "present only while a zone has a lame nameserver",
	"reachmon_probe_skipped_total":   "created at a zone's first skipped round",
}

// TestStack runs the monitoring stack users run, for real: the reachmon
// binary probes the NSD+Unbound lab (one zone with broken DNSSEC, one dead
// resolver) and peers with BIRD (watched prefixes, one hijacked by a
// more-specific) and with a neighbor that never answers, and pages a local
// fake of Slack's Web API; Prometheus, with
// config/prometheus.yml and config/alerts.yml, scrapes it. Then every
// query of every dashboard panel and variable is valid PromQL and returns
// series (except emptyPanels), every metric a dashboard or rule names is
// exposed (except absentMetrics, which must be declared in the source),
// every rule evaluates without error, and the incident and BGP alerts go
// pending or firing.
func TestStack(t *testing.T) {
	lab.RequireRoot(t)
	lab.Require(t, "nsd", "nsd-control", "unbound", "unbound-control", "ldns-keygen", "ldns-signzone", "ldns-key2ds", "bird", "birdc")
	prometheus := requireBin(t, "prometheus", "prometheus")
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*60e9)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "reachmon")
	if err := buildReachmon(ctx, bin); err != nil {
		t.Fatal(err)
	}
	start := time.Now()

	l := lab.StartDNS(t, lab.DNSOptions{Resolvers: 2})
	l.BreakDNSKEY("broken.test.")
	self, birdAddr, deadPeer := stackAddr(l, 1), stackAddr(l, 2), stackAddr(l, 3)
	birdPort := strings.TrimPrefix(stack.FreeAddr(t, birdAddr), birdAddr+":")
	birdSock := filepath.Join(t.TempDir(), "bird.ctl")
	stack.StartProcess(t, "bird", requireBin(t, "bird", "bird2"), "-f", "-c",
		stack.WriteFile(t, "bird.conf", fmt.Sprintf(stackBirdConf, birdAddr, birdPort, self)), "-s", birdSock)

	// Prometheus with the shipped scrape config and rules, sped up, started
	// before reachmon (as in production) so it sees counters from zero.
	// Slack: a local server speaking Slack's Web API receives the pages.
	const slackToken = "xoxb-reachmon-stack-test"
	slack := fakeslack.New(slackToken, map[string]string{"#pages": "C0STACK01"})
	t.Cleanup(slack.Close)
	tokenFile := stack.WriteFile(t, "slack-token", slackToken+"\n")

	listen := stack.FreeAddr(t, "127.0.0.1")
	promCfg := readFile(t, filepath.Join(root, "config/prometheus.yml"))
	for old, new := range map[string]string{
		"scrape_interval: 15s":     "scrape_interval: 1s",
		"evaluation_interval: 15s": "evaluation_interval: 1s",
		"scrape_timeout: 10s":      "scrape_timeout: 1s",
		`"127.0.0.1:9798"`:         strconv.Quote(listen),
	} {
		if !strings.Contains(promCfg, old) {
			t.Fatalf("config/prometheus.yml no longer contains %q; update TestStack", old)
		}
		promCfg = strings.ReplaceAll(promCfg, old, new)
	}
	prom := stack.StartPrometheus(t, prometheus, map[string]string{
		"prometheus.yml": promCfg,
		"alerts.yml":     readFile(t, filepath.Join(root, "config/alerts.yml")),
	})

	// RPKI from a real RTR server (stayrtr) and a VRP file, so that the
	// RPKI panels have their series: the hijacked prefix's ROA names its
	// legitimate origin.
	roa := []model.VRP{{Prefix: netip.MustParsePrefix("198.18.31.0/24"), MaxLength: 24, ASN: 64500}}
	rtr := rpkitest.StartStayRTR(t, roa)
	vrpFile := filepath.Join(t.TempDir(), "vrps.json")
	rpkitest.WriteVRPs(t, vrpFile, []model.VRP{{Prefix: netip.MustParsePrefix("198.18.30.0/24"), MaxLength: 24, ASN: 64500}})

	var resolvers strings.Builder
	for i, a := range l.ResolverAddrs {
		fmt.Fprintf(&resolvers, "[[resolver]]\nname = \"unbound%d\"\naddress = %q\n\n", i+1, a)
	}
	cfg := stack.WriteFile(t, "reachmon.toml", fmt.Sprintf(`
vantage = "stack"
listen = %q
state_dir = %q
[probe]
interval = "1s"
timeout = "500ms"
jitter = "100ms"
discovery_min = "5s"
ds_check_interval = "5s"
%s
[[resolver]]
name = "dead"
address = "%s:53"

[[zone]]
name = "good.test"
names = ["www"]
types = ["A"]

[[zone]]
name = "broken.test"
names = ["www"]
types = ["A"]

[[prefix]]
prefix = "198.18.30.0/24"
origins = [64500]

[[prefix]]
prefix = "198.18.31.0/24"
origins = [64500]

[[prefix]]
prefix = "198.18.32.0/24"
origins = [64500]

[evaluate]
open_rounds = 2
resolve_rounds = 2
open_after = "1s"
start_grace = "1s"
peer_grace = "1s"
min_peers = 1

[slack]
token_file = %q
api_url = %q
channel = "C0STACK01"

[bgp]
asn = 64512
router_id = %q
initial_sync_timeout = "2s"

[[bgp.neighbor]]
address = %q
port = %s
peer_asn = 65010
local_address = %q
multihop_ttl = 2
connect_retry = "1s"
description = "bird"

[[bgp.neighbor]]
address = %q
port = 1
peer_asn = 65011
local_address = %q
connect_retry = "1s"
description = "never answers"

[rpki]
vrp_file = %q

[[rpki.rtr]]
address = "127.0.0.1"
port = %d
`, listen, filepath.Join(t.TempDir(), "state"), resolvers.String(), stackAddr(l, 53), tokenFile, slack.APIURL(), self, birdAddr, birdPort, self, deadPeer, self, vrpFile, rtr.Port))
	stack.StartProcess(t, "reachmon", bin, "run", "--config", cfg)

	// reachmon's own /metrics, once the lab has produced every kind of
	// event this test relies on.
	var families map[string]string
	waitUntil(t, 60*time.Second, "reachmon metrics from DNS and BGP", func() (bool, string) {
		body, err := httpGet("http://" + listen + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		families = stack.Families(body)
		for _, w := range []string{`reachmon_bgp_prefix_origin_info{`, `reachmon_dns_ede_total{`, `result="success"`, `reachmon_dns_probe_failing{`, `reachmon_zone_health{`,
			`reachmon_bgp_peer_synced{peer="` + birdAddr + `",vantage="stack"} 1`, `kind="dnssec_failure",severity="critical",vantage="stack"} 1`} {
			if !strings.Contains(body, w) {
				return false, "no " + w + " yet:\n" + grepLines(body, "reachmon_")
			}
		}
		return true, ""
	})
	waitUntil(t, 30*time.Second, "Prometheus to scrape reachmon", func() (bool, string) {
		s, err := prom.Query(ctx, `reachmon_bgp_prefix_origin_info{vantage="stack"}`)
		ts, _ := prom.Targets(ctx)
		return err == nil && len(s) > 0, fmt.Sprintf("%v %+v", err, ts)
	})
	// A BGP withdrawal while Prometheus watches: an incident transition
	// (prefix_withdrawn) inside the rate windows.
	if out, err := run(t, root, requireBin(t, "birdc", "bird2"), "-s", birdSock, "disable", "extra4"); err != nil {
		t.Fatalf("birdc disable extra4: %v\n%s", err, out)
	}

	declared := declaredMetricNames(t, root)
	checkMetric := func(where, name string) {
		fam := stack.Family(name, families)
		if _, ok := families[fam]; ok || name == "up" {
			return
		}
		if _, ok := absentMetrics[fam]; !ok {
			// A histogram the daemon does not expose: its family is the
			// name without the series suffix.
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suf); ok {
					if _, ok := absentMetrics[base]; ok {
						fam = base
					}
				}
			}
		}
		if _, ok := absentMetrics[fam]; !ok {
			t.Errorf("%s names %s, which reachmon's /metrics does not expose", where, name)
		} else if !declared[fam] {
			t.Errorf("%s names %s, which is declared nowhere in reachmon's source", where, name)
		}
	}

	ds, err := stack.LoadDashboards(filepath.Join(root, "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	const rateInterval = "20s"
	type query struct {
		key, where, expr string
		instant          bool
	}
	var queries []query
	for _, d := range ds {
		// Variables: every label_values query returns values; multi-value
		// variables take their "All" value in the panel queries.
		vals := map[string]string{"__rate_interval": rateInterval, "__interval": "1s", "__range": "5m"}
		for _, v := range d.Templating.List {
			switch v.Type {
			case "query":
				q, _ := stack.Expand(v.QueryString(), vals)
				match, label, ok := stack.ParseLabelValues(q)
				if !ok {
					t.Errorf("%s: variable %s: %q is not label_values()", d.File, v.Name, q)
					continue
				}
				checkMetricsIn(t, d.File+" variable "+v.Name, match, checkMetric)
				got, err := prom.LabelValues(ctx, match, label)
				if err != nil || len(got) == 0 {
					t.Errorf("%s: variable %s: label_values(%s, %s) = %v, %v", d.File, v.Name, match, label, got, err)
					continue
				}
				if v.IncludeAll && v.AllValue != "" {
					vals[v.Name] = v.AllValue
				} else if v.IncludeAll {
					// Grafana's All without a custom value: every value.
					vals[v.Name] = stack.AllRegex(got)
				} else {
					vals[v.Name] = got[0]
				}
			default:
				vals[v.Name] = "unused"
			}
		}
		for _, p := range d.AllPanels() {
			for _, tg := range p.Targets {
				expr, missing := stack.Expand(tg.Expr, vals)
				if len(missing) > 0 {
					t.Errorf("%s: panel %q: unknown variables %v", d.File, p.Title, missing)
				}
				where := fmt.Sprintf("%s: panel %q (%s)", d.File, p.Title, tg.RefID)
				checkMetricsIn(t, where, expr, checkMetric)
				queries = append(queries, query{key: d.UID + "/" + p.Title + "/" + tg.RefID, where: where, expr: expr, instant: tg.Instant})
			}
		}
	}
	for k := range emptyPanels {
		if !slices.ContainsFunc(queries, func(q query) bool { return q.key == k }) {
			t.Errorf("emptyPanels names %s, which no dashboard has", k)
		}
	}

	// Every query is valid; poll until every one expected to return series
	// has (range queries over the test's lifetime, as a time series panel
	// asks; instant ones now, as a table or stat does).
	pending := map[string]query{}
	for _, q := range queries {
		pending[q.key] = q
	}
	last := map[string]string{}
	waitUntil(t, 90*time.Second, "every panel to return series", func() (bool, string) {
		for k, q := range pending {
			var s []stack.Sample
			var err error
			if q.instant {
				s, err = prom.Query(ctx, q.expr)
			} else {
				s, err = prom.QueryRange(ctx, q.expr, start, time.Second)
			}
			if errors.Is(err, stack.ErrQuery) {
				t.Errorf("%s: invalid query %s: %v", q.where, q.expr, err)
				delete(pending, k)
				continue
			}
			if err != nil {
				last[k] = err.Error()
				continue
			}
			if len(s) > 0 {
				delete(pending, k)
				if _, ok := emptyPanels[k]; ok {
					t.Logf("note: %s returns series now; its emptyPanels entry can go", k)
				}
			}
		}
		var keys []string
		for k, q := range pending {
			if _, ok := emptyPanels[k]; !ok {
				keys = append(keys, fmt.Sprintf("%s: %s %s", q.where, q.expr, last[k]))
			}
		}
		return len(keys) == 0, strings.Join(keys, "\n")
	})
	// Rules: every metric named is exposed, every rule evaluates without
	// error, and the rules that this lab should trigger are pending or
	// firing: a critical dnssec_failure incident, the BGP session that
	// never comes up.
	waitUntil(t, 30*time.Second, "alerting rules to fire", func() (bool, string) {
		rules, err := prom.Rules(ctx)
		if err != nil {
			return false, err.Error()
		}
		var active []string
		for _, r := range rules {
			if r.Health != "ok" {
				return false, fmt.Sprintf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
			}
			for _, a := range r.Alerts {
				active = append(active, r.Name+"/"+a.Labels["kind"]+a.Labels["peer"]+"/"+a.State)
			}
		}
		has := func(prefix string) bool {
			return slices.ContainsFunc(active, func(s string) bool { return strings.HasPrefix(s, prefix) })
		}
		ok := has("ReachmonIncidentOpen/dnssec_failure/") && has("ReachmonIncidentOpen/prefix_withdrawn/") &&
			has("ReachmonBGPFeedLost/"+deadPeer+"/")
		// The pages reached Slack and, once the daemon exposes the
		// notifier's metrics, Prometheus counts them.
		if len(slack.CallsOf("chat.postMessage")) == 0 {
			return false, fmt.Sprintf("no page posted to Slack yet; alerts: %v", active)
		}
		if _, ok := families["reachmon_notifications_total"]; ok {
			sent, err := prom.Query(ctx, `sum(reachmon_notifications_total{vantage="stack", channel="C0STACK01", result="sent"}) > 0`)
			if err != nil || len(sent) == 0 {
				return false, fmt.Sprintf("Prometheus counts no notification sent (%v); alerts: %v", err, active)
			}
		}
		return ok, fmt.Sprint(active)
	})
	rules, err := prom.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 10 {
		t.Errorf("Prometheus loaded %d rules from config/alerts.yml", len(rules))
	}
	for _, r := range rules {
		checkMetricsIn(t, "alert "+r.Name, r.Query, checkMetric)
		for _, a := range r.Alerts {
			if r.Name == "ReachmonDown" || r.Name == "ReachmonNotScraped" || strings.HasPrefix(r.Name, "ReachmonNotifier") ||
				r.Name == "ReachmonBGPFeedLost" && a.Labels["peer"] == birdAddr {
				t.Errorf("alert %s %v is %s with a healthy reachmon", r.Name, a.Labels, a.State)
			}
		}
	}
}

func checkMetricsIn(t *testing.T, where, expr string, check func(where, name string)) {
	t.Helper()
	names := stack.MetricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: %q names no metric", where, expr)
	}
	for _, n := range names {
		check(where, n)
	}
}

var declaredRe = regexp.MustCompile(`"(reachmon_[a-z0-9_]+)"`)

// declaredMetricNames collects the reachmon_* string literals of the
// non-test Go files under internal/: the metric names the code can
// register.
func declaredMetricNames(t *testing.T, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range declaredRe.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitUntil polls cond every 250 ms until it holds or the timeout passes
// (then the test fails with cond's last explanation).
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s:\n%s", timeout, what, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
