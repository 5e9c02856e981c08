package provision

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/store"
)

// decisions returns the pool's running workers' shouldWorkerTerminate answers, by
// worker id.
func (e *env) decisions(poolKey string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, w := range e.workers(poolKey) {
		if w.State != store.Running {
			continue
		}
		answer := "keep"
		if w.ShouldTerminate {
			answer = "go"
		}
		out[w.WorkerID] = answer + ": " + w.TerminateReason
	}
	return out
}

func count(decisions map[string]string, answer string) int {
	n := 0
	for _, d := range decisions {
		if d == answer {
			n++
		}
	}
	return n
}

// TestSurplusWorkersAreToldToGoAfterTheirIdleTimeout: while tasks wait every
// running worker is needed; once none wait, the workers beyond minCapacity are
// surplus, kept for their idle timeout (the reuse window), then told to go
// (shouldWorkerTerminate), newest kept; demand coming back makes them needed again.
func TestSurplusWorkersAreToldToGoAfterTheirIdleTimeout(t *testing.T) {
	e := newEnv(t)
	e.p.Config.WorkerIdleTimeout = 5 * time.Minute
	e.awsPool("proj/sized", 1, 10)
	e.demand.set("proj/sized", 4)
	e.iterate()
	e.advance(time.Minute)
	e.register("proj/sized", 4)
	e.iterate()
	if d := e.decisions("proj/sized"); count(d, "keep: needed") != 4 {
		t.Fatalf("tasks waiting: %v, want every worker needed", d)
	}

	e.demand.set("proj/sized", 0)
	e.advance(time.Minute)
	e.iterate()
	d := e.decisions("proj/sized")
	if count(d, "keep: needed") != 1 || count(d, "keep: "+TerminateReasonGrace) != 3 {
		t.Fatalf("no task waiting, within the idle timeout: %v", d)
	}
	e.advance(5 * time.Minute)
	e.iterate()
	d = e.decisions("proj/sized")
	if count(d, "keep: needed") != 1 || count(d, "go: "+TerminateReasonSurplus) != 3 {
		t.Fatalf("surplus past the idle timeout: %v", d)
	}
	// The one kept is the newest (ties: any); minCapacity keeps it.
	e.demand.set("proj/sized", 2)
	e.advance(15 * time.Second)
	e.iterate()
	if d := e.decisions("proj/sized"); count(d, "keep: needed") != 4 {
		t.Errorf("demand back: %v, want every worker needed again", d)
	}

	// Nothing is written when no answer changes.
	before := e.workers("proj/sized")
	e.advance(15 * time.Second)
	e.iterate()
	for i, w := range e.workers("proj/sized") {
		if w.Version != before[i].Version {
			t.Errorf("worker %s rewritten with no change in its answer", w.WorkerID)
		}
	}
}

// TestUnknownDemandTellsNoWorkerToGo: when the demand source fails, no worker is
// told it is surplus.
func TestUnknownDemandTellsNoWorkerToGo(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/blind", 0, 10)
	e.demand.set("proj/blind", 2)
	e.iterate()
	e.advance(time.Minute)
	e.register("proj/blind", 2)
	e.demand.fail["proj/blind"] = errors.New("queue down")
	e.advance(30 * time.Minute)
	e.iterate()
	for _, w := range e.workers("proj/blind") {
		if w.ShouldTerminate {
			t.Errorf("worker %s told to go while demand is unknown", w.WorkerID)
		}
	}
}

// TestLaunchKeepsItsWorkerConfig: a pool's launch keeps the workerConfig it wrote
// into the user data, for registerWorker, and the workers name it.
func TestLaunchKeepsItsWorkerConfig(t *testing.T) {
	e := newEnv(t)
	e.p.Config.WorkerIdleTimeout = 5 * time.Minute
	e.awsPool("proj/cfg", 0, 10)
	e.demand.set("proj/cfg", 2)
	e.iterate()
	insts := e.live("proj/cfg")
	if len(insts) != 2 {
		t.Fatalf("launched %d", len(insts))
	}
	var ud struct{ WorkerConfig json.RawMessage }
	raw, err := e.cloud.UserData(insts[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &ud); err != nil {
		t.Fatal(err)
	}
	for _, w := range e.workers("proj/cfg") {
		got, err := e.store.WorkerConfig(ctx, "proj/cfg", w.WorkerConfigHash)
		if err != nil {
			t.Fatalf("worker %s: its workerConfig %q: %v", w.WorkerID, w.WorkerConfigHash, err)
		}
		if string(got) != string(ud.WorkerConfig) || string(got) != `{"idleTimeoutSecs":300}` {
			t.Errorf("kept workerConfig %s, user data's %s", got, ud.WorkerConfig)
		}
	}
}

// TestScalingRatioAsTodaysWorkerManager: a pool's scalingRatio is the share of the
// pending tasks provisioned for, as today's worker-manager reads it; absent, every
// pending task gets capacity.
func TestScalingRatioAsTodaysWorkerManager(t *testing.T) {
	for _, tt := range []struct {
		ratio string
		want  int
	}{{"", 8}, {`"scalingRatio": 1,`, 8}, {`"scalingRatio": 0.5,`, 4}, {`"scalingRatio": 0,`, 0}} {
		e := newEnv(t)
		e.createPool("proj/ratio", "aws", `{"minCapacity": 0, "maxCapacity": 20, `+tt.ratio+` "launchConfigs": [
		  {"region": "us-east-1", "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}}]}`)
		e.demand.set("proj/ratio", 8)
		e.iterate()
		if n := len(e.live("proj/ratio")); n != tt.want {
			t.Errorf("%q with 8 pending tasks: %d launched, want %d", tt.ratio, n, tt.want)
		}
	}
}

// TestWorkersNameTheirLaunchConfigAndGroup: a pool's workers carry their launch
// config's id; their workerGroup is the providerId (v25) or, with
// CurrentWorkerManager, the region (today's worker-manager), in the record, the
// user data and the instance's tag alike.
func TestWorkersNameTheirLaunchConfigAndGroup(t *testing.T) {
	for _, byRegion := range []bool{false, true} {
		e := newEnv(t)
		e.p.Config.CurrentWorkerManager = byRegion
		e.createPool("proj/groups", "aws", `{"minCapacity": 0, "maxCapacity": 4, "launchConfigs": [
		  {"region": "us-west-2", "workerManager": {"launchConfigId": "west"}, "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}}]}`)
		e.demand.set("proj/groups", 1)
		e.iterate()
		want := "aws"
		if byRegion {
			want = "us-west-2"
		}
		ws := e.workers("proj/groups")
		if len(ws) != 1 || ws[0].WorkerGroup != want || ws[0].LaunchConfigID != "west" {
			t.Fatalf("byRegion %v: workers %+v", byRegion, ws)
		}
		raw, err := e.cloud.UserData(ws[0].InstanceID)
		if err != nil {
			t.Fatal(err)
		}
		var ud struct{ WorkerGroup string }
		if err := json.Unmarshal(raw, &ud); err != nil || ud.WorkerGroup != want {
			t.Errorf("byRegion %v: user data's workerGroup %q, want %q", byRegion, ud.WorkerGroup, want)
		}
		// Reconciliation finds the record from the instance alone.
		e.advance(time.Minute)
		e.iterate()
		e.checkNoLeak()
	}
}

// TestProvisionerAnnouncesWorkers: launches announce workerRequested, workers the
// provisioner stops (here: never registered) workerRemoved, and the errors it
// records workerPoolError, with today's messages.
func TestProvisionerAnnouncesWorkers(t *testing.T) {
	e := newEnv(t)
	rec := &announce.Recorder{}
	e.p.Events = rec
	e.createPool("proj/events", "aws", `{"minCapacity": 0, "maxCapacity": 4, "launchConfigs": [
	  {"region": "us-east-1", "workerManager": {"launchConfigId": "east"}, "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}}]}`)
	e.demand.set("proj/events", 2)
	e.iterate()
	e.demand.set("proj/events", 0)
	e.clock.Advance(31 * time.Minute) // past the default registration timeout
	e.iterate()
	var got []string
	for _, ev := range rec.Events() {
		var m announce.WorkerMessage
		if err := json.Unmarshal(ev.Message, &m); err != nil || m.WorkerPoolID != "proj/events" || m.LaunchConfigID != "east" || m.Timestamp == "" {
			t.Errorf("%s: %s", ev.Name, ev.Message)
		}
		got = append(got, ev.Name+" "+m.Reason)
	}
	want := "workerRequested ,workerRequested ,workerRemoved " + ReasonRegistrationTimeout + ",workerRemoved " + ReasonRegistrationTimeout
	if strings.Join(got, ",") != want {
		t.Errorf("events %v, want %s", got, want)
	}
}

// countsStub answers a pool's pending and claimed tasks with one question.
type countsStub struct {
	*demandStub
	claimed int64
	asked   int
}

func (c *countsStub) Counts(ctx context.Context, q demand.Query) (demand.Counts, error) {
	c.asked++
	n, err := c.Pending(ctx, q)
	return demand.Counts{Pending: n, Claimed: c.claimed, ClaimedKnown: true}, err
}

// TestIdleCapacityTakesPendingTasks: where the queue says how many tasks are
// claimed (today's taskQueueCounts), running capacity without a task is counted
// against the pending tasks, as today's estimator does (pending - (existing -
// claimed)), with one question a pool.
func TestIdleCapacityTakesPendingTasks(t *testing.T) {
	for _, tt := range []struct {
		claimed int64
		want    int
	}{{claimed: 0, want: 3}, {claimed: 3, want: 5}} {
		e := newEnv(t)
		stub := &countsStub{demandStub: e.demand}
		e.p.Demand = stub
		e.awsPool("proj/idle-cap", 0, 20)
		e.demand.set("proj/idle-cap", 3)
		e.iterate()
		e.advance(time.Minute)
		e.register("proj/idle-cap", 3)
		stub.claimed = tt.claimed
		e.demand.set("proj/idle-cap", 2)
		asked := stub.asked
		e.iterate()
		if n := len(e.live("proj/idle-cap")); n != tt.want {
			t.Errorf("3 running, %d claimed, 2 pending: %d instances, want %d", tt.claimed, n, tt.want)
		}
		if stub.asked-asked != 1 {
			t.Errorf("the demand source was asked %d times for one pool's iteration", stub.asked-asked)
		}
	}
}
