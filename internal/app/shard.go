package app

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/evaluate"
)

// shardMetrics are reachmon_shard_info{index,count} (always 1) and
// reachmon_shard_zones (the zones this instance watches).
type shardMetrics struct {
	info  *prometheus.GaugeVec
	zones prometheus.Gauge
}

func newShardMetrics(reg prometheus.Registerer) *shardMetrics {
	m := &shardMetrics{
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "reachmon_shard_info",
			Help: "Always 1; index and count are this instance's [shard] (0 and 1 without sharding).",
		}, []string{"index", "count"}),
		zones: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reachmon_shard_zones",
			Help: "Zones this instance watches: the ones its shard owns, and the control zones.",
		}),
	}
	reg.MustRegister(m.info, m.zones)
	return m
}

func (m *shardMetrics) set(s *evaluate.ShardStatus) {
	m.info.Reset()
	m.info.WithLabelValues(strconv.Itoa(s.Index), strconv.Itoa(s.Count)).Set(1)
	m.zones.Set(float64(s.Zones))
}

// ownedPlan is the plan this instance runs from full, the plan of the
// whole configuration: only the zones its shard owns (and the control
// zones), and the share that makes.
func ownedPlan(full *config.Plan) (*config.Plan, *evaluate.ShardStatus) {
	owned := full.Owned()
	return owned, &evaluate.ShardStatus{Index: full.Shard.Index, Count: full.Shard.Count, Zones: len(owned.Zones), Of: len(full.Zones)}
}

// setShard makes s the share the status document and the metrics show.
func (d *Daemon) setShard(s *evaluate.ShardStatus) {
	d.shard.Store(s)
	d.shardMetrics.set(s)
}

// publish makes st the status /api/v1/status serves, with the shard.
func (d *Daemon) publish(st *evaluate.Status) {
	st.Shard = d.shard.Load()
	d.pub.Publish(st)
}

// shardLine is what the log says of the share: "shard 0 of 2: 4990 of
// 10000 zones".
func shardLine(s *evaluate.ShardStatus) string {
	return fmt.Sprintf("shard %d of %d: %d of %d zones", s.Index, s.Count, s.Zones, s.Of)
}
