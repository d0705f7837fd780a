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

// Metrics are the notify collectors, shared by every dispatcher of a
// daemon: the channel label holds configured channel names only (Slack
// channels, "alertmanager/<name>", "webhook/<name>"), and the queue depth
// is the sum of every dispatcher's outbox.
type Metrics struct {
	total   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	depth   prometheus.Gauge
	// silenced counts the notifications not sent because a silence or
	// maintenance window covers the incident.
	silenced *prometheus.CounterVec
}

// NewMetrics registers the notify metrics on reg (nil: a private
// registry); pass them to every dispatcher in Options.Metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := promauto.With(reg)
	return &Metrics{
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
			Help: "Notifications waiting in the persistent outboxes (every sink's).",
		}),
		silenced: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_notifications_silenced_total",
			Help: "Notifications not sent (pages, updates, reminders) because a silence or maintenance window covers the incident, by routed channel; also counted as skipped in reachmon_notifications_total.",
		}, []string{"channel"}),
	}
}

// init makes the series of channels exist at zero.
func (m *Metrics) init(channels []string) {
	for _, ch := range channels {
		for _, r := range results {
			m.total.WithLabelValues(ch, r)
		}
		m.latency.WithLabelValues(ch)
		m.silenced.WithLabelValues(ch)
	}
}
