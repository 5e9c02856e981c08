package provision

import (
	"context"
	"encoding/json"
	"math"
	"sort"
	"time"

	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// Reasons the provisioner gives a worker that asks shouldWorkerTerminate.
const (
	TerminateReasonNeeded  = "needed"
	TerminateReasonGrace   = "surplus, kept for its idle timeout in case work comes"
	TerminateReasonSurplus = "over capacity"
)

// decideTermination answers, for each running worker of pool t, today's
// worker-manager question "should this worker terminate?" (shouldWorkerTerminate,
// which generic-worker v96+ asks between tasks and when its idle timeout comes,
// and which, answered no at idle timeout, keeps it running).
//
// The pool needs the capacity its tasks need, pending and claimed (within
// minCapacity and maxCapacity), as today's worker-manager reckons it; where the
// demand source reports no claimed tasks, every running worker counts as busy while
// tasks wait, and none once none wait. The newest workers fill what is needed, as
// today's. The rest are surplus, but a worker is told to go only once it has been
// surplus for its idle timeout (its workerConfig's idleTimeoutSecs): the
// reuse window the pool's idle timeout buys stays, instead of the surplus leaving
// at the worker's next question, seconds later. Records are written only when an
// answer changes.
func (it *iteration) decideTermination(ctx context.Context, t *target, pending float64, claimed float64, claimedKnown bool, running float64) {
	if t.kind != kindPool || !t.provision {
		return // worker types' instances do not ask; deleted pools' workers are told by the API
	}
	busy := claimed
	if !claimedKnown {
		busy = 0
		if pending > 0 {
			busy = running
		}
	}
	needed := math.Max(t.sizing.MinCapacity, math.Min(pending+busy, t.sizing.MaxCapacity))
	var cands []int
	for i, w := range t.workers {
		if w.State == store.Running && w.InstanceID != "" && !w.Interrupted() {
			cands = append(cands, i)
		}
	}
	sort.SliceStable(cands, func(a, b int) bool { return t.workers[cands[a]].Created.After(t.workers[cands[b]].Created) })
	var idle func(string) time.Duration // read from the options only once a worker is surplus
	for _, i := range cands {
		w := t.workers[i]
		terminate, reason, since := false, TerminateReasonNeeded, time.Time{}
		if needed > 0 {
			needed -= w.Capacity
		} else {
			since = w.SurplusSince
			if since.IsZero() {
				since = it.now
			}
			if idle == nil {
				idle = it.idleTimeouts(t)
			}
			terminate = it.now.Sub(since) >= idle(w.OptionID)
			reason = TerminateReasonGrace
			if terminate {
				reason = TerminateReasonSurplus
			}
		}
		if w.ShouldTerminate == terminate && w.TerminateReason == reason && w.SurplusSince.Equal(since) {
			continue
		}
		updated, err := it.p.Store.UpdateWorkerFrom(ctx, w, func(fresh *store.Worker) error {
			if fresh.State != store.Running || !fresh.DecideTermination(terminate, reason, since) {
				return store.ErrNoChange
			}
			return nil
		})
		if err != nil {
			it.problem("pool %s: deciding whether %s is needed: %v", t.key, w.WorkerID, err)
			continue
		}
		t.workers[i] = updated
	}
}

// idleTimeouts returns, by option id, how long t's workers launched for it stay
// idle before they ask to go: their workerConfig's idleTimeoutSecs, as the
// provisioner wrote it into their user data.
func (it *iteration) idleTimeouts(t *target) func(optionID string) time.Duration {
	d := it.idleTimeout(t)
	byOption := make(map[string]time.Duration, len(t.options))
	for _, o := range t.options {
		byOption[o.ID] = idleTimeoutOf(withIdleTimeout(o, d))
	}
	return func(optionID string) time.Duration {
		if d, ok := byOption[optionID]; ok {
			return d
		}
		return d
	}
}

// idleTimeoutOf reads idleTimeoutSecs from o's workerConfig (0 if it sets none).
func idleTimeoutOf(o pool.Option) time.Duration {
	var wc map[string]any
	if json.Unmarshal(o.WorkerConfig, &wc) != nil {
		return 0
	}
	secs, _ := wc[IdleTimeoutKey].(float64)
	return time.Duration(secs * float64(time.Second))
}
