package schedule

import (
	"context"
	"reflect"

	"github.com/reachmon/reachmon/internal/config"
)

// SetPlan hands the scheduler a reloaded configuration plan: Run applies
// it between two dispatches. Zones that are new start being probed (their
// first rounds spread over the jitter, as at start); zones that are gone
// stop (a probe running then finishes, and its result is sent); a zone
// whose settings changed is scheduled again as if new, keeping the
// authoritative servers discovered for it, which it keeps probing until
// its next discovery. A change of [probe] or of the resolvers schedules
// every zone again. Safe to call from any goroutine, before or during
// Run; a later plan replaces one not applied yet.
func (s *Scheduler) SetPlan(plan *config.Plan) {
	if plan == nil || plan.Config == nil {
		return
	}
	s.mu.Lock()
	s.next = plan
	s.mu.Unlock()
	select {
	case s.replan <- struct{}{}:
	default:
	}
}

// takePlan returns the plan SetPlan handed over, if any.
func (s *Scheduler) takePlan() *config.Plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.next
	s.next = nil
	return p
}

// adopt makes plan the plan in force (before Run schedules anything).
func (s *Scheduler) adopt(plan *config.Plan) {
	zones := make([]*zonePlan, 0, len(plan.Zones))
	for _, z := range plan.Zones {
		zones = append(zones, planZone(z))
	}
	s.mu.Lock()
	s.probe, s.resolvers, s.zones = plan.Probe, plan.ResolverServers(), zones
	s.mu.Unlock()
}

// applyPlan switches the running schedule to plan (Run's goroutine).
func (q *runQueue) applyPlan(ctx context.Context, plan *config.Plan, authSet chan<- authUpdate) {
	s := q.s
	resolvers := plan.ResolverServers()
	all := s.probe != plan.Probe || !reflect.DeepEqual(s.resolvers, resolvers)
	old := map[string]*zonePlan{}
	for _, z := range s.zones {
		old[z.Name.FQDN()] = z
	}
	var (
		zones   = make([]*zonePlan, 0, len(plan.Zones))
		fresh   []*zonePlan
		keep    = map[*zonePlan]bool{}
		present = map[string]bool{}
	)
	for _, zc := range plan.Zones {
		present[zc.Name.FQDN()] = true
		if z := old[zc.Name.FQDN()]; z != nil && !all && reflect.DeepEqual(z.ZonePlan, zc) {
			zones = append(zones, z)
			keep[z] = true
			continue
		}
		z := planZone(zc)
		zones = append(zones, z)
		fresh = append(fresh, z)
	}
	for _, z := range s.zones {
		if !keep[z] {
			q.removeZone(z)
		}
	}
	s.mu.Lock()
	s.probe, s.resolvers, s.zones = plan.Probe, resolvers, zones
	// A zone added by a reload does not make the daemon unready: readiness
	// is about the first discovery after start. A changed zone keeps what
	// its discovery found.
	for _, z := range fresh {
		z.attempted = true
		if prev := old[z.Name.FQDN()]; prev != nil {
			z.servers, z.ns, z.found = prev.servers, prev.ns, prev.found
		}
	}
	s.mu.Unlock()
	q.set = s.settings()
	for fqdn, z := range old {
		if !present[fqdn] {
			s.skipped.DeleteLabelValues(z.Name.Label())
		}
	}
	for _, z := range fresh {
		q.scheduleZone(z, authSet)
		if z.explicit == nil {
			// Keep probing the servers discovered before the change until
			// the zone's next discovery.
			if servers := s.authServersOf(z); len(servers) > 0 {
				q.replaceAuthJobs(authUpdate{zone: z, servers: servers})
			}
		}
	}
	q.setLimit()
	s.log.Info("probe schedule changed", "zones", len(zones), "rescheduled", len(fresh), "jobs", q.jobs, "concurrency", q.limit)
	s.reportServersOf(ctx, fresh)
}

// removeZone unschedules every job of z.
func (q *runQueue) removeZone(z *zonePlan) {
	for _, j := range z.jobs {
		q.remove(j)
	}
	z.jobs, z.disc, z.ds, z.live = nil, nil, nil, false
}
