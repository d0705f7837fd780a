package bgp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"

	"github.com/reachmon/reachmon/internal/config"
)

// NeighborChanges says what Reconfigure did to the sessions: neighbors
// added, removed, and reset because their settings (or password) changed.
// Sessions of the neighbors in none of these were left alone.
type NeighborChanges struct {
	Added, Removed, Reset []string
}

// Empty reports whether no neighbor changed.
func (c NeighborChanges) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Reset) == 0
}

// Reconfigure applies a reloaded configuration to the running feed:
//
//   - neighbors: one that is new is added, one that is gone is removed
//     (with its routes, which are forgotten rather than withdrawn), and
//     one whose settings or password changed is deleted and added again,
//     which resets its session alone; every other session stays up.
//   - the statically watched set (prefixes, resolvers, configured
//     authoritative servers, w): the import policy changes in place, as
//     for discovered nameservers (SetNameserverAddrs); the nameserver
//     addresses of zones not in zones (FQDNs) are dropped.
//
// Only the embedded speaker's neighbors count (full_table neighbors are
// the session Manager's, which adds them through a Source): a neighbor
// that gains full_table is removed here, one that loses it is added.
//
// The speaker's own settings (asn, router_id, listen port and addresses,
// initial_sync_timeout, and who owns the listener: config.BGP's
// FullTableListener) are not changed: they need a restart. A password
// that cannot be read refuses the whole change before anything is done.
func (f *Feed) Reconfigure(neighbors []config.Neighbor, w Watch, zones []string) (NeighborChanges, error) {
	var ch NeighborChanges
	neighbors = embeddedNeighbors(neighbors)
	if !f.cfg.Enabled() {
		// No embedded speaker: only the watched set other sources filter
		// with changes.
		f.watchMu.Lock()
		defer f.watchMu.Unlock()
		return ch, f.setStaticLocked(w, zones)
	}
	pass := map[string]string{}
	var errs []error
	for i, n := range neighbors {
		pw, err := n.Password()
		if err != nil {
			errs = append(errs, fmt.Errorf("bgp.neighbor[%d] (%s): password: %w", i, n.Name(), err))
		}
		pass[n.Name()] = pw
	}
	if err := errors.Join(errs...); err != nil {
		return ch, config.Invalid(fmt.Errorf("bgp: %w", err))
	}

	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	old := map[string]config.Neighbor{}
	for _, n := range f.neighbors {
		old[n.Name()] = n
	}
	want := map[string]config.Neighbor{}
	for _, n := range neighbors {
		want[n.Name()] = n
	}
	for _, name := range slices.Sorted(maps.Keys(old)) {
		n, ok := want[name]
		switch {
		case !ok:
			ch.Removed = append(ch.Removed, name)
		case !reflect.DeepEqual(n, old[name]) || pass[name] != f.pass[name]:
			ch.Reset = append(ch.Reset, name)
		}
	}
	for _, n := range neighbors {
		if _, ok := old[n.Name()]; !ok {
			ch.Added = append(ch.Added, n.Name())
		}
	}

	// The state first: a removed peer's events arriving later are ignored
	// (it has no state), an added peer's find its state.
	f.mu.Lock()
	for _, name := range ch.Removed {
		if p := f.st.peers[name]; p != nil && p.embedded {
			f.st.removePeer(name)
		}
	}
	for _, name := range ch.Reset {
		f.st.setPeerConfig(want[name])
	}
	for _, name := range ch.Added {
		f.st.addPeer(want[name])
	}
	f.mu.Unlock()

	var err error
	if f.srv != nil {
		bg := context.Background()
		for _, name := range append(slices.Clone(ch.Removed), ch.Reset...) {
			if e := deleteNeighbor(bg, f.srv, old[name]); e != nil {
				err = errors.Join(err, e)
			}
		}
		for _, name := range append(slices.Clone(ch.Reset), ch.Added...) {
			if e := addNeighbor(bg, f.srv, want[name], pass[name]); e != nil {
				err = errors.Join(err, e)
			}
		}
	}
	f.neighbors = slices.Clone(neighbors)
	f.pass = pass

	if e := f.setStaticLocked(w, zones); e != nil {
		err = errors.Join(err, e)
	}
	if !ch.Empty() {
		f.log.Info("bgp neighbors changed", "added", ch.Added, "removed", ch.Removed, "reset", ch.Reset)
	}
	return ch, err
}

// setStaticLocked takes a reloaded statically watched set and drops the
// nameserver addresses of zones no longer configured. The caller holds
// watchMu.
func (f *Feed) setStaticLocked(w Watch, zones []string) error {
	keep := map[string]bool{}
	for _, z := range zones {
		keep[z] = true
	}
	for z := range f.ns {
		if !keep[z] {
			delete(f.ns, z)
		}
	}
	for z, addrs := range w.Nameservers {
		if norm := normAddrs(addrs); len(norm) > 0 {
			f.ns[z] = norm
		}
	}
	f.static = w
	return f.applyWatchLocked()
}

// addPeer gives a neighbor added by a reload its (down) state.
func (s *state) addPeer(n config.Neighbor) {
	if p := s.peers[n.Name()]; p != nil {
		if p.embedded {
			return
		}
		// A neighbor the reload moved from the full_table speaker to the
		// embedded one: it starts afresh (the source's later RemovePeer
		// leaves an embedded peer alone).
		s.removePeer(n.Name())
	}
	p := newPeerState(n)
	s.peers[p.name] = p
	s.order = append(s.order, p.name)
	s.m.peerUp(p.name, false)
}

// setPeerConfig takes a changed neighbor's settings; its session is reset
// by the caller, which GoBGP reports as usual (down, then up and synced).
func (s *state) setPeerConfig(n config.Neighbor) {
	p := s.peers[n.Name()]
	if p == nil || !p.embedded {
		s.addPeer(n)
		return
	}
	np := newPeerState(n)
	p.asn, p.desc, p.families = np.asn, np.desc, np.families
}

// removePeer forgets a neighbor a reload removed, with its routes: they
// are neither withdrawn nor unknown, nobody carries them any more. The
// covers of the watched addresses are recomputed as state only (no cover
// event: losing a peer by configuration is no news about the routes).
func (s *state) removePeer(name string) {
	p := s.peers[name]
	if p == nil {
		return
	}
	delete(s.peers, name)
	s.order = slices.DeleteFunc(s.order, func(n string) bool { return n == name })
	gone := map[netip.Prefix]bool{}
	for pfx := range p.routes {
		gone[pfx] = true
	}
	for pfx := range p.lost {
		gone[pfx] = true
	}
	for pfx := range gone {
		s.prefixChanged(pfx)
	}
	s.m.forgetPeer(name)
	for a := range s.addrs {
		s.recomputeAddr(a, causeInitial)
	}
}
