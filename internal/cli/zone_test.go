package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/model"
)

// TestStatusZone runs `reachmon status --zone` against the daemon's own
// API handler, answered by a real evaluator: the table, the JSON
// document, an unknown zone, and the flags that do not go together.
func TestStatusZone(t *testing.T) {
	cfg, err := config.Parse("t.toml", []byte("[[zone]]\nname = \"example.com\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	ev := evaluate.New(cfg.Evaluate, evaluate.TargetsFromPlan(cfg))
	serial := uint32(2026120201)
	ev.Apply(model.Observation{Time: now, Target: "example.com", Name: "example.com.", Type: "SOA", Rcode: "NOERROR", AA: true,
		SOASerial: &serial, Latency: 2 * time.Millisecond, Answers: []string{"example.com. IN SOA ns1.example.com. h.example.com. 2026120201 7200 3600 1209600 300"},
		Server: model.Server{Name: "ns1.example.com.", Kind: model.KindAuthoritative, Addr: "192.0.2.1:53", Transport: model.TransportUDP}})
	var pub evaluate.Publisher
	pub.Publish(ev.Snapshot(now))
	srv := httptest.NewServer(api.Handler(api.Sources{Status: pub.Load, Zone: func(_ context.Context, name string) (*evaluate.ZoneDetail, error) {
		return ev.ZoneDetail(name, now), nil
	}}))
	defer srv.Close()

	code, out, errOut := runMain("status", "--url", srv.URL, "--zone", "Example.COM.")
	if code != ExitOK {
		t.Fatalf("status --zone: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"zone example.com: unknown", "servers: 1, 1 not ok", "authoritative  192.0.2.1:53  udp",
		"example.com. SOA  ok", "aa serial 2026120201", "SOA serials: spread 0", "nameservers: 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("status --zone lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runMain("status", "--zone", "example.com", "--url", srv.URL, "--json")
	var d evaluate.ZoneDetail
	if err := json.Unmarshal([]byte(out), &d); code != ExitOK || err != nil || d.Schema != evaluate.ZoneSchema || len(d.Servers) != 1 {
		t.Errorf("status --zone --json: exit %d %v: %s%s", code, err, out, errOut)
	}
	if code, _, errOut := runMain("status", "--url", srv.URL, "--zone", "example.org"); code != ExitProblem ||
		!strings.Contains(errOut, `query parameter zone: no zone "example.org" (not a zone this instance watches)`) {
		t.Errorf("unknown zone: exit %d, stderr %q", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--zone", ""}, "reachmon status: --zone: name a zone (such as example.com)"},
		{[]string{"--zone", "example.com", "--all"}, "reachmon status: --all and --zone do not go together"},
		{[]string{"--zone"}, "flag needs an argument: -zone"},
	} {
		code, _, errOut := runMain(append([]string{"status", "--url", srv.URL}, tc.args...)...)
		if code != ExitUsage || !strings.Contains(errOut, tc.msg) {
			t.Errorf("status %q: exit %d, stderr %q, want %d and %q", tc.args, code, errOut, ExitUsage, tc.msg)
		}
	}
	if got := completions(t, "status", "--z"); !slices.Equal(got, []string{"--zone"}) {
		t.Errorf("completion of status --z: %q", got)
	}
}
