package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// APIConfig controls who may read the HTTP endpoints. Everything is off by
// default: on the default loopback listen only this host can connect. A
// listen beyond loopback without a token is served as before, with a
// warning at start.
//
//	[api]
//	token_env = "REACHMON_API_TOKEN"   # bearer token required on /api/v1; or token_file
//	protect_metrics = false            # require the token on /metrics too
//	check_host = false                 # answer only requests whose Host is this daemon's (DNS rebinding)
//	allowed_hosts = ["mon1.example.net"]   # accepted besides the listen host, localhost, 127.0.0.1, ::1
//	external_url = "https://mon1.example.net:9798"   # how others reach this daemon (alert generatorURL); default http://<listen>
//
// /healthz and /readyz stay open either way: service managers and load
// balancers probe them without credentials and they reveal nothing.
type APIConfig struct {
	// TokenEnv / TokenFile name where the bearer token is read from.
	TokenEnv  string `toml:"token_env"`
	TokenFile string `toml:"token_file"`
	// ProtectMetrics requires the token on /metrics as well (Prometheus:
	// authorization.credentials_file in the scrape config).
	ProtectMetrics bool `toml:"protect_metrics"`
	// CheckHost refuses requests whose Host header names another host
	// than HostsAllowed: a web page that rebinds its own name to this
	// daemon's address cannot read the answers.
	CheckHost bool `toml:"check_host"`
	// AllowedHosts are names or addresses (without a port) accepted in the
	// Host header besides the default ones.
	AllowedHosts []string `toml:"allowed_hosts"`
	// ExternalURL is the base URL of this daemon as others reach it: the
	// generatorURL of Alertmanager alerts and links point under it.
	// Default "http://<listen>".
	ExternalURL string `toml:"external_url"`
}

// TokenConfigured reports whether a bearer token is required.
func (a APIConfig) TokenConfigured() bool { return a.TokenEnv != "" || a.TokenFile != "" }

// Token reads the bearer token from its environment variable or file;
// "" when none is configured.
func (a APIConfig) Token() (string, error) {
	v, err := Secret(a.TokenEnv, a.TokenFile)
	if err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	return v, nil
}

// HostsAllowed lists the Host header hosts answered when CheckHost is on
// (nil when it is off): the host of listen unless it is a wildcard
// (0.0.0.0, ::, empty), localhost, 127.0.0.1, ::1 and AllowedHosts.
func (a APIConfig) HostsAllowed(listen string) []string {
	if !a.CheckHost {
		return nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(listen); err == nil && !isWildcardHost(h) {
		hosts = append(hosts, h)
	}
	return append(hosts, a.AllowedHosts...)
}

// APIExposedWithoutToken reports whether the HTTP listen address takes
// connections from other hosts (a wildcard or a non-loopback address)
// while no API token is configured: served, with a warning at start.
func (c *Config) APIExposedWithoutToken() bool {
	host, _, err := net.SplitHostPort(c.Listen)
	return err == nil && !IsLoopbackHost(host) && !c.API.TokenConfigured()
}

// IsLoopbackHost reports whether host (a name or an address, without a
// port) is this machine only: localhost, 127.0.0.0/8 or ::1.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

func isWildcardHost(h string) bool {
	if h == "" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsUnspecified()
}

func (a *APIConfig) validate(e *Errors) {
	if a.TokenEnv != "" && a.TokenFile != "" {
		e.add("api: set token_env or token_file, not both")
	}
	if a.ProtectMetrics && !a.TokenConfigured() {
		e.add("api.protect_metrics: needs a token (api.token_env or api.token_file)")
	}
	if len(a.AllowedHosts) > 0 && !a.CheckHost {
		e.add("api.allowed_hosts: only used with check_host = true")
	}
	for i, h := range a.AllowedHosts {
		if !validHostName(h) {
			e.add("api.allowed_hosts[%d]: %q is not a host name or an IP address without a port", i, h)
		}
	}
}

// validHostName accepts a domain name or an IP address (IPv6 without
// brackets), no port.
func validHostName(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	_, err := FQDN(h)
	return err == nil && h != "" && h != "."
}
