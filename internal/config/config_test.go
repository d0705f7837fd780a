package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShippedConfigs loads every example in config/: documentation that is
// tested stays true.
func TestShippedConfigs(t *testing.T) {
	files, err := filepath.Glob("../../config/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no config/*.toml found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatalf("shipped config does not load:\n%v", err)
			}
			if len(cfg.Resolver) == 0 || len(cfg.Zone) == 0 {
				t.Fatalf("shipped config has %d resolvers and %d zones", len(cfg.Resolver), len(cfg.Zone))
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
[[resolver]]
name = "r"
address = "127.0.0.1"
[[zone]]
name = "Example.COM."
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != DefaultListen || cfg.Probe.Interval.Duration != 30*time.Second || cfg.Probe.Timeout.Duration != 5*time.Second {
		t.Errorf("defaults not applied: listen=%q interval=%v timeout=%v", cfg.Listen, cfg.Probe.Interval, cfg.Probe.Timeout)
	}
	if cfg.Probe.Jitter.Duration != 30*time.Second {
		t.Errorf("jitter default = %v, want the whole interval", cfg.Probe.Jitter)
	}
	if cfg.Resolver[0].Transport != "udp" || !cfg.Resolver[0].IsValidating() {
		t.Errorf("resolver defaults: transport=%q validating=%v", cfg.Resolver[0].Transport, cfg.Resolver[0].IsValidating())
	}
	if got := cfg.Zone[0].Types; len(got) != 1 || got[0] != "SOA" {
		t.Errorf("zone types default = %v, want [SOA]", got)
	}
	if !cfg.Zone[0].CheckDNSSEC() {
		t.Error("dnssec check should default to on")
	}
	if cfg.Metrics.ZoneLatency {
		t.Error("[metrics] zone_latency should default to false")
	}
	on, err := Parse("t.toml", []byte("[metrics]\nzone_latency = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !on.Metrics.ZoneLatency {
		t.Error("[metrics] zone_latency = true was not applied")
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string // every message, in order
	}{
		{"syntax", "vantage = \"x\"\nlisten = \n", []string{"line 2: "}},
		{"type", "[probe]\nconcurrency = \"many\"\n", []string{"line 2: probe.concurrency: expected integer, got string"}},
		{"duration", "[probe]\ninterval = \"30\"\n", []string{`line 2: probe.interval: invalid duration "30" (use a number with a unit, such as "30s" or "5m")`}},
		{"unknown keys", "vantag = \"x\"\n[probe]\nintervall = \"3s\"\n", []string{"vantag: unknown key", "probe.intervall: unknown key"}},
		{"metrics", "[metrics]\nzone_latency = \"no\"\nzone_labels = true\n", []string{"line 2: metrics.zone_latency: expected boolean, got string"}},
		{"inline secret", "[slack]\ntoken = \"xoxb-1\"\n", []string{"slack.token: secrets are not accepted in the config file; use slack.token_env (an environment variable) or slack.token_file (a file)"}},
		{"everything at once", `
vantage = "a b"
listen = "nowhere"
[log]
level = "loud"
format = "xml"
[probe]
interval = "10s"
timeout = "20s"
jitter = "11s"
concurrency = -1
[[resolver]]
name = "r1"
address = "dns.google"
[[resolver]]
name = "r1"
address = "1.1.1.1"
transport = "quic"
[[resolver]]
name = "r3"
address = "1.1.1.1"
tls_server_name = "one.one.one.one"
[[resolver]]
name = "r4"
address = "dns.example/q"
transport = "doh"
[[zone]]
name = "bad..zone"
[[zone]]
name = "ok.example"
names = ["www", "bad name"]
types = ["A", "AXFR"]
authoritative = ["192.0.2.1:0", "ns1.example"]
[[zone]]
name = "OK.example."
[[prefix]]
prefix = "1.1.1.1/24"
origins = [0]
[[prefix]]
prefix = "banana"
`, []string{
			`vantage: "a b" may hold only letters, digits, '-', '_' and '.'`,
			`listen: "nowhere" is not host:port (address nowhere: missing port in address)`,
			`log.level: "loud" is not one of debug, info, warn, error`,
			`log.format: "xml" is not one of text, json`,
			`probe.timeout: 20s is longer than probe.interval 10s`,
			`probe.jitter: 11s must not be longer than probe.interval 10s`,
			`probe.concurrency: -1 is outside 0..10000 (0: automatic)`,
			`resolver[0].address: "dns.google" is not an IP address with an optional port (host names are not resolved: give the address)`,
			`resolver[1].name: "r1" is already the name of resolver[0]`,
			`resolver[1].transport: "quic" is not one of udp, tcp, dot, doh`,
			`resolver[2].tls_server_name: only used with transport dot or doh (transport is udp)`,
			`resolver[3].address: "dns.example/q" is not a DoH URL such as https://dns.example/dns-query`,
			`zone[0].name: "bad..zone" has an empty label`,
			`zone[1].names[1]: "bad name" holds ' ', which is not valid in a domain name`,
			`zone[1].types[1]: "AXFR" is a zone transfer: it cannot be asked for as a query type`,
			`zone[1].authoritative[0]: "192.0.2.1:0": port 0 is not valid`,
			`zone[1].authoritative[1]: "ns1.example" is not an IP address with an optional port (host names are not resolved: give the address)`,
			`zone[2].name: zone "OK.example." is already zone[1]`,
			`prefix[0].prefix: "1.1.1.1/24" has host bits set; did you mean 1.1.1.0/24?`,
			`prefix[0].origins[0]: AS 0 is not a valid origin`,
			`prefix[1].prefix: "banana" is not a CIDR prefix such as 192.0.2.0/24`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.file))
			var ce *Errors
			if !errors.As(err, &ce) {
				t.Fatalf("want *Errors, got %v", err)
			}
			if len(ce.List) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(ce.List), len(tc.want), strings.Join(ce.List, "\n"))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ce.List[i], w) {
					t.Errorf("error %d:\n got %s\nwant %s", i, ce.List[i], w)
				}
			}
			if !strings.HasPrefix(err.Error(), "t.toml: ") {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

func TestQueryName(t *testing.T) {
	for _, tc := range []struct{ in, zone, want string }{
		{"@", "example.com.", "example.com."},
		{"www", "example.com.", "www.example.com."},
		{"WWW.Example.com", "example.com.", "www.example.com."},
		{"other.net.", "example.com.", "other.net."},
		{"other.net", "example.com.", "other.net.example.com."},
	} {
		got, err := QueryName(tc.in, tc.zone)
		if err != nil || got != tc.want {
			t.Errorf("QueryName(%q, %q) = %q, %v; want %q", tc.in, tc.zone, got, err, tc.want)
		}
	}
}

func TestServerAddress(t *testing.T) {
	for _, tc := range []struct {
		in   string
		tr   string
		want string
	}{
		{"1.1.1.1", "udp", "1.1.1.1:53"},
		{"1.1.1.1", "dot", "1.1.1.1:853"},
		{"127.0.0.1:5353", "tcp", "127.0.0.1:5353"},
		{"2606:4700::1111", "udp", "[2606:4700::1111]:53"},
		{"[::1]:8053", "udp", "[::1]:8053"},
		{"https://192.0.2.1/dns-query", "doh", "https://192.0.2.1/dns-query"},
		{"https://[2001:db8::1]:8443/dns-query", "doh", "https://[2001:db8::1]:8443/dns-query"},
	} {
		tr, _ := ParseTransport(tc.tr)
		got, err := ServerAddress(tc.in, tr)
		if err != nil || got != tc.want {
			t.Errorf("ServerAddress(%q, %s) = %q, %v; want %q", tc.in, tc.tr, got, err, tc.want)
		}
	}
	// A DoH URL naming its host would be looked up through the system
	// resolver: refused like any other server host name.
	if _, err := ServerAddress("https://dns.google/dns-query", "doh"); err == nil ||
		!strings.Contains(err.Error(), "host names are not resolved") || !strings.Contains(err.Error(), `tls_server_name = "dns.google"`) {
		t.Errorf("ServerAddress(https://dns.google/dns-query, doh) = %v; want the host-name error with its remedy", err)
	}
}

func TestSecret(t *testing.T) {
	t.Setenv("REACHMON_TEST_SECRET", "s3cret")
	if v, err := Secret("REACHMON_TEST_SECRET", ""); err != nil || v != "s3cret" {
		t.Errorf("env secret = %q, %v", v, err)
	}
	if _, err := Secret("REACHMON_TEST_UNSET_SECRET", ""); err == nil || !strings.Contains(err.Error(), "REACHMON_TEST_UNSET_SECRET is not set") {
		t.Errorf("unset env: %v", err)
	}
	f := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(f, []byte("xoxb-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := Secret("", f); err != nil || v != "xoxb-file" {
		t.Errorf("file secret = %q, %v", v, err)
	}
	if v, err := Secret("", ""); err != nil || v != "" {
		t.Errorf("no secret = %q, %v", v, err)
	}
}

func TestEvaluateErrors(t *testing.T) {
	_, err := Parse("t.toml", []byte(`
[[zone]]
name = "example.com"
[evaluate]
open_rounds = 0
resolve_after = "-1s"
min_peers = 0
control_zones = ["example.com", "other.org"]
[[evaluate.silence]]
kinds = ["outage"]
subjects = ["[x"]
start = 2026-01-02T00:00:00Z
end = 2026-01-01T00:00:00Z
`))
	var ce *Errors
	if !errors.As(err, &ce) {
		t.Fatalf("want *Errors, got %v", err)
	}
	want := []string{
		`evaluate.open_rounds: 0 is outside 1..100`,
		`evaluate.resolve_after: -1s is outside 0s..24h`,
		`evaluate.min_peers: 0 must be at least 1`,
		`evaluate.control_zones[1]: "other.org" is not a configured [[zone]]`,
		`evaluate.silence[0].kinds[0]: "outage" is not an incident kind`,
		`evaluate.silence[0].subjects[0]: "[x" is not a valid pattern`,
		`evaluate.silence[0].end: 2026-01-01T00:00:00Z is not after start 2026-01-02T00:00:00Z`,
	}
	if len(ce.List) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(ce.List), len(want), strings.Join(ce.List, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(ce.List[i], w) {
			t.Errorf("error %d:\n got %s\nwant %s", i, ce.List[i], w)
		}
	}
}
