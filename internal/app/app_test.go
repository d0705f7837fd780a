package app

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/testdns"
)

const zone = `
lab.example. 300 IN SOA ns1.lab.example. host.lab.example. 2026112301 3600 600 86400 300
lab.example. 300 IN NS ns1.lab.example.
www.lab.example. 60 IN A 192.0.2.10
`

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDaemon runs the whole daemon against in-process DNS servers and
// reads its metrics, health and readiness over HTTP, then shuts it down.
func TestDaemon(t *testing.T) {
	resolver := testdns.Start(t, zone, false)
	auth := testdns.Start(t, zone, true)
	listen := freeAddr(t)
	stop := startDaemon(t, fmt.Sprintf(`
vantage = "test-vantage"
listen = %q
state_dir = %q
[probe]
interval = "200ms"
timeout = "150ms"
jitter = "10ms"
[[resolver]]
name = "local"
address = %q
[[zone]]
name = "lab.example"
names = ["@", "www"]
types = ["A", "SOA"]
authoritative = [%q]
dnssec = false
`, listen, t.TempDir(), resolver.Addr, auth.Addr))
	defer stop()

	base := "http://" + listen
	want := []string{
		`reachmon_dns_responses_total{kind="resolver",rcode="NOERROR",server="local",transport="udp",vantage="test-vantage"}`,
		`reachmon_dns_responses_total{kind="authoritative",rcode="NOERROR",server="` + auth.Addr + `",transport="udp",vantage="test-vantage"}`,
		`reachmon_dns_authoritative_servers{vantage="test-vantage",zone="lab.example"} 1`,
		`reachmon_zone_health{health="`,
		`reachmon_build_info{`,
		`go_goroutines `,
		// NOERROR without data (the apex has no A record) is NODATA:
		// the configured lab.example. A does not exist, a failure.
		`reachmon_dns_probe_failing{kind="resolver",name="lab.example.",qtype="A",server="local",transport="udp",vantage="test-vantage",zone="lab.example"} 1`,
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		var code int
		code, body = get(t, base+"/metrics")
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if code == 200 && missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %s\n%s", missing, grep(body, "reachmon_dns_"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every other query answers: the failing series are the apex A's
	// only (the authoritative server is asked lab.example. A too).
	for _, l := range strings.Split(grep(body, "reachmon_dns_probe_failing{"), "\n") {
		if !strings.Contains(l, `name="lab.example.",qtype="A"`) {
			t.Errorf("a failing series of a query that answers: %s", l)
		}
	}
	if n := strings.Count(body, "\nreachmon_zone_health{"); n != 1 {
		t.Errorf("%d reachmon_zone_health series, want one for the one zone:\n%s", n, grep(body, "reachmon_zone_health"))
	}
	if code, b := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(b) != "ok" {
		t.Errorf("/healthz = %d %q", code, b)
	}
	if code, b := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q", code, b)
	}
	code, b := get(t, base+"/api/v1/nameservers")
	if code != 200 || !strings.Contains(b, `{"schema":"reachmon.nameservers/v1","zones":[{"zone":"lab.example.","servers":[{"host":"`+auth.Addr+`","address":"`+auth.Addr+`","sources":["config"]}]}]}`) {
		t.Errorf("/api/v1/nameservers = %d %s", code, b)
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
