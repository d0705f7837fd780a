package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/bgplab"
	"github.com/reachmon/reachmon/integration/lab"
)

// Addresses of TestDaemonBGPReload, on its own namespace's loopback: one
// BIRD speaks from two addresses, one session each.
const (
	brReachmon = "198.18.0.1"
	brBirdA    = "198.18.0.2"
	brBirdB    = "198.18.0.3"
	brNS       = "198.18.30.53"
)

// brBirdConf is the configuration of one BIRD, speaking from local with
// asn (each session its own BIRD: two protocols of one BIRD towards the
// same neighbor address do not both come up).
func brBirdConf(local string, asn int) string {
	return fmt.Sprintf(`
router id %[1]s;
timeformat protocol iso long ms;
log stderr all;
protocol device {}
protocol static ns24 {
	ipv4;
	route 198.18.30.0/24 blackhole { bgp_path.prepend(32934); };
}
protocol bgp reachmon {
	local %[1]s as %[2]d;
	neighbor 198.18.0.1 as 64512;
	passive on;
	strict bind yes;
	multihop;
	ipv4 { import none; export all; };
}
`, local, asn)
}

// TestDaemonBGPReload runs the reachmon binary against a real BIRD with
// two sessions, then changes one neighbor in the file and runs `reachmon
// reload`: that session alone is reset (BIRD's other session keeps its
// start time, and reachmon logs no loss of it), then removing the neighbor
// closes its session, the other one still untouched.
func TestDaemonBGPReload(t *testing.T) {
	if ns := os.Getenv("REACHMON_BGPRELOAD_NS"); ns != "" {
		runDaemonBGPReload(t, ns, os.Getenv("REACHMON_BIN"))
		return
	}
	lab.Require(t, "bird", "birdc")
	bin := filepath.Join(t.TempDir(), "reachmon")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := buildReachmon(ctx, bin); err != nil {
		t.Fatal(err)
	}
	ns := bgplab.Namespace(t, brReachmon+"/32", brBirdA+"/32", brBirdB+"/32", brNS+"/32")
	t.Cleanup(func() { killNamespacePids(t, ns) })
	cmd := bgplab.Command(ns, os.Args[0], "-test.run=^TestDaemonBGPReload$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "REACHMON_BGPRELOAD_NS="+ns, "REACHMON_BIN="+bin)
	out, err := cmd.CombinedOutput()
	t.Logf("inside namespace %s:\n%s", ns, out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDaemonBGPReload") {
		t.Fatalf("daemon BGP reload test failed inside the namespace: %v", err)
	}
}

// brConfig is reachmon's configuration; neighborB is the [[bgp.neighbor]]
// entry of BIRD's second address ("" for none).
func brConfig(stateDir, neighborB string) string {
	return fmt.Sprintf(`
vantage = "bgp-reload"
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
initial_sync_timeout = "5s"
[[bgp.neighbor]]
address = %q
peer_asn = 65010
local_address = %q
multihop_ttl = 2
connect_retry = "1s"
description = "bird-a"
`, stateDir, brNS, brReachmon, brBirdA, brReachmon) + neighborB
}

func brNeighborB(extra string) string {
	return fmt.Sprintf(`
[[bgp.neighbor]]
address = %q
peer_asn = 65011
local_address = %q
multihop_ttl = 2
connect_retry = "1s"
%s
`, brBirdB, brReachmon, extra)
}

func runDaemonBGPReload(t *testing.T, ns, bin string) {
	birdA := bgplab.StartBird(t, ns, brBirdConf(brBirdA, 65010))
	birdB := bgplab.StartBird(t, ns, brBirdConf(brBirdB, 65011))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "reachmon.toml")
	stateDir := filepath.Join(dir, "state")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(brConfig(stateDir, brNeighborB(`description = "bird-b"`)))
	d := bgplab.Start(t, ns, "reachmon", bin, "run", "--config", cfg)

	cli := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		return string(out), err
	}
	waitFor := func(what string, cond func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for {
			ok, last := cond()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; last:\n%s\nreachmon:\n%s", what, last, d.Output())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// birdState returns the state column and the since time of a BIRD's
	// session with reachmon ("Established", "2026-12-02 13:20:01.123").
	sinceRE := regexp.MustCompile(`(?m)^(\S+)\s+BGP\s+\S+\s+\S+\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\s+(\S+)`)
	birdState := func(which string) (state, since, out string) {
		bird := birdA
		if which == "peerb" {
			bird = birdB
		}
		out = bird.Ctl(t, "show", "protocols", "reachmon")
		m := sinceRE.FindStringSubmatch(out)
		if m == nil {
			return "", "", out
		}
		return m[3], m[2], out
	}
	bothUp := func() (bool, string) {
		sa, _, oa := birdState("peera")
		sb, _, ob := birdState("peerb")
		return sa == "Established" && sb == "Established", oa + ob
	}
	waitFor("both sessions established", bothUp)
	_, sinceA, _ := birdState("peera")
	_, sinceB, _ := birdState("peerb")

	// The second neighbor changes: its session alone is reset.
	write(brConfig(stateDir, brNeighborB(`description = "bird-b, changed"
hold_time = "60s"`)))
	out, err := cli("reload", "--config", cfg)
	if err != nil || !strings.Contains(out, "bgp neighbors: reset "+brBirdB) {
		t.Fatalf("reachmon reload: %v\n%s", err, out)
	}
	waitFor("the changed session to be established again", func() (bool, string) {
		s, since, o := birdState("peerb")
		return s == "Established" && since != sinceB, o
	})
	if _, since, o := birdState("peera"); since != sinceA {
		t.Errorf("the unchanged session was re-established (since %s, was %s):\n%s", since, sinceA, o)
	}
	if log := d.Output(); strings.Contains(log, "kind=down peer="+brBirdA) {
		t.Errorf("reachmon lost the unchanged session:\n%s", log)
	}
	waitFor("reachmon to show the new description", func() (bool, string) {
		out, _ := cli("bgp", "peers", "--config", cfg)
		return strings.Contains(out, "bird-b, changed"), out
	})

	// The second neighbor is removed: its session closes, the first stays.
	write(brConfig(stateDir, ""))
	if out, err := cli("reload", "--config", cfg); err != nil || !strings.Contains(out, "bgp neighbors: removed "+brBirdB) {
		t.Fatalf("reachmon reload: %v\n%s", err, out)
	}
	waitFor("the removed neighbor's session to close", func() (bool, string) {
		s, _, o := birdState("peerb")
		return s != "Established", o
	})
	if s, since, o := birdState("peera"); s != "Established" || since != sinceA {
		t.Errorf("the unchanged session: %s since %s (was %s):\n%s", s, since, sinceA, o)
	}
	if out, _ := cli("bgp", "peers", "--config", cfg); strings.Contains(out, brBirdB) || !strings.Contains(out, brBirdA) {
		t.Errorf("reachmon bgp peers after removing %s:\n%s", brBirdB, out)
	}

	// An invalid file is refused; the daemon goes on.
	write("[bgp]\nasn = \"many\"\n")
	if out, err := cli("reload", "--url", "http://127.0.0.1:9798"); err == nil || !strings.Contains(out, "refused") || !strings.Contains(out, "asn") {
		t.Errorf("reload of an invalid file: %v\n%s", err, out)
	}
	write(brConfig(stateDir, ""))
	if out, err := cli("reload", "--config", cfg); err != nil {
		t.Errorf("reload after fixing the file: %v\n%s", err, out)
	}
}
