package rpki

import (
	"net/netip"
	"slices"
)

// Watch is the set of watched prefixes and addresses a VRP must overlap
// to matter: a VRP matters when it covers a watched prefix or address
// (it takes part in validating every route inside it) or lies inside a
// watched prefix (it takes part in validating the more-specifics). Every
// route the evaluator validates is inside a watched prefix or covers a
// watched address, so the VRPs covering it are among these.
type Watch struct {
	// exact are the watched prefixes (addresses as /32, /128) and
	// lens4/lens6 their lengths; above every prefix that some watched
	// prefix is inside (its ancestors, itself included).
	exact        map[netip.Prefix]bool
	lens4, lens6 []int
	above        map[netip.Prefix]bool
}

// NewWatch builds the set from watched prefixes and addresses.
func NewWatch(prefixes []netip.Prefix, addrs []netip.Addr) *Watch {
	w := &Watch{exact: map[netip.Prefix]bool{}, above: map[netip.Prefix]bool{}}
	add := func(p netip.Prefix) {
		if !p.IsValid() || w.exact[p] {
			return
		}
		w.exact[p] = true
		if p.Addr().Is4() {
			w.lens4 = append(w.lens4, p.Bits())
		} else {
			w.lens6 = append(w.lens6, p.Bits())
		}
		for l := p.Bits(); l >= 0; l-- {
			q, _ := p.Addr().Prefix(l)
			if w.above[q] {
				break
			}
			w.above[q] = true
		}
	}
	for _, p := range prefixes {
		add(p.Masked())
	}
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if a.IsValid() {
			add(netip.PrefixFrom(a, a.BitLen()))
		}
	}
	for _, l := range []*[]int{&w.lens4, &w.lens6} {
		slices.Sort(*l)
		*l = slices.Compact(*l)
	}
	return w
}

// Relevant reports whether a VRP for p matters.
func (w *Watch) Relevant(p netip.Prefix) bool {
	if w.above[p] {
		return true // p covers (or is) a watched prefix or address
	}
	lens := w.lens4
	if !p.Addr().Is4() {
		lens = w.lens6
	}
	for _, l := range lens {
		if l > p.Bits() {
			break
		}
		if q, _ := p.Addr().Prefix(l); w.exact[q] {
			return true // p is inside a watched prefix
		}
	}
	return false
}

// Len is the number of watched prefixes and addresses.
func (w *Watch) Len() int { return len(w.exact) }
