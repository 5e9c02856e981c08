package provision

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/pool"
)

// Policy is a scaling policy: how much capacity a pool gets and how it is spread
// over the pool's options. The provisioner has one, workerfleet's (Config.Policy
// nil): capacity for the pending tasks that idle capacity cannot take (when the
// demand source reports claimed tasks), less what is already requested, within
// min/maxCapacity (pool.Sizing's CapacityChange), spread over the cheapest options
// per unit of work (allocate). Another implementation is for measuring against it:
// the simulator holds Taskcluster worker-manager's policies (shared/dev/sim) this way.
type Policy interface {
	// Estimate is the capacity to add to a pool of sizing s in state c (0 or more;
	// the provisioner caps it at what maxCapacity leaves).
	Estimate(s pool.Sizing, c CapacityState) float64
	// Allocate spreads want capacity over choices (cheapest unit of work first):
	// how many instances of each, by index, adding no more than headroom capacity
	// and at most maxInstances instances. salt is the iteration's id, for a policy
	// that varies its order between iterations reproducibly.
	Allocate(choices []Choice, want, headroom float64, maxInstances int, salt string) []int
}

// CapacityState is what a policy sees of a pool, in capacity units.
type CapacityState struct {
	Pending     float64 // tasks waiting
	Idle        float64 // running capacity without a task (0 when unknown)
	Running     float64 // registered workers' capacity
	Requested   float64 // launched, not registered yet
	Stopping    float64 // shutting down, still counted against maxCapacity
	Interrupted float64 // spot interruption announced
}

// Choice is one option a policy may launch, in one zone, at its price.
type Choice struct {
	// Key names the option and zone ("<option id>@<zone>").
	Key string
	// Capacity is one instance's capacity; Price its hourly price (0 if unknown);
	// Unit the price of one unit of work.
	Capacity, Price, Unit float64
}

// ClaimedDemand is a demand source that also reports how many tasks are claimed
// (running): the provisioner then knows how much running capacity is idle.
type ClaimedDemand interface {
	Claimed(ctx context.Context, q demand.Query) (int64, error)
}

// estimate is the capacity to add under the configured policy (0 or more) before
// headroom; workerfleet's may be negative (surplus).
func (c *Config) estimate(s pool.Sizing, st CapacityState) float64 {
	if c.Policy != nil {
		return c.Policy.Estimate(s, st)
	}
	return s.CapacityChange(st.Running, st.Requested, math.Max(0, st.Pending-st.Idle))
}

// allocate spreads want over the candidates under the configured policy.
func (c *Config) allocate(cands []candidate, want, headroom float64, maxInstances int, salt string) []allocation {
	if c.Policy == nil {
		return allocate(cands, want, headroom, maxInstances, *c)
	}
	choices := make([]Choice, len(cands))
	for i, cd := range cands {
		choices[i] = Choice{Key: cd.key(), Capacity: cd.opt.Capacity, Price: cd.price, Unit: cd.unit}
	}
	counts := c.Policy.Allocate(choices, want, headroom, maxInstances, salt)
	var out []allocation
	for i, n := range counts {
		if i < len(cands) && n > 0 {
			out = append(out, allocation{c: cands[i], count: n})
		}
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
