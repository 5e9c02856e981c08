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
	e.p.Config.IdleTimeouts = &IdleTimeouts{Fallback: 5 * time.Minute, MinSpan: 5 * time.Minute, StopCost: time.Minute}
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
	// Workers take 60 s to register; 3 tasks come for a minute, then none for
	// 90 s, again and again: a relaunch (60 s boot, 60 s stop) costs more than
	// waiting the gap out, so the pool's workers are told to wait it.
	e.advance(60 * time.Second)
	e.register("proj/idle", 10)
	for range 6 {
		for _, d := range []int64{3, 3, 0, 0, 0} {
			e.demand.set("proj/idle", d)
			e.iterate()
			e.register("proj/idle", 10)
			e.advance(30 * time.Second)
		}
	}
	e.demand.set("proj/idle", 4)
	e.iterate()
	if got := idleOf(newest()); got < 90 || got > 180 {
		t.Errorf("after gaps of 90 s: idleTimeoutSecs %v, want 90 to 180", got)
	}
}
