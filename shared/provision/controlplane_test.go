package provision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// countingEnv is env with the provisioner's DynamoDB requests counted.
func countingEnv(t *testing.T) (*env, *store.CountingDB) {
	e := newEnv(t)
	counting := store.NewCountingDB(storetest.DB(t))
	e.p.Store = store.New(counting, e.store.Tables(), storetest.Key(t), store.WithClock(e.clock.Now))
	return e, counting
}

// settle runs iterations until the pools are steady: minCapacity launched, EC2's
// states recorded.
func (e *env) settle() {
	e.t.Helper()
	e.iterate()
	e.advance(time.Minute)
	e.iterate()
	e.iterate()
}

// TestSteadyIterationCostsWhatChanged: once a process has read its pools, an
// iteration in which nothing changed writes nothing for any pool (only the lease
// and the check-in) and makes the same requests with 3 pools as with 12: no
// Query per pool, no status written.
func TestSteadyIterationCostsWhatChanged(t *testing.T) {
	requests := map[int]map[string]int{}
	for _, pools := range []int{3, 12} {
		e, counting := countingEnv(t)
		for i := range pools {
			e.awsPool(fmt.Sprintf("steady/p%02d", i), 2, 2)
		}
		e.settle()
		counting.Reset()
		rep := e.iterate()
		if rep.Launched != 0 || rep.Terminated != 0 || len(rep.Problems) != 0 {
			t.Fatalf("%d pools: not steady: %+v", pools, rep)
		}
		requests[pools] = counting.Counts()
	}
	if diff := cmp.Diff(requests[3], requests[12]); diff != "" {
		t.Errorf("requests of a steady iteration differ with the number of pools (-3 pools +12 pools):\n%s", diff)
	}
	got := requests[12]
	// Lease (PutItem, DeleteItem), check-in (PutItem: each Run is an invocation);
	// the definitions' generation (2 GetItems: unchanged, so no Scan), backoffs (1
	// Query), the changes index (a Query per shard), the one region's cached spot
	// prices (GetItem).
	want := map[string]int{"PutItem": 2, "DeleteItem": 1, "Query": 1 + store.ChangeShards, "GetItem": 3}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests of a steady iteration (-want +got):\n%s", diff)
	}
}

// TestChangesOfOtherWritersReachTheNextIteration: between two iterations of one
// process, a worker registers (the API's write) and another's record is stopped
// by ec2-events; the next iteration, which reads only what changed, counts the
// first as running and the second as gone, and replaces it.
func TestChangesOfOtherWritersReachTheNextIteration(t *testing.T) {
	e, counting := countingEnv(t)
	e.awsPool("feed/p", 3, 3)
	e.settle()
	ws := e.workers("feed/p")
	if len(ws) != 3 {
		t.Fatalf("setup: %d workers, want 3", len(ws))
	}
	e.register("feed/p", 1)
	// EC2 events of the second worker's end (its instance terminated outside).
	var gone store.Worker
	for _, w := range e.workers("feed/p") {
		if w.State == store.Requested {
			gone = w
			break
		}
	}
	if err := e.set.Terminate(ctx, gone.Region, []string{gone.InstanceID}); err != nil {
		t.Fatal(err)
	}
	e.advance(30 * time.Second)
	counting.Reset()
	rep := e.iterate()
	if n := counting.Counts()["Query"]; n > 1+store.ChangeShards {
		t.Errorf("%d Queries, want at most %d (no pool read whole)", n, 1+store.ChangeShards)
	}
	pr := rep.Pools[0]
	if pr.Running != 1 || pr.Requested != 1 || rep.Launched != 1 {
		t.Errorf("running %g, requested %g, launched %d; want 1, 1 (the stopped one not counted) and 1 replacement", pr.Running, pr.Requested, rep.Launched)
	}
	e.advance(time.Minute)
	e.iterate()
	e.checkNoLeak()
}

// TestFullLoadDropsWhatTheChangesMissed: a record that leaves without a write the
// changes index could show (deleted) is dropped at the next full load, FullLoad
// after the last; until then the iteration works from what it held.
func TestFullLoadDropsWhatTheChangesMissed(t *testing.T) {
	e := newEnv(t)
	e.p.Config.FullLoad = 5 * time.Minute
	e.awsPool("full/p", 0, 5)
	e.demand.set("full/p", 2)
	e.settle()
	e.demand.set("full/p", 0)
	ws := e.workers("full/p")
	if len(ws) != 2 {
		t.Fatalf("setup: %d workers, want 2", len(ws))
	}
	if err := e.store.DeleteWorker(ctx, ws[0].Pool, ws[0].Key, ws[0].Version); err != nil {
		t.Fatal(err)
	}
	rep := e.iterate()
	if got := rep.Pools[0].Requested + rep.Pools[0].Running; got != 2 {
		t.Errorf("before the full load: capacity %g, want 2 (the deletion is not a change the index shows)", got)
	}
	e.advance(5 * time.Minute)
	rep = e.iterate()
	if got := rep.Pools[0].Requested + rep.Pools[0].Running; got != 1 {
		t.Errorf("after the full load: capacity %g, want 1", got)
	}
}

// TestEachPoolsStatusIsItsOwnPartition: pool statuses are items of partitions of
// their own, and a pool that is gone loses its status.
func TestEachPoolsStatusIsItsOwnPartition(t *testing.T) {
	e := newEnv(t)
	e.awsPool("part/a", 0, 1)
	e.awsPool("part/b", 1, 1)
	e.iterate()
	out, err := e.store.DB().Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(e.store.Tables().Status)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, item := range out.Items {
		var k struct {
			PK string `dynamodbav:"pk"`
			SK string `dynamodbav:"sk"`
		}
		if err := attributevalue.UnmarshalMap(item, &k); err != nil {
			t.Fatal(err)
		}
		if k.SK == "status" {
			keys = append(keys, k.PK)
		}
	}
	sort.Strings(keys)
	if diff := cmp.Diff([]string{"pool/part/a", "pool/part/b"}, keys); diff != "" {
		t.Errorf("partition keys of the pools' statuses (-want +got):\n%s", diff)
	}

	// deleteWorkerPool: the pool's provider becomes null-provider; the provisioner
	// removes it (it has no workers), and its status with it.
	if _, err := e.store.UpdateWorkerPool(ctx, "part/a", func(p *store.WorkerPool) error {
		p.ProviderID = pool.NullProviderID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.iterate()
	if _, err := e.store.WorkerPool(ctx, "part/a"); !store.IsNotFound(err) {
		t.Fatalf("the deleted pool: %v, want removed", err)
	}
	e.iterate()
	if _, err := e.store.PoolStatus(ctx, "part/a"); !store.IsNotFound(err) {
		t.Errorf("status of the removed pool: %v, want not found", err)
	}
	if _, err := e.store.PoolStatus(ctx, "part/b"); err != nil {
		t.Errorf("status of the other pool: %v", err)
	}
}

// TestMetricsAreFleetWideUnlessPerPool: by default the metrics carry no Pool
// dimension (the fleet's totals); PoolMetrics adds each pool's.
func TestMetricsAreFleetWideUnlessPerPool(t *testing.T) {
	for _, perPool := range []bool{false, true} {
		t.Run(fmt.Sprintf("PoolMetrics=%v", perPool), func(t *testing.T) {
			e := newEnv(t)
			var buf bytes.Buffer
			e.p.Metrics, e.p.Config.PoolMetrics = &buf, perPool
			e.awsPool("met/a", 1, 2)
			e.awsPool("met/b", 2, 2)
			e.settle()
			buf.Reset()
			e.iterate()
			pools, fleet := map[string]bool{}, map[string]float64{}
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("EMF line %q: %v", line, err)
				}
				if p, ok := m["Pool"].(string); ok {
					pools[p] = true
					continue
				}
				for _, name := range []string{"RunningCapacity", "RequestedCapacity", "Pools"} {
					fleet[name], _ = m[name].(float64)
				}
			}
			if got := fleet["RunningCapacity"] + fleet["RequestedCapacity"]; got != 3 || fleet["Pools"] != 2 {
				t.Errorf("fleet metrics %v, want 3 capacity over 2 pools", fleet)
			}
			if !perPool && len(pools) != 0 {
				t.Errorf("per-pool metrics for %v, want none", pools)
			}
			if perPool && (!pools["met/a"] || !pools["met/b"]) {
				t.Errorf("per-pool metrics for %v, want met/a and met/b", pools)
			}
		})
	}
}

// TestDefinitionsAreScannedWhenTheyChange: a steady iteration does not scan the
// definitions; a pool created or updated through the store is seen by the next
// iteration all the same.
func TestDefinitionsAreScannedWhenTheyChange(t *testing.T) {
	e, counting := countingEnv(t)
	e.awsPool("defs/a", 1, 1)
	e.settle()
	counting.Reset()
	e.iterate()
	if n := counting.Counts()["Scan"]; n != 0 {
		t.Errorf("steady iteration: %d Scans, want 0", n)
	}
	e.awsPool("defs/b", 2, 2)
	counting.Reset()
	rep := e.iterate()
	if n := counting.Counts()["Scan"]; n != 2 {
		t.Errorf("after a pool was created: %d Scans, want 2", n)
	}
	if rep.Launched != 2 {
		t.Errorf("launched %d, want the new pool's 2", rep.Launched)
	}
	if _, err := e.store.UpdateWorkerPool(ctx, "defs/a", func(p *store.WorkerPool) error {
		p.Config = json.RawMessage(fmt.Sprintf(awsPoolConfig, 3, 3))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if rep := e.iterate(); rep.Launched != 2 {
		t.Errorf("after defs/a's minCapacity went to 3: launched %d, want 2", rep.Launched)
	}
}

// TestInvocationTakesTheLeaseOnce: the iterations of one invocation (the cadence)
// run under one lease, taken with the event's id; when nothing happens they write
// nothing else but the first one's check-in.
func TestInvocationTakesTheLeaseOnce(t *testing.T) {
	e, counting := countingEnv(t)
	e.awsPool("inv/p", 2, 2)
	e.settle()
	e.p.Config.Cadence = Cadence{Interval: 50 * time.Millisecond, Window: 1500 * time.Millisecond}
	var reps []*Report
	e.p.OnReport = func(r *Report) { reps = append(reps, r) }
	counting.Reset()
	if err := e.p.HandleEvent(ctx, events.CloudWatchEvent{ID: "ev-1"}); err != nil {
		t.Fatal(err)
	}
	if len(reps) < 2 || reps[0].ID != "ev-1" || reps[1].ID != "ev-1/1" {
		t.Fatalf("reports %d (first %+v); want several, ev-1, ev-1/1, ...", len(reps), reps)
	}
	got := counting.Counts()
	if got["PutItem"] != 2 || got["DeleteItem"] != 1 || got["BatchWriteItem"] != 0 || got["UpdateItem"] != 0 {
		t.Errorf("writes of an invocation of %d steady iterations: %v; want the lease's PutItem and DeleteItem and one check-in", len(reps), got)
	}
	if c, err := e.store.LastCheckIn(ctx); err != nil || c.Iteration != "ev-1" {
		t.Errorf("check-in %+v, %v; want the invocation's first iteration's", c, err)
	}
	// Another invocation meanwhile would have been skipped: the lease is free now.
	if rep := e.iterate(); rep.Skipped {
		t.Errorf("the lease was not released: %+v", rep)
	}
}
