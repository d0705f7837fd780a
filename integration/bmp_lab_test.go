package integration

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/integration/bgplab"
	"github.com/reachmon/reachmon/integration/bmplab"
	"github.com/reachmon/reachmon/integration/lab"
)

// BMP lab addresses, on the namespace's loopback: the station (reachmon
// or bmplab.Counter), the BIRD peers, the router exporting BMP.
var (
	bmpStation = netip.MustParseAddrPort("198.18.253.1:11019")
	bmpPeer1   = netip.MustParseAddr("198.18.251.1")
	bmpPeer2   = netip.MustParseAddr("198.18.251.2")
	bmpRouter  = netip.MustParseAddr("198.18.252.1")
)

// bmpLabRouter is the lab's router: two BIRD peers announcing the
// nameserver /24, its IPv6 /48 and the covering /17, all from AS32934.
func bmpLabRouter(name string) bmplab.Router {
	routes := []bmplab.Route{
		{Prefix: netip.MustParsePrefix("198.18.30.0/24"), Origin: 32934},
		{Prefix: netip.MustParsePrefix("198.18.0.0/17"), Origin: 32934},
		{Prefix: netip.MustParsePrefix("2001:db8:30::/48"), Origin: 32934},
	}
	return bmplab.Router{
		Name: name, Addr: bmpRouter, ASN: 65100, Station: bmpStation,
		Peers: []bmplab.Peer{
			{Addr: bmpPeer1, ASN: 65010, Routes: routes},
			{Addr: bmpPeer2, ASN: 65020, Routes: routes},
		},
	}
}

// inBMPNamespace runs the test named run inside a fresh network namespace
// holding the BMP lab's addresses (the test binary re-runs itself there),
// and reports whether the caller is already inside (then it runs the lab).
func inBMPNamespace(t *testing.T, run string) bool {
	t.Helper()
	if os.Getenv("REACHMON_BMPLAB_NS") != "" {
		return true
	}
	lab.Require(t, "bird", "birdc")
	if _, err := lab.BinPath("gobgpd"); err != nil {
		lab.Missing(t, "gobgpd not installed (apt-get install -y gobgpd)")
	}
	if _, err := os.Stat(bmplab.FRRBgpd); err != nil {
		lab.Missing(t, "%s not installed (apt-get install -y frr)", bmplab.FRRBgpd)
	}
	ns := bgplab.Namespace(t, bmpStation.Addr().String()+"/32", bmpPeer1.String()+"/32", bmpPeer2.String()+"/32", bmpRouter.String()+"/32")
	bmplab.StationRoute(t, ns, bmpStation.Addr(), bmpRouter)
	t.Cleanup(func() { killNamespacePids(t, ns) })
	cmd := bgplab.Command(ns, os.Args[0], "-test.run=^"+run+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "REACHMON_BMPLAB_NS="+ns)
	out, err := cmd.CombinedOutput()
	t.Logf("inside namespace %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("lab test failed inside the namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+run) {
		t.Fatal("inner test did not pass")
	}
	return false
}

// TestBMPLabSenders proves the BMP lab without reachmon's station: gobgpd
// (Debian 3.10) and FRR's bgpd with its BMP module, each fed by two BIRD
// peers, connect to a counting BMP listener and send Initiation, a Peer
// Up per BIRD peer and Route Monitoring, over one connection from the
// router's address (StationRoute); a withdrawal at BIRD sends more
// Route Monitoring; killing the sender (by pid) closes the BMP session.
func TestBMPLabSenders(t *testing.T) {
	if !inBMPNamespace(t, "TestBMPLabSenders") {
		return
	}
	ns := os.Getenv("REACHMON_BMPLAB_NS")
	for _, kind := range []string{"gobgpd", "frr"} {
		t.Run(kind, func(t *testing.T) {
			r := bmpLabRouter("edge-" + kind)
			c := bmplab.Listen(t, bmpStation.String())
			birds := bmplab.StartPeers(t, ns, r)
			var s *bmplab.Sender
			if kind == "gobgpd" {
				s = bmplab.StartGoBGPD(t, ns, r)
			} else {
				s = bmplab.StartFRR(t, ns, r)
			}
			c.WaitFor(t, "Initiation, two Peer Up and routes of both peers", 60*time.Second, func(c *bmplab.Counter) bool {
				return c.Count(bmplab.Initiation) >= 1 && c.Count(bmplab.PeerUp) >= 2 && c.Count(bmplab.RouteMonitoring) >= 2
			})
			t.Logf("%s after sync: %s\n%s", kind, c, s.Show(t))
			if from := c.From(); len(from) != 1 || from[0] != bmpRouter {
				t.Errorf("BMP connections from %v, want one from the router %v", from, bmpRouter)
			}
			before := c.Count(bmplab.RouteMonitoring)
			birds[0].Ctl(t, "disable", bmplab.Route{Prefix: netip.MustParsePrefix("198.18.30.0/24")}.Proto())
			c.WaitFor(t, "Route Monitoring of the withdrawal", 30*time.Second, func(c *bmplab.Counter) bool {
				return c.Count(bmplab.RouteMonitoring) > before
			})
			pid := s.Pid()
			s.Stop()
			c.WaitFor(t, fmt.Sprintf("the BMP session to close after killing pid %d", pid), 15*time.Second, func(c *bmplab.Counter) bool {
				_, open := c.Conns()
				return open == 0
			})
			t.Logf("%s final: %s", kind, c)
		})
	}
}
