package rpki

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
	"github.com/reachmon/reachmon/internal/syncbuf"
)

// StayRTR is a real RTR server (Debian package stayrtr) serving a VRP
// JSON file on 127.0.0.1; tests edit the file and stayrtr, which checks
// it every second, sends its clients a Serial Notify.
type StayRTR struct {
	Port int
	File string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
}

// freePort returns a free TCP port on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WriteVRPs writes the VRPs as rpki-client's JSON (asn as "AS<n>", as
// stayrtr's own export writes it), atomically.
func WriteVRPs(t testing.TB, path string, vrps []model.VRP) {
	t.Helper()
	type roa struct {
		Prefix    string `json:"prefix"`
		MaxLength int    `json:"maxLength"`
		ASN       string `json:"asn"`
		TA        string `json:"ta"`
	}
	doc := struct {
		Metadata map[string]any `json:"metadata"`
		ROAs     []roa          `json:"roas"`
	}{Metadata: map[string]any{"buildtime": time.Now().UTC().Format(time.RFC3339)}, ROAs: []roa{}}
	for _, v := range vrps {
		doc.ROAs = append(doc.ROAs, roa{v.Prefix.String(), int(v.MaxLength), "AS" + strconv.FormatUint(uint64(v.ASN), 10), "test"})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// StartStayRTR runs stayrtr on a free port of 127.0.0.1 serving the
// VRPs (a file in a temporary directory); it is stopped, by its pid, when
// the test ends. Without stayrtr the test skips, and fails under CI=true.
//
// stayrtr speaks RTR version 2 by default and answers a client of a
// lower version in that version (it negotiates down on the client's first
// PDU); GoBGP's client sends version 0 (RFC 6810), which this test uses.
func StartStayRTR(t testing.TB, vrps []model.VRP) *StayRTR {
	t.Helper()
	bin, err := exec.LookPath("stayrtr")
	if err != nil {
		msg := "stayrtr is not installed (apt-get install -y stayrtr)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure")
		}
		t.Skip(msg)
	}
	s := &StayRTR{Port: freePort(t), File: filepath.Join(t.TempDir(), "vrps.json"), out: &syncbuf.Buffer{}}
	WriteVRPs(t, s.File, vrps)
	s.cmd = exec.Command(bin, "-cache", s.File, "-checktime=false", "-refresh", "1",
		"-bind", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
		"-metrics.addr", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))))
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start stayrtr: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("stayrtr output:\n%s", s.out.String())
		}
	})
	// Ready when it accepts connections (bounded).
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("stayrtr does not accept connections on port %d: %v\n%s", s.Port, err, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

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
// the evaluator, and an edit of stayrtr's file arrives as a new set.
func TestMonitorStayRTR(t *testing.T) {
	roa := model.VRP{Prefix: netip.MustParsePrefix("198.51.100.0/24"), MaxLength: 24, ASN: 64500}
	nsCover := model.VRP{Prefix: netip.MustParsePrefix("192.0.2.0/24"), MaxLength: 24, ASN: 64502}
	v6 := model.VRP{Prefix: netip.MustParsePrefix("2001:db8::/32"), MaxLength: 48, ASN: 64503}
	var others []model.VRP // not watched: counted, not kept
	for i := range 50 {
		others = append(others, model.VRP{Prefix: netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", i)), MaxLength: 24, ASN: uint32(65000 + i)})
	}
	st := StartStayRTR(t, append([]model.VRP{roa, v6}, others...))

	reg := prometheus.NewRegistry()
	events := make(chan model.Event, 16)
	srv := config.RTRServer{Address: "127.0.0.1", Port: st.Port, Lifetime: config.Duration{Duration: time.Hour}}
	m := New(config.RPKI{RTR: []config.RTRServer{srv}, FileCheckInterval: config.Duration{Duration: time.Second}},
		[]netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, []netip.Addr{netip.MustParseAddr("192.0.2.53")},
		Options{Registerer: reg, Events: events, Poll: 50 * time.Millisecond})
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
	WriteVRPs(t, st.File, append([]model.VRP{moved, nsCover, v6}, others...))
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
	if !strings.Contains(st.out.String(), "StayRTR Server started") {
		t.Errorf("stayrtr did not log its start:\n%s", st.out.String())
	}
}
