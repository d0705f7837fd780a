package evaluate

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/reachmon/reachmon/internal/model"
)

// Metrics are the incident metrics. Observe is called by the evaluator's
// owner with every change; the gauge is kept per incident id so that a
// reclassification moves it between label sets.
type Metrics struct {
	open        *prometheus.GaugeVec
	transitions *prometheus.CounterVec
	labels      map[string][2]string
}

// NewMetrics registers reachmon_incidents_open{kind,severity} (every
// combination pre-created at zero) and
// reachmon_incident_transitions_total{kind,transition}.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		open: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_incidents_open",
			Help: "Open incidents by kind and severity.",
		}, []string{"kind", "severity"}),
		transitions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "reachmon_incident_transitions_total",
			Help: "Incident transitions (open, update, resolve) by kind.",
		}, []string{"kind", "transition"}),
		labels: map[string][2]string{},
	}
	for _, k := range model.IncidentKinds {
		for _, s := range model.Severities {
			m.open.WithLabelValues(string(k), string(s))
		}
		for _, t := range []model.ChangeType{model.ChangeOpen, model.ChangeUpdate, model.ChangeResolve} {
			m.transitions.WithLabelValues(string(k), string(t))
		}
	}
	return m
}

// Restore counts incidents restored after a restart (no transitions).
func (m *Metrics) Restore(incs []model.Incident) {
	for _, i := range incs {
		if i.IsOpen() {
			m.set(i)
		}
	}
}

// Observe accounts for changes.
func (m *Metrics) Observe(changes []model.IncidentChange) {
	for _, c := range changes {
		i := c.Incident
		m.transitions.WithLabelValues(string(i.Kind), string(c.Type)).Inc()
		if c.Type == model.ChangeResolve {
			if l, ok := m.labels[i.ID]; ok {
				m.open.WithLabelValues(l[0], l[1]).Dec()
				delete(m.labels, i.ID)
			}
			continue
		}
		m.set(i)
	}
}

func (m *Metrics) set(i model.Incident) {
	l := [2]string{string(i.Kind), string(i.Severity)}
	if old, ok := m.labels[i.ID]; ok {
		if old == l {
			return
		}
		m.open.WithLabelValues(old[0], old[1]).Dec()
	}
	m.labels[i.ID] = l
	m.open.WithLabelValues(l[0], l[1]).Inc()
}
