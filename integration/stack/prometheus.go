package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/syncbuf"
)

// Prometheus is a prometheus server started for a test.
type Prometheus struct {
	URL string
	Dir string
	out *syncbuf.Buffer
}

// StartPrometheus writes files (name → content, prometheus.yml among them)
// to a temp dir and runs prometheus from bin on a free 127.0.0.1 port with
// its TSDB in that dir. It is stopped, and its process group killed, when
// the test ends.
func StartPrometheus(t testing.TB, bin string, files map[string]string) *Prometheus {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addr := FreeAddr(t, "127.0.0.1")
	p := &Prometheus{URL: "http://" + addr, Dir: dir, out: &syncbuf.Buffer{}}
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", p.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("prometheus exited at start:\n%s", p.out.String())
		default:
		}
		if resp, err := http.Get(p.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 20s:\n%s", p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreeAddr returns host:port with a port that was free on host.
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Sample is one series of a query result: its labels, and whether it has
// any value.
type Sample struct {
	Metric map[string]string `json:"metric"`
}

// apiResponse is Prometheus' HTTP API envelope.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// ErrQuery is a query Prometheus rejected (bad PromQL, bad match).
var ErrQuery = errors.New("prometheus rejected the query")

func (p *Prometheus) get(ctx context.Context, path string, q url.Values) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%w: %s: %s", ErrQuery, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// Query runs an instant query and returns its series (a scalar or string
// result counts as one series without labels).
func (p *Prometheus) Query(ctx context.Context, expr string) ([]Sample, error) {
	data, err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	return samples(data)
}

// QueryRange runs a range query from start to now with step.
func (p *Prometheus) QueryRange(ctx context.Context, expr string, start time.Time, step time.Duration) ([]Sample, error) {
	now := time.Now()
	data, err := p.get(ctx, "/api/v1/query_range", url.Values{
		"query": {expr},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(now.Unix(), 10)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	})
	if err != nil {
		return nil, err
	}
	return samples(data)
}

func samples(data json.RawMessage) ([]Sample, error) {
	var r struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	switch r.ResultType {
	case "vector", "matrix":
		var s []Sample
		err := json.Unmarshal(r.Result, &s)
		return s, err
	default:
		return []Sample{{}}, nil
	}
}

// LabelValues is what Grafana's label_values(match, label) returns: the
// values of label across the series matching match.
func (p *Prometheus) LabelValues(ctx context.Context, match, label string) ([]string, error) {
	q := url.Values{}
	if match != "" {
		q.Set("match[]", match)
	}
	data, err := p.get(ctx, "/api/v1/label/"+url.PathEscape(label)+"/values", q)
	if err != nil {
		return nil, err
	}
	var vals []string
	err = json.Unmarshal(data, &vals)
	return vals, err
}

// Rule is one rule of /api/v1/rules.
type Rule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	Type      string `json:"type"`
	State     string `json:"state"`
	Alerts    []struct {
		Labels map[string]string `json:"labels"`
		State  string            `json:"state"`
	} `json:"alerts"`
}

// Rules returns every loaded rule with its evaluation health.
func (p *Prometheus) Rules(ctx context.Context) ([]Rule, error) {
	data, err := p.get(ctx, "/api/v1/rules", url.Values{})
	if err != nil {
		return nil, err
	}
	var r struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	var out []Rule
	for _, g := range r.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// Target is one scrape target of /api/v1/targets.
type Target struct {
	Labels    map[string]string `json:"labels"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
	ScrapeURL string            `json:"scrapeUrl"`
}

// Targets returns the active scrape targets.
func (p *Prometheus) Targets(ctx context.Context) ([]Target, error) {
	data, err := p.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}})
	if err != nil {
		return nil, err
	}
	var r struct {
		Active []Target `json:"activeTargets"`
	}
	err = json.Unmarshal(data, &r)
	return r.Active, err
}

// WriteFile writes content to name in a fresh temp dir and returns its path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// StartProcess starts a long-running daemon in its own process group;
// when the test ends the group gets SIGTERM (SIGKILL after 15 s) and the
// output is logged if the test failed.
func StartProcess(t testing.TB, name, bin string, args ...string) {
	t.Helper()
	var out syncbuf.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}
