package reaction

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/pool"
)

// DefaultMinInterval is how often Demand asks the source about one pool at most:
// worker-manager asks each pool's pending count once a loop, every 10 s.
const DefaultMinInterval = 10 * time.Second

// Demand is a provisioner's demand source that asks the real one (Sources) at most
// once per pool per MinInterval, however often iterations run: between two counts
// a pool's figures are the last count moved by the signals applied since (tasks
// that became pending add to its pending count; claims move a task from pending
// to claimed). The next count replaces that estimate, so an estimate is at most
// MinInterval old, and errs only by messages lost or repeated meanwhile, or by
// tasks resolved without running (cancelled while pending), which it still counts
// as pending.
type Demand struct {
	Sources *demand.Sources
	// MinInterval is the least time between two counts of one pool (0:
	// DefaultMinInterval).
	MinInterval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu     sync.Mutex
	counts map[demand.Query]*counted
	asked  int64
}

type counted struct {
	at      time.Time
	c       demand.Counts
	pending int64 // signalled since at
	running int64
}

func (d *Demand) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Demand) minInterval() time.Duration {
	if d.MinInterval > 0 {
		return d.MinInterval
	}
	return DefaultMinInterval
}

// Query is the demand query a signal's pool key names: "provisionerId/workerType"
// names a Taskcluster queue; anything with a scheme (an SQS queue URL) names an
// SQS queue.
func Query(key string) demand.Query {
	if strings.Contains(key, "://") {
		return demand.Query{SQSQueueURL: key}
	}
	prov, wt := pool.SplitWorkerPoolID(key)
	return demand.Query{ProvisionerID: prov, WorkerType: wt}
}

// Apply moves the kept counts by a batch of signals.
func (d *Demand) Apply(b Batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for key, delta := range b.Pools {
		if c, ok := d.counts[Query(key)]; ok {
			c.pending += delta.Pending
			c.running += delta.Running
		}
	}
}

// Asked is how many counts were asked of the source.
func (d *Demand) Asked() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asked
}

// Counts returns the pool's pending (and, where the source says, claimed) tasks:
// counted by the source if the last count is MinInterval old, else estimated.
func (d *Demand) Counts(ctx context.Context, q demand.Query) (demand.Counts, error) {
	now := d.now()
	d.mu.Lock()
	if c, ok := d.counts[q]; ok && now.Sub(c.at) < d.minInterval() && !now.Before(c.at) {
		out := c.c
		out.Pending = max(0, out.Pending+c.pending-c.running)
		if out.ClaimedKnown {
			out.Claimed += c.running
		}
		d.mu.Unlock()
		return out, nil
	}
	d.asked++
	d.mu.Unlock()
	got, err := d.Sources.Counts(ctx, q)
	if err != nil {
		return got, err
	}
	d.mu.Lock()
	if d.counts == nil {
		d.counts = map[demand.Query]*counted{}
	}
	d.counts[q] = &counted{at: now, c: got}
	d.mu.Unlock()
	return got, nil
}

// Pending is Counts' pending tasks.
func (d *Demand) Pending(ctx context.Context, q demand.Query) (int64, error) {
	c, err := d.Counts(ctx, q)
	return c.Pending, err
}

// Activity asks the source (it is not a pending count).
func (d *Demand) Activity(ctx context.Context, q demand.Query, workerGroup, workerID string) (demand.Activity, error) {
	return d.Sources.Activity(ctx, q, workerGroup, workerID)
}
