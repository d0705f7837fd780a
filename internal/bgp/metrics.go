package bgp

import (
	"net/netip"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/reachmon/reachmon/internal/model"
)

// metrics holds the BGP feed's collectors. Label values are bounded:
// configured neighbor addresses, configured prefixes and the supernets of
// watched addresses, origin ASNs seen for those, zone and resolver names.
type metrics struct {
	peerUpG      *prometheus.GaugeVec
	peerSyncedG  *prometheus.GaugeVec
	visiblePeers *prometheus.GaugeVec
	originInfo   *prometheus.GaugeVec
	updates      *prometheus.CounterVec
	dropped      *prometheus.CounterVec
	resyncs      prometheus.Counter
	degraded     *prometheus.GaugeVec
	watchedG     *prometheus.GaugeVec
	msOverflow   *prometheus.CounterVec

	// origins remembers the origin label values set per prefix, to delete
	// those that no longer apply.
	origins map[netip.Prefix][]uint32
	// series remembers the prefixes that have a visible-peers series.
	series map[netip.Prefix]bool
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := promauto.With(reg)
	m := &metrics{
		peerUpG: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_bgp_peer_up",
			Help: "1 if the BGP session with the configured neighbor is established, else 0.",
		}, []string{"peer"}),
		peerSyncedG: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_bgp_peer_synced",
			Help: "1 once the established session finished its initial table (End-of-RIB or initial-sync timeout), else 0.",
		}, []string{"peer"}),
		visiblePeers: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_bgp_prefix_visible_peers",
			Help: "Established peers carrying a configured prefix or a route covering a watched nameserver or resolver address.",
		}, []string{"prefix"}),
		originInfo: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_bgp_prefix_origin_info",
			Help: "1 for each origin AS currently seen for a configured prefix or a route covering a watched address.",
		}, []string{"prefix", "origin"}),
		updates: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_bgp_updates_total",
			Help: "Changes to watched routes received from each peer, by kind (announce, withdraw, origin_change, path_change, more_specific).",
		}, []string{"peer", "kind"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_bgp_events_dropped_total",
			Help: "BGP events dropped because a queue was full: feed (GoBGP to the feed; the feed then resyncs from the RIB) or evaluator (the feed then sends a snapshot).",
		}, []string{"queue"}),
		resyncs: f.NewCounter(prometheus.CounterOpts{
			Name: "reachmon_bgp_resyncs_total",
			Help: "Times the feed rebuilt its state from GoBGP's RIB after dropping events.",
		}),
		degraded: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_bgp_addresses_degraded",
			Help: "Watched addresses whose most-specific healthy covering route is withdrawn, by role (nameserver, resolver) and zone or resolver name.",
		}, []string{"role", "name"}),
		watchedG: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_bgp_watched",
			Help: "Size of the watched set, by what: prefixes (configured) or addresses (resolvers and nameservers).",
		}, []string{"what"}),
		msOverflow: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_bgp_more_specifics_overflow_total",
			Help: "Announcements of new more-specifics of a configured prefix dropped because the feed already tracks the most it keeps per prefix (4096 by default).",
		}, []string{"prefix"}),
		origins: map[netip.Prefix][]uint32{},
		series:  map[netip.Prefix]bool{},
	}
	// Zero series from the start, so that increase() sees the first drop.
	for _, q := range []string{"feed", "evaluator"} {
		m.dropped.WithLabelValues(q)
	}
	return m
}

func (m *metrics) peerUp(peer string, up bool) {
	m.peerUpG.WithLabelValues(peer).Set(b2f(up))
	if !up {
		m.peerSyncedG.WithLabelValues(peer).Set(0)
	}
	for _, k := range []model.RouteEventKind{model.RouteAnnounce, model.RouteWithdraw, model.RouteOriginChange, model.RoutePathChange, model.RouteMoreSpecific} {
		m.updates.WithLabelValues(peer, string(k))
	}
}

// forgetPeer deletes the series of a neighbor a reload removed.
func (m *metrics) forgetPeer(peer string) {
	m.peerUpG.DeleteLabelValues(peer)
	m.peerSyncedG.DeleteLabelValues(peer)
	m.updates.DeletePartialMatch(prometheus.Labels{"peer": peer})
}

func (m *metrics) peerSynced(peer string, synced bool) {
	m.peerSyncedG.WithLabelValues(peer).Set(b2f(synced))
}

func (m *metrics) update(peer string, kind model.RouteEventKind) {
	m.updates.WithLabelValues(peer, string(kind)).Inc()
}

func (m *metrics) moreSpecificOverflow(pfx netip.Prefix) {
	m.msOverflow.WithLabelValues(pfx.String()).Inc()
}

func (m *metrics) drop(queue string) { m.dropped.WithLabelValues(queue).Inc() }

// tracked reports whether pfx gets per-prefix series: configured prefixes
// and supernets of watched addresses (a bounded set).
func tracked(ws *watchSet, pfx netip.Prefix) bool {
	if _, ok := ws.prefixes[pfx]; ok {
		return true
	}
	_, ok := ws.supernets[pfx]
	return ok
}

func (m *metrics) prefix(s *state, pfx netip.Prefix) {
	if !tracked(s.ws, pfx) {
		return
	}
	n := s.visible(pfx)
	_, configured := s.ws.prefixes[pfx]
	// Configured prefixes always have a series; a supernet of a watched
	// address gets one once it is seen, and keeps it (at 0 when withdrawn)
	// while the address is watched.
	if n > 0 || configured || m.series[pfx] {
		m.visiblePeers.WithLabelValues(pfx.String()).Set(float64(n))
		m.series[pfx] = true
	}
	now := s.origins(pfx)
	for _, o := range m.origins[pfx] {
		if !containsU32(now, o) {
			m.originInfo.DeleteLabelValues(pfx.String(), strconv.FormatUint(uint64(o), 10))
		}
	}
	for _, o := range now {
		m.originInfo.WithLabelValues(pfx.String(), strconv.FormatUint(uint64(o), 10)).Set(1)
	}
	if len(now) == 0 {
		delete(m.origins, pfx)
	} else {
		m.origins[pfx] = now
	}
}

func (m *metrics) forget(pfx netip.Prefix) {
	if m.series[pfx] {
		m.visiblePeers.DeleteLabelValues(pfx.String())
		delete(m.series, pfx)
	}
	for _, o := range m.origins[pfx] {
		m.originInfo.DeleteLabelValues(pfx.String(), strconv.FormatUint(uint64(o), 10))
	}
	delete(m.origins, pfx)
}

// resetPrefixes drops series of prefixes no longer tracked and creates
// those of configured prefixes.
func (m *metrics) resetPrefixes(s *state, _ *watchSet) {
	for pfx := range m.series {
		if !tracked(s.ws, pfx) {
			m.forget(pfx)
		}
	}
	for pfx := range m.origins {
		if !tracked(s.ws, pfx) {
			m.forget(pfx)
		}
	}
	for pfx := range s.ws.prefixes {
		m.prefix(s, pfx)
		m.msOverflow.WithLabelValues(pfx.String())
	}
	m.watchedG.WithLabelValues("prefixes").Set(float64(len(s.ws.prefixes)))
	m.watchedG.WithLabelValues("addresses").Set(float64(len(s.ws.addrs)))
}

func (m *metrics) addresses(s *state) {
	counts := map[model.AddressRole]int{}
	for a, roles := range s.ws.addrs {
		st := s.addrs[a]
		for _, r := range roles {
			if st != nil && st.degraded {
				counts[r]++
			} else {
				counts[r] += 0
			}
		}
	}
	m.degraded.Reset()
	for r, n := range counts {
		m.degraded.WithLabelValues(r.Kind, r.Name).Set(float64(n))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func containsU32(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
