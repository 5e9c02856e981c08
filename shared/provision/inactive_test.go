package provision

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/store"
)

// activityStub is a demand source that also answers what the queue knows of each
// worker, and counts the questions.
type activityStub struct {
	*demandStub
	mu    sync.Mutex
	acts  map[string]demand.Activity // by worker id
	asked int
}

func (a *activityStub) Activity(_ context.Context, _ demand.Query, _, workerID string) (demand.Activity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked++
	return a.acts[workerID], nil
}

// TestQueueInactivityTimeout: a running worker the queue says never claimed a task,
// or was last active longer ago than the pool's queueInactivityTimeout, is stopped;
// an active one, and one the queue cannot tell about, are left alone; each worker
// is asked about at most every quarter of the timeout.
func TestQueueInactivityTimeout(t *testing.T) {
	e := newEnv(t)
	stub := &activityStub{demandStub: e.demand, acts: map[string]demand.Activity{}}
	e.p.Demand = stub
	e.createPool("proj/idle", "aws", `{"minCapacity": 0, "maxCapacity": 8, "lifecycle": {"queueInactivityTimeout": 1200, "reregistrationTimeout": 86400},
	  "launchConfigs": [{"region": "us-east-1", "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}}]}`)
	e.demand.set("proj/idle", 4)
	e.iterate()
	e.advance(time.Minute)
	e.register("proj/idle", 4)
	ws := e.workers("proj/idle")
	if len(ws) != 4 {
		t.Fatalf("%d workers", len(ws))
	}
	now := e.clock.Now()
	never, stale, active, unknown := ws[0].WorkerID, ws[1].WorkerID, ws[2].WorkerID, ws[3].WorkerID
	stub.acts[never] = demand.Activity{Known: true}
	stub.acts[stale] = demand.Activity{Known: true, FirstClaim: now, LastActive: now}
	stub.acts[active] = demand.Activity{Known: true, FirstClaim: now, LastActive: now.Add(25 * time.Minute)}

	// Within the timeout nobody is asked.
	e.advance(10 * time.Minute)
	e.iterate()
	if stub.asked != 0 {
		t.Errorf("asked %d times before any worker ran for the timeout", stub.asked)
	}
	e.clock.Advance(20 * time.Minute)
	e.iterate()
	state := map[string]store.Worker{}
	for _, w := range e.workers("proj/idle") {
		state[w.WorkerID] = w
	}
	for id, want := range map[string]bool{never: true, stale: true, active: false, unknown: false} {
		w := state[id]
		stopped := !w.State.Alive() || w.State == store.Stopping
		if stopped != want || (want && !strings.HasPrefix(w.StopReason, ReasonQueueInactivity)) {
			t.Errorf("worker %s: %s (%s), want stopped=%v", id, w.State, w.StopReason, want)
		}
	}
	asked := stub.asked
	e.clock.Advance(time.Minute)
	e.iterate()
	if stub.asked != asked {
		t.Errorf("the queue was asked again within a quarter of the timeout (%d, then %d)", asked, stub.asked)
	}
}
