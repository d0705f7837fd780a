package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestZoneDetailAPI runs the daemon against in-process DNS servers and
// reads /api/v1/status?zone= through its own handler: the consume loop
// answers with the last result of every query of the resolver and of the
// authoritative server (its SOA serial, the apex A that is NODATA), in any spelling of the name; an
// unknown zone is a 404 naming it, an empty one a 400.
func TestZoneDetailAPI(t *testing.T) {
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

	var d evaluate.ZoneDetail
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		var code int
		code, body = get(t, base+"/api/v1/status?zone=LAB.example.")
		d = evaluate.ZoneDetail{}
		if code == 200 && json.Unmarshal([]byte(body), &d) == nil && len(d.Servers) == 2 &&
			len(d.Servers[0].Results) == 4 && len(d.Servers[1].Results) == 3 && d.Serials != nil {
			break
		}
		if time.Now().After(deadline) {
			// The resolver is asked both names, both types; the
			// nameserver the apex SOA, the apex A and www A.
			t.Fatalf("the zone detail never had the resolver's four results and the nameserver's three: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d.Schema != evaluate.ZoneSchema || d.Zone != "lab.example" || d.Vantage != "test-vantage" {
		t.Errorf("header %q %q %q", d.Schema, d.Zone, d.Vantage)
	}
	res, ns := d.Servers[0], d.Servers[1]
	if res.Name != "local" || res.Address != resolver.Addr || res.Transport != "udp" || ns.Name != auth.Addr || ns.Address != auth.Addr {
		t.Errorf("servers %+v / %+v", res, ns)
	}
	seen := 0
	for _, r := range ns.Results {
		switch {
		case r.Name == "lab.example." && r.Type == "SOA":
			seen++
			if !r.Success || !r.AA || r.Rcode != "NOERROR" || r.SOASerial == nil || *r.SOASerial != 2026112301 || r.Time.IsZero() {
				t.Errorf("the apex SOA at the nameserver: %+v", r)
			}
		case r.Name == "lab.example." && r.Type == "A":
			// The apex has no A record: NODATA, a failure.
			seen++
			if r.Success || r.Failure != "NODATA" || r.Rcode != "NOERROR" {
				t.Errorf("the apex A at the nameserver: %+v", r)
			}
		}
	}
	if seen != 2 {
		t.Errorf("the nameserver's results lack the apex SOA or A: %+v", ns.Results)
	}
	if s := d.Serials; len(s.Servers) != 1 || s.Servers[0].Serial != 2026112301 || s.Spread != 0 {
		t.Errorf("serials %+v", s)
	}
	if d.Discovery == nil || len(d.Discovery.Nameservers) != 1 || !d.Discovery.Nameservers[0].Configured {
		t.Errorf("discovery %+v, want the configured server", d.Discovery)
	}
	for _, tc := range []struct {
		query string
		code  int
		msg   string
	}{
		{"zone=nope.example", 404, `query parameter zone: no zone \"nope.example\"`},
		{"zone=", 400, "query parameter zone: empty"},
	} {
		code, b := get(t, base+"/api/v1/status?"+tc.query)
		if code != tc.code || !strings.Contains(b, tc.msg) || !strings.Contains(b, api.ErrorSchema) {
			t.Errorf("?%s = %d %s, want %d %s", tc.query, code, b, tc.code, tc.msg)
		}
	}
	if code, b := get(t, base+"/api/v1/status"); code != 200 || !strings.Contains(b, evaluate.StatusSchema) {
		t.Errorf("/api/v1/status = %d %.200s", code, b)
	}
}

// TestZoneDetailStopped: a request the consume loop cannot take ends with
// its context, or at once when the loop has ended.
func TestZoneDetailStopped(t *testing.T) {
	cfg, err := config.Parse("t.toml", []byte("listen = \"127.0.0.1:0\"\n[[zone]]\nname = \"example.com\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, newTestLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if det, err := d.zoneDetail(ctx, "example.com"); det != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no consume loop: %v, %v; want the context's deadline", det, err)
	}
	close(d.consumeDone)
	if det, err := d.zoneDetail(context.Background(), "example.com"); det != nil || !errors.Is(err, errStopped) {
		t.Errorf("consume loop ended: %v, %v; want %v", det, err, errStopped)
	}
}
