package benchbgp

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

	"github.com/reachmon/reachmon/bench/benchutil"
	"github.com/reachmon/reachmon/bench/fulltable"
	"github.com/reachmon/reachmon/integration/bgplab"
	"github.com/reachmon/reachmon/integration/lab"
)

// receiver is a BGP speaker under test, listening on 127.0.0.1.
type receiver interface {
	proc() *benchutil.Daemon
	bgpAddr() string
	// synced reports whether the receiver says it has the whole table
	// (End-of-RIB seen); ok is false when it cannot tell cheaply.
	synced() (yes, ok bool)
	// verify checks, after the ingest, that every route arrived.
	verify(t *table) (string, error)
}

// --- gobgpd alone -----------------------------------------------------------

type gobgpd struct {
	p        *benchutil.Daemon
	cli, api string
	port     int
}

const gobgpdConf = `[global.config]
  as = %d
  router-id = "127.0.0.1"
  port = %d
  local-address-list = ["127.0.0.1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "%s"
    peer-as = %d
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
`

func startGoBGPD(tb testing.TB, dir string) *gobgpd {
	tb.Helper()
	d, c := bgplab.GoBGPBinaries(tb)
	g := &gobgpd{cli: c, port: benchutil.FreePort(tb)}
	g.api = fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort(tb))
	conf := filepath.Join(dir, "gobgpd.toml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, gobgpdConf, receiverAS, g.port, senderAddr, senderAS), 0o644); err != nil {
		tb.Fatal(err)
	}
	p, err := startProc(dir, "gobgpd", nil, d, "-f", conf, "-t", "toml", "--api-hosts", g.api, "-l", "info", "--pprof-disable")
	if err != nil {
		tb.Fatal(err)
	}
	g.p = p
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := g.run("global"); err == nil {
			return g
		}
		if err := p.Exited(); err != nil || time.Now().After(deadline) {
			_ = p.Stop()
			tb.Fatalf("gobgpd API not up (%v); log %s", err, p.LogPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *gobgpd) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host, port, _ := strings.Cut(g.api, ":")
	out, err := exec.CommandContext(ctx, g.cli, append([]string{"-u", host, "-p", port}, args...)...).CombinedOutput()
	return string(out), err
}

func (g *gobgpd) proc() *benchutil.Daemon { return g.p }
func (g *gobgpd) bgpAddr() string         { return fmt.Sprintf("127.0.0.1:%d", g.port) }
func (g *gobgpd) synced() (yes, ok bool)  { return false, false }

// verify asks gobgpd (once, after the ingest: ListPeer counts by walking
// the Adj-RIB-In inside GoBGP's loop) how many routes it received.
func (g *gobgpd) verify(t *table) (string, error) {
	out, err := g.run("neighbor", senderAddr, "-j")
	if err != nil {
		return "", fmt.Errorf("gobgp neighbor: %v: %s", err, out)
	}
	var n struct {
		AfiSafis []struct {
			State struct {
				Family struct {
					Afi int `json:"afi"`
				} `json:"family"`
				Received uint64 `json:"received"`
				Accepted uint64 `json:"accepted"`
			} `json:"state"`
		} `json:"afi_safis"`
	}
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		return "", fmt.Errorf("gobgp neighbor -j: %v: %.300s", err, out)
	}
	var rcv, acc uint64
	for _, a := range n.AfiSafis {
		rcv += a.State.Received
		acc += a.State.Accepted
	}
	msg := fmt.Sprintf("gobgpd: received %d accepted %d of %d", rcv, acc, t.Routes())
	if rcv != uint64(t.Routes()) {
		return msg, fmt.Errorf("%s", msg)
	}
	return msg, nil
}

// --- reachmon run -------------------------------------------------------------

type reachmon struct {
	p          *benchutil.Daemon
	port, http int
	client     *http.Client
	// fullTable: the neighbor is marked full_table = true (reachmon's
	// own session, no GoBGP); verify then checks every watched route.
	fullTable bool
}

func reachmonBinary(tb testing.TB) string { return benchutil.ReachmonBinary(tb, "BENCH_BGP_REACHMON") }

// reachmonConfig is the configuration `reachmon run` gets: the BGP
// speaker with one passive neighbor (the sender; full_table = true when
// fullTable) and the watched prefixes, no zones or resolvers (the DNS
// side stays idle).
func reachmonConfig(dir string, port, httpPort int, t *table, fullTable bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "vantage = \"bench\"\nlisten = \"127.0.0.1:%d\"\nstate_dir = %q\n\n", httpPort, filepath.Join(dir, "state"))
	fmt.Fprintf(&b, "[log]\nlevel = \"info\"\nformat = \"text\"\n\n")
	fmt.Fprintf(&b, "[bgp]\nasn = %d\nrouter_id = \"127.0.0.1\"\nlisten_port = %d\nlisten_addresses = [\"127.0.0.1\"]\n\n", receiverAS, port)
	fmt.Fprintf(&b, "[[bgp.neighbor]]\naddress = %q\npeer_asn = %d\npassive = true\ndescription = \"bench sender\"\nfull_table = %t\n\n", senderAddr, senderAS, fullTable)
	for _, w := range t.Watched {
		fmt.Fprintf(&b, "[[prefix]]\nprefix = %q\norigins = [%d]\n", w.Prefix.String(), w.Origin)
	}
	return b.String()
}

func startReachmon(tb testing.TB, dir string, t *table, fullTable bool) *reachmon {
	tb.Helper()
	bin := reachmonBinary(tb)
	r := &reachmon{port: benchutil.FreePort(tb), http: benchutil.FreePort(tb), client: &http.Client{Timeout: 5 * time.Second}, fullTable: fullTable}
	conf := filepath.Join(dir, "reachmon.toml")
	if err := os.WriteFile(conf, []byte(reachmonConfig(dir, r.port, r.http, t, fullTable)), 0o644); err != nil {
		tb.Fatal(err)
	}
	p, err := startProc(dir, "reachmon", nil, bin, "run", "--config", conf)
	if err != nil {
		tb.Fatal(err)
	}
	r.p = p
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v, err := r.peers(); err == nil && v.Enabled {
			return r
		} else if err == nil && !v.Enabled {
			_ = p.Stop()
			lab.Missing(tb, "this reachmon does not run a BGP feed ([bgp] not wired into `reachmon run` yet)")
		}
		if err := p.Exited(); err != nil || time.Now().After(deadline) {
			_ = p.Stop()
			tb.Fatalf("reachmon API not up (%v); log %s", err, p.LogPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
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

// peers reads /api/v1/peers: the feed's own state under a read lock, not
// GoBGP's (cheap to poll).
func (r *reachmon) peers() (peersView, error) {
	var v peersView
	resp, err := r.client.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/peers", r.http))
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("/api/v1/peers: %s", resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

func (r *reachmon) proc() *benchutil.Daemon { return r.p }
func (r *reachmon) bgpAddr() string         { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *reachmon) synced() (yes, ok bool) {
	v, err := r.peers()
	if err != nil {
		return false, true
	}
	for _, p := range v.Peers {
		if p.Peer == senderAddr {
			return p.Synced, true
		}
	}
	return false, true
}

func (r *reachmon) verify(t *table) (string, error) {
	v, err := r.peers()
	if err != nil {
		return "", err
	}
	for _, p := range v.Peers {
		if p.Peer != senderAddr {
			continue
		}
		msg := fmt.Sprintf("reachmon: peer %s synced=%v, %d watched routes (expected %d)", p.State, p.Synced, p.Routes, t.Imported)
		if !p.Synced || p.Routes != t.Imported {
			return msg, fmt.Errorf("%s", msg)
		}
		if r.fullTable {
			// The per-peer view, route by route: the count alone would
			// not show a route kept with the wrong origin or path.
			if err := r.verifyRoutes(t); err != nil {
				return msg, err
			}
			msg += "; every watched route's prefix, origin and first AS in /api/v1/routes as sent"
		}
		return msg, nil
	}
	return "", fmt.Errorf("reachmon: peer %s not in /api/v1/peers", senderAddr)
}

// verifyRoutes compares /api/v1/routes with the table: the sender's path
// to every route of the feed inside a watched prefix, with its origin and
// the sender's AS first, and nothing else.
func (r *reachmon) verifyRoutes(t *table) error {
	want := map[netip.Prefix]uint32{}
	watched := map[netip.Prefix]bool{}
	for _, w := range t.Watched {
		watched[w.Prefix] = true
	}
	for _, l := range [][]fulltable.Route{t.V4, t.V6} {
		for _, rt := range l {
			for bits := rt.Prefix.Bits(); bits >= 0; bits-- {
				if watched[netip.PrefixFrom(rt.Prefix.Addr(), bits).Masked()] {
					want[rt.Prefix] = rt.Origin
					break
				}
			}
		}
	}
	resp, err := r.client.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/routes", r.http))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var v struct {
		Routes []struct {
			Prefix netip.Prefix `json:"prefix"`
			Paths  []struct {
				Peer   string   `json:"peer"`
				Origin uint32   `json:"origin"`
				ASPath []uint32 `json:"as_path"`
			} `json:"paths"`
		} `json:"routes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return fmt.Errorf("/api/v1/routes: %w", err)
	}
	got := 0
	for _, rt := range v.Routes {
		for _, p := range rt.Paths {
			if p.Peer != senderAddr {
				return fmt.Errorf("/api/v1/routes: %s from unknown peer %s", rt.Prefix, p.Peer)
			}
			o, ok := want[rt.Prefix]
			switch {
			case !ok:
				return fmt.Errorf("/api/v1/routes: %s is not a watched route of the feed", rt.Prefix)
			case p.Origin != o:
				return fmt.Errorf("/api/v1/routes: %s origin AS%d, sent AS%d", rt.Prefix, p.Origin, o)
			case len(p.ASPath) == 0 || p.ASPath[0] != senderAS:
				return fmt.Errorf("/api/v1/routes: %s AS path %v does not start with the sender's AS%d", rt.Prefix, p.ASPath, senderAS)
			}
			got++
		}
	}
	if got != len(want) || got != t.Imported {
		return fmt.Errorf("/api/v1/routes: %d paths, want %d (table: %d imported)", got, len(want), t.Imported)
	}
	return nil
}
