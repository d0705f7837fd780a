package bgp

import (
	"net/netip"
	"slices"
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// BGP sources besides the embedded speaker (a BMP station, a RIS Live
// client) feed the same state: they add their peers at run time and hand
// the state what those peers announce and withdraw, through a Source.
// Everything a source hands over is already filtered to the watched set
// (Source.Watched) and in reachmon's types only.

// PeerSpec describes a peer a source adds at run time.
type PeerSpec struct {
	// Key names the peer in the state, in events, metrics and the API; it
	// must be unique across sources ("bmp edge1 192.0.2.1").
	Key string
	// Source is model.SourceBMP, model.SourceRISLive, ...
	Source string
	// Feed is the feed the peer is part of (a router's BMP session); its
	// loss is one feed_lost incident for all its peers.
	Feed string
	// Label is how evidence names the peer ("router edge1, peer
	// 192.0.2.1 (AS64500)").
	Label       string
	Description string
	ASN         uint32
	// Families are the unicast families (4, 6) whose End-of-RIB ends the
	// peer's initial table; none: both.
	Families []int
}

// Route is a source's announcement or withdrawal of one watched prefix
// by one peer.
type Route struct {
	Prefix   netip.Prefix
	Withdraw bool
	// Origin, ASPath and NextHop describe an announcement.
	Origin  uint32
	ASPath  []uint32
	NextHop netip.Addr
}

// Source is the handle a BGP source feeds the state through. Its methods
// may be called from any goroutine; they block while the feed's queue is
// full (backpressure on the source's connection, nothing is dropped) and
// return false once the feed has stopped.
type Source struct {
	f    *Feed
	name string
}

// NewSource registers a source (model.SourceBMP, ...): the feed then runs
// and reports BGP as enabled even without [[bgp.neighbor]]. Call it
// before Run.
func (f *Feed) NewSource(name string) *Source {
	f.srcMu.Lock()
	if !slices.Contains(f.sources, name) {
		f.sources = append(f.sources, name)
	}
	f.srcMu.Unlock()
	return &Source{f: f, name: name}
}

func (f *Feed) send(it item) bool {
	select {
	case <-f.done:
		return false
	default:
	}
	select {
	case f.in <- &it:
		return true
	case <-f.done:
		return false
	}
}

// Watched reports whether a route to p is of interest: a configured
// prefix or one of its more-specifics, or a route covering a watched
// address. A source drops every other route where it parses it.
func (s *Source) Watched(p netip.Prefix) bool { return s.f.watch.Load().watched(p) }

// WatchGeneration changes whenever the watched set does (discovery found
// new nameserver addresses, a reload): routes a source dropped before may
// be watched now.
func (s *Source) WatchGeneration() uint64 { return s.f.watch.Load().gen }

// WidenedAt is the WatchGeneration of the last change that made the
// watched set watch more (a new prefix, a new nameserver or resolver
// address): a source that dropped routes before it, and cannot ask for
// them again, has to learn them anew.
func (s *Source) WidenedAt() uint64 { return s.f.widened.Load() }

// AddPeer gives a peer its (down) state; adding a peer that exists
// changes its description.
func (s *Source) AddPeer(p PeerSpec) bool {
	if p.Source == "" {
		p.Source = s.name
	}
	return s.f.send(item{kind: itemAddPeer, t: s.f.now(), peer: p.Key, spec: &p})
}

// RemovePeer forgets a peer with its routes (neither withdrawn nor
// unknown: nobody carries them any more).
func (s *Source) RemovePeer(key string) bool {
	return s.f.send(item{kind: itemRemovePeer, t: s.f.now(), peer: key})
}

// PeerUp says the peer's session is established; its initial table
// follows (ended by EndOfRIB or the initial-sync timeout).
func (s *Source) PeerUp(key string, t time.Time) bool {
	return s.f.send(item{kind: itemPeer, t: t, peer: key, up: true, fromSource: true})
}

// PeerDown says the peer's session (or the feed carrying it) is lost: its
// routes become unknown, not withdrawn.
func (s *Source) PeerDown(key string, t time.Time, reason string) bool {
	return s.f.send(item{kind: itemPeer, t: t, peer: key, reason: reason, fromSource: true})
}

// Route hands over an announcement or withdrawal of a watched prefix.
func (s *Source) Route(key string, t time.Time, r Route) bool {
	s.Seen(key, t)
	it := item{kind: itemRoute, t: t, ws: s.f.watch.Load(), peer: key, prefix: r.Prefix.Masked(), withdraw: r.Withdraw, fromSource: true}
	if !r.Withdraw {
		it.route = route{origin: r.Origin, asPath: r.ASPath, nextHop: r.NextHop}
	}
	return s.f.send(it)
}

// EndOfRIB says the peer finished its initial table of family (4 or 6).
func (s *Source) EndOfRIB(key string, t time.Time, family int) bool {
	s.Seen(key, t)
	return s.f.send(item{kind: itemEOR, t: t, peer: key, family: family, fromSource: true})
}

// Seen records that the peer sent something (also routes that are not
// watched): its initial table is not complete before it has been quiet
// for the initial-sync timeout.
func (s *Source) Seen(key string, t time.Time) {
	s.f.seqMu.Lock()
	s.f.lastSeen[key] = t
	s.f.seqMu.Unlock()
}

// SetFeed records a feed's state (a router's BMP session: up, down,
// what its Initiation said). A change of Up is a model.FeedEvent; the
// peers of a feed that goes down must be reported down by the source.
func (s *Source) SetFeed(fd model.BGPFeed) bool {
	if fd.Source == "" {
		fd.Source = s.name
	}
	return s.f.send(item{kind: itemFeed, t: s.f.now(), feed: &fd})
}

// addSourcePeer gives a source's peer its (down) state.
func (s *state) addSourcePeer(sp PeerSpec) {
	p := s.peers[sp.Key]
	if p != nil && p.embedded {
		// A neighbor a reload moved from the embedded speaker to the
		// full_table one: it starts afresh as the source's peer.
		s.removePeer(sp.Key)
		p = nil
	}
	if p == nil {
		p = &peerState{name: sp.Key, routes: map[netip.Prefix]route{}, eor: map[int]bool{}}
		s.peers[p.name] = p
		s.order = append(s.order, p.name)
		s.m.peerUp(p.name, false)
	}
	p.asn, p.desc, p.source, p.label, p.feed = sp.ASN, sp.Description, sp.Source, sp.Label, sp.Feed
	p.families = slices.Clone(sp.Families)
	if len(p.families) == 0 {
		p.families = []int{4, 6}
	}
}

// setFeed records a feed's state; a change of its session is an event.
func (s *state) setFeed(t time.Time, fd model.BGPFeed) {
	old := s.feeds[fd.Feed]
	if old == nil {
		s.feedOrder = append(s.feedOrder, fd.Feed)
	}
	up := fd.State == "up"
	s.feeds[fd.Feed] = &fd
	if old == nil && !up || old != nil && (old.State == "up") == up {
		return // a feed known down from the start is no event: the evaluator's start grace judges it
	}
	if fd.Since.IsZero() {
		fd.Since = t
	}
	s.emit(model.FeedEvent{Time: t, Feed: fd.Feed, Source: fd.Source, Label: feedLabel(fd), Up: up, Reason: fd.Reason})
}

// feedLabel is how evidence names a feed: its Label, else its name and
// address.
func feedLabel(fd model.BGPFeed) string {
	if fd.Label != "" {
		return fd.Label
	}
	l := fd.Feed
	if fd.Address.IsValid() {
		l += " (" + fd.Address.String()
		if fd.Description != "" {
			l += ", " + fd.Description
		}
		l += ")"
	}
	return l
}

// feedViews lists the feeds with how many of their peers are up.
func (s *state) feedViews() []model.BGPFeed {
	out := make([]model.BGPFeed, 0, len(s.feedOrder))
	for _, name := range s.feedOrder {
		fd := *s.feeds[name]
		fd.Peers = 0
		for _, p := range s.peers {
			if p.feed == name && p.up {
				fd.Peers++
			}
		}
		out = append(out, fd)
	}
	return out
}

// Feeds returns the sources' feeds (routers' BMP sessions).
func (f *Feed) Feeds() []model.BGPFeed {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.feedViews()
}
