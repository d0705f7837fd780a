package schedule

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/model"
)

// bogusProber answers every probe until bogus is set; then its resolvers
// answer SERVFAIL and the CD=1 retry succeeds. It counts DS checks.
type bogusProber struct {
	bogus atomic.Bool
	mu    sync.Mutex
	dsN   int
}

func (b *bogusProber) Probe(_ context.Context, q dnsprobe.Query) model.Observation {
	o := model.Observation{Time: time.Now(), Target: q.Target, Server: q.Server, Name: q.Name, Type: q.Type, Rcode: "NOERROR",
		Answers: []string{q.Name + " IN A 192.0.2.1"}}
	if b.bogus.Load() && q.Server.Kind == model.KindResolver {
		o.Rcode, o.Answers = "SERVFAIL", nil
		o.CDRetry = &model.CDRetry{Rcode: "NOERROR", Answers: 1, Succeeded: true}
	}
	return o
}

func (b *bogusProber) Discover(_ context.Context, zone string, _ []model.Server) model.Discovery {
	return model.Discovery{Time: time.Now(), Zone: zone, Servers: []model.AuthServer{auth("ns1.s.example.", "127.0.0.1:5340")},
		TTL: time.Hour, Delegation: model.DelegationOK}
}

func (b *bogusProber) CheckDS(_ context.Context, zone string, _ []model.Server, _ []model.AuthServer) model.DSCheck {
	b.mu.Lock()
	b.dsN++
	b.mu.Unlock()
	return model.DSCheck{Time: time.Now(), Zone: zone, Status: model.DSOK}
}

func (b *bogusProber) checks() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dsN
}

// TestDNSSECFailureChecksDS: when validating resolvers begin to answer
// SERVFAIL where CD=1 succeeds, the zone's DS check runs at once instead
// of at its next interval (an hour here), and again when they answer:
// once per onset, not every round.
func TestDNSSECFailureChecksDS(t *testing.T) {
	for _, tc := range []struct {
		name, dnssec string
		want         bool
	}{{"signed", "", true}, {"dnssec-off", "dnssec = false", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse("t.toml", []byte(`
[probe]
interval = "50ms"
timeout = "40ms"
jitter = "10ms"
discovery_min = "1h"
discovery_max = "1h"
ds_check_interval = "1h"
[[resolver]]
name = "r1"
address = "127.0.0.1:5301"
[[resolver]]
name = "r2"
address = "127.0.0.1:5302"
[[zone]]
name = "s.example"
names = ["www"]
types = ["A"]
`+tc.dnssec+`
`))
			if err != nil {
				t.Fatal(err)
			}
			b := &bogusProber{}
			_, _, stop := run(t, cfg, b)
			defer stop()
			if tc.want {
				waitFor(t, "the first DS check", func() bool { return b.checks() == 1 })
			}
			time.Sleep(300 * time.Millisecond) // six probe rounds
			first := b.checks()
			if first > 1 {
				t.Fatalf("%d DS checks while every resolver answers and the interval is an hour, want 1", first)
			}
			b.bogus.Store(true)
			if !tc.want {
				time.Sleep(300 * time.Millisecond)
				if n := b.checks(); n != 0 {
					t.Fatalf("%d DS checks of a zone with dnssec = false, want 0", n)
				}
				return
			}
			waitFor(t, "a DS check after the resolvers began to SERVFAIL", func() bool { return b.checks() >= 2 })
			time.Sleep(500 * time.Millisecond) // ten rounds of SERVFAIL
			// Each of the two resolver probes may ask once at its onset.
			if n := b.checks(); n > 3 {
				t.Errorf("%d DS checks after ten rounds of SERVFAIL, want at most 3 (once per onset, not every round)", n)
			}
			failing := b.checks()
			b.bogus.Store(false)
			waitFor(t, "a DS check after the resolvers answered again", func() bool { return b.checks() > failing })
			time.Sleep(500 * time.Millisecond) // ten rounds of answers
			if n := b.checks(); n > failing+2 {
				t.Errorf("%d DS checks after ten rounds of answers (%d before), want at most 2 more (once per resolver)", n, failing)
			}
		})
	}
}
