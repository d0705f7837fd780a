package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/bgp/rislive"
	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

// RISLiveFeed is the name of the RIS Live connection as a feed: its loss
// is one feed_lost incident for every RIS peer.
const RISLiveFeed = config.RISLiveFeed

// MaxRISPeers bounds the RIS peer views tracked (RIS has about 1,500
// peers over all collectors); an UPDATE from another one beyond it is
// ignored and logged once.
const MaxRISPeers = 10000

// RISLiveReasonDisconnected is the Reason of a RIS peer's PeerDown when
// the RIS Live connection is lost.
const RISLiveReasonDisconnected = "ris_live_disconnected"

// RISLive feeds the state from RIS Live: every (collector, peer) is a
// peer of source ris_live. RIS Live streams changes only, so a RIS peer
// appears at its first UPDATE of a watched prefix and is synced at once
// (its table is what it announces from then on). A withdrawal reaches the
// state only once the withdrawal quorum of the prefix is met (at least
// [ris_live] min_peers, or half, of the RIS peers seen carrying it have
// withdrawn it): until then the withdrawing peers' withdrawals are held,
// so that one RIS peer's own routing is not an outage. When the
// connection is lost the RIS peers go down (their routes unknown); on
// reconnection each comes back with the routes it was last known to
// carry, which are therefore neither withdrawn nor news.
type RISLive struct {
	src    *Source
	client *rislive.Client
	label  string // the feed's label: the URL's host
	log    *slog.Logger
	now    func() time.Time

	// mu guards what follows: the client's read goroutine applies updates,
	// Run's loop follows the watched set.
	mu      sync.Mutex
	views   *rislive.Views
	known   map[rislive.Peer]bool
	up      bool
	pending map[netip.Prefix]map[rislive.Peer]time.Time
	// peersWarned, prefixesWarned: the RIS peers beyond MaxRISPeers, the
	// prefixes beyond rislive.MaxPrefixesTracked were logged.
	peersWarned, prefixesWarned bool
	gen                         uint64
}

// RISLiveOptions are the RIS Live source's dependencies.
type RISLiveOptions struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// NewRISLive registers the RIS Live source with the feed (the feed then
// runs without [[bgp.neighbor]]); Run connects.
func (f *Feed) NewRISLive(cfg config.RISLive, opts RISLiveOptions) (*RISLive, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &RISLive{src: f.NewSource(model.SourceRISLive), log: opts.Logger, now: opts.Now, label: cfg.FeedLabel(),
		views: rislive.NewViews(cfg.MinPeers), known: map[rislive.Peer]bool{},
		pending: map[netip.Prefix]map[rislive.Peer]time.Time{}}
	c, err := rislive.New(rislive.Config{URL: cfg.URL, Client: cfg.Client, Host: cfg.Host,
		MinBackoff: cfg.MinBackoff.Duration, MaxBackoff: cfg.MaxBackoff.Duration, PingInterval: cfg.PingInterval.Duration},
		rislive.Options{Logger: opts.Logger, Registerer: opts.Registerer, Now: opts.Now,
			OnUpdate: r.update, OnConnection: r.connection})
	if err != nil {
		return nil, err
	}
	r.client = c
	r.followWatch()
	return r, nil
}

// Status is the RIS Live connection's state.
func (r *RISLive) Status() rislive.Status { return r.client.Status() }

// Run connects to RIS Live and follows the watched set until ctx ends.
func (r *RISLive) Run(ctx context.Context) error {
	// The feed is reported at the first connection: until then the
	// evaluator's configured feed target stands for it (feed_lost "has
	// not come up" after the start grace).
	done := make(chan error, 1)
	go func() { done <- r.client.Run(ctx) }()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case <-t.C:
			r.followWatch()
		}
	}
}

// followWatch updates the subscriptions and forgets routes no longer
// watched when the watched set changed.
func (r *RISLive) followWatch() {
	ws := r.src.f.watch.Load()
	r.mu.Lock()
	if ws.gen == r.gen && r.gen != 0 {
		r.mu.Unlock()
		return
	}
	r.gen = ws.gen
	r.views.Forget(ws.watched)
	for p := range r.pending {
		if !ws.watched(p) {
			delete(r.pending, p)
		}
	}
	r.mu.Unlock()
	// Outside mu: SetWatch writes to the websocket (bounded by its write
	// timeout) while the read loop may be applying an update.
	prefixes := make([]netip.Prefix, 0, len(ws.prefixes))
	for p := range ws.prefixes {
		prefixes = append(prefixes, p)
	}
	addrs := make([]netip.Addr, 0, len(ws.addrs))
	for a := range ws.addrs {
		addrs = append(addrs, a)
	}
	slices.SortFunc(prefixes, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	r.client.SetWatch(prefixes, addrs)
}

// risPeerKey is a RIS peer's key in the state: "ris rrc00 192.0.2.1".
func risPeerKey(p rislive.Peer) string { return "ris " + p.Host + " " + p.Addr.String() }

func (r *RISLive) addPeer(p rislive.Peer, asn uint32, t time.Time) {
	key := risPeerKey(p)
	r.src.AddPeer(PeerSpec{Key: key, Source: model.SourceRISLive, Feed: RISLiveFeed,
		Label: rislive.Description(p.Host, p.Addr, asn), ASN: asn, Families: []int{4, 6}})
	r.peerUp(p, t)
}

// peerUp brings a RIS peer up with the routes it is known to carry (its
// "initial table") and syncs it at once. Routes whose withdrawal is held
// (quorum not met) are part of it: the state still has them, and must
// not find them withdrawn at the sync.
func (r *RISLive) peerUp(p rislive.Peer, t time.Time) {
	key := risPeerKey(p)
	r.src.PeerUp(key, t)
	for _, rt := range r.views.Carried(p) {
		r.src.Route(key, t, Route{Prefix: rt.Prefix, Origin: rt.Origin, ASPath: rt.Path, NextHop: rt.NextHop})
	}
	for pfx, m := range r.pending {
		if _, held := m[p]; !held {
			continue
		}
		if rt, ok := r.views.Last(p, pfx); ok {
			r.src.Route(key, t, Route{Prefix: rt.Prefix, Origin: rt.Origin, ASPath: rt.Path, NextHop: rt.NextHop})
		}
	}
	r.src.EndOfRIB(key, t, 4)
	r.src.EndOfRIB(key, t, 6)
}

// update applies one RIS Live UPDATE (from the client's read goroutine).
func (r *RISLive) update(u rislive.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ws := r.src.f.watch.Load()
	p := rislive.Peer{Host: u.Host, Addr: u.Peer}
	t := r.now()
	var announced, withdrawn []netip.Prefix
	for _, a := range u.Announced {
		if ws.watched(a.Prefix) {
			announced = append(announced, a.Prefix)
		}
	}
	for _, w := range u.Withdrawn {
		if ws.watched(w) {
			withdrawn = append(withdrawn, w)
		}
	}
	if len(announced) == 0 && len(withdrawn) == 0 {
		return
	}
	if !r.known[p] {
		if len(announced) == 0 {
			return // withdrawals from a peer never seen carrying anything
		}
		if len(r.known) >= MaxRISPeers {
			if !r.peersWarned {
				r.peersWarned = true
				r.log.Warn("ris live: RIS peers beyond the bound are ignored", "bound", MaxRISPeers, "first_ignored", rislive.Description(p.Host, p.Addr, u.PeerASN))
			}
			return
		}
		r.known[p] = true
		r.addPeer(p, u.PeerASN, t)
	}
	// Only what the views took: a prefix beyond their bound is not
	// tracked, so it is neither announced nor withdrawn in the state.
	took := map[netip.Prefix]bool{}
	dropped := r.views.Dropped
	for _, c := range r.views.Apply(u, ws.watched) {
		took[c] = true
	}
	if r.views.Dropped > dropped && !r.prefixesWarned {
		r.prefixesWarned = true
		r.log.Warn("ris live: prefixes beyond the bound are ignored", "bound", rislive.MaxPrefixesTracked, "peer", risPeerKey(p))
	}
	key := risPeerKey(p)
	for _, a := range u.Announced {
		if !took[a.Prefix] {
			continue
		}
		if m := r.pending[a.Prefix]; m != nil {
			delete(m, p) // announced again before the quorum: never withdrawn
		}
		r.src.Route(key, t, Route{Prefix: a.Prefix, Origin: u.Origin, ASPath: u.Path, NextHop: a.NextHop})
	}
	for _, w := range withdrawn {
		if !took[w] {
			continue // not carried by this peer as far as reachmon saw
		}
		m := r.pending[w]
		if m == nil {
			m = map[rislive.Peer]time.Time{}
			r.pending[w] = m
		}
		m[p] = t
		r.release(w)
	}
}

// release hands the held withdrawals of pfx to the state once its
// quorum is met.
func (r *RISLive) release(pfx netip.Prefix) {
	m := r.pending[pfx]
	if len(m) == 0 {
		return
	}
	w := r.views.Withdrawal(pfx)
	if !w.Counts() {
		return
	}
	peers := make([]rislive.Peer, 0, len(m))
	for p := range m {
		peers = append(peers, p)
	}
	slices.SortFunc(peers, comparePeer)
	r.log.Info("ris live: withdrawal quorum met", "prefix", pfx, "evidence", w.String(), "quorum", w.Quorum)
	for _, p := range peers {
		r.src.Route(risPeerKey(p), m[p], Route{Prefix: pfx, Withdraw: true})
	}
	delete(r.pending, pfx)
}

// connection follows the websocket: up, the RIS peers come back with
// their last known routes; down, they go down (routes unknown).
func (r *RISLive) connection(up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.now()
	st := r.client.Status()
	fd := model.BGPFeed{Feed: RISLiveFeed, Name: "RIS Live", Label: r.label, Description: r.client.URL(), Since: t}
	if up {
		fd.State = "up"
	} else {
		fd.State, fd.Reason = "down", st.LastError
		if fd.Reason == "" {
			fd.Reason = "connection lost"
		}
	}
	r.up = up
	r.src.SetFeed(fd)
	peers := make([]rislive.Peer, 0, len(r.known))
	for p := range r.known {
		peers = append(peers, p)
	}
	slices.SortFunc(peers, comparePeer)
	for _, p := range peers {
		if up {
			r.peerUp(p, t)
		} else {
			r.src.PeerDown(risPeerKey(p), t, RISLiveReasonDisconnected)
		}
	}
}

func comparePeer(a, b rislive.Peer) int {
	if a.Host != b.Host {
		if a.Host < b.Host {
			return -1
		}
		return 1
	}
	return a.Addr.Compare(b.Addr)
}

// String names the source in logs.
func (r *RISLive) String() string { return fmt.Sprintf("ris_live %s", r.client.URL()) }
