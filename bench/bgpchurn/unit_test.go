package bgpchurn

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// The quick tests of the generator and the analysis (go test without
// -bench runs only these).

func TestChurnMix(t *testing.T) {
	c := newChurner(2)
	for i := range peerDefs {
		if len(c.initial(i)) == 0 {
			t.Fatal("empty initial table")
		}
	}
	if got := len(c.adj[0]); got != nWatched+nNoise {
		t.Fatalf("peer 0 carries %d routes, want %d", got, nWatched+nNoise)
	}
	c.resetCounts()
	// 60 s of churn at 1,000 updates/s, in 10 ms steps.
	var msgs [2]int
	var sample []byte
	emit := func(peer int, m []byte) {
		msgs[peer]++
		if sample == nil && peer == 1 {
			sample = m
		}
	}
	const rate = 1000
	for el := 10 * time.Millisecond; el <= 60*time.Second; el += 10 * time.Millisecond {
		if due := int(rate*el.Seconds()) - c.total; due > 0 {
			c.step(el, due, emit)
		}
	}
	if c.total != msgs[0]+msgs[1] {
		t.Fatalf("counted %d updates, emitted %d", c.total, msgs[0]+msgs[1])
	}
	if c.total < 59_000 || c.total > 61_000 {
		t.Errorf("%d updates in 60 s, want about 60,000", c.total)
	}
	for k, want := range c.shares {
		got := float64(c.sent[k]) / float64(c.total)
		if math.Abs(got-want) > 0.01 {
			t.Errorf("class %s: share %.4f, want %.4f", k, got, want)
		}
		if c.skipped[k] > c.events[k]/100 {
			t.Errorf("class %s: %d skipped for %d events", k, c.skipped[k], c.events[k])
		}
	}
	if c.events[cLong] != 2 || c.events[cHijack] != 1 {
		t.Errorf("incident makers: %d long withdrawals, %d hijacks in 60 s; want 2 and 1", c.events[cLong], c.events[cHijack])
	}
	if c.expectedTotal() == 0 || c.expectedTotal() > c.watchedN {
		t.Errorf("expected %d changes for %d watched updates", c.expectedTotal(), c.watchedN)
	}
	t.Logf("mix: %s", c.mixLine())
	t.Logf("expected: %s", c.expectLine())
	// Every emitted message is a valid UPDATE.
	m, err := bgp.ParseBGPMessage(sample)
	if err != nil || m.Header.Type != bgp.BGP_MSG_UPDATE {
		t.Fatalf("sample message: %v %+v", err, m)
	}
}

func TestChurnDeterministic(t *testing.T) {
	a, b := newChurner(2), newChurner(2)
	if !bytes.Equal(a.initial(0), b.initial(0)) {
		t.Fatal("initial tables differ")
	}
	var ba, bb bytes.Buffer
	a.step(time.Second, 500, func(_ int, m []byte) { ba.Write(m) })
	b.step(time.Second, 500, func(_ int, m []byte) { bb.Write(m) })
	if !bytes.Equal(ba.Bytes(), bb.Bytes()) {
		t.Fatal("churn differs between two generators with the same seed")
	}
}

func TestTrend(t *testing.T) {
	var ss []sample
	for i := 0; i <= 120; i++ {
		// 100 MiB growing 0.5 MiB/min, with a sawtooth.
		v := 100 + 0.5*float64(i)*5/60 + float64(i%3)
		ss = append(ss, sample{T: float64(i) * 5, Phase: "churn", HeapInuse: v})
	}
	tr := trendOf(ss, 120, 600, 60, func(s sample) float64 { return s.HeapInuse })
	if math.Abs(tr.Slope-0.5) > 0.05 {
		t.Errorf("slope %.3f, want 0.5", tr.Slope)
	}
	if math.Abs(tr.Delta-3.5) > 0.5 {
		t.Errorf("delta %.2f, want about 3.5 (7 min between the edge means)", tr.Delta)
	}
	if s := lsSlope([]float64{1}, []float64{1}); !math.IsNaN(s) {
		t.Errorf("slope of one point = %v", s)
	}
}

func TestLogGaps(t *testing.T) {
	log := `time=2026-11-23T14:00:00.000Z level=INFO msg="reachmon starting"
time=2026-11-23T14:00:10.000Z level=INFO msg="bgp route" kind=announce
time=2026-11-23T14:00:10.400Z level=INFO msg="bgp route" kind=withdraw
not a log line
time=2026-11-23T14:00:12.900Z level=WARN msg=incident change=open
time=2026-11-23T14:00:13.000Z level=INFO msg="bgp route" kind=announce
time=2026-11-23T14:00:14.200Z level=INFO msg="bgp route" kind=path_change
time=2026-11-23T14:00:30.000Z level=INFO msg="shutting down"
`
	path := filepath.Join(t.TempDir(), "reachmon.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 23, 14, 0, 5, 0, time.UTC)
	g, err := logGaps(path, from, from.Add(10*time.Second), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if g.n != 2 || g.max != 2500*time.Millisecond || g.total != 3700*time.Millisecond {
		t.Fatalf("got %+v", g)
	}
	if !strings.Contains(g.lines[0], "change=open") {
		t.Errorf("longest gap should end at the incident line: %q", g.lines)
	}
}
