package evaluate

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/reachmon/reachmon/internal/config"
)

// The evaluator's targets are the plan's values: zone FQDN, query names,
// expected answers and servers; resolver addresses (none for DoH); the
// watched prefixes; the configured peers.
func TestTargetsFromPlan(t *testing.T) {
	plan, err := config.Parse("t.toml", []byte(`
vantage = "fra1"
[[resolver]]
name = "plain"
address = "::ffff:192.0.2.53"
validating = false
[[resolver]]
name = "web"
address = "https://192.0.2.80/dns-query"
transport = "doh"
[[zone]]
name = "Lab.Example"
names = ["@", "www"]
expect = ["192.0.2.10"]
authoritative = ["192.0.2.1"]
[[prefix]]
prefix = "192.0.2.0/24"
[bgp]
asn = 64512
router_id = "192.0.2.254"
[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
description = "upstream"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Targets{
		Vantage: "fra1",
		Zones: []Zone{{Name: "lab.example.", Names: []string{"lab.example.", "www.lab.example."}, Types: []string{"SOA"}, Expect: []string{"192.0.2.10"},
			Authoritative: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53")}}},
		Resolvers: []Resolver{{Name: "plain", Addr: netip.MustParseAddr("192.0.2.53")}, {Name: "web", Validating: true}},
		Prefixes:  plan.Prefixes,
		Peers:     []Peer{{Name: "192.0.2.2", ASN: 64500, Description: "upstream"}},
	}
	if got := TargetsFromPlan(plan); !reflect.DeepEqual(got, want) {
		t.Errorf("TargetsFromPlan\n got %+v\nwant %+v", got, want)
	}
}
