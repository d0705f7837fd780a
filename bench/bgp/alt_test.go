package benchbgp

// Alternative receivers, for comparison only (they are not reachmon): the
// test binary re-runs itself as the receiver process (TestAltReceiver),
// so that each is measured the same way as gobgpd and reachmon, in a
// process of its own.
//
//   - embedded-policy: GoBGP v3.37.0 as a library with reachmon's import
//     policy (the same 10,000 prefix-set entries, default reject, export
//     default reject) and no table watch: what an embedded GoBGP with a
//     global import policy costs at least.
//   - parse-filter: no GoBGP RIB at all: a minimal BGP session that parses
//     each UPDATE with GoBGP's packet package and keeps only the watched
//     routes (origin and AS path), i.e. an Adj-RIB-In-less design that
//     answers a route refresh instead of a soft reset from Adj-RIB-In.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/reachmon/reachmon/bench/benchutil"
)

const altEnv = "BENCH_BGP_ALT" // kind:port:dir

// altReceiver runs this test binary as the receiver process.
type altReceiver struct {
	p    *benchutil.Daemon
	port int
	dir  string
}

func startAlt(tb testing.TB, dir, kind string, t *table) *altReceiver {
	tb.Helper()
	var b strings.Builder
	for _, w := range t.Watched {
		fmt.Fprintln(&b, w.Prefix.String())
	}
	if err := os.WriteFile(filepath.Join(dir, "watched.txt"), []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	a := &altReceiver{port: benchutil.FreePort(tb), dir: dir}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	p, err := startProc(dir, kind, []string{fmt.Sprintf("%s=%s:%d:%s", altEnv, kind, a.port, dir)},
		exe, "-test.run", "^TestAltReceiver$", "-test.v", "-test.timeout", "20m")
	if err != nil {
		tb.Fatal(err)
	}
	a.p = p
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			return a
		}
		if err := p.Exited(); err != nil || time.Now().After(deadline) {
			_ = p.Stop()
			tb.Fatalf("%s not ready (%v); log %s", kind, err, p.LogPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a *altReceiver) proc() *benchutil.Daemon { return a.p }
func (a *altReceiver) bgpAddr() string         { return fmt.Sprintf("127.0.0.1:%d", a.port) }
func (a *altReceiver) synced() (yes, ok bool) {
	_, err := os.Stat(filepath.Join(a.dir, "eor"))
	return err == nil, true
}

func (a *altReceiver) verify(t *table) (string, error) {
	b, err := os.ReadFile(filepath.Join(a.dir, "eor"))
	if err != nil {
		return "", err
	}
	var rcv, kept int
	if _, err := fmt.Sscan(string(b), &rcv, &kept); err != nil {
		return "", fmt.Errorf("eor file: %v", err)
	}
	msg := fmt.Sprintf("%s: received %d, kept %d watched (expected %d of %d)", a.p.Name, rcv, kept, t.Imported, t.Routes())
	if rcv != t.Routes() || kept != t.Imported {
		return msg, fmt.Errorf("%s", msg)
	}
	return msg, nil
}

// TestAltReceiver is the receiver process; it runs only under altEnv.
func TestAltReceiver(t *testing.T) {
	spec := os.Getenv(altEnv)
	if spec == "" {
		t.Skip("run by BenchmarkIngest only")
	}
	f := strings.SplitN(spec, ":", 3)
	port, _ := strconv.Atoi(f[1])
	dir := f[2]
	var watched []netip.Prefix
	wf, err := os.Open(filepath.Join(dir, "watched.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(wf)
	for sc.Scan() {
		watched = append(watched, netip.MustParsePrefix(sc.Text()))
	}
	wf.Close()
	switch f[0] {
	case "embedded-policy", "embedded-postwatch", "embedded-adjinwatch", "embedded-bestwatch":
		runEmbedded(t, f[0], port, dir, watched)
	case "parse-filter":
		runParseFilter(t, port, dir, watched)
	default:
		t.Fatalf("unknown receiver %q", f[0])
	}
}

func writeEOR(t *testing.T, dir string, rcv, kept int) {
	tmp := filepath.Join(dir, "eor.tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", rcv, kept), 0o644); err != nil {
		t.Error(err)
	}
	_ = os.Rename(tmp, filepath.Join(dir, "eor"))
}

func runEmbedded(t *testing.T, kind string, port int, dir string, watched []netip.Prefix) {
	ctx := context.Background()
	s := server.NewBgpServer()
	go s.Serve()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: receiverAS, RouterId: "127.0.0.1", ListenPort: int32(port), ListenAddresses: []string{"127.0.0.1"}}}))
	var l4, l6 []*api.Prefix
	for _, p := range watched {
		e := &api.Prefix{IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: uint32(p.Addr().BitLen())}
		if p.Addr().Is4() {
			l4 = append(l4, e)
		} else {
			l6 = append(l6, e)
		}
	}
	var stmts []*api.Statement
	for name, l := range map[string][]*api.Prefix{"w4": l4, "w6": l6} {
		must(s.AddDefinedSet(ctx, &api.AddDefinedSetRequest{DefinedSet: &api.DefinedSet{DefinedType: api.DefinedType_PREFIX, Name: name, Prefixes: l}}))
		stmts = append(stmts, &api.Statement{Name: name, Conditions: &api.Conditions{PrefixSet: &api.MatchSet{Type: api.MatchSet_ANY, Name: name}},
			Actions: &api.Actions{RouteAction: api.RouteAction_ACCEPT}})
	}
	must(s.AddPolicy(ctx, &api.AddPolicyRequest{Policy: &api.Policy{Name: "import", Statements: stmts}}))
	must(s.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{Name: "global", Direction: api.PolicyDirection_IMPORT,
		Policies: []*api.Policy{{Name: "import"}}, DefaultAction: api.RouteAction_REJECT}}))
	must(s.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{Name: "global", Direction: api.PolicyDirection_EXPORT,
		DefaultAction: api.RouteAction_REJECT}}))
	// End-of-RIB only: this watch costs nothing per route.
	eors := make(chan struct{}, 4)
	must(s.WatchEvent(ctx, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_EOR}}}},
		func(r *api.WatchEventResponse) { eors <- struct{}{} }))
	// The watch variants add one table watch whose callback only counts
	// paths: what the watch itself costs (reachmon's feed uses
	// POST_POLICY).
	filter := map[string]api.WatchEventRequest_Table_Filter_Type{
		"embedded-postwatch":  api.WatchEventRequest_Table_Filter_POST_POLICY,
		"embedded-adjinwatch": api.WatchEventRequest_Table_Filter_ADJIN,
		"embedded-bestwatch":  api.WatchEventRequest_Table_Filter_BEST,
	}
	var seen atomic.Int64
	if ft, ok := filter[kind]; ok {
		must(s.WatchEvent(ctx, &api.WatchEventRequest{Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{{Type: ft}}}},
			func(r *api.WatchEventResponse) { seen.Add(int64(len(r.GetTable().GetPaths()))) }))
	}
	fam := func(afi api.Family_Afi) *api.AfiSafi {
		return &api.AfiSafi{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}
	}
	must(s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{Conf: &api.PeerConf{NeighborAddress: senderAddr, PeerAsn: senderAS},
		Transport: &api.Transport{PassiveMode: true}, AfiSafis: []*api.AfiSafi{fam(api.Family_AFI_IP), fam(api.Family_AFI_IP6)}}}))
	must(os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644))
	<-eors
	<-eors
	// After the ingest: count what arrived (walks the tables; fine now).
	var rcv, kept int
	must(s.ListPeer(ctx, &api.ListPeerRequest{Address: senderAddr, EnableAdvertised: false}, func(p *api.Peer) {
		for _, a := range p.AfiSafis {
			rcv += int(a.GetState().GetReceived())
		}
	}))
	for _, f := range []api.Family_Afi{api.Family_AFI_IP, api.Family_AFI_IP6} {
		must(s.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: &api.Family{Afi: f, Safi: api.Family_SAFI_UNICAST}},
			func(d *api.Destination) { kept += len(d.Paths) }))
	}
	writeEOR(t, dir, rcv, kept)
	go func() {
		for {
			time.Sleep(5 * time.Second)
			fmt.Fprintf(os.Stderr, "watch callback saw %d paths\n", seen.Load())
		}
	}()
	select {} // until killed
}

type keptRoute struct {
	origin uint32
	path   []uint32
}

func runParseFilter(t *testing.T, port int, dir string, watched []netip.Prefix) {
	set := map[netip.Prefix]bool{}
	lens := map[bool][]int{}
	seenLen := map[bool]map[int]bool{false: {}, true: {}}
	for _, p := range watched {
		set[p] = true
		if !seenLen[p.Addr().Is6()][p.Bits()] {
			seenLen[p.Addr().Is6()][p.Bits()] = true
			lens[p.Addr().Is6()] = append(lens[p.Addr().Is6()], p.Bits())
		}
	}
	isWatched := func(p netip.Prefix) bool {
		for _, l := range lens[p.Addr().Is6()] {
			if l <= p.Bits() {
				if q, _ := p.Addr().Prefix(l); set[q] {
					return true
				}
			}
		}
		return false
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s, err := openSession(c, receiverAS, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	rib := map[netip.Prefix]keptRoute{}
	rcv, eor := 0, 0
	opt := &bgp.MarshallingOption{}
	r := bufio.NewReaderSize(c, 1<<16)
	hdr := make([]byte, 19)
	buf := make([]byte, 4096)
	for eor < 2 {
		if _, err := readFull(r, hdr); err != nil {
			t.Fatal(err)
		}
		n := int(hdr[16])<<8 | int(hdr[17])
		if n < 19 || n > 4096 {
			t.Fatalf("bad length %d", n)
		}
		if _, err := readFull(r, buf[:n-19]); err != nil {
			t.Fatal(err)
		}
		if hdr[18] != bgp.BGP_MSG_UPDATE {
			continue
		}
		body := &bgp.BGPUpdate{}
		if err := body.DecodeFromBytes(buf[:n-19], opt); err != nil {
			t.Fatal(err)
		}
		var origin uint32
		var path []uint32
		var nlri []bgp.AddrPrefixInterface
		for _, n := range body.NLRI {
			nlri = append(nlri, n)
		}
		for _, a := range body.PathAttributes {
			switch a := a.(type) {
			case *bgp.PathAttributeAsPath:
				for _, seg := range a.Value {
					path = append(path, seg.GetAS()...)
				}
				if len(path) > 0 {
					origin = path[len(path)-1]
				}
			case *bgp.PathAttributeMpReachNLRI:
				nlri = append(nlri, a.Value...)
			case *bgp.PathAttributeMpUnreachNLRI:
				if len(a.Value) == 0 {
					eor++
				}
			}
		}
		if len(body.NLRI) == 0 && len(body.PathAttributes) == 0 && len(body.WithdrawnRoutes) == 0 {
			eor++
		}
		for _, x := range nlri {
			rcv++
			var p netip.Prefix
			switch x := x.(type) {
			case *bgp.IPAddrPrefix:
				a, _ := netip.AddrFromSlice(x.Prefix.To4())
				p = netip.PrefixFrom(a, int(x.Length))
			case *bgp.IPv6AddrPrefix:
				a, _ := netip.AddrFromSlice(x.Prefix.To16())
				p = netip.PrefixFrom(a, int(x.Length))
			}
			if isWatched(p) {
				rib[p] = keptRoute{origin, append([]uint32(nil), path...)}
			}
		}
	}
	writeEOR(t, dir, rcv, len(rib))
	_ = s
	select {}
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
