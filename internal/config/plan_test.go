package config

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// A zone left to its defaults is planned with the apex as its one name,
// SOA, the probe interval, the DNSSEC check and discovered servers.
func TestPlanZoneDefaults(t *testing.T) {
	p, err := Parse("t.toml", []byte(`
[probe]
interval = "45s"
[[zone]]
name = "Example.COM."
[[zone]]
name = "example.org"
interval = "2m"
dnssec = false
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []ZonePlan{
		{Name: model.ZoneNameOf("example.com"), Names: []string{"example.com."}, Types: []string{"SOA"}, DNSSEC: true, Interval: 45 * time.Second},
		{Name: model.ZoneNameOf("example.org"), Names: []string{"example.org."}, Types: []string{"SOA"}, DNSSEC: false, Interval: 2 * time.Minute},
	}
	if !reflect.DeepEqual(p.Zones, want) {
		t.Errorf("zones\n got %+v\nwant %+v", p.Zones, want)
	}
}

// Names, query names and servers are resolved once, in the form every
// consumer takes: one zone name with both spellings, FQDN query names
// without repeats, authoritative servers as addresses with their port.
func TestPlanZoneNormalised(t *testing.T) {
	p, err := Parse("t.toml", []byte(`
[[zone]]
name = "Lab.Example"
names = ["@", "www", "WWW.lab.example", "other.net.", "lab.example."]
types = ["A", "AAAA"]
authoritative = ["192.0.2.1", "[2001:db8::1]:5353", "::ffff:192.0.2.7"]
expect = ["192.0.2.10"]
[[zone]]
name = "."
`))
	if err != nil {
		t.Fatal(err)
	}
	z := p.Zones[0]
	if z.Name.FQDN() != "lab.example." || z.Name.Label() != "lab.example" || z.Name.String() != "lab.example" {
		t.Errorf("zone name: FQDN %q, Label %q, String %q", z.Name.FQDN(), z.Name.Label(), z.Name.String())
	}
	if want := []string{"lab.example.", "www.lab.example.", "other.net."}; !reflect.DeepEqual(z.Names, want) {
		t.Errorf("names = %q, want %q", z.Names, want)
	}
	want := []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.1:53"),
		netip.MustParseAddrPort("[2001:db8::1]:5353"),
		netip.MustParseAddrPort("[::ffff:192.0.2.7]:53"),
	}
	if !reflect.DeepEqual(z.Authoritative, want) {
		t.Errorf("authoritative = %v, want %v", z.Authoritative, want)
	}
	if !reflect.DeepEqual(z.Types, []string{"A", "AAAA"}) || !reflect.DeepEqual(z.Expect, []string{"192.0.2.10"}) {
		t.Errorf("types %q, expect %q", z.Types, z.Expect)
	}
	root := p.Zones[1]
	if root.Name.FQDN() != "." || root.Name.Label() != "." || !reflect.DeepEqual(root.Names, []string{"."}) {
		t.Errorf("root zone: FQDN %q, Label %q, names %q", root.Name.FQDN(), root.Name.Label(), root.Names)
	}
}

// Resolvers are planned as the servers the prober takes, with the address
// whose routes the BGP feed watches (none for DoH).
func TestPlanResolvers(t *testing.T) {
	p, err := Parse("t.toml", []byte(`
[[resolver]]
name = "plain"
address = "::ffff:192.0.2.53"
[[resolver]]
name = "tls"
address = "2001:db8::53"
transport = "dot"
tls_server_name = "dns.example"
validating = false
[[resolver]]
name = "web"
address = "https://192.0.2.80/dns-query"
transport = "doh"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []ResolverPlan{
		{Server: model.Server{Name: "plain", Kind: model.KindResolver, Addr: "[::ffff:192.0.2.53]:53", Transport: model.TransportUDP, Validating: true},
			Addr: netip.MustParseAddr("192.0.2.53")},
		{Server: model.Server{Name: "tls", Kind: model.KindResolver, Addr: "[2001:db8::53]:853", Transport: model.TransportDoT, TLSServerName: "dns.example"},
			Addr: netip.MustParseAddr("2001:db8::53")},
		{Server: model.Server{Name: "web", Kind: model.KindResolver, Addr: "https://192.0.2.80/dns-query", Transport: model.TransportDoH, Validating: true}},
	}
	if !reflect.DeepEqual(p.Resolvers, want) {
		t.Errorf("resolvers\n got %+v\nwant %+v", p.Resolvers, want)
	}
	servers := p.ResolverServers()
	if len(servers) != 3 || servers[1] != want[1].Server {
		t.Errorf("ResolverServers() = %+v", servers)
	}
}

func TestPlanPrefixes(t *testing.T) {
	p, err := Parse("t.toml", []byte(`
[[prefix]]
prefix = "192.0.2.0/24"
origins = [64500, 64501]
description = "anycast"
[[prefix]]
prefix = "2001:db8::/32"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []model.WatchedPrefix{
		{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Origins: []uint32{64500, 64501}, Description: "anycast"},
		{Prefix: netip.MustParsePrefix("2001:db8::/32")},
	}
	if !reflect.DeepEqual(p.Prefixes, want) {
		t.Errorf("prefixes\n got %+v\nwant %+v", p.Prefixes, want)
	}
}

// A server address that does not parse gives no plan: the same *Errors as
// validation, each problem under its key path.
func TestPlanBadServerAddress(t *testing.T) {
	p, err := Parse("t.toml", []byte(`
[[resolver]]
name = "r"
address = "dns.example"
[[zone]]
name = "example.com"
authoritative = ["192.0.2.1", "ns1.example.com"]
`))
	var ce *Errors
	if p != nil || !errors.As(err, &ce) {
		t.Fatalf("Parse = %v, %v; want no plan and *Errors", p, err)
	}
	want := []string{
		`resolver[0].address: "dns.example" is not an IP address with an optional port (host names are not resolved: give the address)`,
		`zone[0].authoritative[1]: "ns1.example.com" is not an IP address with an optional port (host names are not resolved: give the address)`,
	}
	if !reflect.DeepEqual(ce.List, want) {
		t.Errorf("errors\n got %q\nwant %q", ce.List, want)
	}
}

// ParseZoneName accepts either spelling in any case and refuses what
// FQDN refuses, with the same message.
func TestParseZoneName(t *testing.T) {
	for _, in := range []string{"example.com", "EXAMPLE.com.", "Example.Com"} {
		z, err := ParseZoneName(in)
		if err != nil || z != model.ZoneNameOf("example.com.") || z.FQDN() != "example.com." || z.Label() != "example.com" {
			t.Errorf("ParseZoneName(%q) = %q (%q), %v", in, z.Label(), z.FQDN(), err)
		}
	}
	z, err := ParseZoneName("bad..example")
	_, ferr := FQDN("bad..example")
	if err == nil || !z.IsZero() || err.Error() != ferr.Error() {
		t.Errorf("ParseZoneName(bad..example) = %q, %v; want the zero name and %v", z.FQDN(), err, ferr)
	}
}
