package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/bgplab"
	"github.com/reachmon/reachmon/integration/lab"
)

// Addresses of TestDaemonBGP, on its own namespace's loopback.
const (
	dbReachmon = "198.18.0.1"
	dbBird     = "198.18.0.2"
	dbNS       = "198.18.30.53" // the zone's authoritative server
)

const dbBirdConf = `
router id 198.18.0.2;
log stderr all;
protocol device {}
protocol static ns24 {
	ipv4;
	route 198.18.30.0/24 blackhole { bgp_path.prepend(32934); };
}
protocol static cover17 {
	ipv4;
	route 198.18.0.0/17 blackhole { bgp_path.prepend(32934); };
}
protocol bgp reachmon {
	local 198.18.0.2 as 65010;
	neighbor 198.18.0.1 as 64512;
	passive on;
	strict bind yes;
	multihop;
	ipv4 { import none; export all; };
}
`

// TestDaemonBGP runs the reachmon binary, as a user runs it, in a network
// namespace with a real BIRD peer: the zone's configured nameserver
// address is watched, `reachmon bgp peers|routes` show the session and the
// route covering the nameserver, and when BIRD withdraws the /24 the
// covering /17 is reported as the current route (the Facebook shape).
func TestDaemonBGP(t *testing.T) {
	if ns := os.Getenv("REACHMON_DAEMONBGP_NS"); ns != "" {
		runDaemonBGP(t, ns, os.Getenv("REACHMON_BIN"))
		return
	}
	lab.Require(t, "bird", "birdc")
	bin := filepath.Join(t.TempDir(), "reachmon")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := buildReachmon(ctx, bin); err != nil {
		t.Fatal(err)
	}
	ns := bgplab.Namespace(t, dbReachmon+"/32", dbBird+"/32", dbNS+"/32")
	t.Cleanup(func() { killNamespacePids(t, ns) })
	cmd := bgplab.Command(ns, os.Args[0], "-test.run=^TestDaemonBGP$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "REACHMON_DAEMONBGP_NS="+ns, "REACHMON_BIN="+bin)
	out, err := cmd.CombinedOutput()
	t.Logf("inside namespace %s:\n%s", ns, out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDaemonBGP") {
		t.Fatalf("daemon BGP test failed inside the namespace: %v", err)
	}
}

// routesDoc is the part of /api/v1/routes this test reads.
type routesDoc struct {
	Addresses []struct {
		Address string `json:"address"`
		Current *struct {
			Prefix  string   `json:"prefix"`
			Origins []uint32 `json:"origins"`
			Peers   int      `json:"peers"`
		} `json:"current"`
	} `json:"addresses"`
}

func runDaemonBGP(t *testing.T, ns, bin string) {
	bird := bgplab.StartBird(t, ns, dbBirdConf)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "reachmon.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
vantage = "bgp-lab"
listen = "127.0.0.1:9798"
state_dir = %q
[probe]
interval = "2s"
timeout = "500ms"
[[resolver]]
name = "none"
address = "198.18.0.9"
[[zone]]
name = "lab.test"
authoritative = [%q]
dnssec = false
[bgp]
asn = 64512
router_id = %q
initial_sync_timeout = "10s"
[[bgp.neighbor]]
address = %q
peer_asn = 65010
local_address = %q
multihop_ttl = 2
connect_retry = "1s"
description = "bird"
`, filepath.Join(dir, "state"), dbNS, dbReachmon, dbBird, dbReachmon)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := bgplab.Start(t, ns, "reachmon", bin, "run", "--config", cfg)

	cli := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("error: %v\n%s", err, out)
		}
		return string(out)
	}
	waitFor := func(what string, cond func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok, last := cond()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; last:\n%s", what, last)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	current := func() (string, string) {
		out := cli("bgp", "routes", dbNS, "--config", cfg, "--json")
		var doc routesDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			return "", out
		}
		for _, a := range doc.Addresses {
			if a.Address == dbNS && a.Current != nil {
				return a.Current.Prefix, out
			}
		}
		return "", out
	}

	waitFor("the session with BIRD", func() (bool, string) {
		out := cli("bgp", "peers", "--config", cfg)
		return strings.Contains(out, dbBird) && strings.Contains(out, " up ") && strings.Contains(out, "bird"), out
	})
	waitFor("198.18.30.0/24 to cover the nameserver", func() (bool, string) {
		p, out := current()
		return p == "198.18.30.0/24", out
	})
	human := cli("bgp", "routes", dbNS, "--config", cfg)
	for _, w := range []string{"198.18.30.0/24", "32934"} {
		if !strings.Contains(human, w) {
			t.Errorf("`reachmon bgp routes %s` lacks %q:\n%s", dbNS, w, human)
		}
	}
	if out := cli("bgp", "peers", "--url", "http://127.0.0.1:9798/nonexistent-base"); !strings.Contains(out, "error") {
		t.Errorf("a wrong --url should fail: %s", out)
	}
	// The nameserver address is in the watch list from the start (it is
	// configured), so its routes arrive with the initial table, not as a
	// later "more specific appeared".
	if log := d.Output(); strings.Contains(log, "kind=more_specific") {
		t.Errorf("the configured nameserver's /24 was reported as a new more-specific:\n%s", log)
	}

	bird.Ctl(t, "disable", "ns24")
	waitFor("the covering /17 to become the current route", func() (bool, string) {
		p, out := current()
		return p == "198.18.0.0/17", out
	})
	bird.Ctl(t, "enable", "ns24")
	waitFor("the /24 to come back", func() (bool, string) {
		p, out := current()
		return p == "198.18.30.0/24", out
	})
}
