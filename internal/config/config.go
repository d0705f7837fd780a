// Package config defines reachmon's TOML configuration: the schema, its
// defaults, strict decoding (unknown keys are errors) and validation that
// reports every problem at once, each with its key path.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultListen is the HTTP listen address used when none is configured.
const DefaultListen = "127.0.0.1:9798"

// Config is the whole configuration file.
type Config struct {
	// Vantage names this reachmon instance (a label on every metric, so
	// several instances can be told apart in one Prometheus).
	Vantage string `toml:"vantage"`
	// Listen is the HTTP address for /metrics, /healthz, /readyz and the API.
	Listen string `toml:"listen"`
	// StateDir holds state that survives restarts; relative paths are
	// relative to the working directory.
	StateDir string `toml:"state_dir"`

	Log      Log         `toml:"log"`
	Probe    Probe       `toml:"probe"`
	Resolver []Resolver  `toml:"resolver"`
	Zone     []Zone      `toml:"zone"`
	Prefix   []Prefix    `toml:"prefix"`
	Slack    SlackConfig `toml:"slack"`
	BGP      BGP         `toml:"bgp"`
	BMP      BMP         `toml:"bmp"`
	// RISLive is the [ris_live] section (nil: absent, the source is off).
	RISLive *RISLive `toml:"ris_live"`
	// RPKI is the [rpki] section (nil: absent, no origin validation).
	RPKI     *RPKI     `toml:"rpki"`
	Evaluate Evaluate  `toml:"evaluate"`
	Metrics  Metrics   `toml:"metrics"`
	API      APIConfig `toml:"api"`
	// Alertmanager and Webhook are the notifiers besides Slack.
	Alertmanager []AlertmanagerConfig `toml:"alertmanager"`
	Webhook      []WebhookConfig      `toml:"webhook"`
	// Maintenance are recurring maintenance windows (maintenance.go).
	Maintenance []Maintenance `toml:"maintenance"`
	// Shard splits the zones between several instances (shard.go).
	Shard Shard `toml:"shard"`
}

// Metrics configures what /metrics exposes.
type Metrics struct {
	// ZoneLatency puts a zone label on the probe duration histogram. Off
	// (the default), latency is one histogram per server: with thousands
	// of zones the per-zone histograms are most of reachmon's memory and
	// of every scrape (10,000 zones x 5 servers = 50,000 histograms).
	ZoneLatency bool `toml:"zone_latency"`
}

// ZoneLatencyWarnZones is the zone count above which reachmon warns at
// start-up that per-zone latency histograms are on.
const ZoneLatencyWarnZones = 1000

// Log configures log/slog output.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text, json
}

// DefaultLookupConcurrency is [probe] lookup_concurrency when the file
// leaves it out: a few dozen lookups at once keep a resolver's queue short
// (Unbound drops queries beyond 1,024 waiting per thread, public
// resolvers rate-limit a client) while 10,000 zones are discovered within
// seconds.
const DefaultLookupConcurrency = 64

// Probe holds probe defaults; zones may override the interval.
type Probe struct {
	Interval Duration `toml:"interval"`
	Timeout  Duration `toml:"timeout"`
	// Jitter bounds the random offset of each probe's first round; later
	// rounds keep that phase, so probes spread over [0, Jitter) of every
	// interval. Default: the whole Interval (an even spread).
	Jitter      Duration `toml:"jitter"`
	Concurrency int      `toml:"concurrency"`
	// LookupConcurrency bounds the discoveries and DS checks running at
	// once (each asks the resolvers several queries in turn): thousands
	// of zones would otherwise send thousands at the same moment, at
	// start and whenever their TTLs expire together.
	LookupConcurrency int `toml:"lookup_concurrency"`
	// DiscoveryRefresh bounds how often authoritative servers are
	// rediscovered: at the NS/A TTL, but never more often than
	// DiscoveryMin nor less often than DiscoveryMax.
	DiscoveryMin Duration `toml:"discovery_min"`
	DiscoveryMax Duration `toml:"discovery_max"`
	// DSCheckInterval is how often the DS-vs-DNSKEY check runs per zone.
	DSCheckInterval Duration `toml:"ds_check_interval"`
}

// Resolver is a recursive resolver reachmon asks.
type Resolver struct {
	Name string `toml:"name"`
	// Address is host[:port]; for DoH a https:// URL.
	Address       string `toml:"address"`
	Transport     string `toml:"transport"` // udp (default), tcp, dot, doh
	TLSServerName string `toml:"tls_server_name"`
	// Validating says the resolver validates DNSSEC: a SERVFAIL from it is
	// retried with CD=1. Defaults to true.
	Validating *bool `toml:"validating"`
}

// IsValidating reports the resolver's validating setting (default true).
func (r Resolver) IsValidating() bool { return r.Validating == nil || *r.Validating }

// Zone is a DNS zone to watch.
type Zone struct {
	Name string `toml:"name"`
	// Names to query, absolute or relative to the zone; default the apex.
	Names []string `toml:"names"`
	// Types to ask for each name; default ["SOA"].
	Types []string `toml:"types"`
	// Authoritative lists explicit servers as host[:port] (host an IP
	// address); when empty the servers are discovered from NS records.
	Authoritative []string `toml:"authoritative"`
	// Expect lists the expected answers (rdata such as "192.0.2.1" or
	// "ns1.example.com."); when set, other answers are a mismatch.
	Expect []string `toml:"expect"`
	// DNSSEC enables the DS-vs-DNSKEY check; default true.
	DNSSEC   *bool    `toml:"dnssec"`
	Interval Duration `toml:"interval"`
}

// CheckDNSSEC reports the zone's dnssec setting (default true).
func (z Zone) CheckDNSSEC() bool { return z.DNSSEC == nil || *z.DNSSEC }

// Prefix is a prefix to watch in BGP.
type Prefix struct {
	Prefix      string   `toml:"prefix"`
	Origins     []uint32 `toml:"origins"`
	Description string   `toml:"description"`
}

// Duration is a time.Duration written as a string such as "30s".
type Duration struct{ time.Duration }

// UnmarshalText parses "30s", "1m30s" and so on.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use a number with a unit, such as \"30s\" or \"5m\")", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Errors is every problem found in a configuration file.
type Errors struct {
	File string
	List []string
}

func (e *Errors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d configuration error", e.File, len(e.List))
	if len(e.List) != 1 {
		b.WriteString("s")
	}
	for _, m := range e.List {
		b.WriteString("\n  ")
		b.WriteString(m)
	}
	return b.String()
}

func (e *Errors) add(format string, args ...any) {
	e.List = append(e.List, fmt.Sprintf(format, args...))
}

// Load reads, decodes, validates and resolves the file at path, which
// must be a regular file of at most MaxConfigFileSize. Every error is a
// configuration error (IsInvalid).
func Load(path string) (*Plan, error) {
	data, err := readLimited(path, "configuration file", MaxConfigFileSize)
	if err != nil {
		return nil, Invalid(fmt.Errorf("config: %w", err))
	}
	return Parse(path, data)
}

// secretKeys are keys that would hold a secret inline; they are refused with
// a message pointing at the _env/_file form.
var secretKeys = map[string]bool{
	"token": true, "webhook_url": true, "password": true, "secret": true, "api_token": true, "bearer_token": true,
}

// Parse decodes, validates and resolves data into a Plan; name is used in
// messages. Every problem is reported at once, as *Errors.
func Parse(name string, data []byte) (*Plan, error) {
	cfg := Default()
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := pe.Message
			if pe.LastKey != "" {
				msg = fmt.Sprintf("%s: %s", pe.LastKey, msg)
			}
			return nil, &Errors{File: name, List: []string{fmt.Sprintf("line %d: %s", pe.Position.Line, msg)}}
		}
		return nil, &Errors{File: name, List: []string{decodeMessage(err)}}
	}
	if !md.IsDefined("probe", "jitter") {
		cfg.Probe.Jitter.Duration = cfg.Probe.Interval.Duration
	}
	errs := &Errors{File: name}
	for _, k := range md.Undecoded() {
		last := k[len(k)-1]
		if secretKeys[last] {
			errs.add("%s: secrets are not accepted in the config file; use %s_env (an environment variable) or %s_file (a file)", k, k, k)
			continue
		}
		errs.add("%s: unknown key", k)
	}
	plan := cfg.resolve(errs)
	if len(errs.List) > 0 {
		return nil, errs
	}
	return plan, nil
}

// Default returns the configuration used for keys a file leaves out.
func Default() *Config {
	return &Config{
		Vantage:  "default",
		Listen:   DefaultListen,
		StateDir: "var",
		Log:      Log{Level: "info", Format: "text"},
		Evaluate: DefaultEvaluate(),
		Shard:    DefaultShard(),
		Probe: Probe{
			Interval:          Duration{30 * time.Second},
			Timeout:           Duration{5 * time.Second},
			Concurrency:       0, // automatic (internal/schedule)
			LookupConcurrency: DefaultLookupConcurrency,
			DiscoveryMin:      Duration{time.Minute},
			DiscoveryMax:      Duration{time.Hour},
			DSCheckInterval:   Duration{5 * time.Minute},
		},
	}
}

var (
	decodeErrRe = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]+)"\): (.*)$`)
	typeErrRe   = regexp.MustCompile(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)
)

// decodeMessage rewrites the decoder's type errors as "line N: key: problem".
func decodeMessage(err error) string {
	m := decodeErrRe.FindStringSubmatch(err.Error())
	if m == nil {
		return strings.TrimPrefix(err.Error(), "toml: ")
	}
	msg := m[3]
	if t := typeErrRe.FindStringSubmatch(msg); t != nil {
		msg = fmt.Sprintf("expected %s, got %s", t[2], t[1])
	}
	if m[1] == "" {
		return fmt.Sprintf("%s: %s", m[2], msg)
	}
	return fmt.Sprintf("line %s: %s: %s", m[1], m[2], msg)
}
