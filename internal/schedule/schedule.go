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
	"unique"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/reachmon/reachmon/internal/config"
	"github.com/reachmon/reachmon/internal/dnsprobe"
	"github.com/reachmon/reachmon/internal/intern"
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
	// none of them: Run hands it the settings in force when it starts.
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

	// mu guards the plan's fields above for other goroutines, and each
	// zone's discovery state (zonePlan.found …).
	mu sync.Mutex
	// names shares the nameserver host names the zones' discoveries keep,
	// srcs their lists of sources (under mu).
	names intern.Table
	srcs  [][]model.AuthSource

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
// names them, its scheduled jobs and what its discovery found.
type zonePlan struct {
	config.ZonePlan
	explicit []model.AuthServer // nil = discover

	// Run's goroutine alone: live says the zone is in the plan in force;
	// jobs are its scheduled jobs; disc is its discovery job (nil: its
	// servers are configured), discStarted when that last started; ds is
	// its DS check (nil: dnssec = false).
	live        bool
	jobs        []*job
	disc, ds    *job
	discStarted time.Time

	// Under Scheduler.mu: the servers and NS names of the zone's latest
	// successful discovery (found: there was one), and whether a
	// discovery was tried at least once. Only these are kept of a
	// discovery, not the whole model.Discovery.
	servers   []model.AuthServer
	ns        []string
	found     bool
	attempted bool
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
		} else if z.found {
			out[z.Name.FQDN()] = z.servers
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
	return z.servers
}

// Ready returns nil once every zone that needs discovery has had its
// first discovery attempt (successful or not), else an error naming the
// zones still waiting.
func (s *Scheduler) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var waiting []string
	for _, z := range s.zones {
		if z.explicit == nil && !z.attempted {
			waiting = append(waiting, z.Name.Label())
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("first discovery pending for %d zone(s): %v", len(waiting), waiting)
	}
	return nil
}

// jobKind is what a job does.
type jobKind uint8

const (
	probeJob jobKind = iota // one query of one server
	discJob                 // the zone's discovery
	dsJob                   // the zone's DS-vs-DNSKEY check
)

// job is one recurring unit of work. There is one per (zone, server,
// name, type) (70,000 at 10,000 zones x 5 servers plus their discoveries
// and DS checks), so a job holds indexes and a shared server rather than
// a closure, a key and a copy of its query: 64 bytes
// (BenchmarkScheduleHeap). Run's goroutine alone touches it, but for the
// fields a run reads (zone, srv, name, qtype, kind, auth, never changed)
// and wasNeg (only its run).
type job struct {
	zone *zonePlan
	// srv is the server a probe asks: one value shared by every job that
	// asks it (a resolver, or a nameserver serving many zones).
	srv unique.Handle[model.Server]
	due time.Time
	// index is the job's place in the heap (-1: not in it).
	index int32
	// demand is the share of one worker the job needs if every run takes
	// its whole deadline (see runQueue.demand).
	demand float32
	// name and qtype index the zone's Names and Types (apexName: the
	// zone's apex; soaType: SOA).
	name, qtype int32
	kind        jobKind
	// auth: a probe of an authoritative server (replaced when discovery
	// finds another set).
	auth          bool
	busy, removed bool
	// wasNeg and wasBogus: the last answer of this resolver probe was
	// negative, or a DNSSEC failure (watchResolver); only its run touches
	// them.
	wasNeg, wasBogus bool
}

// The name and qtype of a probe that the zone's lists do not hold: the
// apex SOA every authoritative server is asked.
const (
	apexName = -1
	soaType  = -1
)

// query is what the probe job asks.
func (j *job) query() dnsprobe.Query {
	z := j.zone
	name := z.Name.FQDN()
	if j.name != apexName {
		name = z.Names[j.name]
	}
	qtype := "SOA"
	if j.qtype != soaType {
		qtype = z.Types[j.qtype]
	}
	return dnsprobe.Query{Target: z.Name.Label(), Server: j.srv.Value(), Name: name, Type: qtype}
}

// String names the job as logs and tests do: "res ZONE RESOLVER NAME
// TYPE", "auth ZONE SERVER ADDRESS NAME TYPE", "disc ZONE", "ds ZONE".
func (j *job) String() string {
	switch j.kind {
	case discJob:
		return "disc " + j.zone.Name.FQDN()
	case dsJob:
		return "ds " + j.zone.Name.FQDN()
	}
	q := j.query()
	if j.auth {
		return fmt.Sprintf("auth %s %s %s %s %s", j.zone.Name.FQDN(), q.Server.Name, q.Server.Addr, q.Name, q.Type)
	}
	return fmt.Sprintf("res %s %s %s %s", j.zone.Name.FQDN(), q.Server.Name, q.Name, q.Type)
}

// prompt jobs (discovery, DS checks) start early: probes wait for them.
func (j *job) prompt() bool { return j.kind != probeJob }

// every is the job's interval.
func (s *Scheduler) every(j *job) time.Duration {
	switch j.kind {
	case discJob:
		return s.probe.DiscoveryMin.Duration
	case dsJob:
		return s.probe.DSCheckInterval.Duration
	}
	return j.zone.Interval
}

// hold is the longest one run of the job can take (its deadline).
func (s *Scheduler) hold(j *job) time.Duration {
	if j.kind == probeJob {
		return s.probe.Timeout.Duration
	}
	return lookupHold * s.probe.Timeout.Duration
}

// newJob is a job of zone z, its demand set from the settings in force.
func (s *Scheduler) newJob(z *zonePlan, kind jobKind) *job {
	j := &job{zone: z, kind: kind, index: -1}
	if every := s.every(j); every > 0 {
		j.demand = float32(min(1, float64(s.hold(j))/float64(every)))
	}
	return j
}

type jobHeap []*job

func (h jobHeap) Len() int           { return len(h) }
func (h jobHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h jobHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = int32(i), int32(j)
}
func (h *jobHeap) Push(x any) { j := x.(*job); j.index = int32(len(*h)); *h = append(*h, j) }
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

// settings are the values of the plan that a running job reads: Run hands
// each job the settings in force when it starts. A reload replaces them
// (SetPlan), never changes them, so a job's goroutine shares nothing that
// changes with Run's.
type settings struct {
	probe     config.Probe
	resolvers []model.Server
}

// runQueue is Run's state: the jobs scheduled, in a heap by due time, and
// the concurrency limit they call for. Only Run's goroutine touches it.
type runQueue struct {
	s *Scheduler
	h jobHeap
	// jobs counts the jobs scheduled (each in its zone's jobs).
	jobs int
	// updates carries each discovery's new server set to Run (the channel
	// scheduleZone was given).
	updates chan<- authUpdate
	// set are the settings in force, handed to each job that starts.
	set      *settings
	inFlight int
	// lookups are the discoveries and DS checks running; held are those
	// due that wait for one to end (startDue).
	lookups int
	held    []*job
	// demand is Σ job.demand over the probe jobs scheduled, lookupDemand
	// over the discoveries and DS checks (of which at most
	// lookup_concurrency run at once).
	demand, lookupDemand float64
	limit                int
}

func newRunQueue(s *Scheduler) *runQueue {
	return &runQueue{s: s, set: s.settings()}
}

// settings returns the settings in force (Run's goroutine).
func (s *Scheduler) settings() *settings {
	return &settings{probe: s.probe, resolvers: s.resolvers}
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
		q       = newRunQueue(s)
		results = make(chan done, 64)
		authSet = make(chan authUpdate, 64)
		wg      sync.WaitGroup
	)
	if p := s.takePlan(); p != nil {
		s.adopt(p)
		q.set = s.settings()
	}
	q.scheduleZones(authSet)
	q.setLimit()
	s.log.Info("probe schedule", "jobs", q.jobs, "concurrency", q.limit, "automatic", s.probe.Concurrency == 0)
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
			if !u.zone.live {
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

// scheduleZone adds one zone's first jobs (see scheduleZones); a
// discovery sends the servers it finds on authSet.
func (q *runQueue) scheduleZone(z *zonePlan, authSet chan<- authUpdate) {
	s := q.s
	q.updates = authSet
	z.live = true
	for _, j := range s.resolverJobs(z) {
		q.add(j)
	}
	if z.explicit != nil {
		for _, j := range s.authJobs(z, z.explicit) {
			q.add(j)
		}
	} else {
		z.disc = s.newJob(z, discJob)
		q.add(z.disc)
	}
	if z.DNSSEC {
		z.ds = s.newJob(z, dsJob)
		q.add(z.ds)
	}
}

// setLimit follows the concurrency limit to the demand of the jobs now
// scheduled.
func (q *runQueue) setLimit() {
	if l := q.s.limit(q.demand + min(q.lookupDemand, float64(q.lookupLimit()))); l != q.limit {
		if q.limit > 0 {
			q.s.log.Debug("probe concurrency limit", "from", q.limit, "to", l, "jobs", q.jobs)
		}
		q.limit = l
		q.s.limitG.Set(float64(l))
	}
}

// add schedules j, a job of j.zone.
func (q *runQueue) add(j *job) {
	j.zone.jobs = append(j.zone.jobs, j)
	q.jobs++
	*q.demandOf(j) += float64(j.demand)
	j.due = q.s.now().Add(q.s.firstOffset(j))
	heap.Push(&q.h, j)
}

// demandOf is the sum j's demand counts in.
func (q *runQueue) demandOf(j *job) *float64 {
	if j.prompt() {
		return &q.lookupDemand
	}
	return &q.demand
}

// remove unschedules j (the caller takes it out of its zone's jobs); if
// it is running, it is not rescheduled when it finishes.
func (q *runQueue) remove(j *job) {
	j.removed = true
	q.jobs--
	*q.demandOf(j) -= float64(j.demand)
	if j.index >= 0 && !j.busy {
		heap.Remove(&q.h, int(j.index))
	}
}

// startDue starts every job that is due, while under the limit, each in
// its own goroutine that sends its result on results.
//
// Discoveries and DS checks (lookups) run at most lookup_concurrency at
// once: one that is due while as many run waits in held, oldest first,
// and starts when one ends. Its lag is how late it was handed over, not
// that wait, which is the pacing of lookups; and its phase moves to when
// it starts, so that lookups that came due together (every zone at start,
// or every zone whose NS TTL expired in the same minute) stay spread over
// the time they took.
func (q *runQueue) startDue(ctx context.Context, now time.Time, wg *sync.WaitGroup, results chan<- done) {
	s := q.s
	for len(q.held) > 0 && q.inFlight < q.limit && q.lookups < q.lookupLimit() {
		j := q.held[0]
		q.held[0] = nil
		q.held = q.held[1:]
		if !j.removed {
			j.due = now
			q.start(ctx, j, now, wg, results)
		}
	}
	if len(q.held) == 0 {
		q.held = nil // let the backing array go
	}
	for len(q.h) > 0 && q.inFlight < q.limit && !q.h[0].due.After(now) {
		j := heap.Pop(&q.h).(*job)
		s.lag.Observe(now.Sub(j.due).Seconds())
		if j.prompt() && (len(q.held) > 0 || q.lookups >= q.lookupLimit()) {
			q.held = append(q.held, j)
			continue
		}
		q.start(ctx, j, now, wg, results)
	}
}

// lookupLimit is how many discoveries and DS checks may run at once.
func (q *runQueue) lookupLimit() int {
	if n := q.s.probe.LookupConcurrency; n > 0 {
		return n
	}
	return config.DefaultLookupConcurrency
}

// start runs j in its own goroutine, which sends its result on results.
func (q *runQueue) start(ctx context.Context, j *job, now time.Time, wg *sync.WaitGroup, results chan<- done) {
	s := q.s
	j.busy = true
	if j.kind == discJob {
		j.zone.discStarted = now
	}
	if j.prompt() {
		q.lookups++
	}
	q.inFlight++
	s.running.Inc()
	set, updates := q.set, q.updates
	wg.Go(func() {
		next := s.runJob(ctx, j, set, updates)
		s.running.Dec()
		results <- done{j, next}
	})
}

// finished reschedules a job that has run, unless it was removed meanwhile.
func (q *runQueue) finished(d done) {
	q.inFlight--
	if d.j.prompt() {
		q.lookups--
	}
	d.j.busy = false
	if d.j.removed {
		return
	}
	every := q.s.every(d.j)
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
	if z.live {
		q.runNow(z.disc, z.discStarted, min(rediscoverSpacing, q.s.probe.DiscoveryMin.Duration))
	}
}

// checkDSNow runs the zone's DS check now unless it is running. A check
// that ran before the onset says nothing of it, so there is no spacing:
// each resolver asks once per onset, a few queries each.
func (q *runQueue) checkDSNow(z *zonePlan) {
	if z.live {
		q.runNow(z.ds, time.Time{}, 0)
	}
}

// runNow makes j due now, unless there is no such job, it is running or
// waiting for a lookup slot (not in the heap), or it started (at started)
// less than spacing ago.
func (q *runQueue) runNow(j *job, started time.Time, spacing time.Duration) {
	s := q.s
	if j != nil && !j.busy && j.index >= 0 && s.now().Sub(started) >= spacing {
		j.due = s.now()
		heap.Fix(&q.h, int(j.index))
	}
}

type authUpdate struct {
	zone    *zonePlan
	servers []model.AuthServer
}

// replaceAuthJobs swaps a zone's authoritative probe jobs for the new set;
// a job asking the same of the same server stays as it is (its phase
// too).
func (q *runQueue) replaceAuthJobs(u authUpdate) {
	z := u.zone
	want := q.s.authJobs(z, u.servers)
	kept := z.jobs[:0]
	for _, j := range z.jobs {
		if j.auth {
			i := slices.IndexFunc(want, func(w *job) bool { return w != nil && w.srv == j.srv && w.name == j.name && w.qtype == j.qtype })
			if i < 0 {
				q.remove(j)
				continue
			}
			want[i] = nil
		}
		kept = append(kept, j)
	}
	clear(z.jobs[len(kept):])
	z.jobs = kept
	for _, j := range want {
		if j != nil && !slices.ContainsFunc(z.jobs, func(k *job) bool { return k.auth && k.srv == j.srv && k.name == j.name && k.qtype == j.qtype }) {
			q.add(j)
		}
	}
}

// firstOffset is when a job first runs, after it is added: probes at a
// random point of [0, jitter) (clipped to their own interval), and they
// keep that phase, so that with the default jitter (the whole interval)
// the probes of an interval spread evenly over it. Discoveries and DS
// checks, which the probes of a zone wait for, start within the first
// tenth of the probe interval.
func (s *Scheduler) firstOffset(j *job) time.Duration {
	spread := min(s.probe.Jitter.Duration, s.every(j))
	if j.prompt() {
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

// runJob runs j once with the settings set and returns an override for
// its next interval (0: its every); a discovery sends the servers it finds
// on updates. It runs on the job's own goroutine.
func (s *Scheduler) runJob(ctx context.Context, j *job, set *settings, updates chan<- authUpdate) time.Duration {
	switch j.kind {
	case discJob:
		return s.discover(ctx, j.zone, set, updates)
	case dsJob:
		return s.checkDS(ctx, j.zone, set)
	}
	s.probeOnce(ctx, j, set)
	return 0
}

// probeOnce sends the probe job's query and emits its observation.
func (s *Scheduler) probeOnce(ctx context.Context, j *job, set *settings) {
	qctx, cancel := context.WithTimeout(ctx, set.probe.Timeout.Duration)
	obs := s.prober.Probe(qctx, j.query())
	cancel()
	if ctx.Err() != nil {
		return
	}
	s.emit(ctx, obs)
	if !j.auth {
		s.watchResolver(j, obs)
	}
}

// resolverJobs are the zone's probes of every resolver: every name and
// type.
func (s *Scheduler) resolverJobs(z *zonePlan) []*job {
	var out []*job
	for _, r := range s.resolvers {
		srv := unique.Make(r)
		for n := range z.Names {
			for t := range z.Types {
				j := s.newJob(z, probeJob)
				j.srv, j.name, j.qtype = srv, int32(n), int32(t)
				out = append(out, j)
			}
		}
	}
	return out
}

// rediscoverSpacing is the least time between a zone's discovery and one
// asked for by a negative answer (discovery_min when shorter).
const rediscoverSpacing = 10 * time.Second

// watchResolver follows the answers of one resolver probe job. Of a
// discovered zone: when its answers turn negative (NXDOMAIN, or NOERROR
// without answers), the zone's discovery runs again at once, so that what
// the parent says of the delegation is fresh when the verdict is made. Of
// a DNSSEC zone: when a validating resolver begins to answer SERVFAIL
// where the CD=1 retry succeeds (the signature of a DNSSEC failure), and
// again when it stops, the DS check runs at once rather than at its next
// interval, so that the incident's first page can say whether the DS
// matches a DNSKEY and a fixed key resolves it without waiting for the
// interval. Once per onset: a name that stays failing does not ask every
// round. Only the job's run calls it (a job never runs twice at once).
func (s *Scheduler) watchResolver(j *job, o model.Observation) {
	z := j.zone
	discovered, signed := z.explicit == nil, z.DNSSEC
	if !discovered && !signed {
		return
	}
	neg := discovered && o.Error == model.ErrNone && (o.Rcode == "NXDOMAIN" || o.Rcode == "NOERROR" && len(o.Answers) == 0)
	if neg && !j.wasNeg {
		ask(s.rediscover, z)
	}
	bogus := signed && o.CDRetry != nil && o.CDRetry.Succeeded
	if bogus != j.wasBogus && o.Error == model.ErrNone {
		ask(s.dsNow, z)
	}
	j.wasNeg, j.wasBogus = neg, bogus
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
	apex := slices.Index(z.Names, z.Name.FQDN())
	soa := slices.Index(z.Types, "SOA")
	for _, m := range AuthModelServers(servers) {
		srv := unique.Make(m)
		add := func(name, qtype int) {
			j := s.newJob(z, probeJob)
			j.srv, j.name, j.qtype, j.auth = srv, int32(name), int32(qtype), true
			out = append(out, j)
		}
		for n := range z.Names {
			if soa < 0 && n == apex {
				add(n, soaType)
			}
			for t, typ := range z.Types {
				if typ == "SOA" && n != apex {
					continue
				}
				add(n, t)
			}
		}
		if apex < 0 {
			add(apexName, soaType)
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

// discover runs the zone's discovery: the servers it finds are kept (the
// previous ones when it fails) and, when they changed, sent on updates.
// It returns when the next discovery is due.
func (s *Scheduler) discover(ctx context.Context, z *zonePlan, set *settings, updates chan<- authUpdate) time.Duration {
	probe := set.probe
	// Discovery takes several queries: give it a few timeouts' worth.
	dctx, cancel := context.WithTimeout(ctx, lookupHold*probe.Timeout.Duration)
	d := s.prober.Discover(dctx, z.Name.FQDN(), set.resolvers)
	cancel()
	if ctx.Err() != nil {
		return 0
	}
	d.Zone = z.Name.FQDN()
	s.mu.Lock()
	z.attempted = true
	s.mu.Unlock()
	if d.Error != "" || len(d.Servers) == 0 {
		s.log.Warn("discovery failed", "zone", z.Name.Label(), "error", d.Error)
		s.mu.Lock()
		if z.found {
			// Keep probing the previous set; report it with the error.
			d.Servers, d.NS = z.servers, z.ns
		}
		s.mu.Unlock()
		s.emit(ctx, d)
		return probe.DiscoveryMin.Duration
	}
	s.mu.Lock()
	changed := !z.found || !sameServers(z.servers, d.Servers)
	z.servers = s.keepServers(d.Servers) // their sources may have changed
	z.ns = s.keepNames(z.ns, d.NS)
	z.found = true
	servers := z.servers
	s.mu.Unlock()
	if changed {
		s.log.Info("authoritative servers discovered", "zone", z.Name.Label(), "ns", d.NS, "servers", len(d.Servers))
		select {
		case updates <- authUpdate{z, servers}:
		case <-ctx.Done():
			return 0
		}
	}
	s.emit(ctx, d)
	return min(max(d.TTL, probe.DiscoveryMin.Duration), probe.DiscoveryMax.Duration)
}

// keepServers copies a discovery's servers for keeping (under mu): host
// names shared across zones, and nothing else of the discovery.
func (s *Scheduler) keepServers(found []model.AuthServer) []model.AuthServer {
	out := make([]model.AuthServer, len(found))
	for i, a := range found {
		out[i] = model.AuthServer{Host: s.names.Of(a.Host), Addr: a.Addr, Sources: s.sources(a.Sources)}
	}
	return out
}

// sources returns a shared copy of a server's sources (under mu): there
// are a handful of combinations, not one per server.
func (s *Scheduler) sources(src []model.AuthSource) []model.AuthSource {
	for _, c := range s.srcs {
		if slices.Equal(c, src) {
			return c
		}
	}
	c := slices.Clip(slices.Clone(src))
	s.srcs = append(s.srcs, c)
	return c
}

// keepNames returns the NS names to keep (under mu): prev when they are
// the same, else a copy of names with shared strings.
func (s *Scheduler) keepNames(prev, names []string) []string {
	if slices.Equal(prev, names) {
		return prev
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = s.names.Of(n)
	}
	return out
}

// checkDS runs the zone's DS-vs-DNSKEY check against its current servers.
// It returns an override for when the next is due.
func (s *Scheduler) checkDS(ctx context.Context, z *zonePlan, set *settings) time.Duration {
	probe := set.probe
	auth := s.authServersOf(z)
	if len(auth) == 0 {
		// Nothing to compare against yet: try again soon.
		return min(probe.DSCheckInterval.Duration, z.Interval)
	}
	dctx, cancel := context.WithTimeout(ctx, lookupHold*probe.Timeout.Duration)
	c := s.prober.CheckDS(dctx, z.Name.FQDN(), set.resolvers, auth)
	cancel()
	if ctx.Err() == nil {
		s.emit(ctx, c)
	}
	return 0
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
