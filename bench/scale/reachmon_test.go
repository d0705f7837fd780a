package benchscale

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// reachmonBinary is $BENCH_REACHMON_BIN (scripts/bench.sh builds it) or
// bin/reachmon.
func reachmonBinary(tb testing.TB) string { return benchutil.ReachmonBinary(tb, "BENCH_REACHMON_BIN") }

// reachmonConfig is the configuration `reachmon run` gets: every zone by
// name only (apex SOA of every resolver and of every discovered
// authoritative server, the DS-vs-DNSKEY check on: the defaults), the
// resolvers, [probe] interval (and jitter if not 0), [metrics]
// zone_latency = false (what docs/configuration.md tells a user with this many zones;
// reachmon warns at start-up otherwise); everything else at its default.
// No [bgp], no [slack].
func reachmonConfig(l *lab, stateDir string, interval, jitter time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vantage = \"bench\"\nlisten = %q\nstate_dir = %q\n\n", l.plan.listen(), stateDir)
	b.WriteString("[log]\nlevel = \"info\"\nformat = \"text\"\n\n")
	fmt.Fprintf(&b, "[probe]\ninterval = %q\n", interval.String())
	if jitter > 0 {
		fmt.Fprintf(&b, "jitter = %q\n", jitter.String())
	}
	if n := os.Getenv("BENCH_SCALE_LOOKUPS"); n != "" {
		// For experiments: reachmon refuses a value outside its bounds.
		fmt.Fprintf(&b, "lookup_concurrency = %s\n", n)
	}
	b.WriteString("\n[metrics]\nzone_latency = false\n\n")
	for j, a := range l.resolvers {
		fmt.Fprintf(&b, "[[resolver]]\nname = \"unbound%d\"\naddress = %q\n\n", j, a.String())
	}
	for _, z := range l.zones {
		fmt.Fprintf(&b, "[[zone]]\nname = %q\n", strings.TrimSuffix(z, "."))
	}
	return b.String()
}

// httpGet fetches url within timeout and returns the status and body
// (at most 1 MiB).
func httpGet(url string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// scrapeAll reads the whole /metrics page as Prometheus would (Go's
// transport asks for gzip, as Prometheus does) and parses it with
// Prometheus's own parser (what benchutil.Scrape does). It returns the
// size of the text and how long reading it took (reachmon rendering and
// sending it, what a Prometheus scrape waits for), the parse excluded.
func scrapeAll(url string, timeout time.Duration) (benchutil.Metrics, int64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, 0, err
	}
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, 0, 0, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		return nil, 0, 0, fmt.Errorf("GET %s: %w", url, err)
	}
	took := time.Since(began)
	size := int64(body.Len())
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&body)
	if err != nil {
		return nil, size, took, fmt.Errorf("GET %s: %w", url, err)
	}
	return benchutil.Metrics(fams), size, took, nil
}

// label returns the value of a series' label, "" if absent.
func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}
