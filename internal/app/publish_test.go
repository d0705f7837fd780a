package app

import (
	"slices"
	"testing"
	"time"
)

// TestPublishing: the status (and the zone collector's series) follows
// an incident change at once when the last snapshot is old enough, else
// at the next tick, within a second whatever a snapshot costs; without
// changes every statusEvery.
func TestPublishing(t *testing.T) {
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var at []time.Duration
	p := publishing{snapshot: func(now time.Time) { at = append(at, now.Sub(start)) }}
	s := func(d time.Duration) time.Time { return start.Add(d) }
	expect := func(when string, want ...time.Duration) {
		t.Helper()
		if !slices.Equal(at, want) {
			t.Fatalf("%s: published at %v, want %v", when, at, want)
		}
	}
	p.changed(s(0))
	expect("first change", 0)
	// A snapshot that cost 100 ms: gap 2 s.
	p.gap = 2 * time.Second
	p.changed(s(300 * time.Millisecond))
	expect("a change within gap waits", 0)
	p.tick(s(time.Second), false)
	expect("the next tick publishes it", 0, time.Second)
	p.gap = 2 * time.Second
	p.tick(s(2*time.Second), true)
	expect("a tick's change within gap waits", 0, time.Second)
	p.tick(s(3*time.Second), false)
	expect("... for the next tick", 0, time.Second, 3*time.Second)
	p.gap = 2 * time.Second
	for i := 4; i <= 9; i++ {
		p.tick(s(time.Duration(i)*time.Second), false)
	}
	expect("no change: every statusEvery", 0, time.Second, 3*time.Second, 3*time.Second+statusEvery)
	p.gap = 2 * time.Second
	p.changed(s(10 * time.Second))
	expect("a change after gap: at once", 0, time.Second, 3*time.Second, 3*time.Second+statusEvery, 10*time.Second)
}
