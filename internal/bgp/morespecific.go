package bgp

import "net/netip"

// DefaultMaxMoreSpecifics bounds the distinct more-specifics of one
// configured prefix that the feed tracks (Options.MaxMoreSpecifics):
// beyond it a new more-specific is dropped (no state, no event) and
// counted in reachmon_bgp_more_specifics_overflow_total{prefix}, so that a
// flood of more-specifics (a hijack of every /24 of a /8, a leak) cannot
// grow the feed's and the evaluator's memory without limit. Routes
// covering a watched nameserver or resolver address are always tracked.
const DefaultMaxMoreSpecifics = 4096

// admitMoreSpecific reports whether a new route pfx may be tracked: the
// configured prefixes themselves, routes covering a watched address and
// prefixes some peer already carries always are; another more-specific of
// a configured prefix is while fewer than maxMS distinct ones are
// carried (or held as lost) by the peers.
func (s *state) admitMoreSpecific(pfx netip.Prefix) bool {
	w, ok := s.ws.container(pfx)
	if !ok || w.Prefix == pfx || s.maxMS <= 0 {
		return true
	}
	if _, covers := s.ws.supernets[pfx]; covers {
		return true
	}
	set := s.ms[w.Prefix]
	if set[pfx] {
		return true
	}
	if len(set) >= s.maxMS {
		// Forget those no peer carries any more, then look again.
		for p := range set {
			if !s.carried(p) {
				delete(set, p)
			}
		}
	}
	if len(set) >= s.maxMS {
		s.m.moreSpecificOverflow(w.Prefix)
		if !s.msWarned[w.Prefix] && s.log != nil {
			s.msWarned[w.Prefix] = true
			s.log.Warn("bgp: more-specifics of a watched prefix beyond the bound are dropped",
				"prefix", w.Prefix, "bound", s.maxMS, "first_dropped", pfx)
		}
		return false
	}
	if set == nil {
		set = map[netip.Prefix]bool{}
		s.ms[w.Prefix] = set
	}
	set[pfx] = true
	return true
}

// carried reports whether some peer carries pfx or holds it as lost.
func (s *state) carried(pfx netip.Prefix) bool {
	for _, p := range s.peers {
		if _, ok := p.routes[pfx]; ok {
			return true
		}
		if _, ok := p.lost[pfx]; ok {
			return true
		}
	}
	return false
}

// pruneMoreSpecifics drops the sets of prefixes no longer configured.
func (s *state) pruneMoreSpecifics() {
	for w := range s.ms {
		if _, ok := s.ws.prefixes[w]; !ok {
			delete(s.ms, w)
		}
	}
}
