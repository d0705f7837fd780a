package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHealth(t *testing.T) {
	reg := prometheus.NewRegistry()
	wrapped := prometheus.WrapRegistererWith(prometheus.Labels{"vantage": "v1"}, reg)
	h := NewHealth(wrapped, []byte("vantage = \"v1\"\n"), time.Unix(1700000000, 500_000_000))
	var notifyErr error
	h.AddCheck("dns_discovery", func() error { return nil })
	h.AddCheck("notify", func() error { return notifyErr })
	var incidentWriteErrors uint64
	h.AddStateStore("incidents", func() uint64 { return incidentWriteErrors })

	want := func(notify, writeErrors string) string {
		return `
# HELP reachmon_config_info Always 1; sha256 holds the first 12 hex digits of the loaded configuration's SHA-256.
# TYPE reachmon_config_info gauge
reachmon_config_info{sha256="bb77cf29eecd",vantage="v1"} 1
# HELP reachmon_config_load_timestamp_seconds Unix time at which the configuration in use was loaded.
# TYPE reachmon_config_load_timestamp_seconds gauge
reachmon_config_load_timestamp_seconds{vantage="v1"} 1.7000000005e+09
# HELP reachmon_ready 1 while the named readiness check (/readyz) passes, else 0.
# TYPE reachmon_ready gauge
reachmon_ready{check="dns_discovery",vantage="v1"} 1
reachmon_ready{check="notify",vantage="v1"} ` + notify + `
# HELP reachmon_state_write_errors_total Failed writes of a state store's files (incidents, notify) in state_dir.
# TYPE reachmon_state_write_errors_total counter
reachmon_state_write_errors_total{store="incidents",vantage="v1"} ` + writeErrors + "\n"
	}
	names := []string{"reachmon_config_info", "reachmon_config_load_timestamp_seconds", "reachmon_ready", "reachmon_state_write_errors_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want("1", "0")), names...); err != nil {
		t.Error(err)
	}
	notifyErr = errors.New("slack: invalid_auth")
	incidentWriteErrors = 3
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want("0", "3")), names...); err != nil {
		t.Error(err)
	}
}

// TestHealthReload follows reloads: a refused one leaves the configuration
// series as they were and sets last_reload_successful to 0; a successful
// one replaces them and sets it back to 1.
func TestHealthReload(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewHealth(reg, []byte("vantage = \"v1\"\n"), time.Unix(1700000000, 0))
	want := func(sha, loaded, ok, success, failure string) string {
		return `
# HELP reachmon_config_info Always 1; sha256 holds the first 12 hex digits of the loaded configuration's SHA-256.
# TYPE reachmon_config_info gauge
reachmon_config_info{sha256="` + sha + `"} 1
# HELP reachmon_config_last_reload_successful 1 unless the latest configuration reload (SIGHUP, POST /-/reload) was refused; the configuration in force is then the one before it.
# TYPE reachmon_config_last_reload_successful gauge
reachmon_config_last_reload_successful ` + ok + `
# HELP reachmon_config_load_timestamp_seconds Unix time at which the configuration in use was loaded.
# TYPE reachmon_config_load_timestamp_seconds gauge
reachmon_config_load_timestamp_seconds ` + loaded + `
# HELP reachmon_config_reloads_total Configuration reloads (SIGHUP, POST /-/reload) by result: success, failure (refused: the file was invalid).
# TYPE reachmon_config_reloads_total counter
reachmon_config_reloads_total{result="failure"} ` + failure + `
reachmon_config_reloads_total{result="success"} ` + success + "\n"
	}
	names := []string{"reachmon_config_info", "reachmon_config_load_timestamp_seconds", "reachmon_config_last_reload_successful", "reachmon_config_reloads_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want("bb77cf29eecd", "1.7e+09", "1", "0", "0")), names...); err != nil {
		t.Error(err)
	}
	h.ReloadFailed()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want("bb77cf29eecd", "1.7e+09", "0", "0", "1")), names...); err != nil {
		t.Error(err)
	}
	h.SetConfig([]byte("vantage = \"v2\"\n"), time.Unix(1700000100, 0))
	sha := ConfigDigest([]byte("vantage = \"v2\"\n"))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(sha, "1.7000001e+09", "1", "1", "1")), names...); err != nil {
		t.Error(err)
	}
}
