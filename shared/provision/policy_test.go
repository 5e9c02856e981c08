package provision

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/pool"
)

func TestWorkerfleetEstimate(t *testing.T) {
	sizing := pool.Sizing{MinCapacity: 2, MaxCapacity: 10}
	for _, tc := range []struct {
		name  string
		state CapacityState
		want  float64
	}{
		{"idle capacity takes pending tasks", CapacityState{Pending: 5, Idle: 2, Running: 4}, 3},
		{"within max", CapacityState{Pending: 50, Running: 4, Requested: 1}, 5},
		{"up to min", CapacityState{}, 2},
		{"surplus is negative", CapacityState{Running: 3, Requested: 2}, -2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			if got := c.estimate(sizing, tc.state); got != tc.want {
				t.Errorf("estimate = %v, want %v", got, tc.want)
			}
		})
	}
}

// halves is a policy for TestPolicyReplaces: half the pending tasks, all to the
// last choice.
type halves struct{ seen []Choice }

func (halves) Estimate(_ pool.Sizing, c CapacityState) float64 { return c.Pending / 2 }
func (h *halves) Allocate(choices []Choice, want, _ float64, _ int, _ string) []int {
	h.seen = choices
	counts := make([]int, len(choices))
	counts[len(choices)-1] = int(want)
	return counts
}

// TestPolicyReplaces: a Config's Policy replaces workerfleet's estimate and
// allocation, and sees each candidate's key, capacity and prices.
func TestPolicyReplaces(t *testing.T) {
	h := &halves{}
	c := Config{Policy: h}
	if got := c.estimate(pool.Sizing{MaxCapacity: 10}, CapacityState{Pending: 8}); got != 4 {
		t.Errorf("estimate = %v, want the policy's 4", got)
	}
	cands := []candidate{
		{opt: pool.Option{ID: "cheap", Capacity: 1}, az: "a", price: 1, unit: 1},
		{opt: pool.Option{ID: "dear", Capacity: 2}, az: "b", price: 4, unit: 2},
	}
	allocs := c.allocate(cands, 3, 10, 10, "it-1")
	if len(allocs) != 1 || allocs[0].c.opt.ID != "dear" || allocs[0].count != 3 {
		t.Errorf("allocations %+v, want 3 of dear", allocs)
	}
	want := []Choice{{Key: "cheap@a", Capacity: 1, Price: 1, Unit: 1}, {Key: "dear@b", Capacity: 2, Price: 4, Unit: 2}}
	if diff := cmp.Diff(want, h.seen); diff != "" {
		t.Errorf("choices the policy saw (-want +got):\n%s", diff)
	}
}

func TestWithIdleTimeout(t *testing.T) {
	opt := func(wc string) pool.Option { return pool.Option{WorkerConfig: json.RawMessage(wc)} }
	for _, tc := range []struct {
		name, workerConfig string
		d                  time.Duration
		want               string
	}{
		{"added", `{"capacity": 2}`, 5 * time.Minute, `{"capacity":2,"idleTimeoutSecs":300}`},
		{"empty config", ``, time.Minute, `{"idleTimeoutSecs":60}`},
		{"the pool's own wins", `{"idleTimeoutSecs": 900}`, 5 * time.Minute, `{"idleTimeoutSecs": 900}`},
		{"off", `{"capacity": 2}`, 0, `{"capacity": 2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(withIdleTimeout(opt(tc.workerConfig), tc.d).WorkerConfig); got != tc.want {
				t.Errorf("workerConfig %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCadence(t *testing.T) {
	c := Cadence{Interval: 15 * time.Second, Window: 50 * time.Second}
	busy := &Report{Pools: []PoolReport{{PendingTasks: 3}}}
	workers := &Report{Pools: []PoolReport{{Running: 2}}}
	idle := &Report{Pools: []PoolReport{{}}}
	for _, tc := range []struct {
		name    string
		c       Cadence
		rep     *Report
		elapsed time.Duration
		again   bool
	}{
		{"pending tasks", c, busy, 0, true},
		{"workers running", c, workers, 30 * time.Second, true},
		{"launched", c, &Report{Launched: 1}, 0, true},
		{"nothing moves", c, idle, 0, false},
		{"window over", c, busy, 36 * time.Second, false},
		{"skipped (another holds the lease)", c, &Report{Skipped: true}, 0, false},
		{"no cadence", Cadence{}, busy, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait, again := tc.c.Next(tc.rep, tc.elapsed)
			if again != tc.again || (again && wait != c.Interval) {
				t.Errorf("Next = %v, %v; want again %v", wait, again, tc.again)
			}
		})
	}
	if d := DefaultCadence(time.Minute); d.Interval != DefaultCadenceInterval || d.Window != 50*time.Second {
		t.Errorf("DefaultCadence(1m) = %+v", d)
	}
	if d := DefaultCadence(10 * time.Second); d != (Cadence{}) {
		t.Errorf("DefaultCadence(10s) = %+v, want none (the local stack)", d)
	}
}
