package bmp

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the station's collectors. The router label takes the
// configured routers' names only; type the seven BMP message types.
type metrics struct {
	sessions  *prometheus.GaugeVec
	peersUp   *prometheus.GaugeVec
	messages  *prometheus.CounterVec
	routesC   *prometheus.CounterVec
	malformed *prometheus.CounterVec
	refused   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, routers []string) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := promauto.With(reg)
	m := &metrics{
		sessions: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_bmp_session_up",
			Help: "1 while the configured router's BMP session is connected, else 0.",
		}, []string{"router"}),
		peersUp: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_bmp_peers_up",
			Help: "Monitored peers (views) of the router whose BGP session is up, as its BMP session reports them.",
		}, []string{"router"}),
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_bmp_messages_total",
			Help: "BMP messages received from the router, by type (route_monitoring, statistics_report, peer_down, peer_up, initiation, termination, route_mirroring).",
		}, []string{"router", "type"}),
		routesC: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_bmp_routes_total",
			Help: "Announced and withdrawn prefixes in the router's Route Monitoring messages, by result: kept (watched) or filtered (dropped as they were parsed).",
		}, []string{"router", "result"}),
		malformed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_bmp_malformed_total",
			Help: "BMP sessions of the router closed because a message was malformed or too long.",
		}, []string{"router"}),
		refused: f.NewCounter(prometheus.CounterOpts{
			Name: "reachmon_bmp_refused_connections_total",
			Help: "BMP connections refused because their source address is not a configured [[bmp.router]].",
		}),
	}
	for _, r := range routers {
		m.sessions.WithLabelValues(r)
		m.peersUp.WithLabelValues(r)
		m.malformed.WithLabelValues(r)
		for _, res := range []string{"kept", "filtered"} {
			m.routesC.WithLabelValues(r, res)
		}
		for _, t := range msgTypeNames {
			m.messages.WithLabelValues(r, t)
		}
	}
	return m
}

func (m *metrics) session(router string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.sessions.WithLabelValues(router).Set(v)
}

func (m *metrics) routes(router string, kept, filtered int) {
	if kept > 0 {
		m.routesC.WithLabelValues(router, "kept").Add(float64(kept))
	}
	if filtered > 0 {
		m.routesC.WithLabelValues(router, "filtered").Add(float64(filtered))
	}
}
