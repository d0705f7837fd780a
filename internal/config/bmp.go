package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// BMP configures the BMP station (RFC 7854): routers connect to it and
// report their BGP peers' routes; an empty section (no listen) means no
// station.
//
//	[bmp]
//	listen = "127.0.0.1:11019"
//
//	[[bmp.router]]
//	address = "192.0.2.10"      # the router's source address; others are refused
//	name = "edge1"              # in evidence, metrics and the API
//	description = "Frankfurt edge"
type BMP struct {
	Listen string      `toml:"listen"`
	Router []BMPRouter `toml:"router"`
}

// BMPRouter is a router allowed to connect to the station.
type BMPRouter struct {
	Address     string `toml:"address"`
	Name        string `toml:"name"`
	Description string `toml:"description"`
}

// DefaultBMPPort is the BMP port IANA assigned.
const DefaultBMPPort = 11019

// Enabled reports whether the BMP station is configured.
func (b BMP) Enabled() bool { return b.Listen != "" }

// Addr is the router's parsed address (the zero Addr if invalid).
func (r BMPRouter) Addr() netip.Addr {
	a, _ := netip.ParseAddr(r.Address)
	return a.Unmap()
}

// Label is how evidence names the router's BMP session: "router edge1
// (192.0.2.10, Frankfurt edge)".
func (r BMPRouter) Label() string {
	l := "router " + r.Name + " (" + r.Addr().String()
	if r.Description != "" {
		l += ", " + r.Description
	}
	return l + ")"
}

// FeedName is the router's feed in events, incidents and the API:
// "bmp router <name>".
func (r BMPRouter) FeedName() string { return "bmp router " + r.Name }

func (b *BMP) validate(e *Errors) {
	if b.Listen == "" {
		if len(b.Router) > 0 {
			e.add("bmp.listen: must be set when bmp.router is (the address the station listens on, e.g. \"0.0.0.0:%d\")", DefaultBMPPort)
		}
		return
	}
	host, port, err := net.SplitHostPort(b.Listen)
	if err != nil {
		e.add("bmp.listen: %q is not host:port: %v", b.Listen, err)
	} else {
		if host != "" {
			if _, err := netip.ParseAddr(host); err != nil {
				e.add("bmp.listen: %q: the host must be an IP address (or empty for every address)", b.Listen)
			}
		}
		if p, err := parsePort(port); err != nil {
			e.add("bmp.listen: %q: %v", b.Listen, err)
		} else if p == 0 {
			e.add("bmp.listen: %q: port 0 is not a fixed port for routers to connect to", b.Listen)
		}
	}
	if len(b.Router) == 0 {
		e.add("bmp.router: at least one router must be listed (connections from routers not listed are refused)")
	}
	addrs, names := map[netip.Addr]int{}, map[string]int{}
	for i, r := range b.Router {
		key := fmt.Sprintf("bmp.router[%d]", i)
		a, err := netip.ParseAddr(r.Address)
		switch {
		case err != nil:
			e.add("%s.address: %q is not an IP address", key, r.Address)
		case a.Zone() != "":
			e.add("%s.address: %q: zoned IPv6 addresses are not supported", key, r.Address)
		case a.IsUnspecified() || a.IsMulticast():
			e.add("%s.address: %q is not a unicast address", key, r.Address)
		default:
			if j, dup := addrs[a.Unmap()]; dup {
				e.add("%s.address: %s is already bmp.router[%d]", key, r.Address, j)
			} else {
				addrs[a.Unmap()] = i
			}
		}
		switch {
		case r.Name == "":
			e.add("%s.name: must be set (it names the router in evidence, metrics and the API)", key)
		case len(r.Name) > 64 || strings.ContainsAny(r.Name, " \t\r\n\"\\/"):
			e.add("%s.name: %q must be at most 64 characters without spaces, quotes, slashes or backslashes", key, r.Name)
		default:
			if j, dup := names[r.Name]; dup {
				e.add("%s.name: %q is already bmp.router[%d]", key, r.Name, j)
			} else {
				names[r.Name] = i
			}
		}
	}
}

func parsePort(s string) (int, error) {
	var p int
	if _, err := fmt.Sscanf(s, "%d", &p); err != nil || fmt.Sprint(p) != s || p < 0 || p > 65535 {
		return 0, fmt.Errorf("port %q is not a number in 0..65535", s)
	}
	return p, nil
}
