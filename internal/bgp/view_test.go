package bgp

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/reachmon/reachmon/internal/config"
)

// TestViews checks the peers and routes documents of a feed with one
// speaker. internal/cli/testdata/{peers,routes}.json are these documents,
// rendered there as tables.
func TestViews(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	sp.announce("129.134.0.0/17", 32934)
	sp.announce("129.134.30.0/24", 32934)
	tf := startFeed(t, watchPrefixes(wp("129.134.0.0/17", 32934)), []*speaker{sp})
	if err := tf.SetNameserverAddrs("facebook.com.", []netip.Addr{netip.MustParseAddr("129.134.30.12")}); err != nil {
		t.Fatal(err)
	}
	upAndSynced(t, tf, sp)
	eventually(t, evTimeout, "routes", func() bool { v, _ := tf.Routes(""); return len(v.Routes) == 2 })

	pv := tf.PeersView()
	if pv.Schema != PeersSchema || !pv.Enabled || len(pv.Peers) != 1 || pv.Peers[0].State != "up" || pv.Peers[0].Routes != 2 {
		t.Fatalf("PeersView = %+v", pv)
	}
	rv, err := tf.RoutesView("129.134.30.12")
	if err != nil || rv.Schema != RoutesSchema || !rv.Enabled || rv.Query != "129.134.30.12" || len(rv.Addresses) != 1 ||
		rv.Addresses[0].Current.Prefix != netip.MustParsePrefix("129.134.30.0/24") || len(rv.Routes) != 2 {
		t.Fatalf("RoutesView = %+v, %v", rv, err)
	}
	if _, err := tf.RoutesView("not-a-prefix"); err == nil || !strings.Contains(err.Error(), `"not-a-prefix" is neither a prefix nor an address`) {
		t.Errorf("bad query err = %v", err)
	}
}

func TestViewsDisabled(t *testing.T) {
	f, err := New(config.BGP{}, Watch{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pv := f.PeersView()
	rv, err := f.RoutesView("")
	if pv.Schema != PeersSchema || pv.Enabled || err != nil || rv.Schema != RoutesSchema || rv.Enabled || len(rv.Routes) != 0 {
		t.Errorf("disabled feed: peers %+v, routes %+v, %v", pv, rv, err)
	}
}
