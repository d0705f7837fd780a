package config

import (
	"fmt"
	"net/netip"
)

// BGP configures the embedded BGP speaker (see the BGP issue); an empty
// section (asn = 0) means no BGP feed.
type BGP struct {
	ASN      uint32     `toml:"asn"`
	RouterID string     `toml:"router_id"`
	Neighbor []Neighbor `toml:"neighbor"`
}

// Neighbor is a BGP peer.
type Neighbor struct {
	Address      string `toml:"address"`
	PeerASN      uint32 `toml:"peer_asn"`
	PasswordEnv  string `toml:"password_env"`
	PasswordFile string `toml:"password_file"`
}

func (b *BGP) validate(e *Errors) {
	if b.ASN == 0 {
		if b.RouterID != "" || len(b.Neighbor) > 0 {
			e.add("bgp.asn: must be set when bgp.router_id or bgp.neighbor is")
		}
		return
	}
	if a, err := netip.ParseAddr(b.RouterID); err != nil || !a.Is4() {
		e.add("bgp.router_id: %q is not an IPv4 address", b.RouterID)
	}
	for i, n := range b.Neighbor {
		key := fmt.Sprintf("bgp.neighbor[%d]", i)
		if _, err := netip.ParseAddr(n.Address); err != nil {
			e.add("%s.address: %q is not an IP address", key, n.Address)
		}
		if n.PeerASN == 0 {
			e.add("%s.peer_asn: must be set", key)
		}
		if n.PasswordEnv != "" && n.PasswordFile != "" {
			e.add("%s: set password_env or password_file, not both", key)
		}
	}
}
