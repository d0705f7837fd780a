// Package schedule runs the DNS probes a configuration asks for: every
// (zone, name, type, server) on its interval with jitter, authoritative
// discovery refreshed within its TTL, and the DS-vs-DNSKEY check, with
// bounded concurrency and a deadline on every query. Results flow out as
// model.Events on one channel.
package schedule

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/model"
)

// Prober is what the scheduler needs of the DNS prober.
type Prober interface {
	Probe(ctx context.Context, q dnsprobe.Query) model.Observation
	Discover(ctx context.Context, zone string, resolvers []model.Server) model.Discovery
	CheckDS(ctx context.Context, zone string, resolvers []model.Server, auth []model.AuthServer) model.DSCheck
}

// Options are the scheduler's collaborators.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil = metrics not registered
	Now        func() time.Time
	// Rand returns a uniform value in [0, n); nil = math/rand/v2.
	Rand func(n int64) int64
}

// Scheduler owns the probe schedule. Create it with New and call Run once.
type Scheduler struct {
	// probe, zones and resolvers are the plan in force. Run's goroutine
	// changes them (applying SetPlan) holding mu, and reads them without
	// it; other goroutines read them holding mu. A job's goroutine reads
	// none of them: a job takes what it needs when it is made.
	probe     config.Probe
	zones     []*zonePlan
	resolvers []model.Server
	prober    Prober
	out       chan<- model.Event
	log       *slog.Logger
	now       func() time.Time
	rand      func(int64) int64

	lag     prometheus.Histogram
	skipped *prometheus.CounterVec
	running prometheus.Gauge
	limitG  prometheus.Gauge
	// fds is the process's open-file limit (0: unknown): every running
	// query holds a socket, so the automatic limit stays under it.
	fds int

	mu        sync.Mutex
	discovery map[string]model.Discovery // zone FQDN -> latest successful discovery
	attempted map[string]bool            // zone FQDN -> discovery tried at least once

	// rediscover asks Run to discover a zone again now: a resolver began
	// to say one of its names does not exist, and the parent's answer
	// tells a removed delegation from a resolver-side problem.
	rediscover chan *zonePlan
	// dsNow asks Run to check a zone's DS against its DNSKEY now: a
	// validating resolver began to answer SERVFAIL where CD=1 succeeds,
	// and the incident's first page should say whether the DS is why.
	dsNow chan *zonePlan

	// next is the plan SetPlan handed over (under mu); replan wakes Run
	// to apply it.
	next   *config.Plan
	replan chan struct{}
}

// zonePlan is a configured zone with its explicit servers as the prober
// names them.
type zonePlan struct {
	config.ZonePlan
	explicit []model.AuthServer // nil = discover
}

// New builds a scheduler for plan (from config.Load or config.Parse).
func New(plan *config.Plan, prober Prober, out chan<- model.Event, o Options) (*Scheduler, error) {
	if plan == nil || plan.Config == nil {
		return nil, errors.New("schedule: no configuration plan (config.Load or config.Parse builds one)")
	}
	s := &Scheduler{
		probe:     plan.Probe,
		resolvers: plan.ResolverServers(),
		prober:    prober,
		out:       out,
		log:       o.Logger,
		now:       o.Now,
		rand:      o.Rand,
		discovery: map[string]model.Discovery{},
		attempted: map[string]bool{},
	}
	s.rediscover = make(chan *zonePlan, 64)
	s.dsNow = make(chan *zonePlan, 64)
	s.replan = make(chan struct{}, 1)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Int64N
	}
	for _, z := range plan.Zones {
		s.zones = append(s.zones, planZone(z))
	}
	f := promauto.With(o.Registerer)
	s.lag = f.NewHistogram(prometheus.HistogramOpts{
		Name:    "reachmon_probe_schedule_lag_seconds",
		Help:    "Delay between when a probe was due and when it started.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30},
	})
	s.skipped = f.NewCounterVec(prometheus.CounterOpts{
		Name: "reachmon_probe_skipped_total",
		Help: "Probe rounds skipped because the previous round of the same probe was still running.",
	}, []string{"zone"}) // a zone's series appears at its first skipped round: none at 10,000 zones that never skip
	s.running = f.NewGauge(prometheus.GaugeOpts{
		Name: "reachmon_probe_in_flight",
		Help: "Probes running now.",
	})
	s.limitG = f.NewGauge(prometheus.GaugeOpts{
		Name: "reachmon_probe_concurrency_limit",
		Help: "Probes that may run at once: [probe] concurrency, or with 0 (auto) enough for every scheduled probe to time out at once.",
	})
	s.fds = openFileLimit()
	return s, nil
}

// lookupHold is how many query timeouts a discovery or DS check, which
// asks several servers in turn, may take in all.
const lookupHold = 4

// Bounds of the automatic concurrency limit.
const (
	minAutoConcurrency = 64
	maxAutoConcurrency = 10000
)

// limit is how many jobs may run at once: [probe] concurrency, or with 0
// autoLimit of the schedule's demand.
func (s *Scheduler) limit(demand float64) int {
	if s.probe.Concurrency > 0 {
		return s.probe.Concurrency
	}
	return autoLimit(demand, s.fds)
}

// autoLimit is enough room for every job to run for its whole deadline at
// once (demand, Σ hold/every over the jobs), with a quarter more and 16 for
// the unevenness of random phases; at least minAutoConcurrency, at most
// maxAutoConcurrency and half the open-file limit fds (when known).
func autoLimit(demand float64, fds int) int {
	n := int(math.Ceil(demand*1.25)) + 16
	n = min(max(n, minAutoConcurrency), maxAutoConcurrency)
	if fds > 0 {
		n = min(n, max(fds/2, minAutoConcurrency))
	}
	return n
}

// planZone names the zone's configured authoritative servers, if any, as
// a discovery names the servers it finds.
func planZone(z config.ZonePlan) *zonePlan {
	zp := &zonePlan{ZonePlan: z}
	for _, ap := range z.Authoritative {
		zp.explicit = append(zp.explicit, model.AuthServer{Host: ap.String(), Addr: ap, Sources: []model.AuthSource{model.SourceConfig}})
	}
	return zp
}

// AuthServers returns the current authoritative servers of every zone
// (explicit or discovered), keyed by zone FQDN.
func (s *Scheduler) AuthServers() map[string][]model.AuthServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]model.AuthServer, len(s.zones))
	for _, z := range s.zones {
		if z.explicit != nil {
			out[z.Name.FQDN()] = z.explicit
		} else if d, ok := s.discovery[z.Name.FQDN()]; ok {
			out[z.Name.FQDN()] = d.Servers
		}
	}
	return out
}

// authServersOf returns one zone's current authoritative servers
// (explicit or discovered).
func (s *Scheduler) authServersOf(z *zonePlan) []model.AuthServer {
	if z.explicit != nil {
		return z.explicit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.discovery[z.Name.FQDN()].Servers
}

// Ready returns nil once every zone that needs discovery has had its
// first discovery attempt (successful or not), else an error naming the
// zones still waiting.
func (s *Scheduler) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var waiting []string
	for _, z := range s.zones {
		if z.explicit == nil && !s.attempted[z.Name.FQDN()] {
			waiting = append(waiting, z.Name.Label())
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("first discovery pending for %d zone(s): %v", len(waiting), waiting)
	}
	return nil
}

// job is one recurring unit of work.
type job struct {
	key     string
	zone    *zonePlan
	due     time.Time
	every   time.Duration
	run     func(ctx context.Context) time.Duration // returns an override for the next interval (0 = every)
	busy    bool
	removed bool
	// prompt jobs (discovery, DS checks) start early: probes wait for them.
	prompt bool
	// hold is the longest one run can take (its deadline): with every, what
	// the job adds to the concurrency it may need (see demand).
	hold  time.Duration
	index int
	// started is when the job last started.
	started time.Time
}

// demand is the share of one worker the job needs if every run takes its
// whole deadline (every query times out).
func (j *job) demand() float64 {
	if j.every <= 0 {
		return 0
	}
	return min(1, float64(j.hold)/float64(j.every))
}

type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h jobHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].index = i; h[j].index = j }
func (h *jobHeap) Push(x any)        { j := x.(*job); j.index = len(*h); *h = append(*h, j) }
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.index = -1
	return j
}

type done struct {
	j    *job
	next time.Duration
}

// runQueue is Run's state: the jobs scheduled, in a heap by due time, and
// the concurrency limit they call for. Only Run's goroutine touches it.
type runQueue struct {
	s    *Scheduler
	h    jobHeap
	jobs map[string]*job
	// authKeys are the keys of each zone's authoritative probe jobs now
	// scheduled.
	authKeys map[*zonePlan][]string
	inFlight int
	// live are the zones of the plan in force.
	live map[*zonePlan]bool
	// demand is Σ job.demand() over the jobs scheduled.
	demand float64
	limit  int
}

// Run probes until ctx is cancelled; it returns once every running job has
// finished. It does not close out.
//
// Each due job runs in its own goroutine, at most limit at once. With
// [probe] concurrency = 0 (the default) the limit follows the schedule:
// enough that every job could take its whole deadline at the same time
// (autoLimit), so that a server that stops answering, whose probes each
// hold a worker for the whole timeout, does not delay the probes of every
// other server.
func (s *Scheduler) Run(ctx context.Context) error {
	var (
		q       = &runQueue{s: s, jobs: map[string]*job{}, authKeys: map[*zonePlan][]string{}, live: map[*zonePlan]bool{}}
		results = make(chan done, 64)
		authSet = make(chan authUpdate, 64)
		wg      sync.WaitGroup
	)
	if p := s.takePlan(); p != nil {
		s.adopt(p)
	}
	q.scheduleZones(authSet)
	q.setLimit()
	s.log.Info("probe schedule", "jobs", len(q.jobs), "concurrency", q.limit, "automatic", s.probe.Concurrency == 0)
	s.reportConfiguredServers(ctx)
	defer drainUntilDone(results, &wg)

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := s.now()
		q.startDue(ctx, now, &wg, results)
		// Then wait for the end of the head job's slot, unless it is due
		// already and waits for a running job to finish: re-arming the
		// timer at zero then would spin this loop.
		var wake <-chan time.Time
		if len(q.h) > 0 && q.h[0].due.After(now) {
			timer.Reset(s.wakeAt(q.h[0].due).Sub(now))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case d := <-results:
			q.finished(d)
		case u := <-authSet:
			if !q.live[u.zone] {
				continue // a discovery of a zone a reload removed or changed
			}
			q.replaceAuthJobs(u)
			q.setLimit()
		case <-s.replan:
			if p := s.takePlan(); p != nil {
				q.applyPlan(ctx, p, authSet)
			}
		case z := <-s.rediscover:
			q.rediscoverNow(z)
		case z := <-s.dsNow:
			q.checkDSNow(z)
		}
	}
}

// reportConfiguredServers reports the configured authoritative servers
// once, as a discovery would report them, so that every consumer (the BGP
// watch list, the evaluator) sees every zone's nameserver addresses the
// same way.
func (s *Scheduler) reportConfiguredServers(ctx context.Context) {
	s.reportServersOf(ctx, s.zones)
}

// reportServersOf reports the configured authoritative servers of zones.
func (s *Scheduler) reportServersOf(ctx context.Context, zones []*zonePlan) {
	for _, z := range zones {
		if z.explicit != nil {
			s.emit(ctx, model.Discovery{Time: s.now(), Zone: z.Name.FQDN(), Servers: z.explicit})
		}
	}
}

// drainUntilDone waits for the running jobs, receiving their results so
// that none blocks on a full channel.
func drainUntilDone(results <-chan done, wg *sync.WaitGroup) {
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-results:
			case <-stop:
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
}

// scheduleZones adds every zone's first jobs: resolver probes, then the
// configured servers' probes or the discovery that finds them, then the DS
// check of a signed zone.
func (q *runQueue) scheduleZones(authSet chan<- authUpdate) {
	for _, z := range q.s.zones {
		q.scheduleZone(z, authSet)
	}
}

// scheduleZone adds one zone's first jobs (see scheduleZones).
func (q *runQueue) scheduleZone(z *zonePlan, authSet chan<- authUpdate) {
	s := q.s
	q.live[z] = true
	for _, j := range s.resolverJobs(z) {
		q.add(j)
	}
	if z.explicit != nil {
		for _, j := range s.authJobs(z, z.explicit) {
			q.add(j)
			q.authKeys[z] = append(q.authKeys[z], j.key)
		}
	} else {
		q.add(s.discoveryJob(z, authSet))
	}
	if z.DNSSEC {
		q.add(s.dsJob(z))
	}
}

// setLimit follows the concurrency limit to the demand of the jobs now
// scheduled.
func (q *runQueue) setLimit() {
	if l := q.s.limit(q.demand); l != q.limit {
		if q.limit > 0 {
			q.s.log.Debug("probe concurrency limit", "from", q.limit, "to", l, "jobs", len(q.jobs))
		}
		q.limit = l
		q.s.limitG.Set(float64(l))
	}
}

// add schedules j, replacing a job of the same key.
func (q *runQueue) add(j *job) {
	if old, ok := q.jobs[j.key]; ok {
		old.removed = true
		q.demand -= old.demand()
		if old.index >= 0 {
			heap.Remove(&q.h, old.index)
		}
	}
	q.jobs[j.key] = j
	q.demand += j.demand()
	j.due = q.s.now().Add(q.s.firstOffset(j))
	heap.Push(&q.h, j)
}

// remove unschedules j; if it is running, it is not rescheduled when it
// finishes.
func (q *runQueue) remove(j *job) {
	j.removed = true
	q.demand -= j.demand()
	if j.index >= 0 && !j.busy {
		heap.Remove(&q.h, j.index)
	}
	delete(q.jobs, j.key)
}

// startDue starts every job that is due, while under the limit, each in
// its own goroutine that sends its result on results.
func (q *runQueue) startDue(ctx context.Context, now time.Time, wg *sync.WaitGroup, results chan<- done) {
	s := q.s
	for len(q.h) > 0 && q.inFlight < q.limit && !q.h[0].due.After(now) {
		j := heap.Pop(&q.h).(*job)
		s.lag.Observe(now.Sub(j.due).Seconds())
		j.busy, j.started = true, now
		q.inFlight++
		s.running.Inc()
		wg.Go(func() {
			next := j.run(ctx)
			s.running.Dec()
			results <- done{j, next}
		})
	}
}

// finished reschedules a job that has run, unless it was removed meanwhile.
func (q *runQueue) finished(d done) {
	q.inFlight--
	d.j.busy = false
	if d.j.removed {
		return
	}
	every := d.j.every
	if d.next > 0 {
		every = d.next
	}
	d.j.due = d.j.due.Add(every)
	if now := q.s.now(); d.j.due.Before(now) {
		// The job overran its interval: skip the rounds it missed
		// rather than firing them back to back.
		missed := now.Sub(d.j.due)/every + 1
		q.s.skipped.WithLabelValues(d.j.zone.Name.Label()).Add(float64(missed))
		d.j.due = d.j.due.Add(missed * every)
	}
	heap.Push(&q.h, d.j)
}

// rediscoverNow runs the zone's discovery now unless it runs or ran
// moments ago.
func (q *runQueue) rediscoverNow(z *zonePlan) {
	q.runNow("disc "+z.Name.FQDN(), min(rediscoverSpacing, q.s.probe.DiscoveryMin.Duration))
}

// checkDSNow runs the zone's DS check now unless it is running. A check
// that ran before the onset says nothing of it, so there is no spacing:
// each resolver asks once per onset, a few queries each.
func (q *runQueue) checkDSNow(z *zonePlan) {
	q.runNow("ds "+z.Name.FQDN(), 0)
}

// runNow makes the job with key due now, unless it is running, is not
// scheduled, or started less than spacing ago.
func (q *runQueue) runNow(key string, spacing time.Duration) {
	s := q.s
	if j := q.jobs[key]; j != nil && !j.busy && j.index >= 0 && s.now().Sub(j.started) >= spacing {
		j.due = s.now()
		heap.Fix(&q.h, j.index)
	}
}

type authUpdate struct {
	zone    *zonePlan
	servers []model.AuthServer
}

// replaceAuthJobs swaps a zone's authoritative probe jobs for the new set.
func (q *runQueue) replaceAuthJobs(u authUpdate) {
	want := map[string]*job{}
	for _, j := range q.s.authJobs(u.zone, u.servers) {
		want[j.key] = j
	}
	for _, k := range q.authKeys[u.zone] {
		j, ok := q.jobs[k]
		if _, keep := want[k]; ok && !keep {
			q.remove(j)
		}
	}
	keys := q.authKeys[u.zone][:0]
	for k, j := range want {
		if _, ok := q.jobs[k]; !ok {
			q.add(j)
		}
		keys = append(keys, k)
	}
	q.authKeys[u.zone] = keys
}

// firstOffset is when a job first runs, after it is added: probes at a
// random point of [0, jitter) (clipped to their own interval), and they
// keep that phase, so that with the default jitter (the whole interval)
// the probes of an interval spread evenly over it. Discoveries and DS
// checks, which the probes of a zone wait for, start within the first
// tenth of the probe interval.
func (s *Scheduler) firstOffset(j *job) time.Duration {
	spread := min(s.probe.Jitter.Duration, j.every)
	if j.prompt {
		spread = min(spread, s.probe.Interval.Duration/10)
	}
	if spread <= 0 {
		return 0
	}
	return time.Duration(s.rand(int64(spread)))
}

// dispatchSlot is the granularity of the dispatcher's wake-ups: the jobs
// due within one slot start together at its end. Waking once per slot
// rather than once per probe (a thousand times a second at 60,000 checks
// a minute) is most of the CPU an evenly spread schedule costs beyond the
// queries themselves; a slot adds at most its length to the lag.
func (s *Scheduler) dispatchSlot() time.Duration {
	return min(maxDispatchSlot, s.probe.Interval.Duration/50)
}

const maxDispatchSlot = 20 * time.Millisecond

// wakeAt is when the dispatcher wakes for a job due at due: the end of
// due's slot.
func (s *Scheduler) wakeAt(due time.Time) time.Time {
	slot := s.dispatchSlot()
	if slot <= 0 {
		return due
	}
	w := due.Truncate(slot)
	if w.Before(due) {
		w = w.Add(slot)
	}
	return w
}

func (s *Scheduler) emit(ctx context.Context, ev model.Event) {
	select {
	case s.out <- ev:
	case <-ctx.Done():
	}
}

func (s *Scheduler) probeJob(z *zonePlan, key string, q dnsprobe.Query) *job {
	return s.probeJobThen(z, key, q, nil)
}

// probeJobThen is probeJob with then called with every observation.
func (s *Scheduler) probeJobThen(z *zonePlan, key string, q dnsprobe.Query, then func(model.Observation)) *job {
	timeout := s.probe.Timeout.Duration
	return &job{key: key, zone: z, every: z.Interval, hold: timeout, run: func(ctx context.Context) time.Duration {
		qctx, cancel := context.WithTimeout(ctx, timeout)
		obs := s.prober.Probe(qctx, q)
		cancel()
		if ctx.Err() == nil {
			s.emit(ctx, obs)
			if then != nil {
				then(obs)
			}
		}
		return 0
	}}
}

func (s *Scheduler) resolverJobs(z *zonePlan) []*job {
	var out []*job
	for _, r := range s.resolvers {
		for _, n := range z.Names {
			for _, t := range z.Types {
				key := fmt.Sprintf("res %s %s %s %s", z.Name.FQDN(), r.Name, n, t)
				out = append(out, s.probeJobThen(z, key, dnsprobe.Query{Target: z.Name.Label(), Server: r, Name: n, Type: t}, s.watchResolver(z)))
			}
		}
	}
	return out
}

// rediscoverSpacing is the least time between a zone's discovery and one
// asked for by a negative answer (discovery_min when shorter).
const rediscoverSpacing = 10 * time.Second

// watchResolver returns the observer of one resolver probe job, nil when
// it has nothing to watch. Of a discovered zone: when its answers turn
// negative (NXDOMAIN, or NOERROR without answers), the zone's discovery
// runs again at once, so that what the parent says of the delegation is
// fresh when the verdict is made. Of a DNSSEC zone: when a validating
// resolver begins to answer SERVFAIL where the CD=1 retry succeeds (the
// signature of a DNSSEC failure), and again when it stops, the DS check
// runs at once rather than at its next interval, so that the incident's
// first page can say whether the DS matches a DNSKEY and a fixed key
// resolves it without waiting for the interval. Once per onset: a name
// that stays failing does not ask every round.
func (s *Scheduler) watchResolver(z *zonePlan) func(model.Observation) {
	discovered, signed := z.explicit == nil, z.DNSSEC
	if !discovered && !signed {
		return nil
	}
	var wasNeg, wasBogus bool // a job never runs twice at once
	return func(o model.Observation) {
		neg := discovered && o.Error == model.ErrNone && (o.Rcode == "NXDOMAIN" || o.Rcode == "NOERROR" && len(o.Answers) == 0)
		if neg && !wasNeg {
			ask(s.rediscover, z)
		}
		bogus := signed && o.CDRetry != nil && o.CDRetry.Succeeded
		if bogus != wasBogus && o.Error == model.ErrNone {
			ask(s.dsNow, z)
		}
		wasNeg, wasBogus = neg, bogus
	}
}

// ask sends z to Run without waiting: when the channel is full, requests
// are pending already.
func ask(c chan<- *zonePlan, z *zonePlan) {
	select {
	case c <- z:
	default:
	}
}

// authJobs probes every authoritative server for the zone apex SOA (the
// serial) and every configured name and type.
func (s *Scheduler) authJobs(z *zonePlan, servers []model.AuthServer) []*job {
	var out []*job
	for _, srv := range AuthModelServers(servers) {
		types := z.Types
		if !slices.Contains(types, "SOA") {
			types = append([]string{"SOA"}, types...)
		}
		for _, n := range z.Names {
			for _, t := range types {
				if t == "SOA" && n != z.Name.FQDN() {
					continue
				}
				key := fmt.Sprintf("auth %s %s %s %s %s", z.Name.FQDN(), srv.Name, srv.Addr, n, t)
				out = append(out, s.probeJob(z, key, dnsprobe.Query{Target: z.Name.Label(), Server: srv, Name: n, Type: t}))
			}
		}
		if !slices.Contains(z.Names, z.Name.FQDN()) {
			key := fmt.Sprintf("auth %s %s %s %s SOA", z.Name.FQDN(), srv.Name, srv.Addr, z.Name.FQDN())
			out = append(out, s.probeJob(z, key, dnsprobe.Query{Target: z.Name.Label(), Server: srv, Name: z.Name.FQDN(), Type: "SOA"}))
		}
	}
	return out
}

// AuthModelServers names authoritative servers for probing: the host name
// for its first IPv4 address, "host#v6" for its first IPv6 address, and
// "#2", "#v6-2" … for further ones, so that names (metrics labels) stay
// unique and bounded.
func AuthModelServers(servers []model.AuthServer) []model.Server {
	count := map[string]int{}
	out := make([]model.Server, 0, len(servers))
	for _, a := range servers {
		suffix := ""
		if a.Addr.Addr().Is6() && !a.Addr.Addr().Is4In6() {
			suffix = "v6"
		}
		k := a.Host + "/" + suffix
		count[k]++
		if n := count[k]; n > 1 {
			if suffix != "" {
				suffix += "-"
			}
			suffix += fmt.Sprint(n)
		}
		name := a.Host
		if suffix != "" {
			name += "#" + suffix
		}
		out = append(out, model.Server{Name: name, Kind: model.KindAuthoritative, Addr: a.Addr.String(), Transport: model.TransportUDP})
	}
	return out
}

func (s *Scheduler) discoveryJob(z *zonePlan, updates chan<- authUpdate) *job {
	probe, resolvers := s.probe, s.resolvers
	return &job{key: "disc " + z.Name.FQDN(), zone: z, every: probe.DiscoveryMin.Duration, prompt: true, hold: lookupHold * probe.Timeout.Duration, run: func(ctx context.Context) time.Duration {
		// Discovery takes several queries: give it a few timeouts' worth.
		dctx, cancel := context.WithTimeout(ctx, lookupHold*probe.Timeout.Duration)
		d := s.prober.Discover(dctx, z.Name.FQDN(), resolvers)
		cancel()
		if ctx.Err() != nil {
			return 0
		}
		d.Zone = z.Name.FQDN()
		s.mu.Lock()
		s.attempted[z.Name.FQDN()] = true
		s.mu.Unlock()
		if d.Error != "" || len(d.Servers) == 0 {
			s.log.Warn("discovery failed", "zone", z.Name.Label(), "error", d.Error)
			s.mu.Lock()
			prev, ok := s.discovery[z.Name.FQDN()]
			s.mu.Unlock()
			if ok {
				// Keep probing the previous set; report it with the error.
				d.Servers = prev.Servers
				d.NS = prev.NS
			}
			s.emit(ctx, d)
			return probe.DiscoveryMin.Duration
		}
		s.mu.Lock()
		prev, had := s.discovery[z.Name.FQDN()]
		s.discovery[z.Name.FQDN()] = d
		s.mu.Unlock()
		if !had || !sameServers(prev.Servers, d.Servers) {
			s.log.Info("authoritative servers discovered", "zone", z.Name.Label(), "ns", d.NS, "servers", len(d.Servers))
			select {
			case updates <- authUpdate{z, d.Servers}:
			case <-ctx.Done():
				return 0
			}
		}
		s.emit(ctx, d)
		return min(max(d.TTL, probe.DiscoveryMin.Duration), probe.DiscoveryMax.Duration)
	}}
}

func (s *Scheduler) dsJob(z *zonePlan) *job {
	probe, resolvers := s.probe, s.resolvers
	return &job{key: "ds " + z.Name.FQDN(), zone: z, every: probe.DSCheckInterval.Duration, prompt: true, hold: lookupHold * probe.Timeout.Duration, run: func(ctx context.Context) time.Duration {
		auth := s.authServersOf(z)
		if len(auth) == 0 {
			// Nothing to compare against yet: try again soon.
			return min(probe.DSCheckInterval.Duration, z.Interval)
		}
		dctx, cancel := context.WithTimeout(ctx, lookupHold*probe.Timeout.Duration)
		c := s.prober.CheckDS(dctx, z.Name.FQDN(), resolvers, auth)
		cancel()
		if ctx.Err() == nil {
			s.emit(ctx, c)
		}
		return 0
	}}
}

func sameServers(a, b []model.AuthServer) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(x model.AuthServer) string { return x.Host + " " + x.Addr.String() }
	ka := make([]string, len(a))
	kb := make([]string, len(b))
	for i := range a {
		ka[i], kb[i] = key(a[i]), key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}
