package sim

import (
	"hash/fnv"
	"math"
	"sort"

	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/provision"
)

// Estimator names a worker-manager estimator the baselines run.
type Estimator string

const (
	// EstimatorV25 is worker-manager v25's simple estimator (its estimator.js),
	// which knows pending tasks and the pool's workers, not claimed tasks:
	//
	//	existing = running + requested (every worker not stopping)
	//	desired  = max(minCapacity, min(pending + existing, maxCapacity))
	//	toSpawn  = max(0, max(0, desired - existing) - requested)
	EstimatorV25 Estimator = "v25"
	// EstimatorToday is today's (v106): the same with the idle-capacity term and
	// stopping capacity, and scalingRatio (the pool's, 1 by default):
	//
	//	existing = running + requested
	//	idle     = max(0, existing - claimed)
	//	desired  = max(minCapacity, min(max(0, pending - idle) * scalingRatio + existing + stopping, maxCapacity))
	//	toSpawn  = max(0, max(0, desired - existing - stopping) - requested)
	//
	// Requested capacity counts as idle (it will take pending tasks once it runs)
	// and is subtracted again at the end, as its source does.
	EstimatorToday Estimator = "today"
)

// wmPolicy is Taskcluster worker-manager's policy, held against workerfleet's
// through provision.Policy: one of its estimators, and v25's even split of the
// capacity to spawn over the launch configs, whatever their prices.
type wmPolicy struct {
	estimator Estimator
}

// Estimate implements provision.Policy.
func (p wmPolicy) Estimate(s pool.Sizing, c provision.CapacityState) float64 {
	// worker-manager sees a worker whose spot interruption is announced as
	// running until it stops.
	existing := c.Running + c.Interrupted + c.Requested
	if p.estimator == EstimatorV25 {
		desired := math.Max(s.MinCapacity, math.Min(c.Pending+existing, s.MaxCapacity))
		return math.Max(0, math.Max(0, desired-existing)-c.Requested)
	}
	claimed := math.Max(0, c.Running-c.Idle)
	idle := math.Max(0, existing-claimed)
	desired := math.Max(s.MinCapacity, math.Min(s.Wanted(math.Max(0, c.Pending-idle))+existing+c.Stopping, s.MaxCapacity))
	return math.Max(0, math.Max(0, desired-existing-c.Stopping)-c.Requested)
}

// Allocate implements provision.Policy: v25's even split. The launch configs
// come in an order that changes from one iteration to the next (v25 shuffles
// them; here salt, the iteration's id, rotates them, so a run is reproducible),
// each taking ceil(want / configs) capacity in turn until want is met, within
// headroom and maxInstances.
func (wmPolicy) Allocate(choices []provision.Choice, want, headroom float64, maxInstances int, salt string) []int {
	counts := make([]int, len(choices))
	if want <= 0 || headroom <= 0 || len(choices) == 0 || maxInstances <= 0 {
		return counts
	}
	order := make([]int, len(choices))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return choices[order[a]].Key < choices[order[b]].Key })
	h := fnv.New32a()
	h.Write([]byte(salt))
	rot := int(h.Sum32() % uint32(len(order)))
	order = append(order[rot:], order[:rot]...)
	per := math.Ceil(want / float64(len(order)))
	remaining, room, n := math.Min(want, headroom), headroom, 0
	for _, i := range order {
		c := choices[i]
		if remaining <= 0 || n >= maxInstances {
			break
		}
		count := int(math.Ceil(math.Min(remaining, per) / c.Capacity))
		count = min(count, maxInstances-n, int(room/c.Capacity))
		if count <= 0 {
			continue
		}
		counts[i] = count
		got := float64(count) * c.Capacity
		remaining -= got
		room -= got
		n += count
	}
	return counts
}
