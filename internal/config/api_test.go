package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAPIConfig(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
listen = "192.0.2.10:9798"
[api]
token_env = "REACHMON_API_TOKEN"
protect_metrics = true
check_host = true
allowed_hosts = ["mon1.example.net", "2001:db8::10"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.API.TokenConfigured() || !cfg.API.ProtectMetrics {
		t.Errorf("api = %+v", cfg.API)
	}
	want := []string{"localhost", "127.0.0.1", "::1", "192.0.2.10", "mon1.example.net", "2001:db8::10"}
	if got := cfg.API.HostsAllowed(cfg.Listen); !slices.Equal(got, want) {
		t.Errorf("hosts = %v, want %v", got, want)
	}
	// A wildcard listen names no host clients use.
	if got := cfg.API.HostsAllowed("0.0.0.0:9798"); slices.Contains(got, "0.0.0.0") {
		t.Errorf("hosts of a wildcard listen = %v", got)
	}
	// Off by default: no token, no host check.
	def, err := Parse("t.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.API.TokenConfigured() || def.API.HostsAllowed(def.Listen) != nil {
		t.Errorf("default api = %+v", def.API)
	}
}

func TestAPIConfigErrors(t *testing.T) {
	_, err := Parse("t.toml", []byte(`
[api]
token_env = "A"
token_file = "/b"
token = "inline"
allowed_hosts = ["mon1.example.net:9798", "ok.example"]
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{
		"api: set token_env or token_file, not both",
		"api.token: secrets are not accepted in the config file; use api.token_env",
		"api.allowed_hosts: only used with check_host = true",
		`api.allowed_hosts[0]: "mon1.example.net:9798" is not a host name or an IP address without a port`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors lack %q:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), "allowed_hosts[1]") || strings.Contains(err.Error(), "inline") {
		t.Errorf("errors:\n%v", err)
	}
	if _, err := Parse("t.toml", []byte("[api]\nprotect_metrics = true\n")); err == nil ||
		!strings.Contains(err.Error(), "api.protect_metrics: needs a token") {
		t.Errorf("protect_metrics without a token: %v", err)
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for h, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "127.0.0.1": true, "127.9.9.9": true, "::1": true, "[::1]": true,
		"::ffff:127.0.0.1": true, "": false, "0.0.0.0": false, "::": false, "10.0.0.1": false, "localhost.example": false,
	} {
		if got := IsLoopbackHost(h); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestAPIExposedWithoutToken(t *testing.T) {
	for _, tc := range []struct {
		listen, tokenEnv string
		want             bool
	}{
		{"127.0.0.1:9798", "", false},
		{"[::1]:9798", "", false},
		{"localhost:9798", "", false},
		{"0.0.0.0:9798", "", true},
		{":9798", "", true},
		{"192.0.2.10:9798", "", true},
		{"192.0.2.10:9798", "REACHMON_API_TOKEN", false},
	} {
		c := Default()
		c.Listen, c.API.TokenEnv = tc.listen, tc.tokenEnv
		if got := c.APIExposedWithoutToken(); got != tc.want {
			t.Errorf("listen %s token_env %q: exposed without token = %v, want %v", tc.listen, tc.tokenEnv, got, tc.want)
		}
	}
}
