// Package notifytest holds test helpers for the notify packages: a fake
// clock that only moves when a test advances it.
package notifytest

import (
	"sync"
	"time"

	"github.com/reachmon/reachmon/internal/notify"
)

// Clock is a manual notify.Clock. Timers fire when Advance or
// AdvanceToNext moves the clock past them; a stopped timer no longer
// counts as a waiter. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*timer]struct{}
}

type timer struct {
	c  *Clock
	at time.Time
	ch chan time.Time
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, timers: map[*timer]struct{}{}}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer firing once the clock has advanced by d.
func (c *Clock) NewTimer(d time.Duration) notify.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers[t] = struct{}{}
	return t
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t]
	delete(t.c.timers, t)
	return ok
}

// Waiters is the number of timers not yet fired nor stopped.
func (c *Clock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance moves the clock forward by d and fires due timers.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(c.now.Add(d))
}

// AdvanceToNext moves the clock to the earliest timer (if it is in the
// future) and fires it; it reports false when no timer waits.
func (c *Clock) AdvanceToNext() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return false
	}
	var next time.Time
	for t := range c.timers {
		if next.IsZero() || t.at.Before(next) {
			next = t.at
		}
	}
	if next.Before(c.now) {
		next = c.now
	}
	c.setLocked(next)
	return true
}

func (c *Clock) setLocked(now time.Time) {
	c.now = now
	for t := range c.timers {
		if !t.at.After(now) {
			t.ch <- now
			delete(c.timers, t)
		}
	}
}
