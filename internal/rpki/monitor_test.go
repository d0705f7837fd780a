package rpki

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/syncbuf"
)

// TestMonitorFile: the VRP file source, step by step: the relevant VRPs
// go out once, a change is read again, a broken file keeps the last good
// VRPs (logged once, counted each time), a missing file at start sends
// nothing.
func TestMonitorFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vrps.json")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncbuf.Buffer{}
	reg := prometheus.NewRegistry()
	events := make(chan model.Event, 8)
	m := New(config.RPKI{VRPFile: path, FileCheckInterval: config.Duration{Duration: time.Second}},
		[]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, nil,
		Options{Registerer: reg, Events: events, Logger: newLogger(logs)})
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	next := func() (model.RPKIEvent, bool) {
		select {
		case ev := <-events:
			return ev.(model.RPKIEvent), true
		default:
			return model.RPKIEvent{}, false
		}
	}

	// Missing at start: nothing is sent, the error is counted.
	if err := m.step(ctx, now); err != nil {
		t.Fatal(err)
	}
	if ev, ok := next(); ok {
		t.Fatalf("event without a file: %+v", ev)
	}
	if got := testutil.ToFloat64(m.metrics.fileErrors); got != 1 {
		t.Errorf("errors %v", got)
	}

	write(`{"roas": [{"prefix": "198.51.100.0/24", "maxLength": 24, "asn": "AS64500"}, {"prefix": "10.0.0.0/8", "maxLength": 8, "asn": 1}, {"prefix": "2001:db8::/32", "maxLength": 32, "asn": 2}]}`)
	now = now.Add(time.Second)
	if err := m.step(ctx, now); err != nil {
		t.Fatal(err)
	}
	ev, ok := next()
	want := []model.VRP{{Prefix: netip.MustParsePrefix("198.51.100.0/24"), MaxLength: 24, ASN: 64500}}
	if !ok || !ev.Ready || !slices.Equal(ev.VRPs, want) || !slices.Equal(ev.Sources, []string{"file " + path}) {
		t.Fatalf("event %+v (sent %v), want %v", ev, ok, want)
	}
	if a, b := testutil.ToFloat64(m.metrics.vrps.WithLabelValues("file", "ipv4")), testutil.ToFloat64(m.metrics.vrps.WithLabelValues("file", "ipv6")); a != 2 || b != 1 {
		t.Errorf("vrps ipv4 %v ipv6 %v", a, b)
	}

	// Unchanged: nothing new, even after the check interval.
	now = now.Add(2 * time.Second)
	_ = m.step(ctx, now)
	if ev, ok := next(); ok {
		t.Fatalf("event without a change: %+v", ev)
	}

	// Broken: the previous VRPs stay, nothing is sent, logged once.
	write("{\n \"roas\": [\n  {\"prefix\": \"198.51.100.0/24\", \"maxLength\": 33, \"asn\": 1}\n ]\n}\n")
	for range 3 {
		now = now.Add(2 * time.Second)
		_ = m.step(ctx, now)
	}
	if ev, ok := next(); ok {
		t.Fatalf("event from a broken file: %+v", ev)
	}
	if got := testutil.ToFloat64(m.metrics.fileErrors); got != 2 {
		t.Errorf("errors %v, want 2 (a broken file unchanged is read once)", got)
	}
	if n := strings.Count(logs.String(), "roas[0].maxLength: 33 is outside 24..32"); n != 1 {
		t.Errorf("the error logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), path+":3:") {
		t.Errorf("the log does not name the line:\n%s", logs.String())
	}

	// Fixed with another ROA: sent.
	write(`{"roas": [{"prefix": "198.51.100.0/25", "maxLength": 25, "asn": 64501}]}`)
	now = now.Add(2 * time.Second)
	_ = m.step(ctx, now)
	ev, ok = next()
	if !ok || len(ev.VRPs) != 1 || ev.VRPs[0].ASN != 64501 {
		t.Fatalf("after the fix: %+v (sent %v)", ev, ok)
	}
	if got := testutil.ToFloat64(m.metrics.relevant.WithLabelValues("ipv4")); got != 1 {
		t.Errorf("relevant %v", got)
	}

	// Route states for the metric.
	m.SetRouteStates([]model.RPKIRoute{{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Origin: 64500, State: model.RPKIInvalid}})
	m.SetRouteStates([]model.RPKIRoute{{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Origin: 64500, State: model.RPKIValid}})
	if n := testutil.CollectAndCount(m.metrics.routeState); n != 1 {
		t.Errorf("%d route state series, want 1 (the old state deleted)", n)
	}
	if got := testutil.ToFloat64(m.metrics.routeState.WithLabelValues("198.51.100.0/24", "64500", "valid")); got != 1 {
		t.Errorf("valid = %v", got)
	}
}

func newLogger(w *syncbuf.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}
