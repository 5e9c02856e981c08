// Package sim replays a demand trace against one worker pool on a simulated clock,
// through the provisioning code a deployment runs, and reports what the deployment
// would have seen: how long tasks waited, how many worker-hours and dollars they
// took, the fleet's and the control plane's. It is how provisioning quality is
// measured and how users size a pool ("what would maxCapacity 200 cost?").
//
// Each policy (workerfleet's, and Taskcluster worker-manager's as baselines: see
// Policy) gets its own copy of everything: an in-memory DynamoDB (store/memdb)
// with template.yaml's tables, the fake cloud (its catalog, and the spot market
// of market.go driving its prices, capacity errors and interruptions), the
// ec2-events handler fed by the fake cloud's EventBridge events, and
// provision.Provisioner itself. Workerfleet's iterations come as deployed: one
// within Options.Reaction of a task becoming pending, and a backstop every
// Options.Backstop while the pool has work (the schedule otherwise);
// worker-manager's on its own loop. Only the workers and the queue are
// simulated: workers boot when the fake cloud runs them, register as
// registerWorker records it, claim pending tasks up to their capacity, shut their
// instance down after an idle timeout, and a small share never claim.
//
// Time advances in 1-second steps; within a step, tasks are claimed at the exact
// millisecond a slot frees or a task arrives.
package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2"
	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
	"github.com/workerfleet/workerfleet/shared/dev/memdb"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
	"github.com/workerfleet/workerfleet/shared/ec2events"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/provision"
	"github.com/workerfleet/workerfleet/shared/store"
)

// PoolID is the simulated pool's workerPoolId.
const PoolID = "sim/pool"

// epoch is the simulated trace start: a fixed date, so runs are reproducible.
var epoch = time.Date(2030, 1, 7, 0, 0, 0, 0, time.UTC)

const (
	step         = time.Second
	sampleEvery  = time.Minute
	sweepEvery   = time.Hour
	progressStep = 10 * time.Minute
)

// Result is one simulation's outcome.
type Result struct {
	Summary Summary
	// Series are each policy's samples, every minute, for the chart.
	Series map[Policy][]Sample
	// Waits are each policy's measured tasks' waits, in seconds, sorted.
	Waits map[Policy][]float64
}

// Sample is a policy's state at one time.
type Sample struct {
	At time.Duration
	// Pending is the most tasks pending at once in the minute before At; the
	// capacities are At's, Idle the registered capacity without a task.
	Pending                          int
	RunningCapacity, Requested, Idle float64
	// CostUSD is the fleet's cost accrued in the measured window up to At.
	CostUSD float64
}

// Run simulates every policy of o, concurrently, and summarises them.
func Run(ctx context.Context, o Options) (*Result, error) {
	return run1(ctx, o, nil)
}

// run1 is Run, keeping the runs in *keep if keep is set (tests inspect them).
func run1(ctx context.Context, o Options, keep *[]*run) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	raw, err := poolConfig(o.Pool)
	if err != nil {
		return nil, err
	}
	cfg, err := pool.ParseConfig("aws", raw, pool.ParseOptions{})
	if err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	if cfg.ProviderType != pool.ProviderTypeAWS {
		return nil, fmt.Errorf("pool: the simulator runs aws pools")
	}
	tmplPath, err := samtemplate.Find()
	if err != nil {
		return nil, err
	}
	tmpl, err := samtemplate.Load(tmplPath)
	if err != nil {
		return nil, err
	}
	res := &Result{Summary: Summary{Trace: o.Trace, Seed: o.Seed, Market: o.Market, Warmup: o.Warmup, End: o.End},
		Series: map[Policy][]Sample{}, Waits: map[Policy][]float64{}}
	runs := make([]*run, len(o.Policies))
	errs := make([]error, len(o.Policies))
	var wg sync.WaitGroup
	for i, p := range o.Policies {
		r, err := newRun(o, p, cfg, tmpl)
		if err != nil {
			return nil, err
		}
		runs[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.simulate(ctx)
		}()
	}
	wg.Wait()
	if keep != nil {
		*keep = runs
	}
	for i, r := range runs {
		if errs[i] != nil {
			return nil, fmt.Errorf("policy %s: %w", r.policy, errs[i])
		}
		ps, waits := r.summary()
		res.Summary.Policies = append(res.Summary.Policies, ps)
		res.Series[r.policy] = r.samples
		res.Waits[r.policy] = waits
	}
	return res, nil
}

// run is one policy's simulation.
type run struct {
	o      Options
	policy Policy
	setup  setup
	clock  *fakecloud.ManualClock
	db     *memdb.DB
	// store is the deployment's (the provisioner's, ec2-events', the API's),
	// its requests counted in counting; quiet is the simulator's own view of
	// the same tables, uncounted.
	store    *store.Store
	quiet    *store.Store
	counting *store.CountingDB
	market   *market
	cloud    *fakecloud.Cloud
	set      *fakecloud.InstanceSet
	events   *ec2events.Handler
	prov     *provision.Provisioner
	rng      *mrand.Rand
	ctx      context.Context

	regions  []string
	types    []string
	lifetime time.Duration // the pool's reregistrationTimeout, granted at registration

	// The queue: tasks not claimed yet, oldest first, as indexes into o.Tasks
	// (or requeued runs).
	queue   []int
	next    int // the next task of the trace to arrive
	claimed int // tasks running now
	tasks   []taskState

	workers   map[string]*worker // every worker, by instance id
	alive     map[string]*worker // those not terminated
	silent    []*worker          // those that never claim, until they shut down
	all       []*worker          // every worker, in launch order
	free      []*worker          // registered workers with a free slot, most recently freed last
	done      completions        // running tasks by end time
	bootedNow []*worker          // workers that started running in this step
	launched  []string           // instances launched by the iteration under way
	ended     []*worker          // workers that ended since the last cost sample

	prices map[string]float64 // "<az>/<type>" -> current spot price

	iterations    int
	invocationSum time.Duration // simulated time invocations spent (first iteration to last)
	invocations   int
	reactAt       time.Duration // when an iteration reacting to a signal starts (-1: none due)
	// The control plane's work in the measured window.
	cp          controlPlane
	samples     []Sample
	peakPending int     // the most tasks pending at once since the last sample
	costTotal   float64 // the fleet's cost accrued so far in the measured window
	failed      error
}

type taskState struct {
	claimedAt time.Duration // -1 until first claimed
	claims    int
	requeued  int // runs cut short by their worker's end, so the queue retried them
}

// worker is a simulated worker on one fake instance.
type worker struct {
	id           string
	pool, key    string
	capacity     int
	busy         int
	requested    time.Duration // launch
	started      time.Duration // running and registered (-1 if never)
	ended        time.Duration // terminated (-1 while alive)
	shutdown     bool          // shut itself down or was told to
	idleSince    time.Duration
	idleTimeout  time.Duration
	neverClaims  bool
	claimedTasks int
	region, az   string
	instanceType string
	spot         bool
	cost         float64
	costUntil    time.Duration
	inFree       bool
	runningTasks map[int]time.Duration // task index -> end
}

func newRun(o Options, p Policy, cfg pool.Config, tmpl *samtemplate.Template) (*run, error) {
	su, _ := p.setup()
	r := &run{o: o, policy: p, setup: su, clock: fakecloud.NewManualClock(epoch), workers: map[string]*worker{}, alive: map[string]*worker{},
		rng: mrand.New(mrand.NewPCG(uint64(o.Seed), 0x5157)), ctx: context.Background(), prices: map[string]float64{}, reactAt: -1}
	r.tasks = make([]taskState, len(o.Tasks))
	for i := range r.tasks {
		r.tasks[i].claimedAt = -1
	}
	r.lifetime = cfg.Sizing().ReregistrationTimeout
	for _, opt := range cfg.Options() {
		r.regions = appendNew(r.regions, opt.Region)
		r.types = appendNew(r.types, opt.InstanceType)
	}
	fc := fakecloud.DefaultConfig()
	fc.Seed = o.Seed
	fc.BootDelay = fakecloud.Duration(o.StartupDelay)
	fc.ShutdownDelay = fakecloud.Duration(o.StoppingDelay)
	fc.PriceVolatility = math.Max(0, o.PriceVolatility)
	fc.SpotInterruptionRate = math.Max(0, o.SpotInterruptionRate)
	if o.Market == MarketSpot {
		// The market sets the prices and interrupts instances itself.
		fc.PriceVolatility, fc.SpotInterruptionRate = 0, 0
	}
	fc.Regions = r.regions
	// EC2 lists terminated instances for about an hour; the provisioner needs them
	// listed only until their terminated event is applied, which here is at once,
	// and every iteration lists them all.
	fc.TerminatedRetention = fakecloud.Duration(15 * time.Minute)
	fc.InstanceTypes = map[string]float64{}
	for _, t := range r.types {
		price, ok := ec2.ApproxOnDemandPrice("us-east-1", t)
		if !ok {
			return nil, fmt.Errorf("pool: instance type %s has no price in the catalog", t)
		}
		fc.InstanceTypes[t] = price
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := fakecloud.New(fc, fakecloud.WithClock(r.clock.Now), fakecloud.WithLogger(quiet))
	if err != nil {
		return nil, fmt.Errorf("fake cloud: %w", err)
	}
	r.cloud, r.set = c, c.InstanceSet("sim")
	var set cloud.InstanceSet = r.set
	if o.Market == MarketSpot {
		if r.market, err = newMarket(o.Seed, c, r.regions, r.types); err != nil {
			return nil, err
		}
		set = &marketSet{InstanceSet: r.set, m: r.market, live: r.liveOn}
	}
	db := memdb.New()
	names, err := db.CreateTables(tmpl.Tables, func(id string) string { return id })
	if err != nil {
		return nil, err
	}
	r.db = db
	r.counting = store.NewCountingDB(db)
	tables := store.TablesFromLogical(names)
	r.store = store.New(r.counting, tables, []byte("simulation token key"), store.WithClock(r.clock.Now))
	r.quiet = store.New(db, tables, []byte("simulation token key"), store.WithClock(r.clock.Now))
	r.events = &ec2events.Handler{Store: r.store, Log: quiet}
	c.SetEventSink(r.onEvent)
	pc := provision.Config{RootURL: "https://tc.example.com", Regions: r.regions, TokenKey: []byte("simulation key")}
	if su.estimator != "" {
		pc.Policy = wmPolicy{estimator: su.estimator}
	}
	if su.reaction && o.Reaction < 0 {
		// Without reaction: the deployed cadence inside scheduled invocations.
		pc.Cadence = o.Cadence
	}
	if su.ourIdle {
		switch d := o.WorkerIdleTimeout; {
		case d > 0:
			pc.WorkerIdleTimeout = d
		case d == 0:
			pc.WorkerIdleTimeout = provision.DefaultWorkerIdleTimeout
			pc.IdleTimeouts = &provision.IdleTimeouts{Fallback: provision.DefaultWorkerIdleTimeout, StopCost: o.StoppingDelay}
		}
	}
	r.prov = &provision.Provisioner{Store: r.store, Cloud: set, Demand: r, Log: quiet, Config: pc}
	if _, err := r.store.CreateWorkerPool(r.ctx, store.WorkerPool{WorkerPoolID: PoolID, ProviderID: "aws", Config: cfg.JSON(),
		Owner: "sim@example.com", Description: "simulated pool"}); err != nil {
		return nil, fmt.Errorf("create the pool: %w", err)
	}
	return r, nil
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// liveOn counts the workers alive on instances of a type in a zone.
func (r *run) liveOn(az, instanceType string) int {
	n := 0
	for _, w := range r.alive {
		if w.az == az && w.instanceType == instanceType {
			n++
		}
	}
	return n
}

// now is the simulated time since the trace's start.
func (r *run) now() time.Duration { return r.clock.Now().Sub(epoch) }

// iterationMode is how a policy's iterations are started.
type iterationMode int

const (
	// modeReaction: within Reaction of a task becoming pending, and on the
	// backstop cadence (the deployed shape).
	modeReaction iterationMode = iota
	// modeSchedule: scheduled invocations, iterating at the cadence inside each
	// (workerfleet before reaction).
	modeSchedule
	// modeLoop: worker-manager's loop, one iteration every BaselineInterval.
	modeLoop
)

func (r *run) mode() iterationMode {
	switch {
	case !r.setup.reaction:
		return modeLoop
	case r.o.Reaction < 0:
		return modeSchedule
	}
	return modeReaction
}

// simulate runs the policy from the trace's start to End.
func (r *run) simulate(ctx context.Context) error {
	mode := r.mode()
	var nextIteration time.Duration // the loop's, the backstop's or the cadence's next iteration
	var invocationStart time.Duration = -1
	var reported time.Duration
	for t := time.Duration(0); t <= r.o.End; t += step {
		if t%progressStep == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if r.o.Progress != nil {
				r.o.Progress(int64((t-reported)/time.Second), int64(r.o.End/time.Second)*int64(len(r.o.Policies)))
				reported = t
			}
		}
		if t == r.o.Warmup {
			r.counting.Reset()
		}
		r.clock.Set(epoch.Add(t))
		if r.market != nil {
			r.market.step(t, r)
		}
		r.cloud.Step()
		if r.failed != nil {
			return r.failed
		}
		r.runTasks(t)
		r.peakPending = max(r.peakPending, len(r.queue))
		r.idleShutdowns(t)
		if r.failed != nil {
			return r.failed
		}
		iterate := false
		switch mode {
		case modeLoop:
			iterate = t >= nextIteration
		case modeReaction:
			iterate = t >= nextIteration || (r.reactAt >= 0 && t >= r.reactAt)
		case modeSchedule:
			if t%r.o.Schedule == 0 {
				// EventBridge starts an invocation (one still iterating is cut short:
				// its window ends before the next schedule).
				if invocationStart >= 0 {
					r.endInvocation(nextIteration-r.o.Cadence.Interval, invocationStart)
				}
				invocationStart, nextIteration = t, t
			}
			iterate = invocationStart >= 0 && t == nextIteration
		}
		if iterate {
			rep, err := r.iterate(t)
			if err != nil {
				return err
			}
			switch mode {
			case modeLoop:
				nextIteration = t + r.o.BaselineInterval
				r.countInvocation(t, r.o.IterationTime)
			case modeReaction:
				r.reactAt = -1
				if rep.Moving() {
					nextIteration = t + r.o.Backstop
				} else {
					nextIteration = (t/r.o.Schedule + 1) * r.o.Schedule
				}
				r.countInvocation(t, r.o.IterationTime)
			case modeSchedule:
				r.countIteration(t)
				if wait, again := r.prov.Config.Cadence.Next(rep, t-invocationStart); again {
					nextIteration = t + wait
				} else {
					r.endInvocation(t, invocationStart)
					invocationStart = -1
				}
			}
		}
		if t%sampleEvery == 0 {
			r.sample(t)
		}
		if t%sweepEvery == 0 {
			r.db.Sweep(r.clock.Now())
		}
	}
	r.cp.dynamo = r.counting.Counts()
	if r.o.Progress != nil {
		r.o.Progress(int64((r.o.End-reported)/time.Second), int64(r.o.End/time.Second)*int64(len(r.o.Policies)))
	}
	return nil
}

// iterate runs one provisioner iteration at t.
func (r *run) iterate(t time.Duration) (*provision.Report, error) {
	rep, err := r.prov.Run(r.ctx, fmt.Sprintf("it-%d", t/time.Second))
	if err != nil {
		return nil, fmt.Errorf("iteration at %v: %w", t, err)
	}
	r.iterations++
	for _, id := range r.launched {
		r.worker(id)
	}
	r.launched = r.launched[:0]
	return rep, nil
}

// countInvocation counts an invocation of one iteration at t, billed d.
func (r *run) countInvocation(t, d time.Duration) {
	r.invocations++
	r.invocationSum += d
	if r.measured(t) {
		r.cp.iterations++
		r.cp.invocations++
		r.cp.billed += d
	}
}

// countIteration counts an iteration inside a scheduled invocation.
func (r *run) countIteration(t time.Duration) {
	if r.measured(t) {
		r.cp.iterations++
	}
}

// endInvocation counts a scheduled invocation that began at start and whose last
// iteration began at last: billed from its first iteration to the end of its
// last.
func (r *run) endInvocation(last, start time.Duration) {
	d := max(0, last-start) + r.o.IterationTime
	r.invocations++
	r.invocationSum += d
	if r.measured(start) {
		r.cp.invocations++
		r.cp.billed += d
	}
}

func (r *run) measured(t time.Duration) bool { return t >= r.o.Warmup && t < r.o.End }

// signal is the deployed reaction: a task became pending at at, so an iteration
// covering its pool starts within Reaction; signals coalesce into the iteration
// already due.
func (r *run) signal(at time.Duration) {
	if r.mode() != modeReaction {
		return
	}
	due := (at + r.o.Reaction) / step * step
	if processed := (at + step - 1) / step * step; due < processed {
		due = processed
	}
	if r.reactAt < 0 || due < r.reactAt {
		r.reactAt = due
	}
}

// Pending answers the provisioner's demand question: tasks waiting now.
func (r *run) Pending(context.Context, demand.Query) (int64, error) {
	return int64(len(r.queue)), nil
}

// Claimed answers how many tasks run now (provision.ClaimedDemand).
func (r *run) Claimed(context.Context, demand.Query) (int64, error) {
	return int64(r.claimed), nil
}

// onEvent is the fake cloud's EventBridge: the events the rule routes
// (ec2events.Used) go to the ec2-events handler, as in a deployment, and cost an
// invocation; then the simulated worker on the instance reacts to the event.
func (r *run) onEvent(ctx context.Context, raw json.RawMessage) {
	ev, err := ec2events.Parse(raw)
	if err != nil {
		if r.failed == nil {
			r.failed = fmt.Errorf("ec2-events: %w", err)
		}
		return
	}
	if ec2events.Used(ev) {
		if r.measured(r.now()) {
			r.cp.events++
		}
		if err := r.events.HandleRaw(ctx, raw); err != nil && r.failed == nil {
			r.failed = fmt.Errorf("ec2-events: %w", err)
		}
	}
	if ev.DetailType != ec2events.StateChange {
		return
	}
	if ev.State == cloud.StatePending {
		// Launched: its record is written after the launch returns.
		r.launched = append(r.launched, ev.InstanceID)
		return
	}
	w := r.worker(ev.InstanceID)
	if w == nil {
		return
	}
	switch ev.State {
	case cloud.StateRunning:
		r.boot(w)
	case cloud.StateShuttingDown:
		r.stopWorker(w)
	case cloud.StateTerminated:
		if w.ended < 0 {
			r.stopWorker(w)
			w.ended = r.now()
			delete(r.alive, w.id)
			r.ended = append(r.ended, w)
		}
	}
}

// worker returns the simulated worker of an instance the provisioner launched,
// creating it from its record.
func (r *run) worker(id string) *worker {
	if w := r.workers[id]; w != nil {
		return w
	}
	rec, err := r.quiet.WorkerByInstance(r.ctx, id)
	if err != nil {
		return nil // not recorded (yet): the provisioner's reconciliation sees to it
	}
	inst, ok := r.cloud.Instance(id)
	if !ok {
		return nil
	}
	w := &worker{id: id, pool: rec.Pool, key: rec.Key, capacity: max(1, int(rec.Capacity)), requested: inst.LaunchTime.Sub(epoch),
		started: -1, ended: -1, region: inst.Region, az: inst.AvailabilityZone, instanceType: inst.InstanceType, spot: inst.Spot,
		idleTimeout: r.o.IdleTimeout, runningTasks: map[int]time.Duration{}}
	w.costUntil = w.requested
	if ud, err := r.cloud.UserData(id); err == nil {
		var data struct {
			WorkerConfig struct {
				IdleTimeoutSecs *float64 `json:"idleTimeoutSecs"`
			} `json:"workerConfig"`
		}
		if json.Unmarshal(ud, &data) == nil && data.WorkerConfig.IdleTimeoutSecs != nil && *data.WorkerConfig.IdleTimeoutSecs > 0 {
			w.idleTimeout = time.Duration(*data.WorkerConfig.IdleTimeoutSecs * float64(time.Second))
		}
	}
	r.workers[id] = w
	r.alive[id] = w
	r.all = append(r.all, w)
	return w
}

// boot starts a worker whose instance runs: it registers (the record change
// registerWorker makes) and is ready to claim, unless it is one that never claims.
func (r *run) boot(w *worker) {
	if w.started >= 0 || w.shutdown || w.neverClaims {
		return
	}
	if r.rng.Float64() < r.o.NeverClaim {
		// It idles until its idle timeout (or the registration timeout) ends it.
		w.neverClaims, w.idleSince = true, r.now()
		r.silent = append(r.silent, w)
		return
	}
	now := r.clock.Now()
	_, err := r.store.UpdateWorker(r.ctx, w.pool, w.key, func(rec *store.Worker) error {
		if !rec.MarkRegistered(now, now.Add(r.lifetime), nil) {
			return store.ErrNoChange
		}
		return nil
	})
	if err != nil {
		r.failed = fmt.Errorf("register %s: %w", w.id, err)
		return
	}
	w.started, w.idleSince = r.now(), r.now()
	r.bootedNow = append(r.bootedNow, w)
	if r.measured(r.now()) {
		r.cp.registrations++
	}
}

// stopWorker ends a worker's work: its running tasks go back to the queue (the
// queue retries a run whose worker vanished), it claims nothing more.
func (r *run) stopWorker(w *worker) {
	if w.shutdown && len(w.runningTasks) == 0 {
		return
	}
	w.shutdown = true
	r.removeFree(w)
	if len(w.runningTasks) == 0 {
		return
	}
	ids := make([]int, 0, len(w.runningTasks))
	for i := range w.runningTasks {
		ids = append(ids, i)
	}
	sort.Ints(ids)
	for _, i := range ids {
		delete(w.runningTasks, i)
		r.claimed--
		w.busy--
		r.tasks[i].requeued++
		r.queue = append([]int{i}, r.queue...)
	}
	r.signal(r.now())
}

func (r *run) removeFree(w *worker) {
	if !w.inFree {
		return
	}
	for i, f := range r.free {
		if f == w {
			r.free = append(r.free[:i], r.free[i+1:]...)
			break
		}
	}
	w.inFree = false
}
