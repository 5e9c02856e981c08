package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/pool"
)

// synthetic is a short trace: quiet stretches, bursts larger than the fleet, and
// tasks long enough to outlive an idle timeout's worth of others.
func synthetic(seed uint64) []Task {
	rng := rand.New(rand.NewPCG(seed, 1))
	var tasks []Task
	at := time.Duration(0)
	for at < 3*time.Hour {
		burst := 1
		if rng.IntN(20) == 0 {
			burst = 10 + rng.IntN(30)
		}
		for range burst {
			tasks = append(tasks, Task{Pending: at, Duration: time.Duration(30+rng.IntN(900)) * time.Second})
		}
		at += time.Duration(1+rng.IntN(120)) * time.Second
	}
	return tasks
}

// simulate runs the synthetic trace with a tight pool, so maxCapacity binds.
func simulate(t *testing.T, tasks []Task, tweak func(*Options)) ([]*run, *Result) {
	t.Helper()
	o := Options{Trace: "synthetic", Tasks: tasks, Warmup: 30 * time.Minute, End: 4 * time.Hour, Seed: 3,
		Pool:       json.RawMessage(strings.Replace(DefaultPool, `"maxCapacity": 1000`, `"maxCapacity": 40`, 1)),
		NeverClaim: 0.05, SpotInterruptionRate: 0.2, Market: MarketWalk}
	o.Policies = []Policy{PolicyWorkerfleet, PolicyWMv25}
	if tweak != nil {
		tweak(&o)
	}
	var runs []*run
	res, err := run1(context.Background(), o, &runs)
	if err != nil {
		t.Fatal(err)
	}
	return runs, res
}

func TestAccounting(t *testing.T) {
	tasks := synthetic(1)
	runs, res := simulate(t, tasks, nil)
	if len(runs) != 2 {
		t.Fatalf("%d policies ran, want 2", len(runs))
	}
	for _, r := range runs {
		t.Run(string(r.policy), func(t *testing.T) {
			checkEveryTaskClaimed(t, r)
			checkWorkerTime(t, r, res)
			checkNoWorkerOverCapacity(t, r)
		})
	}
}

// Every task is claimed; one that lost its worker to an interruption is claimed
// again, and only then.
func checkEveryTaskClaimed(t *testing.T, r *run) {
	retried := 0
	for i, ts := range r.tasks {
		switch {
		case ts.claims == 0:
			t.Errorf("task %d (pending at %v) was never claimed", i, r.o.Tasks[i].Pending)
		case ts.claims > 1+ts.requeued:
			t.Errorf("task %d was claimed %d times, requeued %d times", i, ts.claims, ts.requeued)
		case ts.claimedAt < r.o.Tasks[i].Pending:
			t.Errorf("task %d was claimed at %v, before it was pending at %v", i, ts.claimedAt, r.o.Tasks[i].Pending)
		}
		retried += ts.requeued
	}
	if r.claimed != 0 || len(r.queue) != 0 {
		t.Errorf("at the end, %d tasks still run and %d wait", r.claimed, len(r.queue))
	}
	t.Logf("%d tasks, %d requeued after an interruption", len(r.tasks), retried)
}

// Worker time is the sum of the workers' lifetimes, from launch to termination,
// clipped to the measured window; every worker the cloud launched is counted.
func checkWorkerTime(t *testing.T, r *run, res *Result) {
	var sum time.Duration
	for _, inst := range r.cloud.AllInstances() {
		if _, ok := r.workers[inst.ID]; !ok {
			t.Errorf("instance %s (%s) has no simulated worker", inst.ID, inst.State)
		}
	}
	for _, w := range r.all {
		if w.ended < 0 && w.requested < r.o.End-r.o.IdleTimeout-r.o.StoppingDelay-time.Minute {
			t.Errorf("worker %s, launched at %v, never ended", w.id, w.requested)
		}
		end := w.ended
		if end < 0 {
			end = r.o.End
		}
		from, to := max(w.requested, r.o.Warmup), min(end, r.o.End)
		if to > from {
			sum += to - from
		}
	}
	var got PolicySummary
	for _, p := range res.Summary.Policies {
		if p.Policy == r.policy {
			got = p
		}
	}
	if want := round(sum.Hours(), 1); got.WorkerHrs != want || want == 0 {
		t.Errorf("worker-hours %v, want the lifetimes' sum %v", got.WorkerHrs, want)
	}
	if got.Util <= 0 || got.Util > 1 {
		t.Errorf("utilisation %v is not in (0, 1]", got.Util)
	}
}

func checkNoWorkerOverCapacity(t *testing.T, r *run) {
	peak := 0.0
	for _, s := range r.samples {
		peak = max(peak, s.RunningCapacity+s.Requested)
	}
	if peak > 40 {
		t.Errorf("running and requested capacity reached %v, above maxCapacity 40", peak)
	}
	if peak < 20 {
		t.Errorf("capacity peaked at %v: the bursts should have grown the fleet", peak)
	}
}

func TestSameSeedSameSummary(t *testing.T) {
	tasks := synthetic(2)
	_, a := simulate(t, tasks, nil)
	_, b := simulate(t, tasks, nil)
	if diff := cmp.Diff(a.Summary, b.Summary); diff != "" {
		t.Errorf("same seed, different summaries (-first +second):\n%s", diff)
	}
	_, c := simulate(t, tasks, func(o *Options) { o.Seed = 4 })
	if cmp.Equal(a.Summary.Policies, c.Summary.Policies) {
		t.Error("another seed gave the very same summary: the seed reaches nothing")
	}
}

func TestOutputs(t *testing.T) {
	_, res := simulate(t, synthetic(3), nil)
	var js, svg, table bytes.Buffer
	if err := json.NewEncoder(&js).Encode(res.Summary); err != nil {
		t.Fatal(err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"policy", "tasks", "waitP50Seconds", "waitP95Seconds", "waitP99Seconds", "waitMaxSeconds", "workerHours",
		"capacityHours", "taskHours", "utilisation", "costUSD", "controlPlaneUSD", "totalUSD", "controlPlane",
		"idleTimeoutMedianSeconds", "workersLaunched", "workersNeverClaimed", "tasksRequeued"}
	if len(decoded) != 4 || decoded["trace"] != "synthetic" || decoded["seed"] != 3.0 || decoded["market"] != MarketWalk {
		t.Errorf("summary.json has %v, want trace, seed, market and policies", decoded)
	}
	pol := decoded["policies"].([]any)[0].(map[string]any)
	if len(pol) != len(wantKeys) {
		t.Errorf("a policy has %d keys, want %d: %v", len(pol), len(wantKeys), pol)
	}
	for _, k := range wantKeys {
		if _, ok := pol[k]; !ok {
			t.Errorf("a policy lacks %s", k)
		}
	}
	if err := res.WriteChart(&svg); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "fleet cost, cumulative", "wait distribution", "idle capacity", "warm-up", "workerfleet", "wm-v25"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("the chart lacks %q", want)
		}
	}
	res.Summary.WriteTable(&table)
	for _, want := range []string{"wm-v25", "workerfleet against each baseline", "control plane"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestTraceRoundTrip(t *testing.T) {
	tasks := synthetic(4)[:50]
	var b bytes.Buffer
	if err := WriteTrace(&b, tasks); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTrace(&b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tasks, got); diff != "" {
		t.Errorf("trace round trip (-want +got):\n%s", diff)
	}
	if _, err := ReadTrace(bytes.NewReader([]byte{1, 2, 3})); err == nil {
		t.Error("a truncated record was accepted")
	}
	unsorted := []byte{0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1}
	if _, err := ReadTrace(bytes.NewReader(unsorted)); err == nil {
		t.Error("records out of order were accepted")
	}
}

func TestDefaultPool(t *testing.T) {
	cfg, err := pool.ParseConfig("aws", json.RawMessage(DefaultPool), pool.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	zones, types := map[string]bool{}, map[string]bool{}
	for _, o := range cfg.Options() {
		if !o.Spot || o.Capacity != 1 || o.Region != "us-east-1" {
			t.Errorf("option %s: spot %v, capacity %v, region %s; want spot, 1, us-east-1", o.ID, o.Spot, o.Capacity, o.Region)
		}
		zones[o.AvailabilityZone], types[o.InstanceType] = true, true
	}
	if len(zones) != 3 || len(types) != 2 || cfg.Sizing().MaxCapacity != 1000 {
		t.Errorf("zones %v, types %v, maxCapacity %v; want 3 x 2, 1000", zones, types, cfg.Sizing().MaxCapacity)
	}
}
