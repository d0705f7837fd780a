package evaluate

import (
	"slices"

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
	// dashboards and alerts); its identity changes only with kind or
	// severity, so alerts and annotation regions stay one per incident.
	info infoSeries
	// cause is info plus the root cause, for a table a person reads in
	// Grafana: a new series whenever the diagnosis is rewritten.
	cause infoSeries
}

// MaxRootCauseLabel bounds the root_cause label of
// reachmon_incident_root_cause_info (in characters); the whole sentence
// is in /api/v1/incidents.
const MaxRootCauseLabel = 300

// infoSeries is a gauge with one series of value 1 per open incident,
// the label values of each kept by incident id.
type infoSeries struct {
	vec *prometheus.GaugeVec
	cur map[string][]string
}

// set gives incident id the series l, replacing its previous one.
func (s *infoSeries) set(id string, l []string) {
	if old, ok := s.cur[id]; ok {
		if slices.Equal(old, l) {
			return
		}
		s.vec.DeleteLabelValues(old...)
	}
	s.cur[id] = l
	s.vec.WithLabelValues(l...).Set(1)
}

func (s *infoSeries) clear(id string) {
	if l, ok := s.cur[id]; ok {
		s.vec.DeleteLabelValues(l...)
		delete(s.cur, id)
	}
}

// NewMetrics registers reachmon_incidents_open{kind,severity} (every
// combination pre-created at zero) and
// reachmon_incident_transitions_total{kind,transition} and
// reachmon_incident_open_info{kind,severity,subject_kind,subject,zone} and
// reachmon_incident_root_cause_info{the same, root_cause}.
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
		info: infoSeries{vec: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_incident_open_info",
			Help: "1 per open incident: its kind, severity and subject (zone set when the subject is a zone).",
		}, []string{"kind", "severity", "subject_kind", "subject", "zone"}), cur: map[string][]string{}},
		// One series per open incident too, but with text: its root cause,
		// cut at MaxRootCauseLabel characters.
		cause: infoSeries{vec: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_incident_root_cause_info",
			Help: "1 per open incident: its kind, severity, subject, zone and root cause (cut at 300 characters; the whole in /api/v1/incidents).",
		}, []string{"kind", "severity", "subject_kind", "subject", "zone", "root_cause"}), cur: map[string][]string{}},
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

// setInfo gives the open incident i its info series, replacing the
// previous ones when its kind, severity or root cause changed.
func (m *Metrics) setInfo(i model.Incident) {
	var zone string
	if i.SubjectKind == model.SubjectZone {
		zone = i.Subject
	}
	l := []string{string(i.Kind), string(i.Severity), string(i.SubjectKind), i.Subject, zone}
	m.info.set(i.ID, l)
	m.cause.set(i.ID, append(slices.Clip(l), model.Truncate(i.RootCause, MaxRootCauseLabel)))
}

func (m *Metrics) clearInfo(id string) {
	m.info.clear(id)
	m.cause.clear(id)
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
