package bgp

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

func TestHTTPAndCLI(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	sp.announce("129.134.0.0/17", 32934)
	sp.announce("129.134.30.0/24", 32934)
	tf := startFeed(t, watchPrefixes(wp("129.134.0.0/17", 32934)), []*speaker{sp})
	if err := tf.SetNameserverAddrs("facebook.com.", []netip.Addr{netip.MustParseAddr("129.134.30.12")}); err != nil {
		t.Fatal(err)
	}
	upAndSynced(t, tf, sp)
	eventually(t, evTimeout, "routes", func() bool { v, _ := tf.Routes(""); return len(v.Routes) == 2 })

	srv := httptest.NewServer(tf.Handler())
	defer srv.Close()
	ctx := context.Background()

	pv, err := FetchPeers(ctx, nil, srv.URL)
	if err != nil || !pv.Enabled || len(pv.Peers) != 1 || pv.Peers[0].State != "up" || pv.Peers[0].Routes != 2 {
		t.Fatalf("FetchPeers = %+v, %v", pv, err)
	}
	rv, err := FetchRoutes(ctx, nil, srv.URL, "129.134.30.12")
	if err != nil || len(rv.Addresses) != 1 || rv.Addresses[0].Current.Prefix != netip.MustParsePrefix("129.134.30.0/24") || len(rv.Routes) != 2 {
		t.Fatalf("FetchRoutes = %+v, %v", rv, err)
	}
	if _, err := FetchRoutes(ctx, nil, srv.URL, "not-a-prefix"); err == nil || !strings.Contains(err.Error(), `"not-a-prefix" is neither a prefix nor an address`) {
		t.Errorf("bad query err = %v", err)
	}

	var b bytes.Buffer
	if err := WriteRoutes(&b, rv, time.Now()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"129.134.30.12", "nameserver facebook.com.", "129.134.30.0/24", "32934", "inside 129.134.0.0/17", "65001 32934"} {
		if !strings.Contains(out, want) {
			t.Errorf("routes table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := WritePeers(&b, pv, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "127.0.0.2") || !strings.Contains(b.String(), "up") {
		t.Errorf("peers table:\n%s", b.String())
	}
	var _ model.BGPPeer
}

func TestCLIDisabled(t *testing.T) {
	var b bytes.Buffer
	_ = WritePeers(&b, PeersView{}, time.Now())
	if !strings.Contains(b.String(), "disabled") {
		t.Errorf("got %q", b.String())
	}
}
