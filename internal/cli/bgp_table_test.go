package cli

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/model"
)

// readDoc reads an API document from testdata. peers.json and routes.json
// are what the BGP feed's views gave in internal/bgp's TestViews (one
// speaker announcing 129.134.0.0/17 and 129.134.30.0/24, a nameserver of
// facebook.com. at 129.134.30.12); status.json is evaluate's
// TestStatusPublish document.
func readDoc[T any](t *testing.T, name string) T {
	t.Helper()
	var v T
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestBGPCommands runs `reachmon bgp peers` and `reachmon bgp routes ADDR`
// against the API serving the feed's documents.
func TestBGPCommands(t *testing.T) {
	pv := readDoc[bgp.PeersView](t, "peers.json")
	rv := readDoc[bgp.RoutesView](t, "routes.json")
	var asked string
	srv := httptest.NewServer(api.Handler(api.Sources{
		Peers:  func() bgp.PeersView { return pv },
		Routes: func(q string) (bgp.RoutesView, error) { asked = q; return rv, nil },
	}))
	defer srv.Close()

	code, out, errOut := runMain("bgp", "routes", "129.134.30.12", "--url", srv.URL)
	if code != ExitOK || asked != "129.134.30.12" {
		t.Fatalf("bgp routes: exit %d, query %q: %s", code, asked, errOut)
	}
	for _, want := range []string{"129.134.30.12", "nameserver facebook.com.", "129.134.30.0/24", "32934", "inside 129.134.0.0/17", "65001 32934"} {
		if !strings.Contains(out, want) {
			t.Errorf("routes table lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runMain("bgp", "peers", "--url", srv.URL)
	if code != ExitOK || !strings.Contains(out, "127.0.0.2") || !strings.Contains(out, "up") {
		t.Errorf("bgp peers: exit %d\n%s%s", code, out, errOut)
	}
}

func TestCLIDisabled(t *testing.T) {
	var b bytes.Buffer
	_ = WritePeers(&b, bgp.PeersView{}, time.Now())
	if !strings.Contains(b.String(), "disabled") {
		t.Errorf("got %q", b.String())
	}
}

// TestWritePeersFeeds: a router's BMP session is listed with what its
// Initiation and Termination said, and a BMP view by its label.
func TestWritePeersFeeds(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	v := bgp.PeersView{Enabled: true,
		Feeds: []model.BGPFeed{{Feed: "bmp router edge1", Source: model.SourceBMP, Address: netip.MustParseAddr("192.0.2.10"),
			State: "down", Since: now.Add(-time.Minute), SysName: "edge1.lab", SysDescr: "FRRouting 10.2",
			Termination: "session administratively closed", Reason: "terminated by the router"}},
		Peers: []model.BGPPeer{{Peer: "bmp edge1 192.0.2.1", PeerASN: 64500, State: "down", Source: model.SourceBMP,
			Label: "router edge1, peer 192.0.2.1 (AS64500)", Feed: "bmp router edge1", Reason: "bmp_session_lost"}},
	}
	var b bytes.Buffer
	if err := WritePeers(&b, v, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"FEED", "bmp router edge1", "192.0.2.10", "edge1.lab", "FRRouting 10.2",
		"session administratively closed", "1m0s ago", "router edge1, peer 192.0.2.1 (AS64500)", "bmp_session_lost"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// TestWritePeersSessions: a full_table neighbor's own session is listed
// with its FSM state, uptime and received prefix counts.
func TestWritePeersSessions(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	v := bgp.PeersView{Enabled: true, Peers: []model.BGPPeer{
		{Peer: "192.0.2.1", PeerASN: 64500, State: "up", Synced: true, Since: now.Add(-time.Hour), Routes: 4, Source: model.SourceBGP,
			Session: &model.BGPSession{Mode: "full_table", State: "established", UptimeSeconds: 3600, HoldTimeSeconds: 90, RouteRefresh: true,
				ReceivedPrefixes: map[string]int{"ipv4-unicast": 987654, "ipv6-unicast": 201234}}},
		{Peer: "192.0.2.2", PeerASN: 64501, State: "down", Source: model.SourceBGP},
	}}
	var b bytes.Buffer
	if err := WritePeers(&b, v, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"BGP STATE", "full_table", "established", "1h0m0s", "987654", "201234", "1m30s"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Count(out, "192.0.2.2") != 1 {
		t.Errorf("an embedded neighbor is listed among the sessions:\n%s", out)
	}
}
