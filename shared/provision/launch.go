package provision

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ratelimit"
	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/notify"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/slugid"
	"github.com/workerfleet/workerfleet/shared/store"
)

// Kinds of the pool errors the provisioner records.
const (
	KindDemand   = "demand-error"
	KindQuota    = "quota-exceeded"
	KindPrice    = "spot-price-too-low"
	KindConfig   = "launch-config-rejected"
	KindLaunch   = "launch-failed"
	KindUserData = "user-data-invalid"
	KindRecord   = "worker-record-failed"
	KindNoOption = "no-launchable-option"
)

// TagIteration names the iteration that launched an instance. A retried invocation
// (same id) leaves its own earlier launches to its launch step, which gets them back
// from EC2 through their ClientTokens and records them, instead of sweeping them.
const TagIteration = "workerfleet:iteration"

// TagWorkerGroup names a pool instance's workerGroup (its record's key), which is
// the pool's providerId as in v25, so a record can be found from the instance alone.
const TagWorkerGroup = "workerfleet:worker-group"

// workerGroup is the workerGroup of t's workers launched in region: for a pool the
// providerId, as v25's aws provider sets it, or the region, as today's does
// (Config.CurrentWorkerManager); the region for a worker type's instances.
func (t *target) workerGroup(region string) string {
	if t.kind == kindPool && !t.groupByRegion {
		return t.providerID
	}
	return region
}

// Launching.
const (
	// maxLaunchRounds bounds how many times one iteration re-chooses after failures
	// (each round tries only options not tried yet).
	maxLaunchRounds = 8
	// launchTokenBytes is how much of a SHA-256 makes a ClientToken.
	launchTokenBytes = 24
)

// provisionAll provisions every target, Concurrency at a time.
func (it *iteration) provisionAll(ctx context.Context) {
	it.forEach(ctx, it.provisionTarget)
}

// capacities sums the capacity of t's live workers: running, requested (launched,
// not running yet) and interrupted (spot warning received: leaving soon). Workers of
// a pool's previous providers count, as in v25: they keep working until they exit.
func (t *target) capacities() (running, requested, interrupted float64) {
	for _, w := range t.workers {
		if !w.State.Alive() {
			continue
		}
		switch {
		case w.Interrupted():
			interrupted += w.Capacity
		case w.State == store.Running, t.kind == kindWorkerType && w.EC2State == cloud.StateRunning:
			// Pools' workers run once registered; worker types' instances once EC2 runs
			// them (instanceStarted is optional for them).
			running += w.Capacity
		default:
			requested += w.Capacity
		}
	}
	return running, requested, interrupted
}

// liveByOption counts t's live workers by the option they were launched for.
func (t *target) liveByOption() map[string]int {
	out := map[string]int{}
	for _, w := range t.workers {
		if w.State.Alive() {
			out[w.OptionID]++
		}
	}
	return out
}

// withRoom is t's options without those at their MaxInstances.
func (t *target) withRoom(live map[string]int) []pool.Option {
	out := make([]pool.Option, 0, len(t.options))
	for _, o := range t.options {
		if o.MaxInstances == 0 || live[o.ID] < o.MaxInstances {
			out = append(out, o)
		}
	}
	return out
}

// stopping sums the capacity of t's workers that are shutting down.
func (t *target) stopping() float64 {
	c := 0.0
	for _, w := range t.workers {
		if w.State == store.Stopping {
			c += w.Capacity
		}
	}
	return c
}

// CountsDemand is a demand source that reads a pool's pending and claimed tasks
// with one question (today's queue.taskQueueCounts).
type CountsDemand interface {
	Counts(ctx context.Context, q demand.Query) (demand.Counts, error)
}

// counts are t's pending tasks and, when the demand source says, its claimed ones:
// with one question where it can (CountsDemand), else pendingTasks and, for a
// ClaimedDemand, claimed.
func (it *iteration) counts(ctx context.Context, t *target) (pending int64, claimed float64, claimedKnown bool, err error) {
	if cd, ok := it.p.Demand.(CountsDemand); ok {
		c, err := cd.Counts(ctx, t.demand)
		return c.Pending, float64(c.Claimed), c.ClaimedKnown && err == nil, err
	}
	if pending, err = it.p.Demand.Pending(ctx, t.demand); err != nil {
		return 0, 0, false, err
	}
	claimed, claimedKnown = it.claimed(ctx, t)
	return pending, claimed, claimedKnown, nil
}

// claimed is the number of t's tasks being worked on, when the demand source
// reports claimed tasks (ClaimedDemand); known is false otherwise, or when it
// cannot say.
func (it *iteration) claimed(ctx context.Context, t *target) (claimed float64, known bool) {
	cd, ok := it.p.Demand.(ClaimedDemand)
	if !ok {
		return 0, false
	}
	n, err := cd.Claimed(ctx, t.demand)
	if err != nil {
		t.note("claimed tasks unknown: %v", err)
		return 0, false
	}
	return float64(n), true
}

// provisionTarget: demand, estimate, choose, launch.
func (it *iteration) provisionTarget(ctx context.Context, t *target) {
	if !t.provision {
		// Nothing is launched, but the report still shows what runs (a deleted pool's
		// workers finishing their tasks).
		running, requested, interrupted := t.capacities()
		t.mu.Lock()
		t.report.Running, t.report.Requested, t.report.Interrupted = running, requested, interrupted
		t.mu.Unlock()
		return
	}
	want, headroom := it.size(ctx, t)
	if want <= 0 {
		return
	}
	if ctx.Err() != nil {
		t.note("no time left to launch")
		return
	}
	it.launchFor(ctx, t, want, headroom)
}

// size reads t's demand, tells its surplus workers so, and returns the capacity
// to add (want) and the room left under maxCapacity (headroom), reporting both.
func (it *iteration) size(ctx context.Context, t *target) (want, headroom float64) {
	pending, claimed, claimedKnown, err := it.counts(ctx, t)
	demandKnown := err == nil
	if err != nil {
		it.poolErrorOnce(ctx, t, KindDemand, "Pending tasks could not be read",
			fmt.Sprintf("The provisioner asked %s and got: %v. No capacity is added for demand until this works (minCapacity is still kept).", t.demand, err))
		pending = 0
	}
	running, requested, interrupted := t.capacities()
	idle := 0.0
	if claimedKnown {
		idle = math.Max(0, running-claimed)
	}
	if demandKnown {
		it.observeDemand(t, float64(pending), claimed)
		// Without demand figures, no worker is told it is surplus.
		it.decideTermination(ctx, t, float64(pending), claimed, claimedKnown, running)
	}
	state := CapacityState{Pending: float64(pending), Running: running, Requested: requested, Interrupted: interrupted,
		Idle: idle, Stopping: t.stopping()}
	change := it.p.Config.estimate(t.sizing, state)
	// Interrupted workers do not satisfy demand, but they still count against
	// maxCapacity until they are gone: maxCapacity is never exceeded.
	headroom = t.sizing.MaxCapacity - running - requested - interrupted
	want = math.Min(change, headroom)
	t.mu.Lock()
	t.report.PendingTasks, t.report.Running, t.report.Requested, t.report.Interrupted = pending, running, requested, interrupted
	t.report.Change = math.Max(0, want)
	t.report.Desired = running + requested + math.Max(0, want)
	t.mu.Unlock()
	return want, headroom
}

// launchFor launches want capacity for t, in rounds over the cheapest options not
// yet tried, within headroom, MaxLaunchesPerPool and t's launch budget.
func (it *iteration) launchFor(ctx context.Context, t *target, want, headroom float64) {
	tried := map[string]bool{}
	launched := 0
	live := t.liveByOption()
	_, t.probation = it.backoffs.active(probationScope(t.key))
	defer func() {
		if t.failedLaunches > 0 && launched == 0 {
			it.backOff(ctx, probationScope(t.key), it.now.Add(it.p.Config.ConfigBackoff), "launches failing")
		}
	}()
	var excluded []exclusion
	for round := 0; want > 0 && round < maxLaunchRounds && !it.launchBudgetSpent(t); round++ {
		cands, ex := choose(t.key, t.withRoom(live), it.prices, it.backoffs, it.p.Cloud.QuotaGroup, tried)
		if round == 0 {
			excluded = ex
		}
		allocs := it.p.Config.allocate(cands, want, headroom, it.p.Config.MaxLaunchesPerPool-launched, it.id)
		if len(allocs) == 0 {
			break
		}
		for _, a := range allocs {
			if it.launchBudgetSpent(t) {
				break
			}
			if m := a.c.opt.MaxInstances; m > 0 {
				if a.count = min(a.count, m-live[a.c.opt.ID]); a.count <= 0 {
					continue
				}
			}
			tried[a.c.key()] = true
			n := it.launchAllocation(ctx, t, a, round)
			live[a.c.opt.ID] += n
			launched += n
			want -= float64(n) * a.c.opt.Capacity
			headroom -= float64(n) * a.c.opt.Capacity
			if ctx.Err() != nil {
				t.note("ran out of time while launching")
				return
			}
		}
	}
	// Nothing could even be tried, and not only because of backoffs (whose causes were
	// reported when they began): tell the operator why.
	if len(tried) == 0 && want > 0 {
		it.reportNoOption(ctx, t, want, excluded)
	}
}

// reportNoOption records a pool error saying why every option was excluded, when
// not all of them were only backed off.
func (it *iteration) reportNoOption(ctx context.Context, t *target, want float64, excluded []exclusion) {
	structural := false
	reasons := make([]string, 0, len(excluded))
	for _, e := range excluded {
		reasons = append(reasons, e.Option+": "+e.Reason)
		structural = structural || !e.Backoff
	}
	sort.Strings(reasons)
	if structural {
		t.note("no option could launch")
		it.poolErrorOnce(ctx, t, KindNoOption, "No launch option is usable",
			fmt.Sprintf("%g capacity is wanted but every option is excluded:\n%s", want, strings.Join(reasons, "\n")))
	}
}

// launchBudgetSpent reports whether t made its iteration's share of failed launch
// calls (Config.MaxFailedLaunchesPerPool), and notes it once: its remaining
// options wait for the next iteration, and the launch budget goes to other pools.
func (it *iteration) launchBudgetSpent(t *target) bool {
	limit := it.p.Config.MaxFailedLaunchesPerPool
	if t.probation {
		limit = 1
	}
	if t.budgetBusy {
		return true
	}
	if t.failedLaunches < limit {
		return false
	}
	if t.failedLaunches == limit {
		t.failedLaunches++ // noted once
		t.note("%d launches failed: no more this iteration (the launch budget is shared by every pool)", limit)
	}
	return true
}

// launchContext is the context of t's launch calls: once t's launches failed (this
// iteration or, on probation, an earlier one), they take only spare tokens of the
// shared launch budget and never wait for one.
func launchContext(ctx context.Context, t *target) context.Context {
	if t.probation || t.failedLaunches > 0 {
		return ratelimit.Opportunistic(ctx)
	}
	return ctx
}

// launchAllocation launches one allocation and records its workers; it returns the
// number of instances launched and recorded.
func (it *iteration) launchAllocation(ctx context.Context, t *target, a allocation, round int) int {
	if t.kind == kindWorkerType {
		// Each aws-provisioner instance gets its own one-time secret in its user data,
		// and user data is per RunInstances call: one call per instance.
		n := 0
		for i := range a.count {
			ok, err := it.launchWorkerTypeInstance(ctx, t, a, round, i)
			if err != nil {
				break
			}
			if ok {
				n++
			}
		}
		return n
	}
	return it.launchPoolBatch(ctx, t, a, round)
}

// launchToken is the launch's idempotency token (EC2 ClientToken): the same iteration
// (a retried invocation carries the same id) asking the same thing gets the same
// instances back instead of new ones.
func (it *iteration) launchToken(t *target, a allocation, round, index int) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{it.id, t.key, a.c.opt.ID, a.c.az, fmt.Sprint(round), fmt.Sprint(index)}, "\x00")))
	return "wf-" + hex.EncodeToString(sum[:launchTokenBytes])
}

// secretToken derives an aws-provisioner instance's secret token from its launch
// token with the deployment's key: unguessable, yet the same when a retried launch
// gets the same instance back.
func (it *iteration) secretToken(launchToken string) string {
	if len(it.p.Config.TokenKey) == 0 {
		return slugid.Nice()
	}
	mac := hmac.New(sha256.New, it.p.Config.TokenKey)
	mac.Write([]byte("secret-token\x00" + launchToken))
	var b [16]byte
	copy(b[:], mac.Sum(nil))
	return slugid.FromBytes(b)
}

func (it *iteration) launchRequest(t *target, a allocation, count int, token string, userData []byte) cloud.LaunchRequest {
	req := cloud.LaunchRequest{
		Region: a.c.opt.Region, AvailabilityZone: a.c.az, InstanceType: a.c.opt.InstanceType, ImageID: a.c.opt.ImageID,
		Count: count, Spot: a.c.opt.Spot, UserData: userData, ClientToken: token, LaunchSpec: a.c.opt.LaunchSpec,
		Tags: map[string]string{cloud.TagPool: t.key, TagIteration: it.id, "Name": t.name, "WorkerPoolId": t.name, "ManagedBy": "workerfleet"},
	}
	if t.kind == kindPool {
		// v25's aws provider tags Owner and CreatedBy too; cost reports group by them.
		req.Tags[TagWorkerGroup] = t.workerGroup(a.c.opt.Region)
		req.Tags["CreatedBy"] = "workerfleet-" + t.providerID
		if t.record != nil && t.record.Owner != "" {
			req.Tags["Owner"] = t.record.Owner
		}
	}
	if a.c.opt.Spot {
		req.MaxPrice, _ = a.c.opt.SpotBid(a.c.price)
	}
	return req
}

func (it *iteration) launchPoolBatch(ctx context.Context, t *target, a allocation, round int) int {
	token := it.launchToken(t, a, round, 0)
	opt := withIdleTimeout(a.c.opt, it.idleTimeout(t))
	userData, err := pool.PoolUserData(it.p.Config.RootURL, t.name, t.providerID, t.workerGroup(a.c.opt.Region), opt)
	if err == nil && it.p.Config.CurrentWorkerManager && opt.LaunchConfigID != "" {
		userData, err = pool.WithUserDataMember(userData, "launchConfigId", opt.LaunchConfigID)
	}
	if err != nil {
		it.backOff(ctx, optionScope(t.key, a.c.opt.ID), it.now.Add(it.p.Config.ConfigBackoff), "invalid user data")
		it.poolError(ctx, t, KindUserData, "User data could not be built", err.Error(), a)
		return 0
	}
	configHash, err := it.keepWorkerConfig(ctx, t, opt)
	if err != nil {
		// Workers launched now could not be given their configuration at
		// registration: launch nothing until the table takes it.
		it.poolError(ctx, t, KindRecord, "The launch's workerConfig could not be stored", err.Error(), a)
		return 0
	}
	insts, err := it.p.Cloud.Launch(launchContext(ctx, t), it.launchRequest(t, a, a.count, token, userData))
	if err != nil {
		it.launchFailed(ctx, t, a, err)
		return 0
	}
	n := 0
	for _, inst := range insts {
		if it.record(ctx, t, a, inst, token, nil, configHash) {
			n++
		}
	}
	it.reportLaunch(t, a, n)
	return n
}

// workerConfigKept is how long a kept workerConfig outlives the last launch that
// uses it, beyond its workers' registration window.
const workerConfigKept = 24 * time.Hour

// keepWorkerConfig stores the workerConfig a launch of opt gives t's workers
// (store.PutWorkerConfig) for as long as they may register, and returns its hash.
// The provisioner remembers what it stored, so a configuration is written once a
// day, not once a launch.
func (it *iteration) keepWorkerConfig(ctx context.Context, t *target, opt pool.Option) (string, error) {
	config, err := opt.WorkerConfigJSON()
	if err != nil {
		return "", err
	}
	hash := store.WorkerConfigHash(config)
	need := t.registerBy(it.now)
	key := t.key + "\x00" + hash
	if until, ok := it.p.configsKept.Load(key); ok && !until.(time.Time).Before(need) {
		return hash, nil
	}
	until := need.Add(workerConfigKept)
	if _, err := it.p.Store.PutWorkerConfig(ctx, t.key, config, until); err != nil {
		return "", err
	}
	it.p.configsKept.Store(key, until)
	return hash, nil
}

// registerBy is when a worker of t launched at now must have registered: its
// registration deadline, or its end of life when the pool sets no deadline.
func (t *target) registerBy(now time.Time) time.Time {
	if t.sizing.RegistrationTimeout > 0 {
		return now.Add(t.sizing.RegistrationTimeout)
	}
	return t.terminateAfter(now)
}

// terminateAfter is when a worker of t launched at now reaches its end of life
// unless it renews its credentials (reregisterWorker).
func (t *target) terminateAfter(now time.Time) time.Time {
	s := t.sizing
	if s.ReregistrationTimeout > 0 {
		return now.Add(s.RegistrationTimeout + s.ReregistrationTimeout)
	}
	return now.Add(pool.WorkerTypeLifetime)
}

func (it *iteration) launchWorkerTypeInstance(ctx context.Context, t *target, a allocation, round, index int) (bool, error) {
	token := it.launchToken(t, a, round, index)
	secret := it.secretToken(token)
	sec := store.Secret{Token: secret, WorkerType: t.name, Secrets: a.c.opt.Secrets, Scopes: a.c.opt.Scopes, Expiration: it.now.Add(it.p.Config.SecretTTL)}
	// ErrExists: a retried launch finds its secret created (or already read).
	if err := it.p.Store.CreateSecret(ctx, sec); err != nil && !errors.Is(err, store.ErrExists) {
		it.poolError(ctx, t, KindRecord, "The instance's secret could not be stored", err.Error(), a)
		return false, err
	}
	var bid float64
	if a.c.opt.Spot {
		bid, _ = a.c.opt.SpotBid(a.c.price)
	}
	userData, err := pool.WorkerTypeUserData(t.name, t.lastModified, a.c.opt,
		pool.UserDataContext{RootURL: it.p.Config.RootURL, Generated: it.now},
		pool.Launch{AvailabilityZone: a.c.az, SecurityToken: secret, Bid: bid, Price: a.c.price / a.c.opt.Utility})
	if err != nil {
		_ = it.p.Store.DeleteSecret(context.WithoutCancel(ctx), secret)
		it.backOff(ctx, optionScope(t.key, a.c.opt.ID), it.now.Add(it.p.Config.ConfigBackoff), "invalid user data")
		it.poolError(ctx, t, KindUserData, "User data could not be built", err.Error(), a)
		return false, err
	}
	insts, err := it.p.Cloud.Launch(launchContext(ctx, t), it.launchRequest(t, a, 1, token, userData))
	if err != nil {
		_ = it.p.Store.DeleteSecret(context.WithoutCancel(ctx), secret)
		it.launchFailed(ctx, t, a, err)
		return false, err
	}
	sum := sha256.Sum256([]byte(secret))
	ok := false
	for _, inst := range insts {
		ok = it.record(ctx, t, a, inst, token, sum[:], "") || ok
	}
	if ok {
		it.reportLaunch(t, a, 1)
	}
	return ok, nil
}

// record writes a launched instance's worker record. A record already there (a
// retried launch) is fine. If it cannot be written, the instance is terminated at
// once rather than left unrecorded (the next iteration's orphan sweep would catch it).
func (it *iteration) record(ctx context.Context, t *target, a allocation, inst cloud.Instance, token string, secretHash []byte, configHash string) bool {
	s := t.sizing
	w := store.Worker{
		Pool: t.key, WorkerGroup: t.workerGroup(inst.Region), WorkerID: inst.ID, ProviderID: t.providerID, State: store.Requested,
		Capacity: a.c.opt.Capacity, InstanceID: inst.ID, Region: inst.Region, AvailabilityZone: inst.AvailabilityZone,
		InstanceType: inst.InstanceType, ImageID: inst.ImageID, AccountID: inst.AccountID, PrivateIP: inst.PrivateIP,
		Spot: a.c.opt.Spot, Price: a.c.price, OptionID: a.c.opt.ID, LaunchToken: token, LaunchTime: inst.LaunchTime,
		EC2State: inst.State, EC2StateTime: it.now,
		SecretTokenHash: secretHash, WorkerConfigHash: configHash, LaunchConfigID: a.c.opt.LaunchConfigID,
	}
	if w.Region == "" {
		w.Region, w.WorkerGroup = a.c.opt.Region, t.workerGroup(a.c.opt.Region)
	}
	if s.RegistrationTimeout > 0 {
		w.RegistrationDeadline = it.now.Add(s.RegistrationTimeout)
	}
	w.TerminateAfter = t.terminateAfter(it.now)
	w.Expires = w.TerminateAfter.Add(store.StoppedRetention)
	created, err := it.p.Store.CreateWorker(context.WithoutCancel(ctx), w)
	switch {
	case errors.Is(err, store.ErrExists):
		return true
	case err != nil:
		it.poolError(ctx, t, KindRecord, "A launched worker could not be recorded",
			fmt.Sprintf("Instance %s was launched but its record could not be written (%v); it is being terminated.", inst.ID, err), a)
		if terr := it.p.Cloud.Terminate(context.WithoutCancel(ctx), inst.Region, []string{inst.ID}); terr != nil {
			it.problem("terminating unrecorded instance %s: %v (the next iteration's sweep will)", inst.ID, terr)
		}
		return false
	}
	t.mu.Lock()
	t.workers = append(t.workers, created)
	t.mu.Unlock()
	if t.kind == kindPool {
		announce.Announce(ctx, it.p.Events, it.p.log(), announce.Worker(announce.WorkerRequested, created, it.now))
	}
	attrs := []any{"instanceId", inst.ID, "pool", t.key, "instanceType", inst.InstanceType, "availabilityZone", inst.AvailabilityZone, "spot", a.c.opt.Spot}
	if a.c.price > 0 {
		attrs = append(attrs, "pricePerHour", a.c.price)
	}
	it.p.log().InfoContext(ctx, "launched instance", attrs...)
	return true
}

func (it *iteration) reportLaunch(t *target, a allocation, n int) {
	if n == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.report.Launches {
		l := &t.report.Launches[i]
		if l.Option == a.c.opt.ID && l.AvailabilityZone == a.c.az {
			l.Count += n
			return
		}
	}
	t.report.Launches = append(t.report.Launches, LaunchReport{
		Option: a.c.opt.ID, InstanceType: a.c.opt.InstanceType, Region: a.c.opt.Region, AvailabilityZone: a.c.az,
		Spot: a.c.opt.Spot, Price: a.c.price, Count: n, Capacity: a.c.opt.Capacity,
	})
}

// launchFailed sorts a launch failure into what to avoid next (backoffs, persisted
// for later iterations) and what to tell the operator (pool errors).
func (it *iteration) launchFailed(ctx context.Context, t *target, a allocation, err error) {
	o, cfg := a.c.opt, it.p.Config
	code := cloud.ErrorCode(err)
	if errors.Is(err, ratelimit.ErrBudgetBusy) {
		t.budgetBusy = true
		t.note("no spare launch budget for a pool whose launches fail; trying again next iteration")
		return
	}
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		t.failedLaunches++
	}
	where := o.Region
	if a.c.az != "" {
		where = a.c.az
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		t.note("launch of %s in %s cut short: %v", o.InstanceType, where, err)
	case cloud.IsRateLimitError(err):
		until, _ := cloud.EarliestRetry(err)
		it.backOff(ctx, regionScope(o.Region), until, "rate limited ("+code+")")
		t.note("rate limited in %s", o.Region)
	case cloud.IsCapacityError(err):
		az := ""
		if cloud.IsAvailabilityZoneSpecific(err) || !cloud.IsInstanceTypeSpecific(err) {
			az = a.c.az
		}
		it.backOff(ctx, capacityScope(o.Region, az, o.InstanceType), it.now.Add(cfg.CapacityBackoff), code)
		t.note("no %s capacity in %s (%s); trying other options", o.InstanceType, where, code)
	case cloud.IsQuotaError(err):
		group := it.p.Cloud.QuotaGroup(o.InstanceType)
		it.backOff(ctx, quotaScope(o.Region, group), it.now.Add(cfg.QuotaBackoff), code)
		it.poolError(ctx, t, KindQuota, "EC2 quota reached",
			fmt.Sprintf("Launching %s in %s failed: %v. Instances of the %q quota group are not launched in %s for %s; ask AWS for a higher limit if this persists.",
				o.InstanceType, where, err, group, o.Region, cfg.QuotaBackoff), a)
	case cloud.IsPriceError(err):
		it.backOff(ctx, optionScope(t.key, o.ID), it.now.Add(cfg.PriceBackoff), code)
		it.poolError(ctx, t, KindPrice, "Spot price above the maximum price",
			fmt.Sprintf("Launching %s in %s failed: %v. Raise maxPrice to use this option; it is skipped for %s.", o.InstanceType, where, err, cfg.PriceBackoff), a)
	case cloud.IsConfigError(err):
		it.backOff(ctx, optionScope(t.key, o.ID), it.now.Add(cfg.ConfigBackoff), code)
		it.poolError(ctx, t, KindConfig, "EC2 rejected the launch configuration",
			fmt.Sprintf("Launching %s in %s failed: %v. Fix the definition; this option is skipped for %s.", o.InstanceType, where, err, cfg.ConfigBackoff), a)
	default:
		it.backOff(ctx, optionScope(t.key, o.ID), it.now.Add(cfg.OtherBackoff), "launch failed")
		it.poolError(ctx, t, KindLaunch, "Launching an instance failed",
			fmt.Sprintf("Launching %s in %s failed: %v. The option is retried after %s.", o.InstanceType, where, err, cfg.OtherBackoff), a)
	}
}

// poolError records an error in the pool's error list (listWorkerPoolErrors; for
// worker types, shown by state).
func (it *iteration) poolError(ctx context.Context, t *target, kind, title, description string, a allocation) {
	extra := map[string]any{"iteration": it.id}
	if a.c.opt.ID != "" {
		extra["option"] = a.c.opt.ID
		extra["region"] = a.c.opt.Region
		extra["instanceType"] = a.c.opt.InstanceType
	}
	it.recordError(ctx, t, store.PoolError{Kind: kind, Title: title, Description: description, LaunchConfigID: a.c.opt.LaunchConfigID}, extra)
}

// poolErrorOnce records an error at most once per ConfigBackoff, for conditions that
// would otherwise repeat every iteration.
func (it *iteration) poolErrorOnce(ctx context.Context, t *target, kind, title, description string) {
	t.addError(title)
	scope := noticeScope(t.key, kind)
	if _, ok := it.backoffs.active(scope); ok {
		return
	}
	it.backOff(ctx, scope, it.now.Add(it.p.Config.ConfigBackoff), kind)
	it.recordPoolError(ctx, t, kind, title, description, map[string]any{"iteration": it.id})
}

func (it *iteration) recordPoolError(ctx context.Context, t *target, kind, title, description string, extra map[string]any) {
	it.recordError(ctx, t, store.PoolError{Kind: kind, Title: title, Description: description}, extra)
}

// recordError records e (its kind, title, description and launch config) for t.
func (it *iteration) recordError(ctx context.Context, t *target, e store.PoolError, extra map[string]any) {
	kind, title, description := e.Kind, e.Title, e.Description
	if !strings.HasPrefix(title, "No launch option") && !strings.HasPrefix(title, "Pending tasks") {
		t.addError(title + ": " + firstLine(description))
	}
	raw, _ := json.Marshal(extra)
	e.Pool, e.ErrorID, e.Extra = t.key, slugid.Nice(), raw
	e, err := it.p.Store.AddError(context.WithoutCancel(ctx), e, it.p.Config.ErrorRetention)
	if err != nil {
		it.problem("recording an error for %s: %v", t.key, err)
	} else if t.kind == kindPool {
		announce.Announce(ctx, it.p.Events, it.p.log(), announce.PoolError(e, t.providerID, "", ""))
	}
	it.p.log().WarnContext(ctx, "pool error", "pool", t.key, "kind", kind, "title", title, "description", description)
	if err == nil && t.record != nil && t.record.EmailOnError && it.p.Mailer != nil {
		if err := notify.Send(context.WithoutCancel(ctx), it.p.Mailer, t.record.Owner, notify.PoolError{WorkerPoolID: t.key,
			ErrorID: e.ErrorID, Title: title, Description: description, Extra: extra}); err != nil {
			it.problem("mailing an error of %s to its owner (emailOnError): %v", t.key, err)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
