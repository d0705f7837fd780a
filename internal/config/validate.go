package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/reachmon/reachmon/internal/model"
)

var levels = map[string]bool{"debug": true, "info": true, "warn": true, "error": true}

// resolve validates c and resolves it into the Plan its consumers take.
// Checking and resolving are one pass over the same parsing primitives, so
// that the plan holds exactly what validation accepted. The plan is
// complete only when e stays empty.
func (c *Config) resolve(e *Errors) *Plan {
	p := &Plan{Config: c}
	if c.Vantage == "" {
		e.add("vantage: must not be empty")
	} else if !labelSafe(c.Vantage) {
		e.add("vantage: %q may hold only letters, digits, '-', '_' and '.'", c.Vantage)
	}
	if err := CheckListen(c.Listen); err != nil {
		e.add("listen: %v", err)
	}
	if c.StateDir == "" {
		e.add("state_dir: must not be empty")
	}
	if !levels[c.Log.Level] {
		e.add("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		e.add("log.format: %q is not one of text, json", c.Log.Format)
	}
	c.validateProbe(e)
	names := map[string]int{}
	for i := range c.Resolver {
		if r, ok := c.Resolver[i].resolve(fmt.Sprintf("resolver[%d]", i), names, e); ok {
			p.Resolvers = append(p.Resolvers, r)
		}
	}
	zones := map[string]int{}
	for i := range c.Zone {
		if z, ok := c.resolveZone(i, zones, e); ok {
			p.Zones = append(p.Zones, z)
		}
	}
	c.Evaluate.validate(zones, e)
	prefixes := map[netip.Prefix]int{}
	for i, pc := range c.Prefix {
		key := fmt.Sprintf("prefix[%d]", i)
		pfx, err := ParsePrefix(pc.Prefix)
		if err != nil {
			e.add("%s.prefix: %v", key, err)
		} else if j, dup := prefixes[pfx]; dup {
			e.add("%s.prefix: %s is already prefix[%d]", key, pfx, j)
		} else {
			prefixes[pfx] = i
		}
		for j, asn := range pc.Origins {
			if asn == 0 {
				e.add("%s.origins[%d]: AS 0 is not a valid origin", key, j)
			}
		}
		p.Prefixes = append(p.Prefixes, model.WatchedPrefix{Prefix: pfx, Origins: pc.Origins, Description: pc.Description})
	}
	c.Slack.validate(e)
	c.BGP.validate(e)
	c.BMP.validate(e)
	if c.RISLive != nil {
		c.RISLive.validate(e)
	}
	if c.RPKI != nil {
		c.RPKI.validate(e)
	}
	c.API.validate(e)
	c.validateNotifiers(e)
	p.Windows = c.resolveMaintenance(e)
	c.Shard.validate(e)
	return p
}

func (c *Config) validateProbe(e *Errors) {
	p := c.Probe
	periodRange.check(e, "probe.interval", p.Interval.Duration)
	timeoutRange.check(e, "probe.timeout", p.Timeout.Duration)
	periodRange.check(e, "probe.discovery_min", p.DiscoveryMin.Duration)
	periodRange.check(e, "probe.discovery_max", p.DiscoveryMax.Duration)
	periodRange.check(e, "probe.ds_check_interval", p.DSCheckInterval.Duration)
	if p.Jitter.Duration < 0 {
		e.add("probe.jitter: must not be negative (got %q)", p.Jitter.Duration.String())
	}
	if p.Interval.Duration > 0 && p.Timeout.Duration > p.Interval.Duration {
		e.add("probe.timeout: %s is longer than probe.interval %s", p.Timeout.Duration, p.Interval.Duration)
	}
	if p.Interval.Duration > 0 && p.Jitter.Duration > p.Interval.Duration {
		e.add("probe.jitter: %s must not be longer than probe.interval %s", p.Jitter.Duration, p.Interval.Duration)
	}
	if p.DiscoveryMax.Duration < p.DiscoveryMin.Duration {
		e.add("probe.discovery_max: %s is shorter than probe.discovery_min %s", p.DiscoveryMax.Duration, p.DiscoveryMin.Duration)
	}
	if p.Concurrency < 0 || p.Concurrency > 10000 {
		e.add("probe.concurrency: %d is outside 0..10000 (0: automatic)", p.Concurrency)
	}
	if p.LookupConcurrency < 1 || p.LookupConcurrency > 10000 {
		e.add("probe.lookup_concurrency: %d is outside 1..10000", p.LookupConcurrency)
	}
}

// resolve checks the resolver and returns it as the prober's server; ok is
// false when it has a problem (added to e). names maps the names taken so
// far to their index.
func (r *Resolver) resolve(key string, names map[string]int, e *Errors) (rp ResolverPlan, ok bool) {
	problems := len(e.List)
	if r.Name == "" {
		e.add("%s.name: must not be empty", key)
	} else if !labelSafe(r.Name) {
		e.add("%s.name: %q may hold only letters, digits, '-', '_' and '.'", key, r.Name)
	} else if j, dup := names[r.Name]; dup {
		e.add("%s.name: %q is already the name of resolver[%d]", key, r.Name, j)
	} else {
		names[r.Name] = len(names)
	}
	if r.Transport == "" {
		r.Transport = string(model.TransportUDP)
	}
	t, err := ParseTransport(r.Transport)
	if err != nil {
		e.add("%s.transport: %v", key, err)
		return rp, false
	}
	if r.Address == "" {
		e.add("%s.address: must not be empty", key)
		return rp, false
	}
	addr, ip, err := resolverAddress(r.Address, t)
	if err != nil {
		e.add("%s.address: %v", key, err)
	}
	rp.Addr = ip
	if r.TLSServerName != "" && t != model.TransportDoT && t != model.TransportDoH {
		e.add("%s.tls_server_name: only used with transport dot or doh (transport is %s)", key, t)
	}
	rp.Server = model.Server{
		Name: r.Name, Kind: model.KindResolver, Addr: addr, Transport: t,
		TLSServerName: r.TLSServerName, Validating: r.IsValidating(),
	}
	return rp, len(e.List) == problems
}

// resolveZone checks zone i and resolves its names, servers and interval;
// ok is false when it has a problem (added to e). seen maps the zone FQDNs
// taken so far to their index.
func (c *Config) resolveZone(i int, seen map[string]int, e *Errors) (zp ZonePlan, ok bool) {
	problems := len(e.List)
	key := fmt.Sprintf("zone[%d]", i)
	z := &c.Zone[i]
	if z.Name == "" {
		e.add("%s.name: must not be empty", key)
		return zp, false
	}
	name, err := ParseZoneName(z.Name)
	if err != nil {
		e.add("%s.name: %v", key, err)
		return zp, false
	}
	fqdn := name.FQDN()
	if j, dup := seen[fqdn]; dup {
		e.add("%s.name: zone %q is already zone[%d]", key, z.Name, j)
	} else {
		seen[fqdn] = i
	}
	zp = ZonePlan{Name: name, Expect: z.Expect, DNSSEC: z.CheckDNSSEC(), Interval: c.Probe.Interval.Duration}
	queryNames := z.Names
	if len(queryNames) == 0 {
		queryNames = []string{"@"}
	}
	for j, n := range queryNames {
		q, err := QueryName(n, fqdn)
		if err != nil {
			e.add("%s.names[%d]: %v", key, j, err)
		} else if !slices.Contains(zp.Names, q) {
			zp.Names = append(zp.Names, q)
		}
	}
	if len(z.Types) == 0 {
		z.Types = []string{"SOA"}
	}
	for j, t := range z.Types {
		name, _, err := RecordType(t)
		if err != nil {
			e.add("%s.types[%d]: %v", key, j, err)
		} else if !slices.Contains(zp.Types, name) {
			zp.Types = append(zp.Types, name)
		}
	}
	for j, a := range z.Authoritative {
		ap, err := ServerAddrPort(a, model.TransportUDP)
		if err != nil {
			e.add("%s.authoritative[%d]: %v", key, j, err)
			continue
		}
		zp.Authoritative = append(zp.Authoritative, ap)
	}
	for j, x := range z.Expect {
		if strings.TrimSpace(x) == "" {
			e.add("%s.expect[%d]: must not be empty", key, j)
		}
	}
	zoneInterval := periodRange
	zoneInterval.unset = "probe.interval"
	if iv := z.Interval.Duration; zoneInterval.check(e, key+".interval", iv) && iv > 0 {
		if iv < c.Probe.Timeout.Duration {
			e.add("%s.interval: %s is shorter than probe.timeout %s", key, iv, c.Probe.Timeout.Duration)
		}
		zp.Interval = iv
	}
	return zp, len(e.List) == problems
}

// ParseTransport checks a transport name.
func ParseTransport(s string) (model.Transport, error) {
	for _, t := range model.Transports {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("%q is not one of udp, tcp, dot, doh", s)
}

// DefaultPort is the port a transport uses when an address has none.
func DefaultPort(t model.Transport) uint16 {
	if t == model.TransportDoT {
		return 853
	}
	return 53
}

// ServerAddress normalises a server address for transport t: for DoH an
// http(s) URL (returned as is), otherwise an IP address with an optional
// port ("192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]:53"),
// returned as ip:port (see ServerAddrPort).
func ServerAddress(s string, t model.Transport) (string, error) {
	if t == model.TransportDoH {
		if !isHTTPURL(s) {
			return "", fmt.Errorf("%q is not a DoH URL such as https://dns.example/dns-query", s)
		}
		// Like every server address, the URL's host is an IP address: a
		// monitor must not depend on a resolver to find the resolvers.
		u, _ := url.Parse(s)
		if _, err := netip.ParseAddr(u.Hostname()); err != nil {
			return "", fmt.Errorf("%q: host names are not resolved: put the server's address in the URL and its name in tls_server_name (probe: --tls-name), e.g. https://8.8.8.8/dns-query with tls_server_name = \"dns.google\"", s)
		}
		return s, nil
	}
	ap, err := ServerAddrPort(s, t)
	if err != nil {
		return "", err
	}
	return ap.String(), nil
}

// resolverAddress is ServerAddress with the IP address (unmapped) of the
// non-DoH transports.
func resolverAddress(s string, t model.Transport) (addr string, ip netip.Addr, err error) {
	if t == model.TransportDoH {
		addr, err = ServerAddress(s, t)
		return addr, netip.Addr{}, err
	}
	ap, err := ServerAddrPort(s, t)
	if err != nil {
		return "", netip.Addr{}, err
	}
	return ap.String(), ap.Addr().Unmap(), nil
}

// ServerAddrPort parses an IP address with an optional port, the port of
// transport t when it has none (t is not DoH: a URL has no AddrPort).
func ServerAddrPort(s string, t model.Transport) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("%q: zoned IPv6 addresses are not supported", s)
		}
		return netip.AddrPortFrom(a, DefaultPort(t)), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP address with an optional port (host names are not resolved: give the address)", s)
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: port 0 is not valid", s)
	}
	return ap, nil
}

// ParsePrefix parses a CIDR prefix and refuses host bits.
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix such as 192.0.2.0/24", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
	}
	return p, nil
}

// ParseZoneName checks a zone's name and returns it in canonical form.
func ParseZoneName(name string) (model.ZoneName, error) {
	f, err := FQDN(name)
	if err != nil {
		return model.ZoneName{}, err
	}
	return model.ZoneNameOf(f), nil
}

// FQDN checks a domain name and returns it lower-cased with a trailing dot.
func FQDN(name string) (string, error) {
	f := model.ZoneNameOf(name).FQDN()
	if f == "." {
		return f, nil
	}
	n := strings.TrimSuffix(f, ".")
	if len(n) > 253 {
		return "", fmt.Errorf("%q is longer than 253 characters", name)
	}
	for _, l := range strings.Split(n, ".") {
		if l == "" {
			return "", fmt.Errorf("%q has an empty label", name)
		}
		if len(l) > 63 {
			return "", fmt.Errorf("%q has a label longer than 63 characters", name)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '*') {
				return "", fmt.Errorf("%q holds %q, which is not valid in a domain name", name, r)
			}
		}
	}
	return f, nil
}

// QueryName resolves a zone's configured name: "@" is the apex, a name
// ending in "." or in the zone is absolute, anything else is relative to
// the zone.
func QueryName(n, zoneFQDN string) (string, error) {
	switch {
	case n == "@" || n == "":
		return zoneFQDN, nil
	case strings.HasSuffix(n, "."):
		return FQDN(n)
	}
	f, err := FQDN(n)
	if err != nil {
		return "", err
	}
	if zoneFQDN == "." || f == zoneFQDN || strings.HasSuffix(f, "."+zoneFQDN) {
		return f, nil
	}
	return FQDN(n + "." + zoneFQDN)
}

func labelSafe(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
