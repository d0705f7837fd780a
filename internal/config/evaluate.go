package config

import (
	"fmt"
	"path"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// Evaluate configures the evaluator: hysteresis, grace periods, control
// checks and silences. Every key is optional.
//
//	[evaluate]
//	open_rounds = 3           # consecutive failing probes before a server counts as failing
//	resolve_rounds = 3        # consecutive good probes before it counts as recovered
//	open_after = "30s"        # a DNS condition must hold this long to open an incident
//	resolve_after = "2m"      # ... and be gone this long to resolve it
//	bgp_open_after = "0s"     # BGP-caused DNS outages and hijacks: 0 opens at once (early warning); a withdrawn prefix alone waits open_after (at least 2s)
//	bgp_resolve_after = "5m"  # a flapping prefix stays one incident
//	min_peers = 2             # peers that must withdraw a prefix before it counts (all peers always count)
//	start_grace = "2m"        # no BGP verdicts this long after start
//	peer_grace = "5m"         # nor while a session that came up has not synced, at most this long
//	fade_off = "10m"          # a condition that never reached its threshold is forgotten after this long
//	keep_resolved = "24h"     # resolved incidents stay in the recent list this long
//	control_zones = ["example.com"]  # configured zones that must always resolve: when they all fail, the vantage is down
//	signature_warning = "72h" # warn when an RRSIG served by the authoritative servers expires within this long
//	serial_spread_after = "1h" # warn when the authoritative servers' SOA serials stay apart this long ("0s": never)
//
//	[[evaluate.silence]]      # matching incidents are recorded, not paged
//	kinds = ["prefix_withdrawn"]     # default: every kind
//	subjects = ["192.0.2.0/24", "*.example.com"]  # path.Match patterns; default: every subject
//	start = 2025-07-14T22:00:00Z     # default: always
//	end = 2025-07-15T02:00:00Z
//	reason = "planned renumbering"
type Evaluate struct {
	OpenRounds      int      `toml:"open_rounds"`
	ResolveRounds   int      `toml:"resolve_rounds"`
	OpenAfter       Duration `toml:"open_after"`
	ResolveAfter    Duration `toml:"resolve_after"`
	BGPOpenAfter    Duration `toml:"bgp_open_after"`
	BGPResolveAfter Duration `toml:"bgp_resolve_after"`
	MinPeers        int      `toml:"min_peers"`
	StartGrace      Duration `toml:"start_grace"`
	PeerGrace       Duration `toml:"peer_grace"`
	FadeOff         Duration `toml:"fade_off"`
	KeepResolved    Duration `toml:"keep_resolved"`
	ControlZones    []string `toml:"control_zones"`
	// SignatureWarning is the forecast horizon of dnssec_expiry.
	SignatureWarning Duration `toml:"signature_warning"`
	// SerialSpreadAfter is how long SOA serials may differ; 0 disables.
	SerialSpreadAfter Duration  `toml:"serial_spread_after"`
	Silence           []Silence `toml:"silence"`
}

// Silence is a silence or maintenance window: incidents it matches are
// recorded and shown but never paged.
type Silence struct {
	// Kinds are incident kinds (model.IncidentKind values); empty: all.
	Kinds []string `toml:"kinds"`
	// Subjects are path.Match patterns matched against the incident's
	// subject and affected names; empty: all.
	Subjects []string  `toml:"subjects"`
	Start    time.Time `toml:"start"`
	End      time.Time `toml:"end"`
	Reason   string    `toml:"reason"`
}

// Evaluator defaults.
const (
	DefaultOpenRounds      = 3
	DefaultResolveRounds   = 3
	DefaultOpenAfter       = 30 * time.Second
	DefaultResolveAfter    = 2 * time.Minute
	DefaultBGPOpenAfter    = 0
	DefaultBGPResolveAfter = 5 * time.Minute
	DefaultMinPeers        = 2
	DefaultStartGrace      = 2 * time.Minute
	DefaultPeerGrace       = 5 * time.Minute
	DefaultFadeOff         = 10 * time.Minute
	DefaultKeepResolved    = 24 * time.Hour
	// DefaultSignatureWarning leaves three days (a weekend) to re-sign.
	DefaultSignatureWarning = 72 * time.Hour
	// DefaultSerialSpreadAfter: NOTIFY and IXFR bring secondaries in step
	// within seconds; an hour apart means transfers are failing.
	DefaultSerialSpreadAfter = time.Hour
)

// DefaultEvaluate returns the evaluator settings used for keys a file
// leaves out.
func DefaultEvaluate() Evaluate {
	return Evaluate{
		OpenRounds:      DefaultOpenRounds,
		ResolveRounds:   DefaultResolveRounds,
		OpenAfter:       Duration{DefaultOpenAfter},
		ResolveAfter:    Duration{DefaultResolveAfter},
		BGPOpenAfter:    Duration{DefaultBGPOpenAfter},
		BGPResolveAfter: Duration{DefaultBGPResolveAfter},
		MinPeers:        DefaultMinPeers,
		StartGrace:      Duration{DefaultStartGrace},
		PeerGrace:       Duration{DefaultPeerGrace},
		FadeOff:         Duration{DefaultFadeOff},
		KeepResolved:    Duration{DefaultKeepResolved},

		SignatureWarning:  Duration{DefaultSignatureWarning},
		SerialSpreadAfter: Duration{DefaultSerialSpreadAfter},
	}
}

// Active reports whether the silence covers t.
func (s Silence) Active(t time.Time) bool {
	return (s.Start.IsZero() || !t.Before(s.Start)) && (s.End.IsZero() || t.Before(s.End))
}

// Matches reports whether the silence covers an incident of kind about
// subject (or any of names) at t.
func (s Silence) Matches(kind model.IncidentKind, subject string, names []string, t time.Time) bool {
	if !s.Active(t) {
		return false
	}
	if len(s.Kinds) > 0 {
		found := false
		for _, k := range s.Kinds {
			if k == string(kind) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if len(s.Subjects) == 0 {
		return true
	}
	for _, p := range s.Subjects {
		if ok, _ := path.Match(p, subject); ok {
			return true
		}
		for _, n := range names {
			if ok, _ := path.Match(p, n); ok {
				return true
			}
		}
	}
	return false
}

// validate checks the section; zones holds the FQDNs of the configured
// zones (for control_zones), so call it after the [[zone]] entries.
func (v *Evaluate) validate(zones map[string]int, e *Errors) {
	if v.OpenRounds < 1 || v.OpenRounds > 100 {
		e.add("evaluate.open_rounds: %d is outside 1..100", v.OpenRounds)
	}
	if v.ResolveRounds < 1 || v.ResolveRounds > 100 {
		e.add("evaluate.resolve_rounds: %d is outside 1..100", v.ResolveRounds)
	}
	waitRange.check(e, "evaluate.open_after", v.OpenAfter.Duration)
	waitRange.check(e, "evaluate.resolve_after", v.ResolveAfter.Duration)
	waitRange.check(e, "evaluate.bgp_open_after", v.BGPOpenAfter.Duration)
	waitRange.check(e, "evaluate.bgp_resolve_after", v.BGPResolveAfter.Duration)
	waitRange.check(e, "evaluate.start_grace", v.StartGrace.Duration)
	waitRange.check(e, "evaluate.peer_grace", v.PeerGrace.Duration)
	periodRange.check(e, "evaluate.fade_off", v.FadeOff.Duration)
	retentionRange.check(e, "evaluate.keep_resolved", v.KeepResolved.Duration)
	retentionRange.check(e, "evaluate.signature_warning", v.SignatureWarning.Duration)
	waitRange.check(e, "evaluate.serial_spread_after", v.SerialSpreadAfter.Duration)
	if v.MinPeers < 1 {
		e.add("evaluate.min_peers: %d must be at least 1", v.MinPeers)
	}
	for i, c := range v.ControlZones {
		f, err := FQDN(c)
		_, known := zones[f]
		switch {
		case err != nil:
			e.add("evaluate.control_zones[%d]: %v", i, err)
		case !known:
			e.add("evaluate.control_zones[%d]: %q is not a configured [[zone]]", i, c)
		}
	}
	for i, s := range v.Silence {
		key := fmt.Sprintf("evaluate.silence[%d]", i)
		for j, k := range s.Kinds {
			if !validKind(k) {
				e.add("%s.kinds[%d]: %q is not an incident kind (%s)", key, j, k, kindList())
			}
		}
		for j, p := range s.Subjects {
			if p == "" {
				e.add("%s.subjects[%d]: must not be empty", key, j)
			} else if _, err := path.Match(p, ""); err != nil {
				e.add("%s.subjects[%d]: %q is not a valid pattern", key, j, p)
			}
		}
		if !s.Start.IsZero() && !s.End.IsZero() && !s.End.After(s.Start) {
			e.add("%s.end: %s is not after start %s", key, s.End.Format(time.RFC3339), s.Start.Format(time.RFC3339))
		}
	}
}

func validKind(k string) bool {
	for _, x := range model.IncidentKinds {
		if string(x) == k {
			return true
		}
	}
	return false
}

func kindList() string {
	s := ""
	for i, k := range model.IncidentKinds {
		if i > 0 {
			s += ", "
		}
		s += string(k)
	}
	return s
}
