package bgpchurn

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/bench/benchutil"
)

// reachmonBinary is $BENCH_REACHMON_BIN, else bin/reachmon of the module.
func reachmonBinary(tb testing.TB) string { return benchutil.ReachmonBinary(tb, "BENCH_REACHMON_BIN") }

// reachmonConfig is the configuration `reachmon run` gets: the BGP speaker
// with the two senders as passive neighbors, the 10,000 watched prefixes
// with their expected origins, no resolvers and no zones (nothing is asked
// of DNS), no Slack, every other setting at its default (log level info;
// evaluator: open_after 30s, bgp_resolve_after 5m, min_peers 2,
// start_grace 2m, fade_off 10m ...).
func reachmonConfig(dir string, bgpPort, httpPort int, c *churner) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vantage = \"bench\"\nlisten = \"127.0.0.1:%d\"\nstate_dir = %q\n\n", httpPort, filepath.Join(dir, "state"))
	fmt.Fprintf(&b, "[log]\nlevel = \"info\"\nformat = \"text\"\n\n")
	fmt.Fprintf(&b, "[bgp]\nasn = %d\nrouter_id = \"127.0.0.1\"\nlisten_port = %d\nlisten_addresses = [\"127.0.0.1\"]\n\n", receiverAS, bgpPort)
	for _, p := range peerDefs {
		fmt.Fprintf(&b, "[[bgp.neighbor]]\naddress = %q\npeer_asn = %d\npassive = true\ndescription = \"churn sender\"\n\n", p.addr, p.as)
	}
	c.configPrefixes(&b)
	return b.String()
}

type peersView struct {
	Enabled bool `json:"enabled"`
	Peers   []struct {
		Peer   string `json:"peer"`
		State  string `json:"state"`
		Synced bool   `json:"synced"`
		Routes int    `json:"routes"`
	} `json:"peers"`
}

var apiClient = &http.Client{Timeout: 10 * time.Second}

// peers reads /api/v1/peers (the feed's own state under a read lock;
// nothing is asked of GoBGP).
func peers(httpAddr string) (peersView, error) {
	var v peersView
	resp, err := apiClient.Get("http://" + httpAddr + "/api/v1/peers")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("/api/v1/peers: %s", resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// daemon is a started `reachmon run`.
type daemon struct {
	p        *benchutil.Daemon
	bgpPort  int
	httpAddr string
	dir      string
}

func startReachmon(tb testing.TB, dir string, c *churner) *daemon {
	tb.Helper()
	bin := reachmonBinary(tb)
	d := &daemon{bgpPort: benchutil.FreePort(tb), dir: dir}
	httpPort := benchutil.FreePort(tb)
	d.httpAddr = fmt.Sprintf("127.0.0.1:%d", httpPort)
	conf := filepath.Join(dir, "reachmon.toml")
	if err := os.WriteFile(conf, []byte(reachmonConfig(dir, d.bgpPort, httpPort, c)), 0o644); err != nil {
		tb.Fatal(err)
	}
	p, err := startProc(dir, "reachmon", bin, "run", "--config", conf)
	if err != nil {
		tb.Fatal(err)
	}
	d.p = p
	deadline := time.Now().Add(60 * time.Second)
	for {
		if v, err := peers(d.httpAddr); err == nil && v.Enabled {
			return d
		} else if err == nil && !v.Enabled {
			_ = p.Stop()
			tb.Fatalf("reachmon does not run its BGP feed; log %s", p.LogPath)
		}
		if err := p.Exited(); err != nil || time.Now().After(deadline) {
			_ = p.Stop()
			tb.Fatalf("reachmon API not up (%v); log %s", err, p.LogPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) target() target {
	return target{
		pid: d.p.Pid(), http: d.httpAddr,
		storeDoc: filepath.Join(d.dir, "state", "incidents", "incidents.json"),
		logPath:  d.p.LogPath,
	}
}
