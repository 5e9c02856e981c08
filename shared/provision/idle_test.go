package provision

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// TestIdleTimeoutsPerPool: with Config.IdleTimeouts, a pool's workers are told
// the pool's fallback until the provisioner has seen enough of its demand, then
// the timeout chosen from the pool's own gaps between task arrivals and its
// workers' boot time; a pool that sets idleTimeoutSecs keeps its own.
func TestIdleTimeoutsPerPool(t *testing.T) {
	e := newEnv(t)
	e.p.Config.WorkerIdleTimeout = 5 * time.Minute
	e.p.Config.IdleTimeouts = &IdleTimeouts{Fallback: 5 * time.Minute, MinGaps: 3, StopCost: time.Minute}
	e.awsPool("proj/idle", 0, 50)
	idleOf := func(inst cloud.Instance) float64 {
		t.Helper()
		raw, err := e.cloud.UserData(inst.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ud struct {
			WorkerConfig map[string]any `json:"workerConfig"`
		}
		if err := json.Unmarshal(raw, &ud); err != nil {
			t.Fatal(err)
		}
		secs, _ := ud.WorkerConfig[IdleTimeoutKey].(float64)
		return secs
	}
	newest := func() cloud.Instance {
		var last cloud.Instance
		for _, inst := range e.live("proj/idle") {
			if last.ID == "" || inst.LaunchTime.After(last.LaunchTime) || (inst.LaunchTime.Equal(last.LaunchTime) && inst.ID > last.ID) {
				last = inst
			}
		}
		return last
	}
	e.demand.set("proj/idle", 1)
	e.iterate()
	if got := idleOf(newest()); got != 300 {
		t.Errorf("first launch: idleTimeoutSecs %v, want the fallback 300", got)
	}
	// Workers take 30 s to register; a task arrives every 90 s: a relaunch
	// (30 s boot, 60 s stop) costs more than waiting for the next task.
	e.advance(30 * time.Second)
	e.register("proj/idle", 1)
	for i := 2; i <= 6; i++ {
		e.advance(90 * time.Second)
		e.demand.set("proj/idle", int64(i))
		e.iterate()
		e.register("proj/idle", 10)
	}
	if got := idleOf(newest()); got != 90 {
		t.Errorf("after arrivals every 90 s: idleTimeoutSecs %v, want 90", got)
	}
}
