package provision

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"math"
	"sort"
	"time"

	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/pool"
)

// Policy is a scaling policy: how much capacity a pool gets and how it is spread
// over the pool's options.
type Policy string

const (
	// PolicyWorkerfleet (the default): capacity for the pending tasks that idle
	// capacity cannot take (when the demand source reports claimed tasks), less
	// what is already requested, within min/maxCapacity (pool.Sizing's
	// CapacityChange); spread over the cheapest options per unit of work (allocate).
	PolicyWorkerfleet Policy = "workerfleet"
	// PolicyWorkerManager is Taskcluster worker-manager's: its simple estimator
	//
	//	desired = max(minCapacity, min(max(0, pending - idle) * scalingRatio + existing + stopping, maxCapacity))
	//	toSpawn = max(0, desired - existing - stopping - requested)
	//
	// (scalingRatio 1) and v25's AWS provider's even split of toSpawn over the
	// launch configs, whatever their prices. The simulator's baseline.
	PolicyWorkerManager Policy = "worker-manager"
)

// ClaimedDemand is a demand source that also reports how many tasks are claimed
// (running): the provisioner then knows how much running capacity is idle.
type ClaimedDemand interface {
	Claimed(ctx context.Context, q demand.Query) (int64, error)
}

// capacityState is what a policy sees of a pool.
type capacityState struct {
	pending     float64 // tasks waiting
	idle        float64 // running capacity without a task (0 when unknown)
	running     float64 // registered workers' capacity
	requested   float64 // launched, not registered yet
	stopping    float64 // shutting down, still counted against maxCapacity
	interrupted float64 // spot interruption announced
}

// estimate is the capacity to add under the policy (0 or more) before headroom.
func (p Policy) estimate(s pool.Sizing, c capacityState) float64 {
	if p == PolicyWorkerManager {
		existing := c.running + c.interrupted
		desired := math.Max(s.MinCapacity, math.Min(s.Wanted(math.Max(0, c.pending-c.idle))+existing+c.stopping, s.MaxCapacity))
		return math.Max(0, desired-existing-c.stopping-c.requested)
	}
	return s.CapacityChange(c.running, c.requested, math.Max(0, c.pending-c.idle))
}

// allocate spreads want over the candidates under the policy.
func (p Policy) allocate(cands []candidate, want, headroom float64, maxInstances int, cfg Config, salt string) []allocation {
	if p == PolicyWorkerManager {
		return evenSplit(cands, want, headroom, maxInstances, salt)
	}
	return allocate(cands, want, headroom, maxInstances, cfg)
}

// evenSplit is worker-manager v25's: the launch configs in an order that changes
// from one iteration to the next (v25 shuffles them; here salt, the iteration's
// id, rotates them, so a run is reproducible), each taking ceil(want / configs)
// capacity in turn until want is met, within headroom and maxInstances.
func evenSplit(cands []candidate, want, headroom float64, maxInstances int, salt string) []allocation {
	if want <= 0 || headroom <= 0 || len(cands) == 0 || maxInstances <= 0 {
		return nil
	}
	order := append([]candidate(nil), cands...)
	sort.Slice(order, func(i, j int) bool { return order[i].key() < order[j].key() })
	h := fnv.New32a()
	h.Write([]byte(salt))
	rot := int(h.Sum32() % uint32(len(order)))
	order = append(order[rot:], order[:rot]...)
	per := math.Ceil(want / float64(len(order)))
	remaining, room, n := math.Min(want, headroom), headroom, 0
	var out []allocation
	for _, c := range order {
		if remaining <= 0 || n >= maxInstances {
			break
		}
		count := int(math.Ceil(math.Min(remaining, per) / c.opt.Capacity))
		count = min(count, maxInstances-n, int(room/c.opt.Capacity))
		if count <= 0 {
			continue
		}
		out = append(out, allocation{c: c, count: count})
		got := float64(count) * c.opt.Capacity
		remaining -= got
		room -= got
		n += count
	}
	return out
}

// IdleTimeoutKey is the workerConfig setting that tells a worker how long to stay
// idle before it shuts down: generic-worker's idleTimeoutSecs, which worker-runner
// passes on from the user data's workerConfig.
const IdleTimeoutKey = "idleTimeoutSecs"

// DefaultWorkerIdleTimeout is the idle timeout a deployment gives pools' workers
// whose workerConfig sets none (WORKER_IDLE_TIMEOUT). A worker kept idle costs its
// price for nothing unless a task comes before it would have been relaunched:
// with startup taking tens of seconds and launches reacting within the cadence,
// 5 minutes keeps most of the reuse at a fraction of the idle cost of the usual 15.
const DefaultWorkerIdleTimeout = 5 * time.Minute

// withIdleTimeout returns o with d as its workerConfig's idle timeout, unless d is
// 0 or the pool's workerConfig sets one of its own (which always wins).
func withIdleTimeout(o pool.Option, d time.Duration) pool.Option {
	if d <= 0 {
		return o
	}
	wc := map[string]any{}
	if len(o.WorkerConfig) > 0 {
		if err := json.Unmarshal(o.WorkerConfig, &wc); err != nil || wc == nil {
			return o // not an object: PoolUserData reports it
		}
	}
	if _, set := wc[IdleTimeoutKey]; set {
		return o
	}
	wc[IdleTimeoutKey] = int(d / time.Second)
	b, err := json.Marshal(wc)
	if err != nil {
		return o
	}
	o.WorkerConfig = b
	return o
}
