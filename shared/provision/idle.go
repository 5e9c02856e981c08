package provision

import (
	"sort"
	"time"

	"github.com/workerfleet/workerfleet/shared/provision/idletimeout"
)

// IdleTimeouts chooses each pool's workers' idle timeout from the pool's own
// recent demand and the cost of a relaunch (its workers' boot
// time, measured from their records, and a stop): see package idletimeout.
type IdleTimeouts = idletimeout.Pools

// observeDemand tells Config.IdleTimeouts what this iteration saw of pool t: its
// demand (pending tasks, and claimed ones where known) and its workers' median
// time from launch to registration.
func (it *iteration) observeDemand(t *target, pending, claimed float64) {
	p := it.p.Config.IdleTimeouts
	if p == nil || t.kind != kindPool {
		return
	}
	var boots []time.Duration
	for _, w := range t.workers {
		if !w.Registered.IsZero() && w.Registered.After(w.Created) {
			boots = append(boots, w.Registered.Sub(w.Created))
		}
	}
	var boot time.Duration
	if len(boots) > 0 {
		sort.Slice(boots, func(i, j int) bool { return boots[i] < boots[j] })
		boot = boots[len(boots)/2]
	}
	p.Observe(t.key, it.now, pending+claimed, boot)
}

// idleTimeout is the idle timeout written into the user data of pool t's workers
// whose workerConfig sets none: the pool's own (Config.IdleTimeouts) where it has
// one, else Config.WorkerIdleTimeout.
func (it *iteration) idleTimeout(t *target) time.Duration {
	if p := it.p.Config.IdleTimeouts; p != nil && t.kind == kindPool {
		if d := p.Timeout(t.key, it.now); d > 0 {
			return d
		}
	}
	return it.p.Config.WorkerIdleTimeout
}
