package bgp

import (
	"net/netip"
	"testing"

	"github.com/reachmon/reachmon/internal/model"
)

// gobgpMatch emulates GoBGP's prefix-set match: only the entries at the
// longest set prefix containing p count.
func gobgpMatch(entries map[policyEntry]bool, p netip.Prefix) bool {
	best := -1
	for e := range entries {
		if e.prefix.Addr().Is4() == p.Addr().Is4() && e.prefix.Bits() <= p.Bits() && e.prefix.Contains(p.Addr()) && e.prefix.Bits() > best {
			best = e.prefix.Bits()
		}
	}
	for e := range entries {
		if e.prefix.Bits() == best && e.prefix.Contains(p.Addr()) && e.prefix.Addr().Is4() == p.Addr().Is4() && e.min <= p.Bits() && p.Bits() <= e.max {
			return true
		}
	}
	return false
}

func TestWatchEntriesAgreeWithFilter(t *testing.T) {
	ws := compileWatch(1, Watch{
		Prefixes:  []model.WatchedPrefix{{Prefix: netip.MustParsePrefix("129.134.0.0/17")}, {Prefix: netip.MustParsePrefix("2001:db8::/32")}},
		Resolvers: map[string]netip.Addr{"one": netip.MustParseAddr("1.1.1.1")},
	}, map[string][]netip.Addr{"facebook.com.": {netip.MustParseAddr("129.134.30.12")}, "v6.example.": {netip.MustParseAddr("2001:db8:1::53")}})
	entries := ws.entries()
	for _, tc := range []struct {
		prefix string
		want   bool
	}{
		{"129.134.0.0/17", true},
		{"129.134.30.0/24", true},   // covers the nameserver
		{"129.134.30.0/25", true},   // more-specific of the /17 and covers the NS
		{"129.134.30.128/25", true}, // more-specific of the /17 only: GoBGP's longest match must still accept it
		{"129.134.64.0/18", true},
		{"129.134.0.0/16", true}, // covers the nameserver
		{"129.135.0.0/16", false},
		{"128.0.0.0/1", true},
		{"0.0.0.0/0", false},
		{"1.1.1.0/24", true},
		{"1.1.1.128/25", false},
		{"1.1.0.0/16", true},
		{"1.0.0.0/24", false},
		{"2001:db8::/32", true},
		{"2001:db8:1::/48", true},
		{"2001:db8:ffff::/48", true},
		{"2001:db8::/31", true}, // covers 2001:db8:1::53
		{"2001:db9::/32", false},
		{"2001:db8:1::53/128", true},
		{"2001::/16", true},
	} {
		p := netip.MustParsePrefix(tc.prefix)
		if got := ws.watched(p); got != tc.want {
			t.Errorf("watched(%s) = %v, want %v", p, got, tc.want)
		}
		if got := gobgpMatch(entries, p); got != tc.want {
			t.Errorf("GoBGP policy match(%s) = %v, want %v", p, got, tc.want)
		}
	}
}
