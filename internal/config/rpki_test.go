package config

import (
	"strings"
	"testing"
	"time"
)

func TestRPKIConfig(t *testing.T) {
	def, err := Parse("t.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.RPKI.Enabled() {
		t.Error("[rpki] on without the section")
	}
	cfg, err := Parse("t.toml", []byte("[rpki]\nvrp_file = \"/var/lib/rpki-client/json\"\n[[rpki.rtr]]\naddress = \"rtr.example.net\"\n[[rpki.rtr]]\naddress = \"::1\"\nport = 8282\nlifetime = \"10m\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.RPKI
	if !r.Enabled() || r.VRPFile != "/var/lib/rpki-client/json" || r.FileCheckInterval.Duration != 10*time.Second || len(r.RTR) != 2 {
		t.Fatalf("parsed %+v", r)
	}
	if s := r.RTR[0]; s.Port != 323 || s.Lifetime.Duration != time.Hour || s.Name() != "rtr.example.net:323" {
		t.Errorf("defaults: %+v", s)
	}
	if s := r.RTR[1]; s.Port != 8282 || s.Lifetime.Duration != 10*time.Minute || s.Name() != "[::1]:8282" {
		t.Errorf("parsed: %+v", s)
	}
}

func TestRPKIConfigErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{``, `rpki: set vrp_file or at least one [[rpki.rtr]] server`},
		{"[[rpki.rtr]]\nport = 323", `rpki.rtr[0].address: missing`},
		{"[[rpki.rtr]]\naddress = \"127.0.0.1:323\"", `rpki.rtr[0].address: "127.0.0.1:323" is not an address or host name (the port goes in port)`},
		{"[[rpki.rtr]]\naddress = \"127.0.0.1\"\nport = 70000", `rpki.rtr[0].port: 70000 is outside 1..65535`},
		{"[[rpki.rtr]]\naddress = \"127.0.0.1\"\nlifetime = \"1500ms\"", `rpki.rtr[0].lifetime: 1.5s is not whole seconds`},
		{"[[rpki.rtr]]\naddress = \"127.0.0.1\"\nlifetime = \"48h\"", `rpki.rtr[0].lifetime: 48h is outside 1s..24h`},
		{"[[rpki.rtr]]\naddress = \"127.0.0.1\"\n[[rpki.rtr]]\naddress = \"127.0.0.1\"\nport = 323", `rpki.rtr[1]: 127.0.0.1:323 is also rpki.rtr[0]`},
		{"vrp_file = \" /x\"", `rpki.vrp_file: " /x" has leading or trailing spaces`},
		{"vrp_file = \"/x\"\nfile_check_interval = \"2h\"", `rpki.file_check_interval: 2h is outside 10ms..1h`},
		{"vrp_file = \"/x\"\nrefresh = \"1s\"", `rpki.refresh: unknown key`},
	} {
		_, err := Parse("t.toml", []byte("[rpki]\n"+tc.body+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.body, err, tc.want)
		}
	}
}

// The shipped full example has an [rpki] section with both sources.
func TestShippedRPKIExample(t *testing.T) {
	p, err := Load("../../config/reachmon.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if r := p.RPKI; !r.Enabled() || r.VRPFile == "" || len(r.RTR) != 1 || r.RTR[0].Name() != "192.0.2.20:3323" {
		t.Errorf("example [rpki]: %+v", r)
	}
}
