package config

import (
	"net/url"
	"strings"
	"time"
)

// RISLive is the [ris_live] section: BGP from RIPE NCC's RIS Live feed.
// The section's presence turns the source on.
//
//	[ris_live]
//	url = "wss://ris-live.ripe.net/v1/ws/"   # ws:// only to a loopback host
//	client = "reachmon"                       # sent as ?client=
//	host = ""                                 # one collector ("rrc00"); empty: all
//	min_peers = 0                             # withdrawal quorum; 0: half of the RIS peers seen carrying the prefix, at least 2
//	min_backoff = "1s"                        # reconnect wait, doubling (with jitter) ...
//	max_backoff = "2m"                        # ... up to this
//	ping_interval = "30s"                     # RIS Live ping; 3 intervals without any message: reconnect
type RISLive struct {
	URL          string   `toml:"url"`
	Client       string   `toml:"client"`
	Host         string   `toml:"host"`
	MinPeers     int      `toml:"min_peers"`
	MinBackoff   Duration `toml:"min_backoff"`
	MaxBackoff   Duration `toml:"max_backoff"`
	PingInterval Duration `toml:"ping_interval"`
}

// RIS Live defaults and bounds.
const (
	DefaultRISLiveURL          = "wss://ris-live.ripe.net/v1/ws/"
	DefaultRISLiveClient       = "reachmon"
	DefaultRISLiveMinBackoff   = time.Second
	DefaultRISLiveMaxBackoff   = 2 * time.Minute
	DefaultRISLivePingInterval = 30 * time.Second
	// MaxRISLiveMinPeers bounds min_peers (RIS has well under this many
	// peers in all).
	MaxRISLiveMinPeers = 10000
)

var (
	risBackoffRange = durationRange{min: MinPeriod, max: time.Hour}
	risPingRange    = durationRange{min: 10 * time.Millisecond, max: 10 * time.Minute}
)

// validate fills in defaults and checks the section.
func (r *RISLive) validate(e *Errors) {
	if r.URL == "" {
		r.URL = DefaultRISLiveURL
	}
	if r.Client == "" {
		r.Client = DefaultRISLiveClient
	}
	if r.MinBackoff.Duration == 0 {
		r.MinBackoff.Duration = DefaultRISLiveMinBackoff
	}
	if r.MaxBackoff.Duration == 0 {
		r.MaxBackoff.Duration = max(DefaultRISLiveMaxBackoff, r.MinBackoff.Duration)
	}
	if r.PingInterval.Duration == 0 {
		r.PingInterval.Duration = DefaultRISLivePingInterval
	}
	if err := checkRISLiveURL(r.URL); err != "" {
		e.add("ris_live.url: %q %s", r.URL, err)
	}
	if len(r.Client) > 64 || !labelSafe(r.Client) {
		e.add("ris_live.client: %q may hold only letters, digits, '-', '_' and '.' (at most 64)", r.Client)
	}
	if len(r.Host) > 64 || !labelSafe(r.Host) {
		e.add("ris_live.host: %q is not a collector name like \"rrc00\"", r.Host)
	}
	if r.MinPeers < 0 || r.MinPeers > MaxRISLiveMinPeers {
		e.add("ris_live.min_peers: %d is outside 0..%d (0: half of the RIS peers seen carrying the prefix, at least 2)", r.MinPeers, MaxRISLiveMinPeers)
	}
	okMin := risBackoffRange.check(e, "ris_live.min_backoff", r.MinBackoff.Duration)
	okMax := risBackoffRange.check(e, "ris_live.max_backoff", r.MaxBackoff.Duration)
	if okMin && okMax && r.MaxBackoff.Duration < r.MinBackoff.Duration {
		e.add("ris_live.max_backoff: %s is below min_backoff %s", shortDuration(r.MaxBackoff.Duration), shortDuration(r.MinBackoff.Duration))
	}
	risPingRange.check(e, "ris_live.ping_interval", r.PingInterval.Duration)
}

// checkRISLiveURL returns what is wrong with a RIS Live URL, or "".
func checkRISLiveURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "is not a URL"
	}
	switch {
	case u.User != nil:
		return "must not carry credentials"
	case u.Host == "" || u.Hostname() == "":
		return "has no host"
	case u.Fragment != "":
		return "must not have a fragment"
	case strings.EqualFold(u.Scheme, "wss"):
		return ""
	case strings.EqualFold(u.Scheme, "ws"):
		if IsLoopbackHost(u.Hostname()) {
			return ""
		}
		return "uses ws:// (unencrypted) to a host that is not loopback; use wss://"
	}
	return "must be a wss:// URL (ws:// only to a loopback host)"
}

// RISLiveEnabled reports whether the [ris_live] section is present.
func (c *Config) RISLiveEnabled() bool { return c.RISLive != nil }

// RISLiveFeed names the RIS Live connection as a feed (in the API, in
// feed_lost incidents and in its RIS peers' feed).
const RISLiveFeed = "ris_live"

// FeedLabel is how evidence names the RIS Live connection: the URL's
// host ("ris-live.ripe.net").
func (r RISLive) FeedLabel() string {
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" {
		return r.URL
	}
	return u.Host
}
