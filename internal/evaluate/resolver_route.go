package evaluate

import (
	"time"

	"github.com/reachmon/reachmon/internal/model"
)

// A resolver whose own route is withdrawn from BGP while its probes fail
// at the transport level is out as soon as the two signals agree: the
// withdrawal explains the failures, so the resolver outage does not wait
// for open_rounds failing rounds of (nearly) every zone. Without the
// withdrawal nothing changes: a resolver's blip pages no faster.

// routeSignal is what the probes of one resolver said since its route
// was withdrawn.
type routeSignal struct {
	// lastGood is when the latest good answer from the resolver arrived;
	// lastFail when the latest transport failure (timeout, unreachable,
	// refused, network) ended, and its class.
	lastGood, lastFail time.Time
	failClass          string
	// zones failed at the resolver at the transport level since its route
	// was withdrawn (for the incident's affected names).
	zones map[*zone]bool
	since time.Time // the withdrawal those zones count from
}

// transportFailure: no DNS answer at all, the way a lost route fails.
func transportFailure(c model.ErrorClass) bool {
	switch c {
	case model.ErrTimeout, model.ErrUnreachable, model.ErrRefused, model.ErrNetwork:
		return true
	}
	return false
}

// noteResolverProbe records a resolver's observation for the route rule
// and re-evaluates the resolvers when the rule's answer changes.
func (e *Evaluator) noteResolverProbe(res *resolver, z *zone, o model.Observation, ok bool, now time.Time) {
	end := o.Time.Add(o.Latency)
	sig := &res.route
	before := e.routeWithdrawnAndFailing(res)
	switch {
	case ok:
		if end.After(sig.lastGood) {
			sig.lastGood = end
		}
	case transportFailure(o.Error):
		if end.After(sig.lastFail) {
			sig.lastFail, sig.failClass = end, string(o.Error)
		}
		if a := e.addrs[res.addr]; res.addr.IsValid() && a != nil && a.degraded && !end.Before(a.degradedAt) {
			if sig.zones == nil || !sig.since.Equal(a.degradedAt) {
				sig.zones, sig.since = map[*zone]bool{}, a.degradedAt
			}
			if !sig.zones[z] {
				sig.zones[z] = true
				res.ev.add(o.Time, resolverRouteGoneEvidence(res.name, o))
			}
		}
	}
	if e.routeWithdrawnAndFailing(res) != before {
		e.evalResolvers(now)
	}
}

// routeWithdrawnAndFailing: the resolver's own route is withdrawn, a
// probe of it failed at the transport level after the withdrawal, and no
// probe got an answer from it since.
func (e *Evaluator) routeWithdrawnAndFailing(res *resolver) bool {
	if res == nil || !res.addr.IsValid() {
		return false
	}
	a := e.addrs[res.addr]
	if a == nil || !a.degraded || !a.healthy.IsValid() || a.degradedAt.IsZero() {
		return false
	}
	if ok, _ := e.bgpUsable(e.now); !ok {
		return false
	}
	sig := res.route
	return !sig.lastFail.Before(a.degradedAt) && !sig.lastGood.After(a.degradedAt)
}

// routeFailedZones lists the zones failed since the withdrawal, with
// those where the resolver is decided down.
func (res *resolver) routeFailedZones() map[*zone]bool {
	out := make(map[*zone]bool, len(res.route.zones)+len(res.downZones))
	for z := range res.route.zones {
		out[z] = true
	}
	for z := range res.downZones {
		out[z] = true
	}
	return out
}
