package rpki

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/rpki/rpkitest"
)

// waitEvent waits (bounded) for an RPKIEvent satisfying ok.
func waitEvent(t *testing.T, ch <-chan model.Event, what string, ok func(model.RPKIEvent) bool) model.RPKIEvent {
	t.Helper()
	timeout := time.After(60 * time.Second)
	var last model.RPKIEvent
	for {
		select {
		case ev := <-ch:
			r, isRPKI := ev.(model.RPKIEvent)
			if !isRPKI {
				t.Fatalf("unexpected event %T", ev)
			}
			last = r
			if ok(r) {
				return r
			}
		case <-timeout:
			t.Fatalf("no event with %s; last: %+v", what, last)
		}
	}
}

// TestMonitorStayRTR: GoBGP's RTR client against a real stayrtr; of the
// VRPs served only those overlapping the watched prefix and address reach
// the evaluator, an edit of stayrtr's file arrives as a new set, a
// nameserver discovered later widens the set, and when stayrtr stops the
// session is down and, after the server's lifetime, no VRPs are left.
func TestMonitorStayRTR(t *testing.T) {
	roa := model.VRP{Prefix: netip.MustParsePrefix("198.51.100.0/24"), MaxLength: 24, ASN: 64500}
	nsCover := model.VRP{Prefix: netip.MustParsePrefix("192.0.2.0/24"), MaxLength: 24, ASN: 64502}
	v6 := model.VRP{Prefix: netip.MustParsePrefix("2001:db8::/32"), MaxLength: 48, ASN: 64503}
	var others []model.VRP // not watched: counted, not kept
	for i := range 50 {
		others = append(others, model.VRP{Prefix: netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", i)), MaxLength: 24, ASN: uint32(65000 + i)})
	}
	st := rpkitest.StartStayRTR(t, append([]model.VRP{roa, v6}, others...))

	reg := prometheus.NewRegistry()
	events := make(chan model.Event, 16)
	srv := config.RTRServer{Address: "127.0.0.1", Port: st.Port, Lifetime: config.Duration{Duration: time.Second}}
	m := New(config.RPKI{RTR: []config.RTRServer{srv}, FileCheckInterval: config.Duration{Duration: time.Second}},
		[]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, []netip.Addr{netip.MustParseAddr("192.0.2.53")},
		Options{Registerer: reg, Events: events, Poll: 50 * time.Millisecond, MinList: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	ev := waitEvent(t, events, "the watched prefix's ROA", func(e model.RPKIEvent) bool { return e.Ready && len(e.VRPs) > 0 })
	if !slices.Equal(ev.VRPs, []model.VRP{roa}) || !slices.Equal(ev.Sources, []string{"rtr " + srv.Name()}) {
		t.Fatalf("first event %+v, want only %v from %s", ev, roa, srv.Name())
	}
	if got := testutil.ToFloat64(m.metrics.sessionUp.WithLabelValues(srv.Name())); got != 1 {
		t.Errorf("reachmon_rpki_rtr_session_up = %v", got)
	}
	if got := testutil.ToFloat64(m.metrics.vrps.WithLabelValues("rtr", "ipv4")); got != 51 {
		t.Errorf("reachmon_rpki_vrps{rtr,ipv4} = %v, want 51", got)
	}
	if got := testutil.ToFloat64(m.metrics.vrps.WithLabelValues("rtr", "ipv6")); got != 1 {
		t.Errorf("reachmon_rpki_vrps{rtr,ipv6} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.metrics.relevant.WithLabelValues("ipv4")); got != 1 {
		t.Errorf("reachmon_rpki_relevant_vrps{ipv4} = %v, want 1", got)
	}

	// The ROA moves to AS64501 and one covering the nameserver appears.
	moved := model.VRP{Prefix: roa.Prefix, MaxLength: 24, ASN: 64501}
	rpkitest.WriteVRPs(t, st.File, append([]model.VRP{moved, nsCover, v6}, others...))
	ev = waitEvent(t, events, "the edited ROAs", func(e model.RPKIEvent) bool { return slices.Contains(e.VRPs, moved) })
	if want := []model.VRP{nsCover, moved}; !slices.Equal(ev.VRPs, want) {
		t.Errorf("after the edit %v, want %v", ev.VRPs, want)
	}

	// A nameserver discovered later: the VRPs covering it are kept.
	extra := model.VRP{Prefix: netip.MustParsePrefix("10.7.0.0/16"), MaxLength: 24, ASN: 65007}
	m.SetNameserverAddrs("example.com.", []netip.Addr{netip.MustParseAddr("10.7.1.1")})
	ev = waitEvent(t, events, "the VRP covering the new nameserver", func(e model.RPKIEvent) bool { return slices.Contains(e.VRPs, extra) })
	if len(ev.VRPs) != 3 {
		t.Errorf("with the nameserver: %v", ev.VRPs)
	}

	// The server goes away: the session is down at once; GoBGP keeps the
	// ROAs for the lifetime (1 s here), then they are gone and no source
	// has data.
	st.Stop()
	waitFor(t, "the session down", func() bool { return testutil.ToFloat64(m.metrics.sessionUp.WithLabelValues(srv.Name())) == 0 })
	ev = waitEvent(t, events, "no data after the lifetime", func(e model.RPKIEvent) bool { return !e.Ready })
	if len(ev.VRPs) != 0 {
		t.Errorf("VRPs after the lifetime: %v", ev.VRPs)
	}
	if got := testutil.ToFloat64(m.metrics.vrps.WithLabelValues("rtr", "ipv4")); got != 0 {
		t.Errorf("reachmon_rpki_vrps{rtr,ipv4} after the lifetime = %v", got)
	}
	if !strings.Contains(st.Output(), "StayRTR Server started") {
		t.Errorf("stayrtr did not log its start:\n%s", st.Output())
	}
}

// waitFor waits (bounded) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
