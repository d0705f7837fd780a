package outagelab

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/reachmon/reachmon/integration/bgplab"
)

// Latency is one scenario's detection latency, as measured against the
// real daemons at the lab's intervals; written to
// var/detection-latency/<scenario>.json for BENCHMARKS.md.
type Latency struct {
	Scenario string    `json:"scenario"`
	Date     time.Time `json:"date"`
	// Kind is the incident kind that paged (or was expected).
	Kind string `json:"kind"`
	// Fault and Recovery are when the fault was injected and removed.
	Fault    time.Time `json:"fault"`
	Recovery time.Time `json:"recovery,omitzero"`
	// ToPage is fault → the page (chat.postMessage reaching Slack);
	// ToOpen is fault → the incident's Confirmed time; ToConfirm is fault
	// → a later confirmation (Facebook: resolvers failing); ToResolve is
	// recovery → the resolve message (chat.update); zero when there is none.
	ToPage    time.Duration `json:"to_page_ns,omitempty"`
	ToOpen    time.Duration `json:"to_open_ns,omitempty"`
	ToConfirm time.Duration `json:"to_confirm_ns,omitempty"`
	ToResolve time.Duration `json:"to_resolve_ns,omitempty"`
	// ThreadReplies counts the replies in the page's Slack thread when
	// the scenario ended (updates and the resolve; 0 without a page).
	ThreadReplies int `json:"thread_replies"`
	// Settings are the lab's intervals and thresholds, for the record.
	Settings string `json:"settings"`
	Notes    string `json:"notes,omitempty"`
}

// Record logs a scenario's latencies and writes them to the results
// directory the outer run passed (var/detection-latency in the module).
func (l *Lab) Record(r Latency) {
	l.t.Helper()
	r.Date = time.Now().UTC()
	if r.Settings == "" {
		r.Settings = strings.Join(strings.Fields(l.opts.Probe+" "+l.opts.Evaluate), " ")
	}
	l.t.Logf("detection latency %s: page %v, open %v, confirm %v, resolve %v; %d thread replies",
		r.Scenario, r.ToPage.Round(time.Millisecond), r.ToOpen.Round(time.Millisecond),
		r.ToConfirm.Round(time.Millisecond), r.ToResolve.Round(time.Millisecond), r.ThreadReplies)
	dir := os.Getenv(envResults)
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.t.Errorf("results: %v", err)
		return
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, r.Scenario+".json"), append(b, '\n'), 0o644); err != nil {
		l.t.Errorf("results: %v", err)
	}
}

// PromListen is Prometheus's address inside the namespace.
const PromListen = "127.0.0.1:9090"

// startPrometheus runs a real Prometheus scraping reachmon every second,
// with its data in a temporary directory.
func (l *Lab) startPrometheus() {
	t := l.t
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		bgplab.Missing(t, "prometheus not installed (apt-get install -y prometheus)")
	}
	dir := filepath.Join(l.Dir, "prometheus")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: reachmon
    static_configs:
      - targets: [%q]
`, Listen)
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	bgplab.Start(t, os.Getenv(envNS), "prometheus", bin, "--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+PromListen,
		"--log.level=warn")
	l.PromURL = "http://" + PromListen
	l.WaitFor("Prometheus to be ready", 30*time.Second, func() (bool, string) {
		_, err := l.get(l.PromURL, "/-/ready")
		return err == nil, fmt.Sprint(err)
	})
}

// PromQuery runs an instant query against the lab's Prometheus and
// returns the JSON result's "data.result" values as "labels value" lines.
func (l *Lab) PromQuery(q string) (string, error) {
	b, err := l.get(l.PromURL, "/api/v1/query?query="+url.QueryEscape(q))
	if err != nil {
		return "", err
	}
	var doc struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", err
	}
	var out strings.Builder
	for _, r := range doc.Data.Result {
		v := ""
		if len(r.Value) == 2 {
			v = fmt.Sprint(r.Value[1])
		}
		fmt.Fprintf(&out, "%v %s\n", r.Metric, v)
	}
	return out.String(), nil
}
