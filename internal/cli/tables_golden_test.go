package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/bgp"
	"github.com/reachmon/reachmon/internal/evaluate"
)

// TestTablesGolden renders the status, peers and routes tables of the
// testdata documents and compares them byte for byte with
// testdata/tables.golden, which the renderers gave before they moved here
// from evaluate and bgp: `reachmon status` and `reachmon bgp` print what
// they printed.
func TestTablesGolden(t *testing.T) {
	st := readDoc[evaluate.Status](t, "status.json")
	// A second status where every section has a row that is not ok.
	bad := st
	bad.VantageDown = true
	bad.BGP.Usable, bad.BGP.Reason = false, "no session up"
	bad.BGP.Peers = append([]evaluate.PeerStatus{}, st.BGP.Peers...)
	bad.BGP.Peers[1].Synced = false
	bad.Resolvers = append([]evaluate.ResolverStatus{}, st.Resolvers...)
	bad.Resolvers[0].Health = evaluate.HealthDegraded
	bad.Resolvers[0].Route, bad.Resolvers[0].RouteWithdrawn = st.Authoritative[0].Route, true
	bad.Prefixes = append([]evaluate.PrefixStatus{}, st.Prefixes...)
	bad.Prefixes[1].Health = "hijacked"
	var b bytes.Buffer
	for _, s := range []*evaluate.Status{&st, &bad} {
		WriteStatusTable(&b, s, false)
		WriteStatusTable(&b, s, true)
	}
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	if err := WritePeers(&b, readDoc[bgp.PeersView](t, "peers.json"), now); err != nil {
		t.Fatal(err)
	}
	if err := WriteRoutes(&b, readDoc[bgp.RoutesView](t, "routes.json"), now); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "tables.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("tables differ from testdata/tables.golden:\n%s", b.String())
	}
}
