package provision

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/pool"
)

func TestPolicyEstimate(t *testing.T) {
	sizing := pool.Sizing{MinCapacity: 2, MaxCapacity: 10}
	for _, tc := range []struct {
		name   string
		policy Policy
		state  capacityState
		want   float64
	}{
		{"worker-manager: pending beyond idle", PolicyWorkerManager, capacityState{pending: 5, idle: 1, running: 3}, 4},
		{"worker-manager: less what is requested", PolicyWorkerManager, capacityState{pending: 5, running: 3, requested: 2}, 3},
		{"worker-manager: stopping counts toward max", PolicyWorkerManager, capacityState{pending: 20, running: 4, stopping: 3}, 3},
		{"worker-manager: never above max", PolicyWorkerManager, capacityState{pending: 50, running: 9, requested: 1}, 0},
		{"worker-manager: up to min", PolicyWorkerManager, capacityState{}, 2},
		{"worker-manager: no demand, fleet kept", PolicyWorkerManager, capacityState{running: 4}, 0},
		{"workerfleet: idle capacity takes pending tasks", PolicyWorkerfleet, capacityState{pending: 5, idle: 2, running: 4}, 3},
		{"workerfleet: within max", PolicyWorkerfleet, capacityState{pending: 50, running: 4, requested: 1}, 5},
		{"workerfleet: up to min", PolicyWorkerfleet, capacityState{}, 2},
		{"workerfleet: surplus is negative", PolicyWorkerfleet, capacityState{running: 3, requested: 2}, -2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.policy.estimate(sizing, tc.state); got != tc.want {
				t.Errorf("estimate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvenSplit(t *testing.T) {
	c := func(id string, capacity, unit float64) candidate {
		return candidate{opt: pool.Option{ID: id, Capacity: capacity, Utility: 1}, unit: unit}
	}
	six := []candidate{c("a", 1, 1), c("b", 1, 9), c("c", 1, 2), c("d", 1, 3), c("e", 1, 4), c("f", 1, 5)}
	counts := func(allocs []allocation) map[string]int {
		out := map[string]int{}
		n := 0
		for _, a := range allocs {
			out[a.c.opt.ID] += a.count
			n += a.count
		}
		out["total"] = n
		return out
	}
	got := counts(evenSplit(six, 12, 100, 100, "it-1"))
	want := map[string]int{"a": 2, "b": 2, "c": 2, "d": 2, "e": 2, "f": 2, "total": 12}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("12 over 6 configs, whatever their prices (-want +got):\n%s", diff)
	}
	if got := counts(evenSplit(six, 3, 100, 100, "it-1")); got["total"] != 3 || len(got) != 4 {
		t.Errorf("3 over 6 configs: %v, want 3 configs of 1", got)
	}
	if got := counts(evenSplit(six, 12, 5, 100, "it-1")); got["total"] != 5 {
		t.Errorf("headroom 5: %v", got)
	}
	if got := counts(evenSplit(six, 12, 100, 4, "it-1")); got["total"] != 4 {
		t.Errorf("at most 4 instances: %v", got)
	}
	first := func(salt string) string { return evenSplit(six, 1, 100, 100, salt)[0].c.opt.ID }
	seen := map[string]bool{}
	for _, salt := range []string{"it-1", "it-2", "it-3", "it-4", "it-5", "it-6", "it-7", "it-8"} {
		seen[first(salt)] = true
	}
	if len(seen) < 2 {
		t.Errorf("one instance always goes to %v: the order does not change between iterations", seen)
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
