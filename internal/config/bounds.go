package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Duration bounds (docs/configuration.md, "Duration bounds").
//
// The floor of periods and deadlines is a millisecond: shorter is a unit
// mistake ("30us" for "30s") that makes the scheduler spin and every query
// time out. It is not higher because the outage lab and the benchmarks
// probe servers on loopback every few milliseconds to a second (the peer
// benchmark's fastest step is 2,640 checks at 512,000 checks/s: a 5 ms
// interval and timeout).
//
// The ceilings keep reachmon monitoring (a zone probed, or its servers
// rediscovered, less than daily is not being watched; a DNS answer later
// than a minute is no answer) and every sum of durations far from
// overflowing time.Duration (a discovery's deadline is 4 × timeout).
const (
	MinPeriod = time.Millisecond
	// MaxPeriod bounds the probe, discovery and DS-check periods and the
	// evaluator's waits and graces.
	MaxPeriod = 24 * time.Hour
	// MaxTimeout bounds probe.timeout.
	MaxTimeout = time.Minute
	// MaxRetention bounds evaluate.keep_resolved and the horizon of
	// evaluate.signature_warning (RRSIGs are commonly valid for 30 days).
	MaxRetention = 30 * 24 * time.Hour
	// MaxBGPWait bounds bgp.initial_sync_timeout and connect_retry.
	MaxBGPWait = time.Hour
)

// durationRange is the values a duration key accepts. unset, when not
// empty, says what 0 (the key left out) means; 0 is then accepted too.
type durationRange struct {
	min, max time.Duration
	unset    string
}

var (
	periodRange    = durationRange{min: MinPeriod, max: MaxPeriod}
	timeoutRange   = durationRange{min: MinPeriod, max: MaxTimeout}
	waitRange      = durationRange{min: 0, max: MaxPeriod}
	retentionRange = durationRange{min: MinPeriod, max: MaxRetention}
)

// check adds an error naming key when d is outside the range and reports
// whether it is inside.
func (r durationRange) check(e *Errors, key string, d time.Duration) bool {
	if (d == 0 && r.unset != "") || (d >= r.min && d <= r.max) {
		return true
	}
	note := ""
	if r.unset != "" {
		note = " (0: " + r.unset + ")"
	}
	e.add("%s: %s is outside %s..%s%s", key, shortDuration(d), shortDuration(r.min), shortDuration(r.max), note)
	return false
}

// shortDuration writes d as time.Duration.String does, without the
// trailing zero units ("24h", not "24h0m0s").
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// CheckListen checks an HTTP listen address: host:port, the host an IP
// address, "localhost" or empty (every address), the port a number in
// 0..65535 (0: any free port). Host names are refused: reachmon would
// depend on the DNS it monitors to start.
func CheckListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port (%v)", s, err)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: the host must be an IP address, localhost or empty (every address), not %q", s, host)
		}
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: the port must be a number in 0..65535, not %q", s, port)
	}
	return nil
}
