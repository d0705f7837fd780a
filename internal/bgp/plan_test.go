package bgp

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/reachmon/reachmon/internal/config"
)

// The static watch list is the plan's: its prefixes, its resolvers'
// addresses (a DoH URL has none) and its zones' configured servers under
// the zone's FQDN.
func TestWatchFromPlan(t *testing.T) {
	plan, err := config.Parse("t.toml", []byte(`
[[resolver]]
name = "plain"
address = "::ffff:192.0.2.53"
[[resolver]]
name = "web"
address = "https://192.0.2.80/dns-query"
transport = "doh"
[[zone]]
name = "Lab.Example"
authoritative = ["192.0.2.1", "[2001:db8::1]:5353"]
[[zone]]
name = "discovered.example"
[[prefix]]
prefix = "192.0.2.0/24"
origins = [64500]
`))
	if err != nil {
		t.Fatal(err)
	}
	w := WatchFromPlan(plan)
	want := Watch{
		Prefixes:  plan.Prefixes,
		Resolvers: map[string]netip.Addr{"plain": netip.MustParseAddr("192.0.2.53")},
		Nameservers: map[string][]netip.Addr{
			"lab.example.": {netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")},
		},
	}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("WatchFromPlan\n got %+v\nwant %+v", w, want)
	}
}
