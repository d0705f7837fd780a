package rpki

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/reachmon/reachmon/internal/model"
)

// metrics are the reachmon_rpki_* metrics. Every label is bounded: server
// by [[rpki.rtr]], source and family by the code, prefix by [[prefix]]
// and origin by the origins announcing a watched prefix now (series of
// origins gone are deleted).
type metrics struct {
	sessionUp  *prometheus.GaugeVec
	vrps       *prometheus.GaugeVec
	relevant   *prometheus.GaugeVec
	fileErrors prometheus.Counter
	routeState *prometheus.GaugeVec

	mu     sync.Mutex
	routes map[[2]string]model.RPKIState
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		sessionUp: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_rpki_rtr_session_up",
			Help: "1 while the RTR session with the server is up.",
		}, []string{"server"}),
		vrps: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_rpki_vrps",
			Help: "VRPs received, by source (rtr: every RTR server's, as GoBGP's table holds them; file: the VRP file's last good read) and family.",
		}, []string{"source", "family"}),
		relevant: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_rpki_relevant_vrps",
			Help: "VRPs overlapping a watched prefix or address (the ones reachmon keeps and validates with), by family.",
		}, []string{"family"}),
		fileErrors: f.NewCounter(prometheus.CounterOpts{
			Name: "reachmon_rpki_vrp_file_errors_total",
			Help: "Reads of the VRP file that failed (missing, unreadable, malformed); the previous VRPs stay in use.",
		}),
		routeState: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_rpki_route_state",
			Help: "1 for the RPKI validation state (valid, invalid, not_found) of each watched prefix's route from each origin announcing it now.",
		}, []string{"prefix", "origin", "state"}),
		routes: map[[2]string]model.RPKIState{},
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		m.relevant.WithLabelValues(fam)
	}
	return m
}

// setRoutes replaces the route states.
func (m *metrics) setRoutes(rs []model.RPKIRoute) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := map[[2]string]model.RPKIState{}
	for _, r := range rs {
		now[[2]string{r.Prefix.String(), strconv.FormatUint(uint64(r.Origin), 10)}] = r.State
	}
	for k, old := range m.routes {
		if st, ok := now[k]; !ok || st != old {
			m.routeState.DeleteLabelValues(k[0], k[1], string(old))
		}
	}
	for k, st := range now {
		m.routeState.WithLabelValues(k[0], k[1], string(st)).Set(1)
	}
	m.routes = now
}
