package bgpchurn

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// The feed: a deterministic universe of prefixes (fixed seed) and a churn
// generator that turns it into BGP UPDATE messages, one prefix per UPDATE,
// for two peers. The generator models what each peer has announced, so it
// knows which change reachmon should count for each UPDATE (announce,
// withdraw, origin_change, path_change, more_specific: the kinds of
// reachmon_bgp_updates_total).

const (
	feedSeed   = 20260823
	receiverAS = 64512
	nWatched   = 10_000
	nNoise     = 20_000
	nPool      = 2_000 // more-specifics of watched prefixes that come and go
	nHot       = 1_000 // watched prefixes that get most of the churn
	hotShare   = 0.9   // share of watched-prefix events on the hot set
	nHijack    = 200   // more-specifics of cold watched prefixes the hijacks use
	// Incident makers, at fixed intervals, on cold prefixes (which do not
	// flap otherwise, so that each incident resolves bgp_resolve_after
	// later): a watched prefix withdrawn for 40-90 s (longer than
	// open_after, so prefix_withdrawn opens), and a more-specific announced
	// by an unexpected origin for 20-60 s (prefix_hijack opens at once).
	longEvery   = 30 * time.Second
	hijackEvery = 60 * time.Second
)

// peerDef is one simulated BGP peer.
type peerDef struct {
	addr string // its address (and BGP identifier) on 127/8
	as   uint32
	nh6  string // IPv6 next hop
}

var peerDefs = [2]peerDef{
	{"127.0.0.2", 65101, "2001:db8::2"},
	{"127.0.0.3", 65102, "2001:db8::3"},
}

type pfxKind uint8

const (
	kWatched pfxKind = iota
	kNoise
	kPool   // a more-specific of a watched prefix, reused
	kFresh  // a more-specific of a watched prefix, used once
	kHijack // a more-specific of a cold watched prefix, for hijacks
)

type pfxInfo struct {
	p       netip.Prefix
	kind    pfxKind
	origins [2]uint32 // watched, pool, fresh: the expected origins (the container's)
}

type attr struct {
	origin uint32
	path   []uint32
}

// The churn classes: each new event belongs to one; its follow-up updates
// (re-announcements, withdrawals) count in the same class.
const (
	cPath   = "path"   // AS-path change of a watched prefix at one peer (same origin)
	cOrigin = "origin" // origin change of a watched prefix to its other expected origin, at every peer carrying it
	cFlap   = "flap"   // a hot watched prefix withdrawn at both peers, re-announced 1-10 s later
	cMS     = "ms"     // a more-specific (from a pool of 2,000) announced at one or both peers for 10-60 s
	cFresh  = "fresh"  // a never-seen more-specific announced at both peers for 5-30 s
	cNoise  = "noise"  // an unwatched route: path change, or withdrawn and re-announced 2-20 s later, at one peer
	cLong   = "longwd" // incident maker: a cold watched prefix withdrawn at both peers for 40-90 s
	cHijack = "hijack" // incident maker: a more-specific of a cold prefix announced with an unexpected origin for 20-60 s
)

var classOrder = []string{cPath, cOrigin, cFlap, cMS, cFresh, cNoise, cLong, cHijack}

// classDesc describes the classes for the results (keep it in step with
// newEvent, longWithdraw and hijack).
var classDesc = map[string]string{
	cPath:   "AS-path change of a watched prefix at one peer, same origin",
	cOrigin: "a watched prefix moves to its other expected origin, at both peers",
	cFlap:   "a hot watched prefix withdrawn at both peers, re-announced 1–10 s later",
	cMS:     "one of 2,000 more-specifics of watched prefixes (expected origin) appears at one or both peers, goes 10–60 s later",
	cFresh:  "a more-specific of a watched prefix never announced before appears at both peers, goes 5–30 s later",
	cNoise:  "an unwatched route changes path, or is withdrawn and re-announced 2–20 s later, at one peer",
	cLong:   "incident maker, every 30 s: a cold watched prefix withdrawn at both peers for 40–90 s (prefix_withdrawn opens after open_after, resolves bgp_resolve_after after it is back)",
	cHijack: "incident maker, every 60 s: one of 200 more-specifics of cold watched prefixes announced at both peers by an unexpected origin (AS64496–64511) for 20–60 s (prefix_hijack opens at once)",
}

// reachmon's kinds of reachmon_bgp_updates_total.
var kindOrder = []string{"announce", "withdraw", "origin_change", "path_change", "more_specific"}

type followup struct {
	at       time.Duration
	seq      int
	idx      int
	peers    uint8 // bit i: peer i
	withdraw bool
	origin   uint32
	class    string
}

type fuHeap []followup

func (h fuHeap) Len() int { return len(h) }
func (h fuHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h fuHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *fuHeap) Push(x any)   { *h = append(*h, x.(followup)) }
func (h *fuHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// churner generates the feed. It is not safe for concurrent use.
type churner struct {
	r       *rand.Rand
	px      []pfxInfo
	watched []int
	hot     []int
	cold    []int
	noise   []int
	pool    []int
	hijacks []int
	used    map[netip.Prefix]bool // every prefix of the universe, fresh ones included
	adj     [2]map[int]attr       // what each peer announced
	down    map[int]bool          // watched prefixes withdrawn by a flap or long withdrawal
	active  map[int]bool          // pool more-specifics announced now
	fu      fuHeap
	seq     int

	// shares are the target shares of updates of the classes chosen by
	// deficit (the incident makers come on top).
	shares map[string]float64

	nextLong, nextHijack time.Duration

	// Counters since the last resetCounts.
	sent     map[string]int // updates per class
	skipped  map[string]int // new events of a class that found no candidate
	total    int            // updates
	watchedN int            // updates of watched prefixes (and their more-specifics)
	expect   map[string]int // changes reachmon should count, by kind
	events   map[string]int // new events per class
}

// newChurner builds the universe. freshPct is the share of updates (in
// percent) for never-seen more-specifics; the path-change share gives way
// to it.
func newChurner(freshPct float64) *churner {
	c := &churner{
		r:      rand.New(rand.NewPCG(feedSeed, feedSeed>>2)),
		used:   map[netip.Prefix]bool{},
		down:   map[int]bool{},
		active: map[int]bool{},
	}
	for i := range c.adj {
		c.adj[i] = map[int]attr{}
	}
	fresh := freshPct / 100
	c.shares = map[string]float64{
		cPath: 0.40 - fresh, cOrigin: 0.10, cFlap: 0.20, cMS: 0.10, cFresh: fresh, cNoise: 0.20,
	}
	c.genUniverse()
	c.nextLong, c.nextHijack = longEvery, hijackEvery/2
	c.resetCounts()
	return c
}

func (c *churner) resetCounts() {
	c.sent, c.skipped, c.expect, c.events = map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	c.total, c.watchedN = 0, 0
}

// --- the universe ---

var v4Lens = []struct{ bits, pct int }{{24, 50}, {23, 10}, {22, 20}, {21, 5}, {20, 5}, {19, 4}, {18, 2}, {17, 2}, {16, 2}}
var v6Lens = []struct{ bits, pct int }{{48, 50}, {32, 15}, {44, 10}, {40, 10}, {36, 10}, {46, 5}}

func pickLen(r *rand.Rand, lens []struct{ bits, pct int }) int {
	n := r.IntN(100)
	for _, l := range lens {
		if n < l.pct {
			return l.bits
		}
		n -= l.pct
	}
	return lens[0].bits
}

func publicV4(a byte) bool { return a != 0 && a != 10 && a != 127 && a < 224 }

func (c *churner) randV4(bits int) netip.Prefix {
	for {
		a := byte(1 + c.r.IntN(223))
		if !publicV4(a) {
			continue
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(a)<<24|uint32(c.r.IntN(1<<24)))
		return netip.PrefixFrom(netip.AddrFrom4(b), bits).Masked()
	}
}

func (c *churner) randV6(bits int) netip.Prefix {
	var b [16]byte
	binary.BigEndian.PutUint16(b[0:], 0x2001+uint16(c.r.IntN(0x2c0f-0x2001)))
	binary.BigEndian.PutUint64(b[2:], c.r.Uint64())
	return netip.PrefixFrom(netip.AddrFrom16(b), bits).Masked()
}

// overlaps reports whether p overlaps a watched or noise prefix already
// chosen (supernets holds every supernet, down to /8 or /16, of those).
func overlaps(p netip.Prefix, chosen, supernets map[netip.Prefix]bool) bool {
	if supernets[p] || chosen[p] {
		return true
	}
	minLen := 8
	if p.Addr().Is6() {
		minLen = 16
	}
	for l := minLen; l < p.Bits(); l++ {
		q, _ := p.Addr().Prefix(l)
		if chosen[q] {
			return true
		}
	}
	return false
}

func addSupernets(p netip.Prefix, supernets map[netip.Prefix]bool) {
	minLen := 8
	if p.Addr().Is6() {
		minLen = 16
	}
	for l := minLen; l < p.Bits(); l++ {
		q, _ := p.Addr().Prefix(l)
		supernets[q] = true
	}
}

// origin ASNs: 2-byte from 1-63999 and 4-byte from 131072-399999; none in
// the documentation range 64496-64511, which the hijacks use.
func (c *churner) randOrigin() uint32 {
	if c.r.IntN(2) == 0 {
		return 1 + uint32(c.r.IntN(63999))
	}
	return 131072 + uint32(c.r.IntN(268928))
}

func (c *churner) genUniverse() {
	chosen, supernets := map[netip.Prefix]bool{}, map[netip.Prefix]bool{}
	add := func(p netip.Prefix, k pfxKind, o [2]uint32) int {
		chosen[p] = true
		addSupernets(p, supernets)
		c.used[p] = true
		c.px = append(c.px, pfxInfo{p: p, kind: k, origins: o})
		return len(c.px) - 1
	}
	for len(c.watched) < nWatched {
		var p netip.Prefix
		if c.r.IntN(5) == 0 {
			p = c.randV6(pickLen(c.r, v6Lens))
		} else {
			p = c.randV4(pickLen(c.r, v4Lens))
		}
		if overlaps(p, chosen, supernets) {
			continue
		}
		o1 := c.randOrigin()
		o2 := c.randOrigin()
		for o2 == o1 {
			o2 = c.randOrigin()
		}
		c.watched = append(c.watched, add(p, kWatched, [2]uint32{o1, o2}))
	}
	for len(c.noise) < nNoise {
		var p netip.Prefix
		if c.r.IntN(5) == 0 {
			p = c.randV6(48)
		} else {
			p = c.randV4(24)
		}
		if overlaps(p, chosen, supernets) {
			continue
		}
		c.noise = append(c.noise, add(p, kNoise, [2]uint32{c.randOrigin()}))
	}
	perm := c.r.Perm(len(c.watched))
	for n, i := range perm {
		if n < nHot {
			c.hot = append(c.hot, c.watched[i])
		} else {
			c.cold = append(c.cold, c.watched[i])
		}
	}
	sub := func(n int, from func() int, k pfxKind) []int {
		var out []int
		for len(out) < n {
			w := from()
			p, ok := c.subPrefix(c.px[w].p)
			if !ok {
				continue
			}
			c.used[p] = true
			c.px = append(c.px, pfxInfo{p: p, kind: k, origins: c.px[w].origins})
			out = append(out, len(c.px)-1)
		}
		return out
	}
	c.pool = sub(nPool, c.pickWatched, kPool)
	c.hijacks = sub(nHijack, func() int { return c.cold[c.r.IntN(len(c.cold))] }, kHijack)
}

// subPrefix returns a random more-specific of w not used before: 1-3 bits
// longer (IPv4 up to /24, then /25-/26), IPv6 1-4 bits (up to /48, then
// /49-/52).
func (c *churner) subPrefix(w netip.Prefix) (netip.Prefix, bool) {
	limit, extra := 24, 3
	if w.Addr().Is6() {
		limit, extra = 48, 4
	}
	var bits int
	if w.Bits() < limit {
		bits = w.Bits() + 1 + c.r.IntN(min(extra, limit-w.Bits()))
	} else {
		bits = w.Bits() + 1 + c.r.IntN(2+2*btoi(w.Addr().Is6()))
	}
	a := w.Addr().AsSlice()
	// Random host bits below the container's length.
	for i := w.Bits(); i < bits; i++ {
		if c.r.IntN(2) == 1 {
			a[i/8] |= 0x80 >> (i % 8)
		}
	}
	addr, _ := netip.AddrFromSlice(a)
	p := netip.PrefixFrom(addr, bits).Masked()
	if c.used[p] {
		return p, false
	}
	return p, true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *churner) pickWatched() int {
	if c.r.Float64() < hotShare {
		return c.hot[c.r.IntN(len(c.hot))]
	}
	return c.watched[c.r.IntN(len(c.watched))]
}

// --- encoding ---

func (c *churner) randPath(peer int, origin uint32, old []uint32) []uint32 {
	for try := 0; ; try++ {
		n := 1 + c.r.IntN(5)
		path := make([]uint32, 0, n+2)
		path = append(path, peerDefs[peer].as)
		for i := 0; i < n; i++ {
			if c.r.IntN(3) == 0 {
				path = append(path, 131072+uint32(c.r.IntN(268928)))
			} else {
				path = append(path, 1+uint32(c.r.IntN(63999)))
			}
		}
		path = append(path, origin)
		if !slices.Equal(path, old) || try >= 10 {
			return path
		}
	}
}

func encodeAnnounce(peer int, p netip.Prefix, a attr) []byte {
	pa := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, a.path)}),
	}
	var nlri4 []*bgp.IPAddrPrefix
	if p.Addr().Is6() {
		pa = append(pa, bgp.NewPathAttributeMpReachNLRI(peerDefs[peer].nh6,
			[]bgp.AddrPrefixInterface{bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())}))
	} else {
		pa = append(pa, bgp.NewPathAttributeNextHop(peerDefs[peer].addr))
		nlri4 = []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())}
	}
	return mustSerialize(bgp.NewBGPUpdateMessage(nil, pa, nlri4))
}

func encodeWithdraw(p netip.Prefix) []byte {
	if p.Addr().Is6() {
		return mustSerialize(bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
			bgp.NewPathAttributeMpUnreachNLRI([]bgp.AddrPrefixInterface{bgp.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())}),
		}, nil))
	}
	return mustSerialize(bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())}, nil, nil))
}

func mustSerialize(m *bgp.BGPMessage) []byte {
	b, err := m.Serialize()
	if err != nil {
		panic(fmt.Sprintf("encoding UPDATE: %v", err))
	}
	return b
}

// --- the model: what each peer carries, what reachmon should count ---

// emitFunc receives one encoded UPDATE for a peer.
type emitFunc func(peer int, msg []byte)

func (c *churner) visible(idx int) int {
	n := 0
	for i := range c.adj {
		if _, ok := c.adj[i][idx]; ok {
			n++
		}
	}
	return n
}

func (c *churner) count(class string, idx int, kind string) {
	c.sent[class]++
	c.total++
	if c.px[idx].kind != kNoise {
		c.watchedN++
		if kind != "" {
			c.expect[kind]++
		}
	}
}

func (c *churner) announce(peer, idx int, origin uint32, class string, emit emitFunc) {
	old, had := c.adj[peer][idx]
	a := attr{origin: origin, path: c.randPath(peer, origin, old.path)}
	kind := ""
	switch {
	case !had:
		kind = "announce"
		if c.visible(idx) == 0 && c.px[idx].kind != kWatched && c.px[idx].kind != kNoise {
			kind = "more_specific"
		}
	case old.origin != origin:
		kind = "origin_change"
	case !slices.Equal(old.path, a.path):
		kind = "path_change"
	}
	c.adj[peer][idx] = a
	c.count(class, idx, kind)
	emit(peer, encodeAnnounce(peer, c.px[idx].p, a))
}

func (c *churner) withdraw(peer, idx int, class string, emit emitFunc) {
	kind := ""
	if _, had := c.adj[peer][idx]; had {
		kind = "withdraw"
		delete(c.adj[peer], idx)
	}
	c.count(class, idx, kind)
	emit(peer, encodeWithdraw(c.px[idx].p))
}

func (c *churner) later(f followup) {
	c.seq++
	f.seq = c.seq
	heap.Push(&c.fu, f)
}

func (c *churner) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(c.r.Int64N(int64(hi-lo)))
}

// initial announces the whole starting table to peer (every watched
// prefix with its first expected origin, every noise route), then
// End-of-RIB for both families. It returns the encoded stream.
func (c *churner) initial(peer int) []byte {
	var buf []byte
	emit := func(_ int, m []byte) { buf = append(buf, m...) }
	for _, idx := range c.watched {
		c.announce(peer, idx, c.px[idx].origins[0], "initial", emit)
	}
	for _, idx := range c.noise {
		c.announce(peer, idx, c.px[idx].origins[0], "initial", emit)
	}
	buf = append(buf, mustSerialize(bgp.NewEndOfRib(bgp.RF_IPv4_UC))...)
	buf = append(buf, mustSerialize(bgp.NewEndOfRib(bgp.RF_IPv6_UC))...)
	return buf
}

// step emits the follow-ups due at now, the incident makers due, then new
// events until budget updates were emitted in this step (an event's
// updates are never split: the step may end a few over budget). It
// returns the number of updates emitted.
func (c *churner) step(now time.Duration, budget int, emit emitFunc) int {
	start := c.total
	for c.fu.Len() > 0 && c.fu[0].at <= now {
		f := heap.Pop(&c.fu).(followup)
		c.doFollowup(f, emit)
	}
	for c.nextLong <= now {
		c.nextLong += longEvery
		c.longWithdraw(now, emit)
	}
	for c.nextHijack <= now {
		c.nextHijack += hijackEvery
		c.hijack(now, emit)
	}
	// New events, class by largest deficit against the target shares; at
	// most budget+1 events, so that the loop ends even if every class
	// keeps failing to find a candidate.
	for n := 0; c.total-start < budget && n <= budget; n++ {
		class := c.neediest()
		if c.newEvent(class, now, emit) {
			c.events[class]++
		} else {
			// No candidate now (e.g. every pool more-specific tried is
			// announced already): the attempt counts for the deficit so
			// that the other classes go on; rare (see TestChurnMix).
			c.skipped[class]++
		}
	}
	return c.total - start
}

func (c *churner) neediest() string {
	best, bestDef := "", -1e18
	tot := 0
	for _, k := range classOrder {
		tot += c.sent[k] + c.skipped[k]
	}
	for _, k := range classOrder {
		s, ok := c.shares[k]
		if !ok || s <= 0 {
			continue
		}
		if d := s*float64(tot+1) - float64(c.sent[k]+c.skipped[k]); d > bestDef {
			best, bestDef = k, d
		}
	}
	return best
}

func (c *churner) doFollowup(f followup, emit emitFunc) {
	for peer := range c.adj {
		if f.peers&(1<<peer) == 0 {
			continue
		}
		if f.withdraw {
			c.withdraw(peer, f.idx, f.class, emit)
		} else {
			c.announce(peer, f.idx, f.origin, f.class, emit)
		}
	}
	switch {
	case !f.withdraw && c.px[f.idx].kind == kWatched:
		delete(c.down, f.idx)
	case f.withdraw && (c.px[f.idx].kind == kPool || c.px[f.idx].kind == kHijack):
		delete(c.active, f.idx)
	}
}

// upAtBoth picks, with pick, a watched prefix announced at both peers
// (16 tries).
func (c *churner) upAtBoth(pick func() int) (int, bool) {
	for try := 0; try < 16; try++ {
		idx := pick()
		if !c.down[idx] && c.visible(idx) == 2 {
			return idx, true
		}
	}
	return 0, false
}

func (c *churner) pickHot() int  { return c.hot[c.r.IntN(len(c.hot))] }
func (c *churner) pickCold() int { return c.cold[c.r.IntN(len(c.cold))] }

func (c *churner) newEvent(class string, now time.Duration, emit emitFunc) bool {
	switch class {
	case cPath:
		for try := 0; try < 8; try++ {
			idx, peer := c.pickWatched(), c.r.IntN(2)
			if a, ok := c.adj[peer][idx]; ok && !c.down[idx] {
				c.announce(peer, idx, a.origin, class, emit)
				return true
			}
		}
	case cOrigin:
		idx, ok := c.upAtBoth(c.pickWatched)
		if !ok {
			return false
		}
		o := c.px[idx].origins
		to := o[0]
		if c.adj[0][idx].origin == o[0] {
			to = o[1]
		}
		for peer := range c.adj {
			c.announce(peer, idx, to, class, emit)
		}
		return true
	case cFlap:
		idx, ok := c.upAtBoth(c.pickHot)
		if !ok {
			return false
		}
		c.flap(idx, c.dur(1*time.Second, 10*time.Second), now, class, emit)
		return true
	case cMS:
		for try := 0; try < 16; try++ {
			idx := c.pool[c.r.IntN(len(c.pool))]
			if c.active[idx] {
				continue
			}
			peers := uint8(3)
			switch c.r.IntN(4) {
			case 0:
				peers = 1
			case 1:
				peers = 2
			}
			c.msAnnounce(idx, peers, c.px[idx].origins[c.r.IntN(2)], c.dur(10*time.Second, 60*time.Second), now, class, emit)
			return true
		}
	case cFresh:
		for try := 0; try < 8; try++ {
			w := c.pickWatched()
			p, ok := c.subPrefix(c.px[w].p)
			if !ok {
				continue
			}
			c.used[p] = true
			c.px = append(c.px, pfxInfo{p: p, kind: kFresh, origins: c.px[w].origins})
			idx := len(c.px) - 1
			for peer := range c.adj {
				c.announce(peer, idx, c.px[idx].origins[0], class, emit)
			}
			c.later(followup{at: now + c.dur(5*time.Second, 30*time.Second), idx: idx, peers: 3, withdraw: true, class: class})
			return true
		}
	case cNoise:
		for try := 0; try < 8; try++ {
			idx, peer := c.noise[c.r.IntN(len(c.noise))], c.r.IntN(2)
			a, ok := c.adj[peer][idx]
			if !ok {
				continue
			}
			if c.r.IntN(2) == 0 {
				c.announce(peer, idx, a.origin, class, emit)
			} else {
				c.withdraw(peer, idx, class, emit)
				c.later(followup{at: now + c.dur(2*time.Second, 20*time.Second), idx: idx, peers: 1 << peer, origin: a.origin, class: class})
			}
			return true
		}
	}
	return false
}

func (c *churner) flap(idx int, hold, now time.Duration, class string, emit emitFunc) {
	origin := c.adj[0][idx].origin
	for peer := range c.adj {
		c.withdraw(peer, idx, class, emit)
	}
	c.down[idx] = true
	c.later(followup{at: now + hold, idx: idx, peers: 3, origin: origin, class: class})
}

func (c *churner) msAnnounce(idx int, peers uint8, origin uint32, hold, now time.Duration, class string, emit emitFunc) {
	for peer := range c.adj {
		if peers&(1<<peer) != 0 {
			c.announce(peer, idx, origin, class, emit)
		}
	}
	c.active[idx] = true
	c.later(followup{at: now + hold, idx: idx, peers: peers, withdraw: true, class: class})
}

func (c *churner) longWithdraw(now time.Duration, emit emitFunc) {
	if idx, ok := c.upAtBoth(c.pickCold); ok {
		c.events[cLong]++
		c.flap(idx, c.dur(40*time.Second, 90*time.Second), now, cLong, emit)
	}
}

func (c *churner) hijack(now time.Duration, emit emitFunc) {
	for try := 0; try < 16; try++ {
		idx := c.hijacks[c.r.IntN(len(c.hijacks))]
		if c.active[idx] {
			continue
		}
		c.events[cHijack]++
		c.msAnnounce(idx, 3, 64496+uint32(c.r.IntN(16)), c.dur(20*time.Second, 60*time.Second), now, cHijack, emit)
		return
	}
}

// --- descriptions ---

func (c *churner) watchedV6() int {
	n := 0
	for _, i := range c.watched {
		if c.px[i].p.Addr().Is6() {
			n++
		}
	}
	return n
}

// mixLine describes the updates sent per class since resetCounts.
func (c *churner) mixLine() string {
	var b strings.Builder
	for _, k := range classOrder {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%.4f", k, float64(c.sent[k])/float64(max(c.total, 1)))
	}
	return b.String()
}

func (c *churner) expectedTotal() int {
	n := 0
	for _, v := range c.expect {
		n += v
	}
	return n
}

func (c *churner) expectLine() string {
	keys := make([]string, 0, len(c.expect))
	for k := range c.expect {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, c.expect[k])
	}
	return strings.TrimSpace(b.String())
}

// configPrefixes writes the [[prefix]] entries of reachmon's configuration.
func (c *churner) configPrefixes(b *strings.Builder) {
	for _, idx := range c.watched {
		p := c.px[idx]
		fmt.Fprintf(b, "[[prefix]]\nprefix = %q\norigins = [%d, %d]\n", p.p.String(), p.origins[0], p.origins[1])
	}
}
