package provision

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// Provider ids recorded on workers.
const (
	// WorkerTypeProvider is the providerId of aws-provisioner worker types' workers.
	WorkerTypeProvider = pool.ProvisionerID
	// AWSProvider is the providerId of aws worker pools' workers.
	AWSProvider = "aws"
)

type kind int

const (
	kindWorkerType kind = iota
	kindPool
)

// target is one worker type or worker pool, as this iteration sees it.
type target struct {
	key        string // the store's pool key (a workerPoolId, or wt:<name>)
	name       string // the worker type's name or the workerPoolId
	kind       kind
	providerID string // provider of the workers this iteration launches
	provision  bool   // launch for demand; false: launch nothing
	// groupByRegion: a pool's workers' workerGroup is their region (today's
	// worker-manager), not the providerId (v25).
	groupByRegion bool
	sizing        pool.Sizing
	options       []pool.Option
	demand        demand.Query

	lastModified time.Time         // worker types: goes into user data
	record       *store.WorkerPool // pools: the record, for deletion
	workers      []store.Worker

	// deleted: the pool's provider is null-provider (deleteWorkerPool). Nothing is
	// launched; its workers run until they exit or reach their lifecycle limits, and
	// then the pool is removed.
	deleted bool

	// failedLaunches counts this iteration's failed launch calls (see
	// Config.MaxFailedLaunchesPerPool), budgetBusy says an opportunistic launch found
	// no spare token, and probation that the pool's launches failed in an earlier
	// iteration without one succeeding: its launches take only spare tokens
	// (ratelimit.Opportunistic). Only the target's own goroutine touches them.
	failedLaunches int
	budgetBusy     bool
	probation      bool

	mu     sync.Mutex
	report PoolReport
}

func (t *target) addError(msg string) {
	t.mu.Lock()
	t.report.Errors = append(t.report.Errors, msg)
	t.mu.Unlock()
}

func (t *target) note(format string, args ...any) {
	t.mu.Lock()
	if t.report.Note != "" {
		t.report.Note += "; "
	}
	t.report.Note += fmt.Sprintf(format, args...)
	t.mu.Unlock()
}

// parseCache remembers parsed pool configs and worker type definitions, by what
// was parsed: a warm Lambda (and a cadence's iterations) parses each once, not on
// every iteration (schema validation is most of an iteration's CPU otherwise).
// Parsing is a pure function of the key, so one cache serves every Provisioner.
type parseCache[T any] struct {
	mu      sync.Mutex
	entries map[string]parsed[T]
}

type parsed[T any] struct {
	v   T
	err error
}

var (
	configs     parseCache[pool.Config]
	workerTypes parseCache[pool.WorkerType]
)

// maxCachedConfigs bounds each cache; past it, it starts over.
const maxCachedConfigs = 1024

func (c *parseCache[T]) get(key string, parse func() (T, error)) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		return e.v, e.err
	}
	v, err := parse()
	if c.entries == nil || len(c.entries) >= maxCachedConfigs {
		c.entries = map[string]parsed[T]{}
	}
	c.entries[key] = parsed[T]{v: v, err: err}
	return v, err
}

func parseConfig(providerID string, raw []byte, o pool.ParseOptions) (pool.Config, error) {
	ptype, _ := o.Providers.Type(providerID) // what the parse depends on of the deployment's providers
	key := providerID + "\x00" + ptype + "\x00" + string(raw)
	return configs.get(key, func() (pool.Config, error) { return pool.ParseConfig(providerID, raw, o) })
}

// parseWorkerType is pool.ParseWorkerType with the default options, cached.
func parseWorkerType(raw []byte) (pool.WorkerType, error) {
	return workerTypes.get(string(raw), func() (pool.WorkerType, error) { return pool.ParseWorkerType(raw, pool.ParseOptions{Stored: true}) })
}

// load reads every worker type and pool and their live workers.
func (it *iteration) load(ctx context.Context) ([]*target, error) {
	types, pools, err := it.definitions(ctx)
	if err != nil {
		return nil, err
	}
	var targets []*target
	for _, wt := range types {
		t := &target{key: store.WorkerTypePool(wt.Name), name: wt.Name, kind: kindWorkerType, providerID: WorkerTypeProvider,
			lastModified: wt.LastModified, demand: demand.Query{ProvisionerID: pool.ProvisionerID, WorkerType: wt.Name}}
		def, perr := parseWorkerType(wt.Definition)
		if perr != nil {
			// A stored definition that no longer parses is kept as it is: its instances
			// are neither launched nor drained until someone fixes it.
			t.addError("the stored definition is no longer valid: " + perr.Error())
		} else {
			t.provision, t.sizing, t.options = true, def.Sizing(), def.Options()
		}
		targets = append(targets, t)
	}
	for i := range pools {
		wp := pools[i]
		t := &target{key: wp.WorkerPoolID, name: wp.WorkerPoolID, kind: kindPool, providerID: wp.ProviderID, record: &wp,
			groupByRegion: it.p.Config.CurrentWorkerManager}
		cfg, perr := parseConfig(wp.ProviderID, wp.Config, pool.ParseOptions{Providers: it.p.Config.Providers, Stored: true})
		switch {
		case perr != nil:
			t.addError("the stored config is no longer valid: " + perr.Error())
		case wp.ProviderID == pool.NullProviderID:
			t.deleted = true
		case cfg.ProviderType == pool.ProviderTypeAWS:
			t.provision, t.sizing, t.options = true, cfg.Sizing(), cfg.Options()
			if cfg.AWS.Demand.Source == pool.DemandSQS {
				t.demand = demand.Query{SQSQueueURL: cfg.AWS.Demand.QueueURL}
			} else {
				prov, wtype := pool.SplitWorkerPoolID(wp.WorkerPoolID)
				t.demand = demand.Query{ProvisionerID: prov, WorkerType: wtype}
			}
		}
		targets = append(targets, t)
	}

	// Live workers (stopped ones play no part): what changed since the last
	// iteration, or all of them (see fleet).
	for _, t := range targets {
		t.report = PoolReport{Key: t.key, Name: t.name, MinCapacity: t.sizing.MinCapacity, MaxCapacity: t.sizing.MaxCapacity}
	}
	if it.full, err = it.loadWorkers(ctx, targets); err != nil {
		return nil, err
	}
	return targets, nil
}

// definitionsCache holds the worker types and pools a Provisioner last scanned,
// with the definitions' generation read before (store.DefinitionsGeneration).
type definitionsCache struct {
	mu         sync.Mutex
	generation string
	types      []store.WorkerType
	pools      []store.WorkerPool
}

func (d *definitionsCache) reset() {
	d.mu.Lock()
	d.generation, d.types, d.pools = "", nil, nil
	d.mu.Unlock()
}

// definitions returns every worker type and pool: those last scanned if their
// generation has not changed since and no full load is due, or scanned again.
func (it *iteration) definitions(ctx context.Context) ([]store.WorkerType, []store.WorkerPool, error) {
	s, d := it.p.Store, &it.p.definitions
	gen, gerr := s.DefinitionsGeneration(ctx)
	if gerr != nil {
		it.p.log().WarnContext(ctx, "reading the definitions' generation failed: scanning them", "iteration", it.id, "error", gerr.Error())
	}
	d.mu.Lock()
	cachedGen, types, pools := d.generation, d.types, d.pools
	d.mu.Unlock()
	if gerr == nil && gen != "" && gen == cachedGen && !it.p.fleet.due(it.now, it.p.Config.FullLoad) {
		return types, pools, nil
	}
	types, err := s.WorkerTypes(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load worker types: %w", err)
	}
	pools, err = s.WorkerPools(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load worker pools: %w", err)
	}
	if gerr == nil {
		d.mu.Lock()
		d.generation, d.types, d.pools = gen, types, pools
		d.mu.Unlock()
	}
	return types, pools, nil
}

// indexLive adds, once per process and pool, the pool's records written before the
// live index existed (or by an older version during an upgrade) to that index, so
// LiveWorkers sees them. A failure is a problem of this iteration; the next tries
// again.
func (it *iteration) indexLive(ctx context.Context, key string) {
	if _, done := it.p.indexed.Load(key); done {
		return
	}
	n, err := it.p.Store.IndexLiveWorkers(ctx, key)
	if err != nil {
		it.problem("adding the live workers of %s to the live index: %v", key, err)
		return
	}
	if n > 0 {
		it.p.log().Info("added worker records written before the live index to it", "iteration", it.id, "pool", key, "workers", n)
	}
	it.p.indexed.Store(key, true)
}

// PoolReport is what an iteration saw and did for one worker type or pool.
type PoolReport struct {
	Key, Name    string
	PendingTasks int64
	// Capacities of live workers, by where they are in their life; interrupted
	// (spot warning received) workers are counted apart, as leaving.
	Running, Requested, Interrupted float64
	// Change is the capacity the scaling rule asked for; Desired the total it aims at.
	Change, Desired float64
	// MinCapacity and MaxCapacity are the pool's bounds (0 for a pool that is not
	// provisioned, such as a deleted one).
	MinCapacity, MaxCapacity float64
	// Workers counts the live workers by state.
	Workers    store.WorkerCounts
	Launches   []LaunchReport
	Terminated int
	Errors     []string
	Note       string
}

// LaunchReport is one launch call's result.
type LaunchReport struct {
	Option           string
	InstanceType     string
	Region           string
	AvailabilityZone string
	Spot             bool
	Price            float64
	Count            int
	Capacity         float64
}

// LaunchedCount is the number of instances launched.
func (r PoolReport) LaunchedCount() int {
	n := 0
	for _, l := range r.Launches {
		n += l.Count
	}
	return n
}

// Line is the report as one readable line, as `make run` prints it.
func (r PoolReport) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: pending tasks %d, running %g, requested %g", r.Name, r.PendingTasks, r.Running, r.Requested)
	if r.Interrupted > 0 {
		fmt.Fprintf(&b, ", interrupted %g", r.Interrupted)
	}
	if r.Change > 0 {
		fmt.Fprintf(&b, " -> want +%g", r.Change)
	}
	for _, l := range r.Launches {
		market := "on-demand"
		if l.Spot {
			market = "spot"
		}
		where := l.Region
		if l.AvailabilityZone != "" {
			where = l.AvailabilityZone
		}
		price := fmt.Sprintf("$%.4f/h", l.Price)
		if l.Price == 0 {
			price = "price unknown" // a cloud that reports none (moto)
		}
		fmt.Fprintf(&b, "; launched %d x %s in %s (%s %s)", l.Count, l.InstanceType, where, market, price)
	}
	if r.Terminated > 0 {
		fmt.Fprintf(&b, "; terminated %d", r.Terminated)
	}
	if r.Note != "" {
		fmt.Fprintf(&b, "; %s", r.Note)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(&b, "; error: %s", e)
	}
	return b.String()
}

// status is the report as the pool's stored figures, its history being history
// (the stored one, oldest first) with this iteration's sample added if its
// figures differ from the last sample's.
func (r PoolReport) status(now time.Time, history []store.PoolSample) store.PoolStatus {
	st := store.PoolStatus{
		Pool: r.Key, Updated: now, PendingTasks: r.PendingTasks, DesiredCapacity: r.Desired,
		RequestedCapacity: r.Requested, RunningCapacity: r.Running, StoppingCapacity: r.Interrupted,
		Launched: r.LaunchedCount(), Terminated: r.Terminated, Decision: r.Line(),
		MinCapacity: r.MinCapacity, MaxCapacity: r.MaxCapacity, Interrupted: r.Interrupted, Workers: r.Workers,
	}
	if len(r.Errors) > 0 {
		st.LastError = r.Errors[len(r.Errors)-1]
	}
	sample := store.PoolSample{Time: now.Truncate(time.Second), Running: r.Running, Requested: r.Requested, Pending: r.PendingTasks}
	if n := len(history); n == 0 || !sameSample(history[n-1], sample) {
		history = append(history[:n:n], sample) // a copy: history is the stored status's
	}
	st.History = history[max(0, len(history)-store.PoolHistoryLength):]
	return st
}

// sameSample reports whether two samples hold the same figures (whatever their time).
func sameSample(a, b store.PoolSample) bool {
	return a.Running == b.Running && a.Requested == b.Requested && a.Pending == b.Pending
}

// sameFigures reports whether two statuses of a pool say the same, whenever
// they were written.
func sameFigures(a, b store.PoolStatus) bool {
	a.Updated, b.Updated = time.Time{}, time.Time{}
	if len(a.History) != len(b.History) {
		return false
	}
	for i := range a.History {
		if !sameSample(a.History[i], b.History[i]) || !a.History[i].Time.Equal(b.History[i].Time) {
			return false
		}
	}
	a.History, b.History = nil, nil
	return reflect.DeepEqual(a, b)
}
