package sim

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/provision"
)

func TestWorkerManagerEstimate(t *testing.T) {
	sizing := pool.Sizing{MinCapacity: 2, MaxCapacity: 10}
	v25, today := wmPolicy{EstimatorV25}, wmPolicy{EstimatorToday}
	for _, tc := range []struct {
		name   string
		policy wmPolicy
		state  provision.CapacityState
		want   float64
	}{
		{"v25: every pending task, less what is requested", v25, provision.CapacityState{Pending: 5, Running: 3, Requested: 2}, 3},
		{"v25: idle capacity is not subtracted (it knows no claimed tasks)", v25, provision.CapacityState{Pending: 5, Idle: 2, Running: 3}, 5},
		{"v25: stopping capacity does not count", v25, provision.CapacityState{Pending: 5, Running: 3, Stopping: 4}, 5},
		{"v25: never above max", v25, provision.CapacityState{Pending: 50, Running: 8, Requested: 1}, 0},
		{"v25: up to min", v25, provision.CapacityState{}, 2},
		{"today: pending beyond idle", today, provision.CapacityState{Pending: 5, Idle: 1, Running: 3}, 4},
		{"today: requested counts as idle, then is subtracted again", today, provision.CapacityState{Pending: 5, Running: 3, Requested: 2}, 1},
		{"today: a growing burst waits for what is requested", today, provision.CapacityState{Pending: 6, Running: 0, Requested: 4}, 0},
		{"today: stopping counts toward max", today, provision.CapacityState{Pending: 20, Running: 4, Stopping: 3}, 3},
		{"today: no demand, fleet kept", today, provision.CapacityState{Running: 4}, 0},
		{"today: up to min", today, provision.CapacityState{}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.policy.Estimate(sizing, tc.state); got != tc.want {
				t.Errorf("Estimate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvenSplit(t *testing.T) {
	six := []provision.Choice{{Key: "a", Capacity: 1, Unit: 1}, {Key: "b", Capacity: 1, Unit: 9}, {Key: "c", Capacity: 1, Unit: 2},
		{Key: "d", Capacity: 1, Unit: 3}, {Key: "e", Capacity: 1, Unit: 4}, {Key: "f", Capacity: 1, Unit: 5}}
	total := func(counts []int) int {
		n := 0
		for _, c := range counts {
			n += c
		}
		return n
	}
	var p wmPolicy
	if diff := cmp.Diff([]int{2, 2, 2, 2, 2, 2}, p.Allocate(six, 12, 100, 100, "it-1")); diff != "" {
		t.Errorf("12 over 6 configs, whatever their prices (-want +got):\n%s", diff)
	}
	got := p.Allocate(six, 3, 100, 100, "it-1")
	configs := 0
	for _, c := range got {
		if c > 0 {
			configs++
		}
	}
	if total(got) != 3 || configs != 3 {
		t.Errorf("3 over 6 configs: %v, want 3 configs of 1", got)
	}
	if got := p.Allocate(six, 12, 5, 100, "it-1"); total(got) != 5 {
		t.Errorf("headroom 5: %v", got)
	}
	if got := p.Allocate(six, 12, 100, 4, "it-1"); total(got) != 4 {
		t.Errorf("at most 4 instances: %v", got)
	}
	seen := map[int]bool{}
	for _, salt := range []string{"it-1", "it-2", "it-3", "it-4", "it-5", "it-6", "it-7", "it-8"} {
		for i, c := range p.Allocate(six, 1, 100, 100, salt) {
			if c > 0 {
				seen[i] = true
			}
		}
	}
	if len(seen) < 2 {
		t.Errorf("one instance always goes to %v: the order does not change between iterations", seen)
	}
	two := []provision.Choice{{Key: "a", Capacity: 2}, {Key: "b", Capacity: 2}}
	if got := p.Allocate(two, 8, 100, 100, "it-1"); total(got) != 4 {
		t.Errorf("8 capacity over 2 configs of capacity 2: %v instances, want 4", got)
	}
}
