package cli

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/api"
	"github.com/reachmon/reachmon/internal/bgp"
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
