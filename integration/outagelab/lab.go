// Package outagelab is the combined lab reachmon's outage scenarios run
// in (issue 7): inside a network namespace the test creates, a signed DNS
// tree on real NSD with validating Unbound resolvers (integration/lab, on
// 198.18.0.0/16), BIRD 2 peers announcing the prefixes that cover the
// nameservers and resolvers (and a covering less-specific), an nftables
// table of our own that makes addresses unreachable (input DROP), a Slack
// Web API stand-in recording every call (fakeslack), optionally a real
// Prometheus, and the built reachmon binary run with a generated config.
//
// Faults are real: Withdraw disables the BIRD static protocols announcing
// a prefix (on every peer), Block drops every packet to an address, the
// DNS lab stops NSD or breaks a zone's DNSKEY.
//
// Addresses (inside the namespace only):
//
//	198.18.0.0/16      the DNS lab's Plan (root, test., resolvers, nameservers)
//	198.18.250.1/16    reachmon (the primary address of lo: every probe comes from it)
//	198.18.250.1+i     vantage i's BGP sessions (Options.Vantages)
//	198.18.251.1+i     BGP peer i (BIRD, AS 65010+10i)
//	198.18.252.1       the BMP-exporting router (Options.BMP; AS 65100)
//	198.18.253.1       reachmon's BMP station (connections to it come from 198.18.252.1)
//	203.0.113.1+j      RIS peer j of the RIS Live bridge (Options.RISLive; only in its messages)
//	127.0.0.1          reachmon's HTTP (vantage i: port 9798+i), fakeslack, Prometheus
package outagelab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/bgplab"
	"github.com/reachmon/reachmon/integration/bmplab"
	"github.com/reachmon/reachmon/integration/lab"
	"github.com/reachmon/reachmon/integration/rislab"
	"github.com/reachmon/reachmon/internal/evaluate"
	"github.com/reachmon/reachmon/internal/incident"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/notify/slack/fakeslack"
)

// Fixed addresses of the lab.
var (
	Base         = netip.MustParsePrefix("198.18.0.0/16")
	ReachmonAddr = netip.MustParseAddr("198.18.250.1")
	// Cover is the less-specific every peer announces and never withdraws
	// (Facebook's 129.134.0.0/17 that stayed).
	Cover = netip.MustParsePrefix("198.18.0.0/17")
)

const (
	maxPeers    = 4
	ReachmonASN = 64512
	// ZoneOrigin originates every zone's prefixes (AS32934, Facebook).
	ZoneOrigin = 32934
	// Listen is reachmon's HTTP address inside the namespace.
	Listen = "127.0.0.1:9798"
	// SlackChannel is the channel reachmon pages in.
	SlackChannel = "C0REACHMON"
	slackToken   = "xoxb-outagelab-token"
	nftTable     = "reachmon_outagelab"
)

// ResolverOrigins originate resolver j's /24 (Cloudflare, Google, Quad9).
var ResolverOrigins = []uint32{13335, 15169, 19281}

// PeerAddr is BGP peer i's address.
func PeerAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 251, byte(1 + i)}) }

// PeerASN is BGP peer i's AS.
func PeerASN(i int) uint32 { return uint32(65010 + 10*i) }

// Route is one prefix announced by BIRD peers.
type Route struct {
	Prefix netip.Prefix
	Origin uint32
	// Peers announcing it (indexes); nil: every peer.
	Peers []int
	// Disabled routes are configured but not announced until Announce.
	Disabled bool
}

// Options configures Start.
type Options struct {
	// Zones are the DNS lab's child zones (default lab.DefaultZones).
	Zones []string
	// Resolvers is how many Unbound resolvers run (default 3).
	Resolvers int
	// TTL of every DNS record (default 30 s).
	TTL time.Duration
	// Peers is how many BIRD peers run (default 2).
	Peers int
	// Extra routes, e.g. a hijack announced later by one peer.
	Extra []Route
	// Evaluate replaces the [evaluate] section's body (default
	// DefaultEvaluate).
	Evaluate string
	// Probe replaces the [probe] section's body (default DefaultProbe).
	Probe string
	// Prometheus starts a real Prometheus scraping reachmon every second.
	Prometheus bool
	// Vantages runs one reachmon per name against the same lab (default:
	// one, "outagelab"). Vantage i has its own BGP address
	// (VantageAddr(i); every peer has a session with each vantage), HTTP
	// port (9798+i), state directory, configuration and log; its probes,
	// like every vantage's, come from ReachmonAddr.
	Vantages []string
	// ReachmonExtra, when set, returns TOML appended to vantage's
	// configuration (e.g. an [[alertmanager]] section).
	ReachmonExtra func(vantage string) string
	// BMP makes BMP the only BGP view (issue 16): "gobgpd" (Debian's
	// gobgpd) or "frr" (FRR's bgpd -M bmp) runs as router RouterName at
	// RouterAddr, the BIRD peers peer with it instead of with reachmon,
	// and it exports what they announce over BMP to reachmon's [bmp]
	// station on BMPStation; reachmon has no [[bgp.neighbor]]. "" (the
	// default): the BIRD peers peer with reachmon's embedded speaker.
	// One vantage only.
	BMP string
	// RISLive makes RIS Live the only BGP view (issue 16): a bridge in
	// the test process (rislab) peers with the BIRD peers in reachmon's
	// place (from VantageAddr(0), AS ReachmonASN) and serves their routes
	// over a local websocket speaking RIS Live as RISLive synthetic RIS
	// peers of the collectors rrc00 and rrc01 (RIS peer j carries BIRD
	// peer j mod Peers' routes); reachmon has [ris_live] url = the bridge
	// and no [[bgp.neighbor]]. 0 (the default): no RIS Live. One vantage
	// only, not with BMP.
	RISLive int
}

// The BMP-exporting router of Options.BMP.
var (
	RouterAddr = netip.MustParseAddr("198.18.252.1")
	// BMPStation is reachmon's [bmp] listen address; connections to it
	// come from RouterAddr (bmplab.StationRoute).
	BMPStation = netip.MustParseAddrPort("198.18.253.1:11019")
)

const (
	RouterASN  = 65100
	RouterName = "edge1"
)

// maxVantages bounds Options.Vantages.
const maxVantages = 4

// VantageAddr is vantage i's BGP address (vantage 0: ReachmonAddr).
func VantageAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 250, byte(1 + i)}) }

// Vantage is one running reachmon of the lab.
type Vantage struct {
	Name string
	// Addr is its BGP address; URL its HTTP base URL; Config its
	// configuration file; Log its output.
	Addr   netip.Addr
	URL    string
	Config string
	Log    string
	index  int
	exited chan struct{} // closed when it exits
}

// bgpProto is the BIRD protocol of a peer's session with the vantage.
func (v *Vantage) bgpProto() string {
	if v.index == 0 {
		return "reachmon"
	}
	return fmt.Sprintf("reachmon%d", v.index)
}

// DefaultProbe is the [probe] body of the lab: one probe a second.
const DefaultProbe = `interval = "1s"
timeout = "800ms"
jitter = "100ms"
discovery_min = "5s"
discovery_max = "20s"
ds_check_interval = "2s"
`

// DefaultEvaluate is the [evaluate] body of the lab: two rounds to open or
// resolve, BGP verdicts live 3 s after start, a flapping prefix stays one
// incident for 10 s, and the TLD is the control zone.
const DefaultEvaluate = `open_rounds = 2
resolve_rounds = 2
open_after = "0s"
resolve_after = "2s"
bgp_open_after = "0s"
bgp_resolve_after = "10s"
min_peers = 2
start_grace = "3s"
peer_grace = "15s"
control_zones = ["test"]
`

// Lab is a running outage lab.
type Lab struct {
	t     testing.TB
	DNS   *lab.DNS
	Plan  lab.Plan
	Dir   string
	Slack *fakeslack.Server
	// Config is reachmon's configuration file; Log its output (the first
	// vantage's).
	Config string
	Log    string
	// URL is reachmon's HTTP base URL (the first vantage's).
	URL string
	// Vantages are the running reachmons (Options.Vantages), the first
	// one being the one Config, Log and URL describe.
	Vantages []*Vantage
	// PromURL is Prometheus's base URL (Options.Prometheus).
	PromURL string
	Routes  []Route
	Watched []Watch
	// Sender is the BMP-exporting router (Options.BMP), nil without.
	Sender *bmplab.Sender
	// RIS is the RIS Live bridge (Options.RISLive), nil without.
	RIS     *rislab.Bridge
	peers   []*bgplab.Bird
	bin     string
	opts    Options
	started time.Time

	mu      sync.Mutex
	blocked []netip.Addr
	marks   []Mark
}

// Watch is one [[prefix]] of reachmon's configuration.
type Watch struct {
	Prefix      netip.Prefix
	Origins     []uint32
	Description string
}

// Mark is a moment of a scenario (a fault injected, a recovery).
type Mark struct {
	Time time.Time
	What string
}

// Start brings the lab up inside the namespace Enter created and returns
// once reachmon is healthy: BGP verdicts live, every zone, resolver,
// server and prefix healthy, nothing open, nothing paged. Everything is
// stopped when the test ends.
func Start(t testing.TB, o Options) *Lab {
	t.Helper()
	if !Inside() {
		t.Fatal("outagelab.Start outside the lab's namespace: call outagelab.Enter first")
	}
	if o.Resolvers == 0 {
		o.Resolvers = 3
	}
	if o.Resolvers > len(ResolverOrigins) {
		t.Fatalf("outagelab: at most %d resolvers", len(ResolverOrigins))
	}
	if o.Peers == 0 {
		o.Peers = 2
	}
	if o.Peers > maxPeers {
		t.Fatalf("outagelab: at most %d peers", maxPeers)
	}
	if o.TTL == 0 {
		o.TTL = 30 * time.Second
	}
	if o.Evaluate == "" {
		o.Evaluate = DefaultEvaluate
	}
	if o.Probe == "" {
		o.Probe = DefaultProbe
	}
	if len(o.Vantages) == 0 {
		o.Vantages = []string{"outagelab"}
	}
	if len(o.Vantages) > maxVantages {
		t.Fatalf("outagelab: at most %d vantages", maxVantages)
	}
	switch o.BMP {
	case "", "gobgpd", "frr":
	default:
		t.Fatalf("outagelab: Options.BMP %q: want \"gobgpd\" or \"frr\"", o.BMP)
	}
	if o.BMP != "" && len(o.Vantages) > 1 {
		t.Fatal("outagelab: Options.BMP runs one vantage")
	}
	if o.RISLive < 0 || o.RISLive > maxRISPeers || (o.RISLive > 0 && (o.BMP != "" || len(o.Vantages) > 1)) {
		t.Fatalf("outagelab: Options.RISLive %d: want 0..%d, one vantage, no BMP", o.RISLive, maxRISPeers)
	}
	began := time.Now()
	l := &Lab{t: t, bin: os.Getenv(envBin), opts: o, Dir: t.TempDir(), URL: "http://" + Listen}
	for i, name := range o.Vantages {
		l.Vantages = append(l.Vantages, &Vantage{Name: name, Addr: VantageAddr(i), index: i,
			URL: "http://" + netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(9798+i)).String()})
	}
	l.DNS = lab.StartDNS(t, lab.DNSOptions{Base: Base, Zones: o.Zones, Resolvers: o.Resolvers, TTL: o.TTL})
	l.Plan = l.DNS.Plan
	l.startNFT()
	l.plan()
	for i := range o.Peers {
		l.peers = append(l.peers, bgplab.StartBird(t, os.Getenv(envNS), l.birdConf(i)))
	}
	if o.RISLive > 0 {
		l.startRISBridge()
	}
	l.Slack = fakeslack.New(slackToken, map[string]string{"#reachmon": SlackChannel})
	t.Cleanup(l.Slack.Close)
	if o.Prometheus {
		l.startPrometheus()
	}
	for _, v := range l.Vantages {
		l.startReachmon(v)
	}
	if o.BMP != "" {
		l.startSender()
	}
	l.Config, l.Log = l.Vantages[0].Config, l.Vantages[0].Log
	l.waitHealthy(60 * time.Second)
	for _, v := range l.Vantages {
		t.Logf("outagelab: ready in %v (reachmon %s at %s, log %s)", time.Since(began).Round(time.Millisecond), v.Name, v.URL, v.Log)
	}
	return l
}

// plan lays out the routes the peers announce and the prefixes reachmon
// watches: per zone its /23 and both /24s (origin ZoneOrigin) and the /24
// of its www address; per resolver its /24; and Cover, never withdrawn.
func (l *Lab) plan() {
	p := l.Plan
	l.Routes = append(l.Routes, Route{Prefix: Cover, Origin: ZoneOrigin})
	for i, z := range l.DNS.ZoneNames {
		info := l.DNS.Zones[z]
		l.Routes = append(l.Routes, Route{Prefix: info.Prefix, Origin: ZoneOrigin},
			Route{Prefix: info.NS[0].Prefix, Origin: ZoneOrigin},
			Route{Prefix: info.NS[1].Prefix, Origin: ZoneOrigin},
			Route{Prefix: netip.PrefixFrom(p.WWW(i), 24).Masked(), Origin: ZoneOrigin})
		l.Watched = append(l.Watched,
			Watch{Prefix: info.Prefix, Origins: []uint32{ZoneOrigin}, Description: "nameservers of " + z},
			Watch{Prefix: netip.PrefixFrom(p.WWW(i), 24).Masked(), Origins: []uint32{ZoneOrigin}, Description: "www." + z})
	}
	for j := range l.opts.Resolvers {
		l.Routes = append(l.Routes, Route{Prefix: p.ResolverPrefix(j), Origin: ResolverOrigins[j]})
		l.Watched = append(l.Watched, Watch{Prefix: p.ResolverPrefix(j), Origins: []uint32{ResolverOrigins[j]},
			Description: fmt.Sprintf("resolver%d", j)})
	}
	l.Routes = append(l.Routes, l.opts.Extra...)
}

// protoName is the BIRD static protocol announcing one route.
func protoName(r Route) string {
	s := strings.NewReplacer(".", "_", "/", "_", ":", "_").Replace(r.Prefix.String())
	return fmt.Sprintf("r_%s_as%d", s, r.Origin)
}

func (r Route) on(peer int) bool { return r.Peers == nil || slices.Contains(r.Peers, peer) }

func (l *Lab) birdConf(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "router id %s;\nlog stderr { warning, error, fatal, info };\nprotocol device {}\n", PeerAddr(i))
	for _, r := range l.Routes {
		if !r.on(i) {
			continue
		}
		dis := ""
		if r.Disabled {
			dis = "\tdisabled yes;\n"
		}
		fmt.Fprintf(&b, "protocol static %s {\n%s\tipv4;\n\troute %s blackhole { bgp_path.prepend(%d); };\n}\n",
			protoName(r), dis, r.Prefix, r.Origin)
	}
	if l.opts.BMP != "" {
		// One session, to the router (BIRD connects; the router exports
		// it over BMP). Named like the session with the first vantage,
		// so that SessionDown works alike.
		fmt.Fprintf(&b, `protocol bgp reachmon {
	local %s as %d;
	neighbor %s as %d;
	strict bind yes;
	multihop;
	connect retry time 1;
	ipv4 { import none; export all; };
}
`, PeerAddr(i), PeerASN(i), RouterAddr, RouterASN)
		return b.String()
	}
	for _, v := range l.Vantages {
		fmt.Fprintf(&b, `protocol bgp %s {
	local %s as %d;
	neighbor %s as %d;
	passive on;
	strict bind yes;
	multihop;
	ipv4 { import none; export all; };
}
`, v.bgpProto(), PeerAddr(i), PeerASN(i), v.Addr, ReachmonASN)
	}
	return b.String()
}

// startSender starts the BMP-exporting router of Options.BMP, peering
// with every BIRD peer and exporting to reachmon's station.
func (l *Lab) startSender() {
	r := bmplab.Router{Name: RouterName, Addr: RouterAddr, ASN: RouterASN, Station: BMPStation, APIPort: 50061}
	for i := range l.peers {
		r.Peers = append(r.Peers, bmplab.Peer{Addr: PeerAddr(i), ASN: PeerASN(i)})
	}
	// gobgpd retries a refused BMP connection after 1, 2, 4 ... s: start
	// it once reachmon is up (its API answers after the station listens).
	l.WaitFor("reachmon's API before starting the BMP sender", 30*time.Second, func() (bool, string) {
		_, err := l.Status()
		return err == nil, fmt.Sprint(err)
	})
	if l.opts.BMP == "frr" {
		l.Sender = bmplab.StartFRR(l.t, os.Getenv(envNS), r)
	} else {
		l.Sender = bmplab.StartGoBGPD(l.t, os.Getenv(envNS), r)
	}
}

// maxRISPeers bounds Options.RISLive (the bridge's RIS peer addresses).
const maxRISPeers = 64

// startRISBridge starts the RIS Live bridge of Options.RISLive: it
// connects to every BIRD peer from the first vantage's address, as
// reachmon's embedded speaker would.
func (l *Lab) startRISBridge() {
	cfg := rislab.Config{LocalAddr: VantageAddr(0), LocalASN: ReachmonASN, RISPeers: l.opts.RISLive}
	for i := range l.peers {
		cfg.Peers = append(cfg.Peers, rislab.BIRDPeer{Addr: PeerAddr(i), ASN: PeerASN(i)})
	}
	l.RIS = rislab.Start(l.t, cfg)
}

// RISMinPeers is the [ris_live] min_peers of Options.RISLive: a majority
// of the RIS peers.
func RISMinPeers(risPeers int) int { return risPeers/2 + 1 }

// ViewPeers is how many BGP peers (views) reachmon has once synced: the
// RIS peers under Options.RISLive, else one per BIRD peer.
func (l *Lab) ViewPeers() int {
	if l.opts.RISLive > 0 {
		return l.opts.RISLive
	}
	return len(l.peers)
}

// KillSender kills the BMP-exporting router (by its pid): its BMP
// session with reachmon ends.
func (l *Lab) KillSender() {
	l.t.Helper()
	if l.Sender == nil {
		l.t.Fatal("outagelab: KillSender without Options.BMP")
	}
	l.Sender.Stop()
}

// files are the names of vantage v's configuration, log and state
// directory (the first vantage's keep the single-vantage names).
func (l *Lab) files(v *Vantage) (config, log, state string) {
	if v.index == 0 {
		return filepath.Join(l.Dir, "reachmon.toml"), filepath.Join(l.Dir, "reachmon.log"), filepath.Join(l.Dir, "state")
	}
	return filepath.Join(l.Dir, "reachmon-"+v.Name+".toml"), filepath.Join(l.Dir, "reachmon-"+v.Name+".log"),
		filepath.Join(l.Dir, "state-"+v.Name)
}

func (l *Lab) writeConfig(v *Vantage) string {
	cfg, _, state := l.files(v)
	var b strings.Builder
	fmt.Fprintf(&b, "vantage = %q\nlisten = %q\nstate_dir = %q\n[log]\nlevel = \"debug\"\n[probe]\n%s",
		v.Name, strings.TrimPrefix(v.URL, "http://"), state, l.opts.Probe)
	for j, a := range l.DNS.ResolverAddrs {
		fmt.Fprintf(&b, "[[resolver]]\nname = \"resolver%d\"\naddress = %q\n", j, a)
	}
	b.WriteString("[[zone]]\nname = \"test\"\nnames = [\"@\"]\ntypes = [\"SOA\"]\n")
	for _, z := range l.DNS.ZoneNames {
		fmt.Fprintf(&b, "[[zone]]\nname = %q\nnames = [\"www\"]\ntypes = [\"A\"]\n", strings.TrimSuffix(z, "."))
	}
	fmt.Fprintf(&b, "[evaluate]\n%s", l.opts.Evaluate)
	for _, w := range l.Watched {
		fmt.Fprintf(&b, "[[prefix]]\nprefix = %q\norigins = %s\ndescription = %q\n", w.Prefix, tomlInts(w.Origins), w.Description)
	}
	tokenFile := filepath.Join(l.Dir, "slack-token")
	if err := os.WriteFile(tokenFile, []byte(slackToken+"\n"), 0o600); err != nil {
		l.t.Fatal(err)
	}
	fmt.Fprintf(&b, "[slack]\ntoken_file = %q\napi_url = %q\nchannel = %q\nrate = 10\ntimeout = \"3s\"\nmax_backoff = \"2s\"\n",
		tokenFile, l.Slack.APIURL(), SlackChannel)
	if l.opts.BMP != "" {
		// The senders send no End-of-RIB per monitored peer that comes
		// up after their BMP session (FRR sends its markers at the start
		// of the session, gobgpd none): a view is synced once quiet for
		// initial_sync_timeout, as short here as for the embedded peer.
		fmt.Fprintf(&b, "[bgp]\ninitial_sync_timeout = \"6s\"\n[bmp]\nlisten = %q\n[[bmp.router]]\naddress = %q\nname = %q\ndescription = \"outagelab %s\"\n",
			BMPStation.String(), RouterAddr, RouterName, l.opts.BMP)
	} else if l.opts.RISLive > 0 {
		// The bridge's RIS peers announce what they carry at each
		// subscription; reconnects are quick, as to a local server.
		fmt.Fprintf(&b, "[ris_live]\nurl = %q\nclient = \"outagelab\"\nmin_peers = %d\nmin_backoff = \"200ms\"\nmax_backoff = \"2s\"\nping_interval = \"5s\"\n",
			l.RIS.URL(), RISMinPeers(l.opts.RISLive))
	} else {
		fmt.Fprintf(&b, "[bgp]\nasn = %d\nrouter_id = %q\ninitial_sync_timeout = \"6s\"\n", ReachmonASN, v.Addr)
	}
	for i := range l.peers {
		if l.opts.BMP != "" || l.opts.RISLive > 0 {
			break
		}
		fmt.Fprintf(&b, "[[bgp.neighbor]]\naddress = %q\npeer_asn = %d\nlocal_address = %q\nmultihop_ttl = 2\nconnect_retry = \"1s\"\ndescription = \"bird%d\"\n",
			PeerAddr(i), PeerASN(i), v.Addr, i)
	}
	if l.opts.ReachmonExtra != nil {
		b.WriteString(l.opts.ReachmonExtra(v.Name))
	}
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		l.t.Fatal(err)
	}
	return cfg
}

func tomlInts(v []uint32) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatUint(uint64(x), 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// startReachmon runs the built binary with vantage v's generated config,
// as a user runs it; it gets SIGTERM (then SIGKILL) when the test ends.
func (l *Lab) startReachmon(v *Vantage) {
	t := l.t
	if l.bin == "" {
		t.Fatal("outagelab: no reachmon binary (run through Enter)")
	}
	v.Config = l.writeConfig(v)
	_, v.Log, _ = l.files(v)
	out, err := os.Create(v.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(l.bin, "run", "--config", v.Config)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting reachmon: %v", err)
	}
	if v.index == 0 {
		l.started = time.Now()
	}
	done := make(chan error, 1)
	v.exited = make(chan struct{})
	go func() { err := cmd.Wait(); close(v.exited); done <- err }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil && !t.Failed() {
				t.Errorf("reachmon %s exited with %v", v.Name, err)
			}
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("reachmon %s did not stop within 20 s of SIGTERM", v.Name)
		}
		if t.Failed() {
			t.Logf("reachmon %s log (%s), last lines:\n%s", v.Name, v.Log, tailFile(v.Log, 150))
			t.Logf("slack calls:\n%s", l.SlackLog())
		}
	})
}

// startNFT creates the lab's nftables table: an input-hook chain dropping
// every packet to an address in the set "blocked". Deleted when the test
// ends.
func (l *Lab) startNFT() {
	script := fmt.Sprintf(`table inet %[1]s {
	set blocked { type ipv4_addr; }
	chain input { type filter hook input priority 0; policy accept; ip daddr @blocked drop; }
}
`, nftTable)
	if out, err := nftRun(script, "-f", "-"); err != nil {
		l.t.Fatalf("nft: %v: %s", err, out)
	}
	l.t.Cleanup(func() {
		if out, err := l.nft("delete", "table", "inet", nftTable); err != nil {
			l.t.Errorf("nft delete table: %v: %s", err, out)
		}
	})
}

func (l *Lab) nft(args ...string) (string, error) { return nftRun("", args...) }

// nftRun runs nft with stdin, bounded in time.
func nftRun(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nft", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Block makes addresses unreachable: every packet to them is dropped in
// the input hook, so queries time out.
func (l *Lab) Block(addrs ...netip.Addr) {
	l.t.Helper()
	l.nftSet("add", addrs)
	l.mu.Lock()
	l.blocked = append(l.blocked, addrs...)
	l.mu.Unlock()
}

// Unblock undoes Block.
func (l *Lab) Unblock(addrs ...netip.Addr) {
	l.t.Helper()
	l.nftSet("delete", addrs)
	l.mu.Lock()
	l.blocked = slices.DeleteFunc(l.blocked, func(a netip.Addr) bool { return slices.Contains(addrs, a) })
	l.mu.Unlock()
}

func (l *Lab) nftSet(op string, addrs []netip.Addr) {
	l.t.Helper()
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = a.String()
	}
	if out, err := l.nft(op, "element", "inet", nftTable, "blocked", "{ "+strings.Join(parts, ", ")+" }"); err != nil {
		l.t.Fatalf("nft %s element: %v: %s", op, err, out)
	}
}

// AllDNSAddrs is every DNS server of the lab: root, test., resolvers and
// every zone's nameservers.
func (l *Lab) AllDNSAddrs() []netip.Addr {
	out := []netip.Addr{l.Plan.Root(), l.Plan.TLD()}
	for j := range l.opts.Resolvers {
		out = append(out, l.Plan.Resolver(j))
	}
	for _, z := range l.DNS.ZoneNames {
		for _, ns := range l.DNS.Zones[z].NS {
			out = append(out, ns.Addr)
		}
	}
	return out
}

// NSAddrs are a zone's nameserver addresses.
func (l *Lab) NSAddrs(zone string) []netip.Addr {
	var out []netip.Addr
	for _, ns := range l.DNS.Zones[dnsName(zone)].NS {
		out = append(out, ns.Addr)
	}
	return out
}

// NSPrefixes are the /23 and both /24s holding a zone's nameservers.
func (l *Lab) NSPrefixes(zone string) []netip.Prefix {
	z := l.DNS.Zones[dnsName(zone)]
	return []netip.Prefix{z.Prefix, z.NS[0].Prefix, z.NS[1].Prefix}
}

func dnsName(z string) string { return strings.TrimSuffix(z, ".") + "." }

// Withdraw withdraws prefixes at every peer announcing them.
func (l *Lab) Withdraw(prefixes ...netip.Prefix) { l.t.Helper(); l.toggle("disable", prefixes, nil) }

// Announce (re-)announces prefixes at every peer configured with them.
func (l *Lab) Announce(prefixes ...netip.Prefix) { l.t.Helper(); l.toggle("enable", prefixes, nil) }

// AnnounceAt announces prefixes at one peer only.
func (l *Lab) AnnounceAt(peer int, prefixes ...netip.Prefix) {
	l.t.Helper()
	l.toggle("enable", prefixes, []int{peer})
}

// WithdrawAt withdraws prefixes at one peer only.
func (l *Lab) WithdrawAt(peer int, prefixes ...netip.Prefix) {
	l.t.Helper()
	l.toggle("disable", prefixes, []int{peer})
}

func (l *Lab) toggle(op string, prefixes []netip.Prefix, only []int) {
	l.t.Helper()
	for _, p := range prefixes {
		found := false
		for _, r := range l.Routes {
			if r.Prefix != p {
				continue
			}
			for i, b := range l.peers {
				if !r.on(i) || (only != nil && !slices.Contains(only, i)) {
					continue
				}
				found = true
				if out := b.Ctl(l.t, op, protoName(r)); strings.Contains(out, "syntax error") || strings.Contains(out, "not found") {
					l.t.Fatalf("birdc %s %s: %s", op, protoName(r), out)
				}
			}
		}
		if !found {
			l.t.Fatalf("outagelab: no peer announces %v", p)
		}
	}
}

// SessionDown cuts the BGP session of peer i with the first vantage, or
// with the router under Options.BMP, or with the RIS Live bridge under
// Options.RISLive (BIRD sends a Cease).
func (l *Lab) SessionDown(i int) { l.t.Helper(); l.peers[i].Ctl(l.t, "disable", "reachmon") }

// SessionUp brings it back.
func (l *Lab) SessionUp(i int) { l.t.Helper(); l.peers[i].Ctl(l.t, "enable", "reachmon") }

// Mark records a moment of the scenario (fault injected, recovery) and
// returns its time.
func (l *Lab) Mark(what string) time.Time {
	now := time.Now()
	l.mu.Lock()
	l.marks = append(l.marks, Mark{Time: now, What: what})
	l.mu.Unlock()
	l.t.Logf("outagelab: %s: %s", now.Format("15:04:05.000"), what)
	return now
}

// Get fetches a path of the first vantage's HTTP API (e.g.
// "/api/v1/peers"), failing the test on error.
func (l *Lab) Get(path string) []byte {
	l.t.Helper()
	b, err := l.get(l.Vantages[0].URL, path)
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

// get fetches a path of reachmon's HTTP API.
func (l *Lab) get(base, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// Incidents is reachmon's /api/v1/incidents (every recent one; the first
// vantage's).
func (l *Lab) Incidents() (incident.View, error) { return l.IncidentsAt(l.Vantages[0]) }

// IncidentsAt is vantage v's /api/v1/incidents.
func (l *Lab) IncidentsAt(v *Vantage) (incident.View, error) {
	var view incident.View
	b, err := l.get(v.URL, "/api/v1/incidents?limit=0")
	if err != nil {
		return view, err
	}
	return view, json.Unmarshal(b, &view)
}

// All returns the open and the resolved incidents (the first vantage's).
func (l *Lab) All() []incident.Entry { return l.AllAt(l.Vantages[0]) }

// AllAt returns vantage v's open and resolved incidents.
func (l *Lab) AllAt(v *Vantage) []incident.Entry {
	view, err := l.IncidentsAt(v)
	if err != nil {
		return nil
	}
	return append(view.Open, view.Recent...)
}

// Status is reachmon's /api/v1/status (the first vantage's).
func (l *Lab) Status() (*evaluate.Status, error) { return l.StatusAt(l.Vantages[0]) }

// StatusAt is vantage v's /api/v1/status.
func (l *Lab) StatusAt(v *Vantage) (*evaluate.Status, error) {
	var st evaluate.Status
	b, err := l.get(v.URL, "/api/v1/status")
	if err != nil {
		return nil, err
	}
	return &st, json.Unmarshal(b, &st)
}

// WaitFor polls cond every 100 ms until it holds or timeout passes (then
// the test fails with cond's last description).
func (l *Lab) WaitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out after %v waiting for %s; last:\n%s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitIncident waits for an incident of kind about subject (empty: any)
// matching pred (nil: any) and returns it.
func (l *Lab) WaitIncident(kind model.IncidentKind, subject string, timeout time.Duration, pred func(incident.Entry) bool) incident.Entry {
	l.t.Helper()
	var found incident.Entry
	l.WaitFor(fmt.Sprintf("a %s incident about %q", kind, subject), timeout, func() (bool, string) {
		all := l.All()
		for _, e := range all {
			if e.Kind == kind && (subject == "" || e.Subject == subject) && (pred == nil || pred(e)) {
				found = e
				return true, ""
			}
		}
		return false, describe(all)
	})
	return found
}

func describe(all []incident.Entry) string {
	var b strings.Builder
	for _, e := range all {
		fmt.Fprintf(&b, "%s %s %s %s %s paged=%v: %s\n", e.ID, e.State, e.Kind, e.Severity, e.Subject, e.Paged, e.RootCause)
	}
	if b.Len() == 0 {
		return "(no incidents)"
	}
	return b.String()
}

// waitHealthy waits until every vantage judges everything healthy with
// BGP verdicts live, and nothing was opened or paged meanwhile.
func (l *Lab) waitHealthy(timeout time.Duration) {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, v := range l.Vantages {
		l.waitHealthyAt(v, time.Until(deadline))
	}
	if n := len(l.Slack.Calls()); n > 0 {
		l.t.Fatalf("Slack got %d calls before any fault:\n%s", n, l.SlackLog())
	}
	for _, v := range l.Vantages {
		if all := l.AllAt(v); len(all) > 0 {
			l.t.Fatalf("incidents at %s before any fault:\n%s", v.Name, describe(all))
		}
	}
}

func (l *Lab) waitHealthyAt(v *Vantage, timeout time.Duration) {
	l.t.Helper()
	l.WaitFor("reachmon "+v.Name+" to see a healthy lab", timeout, func() (bool, string) {
		select {
		case <-v.exited:
			l.t.Fatalf("reachmon %s exited:\n%s", v.Name, tailFile(v.Log, 30))
		default:
		}
		st, err := l.StatusAt(v)
		if err != nil {
			return false, err.Error()
		}
		b, _ := json.MarshalIndent(st, "", " ")
		if !st.BGP.Usable || len(st.BGP.Peers) != l.ViewPeers() || len(st.Zones) != len(l.DNS.ZoneNames)+1 ||
			len(st.Resolvers) != l.opts.Resolvers || len(st.Open) > 0 {
			return false, string(b)
		}
		for _, p := range st.BGP.Peers {
			if p.State != "up" || !p.Synced {
				return false, string(b)
			}
		}
		for _, z := range st.Zones {
			if z.Health != evaluate.HealthOK {
				return false, string(b)
			}
		}
		for _, r := range st.Resolvers {
			if r.Health != evaluate.HealthOK {
				return false, string(b)
			}
		}
		for _, a := range st.Authoritative {
			if a.Health != evaluate.HealthOK {
				return false, string(b)
			}
		}
		for _, p := range st.Prefixes {
			if p.Health != "ok" {
				return false, string(b)
			}
		}
		return true, ""
	})
}

// Pages are the chat.postMessage calls that opened a thread (the pages).
func (l *Lab) Pages() []fakeslack.Call {
	var out []fakeslack.Call
	for _, c := range l.Slack.CallsOf("chat.postMessage") {
		if c.ThreadTS == "" && c.Fault == "" {
			out = append(out, c)
		}
	}
	return out
}

// Replies are the thread replies to the message ts.
func (l *Lab) Replies(ts string) []fakeslack.Call {
	var out []fakeslack.Call
	for _, c := range l.Slack.CallsOf("chat.postMessage") {
		if c.ThreadTS == ts {
			out = append(out, c)
		}
	}
	return out
}

// Updates are the chat.update calls editing the message ts.
func (l *Lab) Updates(ts string) []fakeslack.Call {
	var out []fakeslack.Call
	for _, c := range l.Slack.CallsOf("chat.update") {
		if c.TS == ts {
			out = append(out, c)
		}
	}
	return out
}

// SlackLog renders every Slack call, for failure messages and the demo.
func (l *Lab) SlackLog() string {
	var b strings.Builder
	for _, c := range l.Slack.Calls() {
		fmt.Fprintf(&b, "%s %s ts=%s thread=%s: %s\n", c.Time.Format("15:04:05.000"), c.Method, c.TS, c.ThreadTS, oneLine(c.Text))
	}
	return b.String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " | ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// Metrics returns reachmon's /metrics text (the first vantage's).
func (l *Lab) Metrics() string {
	b, err := l.get(l.Vantages[0].URL, "/metrics")
	if err != nil {
		l.t.Fatalf("metrics: %v", err)
	}
	return string(b)
}

// Metric returns the value of the first sample of name whose labels
// include every pair of labels ("k", "v", ...), and whether one exists.
func Metric(text, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(rest, labels[i]+"="+strconv.Quote(labels[i+1])) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err == nil {
			return v, true
		}
	}
	return 0, false
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
