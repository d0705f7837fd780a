package bgp

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/reachmon/reachmon/internal/model"
)

// Watch is what the feed imports, apart from nameserver addresses, which
// arrive at run time (Feed.SetNameserverAddrs).
type Watch struct {
	// Prefixes are watched with all their more-specifics.
	Prefixes []model.WatchedPrefix
	// Resolvers maps a configured resolver name to its address; every
	// route covering the address is watched.
	Resolvers map[string]netip.Addr
	// Nameservers maps a zone (FQDN) to the authoritative server addresses
	// known before any discovery: those configured explicitly. Discovery
	// replaces a zone's set at run time (Feed.SetNameserverAddrs).
	Nameservers map[string][]netip.Addr
}

// watchSet is an immutable compiled watched set. A prefix is watched when
// it lies inside a configured prefix (more-specifics included) or covers a
// watched address (any supernet of it, /1 and longer).
type watchSet struct {
	gen      uint64
	prefixes map[netip.Prefix]model.WatchedPrefix
	lens4    []int // configured prefix lengths, longest first
	lens6    []int
	// addrs maps each watched address to its roles.
	addrs map[netip.Addr][]model.AddressRole
	// supernets maps every supernet of a watched address to the addresses
	// it covers.
	supernets map[netip.Prefix][]netip.Addr
}

// policyEntry is one prefix-set entry of GoBGP's import policy.
type policyEntry struct {
	prefix   netip.Prefix
	min, max int
}

func compileWatch(gen uint64, w Watch, ns map[string][]netip.Addr) *watchSet {
	ws := &watchSet{
		gen:       gen,
		prefixes:  make(map[netip.Prefix]model.WatchedPrefix, len(w.Prefixes)),
		addrs:     make(map[netip.Addr][]model.AddressRole),
		supernets: make(map[netip.Prefix][]netip.Addr),
	}
	l4, l6 := map[int]bool{}, map[int]bool{}
	for _, p := range w.Prefixes {
		pfx := p.Prefix.Masked()
		if !pfx.IsValid() {
			continue
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
		}
		p.Prefix = pfx
		ws.prefixes[pfx] = p
		if pfx.Addr().Is4() {
			l4[pfx.Bits()] = true
		} else {
			l6[pfx.Bits()] = true
		}
	}
	ws.lens4, ws.lens6 = sortedDesc(l4), sortedDesc(l6)
	addRole := func(a netip.Addr, r model.AddressRole) {
		a = a.Unmap().WithZone("")
		if !a.IsValid() || a.IsUnspecified() {
			return
		}
		if !slices.Contains(ws.addrs[a], r) {
			ws.addrs[a] = append(ws.addrs[a], r)
		}
	}
	for name, a := range w.Resolvers {
		addRole(a, model.AddressRole{Kind: "resolver", Name: name})
	}
	for zone, as := range ns {
		for _, a := range as {
			addRole(a, model.AddressRole{Kind: "nameserver", Name: zone})
		}
	}
	for a, roles := range ws.addrs {
		sort.Slice(roles, func(i, j int) bool {
			if roles[i].Kind != roles[j].Kind {
				return roles[i].Kind < roles[j].Kind
			}
			return roles[i].Name < roles[j].Name
		})
		for l := 1; l <= a.BitLen(); l++ {
			q, _ := a.Prefix(l)
			ws.supernets[q] = append(ws.supernets[q], a)
		}
	}
	return ws
}

func sortedDesc(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for l := range m {
		out = append(out, l)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out
}

// container returns the most specific configured prefix holding p.
func (ws *watchSet) container(p netip.Prefix) (model.WatchedPrefix, bool) {
	lens := ws.lens6
	if p.Addr().Is4() {
		lens = ws.lens4
	}
	for _, l := range lens {
		if l > p.Bits() {
			continue
		}
		q, _ := p.Addr().Prefix(l)
		if w, ok := ws.prefixes[q]; ok {
			return w, true
		}
	}
	return model.WatchedPrefix{}, false
}

// watched reports whether p is imported. It must agree with entries().
func (ws *watchSet) watched(p netip.Prefix) bool {
	if _, ok := ws.supernets[p]; ok {
		return true
	}
	_, ok := ws.container(p)
	return ok
}

// covers returns the watched addresses inside p.
func (ws *watchSet) covers(p netip.Prefix) []netip.Addr { return ws.supernets[p] }

// entries compiles the set into GoBGP prefix-set entries. GoBGP matches a
// route against the longest entry prefix containing it only, so a
// supernet of an address that lies inside a configured prefix gets the
// configured prefix's more-specific range; elsewhere it is exact.
func (ws *watchSet) entries() map[policyEntry]bool {
	out := make(map[policyEntry]bool)
	for p := range ws.prefixes {
		out[policyEntry{p, p.Bits(), p.Addr().BitLen()}] = true
	}
	for q := range ws.supernets {
		if _, ok := ws.container(q); ok {
			out[policyEntry{q, q.Bits(), q.Addr().BitLen()}] = true
		} else {
			out[policyEntry{q, q.Bits(), q.Bits()}] = true
		}
	}
	return out
}

// widens reports whether ws watches a route old did not: a new
// configured prefix or a new watched address.
func (ws *watchSet) widens(old *watchSet) bool {
	for p := range ws.prefixes {
		if _, ok := old.container(p); !ok {
			return true
		}
	}
	for a := range ws.addrs {
		if _, ok := old.addrs[a]; !ok {
			return true
		}
	}
	return false
}

// expectedOrigin reports whether origin is acceptable for p: true when no
// configured prefix holds p or it lists no origins.
func (ws *watchSet) expectedOrigin(p netip.Prefix, origin uint32) (watched model.WatchedPrefix, ok bool) {
	w, found := ws.container(p)
	if !found || len(w.Origins) == 0 {
		return w, true
	}
	return w, slices.Contains(w.Origins, origin)
}
