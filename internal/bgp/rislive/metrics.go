package rislive

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// messageTypes are the values of reachmon_ris_live_messages_total's type
// label (pre-created); any other server message type counts as "other",
// a message the parser refused as "invalid".
var messageTypes = []string{TypeMessage, TypeError, TypeSubscribeOK, TypePong, TypeRRCList, "other", "invalid"}

type metrics struct {
	connected     prometheus.Gauge
	messages      *prometheus.CounterVec
	lag           prometheus.Gauge
	subscriptions prometheus.Gauge
	reconnects    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg) // a nil Registerer registers nothing
	m := &metrics{
		connected: f.NewGauge(prometheus.GaugeOpts{
			Name: "reachmon_ris_live_connected",
			Help: "1 while the RIS Live websocket is connected and subscribed, else 0.",
		}),
		messages: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_ris_live_messages_total",
			Help: "RIS Live server messages received, by type (ris_message, ris_error, ris_subscribe_ok, pong, ris_rrc_list, other; invalid: refused by the parser).",
		}, []string{"type"}),
		lag: f.NewGauge(prometheus.GaugeOpts{
			Name: "reachmon_ris_live_lag_seconds",
			Help: "How far behind the collector's timestamp the last RIS Live UPDATE arrived.",
		}),
		subscriptions: f.NewGauge(prometheus.GaugeOpts{
			Name: "reachmon_ris_live_subscriptions",
			Help: "RIS Live ris_subscribe filters active on the current connection.",
		}),
		reconnects: f.NewCounter(prometheus.CounterOpts{
			Name: "reachmon_ris_live_reconnects_total",
			Help: "RIS Live connection attempts after the first one.",
		}),
	}
	for _, t := range messageTypes {
		m.messages.WithLabelValues(t)
	}
	return m
}

func (m *metrics) message(typ string) {
	switch typ {
	case TypeMessage, TypeError, TypeSubscribeOK, TypePong, TypeRRCList, "invalid":
	default:
		typ = "other"
	}
	m.messages.WithLabelValues(typ).Inc()
}
