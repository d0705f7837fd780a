package config

import (
	"net/netip"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Plan is a validated configuration resolved once, at load, into the values
// its consumers take (the way blackbox_exporter compiles its regexps at
// load): zone names in one canonical form, query names, authoritative
// servers as addresses, intervals with their defaults, resolvers as the
// servers the prober is given and the watched prefixes. Consumers take
// these and never parse the configuration's strings again.
//
// Load and Parse build Plans, only from a configuration that passed
// validation: a Plan put together otherwise (a test's) has not.
type Plan struct {
	// Config is the decoded file. Its sections that need no resolving
	// (vantage, listen, state_dir, log, probe, slack, bgp, evaluate,
	// metrics) are used as they are; [[zone]], [[resolver]] and [[prefix]]
	// are read from the fields below.
	*Config
	// Zones are the [[zone]] entries, in file order.
	Zones []ZonePlan
	// Resolvers are the [[resolver]] entries, in file order.
	Resolvers []ResolverPlan
	// Prefixes are the [[prefix]] entries, in file order.
	Prefixes []model.WatchedPrefix
	// Windows are the [[maintenance]] entries, in file order.
	Windows []MaintenanceWindow
}

// ZonePlan is a zone to watch, resolved.
type ZonePlan struct {
	Name model.ZoneName
	// Names are the query names (FQDNs) without repeats: the apex when
	// none is configured.
	Names []string
	// Types are the record types asked for each name: SOA when none is
	// configured.
	Types []string
	// Authoritative are the configured authoritative servers (port 53
	// when none is given); nil: the servers are discovered.
	Authoritative []netip.AddrPort
	// Expect lists the expected answers as configured.
	Expect []string
	// DNSSEC enables the DS-vs-DNSKEY check.
	DNSSEC bool
	// Interval is the zone's probe interval, or probe.interval.
	Interval time.Duration
}

// ResolverPlan is a resolver to ask, resolved.
type ResolverPlan struct {
	// Server is what the prober is given.
	Server model.Server
	// Addr is the resolver's IP address (IPv4 unmapped), whose covering
	// routes the BGP feed watches; invalid for a DoH URL.
	Addr netip.Addr
}

// ResolverServers returns the resolvers as the prober takes them.
func (p *Plan) ResolverServers() []model.Server {
	out := make([]model.Server, len(p.Resolvers))
	for i, r := range p.Resolvers {
		out[i] = r.Server
	}
	return out
}
