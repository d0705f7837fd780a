package app

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/testdns"
)

// TestMetricsLint runs Prometheus' own metric linter (promtool check
// metrics, from the Debian prometheus package) over a live /metrics of a
// daemon that has probed a zone, so that every series it exposes follows
// the naming conventions.
func TestMetricsLint(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		msg := "promtool not installed (apt-get install -y prometheus)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure")
		}
		t.Skip(msg)
	}
	srv := testdns.Start(t, zone, true)
	listen := freeAddr(t)
	stop := startDaemon(t, fmt.Sprintf(`
listen = %q
state_dir = %q
[probe]
interval = "200ms"
timeout = "150ms"
[[resolver]]
name = "local"
address = %q
[[zone]]
name = "lab.example"
names = ["@", "www"]
types = ["A", "SOA"]
authoritative = [%q]
`, listen, t.TempDir(), srv.Addr, srv.Addr))
	defer stop()

	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = get(t, "http://"+listen+"/metrics")
		if strings.Contains(body, "reachmon_dns_probe_failing{") && strings.Contains(body, "reachmon_dns_ds_check_status{") &&
			strings.Contains(body, "reachmon_zone_health{") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never filled in:\n%s", grep(body, "reachmon_"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	}
}
