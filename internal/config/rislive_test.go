package config

import (
	"strings"
	"testing"
	"time"
)

func TestRISLiveConfig(t *testing.T) {
	def, err := Parse("t.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.RISLiveEnabled() {
		t.Error("[ris_live] on without the section")
	}
	cfg, err := Parse("t.toml", []byte("[ris_live]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.RISLive
	if !cfg.RISLiveEnabled() || r.URL != DefaultRISLiveURL || r.Client != "reachmon" || r.MinPeers != 0 ||
		r.MinBackoff.Duration != time.Second || r.MaxBackoff.Duration != 2*time.Minute || r.PingInterval.Duration != 30*time.Second {
		t.Errorf("defaults: %+v", r)
	}
	cfg, err = Parse("t.toml", []byte(`
[ris_live]
url = "ws://127.0.0.1:8080/v1/ws/"
client = "mon1.example"
host = "rrc00"
min_peers = 20
min_backoff = "500ms"
max_backoff = "30s"
ping_interval = "10s"
`))
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.RISLive; r.URL != "ws://127.0.0.1:8080/v1/ws/" || r.Host != "rrc00" || r.MinPeers != 20 || r.MaxBackoff.Duration != 30*time.Second {
		t.Errorf("parsed %+v", r)
	}
	for _, u := range []string{"ws://localhost:1/", "ws://[::1]:1/", "wss://ris-live.example.net/v1/ws/"} {
		if _, err := Parse("t.toml", []byte("[ris_live]\nurl = \""+u+"\"\n")); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

func TestRISLiveConfigErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`url = "ws://ris-live.ripe.net/v1/ws/"`, `ris_live.url: "ws://ris-live.ripe.net/v1/ws/" uses ws:// (unencrypted) to a host that is not loopback; use wss://`},
		{`url = "https://ris-live.ripe.net/v1/ws/"`, `must be a wss:// URL (ws:// only to a loopback host)`},
		{`url = "wss://user:pw@ris-live.ripe.net/"`, `must not carry credentials`},
		{`url = "wss:///v1/ws/"`, `has no host`},
		{`client = "my client"`, `ris_live.client: "my client" may hold only letters`},
		{`host = "rrc 00"`, `ris_live.host: "rrc 00" is not a collector name`},
		{`min_peers = -1`, `ris_live.min_peers: -1 is outside 0..10000`},
		{`min_peers = 10001`, `ris_live.min_peers: 10001 is outside 0..10000`},
		{"min_backoff = \"10s\"\nmax_backoff = \"5s\"", `ris_live.max_backoff: 5s is below min_backoff 10s`},
		{`max_backoff = "2h"`, `ris_live.max_backoff: 2h is outside 1ms..1h`},
		{`ping_interval = "1ms"`, `ris_live.ping_interval: 1ms is outside 10ms..10m`},
		{`collectors = ["rrc00"]`, `ris_live.collectors: unknown key`},
	} {
		_, err := Parse("t.toml", []byte("[ris_live]\n"+tc.body+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.body, err, tc.want)
		}
	}
}
