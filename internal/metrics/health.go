package metrics

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Health exports reachmon's own state, read at scrape time:
//
//	reachmon_ready{check}                       1 while the named /readyz check passes, else 0
//	reachmon_config_info{sha256}                1; the first 12 hex digits of the loaded configuration's SHA-256
//	reachmon_config_load_timestamp_seconds      when the configuration in use was loaded
//	reachmon_state_write_errors_total{store}    failed writes of a state store's files
//	reachmon_config_last_reload_successful      1 unless the latest reload (SIGHUP, POST /-/reload) was refused
//	reachmon_config_reloads_total{result}       reloads by result: success, failure
//
// The check label holds the names given to AddCheck (a handful, fixed at
// start-up); the sha256 label has one value at a time (the configuration
// in force: a reload changes it); the store label
// holds the names given to AddStateStore ("incidents", "notify").
type Health struct {
	ready       *prometheus.Desc
	info        *prometheus.Desc
	loadedAt    *prometheus.Desc
	writeErrors *prometheus.Desc
	reloadOK    *prometheus.Desc
	reloads     *prometheus.Desc

	mu     sync.Mutex
	hash   string
	loaded time.Time
	// lastOK and reloaded are the reload outcomes (ReloadFailed, SetConfig).
	lastOK   bool
	reloaded map[string]uint64
	checks   map[string]func() error
	stores   map[string]func() uint64
}

// NewHealth registers the health collector with reg. config is the
// configuration as loaded (the file's content, or a canonical encoding
// such as json.Marshal of config.Config: it holds no secrets, only the
// names of their variables and files), loaded the time it was read. The
// digest tells at a glance which vantages run the same configuration.
func NewHealth(reg prometheus.Registerer, config []byte, loaded time.Time) *Health {
	h := &Health{
		ready: prometheus.NewDesc("reachmon_ready",
			"1 while the named readiness check (/readyz) passes, else 0.", []string{"check"}, nil),
		info: prometheus.NewDesc("reachmon_config_info",
			"Always 1; sha256 holds the first 12 hex digits of the loaded configuration's SHA-256.", []string{"sha256"}, nil),
		loadedAt: prometheus.NewDesc("reachmon_config_load_timestamp_seconds",
			"Unix time at which the configuration in use was loaded.", nil, nil),
		writeErrors: prometheus.NewDesc("reachmon_state_write_errors_total",
			"Failed writes of a state store's files (incidents, notify) in state_dir.", []string{"store"}, nil),
		reloadOK: prometheus.NewDesc("reachmon_config_last_reload_successful",
			"1 unless the latest configuration reload (SIGHUP, POST /-/reload) was refused; the configuration in force is then the one before it.", nil, nil),
		reloads: prometheus.NewDesc("reachmon_config_reloads_total",
			"Configuration reloads (SIGHUP, POST /-/reload) by result: success, failure (refused: the file was invalid).", []string{"result"}, nil),
		hash:     ConfigDigest(config),
		loaded:   loaded,
		lastOK:   true,
		reloaded: map[string]uint64{ReloadSuccess: 0, ReloadFailure: 0},
		checks:   map[string]func() error{},
		stores:   map[string]func() uint64{},
	}
	reg.MustRegister(h)
	return h
}

// ConfigDigest is reachmon_config_info's sha256 label of a configuration:
// the first 12 hex digits of its SHA-256.
func ConfigDigest(config []byte) string {
	sum := sha256.Sum256(config)
	return hex.EncodeToString(sum[:])[:12]
}

// Results of reachmon_config_reloads_total.
const (
	ReloadSuccess = "success"
	ReloadFailure = "failure"
)

// SetConfig records a successful reload: config (as for NewHealth) is the
// configuration now in force, loaded when it was read.
func (h *Health) SetConfig(config []byte, loaded time.Time) {
	hash := ConfigDigest(config)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hash, h.loaded = hash, loaded
	h.lastOK = true
	h.reloaded[ReloadSuccess]++
}

// ReloadFailed records a refused reload: the configuration in force stays.
func (h *Health) ReloadFailed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastOK = false
	h.reloaded[ReloadFailure]++
}

// AddCheck exports check as reachmon_ready{check=name}; use the same names
// as the server's /readyz checks. check must be cheap and safe for
// concurrent use: it runs on every scrape.
func (h *Health) AddCheck(name string, check func() error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

// AddStateStore exports failures, the count of failed writes of the
// store's files, as reachmon_state_write_errors_total{store=name}. It
// must be safe for concurrent use: it runs on every scrape.
func (h *Health) AddStateStore(name string, failures func() uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stores[name] = failures
}

// Describe implements prometheus.Collector.
func (h *Health) Describe(ch chan<- *prometheus.Desc) {
	ch <- h.ready
	ch <- h.info
	ch <- h.loadedAt
	ch <- h.writeErrors
	ch <- h.reloadOK
	ch <- h.reloads
}

// Collect implements prometheus.Collector.
func (h *Health) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	names := make([]string, 0, len(h.checks))
	for n := range h.checks {
		names = append(names, n)
	}
	checks := make([]func() error, len(names))
	sort.Strings(names)
	for i, n := range names {
		checks[i] = h.checks[n]
	}
	stores := make(map[string]func() uint64, len(h.stores))
	for n, f := range h.stores {
		stores[n] = f
	}
	hash, loaded, lastOK := h.hash, h.loaded, h.lastOK
	reloads := map[string]uint64{}
	for k, v := range h.reloaded {
		reloads[k] = v
	}
	h.mu.Unlock()
	for n, failures := range stores {
		ch <- prometheus.MustNewConstMetric(h.writeErrors, prometheus.CounterValue, float64(failures()), n)
	}
	for i, n := range names {
		v := 1.0
		if checks[i]() != nil {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(h.ready, prometheus.GaugeValue, v, n)
	}
	ch <- prometheus.MustNewConstMetric(h.info, prometheus.GaugeValue, 1, hash)
	ch <- prometheus.MustNewConstMetric(h.loadedAt, prometheus.GaugeValue, float64(loaded.UnixNano())/1e9)
	ok := 0.0
	if lastOK {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(h.reloadOK, prometheus.GaugeValue, ok)
	for r, n := range reloads {
		ch <- prometheus.MustNewConstMetric(h.reloads, prometheus.CounterValue, float64(n), r)
	}
}
