package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Values of the result label of reachmon_notifications_total.
const (
	ResultSent     = "sent"     // delivered
	ResultRetry    = "retry"    // failed, will be retried
	ResultRejected = "rejected" // definite error: not retried
	ResultSkipped  = "skipped"  // dedupe decided not to send
	ResultDropped  = "dropped"  // the outbox was full
)

var results = []string{ResultSent, ResultRetry, ResultRejected, ResultSkipped, ResultDropped}

// metrics are the dispatcher's collectors; the channel label holds
// configured channel names only.
type metrics struct {
	total   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	depth   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, channels []string) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := promauto.With(reg)
	m := &metrics{
		total: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_notifications_total",
			Help: "Notification attempts by routed channel and result (sent, retry, rejected, skipped, dropped).",
		}, []string{"channel", "result"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "reachmon_notification_latency_seconds",
			Help:    "Duration of one delivery attempt to the pager (every API call it needs), by routed channel.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"channel"}),
		depth: f.NewGauge(prometheus.GaugeOpts{
			Name: "reachmon_notification_queue_depth",
			Help: "Notifications waiting in the persistent outbox.",
		}),
	}
	m.addChannels(channels)
	return m
}

// addChannels gives every routed channel its series from the start.
func (m *metrics) addChannels(channels []string) {
	for _, ch := range channels {
		for _, r := range results {
			m.total.WithLabelValues(ch, r)
		}
		m.latency.WithLabelValues(ch)
	}
}
