package schedule

import (
	"fmt"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/model"
)

func newForTest(t *testing.T, cfg *config.Plan, rnd func(int64) int64) *Scheduler {
	t.Helper()
	s, err := New(cfg, &recorder{probes: map[string]int{}}, make(chan model.Event, 1), Options{Rand: rnd})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// With the default jitter (the whole interval) a probe's first round may
// start anywhere in its interval, and discoveries and DS checks start in
// the first tenth of the probe interval.
func TestFirstOffsetSpreadsProbesOverTheInterval(t *testing.T) {
	cfg, err := config.Parse("t.toml", []byte(`
[probe]
interval = "60s"
[[resolver]]
name = "r1"
address = "127.0.0.1:5301"
[[zone]]
name = "a.example"
authoritative = ["127.0.0.1:5310"]
`))
	if err != nil {
		t.Fatal(err)
	}
	var asked []int64
	s := newForTest(t, cfg, func(n int64) int64 { asked = append(asked, n); return n - 1 })
	z := s.zones[0]
	probe := s.resolverJobs(z)[0]
	if got := s.firstOffset(probe); got != 60*time.Second-1 {
		t.Errorf("probe offset %v, want up to the whole 60 s interval", got)
	}
	disc := s.newJob(z, discJob)
	ds := s.newJob(z, dsJob)
	for _, j := range []*job{disc, ds} {
		if got := s.firstOffset(j); got != 6*time.Second-1 {
			t.Errorf("%s offset %v, want within the first tenth of the interval (6 s)", j, got)
		}
	}
	// A zone probed more often than the jitter: clipped to its interval.
	often := *z
	often.Interval = 10 * time.Second
	short := *probe
	short.zone = &often
	if got := s.firstOffset(&short); got != 10*time.Second-1 {
		t.Errorf("offset of a 10 s job %v, want within its own interval", got)
	}
	if fmt.Sprint(asked) != fmt.Sprint([]int64{60e9, 6e9, 6e9, 10e9}) {
		t.Errorf("random bounds asked %v", asked)
	}

	cfg.Probe.Jitter.Duration = 0
	s = newForTest(t, cfg, func(n int64) int64 { return n - 1 })
	if got := s.firstOffset(s.resolverJobs(s.zones[0])[0]); got != 0 {
		t.Errorf("jitter 0: offset %v, want 0", got)
	}
}

// The dispatcher wakes at the end of a job's slot, so jobs due within the
// same slot start together.
func TestWakeAtSlotEnd(t *testing.T) {
	cfg := testConfig(t, "") // interval 100 ms: slot 2 ms
	s := newForTest(t, cfg, nil)
	if got := s.dispatchSlot(); got != 2*time.Millisecond {
		t.Errorf("slot for a 100 ms interval = %v, want 2 ms", got)
	}
	cfg.Probe.Interval.Duration = time.Minute
	cfg.Probe.Jitter.Duration = time.Second
	cfg.Probe.Timeout.Duration = time.Second
	s = newForTest(t, cfg, nil)
	if got := s.dispatchSlot(); got != maxDispatchSlot {
		t.Errorf("slot for a 1 m interval = %v, want %v", got, maxDispatchSlot)
	}
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ due, want time.Duration }{
		{0, 0},
		{time.Millisecond, 20 * time.Millisecond},
		{19 * time.Millisecond, 20 * time.Millisecond},
		{20 * time.Millisecond, 20 * time.Millisecond},
		{20*time.Millisecond + 1, 40 * time.Millisecond},
	} {
		if got := s.wakeAt(base.Add(tc.due)).Sub(base); got != tc.want {
			t.Errorf("wakeAt(+%v) = +%v, want +%v", tc.due, got, tc.want)
		}
	}
}

// Run with the default jitter: the first round of 40 probes spreads over
// the interval instead of bunching at its start.
func TestProbesSpreadOverTheInterval(t *testing.T) {
	cfg := testConfigProbe(t, `
interval = "400ms"
timeout = "50ms"
concurrency = 64
discovery_min = "60ms"
ds_check_interval = "100ms"
`, `
[[zone]]
name = "a.example"
names = ["@", "a", "b", "c", "d", "e", "f", "g", "h", "i"]
types = ["A", "AAAA"]
dnssec = false
authoritative = ["127.0.0.1:5310"]
`)
	if cfg.Probe.Jitter.Duration != cfg.Probe.Interval.Duration || cfg.Zones[0].Interval != cfg.Probe.Interval.Duration {
		t.Fatalf("jitter %v, zone interval %v: want the probe interval's default", cfg.Probe.Jitter, cfg.Zones[0].Interval)
	}
	r := &recorder{probes: map[string]int{}, starts: []time.Time{}}
	start := time.Now()
	_, _, stop := run(t, cfg, r)
	// 2 resolvers x 20 queries and one server x 21 (the SOA too): 61
	// probes, each starting its first round once in the interval.
	const probes = 61
	waitFor(t, "the first round of every probe", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.starts) >= probes
	})
	stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	late := 0
	for _, at := range r.starts[:probes] {
		if at.Sub(start) > 200*time.Millisecond {
			late++
		}
	}
	// Uniform over 400 ms: about half (30.5, standard deviation 3.9) start
	// in the second half; a second round (after 400 ms) or a late start
	// under load counts as late too. With a tenth of the interval as the
	// spread (the former default) none would. The threshold is 4.8
	// standard deviations below the mean: the first 40 starts with a
	// threshold of 5 failed about once in 40 runs, by chance.
	if late < 12 {
		t.Errorf("%d of the first %d probe starts came in the second half of the interval, want about 30", late, probes)
	}
}
