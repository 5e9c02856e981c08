package provision

import (
	"context"
	"fmt"
	"time"

	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/store"
)

// ActivityDemand is a demand source that also knows when workers last worked
// (today's queue.getWorker): the provisioner then ends a pool's workers that stop
// working for the pool's lifecycle.queueInactivityTimeout, as today's
// worker-manager does.
type ActivityDemand interface {
	Activity(ctx context.Context, q demand.Query, workerGroup, workerID string) (demand.Activity, error)
}

// ReasonQueueInactivity is why a worker that stopped working is stopped.
const ReasonQueueInactivity = "queue inactivity"

// Asking the queue about workers' activity.
const (
	// maxActivityQuestions bounds the questions one pool asks an iteration.
	maxActivityQuestions = 20
	// activityRecheck is how often, as a share of the timeout, one worker is asked
	// about: a 2-hour timeout asks each worker at most every 30 minutes.
	activityRecheck = 4
)

// inactive says whether running worker w of pool t has stopped working for its
// pool's queueInactivityTimeout, by what the queue knows of it: it never claimed a
// task though registered that long ago, or it was last active that long ago. Each
// worker is asked about at most every timeout/activityRecheck, and only once it
// has run for the timeout; a worker the queue cannot tell about is left alone.
func (it *iteration) inactive(ctx context.Context, t *target, w store.Worker, asked *int) (string, func(store.Worker) bool) {
	ad, ok := it.p.Demand.(ActivityDemand)
	timeout := t.sizing.QueueInactivityTimeout
	if !ok || t.kind != kindPool || timeout <= 0 || w.State != store.Running || w.Registered.IsZero() || it.now.Sub(w.Registered) < timeout {
		return "", nil
	}
	key := t.key + "\x00" + w.Key
	if last, ok := it.p.activityAsked.Load(key); ok && it.now.Sub(last.(time.Time)) < timeout/activityRecheck {
		return "", nil
	}
	if *asked >= maxActivityQuestions {
		return "", nil
	}
	*asked++
	it.p.activityAsked.Store(key, it.now)
	a, err := ad.Activity(ctx, t.demand, w.WorkerGroup, w.WorkerID)
	if err != nil {
		t.note("activity of %s unknown: %v", w.WorkerID, err)
		return "", nil
	}
	var why string
	switch {
	case !a.Known:
		return "", nil
	case a.FirstClaim.IsZero():
		why = fmt.Sprintf("%s: never claimed a task in %s", ReasonQueueInactivity, it.now.Sub(w.Registered).Round(time.Minute))
	case it.now.Sub(a.LastActive) > timeout:
		why = fmt.Sprintf("%s: last active %s ago (queueInactivityTimeout %s)", ReasonQueueInactivity, it.now.Sub(a.LastActive).Round(time.Minute), timeout)
	default:
		return "", nil
	}
	return why, func(fresh store.Worker) bool { return fresh.State == store.Running }
}
