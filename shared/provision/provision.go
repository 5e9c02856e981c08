// Package provision runs the provisioning iteration: on every scheduled invocation,
// one pass over every aws-provisioner worker type and worker-manager pool:
//
//  1. lease: take the "provisioner" lease in DynamoDB, so one iteration runs at a time
//     (an overlapping or duplicate invocation exits; a retry of the same invocation
//     resumes, since it carries the same id);
//  2. load: definitions, worker records, backoffs; list every instance carrying this
//     deployment's instance-set tag, per region. A Provisioner keeps the live records
//     and definitions between iterations and reads only what changed since (fleet,
//     definitionsCache); every Config.FullLoad it reads them all;
//  3. reconcile: bring worker records in line with what EC2 lists (events can be lost),
//     terminate instances no record knows (orphans, and those of removed worker types
//     or deleted pools), and reap workers past their lifetime or registration timeout;
//  4. per pool, concurrently: demand (pending tasks), estimate (the scaling rule),
//     choose (the cheapest options per unit of work, spread, skipping backed-off ones)
//     and launch (in batches, idempotently), recording each worker;
//  5. check in: the iteration's outcome, the figures of the pools whose figures
//     changed, and metrics (the fleet's; each pool's with Config.PoolMetrics).
//
// Every decision to terminate is re-checked against the worker's fresh record with a
// conditional write before it is carried out. Every failure an operator can act on is
// recorded in the pool's error list.
package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/notify"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
	"github.com/workerfleet/workerfleet/shared/telemetry"
)

// LeaseName is the name of the provisioning lease.
const LeaseName = "provisioner"

// Config tunes the provisioner. Zero values take the defaults documented on each field.
type Config struct {
	// RootURL is the deployment's public root URL, written into worker user data.
	RootURL string
	// Providers are the deployment's providers (the zero value: aws, static,
	// null-provider); pools name one of them.
	Providers pool.Providers
	// Regions are reconciled every iteration even when no pool names them (the
	// deployment's allowed regions), so instances left there are found.
	Regions []string
	// Concurrency is how many pools are provisioned at once (16).
	Concurrency int
	// LeaseTTL is the lease's length when the context has no deadline (5m); with a
	// deadline (Lambda's), the lease lasts until it.
	LeaseTTL time.Duration
	// DeadlineMargin is how long before the context's deadline no new launch starts (15s).
	DeadlineMargin time.Duration
	// PriceTTL is how long spot prices are cached in DynamoDB (5m).
	PriceTTL time.Duration
	// SecretTTL is how long an aws-provisioner instance has to fetch its secret (2h).
	SecretTTL time.Duration
	// FullLoad is how often an iteration reads every live worker record rather than
	// only those written since the last iteration of the same process (10m; see
	// fleet). A process's first iteration always reads them all.
	FullLoad time.Duration
	// CheckRefresh is how often a live worker's lastChecked is refreshed from EC2's
	// listing when nothing else changed (6h); state changes are written at once.
	CheckRefresh time.Duration
	// NotFoundGrace is the age after which a live record whose instance EC2 no longer
	// lists is marked stopped (10m; EC2's listings lag its launches a little).
	NotFoundGrace time.Duration
	// ErrorRetention is how long pool errors stay listed (7 days).
	ErrorRetention time.Duration
	// Backoffs after failures.
	CapacityBackoff time.Duration // an instance type in an AZ without capacity (3m)
	QuotaBackoff    time.Duration // a quota group in a region at its limit (5m)
	PriceBackoff    time.Duration // an option priced above its bound by EC2 (10m)
	ConfigBackoff   time.Duration // an option EC2 refuses as misconfigured (15m)
	OtherBackoff    time.Duration // an option failing otherwise (1m)
	// SpreadTolerance: options within this fraction of the cheapest unit price share a
	// large request (0.2); SpreadMax bounds how many do (3); requests of at most
	// SpreadMin instances are not spread (2).
	SpreadTolerance float64
	SpreadMax       int
	SpreadMin       int
	// MaxShare is the largest share of a large request one option takes while another
	// option can take the rest (0.6).
	MaxShare float64
	// MaxLaunchesPerPool bounds the instances one pool launches in one iteration (250).
	MaxLaunchesPerPool int
	// MaxFailedLaunchesPerPool bounds the failed launch calls (RunInstances) one
	// pool makes in one iteration (4): the launch budget (2 calls a second per region
	// and account) is shared by every pool, so a pool whose launches fail stops
	// trying until the next iteration, and never makes the iteration (and every
	// other pool's next launch) wait on its failures.
	MaxFailedLaunchesPerPool int
	// Policy, if set, replaces workerfleet's scaling policy (the simulator's
	// baselines); nil is workerfleet's.
	Policy Policy
	// PoolMetrics adds each pool's figures to the CloudWatch metrics (seven metrics
	// a pool, each billed monthly); without it the metrics are the fleet's totals,
	// and each pool's figures are logged when they change ("pool figures").
	PoolMetrics bool
	// WorkerIdleTimeout, if set, goes into pools' workers' user data as
	// workerConfig.idleTimeoutSecs where their pool's workerConfig sets none (see
	// DefaultWorkerIdleTimeout); 0 leaves workers to their own default.
	WorkerIdleTimeout time.Duration
	// IdleTimeouts, if set, chooses each pool's idle timeout from its own demand
	// (see IdleTimeouts); WorkerIdleTimeout is then the timeout of pools it knows
	// too little of.
	IdleTimeouts *IdleTimeouts
	// CurrentWorkerManager launches pools' workers as today's worker-manager does
	// where v25's differs: their workerGroup is their launch config's region (v25:
	// the providerId), and their user data names their launchConfigId. Workers keep
	// the workerGroup they were launched with.
	CurrentWorkerManager bool
	// Cadence is how often an invocation iterates while demand moves (HandleEvent);
	// the zero value runs one iteration per invocation.
	Cadence Cadence
	// TokenKey derives aws-provisioner instances' secret tokens from their launch
	// tokens, so a retried launch reuses the secret of the instance EC2 returns again.
	TokenKey []byte
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	def(&c.LeaseTTL, 5*time.Minute)
	def(&c.DeadlineMargin, 15*time.Second)
	def(&c.PriceTTL, 5*time.Minute)
	def(&c.SecretTTL, 2*time.Hour)
	def(&c.CheckRefresh, 6*time.Hour)
	def(&c.FullLoad, 10*time.Minute)
	def(&c.NotFoundGrace, 10*time.Minute)
	def(&c.ErrorRetention, store.DefaultErrorRetention)
	def(&c.CapacityBackoff, 3*time.Minute)
	def(&c.QuotaBackoff, 5*time.Minute)
	def(&c.PriceBackoff, 10*time.Minute)
	def(&c.ConfigBackoff, 15*time.Minute)
	def(&c.OtherBackoff, time.Minute)
	if c.SpreadTolerance <= 0 {
		c.SpreadTolerance = 0.2
	}
	if c.SpreadMax <= 0 {
		c.SpreadMax = 3
	}
	if c.SpreadMin <= 0 {
		c.SpreadMin = 2
	}
	if c.MaxShare <= 0 || c.MaxShare > 1 {
		c.MaxShare = 0.6
	}
	if c.MaxLaunchesPerPool <= 0 {
		c.MaxLaunchesPerPool = 250
	}
	if c.MaxFailedLaunchesPerPool <= 0 {
		c.MaxFailedLaunchesPerPool = DefaultMaxFailedLaunchesPerPool
	}
}

// Demand answers how many tasks wait for a pool.
type Demand interface {
	Pending(ctx context.Context, q demand.Query) (int64, error)
}

// DefaultMaxFailedLaunchesPerPool is Config.MaxFailedLaunchesPerPool's default.
const DefaultMaxFailedLaunchesPerPool = 4

// Provisioner runs iterations. Build it with its fields set; it is safe to run one
// iteration at a time per Provisioner (the lease keeps it to one per deployment).
type Provisioner struct {
	Store  Store
	Cloud  cloud.InstanceSet
	Demand Demand
	Config Config
	Log    *slog.Logger
	// Metrics receives CloudWatch EMF lines (stdout in Lambda); nil discards them.
	Metrics io.Writer
	// OnReport, if set, receives each iteration's report (the local stack prints it).
	OnReport func(*Report)
	// Mailer, if set, mails the errors recorded for pools with emailOnError to
	// their owners (a Taskcluster deployment's notify service).
	Mailer notify.Mailer
	// Events, if set, announces what happens to pools' workers (workerRequested,
	// workerStopped, workerRemoved) and the errors recorded for pools.
	Events announce.Publisher

	// indexed holds the pool keys whose records this process has added to the live
	// index (store.IndexLiveWorkers), once each.
	indexed sync.Map
	// activityAsked holds, by pool key and worker key, when this process last
	// asked the queue about a worker's activity (inactive).
	activityAsked sync.Map
	// configsKept holds, by pool key and workerConfig hash, until when this process
	// has stored each workerConfig its launches used (keepWorkerConfig).
	configsKept sync.Map
	// fleet holds the live worker records between iterations, statuses the pools'
	// stored figures.
	fleet       fleet
	statuses    poolStatuses
	definitions definitionsCache
	checkIns    checkIns
}

// Report is what an iteration did.
type Report struct {
	ID         string
	Start      time.Time
	Duration   time.Duration
	Skipped    bool   // another iteration holds the lease
	HeldBy     string // who holds it, when skipped
	Pools      []PoolReport
	Launched   int
	Terminated int // every instance terminated, the pools' and the orphans'
	Orphans    int // instances terminated that no worker type or pool accounts for
	Errors     int
	// Problems are failures not tied to one pool (a region's listing, prices, ...).
	Problems []string
}

// Outcome summarises the report for the check-in.
func (r *Report) Outcome() string {
	switch {
	case r.Skipped:
		return "skipped"
	case len(r.Problems) > 0:
		return fmt.Sprintf("completed with %d problems: %s", len(r.Problems), r.Problems[0])
	}
	return "ok"
}

// NewIterationID returns a random iteration id, for invocations that carry none.
func NewIterationID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "it-" + hex.EncodeToString(b)
}

// Run runs one iteration with the given id (the scheduled event's id, so a retry of
// the same invocation is recognised). If another iteration holds the lease, it
// returns a skipped report and no error.
func (p *Provisioner) Run(ctx context.Context, id string) (*Report, error) {
	p.Config.defaults()
	lease, rep, err := p.acquire(ctx, id)
	if lease == nil {
		return rep, err
	}
	defer p.release(ctx, *lease)
	return p.runHeld(ctx, id, true)
}

// acquire takes the lease for owner id: until the context's deadline (Lambda's)
// and 30 s more, or for LeaseTTL. Without it, it returns a skipped report (another
// holds it) or an error.
func (p *Provisioner) acquire(ctx context.Context, id string) (*store.Lease, *Report, error) {
	now := p.Store.Now()
	ttl := p.Config.LeaseTTL
	if dl, ok := ctx.Deadline(); ok {
		ttl = dl.Sub(now) + 30*time.Second
	}
	lease, err := p.Store.AcquireLease(ctx, LeaseName, id, ttl)
	var held *store.LeaseHeldError
	if errors.As(err, &held) {
		p.log().InfoContext(ctx, "iteration skipped: another holds the lease", "iteration", id, "holder", held.Owner, "until", held.Expires)
		return nil, &Report{ID: id, Start: now, Skipped: true, HeldBy: held.Owner}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("iteration %s: %w", id, err)
	}
	return &lease, nil, nil
}

func (p *Provisioner) release(ctx context.Context, lease store.Lease) {
	if err := p.Store.ReleaseLease(context.WithoutCancel(ctx), lease); err != nil {
		p.log().WarnContext(ctx, "releasing the lease failed", "error", err.Error())
	}
}

// runHeld runs one iteration under a lease the caller holds; first says it is its
// invocation's first (which always writes its check-in).
func (p *Provisioner) runHeld(ctx context.Context, id string, first bool) (*Report, error) {
	now := p.Store.Now()
	rep := &Report{ID: id, Start: now}
	// Stop starting new work a little before Lambda's deadline.
	work := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		work, cancel = context.WithDeadline(ctx, dl.Add(-p.Config.DeadlineMargin))
		defer cancel()
	}
	it := &iteration{p: p, id: id, now: now, rep: rep, first: first}
	if err := it.run(work); err != nil {
		p.fleet.reset()
		p.definitions.reset()
		return nil, fmt.Errorf("iteration %s: %w", id, err)
	}
	rep.Duration = p.Store.Now().Sub(now)
	it.checkIn(context.WithoutCancel(ctx))
	return rep, nil
}

func (p *Provisioner) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// iteration is the state of one run.
type iteration struct {
	p   *Provisioner
	id  string
	now time.Time
	rep *Report

	first    bool // the invocation's first iteration
	targets  []*target
	full     bool // every live record was read, not only the changed ones
	backoffs *backoffs
	listings map[string]*listing // by region
	prices   *priceBook
	// history receives the pools' stored figures, read while the iteration works.
	history chan map[string]store.PoolStatus

	mu       sync.Mutex
	problems []string
	tainted  bool
}

func (it *iteration) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	it.mu.Lock()
	it.problems = append(it.problems, msg)
	it.mu.Unlock()
	it.p.log().Warn("iteration problem", "iteration", it.id, "problem", msg)
}

func (it *iteration) run(ctx context.Context) error {
	var err error
	if it.targets, err = it.load(ctx); err != nil {
		return err
	}
	it.history = make(chan map[string]store.PoolStatus, 1)
	go func() { it.history <- it.readHistory(context.WithoutCancel(ctx)) }()
	if it.backoffs, err = loadBackoffs(ctx, it.p.Store, it.now); err != nil {
		return err
	}
	it.listings = it.listAll(ctx)
	it.reconcile(ctx)
	it.prices = it.loadPrices(ctx)
	it.provisionAll(ctx)
	it.cleanupPools(ctx)
	it.keepWorkers(it.full)

	for _, t := range it.targets {
		for _, w := range t.workers {
			t.report.Workers.Add(w)
		}
		it.rep.Pools = append(it.rep.Pools, t.report)
		it.rep.Launched += t.report.LaunchedCount()
		it.rep.Terminated += t.report.Terminated
		it.rep.Errors += len(t.report.Errors)
	}
	sort.Slice(it.rep.Pools, func(i, j int) bool { return it.rep.Pools[i].Key < it.rep.Pools[j].Key })
	it.rep.Problems = it.problems
	return nil
}

// forEach runs fn for every target, Concurrency at a time; one slow or failing pool
// never holds up the others beyond the concurrency bound.
func (it *iteration) forEach(ctx context.Context, fn func(ctx context.Context, t *target)) {
	var g errgroup.Group
	g.SetLimit(it.p.Config.Concurrency)
	for _, t := range it.targets {
		g.Go(func() error {
			defer func() {
				if r := recover(); r != nil {
					it.problem("pool %s: panic: %v", t.key, r)
					it.mu.Lock()
					it.tainted = true // its records may be half updated: read them all next time
					it.mu.Unlock()
				}
			}()
			fn(ctx, t)
			return nil
		})
	}
	_ = g.Wait() // every fn reports its own problems
}

// checkIn records the iteration's end (backendStatus), the figures of the pools
// whose figures changed, and metrics.
func (it *iteration) checkIn(ctx context.Context) {
	p, rep := it.p, it.rep
	it.recordCheckIn(ctx)
	m := telemetry.NewMetrics("workerfleet")
	written := it.writePoolFigures(ctx, m)
	it.fleetMetrics(m)
	if p.Metrics != nil {
		if err := m.Flush(p.Metrics); err != nil {
			p.log().ErrorContext(ctx, "writing metrics failed", "error", err.Error())
		}
	}
	p.log().InfoContext(ctx, "iteration done", "iteration", it.id, "durationMs", rep.Duration.Milliseconds(),
		"pools", len(rep.Pools), "launched", rep.Launched, "terminated", rep.Terminated, "errors", rep.Errors,
		"poolFiguresWritten", written, "fullLoad", it.full, "outcome", rep.Outcome())
}

// recordCheckIn writes the iteration's check-in (backendStatus) when it is due: at
// an invocation's first iteration, and when something happened (checkIns.due).
func (it *iteration) recordCheckIn(ctx context.Context) {
	p, rep := it.p, it.rep
	c := store.CheckIn{
		Time: p.Store.Now(), Iteration: it.id, Outcome: rep.Outcome(), DurationMS: rep.Duration.Milliseconds(),
		Pools: len(rep.Pools), Launched: rep.Launched, Terminated: rep.Terminated, ErrorsCount: rep.Errors,
	}
	if !it.first && !p.checkIns.due(c) {
		return
	}
	c.Recent = p.checkIns.history(ctx, p.Store)
	if err := p.Store.RecordCheckIn(ctx, c); err != nil {
		p.log().ErrorContext(ctx, "check-in failed", "error", err.Error())
		return
	}
	p.checkIns.written(c)
}

// writePoolFigures stores the figures of the pools whose figures changed (or are
// due a refresh), removes those of pools gone, logs each change, and adds each
// pool's metrics to m when per-pool metrics are on. It returns how many pools'
// figures it wrote.
func (it *iteration) writePoolFigures(ctx context.Context, m *telemetry.Metrics) int {
	p, rep := it.p, it.rep
	var prev map[string]store.PoolStatus
	if it.history != nil {
		prev = <-it.history
	}
	next := make(map[string]store.PoolStatus, len(rep.Pools))
	var changed []store.PoolStatus
	for _, pr := range rep.Pools {
		if p.Config.PoolMetrics {
			poolMetrics(m, pr)
		}
		old, had := prev[pr.Key]
		st := pr.status(it.now, old.History)
		if had && sameFigures(old, st) && it.now.Sub(old.Updated) < PoolStatusRefresh {
			next[pr.Key] = old
			continue
		}
		next[pr.Key] = st
		changed = append(changed, st)
		// The pool's figures, once per change: what the dashboard's per-pool table
		// reads from the logs when per-pool metrics are off.
		p.log().InfoContext(ctx, "pool figures", "iteration", it.id, "pool", pr.Key, "pendingTasks", pr.PendingTasks,
			"runningCapacity", pr.Running, "requestedCapacity", pr.Requested, "desiredCapacity", pr.Desired,
			"launched", pr.LaunchedCount(), "terminated", pr.Terminated, "errors", len(pr.Errors))
	}
	var gone []string
	for key := range prev {
		if _, ok := next[key]; !ok {
			gone = append(gone, key)
		}
	}
	err := p.Store.PutPoolStatuses(ctx, changed)
	if err == nil && len(gone) > 0 {
		err = p.Store.DeletePoolStatuses(ctx, gone)
	}
	if err != nil {
		p.log().ErrorContext(ctx, "storing pool figures failed", "error", err.Error())
		next = nil // unknown what is stored: read it again next time
	}
	p.statuses.keep(next)
	return len(changed)
}

// poolMetrics adds one pool's seven metrics (PoolMetrics=per-pool).
func poolMetrics(m *telemetry.Metrics, pr PoolReport) {
	m.Put("PendingTasks", float64(pr.PendingTasks), telemetry.Count, "Pool", pr.Key)
	m.Put("DesiredCapacity", pr.Desired, telemetry.Count, "Pool", pr.Key)
	m.Put("RequestedCapacity", pr.Requested, telemetry.Count, "Pool", pr.Key)
	m.Put("RunningCapacity", pr.Running, telemetry.Count, "Pool", pr.Key)
	m.Put("Launched", float64(pr.LaunchedCount()), telemetry.Count, "Pool", pr.Key)
	m.Put("Terminated", float64(pr.Terminated), telemetry.Count, "Pool", pr.Key)
	m.Put("Errors", float64(len(pr.Errors)), telemetry.Count, "Pool", pr.Key)
}

// fleetMetrics adds the fleet-wide metrics: the iteration's, and the pools' sums.
func (it *iteration) fleetMetrics(m *telemetry.Metrics) {
	rep := it.rep
	var pending, desired, requested, running float64
	for _, pr := range rep.Pools {
		pending += float64(pr.PendingTasks)
		desired += pr.Desired
		requested += pr.Requested
		running += pr.Running
	}
	m.Put("IterationTime", float64(rep.Duration.Milliseconds()), telemetry.Milliseconds)
	m.Put("Pools", float64(len(rep.Pools)), telemetry.Count)
	m.Put("Launches", float64(rep.Launched), telemetry.Count)
	m.Put("Terminations", float64(rep.Terminated), telemetry.Count)
	m.Put("Errors", float64(rep.Errors+len(rep.Problems)), telemetry.Count)
	m.Put("PendingTasks", pending, telemetry.Count)
	m.Put("DesiredCapacity", desired, telemetry.Count)
	m.Put("RequestedCapacity", requested, telemetry.Count)
	m.Put("RunningCapacity", running, telemetry.Count)
}

// CheckInEvery is how often a later iteration of an invocation that did nothing
// writes its check-in (backendStatus' last check-in): an invocation's first
// iteration always writes it, and one that launched, terminated, failed somewhere
// or ended differently from the last written one; the cadence's other iterations
// only once a minute.
const CheckInEvery = time.Minute

// checkIns remembers the last check-in a Provisioner wrote.
type checkIns struct {
	mu   sync.Mutex
	last *store.CheckIn
}

func (ci *checkIns) due(c store.CheckIn) bool {
	ci.mu.Lock()
	defer ci.mu.Unlock()
	l := ci.last
	return l == nil || c.Launched > 0 || c.Terminated > 0 || c.ErrorsCount > 0 || c.Outcome != l.Outcome ||
		c.Pools != l.Pools || c.Time.Sub(l.Time) >= CheckInEvery || c.Time.Before(l.Time)
}

// history is the times of the check-ins before the one about to be written, for
// its Recent: the last one's, read back from the store at a process's first
// check-in (so a cold start's gap is kept), and held in memory after.
func (ci *checkIns) history(ctx context.Context, s Store) []int64 {
	ci.mu.Lock()
	last := ci.last
	ci.mu.Unlock()
	if last == nil {
		stored, err := s.LastCheckIn(ctx)
		if err != nil {
			return nil // none yet, or unreadable: the history starts here
		}
		last = &stored
	}
	out := append(append([]int64(nil), last.Recent...), last.Time.Unix())
	if n := len(out); n > store.CheckInHistory {
		out = out[n-store.CheckInHistory:]
	}
	return out
}

func (ci *checkIns) written(c store.CheckIn) {
	ci.mu.Lock()
	ci.last = &c
	ci.mu.Unlock()
}

// PoolStatusRefresh is how old a pool's stored figures may grow while they do not
// change before they are written again (they expire store.PoolStatusRetention
// after they were written).
const PoolStatusRefresh = 24 * time.Hour

// poolStatuses are the pools' figures as stored, between iterations.
type poolStatuses struct {
	mu     sync.Mutex
	byPool map[string]store.PoolStatus // nil: unknown
}

func (ps *poolStatuses) keep(m map[string]store.PoolStatus) {
	ps.mu.Lock()
	ps.byPool = m
	ps.mu.Unlock()
}

// readHistory is each pool's stored figures: those the last iteration left, or
// read (one Scan) when they are unknown or every live worker is read again (a full
// load); without them (a failed read) every pool's are written afresh.
func (it *iteration) readHistory(ctx context.Context) map[string]store.PoolStatus {
	ps := &it.p.statuses
	ps.mu.Lock()
	known := ps.byPool
	ps.mu.Unlock()
	if known != nil && !it.full {
		return known
	}
	prev, err := it.p.Store.PoolStatuses(ctx)
	if err != nil {
		it.p.log().WarnContext(ctx, "reading the pools' figures failed; they are written afresh", "error", err.Error())
		return nil
	}
	out := make(map[string]store.PoolStatus, len(prev))
	for _, st := range prev {
		out[st.Pool] = st
	}
	return out
}

// HandleEvent is the Lambda handler for the schedule's event: an EventBridge
// Scheduler event (whose detail is the string "{}") or a classic rule's (an object);
// only its id is used, to recognise a retry of the same invocation. It runs one
// iteration, and more at Config.Cadence while demand moves (their ids are the
// event's with "/1", "/2", ... appended), all under one lease taken with the
// event's id.
func (p *Provisioner) HandleEvent(ctx context.Context, ev events.CloudWatchEvent) error {
	p.Config.defaults()
	id := ev.ID
	if id == "" {
		id = NewIterationID()
	}
	// One lease for the invocation's iterations: it lasts until Lambda's deadline
	// either way, and taking it once costs two writes an invocation, not two an
	// iteration.
	lease, rep, err := p.acquire(ctx, id)
	if lease == nil {
		if rep != nil && p.OnReport != nil {
			p.OnReport(rep)
		}
		return err
	}
	defer p.release(ctx, *lease)
	start := time.Now()
	for n := 0; ; n++ {
		iterID := id
		if n > 0 {
			iterID = fmt.Sprintf("%s/%d", id, n)
		}
		rep, err := p.runHeld(ctx, iterID, n == 0)
		if err != nil {
			return err
		}
		if p.OnReport != nil {
			p.OnReport(rep)
		}
		wait, again := p.Config.Cadence.Next(rep, time.Since(start))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait+2*p.Config.DeadlineMargin {
			again = false // no time for a whole iteration before Lambda's deadline
		}
		if !again {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}
