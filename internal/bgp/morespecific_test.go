package bgp

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// A flood of more-specifics of one configured prefix: the feed tracks up
// to Options.MaxMoreSpecifics of them, drops and counts the rest, always
// tracks a route covering a watched address, and takes a new one once a
// tracked one is withdrawn.
func TestFeedMoreSpecificsBounded(t *testing.T) {
	sp := newSpeaker(t, "127.0.0.2", 65001)
	w := watchPrefixes(wp("198.18.0.0/16", 64500))
	w.Resolvers = map[string]netip.Addr{"r0": netip.MustParseAddr("198.18.200.53")}
	tf := startFeed(t, w, []*speaker{sp}, func(_ *config.BGP, o *Options) { o.MaxMoreSpecifics = 4 })
	n := upAndSynced(t, tf, sp)
	if got := tf.gauge(t, "reachmon_bgp_more_specifics_overflow_total", "prefix", "198.18.0.0/16"); got != 0 {
		t.Fatalf("overflow counter before any flood = %v, want a 0 series", got)
	}
	for i := range 6 {
		sp.announce(fmt.Sprintf("198.18.%d.0/24", i), 64666)
	}
	eventually(t, evTimeout, "2 more-specifics dropped", func() bool {
		return tf.gauge(t, "reachmon_bgp_more_specifics_overflow_total", "prefix", "198.18.0.0/16") == 2
	})
	moreSpecifics := func() map[netip.Prefix]bool {
		out := map[netip.Prefix]bool{}
		for _, e := range tf.ev.all()[n:] {
			if r, ok := e.(model.RouteEvent); ok && r.Kind == model.RouteMoreSpecific {
				out[r.Prefix] = true
			}
		}
		return out
	}
	if got := moreSpecifics(); len(got) != 4 {
		t.Fatalf("more-specific events for %v, want 4", got)
	}
	v, _ := tf.Routes("198.18.0.0/16")
	if len(v.Routes) != 4 {
		t.Fatalf("Routes() holds %d more-specifics, want 4: %+v", len(v.Routes), v.Routes)
	}
	// The route covering the resolver's address is tracked even now.
	sp.announce("198.18.200.0/24", 64500)
	tf.ev.wait(t, n, evTimeout, "the resolver's covering route", isRoute(model.RouteMoreSpecific, "198.18.200.0/24"))
	// Withdraw a tracked one of the flood (not the resolver's covering
	// route, which takes no place): a new more-specific takes its place.
	var gone netip.Prefix
	for p := range moreSpecifics() {
		if p != netip.MustParsePrefix("198.18.200.0/24") && (!gone.IsValid() || p.Addr().Less(gone.Addr())) {
			gone = p
		}
	}
	sp.withdraw(gone.String())
	tf.ev.wait(t, n, evTimeout, "withdrawal of "+gone.String(), isRoute(model.RouteWithdraw, gone.String()))
	sp.announce("198.18.100.0/24", 64666)
	tf.ev.wait(t, n, evTimeout, "a new more-specific in the freed place", isRoute(model.RouteMoreSpecific, "198.18.100.0/24"))
	if got := tf.gauge(t, "reachmon_bgp_more_specifics_overflow_total", "prefix", "198.18.0.0/16"); got != 2 {
		t.Errorf("overflow = %v after a place was freed, want still 2", got)
	}
	// One more is over the bound again.
	sp.announce("198.18.101.0/24", 64666)
	eventually(t, evTimeout, "the third drop", func() bool {
		return tf.gauge(t, "reachmon_bgp_more_specifics_overflow_total", "prefix", "198.18.0.0/16") == 3
	})
}
