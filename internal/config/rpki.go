package config

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// RPKI is the [rpki] section: ROAs for origin validation (RFC 6811) of
// the watched routes, from RTR servers and from a VRP JSON file. The
// section's presence with at least one source turns validation on.
//
//	[rpki]
//	vrp_file = "/var/lib/rpki-client/json"   # rpki-client / Routinator / stayrtr JSON ("roas")
//	file_check_interval = "10s"              # how often the file is checked for a change
//
//	[[rpki.rtr]]
//	address = "127.0.0.1"                    # RTR server (address or host name)
//	port = 323                               # RTR port
//	lifetime = "1h"                          # ROAs kept this long after the session is lost
type RPKI struct {
	RTR               []RTRServer `toml:"rtr"`
	VRPFile           string      `toml:"vrp_file"`
	FileCheckInterval Duration    `toml:"file_check_interval"`
}

// RTRServer is one [[rpki.rtr]] entry.
type RTRServer struct {
	Address  string   `toml:"address"`
	Port     int      `toml:"port"`
	Lifetime Duration `toml:"lifetime"`
}

// RPKI defaults and bounds.
const (
	DefaultRTRPort               = 323
	DefaultRTRLifetime           = time.Hour
	DefaultRPKIFileCheckInterval = 10 * time.Second
)

var (
	rtrLifetimeRange   = durationRange{min: time.Second, max: 24 * time.Hour}
	rpkiFileCheckRange = durationRange{min: 10 * time.Millisecond, max: time.Hour}
)

// Name is how reports, logs and the session metric name the server:
// "host:port".
func (s RTRServer) Name() string {
	return net.JoinHostPort(s.Address, fmt.Sprint(s.Port))
}

// Enabled reports whether any ROA source is configured.
func (r *RPKI) Enabled() bool {
	return r != nil && (len(r.RTR) > 0 || r.VRPFile != "")
}

// validate fills in defaults and checks the section.
func (r *RPKI) validate(e *Errors) {
	if r.FileCheckInterval.Duration == 0 {
		r.FileCheckInterval.Duration = DefaultRPKIFileCheckInterval
	}
	if len(r.RTR) == 0 && r.VRPFile == "" {
		e.add("rpki: set vrp_file or at least one [[rpki.rtr]] server (or remove the section)")
	}
	if r.VRPFile != "" && strings.TrimSpace(r.VRPFile) != r.VRPFile {
		e.add("rpki.vrp_file: %q has leading or trailing spaces", r.VRPFile)
	}
	rpkiFileCheckRange.check(e, "rpki.file_check_interval", r.FileCheckInterval.Duration)
	seen := map[string]int{}
	for i := range r.RTR {
		s := &r.RTR[i]
		key := fmt.Sprintf("rpki.rtr[%d]", i)
		if s.Port == 0 {
			s.Port = DefaultRTRPort
		}
		if s.Lifetime.Duration == 0 {
			s.Lifetime.Duration = DefaultRTRLifetime
		}
		switch {
		case s.Address == "":
			e.add("%s.address: missing (the RTR server's address or host name)", key)
		case strings.ContainsAny(s.Address, " /[]") || strings.Count(s.Address, ":") == 1:
			e.add("%s.address: %q is not an address or host name (the port goes in port)", key, s.Address)
		}
		if s.Port < 1 || s.Port > 65535 {
			e.add("%s.port: %d is outside 1..65535", key, s.Port)
		}
		if rtrLifetimeRange.check(e, key+".lifetime", s.Lifetime.Duration) && s.Lifetime.Duration%time.Second != 0 {
			e.add("%s.lifetime: %s is not whole seconds", key, shortDuration(s.Lifetime.Duration))
		}
		if j, dup := seen[s.Name()]; dup && s.Address != "" {
			e.add("%s: %s is also rpki.rtr[%d]", key, s.Name(), j)
		} else {
			seen[s.Name()] = i
		}
	}
}
