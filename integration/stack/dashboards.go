package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Dashboard is the part of a Grafana dashboard JSON the tests read.
type Dashboard struct {
	File        string      `json:"-"`
	UID         string      `json:"uid"`
	Title       string      `json:"title"`
	Panels      []Panel     `json:"panels"`
	Templating  Templating  `json:"templating"`
	Annotations Annotations `json:"annotations"`
}

// Annotations holds the dashboard's annotation queries.
type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is a Prometheus annotation query (the built-in Grafana
// annotations have no expr).
type Annotation struct {
	Name        string      `json:"name"`
	Datasource  *Datasource `json:"datasource"`
	Enable      bool        `json:"enable"`
	Expr        string      `json:"expr"`
	TitleFormat string      `json:"titleFormat"`
	TagKeys     string      `json:"tagKeys"`
}

// Expression is one PromQL expression of a dashboard and where it is.
type Expression struct {
	Where, Expr string
	// Variable is the variable whose query this is ("" for panels and
	// annotations).
	Variable string
}

// Expressions returns every PromQL expression of the dashboard: the match
// of each label_values variable, each panel query and each annotation
// query.
func (d Dashboard) Expressions() []Expression {
	var out []Expression
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if match, _, ok := ParseLabelValues(v.QueryString()); ok && match != "" {
			out = append(out, Expression{Where: d.File + " variable " + v.Name, Expr: match, Variable: v.Name})
		}
	}
	for _, p := range d.AllPanels() {
		for _, t := range p.Targets {
			out = append(out, Expression{Where: fmt.Sprintf("%s panel %q (%s)", d.File, p.Title, t.RefID), Expr: t.Expr})
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out = append(out, Expression{Where: fmt.Sprintf("%s annotation %q", d.File, a.Name), Expr: a.Expr})
		}
	}
	return out
}

// AllRegex is the value Grafana gives a multi-value variable's "All" when
// the variable has no custom all value: every value, regex-quoted.
func AllRegex(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = regexp.QuoteMeta(v)
	}
	return "(" + strings.Join(q, "|") + ")"
}

var selectorOf = regexp.MustCompile(`\b(reachmon_[a-z0-9_]+|go_[a-z0-9_]+|process_[a-z0-9_]+|up)\b(\{[^}]*\})?`)

// Selectors returns each metric name of a PromQL expression with its
// label matchers ("" when it has none).
func Selectors(expr string) [][2]string {
	e := groupingRe.ReplaceAllString(expr, "")
	var out [][2]string
	for _, m := range selectorOf.FindAllStringSubmatch(e, -1) {
		out = append(out, [2]string{m[1], m[2]})
	}
	return out
}

var metricRow = regexp.MustCompile("(?m)^\\| `(reachmon_[a-z0-9_]+)` \\| ([a-z]+) \\|")

// DocumentedMetrics reads docs/metrics.md's table: metric name → type.
func DocumentedMetrics(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range metricRow.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no metric table rows", path)
	}
	return out, nil
}

// Templating holds the dashboard's variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a dashboard template variable.
type Variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Datasource *Datasource     `json:"datasource"`
}

// QueryString is the variable's query: a string, or the "query" field of
// the object newer Grafana versions store.
func (v Variable) QueryString() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

// Datasource is a panel's or target's datasource reference.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is a dashboard panel (rows hold nested panels when collapsed).
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	Targets    []Target2   `json:"targets"`
	Panels     []Panel     `json:"panels"`
	// FieldConfig is kept raw: tests read the value mappings from it.
	FieldConfig json.RawMessage `json:"fieldConfig"`
}

// ValueMappings returns the value → display text mappings the panel's
// overrides give the field named field.
func (p Panel) ValueMappings(field string) map[string]string {
	var fc struct {
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options string `json:"options"`
			} `json:"matcher"`
			Properties []struct {
				ID    string          `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	}
	out := map[string]string{}
	if json.Unmarshal(p.FieldConfig, &fc) != nil {
		return out
	}
	for _, o := range fc.Overrides {
		if o.Matcher.ID != "byName" || o.Matcher.Options != field {
			continue
		}
		for _, prop := range o.Properties {
			if prop.ID != "mappings" {
				continue
			}
			var ms []struct {
				Type    string `json:"type"`
				Options map[string]struct {
					Text string `json:"text"`
				} `json:"options"`
			}
			_ = json.Unmarshal(prop.Value, &ms)
			for _, m := range ms {
				for k, v := range m.Options {
					if m.Type == "value" {
						out[k] = v.Text
					}
				}
			}
		}
	}
	return out
}

// Target2 is a panel query (named so as not to clash with scrape targets).
type Target2 struct {
	RefID        string      `json:"refId"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat"`
	Instant      bool        `json:"instant"`
	Range        bool        `json:"range"`
	Datasource   *Datasource `json:"datasource"`
}

// LoadDashboards reads every *.json in dir.
func LoadDashboards(dir string) ([]Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	sort.Strings(files)
	var out []Dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d Dashboard
		dec := json.NewDecoder(strings.NewReader(string(b)))
		if err := dec.Decode(&d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		d.File = filepath.Base(f)
		out = append(out, d)
	}
	return out, nil
}

// AllPanels returns the dashboard's panels, those nested in rows included,
// rows themselves excluded.
func (d Dashboard) AllPanels() []Panel {
	var out []Panel
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// Variable returns the named variable.
func (d Dashboard) Variable(name string) (Variable, bool) {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

var varRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// Expand replaces $name and ${name} in s by vals[name]; it reports the
// names it found no value for.
func Expand(s string, vals map[string]string) (string, []string) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := vals[name]; ok {
			return v
		}
		missing = append(missing, name)
		return m
	})
	return out, missing
}

var labelValuesRe = regexp.MustCompile(`^\s*label_values\(\s*(?:(.*),\s*)?(\w+)\s*\)\s*$`)

// ParseLabelValues splits Grafana's label_values(match, label) (or
// label_values(label)) into its parts.
func ParseLabelValues(q string) (match, label string, ok bool) {
	m := labelValuesRe.FindStringSubmatch(q)
	if m == nil {
		return "", "", false
	}
	return strings.TrimSpace(m[1]), m[2], true
}

var (
	metricRe   = regexp.MustCompile(`\b(reachmon_[a-z0-9_]+|go_[a-z0-9_]+|process_[a-z0-9_]+|up)\b`)
	selectorRe = regexp.MustCompile(`\{[^}]*\}`)
	stringRe   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	groupingRe = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
)

// MetricNames returns the metric names a PromQL expression reads (label
// matchers, strings and grouping clauses are not looked at).
func MetricNames(expr string) []string {
	e := stringRe.ReplaceAllString(expr, `""`)
	e = selectorRe.ReplaceAllString(e, "{}")
	e = groupingRe.ReplaceAllString(e, "")
	seen := map[string]bool{}
	var out []string
	for _, m := range metricRe.FindAllString(e, -1) {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// Family maps a series name to its metric family given the families
// exposed (name → type): foo_bucket, foo_sum and foo_count of a histogram
// belong to foo.
func Family(name string, families map[string]string) string {
	if _, ok := families[name]; ok {
		return name
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if typ := families[base]; typ == "histogram" || typ == "summary" {
				return base
			}
		}
	}
	return name
}

// Families parses the text exposition format's "# TYPE name type" lines.
func Families(body string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}
