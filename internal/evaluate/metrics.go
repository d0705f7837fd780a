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
	// info has one series per open incident (what is broken, for
	// dashboards and alerts); infoLabels its label values by incident id.
	info       *prometheus.GaugeVec
	infoLabels map[string][5]string
}

// NewMetrics registers reachmon_incidents_open{kind,severity} (every
// combination pre-created at zero) and
// reachmon_incident_transitions_total{kind,transition} and
// reachmon_incident_open_info{kind,severity,subject_kind,subject,zone}.
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
		// Bounded: subjects are configured zones, prefixes, resolvers,
		// peers and the vantage; no free text, no incident id.
		info: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_incident_open_info",
			Help: "1 per open incident: its kind, severity and subject (zone set when the subject is a zone).",
		}, []string{"kind", "severity", "subject_kind", "subject", "zone"}),
		infoLabels: map[string][5]string{},
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
			m.clearInfo(i.ID)
			continue
		}
		m.set(i)
	}
}

// setInfo gives the open incident i its one info series, replacing the
// previous one when its severity or kind changed.
func (m *Metrics) setInfo(i model.Incident) {
	var zone string
	if i.SubjectKind == model.SubjectZone {
		zone = i.Subject
	}
	l := [5]string{string(i.Kind), string(i.Severity), string(i.SubjectKind), i.Subject, zone}
	if old, ok := m.infoLabels[i.ID]; ok {
		if old == l {
			return
		}
		m.info.DeleteLabelValues(old[:]...)
	}
	m.infoLabels[i.ID] = l
	m.info.WithLabelValues(l[:]...).Set(1)
}

func (m *Metrics) clearInfo(id string) {
	if l, ok := m.infoLabels[id]; ok {
		m.info.DeleteLabelValues(l[:]...)
		delete(m.infoLabels, id)
	}
}

func (m *Metrics) set(i model.Incident) {
	m.setInfo(i)
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
