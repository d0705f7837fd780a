package config

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// parseErrors parses file and returns its messages (nil when it loads).
func parseErrors(t *testing.T, file string) []string {
	t.Helper()
	_, err := Parse("t.toml", []byte(file))
	if err == nil {
		return nil
	}
	var ce *Errors
	if !errors.As(err, &ce) {
		t.Fatalf("want *Errors, got %v", err)
	}
	return ce.List
}

// TestDurationBounds: every duration key has a floor and a ceiling,
// reported under its key path; the values at the bounds load.
func TestDurationBounds(t *testing.T) {
	const zone = "[[zone]]\nname = \"example.com\"\n"
	for _, tc := range []struct {
		name, file string
		want       string // "" when the file must load, else one of its errors
	}{
		{"interval below the floor", "[probe]\ninterval = \"500us\"\ntimeout = \"1ms\"\njitter = \"0s\"\n",
			"probe.interval: 500µs is outside 1ms..24h"},
		{"interval above the ceiling", "[probe]\ninterval = \"25h\"\n", "probe.interval: 25h is outside 1ms..24h"},
		{"interval and timeout at the floor", "[probe]\ninterval = \"1ms\"\ntimeout = \"1ms\"\n", ""},
		{"interval at the ceiling", "[probe]\ninterval = \"24h\"\n", ""},
		{"timeout below the floor", "[probe]\ntimeout = \"10ns\"\n", "probe.timeout: 10ns is outside 1ms..1m"},
		{"timeout above the ceiling", "[probe]\ninterval = \"5m\"\ntimeout = \"90s\"\n", "probe.timeout: 1m30s is outside 1ms..1m"},
		{"timeout zero", "[probe]\ntimeout = \"0s\"\n", "probe.timeout: 0s is outside 1ms..1m"},
		{"discovery_min zero", "[probe]\ndiscovery_min = \"0s\"\n", "probe.discovery_min: 0s is outside 1ms..24h"},
		{"discovery_max above the ceiling", "[probe]\ndiscovery_max = \"48h\"\n", "probe.discovery_max: 48h is outside 1ms..24h"},
		{"ds_check_interval above the ceiling", "[probe]\nds_check_interval = \"1000h\"\n", "probe.ds_check_interval: 1000h is outside 1ms..24h"},
		{"zone interval above the ceiling", "[[zone]]\nname = \"example.com\"\ninterval = \"36h\"\n",
			"zone[0].interval: 36h is outside 1ms..24h (0: probe.interval)"},
		{"zone interval negative", "[[zone]]\nname = \"example.com\"\ninterval = \"-1s\"\n",
			"zone[0].interval: -1s is outside 1ms..24h (0: probe.interval)"},
		{"evaluate wait above the ceiling", zone + "[evaluate]\nbgp_resolve_after = \"30h\"\n", "evaluate.bgp_resolve_after: 30h is outside 0s..24h"},
		{"evaluate waits at zero", zone + "[evaluate]\nopen_after = \"0s\"\nstart_grace = \"0s\"\nserial_spread_after = \"0s\"\n", ""},
		{"keep_resolved above the ceiling", zone + "[evaluate]\nkeep_resolved = \"2000h\"\n", "evaluate.keep_resolved: 2000h is outside 1ms..720h"},
		{"fade_off zero", zone + "[evaluate]\nfade_off = \"0s\"\n", "evaluate.fade_off: 0s is outside 1ms..24h"},
		{"bgp initial sync above the ceiling", "[bgp]\nasn = 64512\nrouter_id = \"192.0.2.1\"\ninitial_sync_timeout = \"2h\"\n",
			"bgp.initial_sync_timeout: 2h is outside 1ms..1h (0: the default 30s)"},
		{"bgp connect_retry above the ceiling",
			"[bgp]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n[[bgp.neighbor]]\naddress = \"192.0.2.2\"\npeer_asn = 64500\nconnect_retry = \"2h\"\n",
			"bgp.neighbor[0].connect_retry: 2h0m0s must be whole seconds between 1s and 1h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseErrors(t, tc.file)
			if tc.want == "" {
				if got != nil {
					t.Fatalf("does not load:\n%s", strings.Join(got, "\n"))
				}
				return
			}
			if !slices.Contains(got, tc.want) {
				t.Fatalf("errors:\n%s\nwant among them:\n%s", strings.Join(got, "\n"), tc.want)
			}
		})
	}
}

// TestShortDuration keeps the bounds readable in messages.
func TestShortDuration(t *testing.T) {
	for d, want := range map[string]string{"24h": "24h", "1m": "1m", "1h30m": "1h30m", "90s": "1m30s", "1ms": "1ms", "0s": "0s", "720h": "720h"} {
		var v Duration
		if err := v.UnmarshalText([]byte(d)); err != nil {
			t.Fatal(err)
		}
		if got := shortDuration(v.Duration); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestListenAddress(t *testing.T) {
	for _, tc := range []struct{ listen, want string }{
		{"127.0.0.1:9798", ""},
		{"[::1]:9798", ""},
		{":9798", ""},
		{"localhost:9798", ""},
		{"0.0.0.0:0", ""},
		{"127.0.0.1:65535", ""},
		{"127.0.0.1:65536", `listen: "127.0.0.1:65536": the port must be a number in 0..65535, not "65536"`},
		{"127.0.0.1:-1", `listen: "127.0.0.1:-1": the port must be a number in 0..65535, not "-1"`},
		{"127.0.0.1:http", `listen: "127.0.0.1:http": the port must be a number in 0..65535, not "http"`},
		{"monitor.example:9798", `listen: "monitor.example:9798": the host must be an IP address, localhost or empty (every address), not "monitor.example"`},
		{"127.0.0.1", `listen: "127.0.0.1" is not host:port (address 127.0.0.1: missing port in address)`},
	} {
		got := parseErrors(t, "listen = \""+tc.listen+"\"\n")
		if tc.want == "" && got != nil || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
			t.Errorf("listen %q: errors %q, want %q", tc.listen, got, tc.want)
		}
	}
}

// TestDuplicatePrefix: the same prefix twice, however written, is refused
// under the later key, naming the earlier one.
func TestDuplicatePrefix(t *testing.T) {
	got := parseErrors(t, `
[[prefix]]
prefix = "192.0.2.0/24"
[[prefix]]
prefix = "2001:DB8::/32"
[[prefix]]
prefix = "192.0.2.0/24"
description = "again"
[[prefix]]
prefix = "2001:db8:0::/32"
[[prefix]]
prefix = "192.0.2.0/25"
`)
	want := []string{
		"prefix[2].prefix: 192.0.2.0/24 is already prefix[0]",
		"prefix[3].prefix: 2001:db8::/32 is already prefix[1]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDeployedConfigs loads reachmon's configuration shipped outside
// config/ (TestShippedConfigs loads those): the compose file mounts it.
func TestDeployedConfigs(t *testing.T) {
	files, err := filepath.Glob("../../deploy/reachmon/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no deploy/reachmon/*.toml found (%v)", err)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s does not load:\n%v", f, err)
		}
	}
}
