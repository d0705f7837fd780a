package session

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the sessions' collectors. The peer label takes the
// full_table neighbors' names (config.Neighbor.Name()) only.
type metrics struct {
	received      *prometheus.GaugeVec
	messages      *prometheus.CounterVec
	notifications *prometheus.CounterVec
	routes        *prometheus.CounterVec
	malformed     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := promauto.With(reg)
	return &metrics{
		received: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_bgp_session_received_prefixes",
			Help: "Prefixes a full_table neighbor has announced and not withdrawn in its current session, watched or not, by family (4, 6): what max_prefixes is compared with.",
		}, []string{"peer", "family"}),
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_bgp_session_messages_total",
			Help: "BGP messages received from a full_table neighbor, by type (open, update, notification, keepalive, route_refresh).",
		}, []string{"peer", "type"}),
		notifications: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_bgp_session_notifications_total",
			Help: "NOTIFICATION messages exchanged with a full_table neighbor, by direction (sent, received).",
		}, []string{"peer", "direction"}),
		routes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_bgp_session_routes_total",
			Help: "Announced and withdrawn prefixes in a full_table neighbor's UPDATEs, by result: kept (watched) or filtered (dropped as they were decoded).",
		}, []string{"peer", "result"}),
		malformed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_bgp_session_malformed_updates_total",
			Help: "UPDATEs from a full_table neighbor with an error: handled as RFC 7606 says (attribute discarded, routes withdrawn) or, when it does not allow that, the session closed with a NOTIFICATION.",
		}, []string{"peer"}),
	}
}

var msgTypeNames = map[uint8]string{
	msgOpen: "open", msgUpdate: "update", msgNotification: "notification", msgKeepalive: "keepalive", msgRouteRefresh: "route_refresh",
}

// forget drops a removed neighbor's series.
func (m *metrics) forget(peer string) {
	for _, f := range []string{"4", "6"} {
		m.received.DeleteLabelValues(peer, f)
	}
	for _, t := range msgTypeNames {
		m.messages.DeleteLabelValues(peer, t)
	}
	for _, d := range []string{"sent", "received"} {
		m.notifications.DeleteLabelValues(peer, d)
	}
	m.malformed.DeleteLabelValues(peer)
	for _, r := range []string{"kept", "filtered"} {
		m.routes.DeleteLabelValues(peer, r)
	}
}
