package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/syncbuf"
	"github.com/reachmon/reachmon/internal/testdns"
)

// TestShardDaemon runs shard 0 of 2 over eight zones and a control zone.
// The zones shard 1 owns are served by their own authoritative server,
// which must get no query at all (no probe, no DS check); the status
// document, the metrics and the log show the share. A reload to shard 1
// of 2 swaps the zones: the other server is queried, and the share shown
// follows.
func TestShardDaemon(t *testing.T) {
	var zones [2][]string // by owner among 2 shards
	var text strings.Builder
	for i := 0; len(zones[0]) < 4 || len(zones[1]) < 4; i++ {
		z := fmt.Sprintf("s%d.example", i)
		o := config.ShardOf(z, 2)
		if len(zones[o]) == 4 {
			continue
		}
		zones[o] = append(zones[o], z)
		fmt.Fprintf(&text, "%s. 300 IN SOA ns1.%s. host.%s. 1 3600 600 86400 300\n", z, z, z)
	}
	// The control zone is shard 1's, and shard 0 keeps it too.
	control := "ctl1.example"
	for config.ShardOf(control, 2) != 1 {
		control = "c" + control
	}
	fmt.Fprintf(&text, "%s. 300 IN SOA ns1.%s. host.%s. 1 3600 600 86400 300\n", control, control, control)
	resolver := testdns.Start(t, text.String(), false)
	auth := [2]*testdns.Server{testdns.Start(t, text.String(), true), testdns.Start(t, text.String(), true)}
	ctlAuth := testdns.Start(t, text.String(), true)
	listen := freeAddr(t)
	base := "http://" + listen
	stateDir := t.TempDir()
	path := filepath.Join(t.TempDir(), "reachmon.toml")
	write := func(index int) {
		t.Helper()
		s := fmt.Sprintf(`
vantage = "v"
listen = %q
state_dir = %q
[probe]
interval = "100ms"
timeout = "80ms"
jitter = "10ms"
ds_check_interval = "100ms"
[[resolver]]
name = "local"
address = %q
[evaluate]
control_zones = [%q]
[shard]
index = %d
count = 2
`, listen, stateDir, resolver.Addr, control, index)
		for o := range 2 {
			for _, z := range zones[o] {
				s += fmt.Sprintf("[[zone]]\nname = %q\nauthoritative = [%q]\n", z, auth[o].Addr)
			}
		}
		s += fmt.Sprintf("[[zone]]\nname = %q\nauthoritative = [%q]\n", control, ctlAuth.Addr)
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	var logs syncbuf.Buffer
	d := runDaemonFile(t, path, &logs)

	check := func(index, otherBase int) {
		t.Helper()
		want := append(slices.Clone(zones[index]), control)
		slices.Sort(want)
		var st evaluate.Status
		waitUntil(t, 10*time.Second, fmt.Sprintf("shard %d's zones in /api/v1/status", index), func() bool {
			_, body := get(t, base+"/api/v1/status")
			st = evaluate.Status{}
			if json.Unmarshal([]byte(body), &st) != nil {
				return false
			}
			var got []string
			for _, z := range st.Zones {
				got = append(got, z.Zone)
			}
			slices.Sort(got)
			return slices.Equal(got, want) && st.Shard != nil && st.Shard.Index == index
		})
		if s := *st.Shard; s != (evaluate.ShardStatus{Index: index, Count: 2, Zones: 5, Of: 9}) {
			t.Errorf("status shard = %+v, want index %d count 2 zones 5 of 9", s, index)
		}
		_, m := get(t, base+"/metrics")
		if v := metricLine(m, fmt.Sprintf(`reachmon_shard_info{count="2",index="%d",vantage="v"}`, index)); v != "1" {
			t.Errorf("reachmon_shard_info for index %d = %q, want 1", index, v)
		}
		if n := strings.Count(m, "\nreachmon_shard_info{"); n != 1 {
			t.Errorf("%d reachmon_shard_info series, want 1", n)
		}
		if v := metricLine(m, `reachmon_shard_zones{vantage="v"}`); v != "5" {
			t.Errorf("reachmon_shard_zones = %q, want 5", v)
		}
		// Several rounds (and DS checks) of the owned zones reach their
		// server; none reaches the other shard's.
		owned, other := auth[index], auth[1-index]
		start := owned.Queries()
		waitUntil(t, 10*time.Second, "owned zones probed", func() bool {
			return owned.Queries() >= start+40 && ctlAuth.Queries() > 0
		})
		if n := other.Queries() - otherBase; n != 0 {
			t.Errorf("the server of shard %d's zones got %d queries from shard %d", 1-index, n, index)
		}
	}
	check(0, 0)
	if !strings.Contains(logs.String(), "shard 0 of 2: 5 of 9 zones") {
		t.Errorf("the start log does not say the share:\n%s", logs.String())
	}

	write(1)
	res, err := d.Reload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if changed := strings.Join(res.Changed, "\n"); !strings.Contains(changed, "shard: was 0 of 2, now shard 1 of 2: 5 of 9 zones") {
		t.Errorf("reload changed = %q, want the shard line", res.Changed)
	}
	if len(res.RestartNeeded) != 0 {
		t.Errorf("restart needed for %q", res.RestartNeeded)
	}
	// Probes in flight at the reload may still reach shard 0's server:
	// count from a moment later.
	time.Sleep(300 * time.Millisecond)
	check(1, auth[0].Queries())
}
