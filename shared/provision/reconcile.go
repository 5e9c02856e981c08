package provision

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/store"
)

// Stop reasons the provisioner records.
const (
	ReasonRegistrationTimeout = "did not register within its registration timeout"
	ReasonLifetime            = "reached the end of its lifetime"
	ReasonNotListed           = "EC2 no longer lists the instance"
	ReasonOrphan              = "no worker record knows the instance"
	ReasonTargetGone          = "its worker type or worker pool no longer exists"
)

// listing is one region's instances of this deployment.
type listing struct {
	ok   bool // false: listing failed, so nothing in the region is judged
	byID map[string]listed
}

// listed is what reconciliation uses of a listed instance: a few strings instead
// of the driver's whole description and tag map (at 200,000 instances, hundreds of
// megabytes an iteration would hold).
type listed struct {
	ID, State, AvailabilityZone, PrivateIP string
	// Pool, Iteration and WorkerGroup are the instance's TagPool, TagIteration and
	// TagWorkerGroup tags.
	Pool, Iteration, WorkerGroup string
}

func listedOf(inst cloud.Instance) listed {
	return listed{ID: inst.ID, State: inst.State, AvailabilityZone: inst.AvailabilityZone, PrivateIP: inst.PrivateIP,
		Pool: inst.Tags[cloud.TagPool], Iteration: inst.Tags[TagIteration], WorkerGroup: inst.Tags[TagWorkerGroup]}
}

// regions are those to list: the configured ones and every region a definition or
// a live record names.
func (it *iteration) regions() []string {
	set := map[string]bool{}
	for _, r := range it.p.Config.Regions {
		set[r] = true
	}
	for _, t := range it.targets {
		for _, o := range t.options {
			set[o.Region] = true
		}
		for _, w := range t.workers {
			if w.Region != "" && w.State != store.Stopped {
				set[w.Region] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// listAll lists every region's instances concurrently.
func (it *iteration) listAll(ctx context.Context) map[string]*listing {
	regions := it.regions()
	out := make(map[string]*listing, len(regions))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := &listing{}
			if b, ok := it.backoffs.active(regionScope(r)); ok {
				it.problem("region %s backed off until %s (%s): not reconciled", r, b.Until.Format(time.RFC3339), b.Reason)
			} else if insts, err := it.p.Cloud.Instances(ctx, r, nil); err != nil {
				it.problem("listing instances in %s: %v", r, err)
				it.backOffRateLimit(ctx, r, err)
			} else {
				l.ok = true
				l.byID = make(map[string]listed, len(insts))
				for _, inst := range insts {
					l.byID[inst.ID] = listedOf(inst)
				}
			}
			mu.Lock()
			out[r] = l
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// terminations collects the instances to terminate, by region.
type terminations struct {
	mu       sync.Mutex
	byRegion map[string][]termination
}

type termination struct {
	id     string
	target *target // nil for instances of no known target
	// pool (the instance's pool tag) and reason are for the log line.
	pool, reason string
}

func (ts *terminations) add(region, id string, t *target, pool, reason string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.byRegion == nil {
		ts.byRegion = map[string][]termination{}
	}
	ts.byRegion[region] = append(ts.byRegion[region], termination{id: id, target: t, pool: pool, reason: reason})
}

func alive(ec2State string) bool {
	switch ec2State {
	case cloud.StatePending, cloud.StateRunning, cloud.StateStopping, cloud.StateStopped:
		return true
	}
	return false
}

// reconcile brings records in line with EC2, reaps, and terminates orphans.
func (it *iteration) reconcile(ctx context.Context) {
	var ts terminations
	it.forEach(ctx, func(ctx context.Context, t *target) { it.reconcileTarget(ctx, t, &ts) })

	known := map[string]bool{}
	targets := map[string]*target{}
	for _, t := range it.targets {
		targets[t.key] = t
		for _, w := range t.workers {
			if w.InstanceID != "" {
				known[w.InstanceID] = true
			}
		}
	}
	for region, l := range it.listings {
		if !l.ok {
			continue
		}
		for id, inst := range l.byID {
			if known[id] || !alive(inst.State) || inst.Iteration == it.id {
				continue
			}
			poolKey := inst.Pool
			t := targets[poolKey]
			group := region
			if g := inst.WorkerGroup; g != "" {
				group = g
			}
			reason := ReasonOrphan
			if t != nil && it.recorded(ctx, t, store.WorkerKey(group, id)) {
				continue
			}
			if t == nil {
				reason = ReasonTargetGone
				// Its record, if any, is not among the loaded ones: stop it by key.
				if poolKey != "" {
					_, err := it.p.Store.UpdateWorker(ctx, poolKey, store.WorkerKey(group, id), func(w *store.Worker) error {
						if !w.MarkStopping(ReasonTargetGone) {
							return store.ErrNoChange
						}
						return nil
					})
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						it.problem("stopping the record of %s: %v", id, err)
					}
				}
			}
			ts.add(region, id, t, poolKey, reason)
		}
	}
	it.terminate(ctx, &ts)
}

// recorded reports whether a live record of t's, missing from the loaded ones,
// knows the instance after all: the live index is eventually consistent, so an
// instance is an orphan only when a consistent read of its record finds none (or a
// stopped one). A live record found is added to the index (written back, it gains
// the index key if it was written before the index existed) and to t's workers for
// this iteration's counting. If the read fails, the instance is spared this time.
func (it *iteration) recorded(ctx context.Context, t *target, key string) bool {
	w, err := it.p.Store.WorkerByKey(ctx, t.key, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false
	case err != nil:
		it.problem("pool %s: reading the record of %s before terminating it as an orphan: %v", t.key, key, err)
		return true
	case w.State == store.Stopped:
		return false
	}
	if w.LivePool == "" {
		if updated, err := it.p.Store.UpdateWorker(ctx, t.key, key, func(*store.Worker) error { return nil }); err == nil {
			w = updated
		} else {
			it.problem("pool %s: adding %s to the live index: %v", t.key, key, err)
		}
	}
	t.workers = append(t.workers, w)
	return true
}

// reconcileTarget updates t's records from EC2's listing and schedules terminations.
func (it *iteration) reconcileTarget(ctx context.Context, t *target, ts *terminations) {
	cfg := it.p.Config
	asked := 0 // questions to the queue about workers' activity, this iteration
	for i := range t.workers {
		w := t.workers[i]
		if w.InstanceID == "" || w.State == store.Stopped {
			continue
		}
		l := it.listings[w.Region]
		if l == nil || !l.ok {
			continue
		}
		inst, listed := l.byID[w.InstanceID]
		if !listed {
			if it.now.Sub(w.Created) < cfg.NotFoundGrace {
				continue
			}
			updated, err := it.p.Store.UpdateWorkerFrom(ctx, w, func(w *store.Worker) error {
				if !w.MarkStopped(it.now, ReasonNotListed) {
					return store.ErrNoChange
				}
				w.LastChecked = it.now
				return nil
			})
			if err != nil {
				it.problem("pool %s: stopping %s: %v", t.key, w.WorkerID, err)
				continue
			}
			t.workers[i] = updated
			it.announceStopped(ctx, t, w, updated)
			continue
		}

		if inst.State != w.EC2State || it.now.Sub(w.LastChecked) > cfg.CheckRefresh {
			updated, err := it.takeListedState(ctx, t, w, inst)
			if err != nil {
				it.problem("pool %s: updating %s from EC2: %v", t.key, w.WorkerID, err)
				continue
			}
			it.announceStopped(ctx, t, w, updated)
			t.workers[i], w = updated, updated
		}
		if !alive(inst.State) {
			continue
		}

		// A termination that did not take (the record says stopping, EC2 still runs
		// it): terminate again.
		if w.State == store.Stopping && (inst.State == cloud.StatePending || inst.State == cloud.StateRunning) {
			ts.add(w.Region, w.InstanceID, t, t.key, w.StopReason)
			continue
		}
		reason, due := it.stopDue(t, w)
		if reason == "" {
			reason, due = it.inactive(ctx, t, w, &asked)
		}
		if reason == "" {
			continue
		}
		updated, stopped, err := it.stopWorker(ctx, w, reason, due)
		if err != nil {
			it.problem("pool %s: stopping %s: %v", t.key, w.WorkerID, err)
			continue
		}
		t.workers[i] = updated
		if stopped {
			ts.add(w.Region, w.InstanceID, t, t.key, reason)
			if t.kind == kindPool {
				announce.Announce(ctx, it.p.Events, it.p.log(), announce.Removed(updated, reason, it.now))
			}
		}
	}
}

// announceStopped publishes workerStopped for a pool's worker whose record EC2's
// listing just moved from was to stopped (instance states reach the records only
// from the listing: ec2events.Used).
func (it *iteration) announceStopped(ctx context.Context, t *target, was, now store.Worker) {
	if t.kind == kindPool && was.State != store.Stopped && now.State == store.Stopped {
		announce.Announce(ctx, it.p.Events, it.p.log(), announce.Worker(announce.WorkerStopped, now, it.now))
	}
}

// takeListedState brings w's record in line with EC2's listing of its instance.
// When only EC2's view moved (a pool's worker went from pending to running, the
// worker's own state, zone and address unchanged) and lastChecked is not due a
// refresh, the record is kept so in memory and not written: nothing reads a pool
// worker's EC2 state but the provisioner, which lists EC2 again next iteration,
// and a write there cost one request and its index moves for every launch. Worker
// types' records are written (aws-provisioner's state view counts EC2's running
// instances).
func (it *iteration) takeListedState(ctx context.Context, t *target, w store.Worker, inst listed) (store.Worker, error) {
	take := func(w *store.Worker) bool {
		changed := w.ObserveEC2State(inst.State, it.now)
		if w.AvailabilityZone == "" && inst.AvailabilityZone != "" {
			w.AvailabilityZone, changed = inst.AvailabilityZone, true
		}
		if w.PrivateIP == "" && inst.PrivateIP != "" {
			w.PrivateIP, changed = inst.PrivateIP, true
		}
		return changed
	}
	if t.kind == kindPool && it.now.Sub(w.LastChecked) <= it.p.Config.CheckRefresh {
		held := w
		take(&held)
		if held.State == w.State && held.AvailabilityZone == w.AvailabilityZone && held.PrivateIP == w.PrivateIP && held.StopReason == w.StopReason {
			return held, nil
		}
	}
	return it.p.Store.UpdateWorkerFrom(ctx, w, func(w *store.Worker) error {
		if !take(w) {
			return store.ErrNoChange
		}
		w.LastChecked = it.now
		return nil
	})
}

// stopDue says whether worker w of t must be stopped, and why, with the predicate
// that re-checks it against the fresh record just before it is carried out.
func (it *iteration) stopDue(t *target, w store.Worker) (string, func(store.Worker) bool) {
	now := it.now
	if w.State == store.Requested && !w.RegistrationDeadline.IsZero() && now.After(w.RegistrationDeadline) {
		return ReasonRegistrationTimeout, func(fresh store.Worker) bool {
			return fresh.State == store.Requested && now.After(fresh.RegistrationDeadline)
		}
	}
	if w.State.Alive() && !w.TerminateAfter.IsZero() && now.After(w.TerminateAfter) {
		return ReasonLifetime, func(fresh store.Worker) bool {
			return fresh.State.Alive() && !fresh.TerminateAfter.IsZero() && now.After(fresh.TerminateAfter)
		}
	}
	return "", nil
}

// stopWorker marks a worker stopping if, on its fresh record, it is still due to be:
// a registration or an extension that happened since the read keeps it alive. It
// reports whether the worker was marked (and so must be terminated).
func (it *iteration) stopWorker(ctx context.Context, w store.Worker, reason string, due func(store.Worker) bool) (store.Worker, bool, error) {
	marked := false
	updated, err := it.p.Store.UpdateWorkerFrom(ctx, w, func(fresh *store.Worker) error {
		marked = false
		if !due(*fresh) || !fresh.MarkStopping(reason) {
			return store.ErrNoChange
		}
		marked = true
		return nil
	})
	return updated, marked, err
}

// terminate ends the collected instances, per region, in batches.
func (it *iteration) terminate(ctx context.Context, ts *terminations) {
	var wg sync.WaitGroup
	for region, list := range ts.byRegion {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := map[string]bool{}
			var ids []string
			for _, tm := range list {
				if !seen[tm.id] {
					seen[tm.id] = true
					ids = append(ids, tm.id)
				}
			}
			for start := 0; start < len(ids); start += cloud.MaxTerminateBatch {
				batch := ids[start:min(start+cloud.MaxTerminateBatch, len(ids))]
				if err := it.p.Cloud.Terminate(context.WithoutCancel(ctx), region, batch); err != nil {
					it.problem("terminating %d instances in %s: %v", len(batch), region, err)
					it.backOffRateLimit(ctx, region, err)
					return
				}
			}
			counted := map[string]bool{}
			for _, tm := range list {
				if counted[tm.id] {
					continue
				}
				counted[tm.id] = true
				it.p.log().InfoContext(ctx, "terminated instance", "instanceId", tm.id, "region", region, "pool", tm.pool, "reason", tm.reason)
				if tm.target != nil {
					tm.target.mu.Lock()
					tm.target.report.Terminated++
					tm.target.mu.Unlock()
				} else {
					it.mu.Lock()
					it.rep.Terminated++
					it.rep.Orphans++
					it.mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
}

// cleanupPools removes deleted (null-provider) pools once no worker of theirs is
// left alive or stopping. Their workers are not terminated for the deletion: they
// run until they exit, or until the provisioner stops them at their lifecycle limits
// (registrationTimeout, the end of their reregistrationTimeout), as in v25.
func (it *iteration) cleanupPools(ctx context.Context) {
	for _, t := range it.targets {
		if t.kind != kindPool || !t.deleted || t.record == nil {
			continue
		}
		remaining := 0
		for _, w := range t.workers {
			if w.State != store.Stopped {
				remaining++
			}
		}
		if remaining > 0 {
			t.note("deleted; waiting for %d worker%s to exit or reach their lifecycle limits", remaining, plural(remaining))
			continue
		}
		switch err := it.p.Store.RemoveWorkerPool(ctx, t.key, t.record.Version); {
		case err == nil:
			t.note("deleted pool removed: its workers are gone")
			it.p.definitions.reset() // the removal bumps no generation: scan again
		case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
			// Updated (perhaps given a provider again) or removed since it was read.
		default:
			it.problem("removing deleted pool %s: %v", t.key, err)
		}
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (it *iteration) backOffRateLimit(ctx context.Context, region string, err error) {
	if until, ok := cloud.EarliestRetry(err); ok {
		it.backOff(ctx, regionScope(region), until, fmt.Sprintf("rate limited: %v", cloud.ErrorCode(err)))
	}
}
