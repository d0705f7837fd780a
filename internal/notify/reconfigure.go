package notify

import (
	"time"

	"github.com/reachmon/reachmon/internal/config"
)

// tuning is a reloaded [slack] section and the notifier built from it.
type tuning struct {
	cfg config.SlackConfig
	n   Notifier
}

// Reconfigure applies a reloaded [slack] section to a running dispatcher:
// the routes decide the channel of every incident whose first change comes
// after it (an incident already routed keeps its channel, so that its
// thread goes on where it began); rate, repeat_interval,
// min_update_interval and max_backoff apply from the next delivery; n, when
// not nil, replaces the notifier (a changed token, api_url, timeout or
// links) from the next delivery. The outbox and the delivery state are
// kept as they are. Safe to call from any goroutine.
func (d *Dispatcher) Reconfigure(cfg config.SlackConfig, n Notifier) {
	d.mu.Lock()
	d.cfg = cfg
	d.retune = &tuning{cfg: cfg, n: n}
	d.mu.Unlock()
	d.m.addChannels(cfg.Channels())
	d.poke()
}

// takeTuning applies the settings Reconfigure handed over (Run's
// goroutine, which alone reads them).
func (d *Dispatcher) takeTuning() {
	d.mu.Lock()
	t := d.retune
	d.retune = nil
	d.mu.Unlock()
	if t == nil {
		return
	}
	d.interval = time.Duration(float64(time.Second) / t.cfg.RatePerSecond())
	d.repeat = t.cfg.RepeatInterval.Duration
	d.minUpdate = t.cfg.UpdateInterval()
	d.maxBackoff = max(t.cfg.MaxRetryBackoff(), d.baseBackoff)
	if t.n != nil {
		d.n = t.n
	}
}
