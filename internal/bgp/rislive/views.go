package rislive

import (
	"fmt"
	"net/netip"
	"slices"
)

// Peer identifies one RIS peer view: a peer of one collector. The same
// router peering with two collectors is two views.
type Peer struct {
	Host string
	Addr netip.Addr
}

// Name is the view's key: "rrc00/192.0.2.1".
func (p Peer) Name() string { return p.Host + "/" + p.Addr.String() }

// Description is how evidence names the view.
func Description(host string, peer netip.Addr, asn uint32) string {
	return fmt.Sprintf("RIS %s peer %s (AS%d)", host, peer, asn)
}

// Quorum is how many RIS peers must have withdrawn a prefix, of the
// carried peers seen carrying it, for the withdrawal to count: minPeers
// when set (at most carried: when fewer peers ever carried it, all of
// them), else half of carried (rounded up) and at least
// DefaultQuorumFloor (again at most carried).
func Quorum(minPeers, carried int) int {
	q := minPeers
	if q <= 0 {
		q = max((carried+1)/2, DefaultQuorumFloor)
	}
	return min(q, carried)
}

// DefaultQuorumFloor is the least default quorum (when more peers carried
// the prefix): one RIS peer's withdrawal is its own routing, not news.
const DefaultQuorumFloor = 2

// Views is what reachmon learns of watched prefixes from RIS Live: which
// RIS peers were seen carrying each prefix (and with which origin) and
// which of those withdrew it. RIS Live streams changes only, so a prefix
// is known at a peer from the first UPDATE of it the peer sends; a
// withdrawal from a peer never seen carrying the prefix is not counted.
// It is owned by one goroutine.
type Views struct {
	minPeers int
	routes   map[netip.Prefix]map[Peer]*pathAt
	// Dropped counts announcements of new prefixes refused because
	// MaxPrefixesTracked prefixes are tracked already.
	Dropped int
}

// MaxPrefixesTracked bounds the distinct prefixes Views tracks (watched
// prefixes, their more-specifics, routes covering watched addresses): a
// flood of more-specifics cannot grow it without limit. An announcement
// of a new prefix beyond it is dropped and counted in Dropped.
const MaxPrefixesTracked = 1 << 16

type pathAt struct {
	carrying bool
	origin   uint32
	asn      uint32
	path     []uint32
	nextHop  netip.Addr
}

// NewViews returns empty views with the withdrawal quorum minPeers (0:
// the default, see Quorum).
func NewViews(minPeers int) *Views {
	return &Views{minPeers: minPeers, routes: map[netip.Prefix]map[Peer]*pathAt{}}
}

// Apply records an UPDATE's prefixes that keep reports as interesting
// (nil: all) and returns the prefixes it took: the announced ones it
// tracks and the withdrawn ones the peer was seen carrying.
func (v *Views) Apply(u Update, keep func(netip.Prefix) bool) []netip.Prefix {
	p := Peer{Host: u.Host, Addr: u.Peer}
	var changed []netip.Prefix
	for _, a := range u.Announced {
		if keep != nil && !keep(a.Prefix) {
			continue
		}
		m := v.routes[a.Prefix]
		if m == nil {
			if len(v.routes) >= MaxPrefixesTracked {
				v.Dropped++
				continue
			}
			m = map[Peer]*pathAt{}
			v.routes[a.Prefix] = m
		}
		m[p] = &pathAt{carrying: true, origin: u.Origin, asn: u.PeerASN, path: u.Path, nextHop: a.NextHop}
		changed = append(changed, a.Prefix)
	}
	for _, w := range u.Withdrawn {
		st := v.routes[w][p]
		if st == nil || !st.carrying {
			continue // never seen carrying it: nothing to withdraw
		}
		st.carrying = false
		changed = append(changed, w)
	}
	return changed
}

// Forget drops what is known of prefixes keep no longer reports as
// interesting.
func (v *Views) Forget(keep func(netip.Prefix) bool) {
	for p := range v.routes {
		if !keep(p) {
			delete(v.routes, p)
		}
	}
}

// Withdrawal says how many of the RIS peers seen carrying pfx withdrew it,
// and whether that reaches the quorum.
type Withdrawal struct {
	Prefix    netip.Prefix
	Withdrawn int
	Carried   int
	Quorum    int
}

// Counts reports whether the withdrawal counts.
func (w Withdrawal) Counts() bool { return w.Carried > 0 && w.Withdrawn >= w.Quorum }

// String is the evidence: "withdrawn at 8 of 10 RIS peers".
func (w Withdrawal) String() string {
	return fmt.Sprintf("withdrawn at %d of %d RIS peers", w.Withdrawn, w.Carried)
}

// Withdrawal returns pfx's withdrawal counts.
func (v *Views) Withdrawal(pfx netip.Prefix) Withdrawal {
	w := Withdrawal{Prefix: pfx}
	for _, st := range v.routes[pfx] {
		w.Carried++
		if !st.carrying {
			w.Withdrawn++
		}
	}
	w.Quorum = Quorum(v.minPeers, w.Carried)
	return w
}

// OriginCount is one origin AS of a prefix and how many RIS peers carry
// the prefix with it.
type OriginCount struct {
	Origin uint32
	Peers  int
}

// Origins lists the origins RIS peers carry pfx with now, most peers
// first.
func (v *Views) Origins(pfx netip.Prefix) []OriginCount {
	n := map[uint32]int{}
	for _, st := range v.routes[pfx] {
		if st.carrying {
			n[st.origin]++
		}
	}
	out := make([]OriginCount, 0, len(n))
	for o, c := range n {
		out = append(out, OriginCount{o, c})
	}
	slices.SortFunc(out, func(a, b OriginCount) int {
		if a.Peers != b.Peers {
			return b.Peers - a.Peers
		}
		return int(int64(a.Origin) - int64(b.Origin))
	})
	return out
}

// Peers returns the RIS peer views seen for any prefix.
func (v *Views) Peers() []Peer {
	set := map[Peer]bool{}
	for _, m := range v.routes {
		for p := range m {
			set[p] = true
		}
	}
	out := make([]Peer, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Peer) int {
		if a.Host != b.Host {
			if a.Host < b.Host {
				return -1
			}
			return 1
		}
		return a.Addr.Compare(b.Addr)
	})
	return out
}

// Route is one RIS peer's last known route to a prefix.
type Route struct {
	Prefix  netip.Prefix
	Origin  uint32
	Path    []uint32
	NextHop netip.Addr
}

// Carried lists the routes peer is known to carry now.
func (v *Views) Carried(peer Peer) []Route {
	var out []Route
	for pfx, m := range v.routes {
		if st := m[peer]; st != nil && st.carrying {
			out = append(out, Route{Prefix: pfx, Origin: st.origin, Path: st.path, NextHop: st.nextHop})
		}
	}
	slices.SortFunc(out, func(a, b Route) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}

// Last returns peer's last known route to pfx, carried now or withdrawn.
func (v *Views) Last(peer Peer, pfx netip.Prefix) (Route, bool) {
	st := v.routes[pfx][peer]
	if st == nil {
		return Route{}, false
	}
	return Route{Prefix: pfx, Origin: st.origin, Path: st.path, NextHop: st.nextHop}, true
}
