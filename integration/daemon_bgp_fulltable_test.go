package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/fulltable"
	"github.com/reachmon/reachmon/integration/bgplab"
	"github.com/reachmon/reachmon/integration/lab"
)

// dftRoutes is the size of the table gobgpd sends in TestDaemonBGPFullTable.
const dftRoutes = 100_000

const dftGoBGPConf = `
[global.config]
  as = 65020
  router-id = "198.18.0.3"
  port = -1
[[neighbors]]
  [neighbors.config]
    neighbor-address = "198.18.0.1"
    peer-as = 64512
  [neighbors.transport.config]
    local-address = "198.18.0.3"
    remote-port = 1790
  [neighbors.timers.config]
    connect-retry = 1
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`

// TestDaemonBGPFullTable runs the reachmon binary, as a user runs it, with
// a passive neighbor marked full_table = true (so reachmon's own session
// owns listen_port) and a real gobgpd sending it a 100,000-route table:
// /api/v1/peers shows the peer synced with exactly the watched routes and
// its session (mode full_table, established, every received prefix
// counted), /api/v1/routes has each of them with the path gobgpd sent,
// and `reachmon bgp peers` lists the session.
func TestDaemonBGPFullTable(t *testing.T) {
	if ns := os.Getenv("REACHMON_DAEMONFT_NS"); ns != "" {
		runDaemonBGPFullTable(t, ns, os.Getenv("REACHMON_BIN"))
		return
	}
	gobgpd, gobgp := bgplab.GoBGPBinaries(t)
	lab.RequireRoot(t)
	bin := filepath.Join(t.TempDir(), "reachmon")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := buildReachmon(ctx, bin); err != nil {
		t.Fatal(err)
	}
	ns := bgplab.Namespace(t, ftReachmon+"/32", ftGoBGP+"/32")
	t.Cleanup(func() { killNamespacePids(t, ns) })
	cmd := bgplab.Command(ns, os.Args[0], "-test.run=^TestDaemonBGPFullTable$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "REACHMON_DAEMONFT_NS="+ns, "REACHMON_BIN="+bin, "REACHMON_GOBGPD="+gobgpd, "REACHMON_GOBGP="+gobgp)
	out, err := cmd.CombinedOutput()
	t.Logf("inside namespace %s:\n%s", ns, out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestDaemonBGPFullTable") {
		t.Fatalf("daemon full_table test failed inside the namespace: %v", err)
	}
}

// dftPeers is the part of /api/v1/peers this test reads.
type dftPeers struct {
	Peers []struct {
		Peer    string `json:"peer"`
		State   string `json:"state"`
		Synced  bool   `json:"synced"`
		Routes  int    `json:"routes"`
		Source  string `json:"source"`
		Session *struct {
			Mode             string         `json:"mode"`
			State            string         `json:"state"`
			ReceivedPrefixes map[string]int `json:"received_prefixes"`
		} `json:"session"`
	} `json:"peers"`
}

func runDaemonBGPFullTable(t *testing.T, ns, bin string) {
	table, err := fulltable.Generate(dftRoutes, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	routes := make([]bgplab.MRTRoute, 0, len(table.V4)+20_000)
	for _, r := range table.V4 {
		routes = append(routes, bgplab.MRTRoute{Prefix: r.Prefix, ASPath: []uint32{65021, r.Origin}})
	}
	routes = append(routes, routes[:20_000]...) // see runFullTableLab: gobgp mrt inject may lose its tail
	dir := t.TempDir()
	mrtFile := filepath.Join(dir, "table.mrt")
	if err := bgplab.WriteMRT(mrtFile, netip.MustParseAddr(ftGoBGP), 65020, netip.MustParseAddr(ftGoBGP), routes); err != nil {
		t.Fatal(err)
	}
	gd := bgplab.StartGoBGPD(t, ns, os.Getenv("REACHMON_GOBGPD"), os.Getenv("REACHMON_GOBGP"), dftGoBGPConf, 50053)
	gd.CLI(t, "mrt", "inject", "global", mrtFile)
	waitFor(t, 60*time.Second, "gobgpd's RIB holds the whole table", func() (bool, string) {
		out, err := gd.Try("global", "rib", "summary", "-a", "ipv4")
		return err == nil && strings.Contains(out, fmt.Sprintf("Destination: %d,", dftRoutes)), out
	})

	var b strings.Builder
	fmt.Fprintf(&b, "vantage = \"bgp-fulltable-lab\"\nlisten = \"127.0.0.1:9799\"\nstate_dir = %q\n", filepath.Join(dir, "state"))
	fmt.Fprintf(&b, "[bgp]\nasn = 64512\nrouter_id = %q\nlisten_port = 1790\nlisten_addresses = [%q]\ninitial_sync_timeout = \"10s\"\n", ftReachmon, ftReachmon)
	fmt.Fprintf(&b, "[[bgp.neighbor]]\naddress = %q\npeer_asn = 65020\npassive = true\nfull_table = true\nmax_prefixes = %d\ndescription = \"gobgpd\"\n", ftGoBGP, dftRoutes)
	for _, w := range table.Watched {
		fmt.Fprintf(&b, "[[prefix]]\nprefix = %q\norigins = [%d]\n", w.Prefix, w.Origin)
	}
	cfg := filepath.Join(dir, "reachmon.toml")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	bgplab.Start(t, ns, "reachmon", bin, "run", "--config", cfg)

	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string, v any) error {
		resp, err := client.Get("http://127.0.0.1:9799" + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	waitFor(t, 90*time.Second, "/api/v1/peers: gobgpd synced with every watched route", func() (bool, string) {
		var v dftPeers
		if err := get("/api/v1/peers", &v); err != nil {
			return false, err.Error()
		}
		for _, p := range v.Peers {
			if p.Peer == ftGoBGP {
				ok := p.State == "up" && p.Synced && p.Routes == table.Imported && p.Source == "bgp" &&
					p.Session != nil && p.Session.Mode == "full_table" && p.Session.State == "established" &&
					p.Session.ReceivedPrefixes["ipv4-unicast"] == dftRoutes
				return ok, fmt.Sprintf("%+v (session %+v), want up, synced, %d routes, session full_table established with %d IPv4 prefixes received",
					p, p.Session, table.Imported, dftRoutes)
			}
		}
		return false, fmt.Sprintf("%s not in %+v", ftGoBGP, v)
	})

	// Route by route: every route of the table inside a watched prefix,
	// with the origin and path gobgpd sent, and nothing else.
	want := map[netip.Prefix]uint32{}
	watched := map[netip.Prefix]bool{}
	for _, w := range table.Watched {
		watched[w.Prefix] = true
	}
	for _, r := range table.V4 {
		for bits := r.Prefix.Bits(); bits >= 0; bits-- {
			if watched[netip.PrefixFrom(r.Prefix.Addr(), bits).Masked()] {
				want[r.Prefix] = r.Origin
				break
			}
		}
	}
	var rv struct {
		Routes []struct {
			Prefix netip.Prefix `json:"prefix"`
			Paths  []struct {
				Peer   string   `json:"peer"`
				Origin uint32   `json:"origin"`
				ASPath []uint32 `json:"as_path"`
			} `json:"paths"`
		} `json:"routes"`
	}
	if err := get("/api/v1/routes", &rv); err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, r := range rv.Routes {
		for _, p := range r.Paths {
			got++
			o, ok := want[r.Prefix]
			if p.Peer != ftGoBGP || !ok || p.Origin != o || fmt.Sprint(p.ASPath) != fmt.Sprint([]uint32{65020, 65021, o}) {
				t.Errorf("/api/v1/routes: %s from %s origin %d path %v; sent: watched %v, origin %d", r.Prefix, p.Peer, p.Origin, p.ASPath, ok, o)
			}
		}
	}
	if got != len(want) || got != table.Imported {
		t.Errorf("/api/v1/routes: %d paths, want %d", got, len(want))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "bgp", "peers", "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ftGoBGP) || !strings.Contains(string(out), "full_table") {
		t.Errorf("`reachmon bgp peers` does not list the full_table session (%v):\n%s", err, out)
	}
}
