package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBGPValid(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
[bgp]
asn = 4200000000
router_id = "192.0.2.1"
listen_port = 1790
listen_addresses = ["192.0.2.1", "2001:db8::1"]
initial_sync_timeout = "1m"

[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
description = "core router"
local_address = "192.0.2.1"
multihop_ttl = 2
password_env = "REACHMON_BGP_PW"
hold_time = "30s"
connect_retry = "5s"
max_prefixes = 100000

[[bgp.neighbor]]
address = "2001:db8::2"
port = 1179
peer_asn = 64501
passive = true
families = ["ipv6-unicast"]
`))
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.BGP
	if !b.Enabled() || b.SyncTimeout() != time.Minute || len(b.Neighbor) != 2 {
		t.Fatalf("bgp = %+v", b)
	}
	n := b.Neighbor[0]
	if hold, ka, retry := n.Timers(); hold != 30*time.Second || ka != 10*time.Second || retry != 5*time.Second {
		t.Errorf("timers = %v %v %v", hold, ka, retry)
	}
	if n.RemotePort() != 179 || len(n.FamilyList()) != 2 || n.Name() != "192.0.2.2" {
		t.Errorf("neighbor defaults: port %d families %v name %s", n.RemotePort(), n.FamilyList(), n.Name())
	}
	if m := b.Neighbor[1]; m.RemotePort() != 1179 || len(m.FamilyList()) != 1 || !m.Passive {
		t.Errorf("neighbor 1 = %+v", m)
	}
}

func TestBGPDisabledByDefault(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(``))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BGP.Enabled() {
		t.Error("BGP enabled without [bgp]")
	}
}

func TestBGPErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"neighbors without asn", `
[bgp]
router_id = "192.0.2.1"
[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
`, []string{"bgp.asn: must be set when other bgp keys are (asn = 0 disables the BGP feed)"}},
		{"inline password", `
[bgp]
asn = 64512
router_id = "192.0.2.1"
[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
password = "hunter2"
`, []string{"bgp.neighbor.password: secrets are not accepted in the config file; use bgp.neighbor.password_env (an environment variable) or bgp.neighbor.password_file (a file)"}},
		{"asn out of range", `
[bgp]
asn = 4294967296
`, []string{"line 3: bgp.asn: "}},
		{"negative asn", `
[bgp]
asn = -1
`, []string{"line 3: bgp.asn: "}},
		{"everything at once", `
[bgp]
asn = 23456
router_id = "2001:db8::1"
listen_port = 70000
listen_addresses = ["any"]
initial_sync_timeout = "-1s"

[[bgp.neighbor]]
address = "192.0.2.300"
port = -1
passive = true
local_address = "2001:db8::1"
multihop_ttl = 256
password_env = "A"
password_file = "/b"
families = ["ipv4-unicast", "ipv4-unicast", "l2vpn-evpn"]
hold_time = "2s"
keepalive = "1500ms"
connect_retry = "500ms"

[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 23456
local_address = "2001:db8::1"
families = []
hold_time = "9s"
keepalive = "9s"

[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
`, []string{
			"bgp.asn: 23456 is AS_TRANS, not a usable ASN",
			`bgp.router_id: "2001:db8::1" is not an IPv4 address (the BGP identifier is a dotted quad even on IPv6-only hosts)`,
			"bgp.listen_port: 70000 is outside 0..65535 (0: no listener)",
			`bgp.listen_addresses[0]: "any" is not an IP address`,
			"bgp.initial_sync_timeout: -1s is outside 1ms..1h (0: the default 30s)",
			`bgp.neighbor[0].address: "192.0.2.300" is not an IP address`,
			"bgp.neighbor[0].port: -1 is outside 0..65535 (0: 179)",
			"bgp.neighbor[0].peer_asn: must be set",
			`bgp.neighbor[0].multihop_ttl: 256 is outside 0..255`,
			"bgp.neighbor[0]: set password_env or password_file, not both",
			`bgp.neighbor[0].families[1]: "ipv4-unicast" is listed twice`,
			`bgp.neighbor[0].families[2]: "l2vpn-evpn" is not one of ipv4-unicast, ipv6-unicast`,
			"bgp.neighbor[0].hold_time: 2s must be whole seconds between 3s and 65535s",
			"bgp.neighbor[0].keepalive: 1.5s must be whole seconds",
			"bgp.neighbor[0].connect_retry: 500ms must be whole seconds between 1s and 1h",
			"bgp.neighbor[1].peer_asn: 23456 is AS_TRANS, not a usable ASN",
			"bgp.neighbor[1].local_address: 2001:db8::1 and address 192.0.2.2 are not the same IP version",
			"bgp.neighbor[1].families: must not be empty (leave it out for both unicast families)",
			"bgp.neighbor[1].keepalive: 9s must be shorter than hold_time 9s",
			"bgp.neighbor[2].address: 192.0.2.2 is already bgp.neighbor[1]",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.file))
			var ce *Errors
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *Errors", err)
			}
			got := ce.List
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n  %s", len(got), len(tc.want), strings.Join(got, "\n  "))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d:\n got  %s\n want %s", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestBGPPassiveNeedsListener(t *testing.T) {
	_, err := Parse("t.toml", []byte(`
[bgp]
asn = 64512
router_id = "192.0.2.1"
[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
passive = true
`))
	if err == nil || !strings.Contains(err.Error(), "bgp.neighbor[0].passive: a passive neighbor needs bgp.listen_port") {
		t.Errorf("err = %v", err)
	}
}

func TestBGPPasswordNeverInErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("REACHMON_BGP_PW_TEST", "md5-secret-value")
	n := Neighbor{PasswordEnv: "REACHMON_BGP_PW_TEST"}
	if pw, err := n.Password(); err != nil || pw != "md5-secret-value" {
		t.Errorf("Password() = %q, %v", pw, err)
	}
	n = Neighbor{PasswordFile: dir + "/missing"}
	if _, err := n.Password(); err == nil || strings.Contains(err.Error(), "md5-secret-value") {
		t.Errorf("Password() err = %v", err)
	}
}

func TestBGPFullTableListener(t *testing.T) {
	for _, tc := range []struct {
		name, neighbors string
		owns            bool
	}{
		{"no full_table", `
[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
passive = true
`, false},
		{"active full_table beside a passive ordinary neighbor", `
[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
full_table = true
[[bgp.neighbor]]
address = "192.0.2.3"
peer_asn = 64501
passive = true
`, false},
		{"passive full_table beside an active ordinary neighbor", `
[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
passive = true
full_table = true
[[bgp.neighbor]]
address = "192.0.2.3"
peer_asn = 64501
`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("t.toml", []byte("[bgp]\nasn = 64512\nrouter_id = \"192.0.2.1\"\nlisten_port = 1790\n"+tc.neighbors))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.BGP.FullTableListener(); got != tc.owns {
				t.Errorf("FullTableListener() = %v, want %v", got, tc.owns)
			}
			if !slicesContainsFullTable(cfg.BGP) && tc.name != "no full_table" {
				t.Error("full_table = true was not read")
			}
		})
	}
}

func slicesContainsFullTable(b BGP) bool {
	for _, n := range b.Neighbor {
		if n.FullTable {
			return true
		}
	}
	return false
}

func TestBGPFullTableListenerConflict(t *testing.T) {
	_, err := Parse("t.toml", []byte(`
[bgp]
asn = 64512
router_id = "192.0.2.1"
listen_port = 1790
[[bgp.neighbor]]
address = "192.0.2.2"
peer_asn = 64500
passive = true
[[bgp.neighbor]]
address = "192.0.2.3"
peer_asn = 64501
passive = true
full_table = true
`))
	want := "bgp.neighbor[0] (192.0.2.2): passive, but passive full_table neighbor bgp.neighbor[1] (192.0.2.3) owns bgp.listen_port and the embedded speaker cannot share it: set passive = false (connect out) or full_table = true on bgp.neighbor[0], or make bgp.neighbor[1] active"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
}
