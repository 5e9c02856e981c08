package ec2events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/workerfleet/workerfleet/shared/dev/iamguard"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/ec2events"
	"github.com/workerfleet/workerfleet/shared/store"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var (
	ctx   = context.Background()
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	t0    = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
)

func stateEvent(instance, state string, at time.Time) ec2events.Event {
	return ec2events.Event{ID: instance + "-" + state, DetailType: ec2events.StateChange, Time: at, Region: "us-east-1", InstanceID: instance, State: state}
}

func requested(instance string) store.Worker {
	return store.Worker{
		Pool: "proj/pool", WorkerGroup: "us-east-1", WorkerID: instance, InstanceID: instance,
		ProviderID: "aws", State: store.Requested, Capacity: 1, Created: t0, LastModified: t0, LastChecked: t0,
		Expires: t0.Add(100 * time.Hour),
	}
}

func TestApplyTransitions(t *testing.T) {
	at := t0.Add(time.Minute)
	tests := []struct {
		name  string
		start store.State
		event ec2events.Event
		check func(t *testing.T, w store.Worker)
	}{
		{"pending records the launch time only", store.Requested, stateEvent("i-1", "pending", at), func(t *testing.T, w store.Worker) {
			if w.State != store.Requested || w.EC2State != "pending" || !w.LaunchTime.Equal(at) {
				t.Errorf("state %s ec2 %s launch %v", w.State, w.EC2State, w.LaunchTime)
			}
		}},
		{"running never makes a worker running", store.Requested, stateEvent("i-1", "running", at), func(t *testing.T, w store.Worker) {
			if w.State != store.Requested || w.EC2State != "running" || !w.RunningTime.Equal(at) {
				t.Errorf("state %s ec2 %s running %v", w.State, w.EC2State, w.RunningTime)
			}
		}},
		{"shutting-down makes a running worker stopping", store.Running, stateEvent("i-1", "shutting-down", at), func(t *testing.T, w store.Worker) {
			if w.State != store.Stopping || !w.StoppingTime.Equal(at) || w.StopReason != ec2events.ReasonShuttingDown {
				t.Errorf("state %s stopping %v reason %q", w.State, w.StoppingTime, w.StopReason)
			}
		}},
		{"stopping makes a requested worker stopping", store.Requested, stateEvent("i-1", "stopping", at), func(t *testing.T, w store.Worker) {
			if w.State != store.Stopping {
				t.Errorf("state %s", w.State)
			}
		}},
		{"terminated makes a worker stopped and schedules its record's removal", store.Running, stateEvent("i-1", "terminated", at), func(t *testing.T, w store.Worker) {
			if w.State != store.Stopped || !w.TerminatedTime.Equal(at) || !w.Expires.Equal(at.Add(store.StoppedRetention)) {
				t.Errorf("state %s terminated %v expires %v", w.State, w.TerminatedTime, w.Expires)
			}
		}},
		{"stopped makes a worker stopped", store.Stopping, stateEvent("i-1", "stopped", at), func(t *testing.T, w store.Worker) {
			if w.State != store.Stopped || w.EC2State != "stopped" {
				t.Errorf("state %s ec2 %s", w.State, w.EC2State)
			}
		}},
		{"nothing leaves stopped", store.Stopped, stateEvent("i-1", "running", at), func(t *testing.T, w store.Worker) {
			if w.State != store.Stopped || w.EC2State != "running" {
				t.Errorf("state %s ec2 %s; want stopped, with EC2's state still recorded", w.State, w.EC2State)
			}
		}},
		{"spot interruption warning records the deadline", store.Running,
			ec2events.Event{DetailType: ec2events.SpotInterruption, Time: at, InstanceID: "i-1", Action: "terminate"}, func(t *testing.T, w store.Worker) {
				if !w.InterruptionDeadline.Equal(at.Add(2*time.Minute)) || !w.Interrupted() || w.State != store.Running {
					t.Errorf("deadline %v interrupted %v state %s", w.InterruptionDeadline, w.Interrupted(), w.State)
				}
			}},
		{"rebalance recommendation is recorded", store.Running,
			ec2events.Event{DetailType: ec2events.Rebalance, Time: at, InstanceID: "i-1"}, func(t *testing.T, w store.Worker) {
				if !w.RebalanceTime.Equal(at) || w.State != store.Running {
					t.Errorf("rebalance %v state %s", w.RebalanceTime, w.State)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := requested("i-1")
			w.State = tt.start
			if !ec2events.Apply(&w, tt.event) {
				t.Fatal("Apply reported no change")
			}
			tt.check(t, w)
			again := w
			if ec2events.Apply(&again, tt.event) {
				t.Errorf("applying the same event twice changed the record: %s", cmp.Diff(w, again))
			}
		})
	}
}

func TestOlderEventsDoNotRewindEC2State(t *testing.T) {
	w := requested("i-1")
	ec2events.Apply(&w, stateEvent("i-1", "terminated", t0.Add(3*time.Minute)))
	ec2events.Apply(&w, stateEvent("i-1", "running", t0.Add(time.Minute)))
	if w.EC2State != "terminated" || w.State != store.Stopped || !w.RunningTime.Equal(t0.Add(time.Minute)) {
		t.Errorf("ec2 %s state %s running %v; want terminated, stopped, with the running time recorded", w.EC2State, w.State, w.RunningTime)
	}
	// Same timestamp: EC2's state order decides.
	v := requested("i-2")
	ec2events.Apply(&v, stateEvent("i-2", "terminated", t0))
	ec2events.Apply(&v, stateEvent("i-2", "shutting-down", t0))
	if v.EC2State != "terminated" {
		t.Errorf("equal times: ec2 state %s, want terminated", v.EC2State)
	}
}

// newHandler's store reads the clock of the recorded events (t0 and the samples'
// 2026-11-22), so stopped records, which expire a day after they stop, stay readable
// whatever day the tests run.
//
// The handler's DynamoDB calls are held to Ec2EventsFunction's policies in
// template.yaml (iamguard), as IAM holds them deployed; the returned store, the
// tests' own, is not.
func newHandler(t *testing.T) (*ec2events.Handler, *store.Store) {
	clock := store.WithClock(func() time.Time { return t0.Add(30 * time.Minute) })
	db, tables, key := storetest.DB(t), storetest.Tables(t), storetest.Key(t)
	guarded := iamguard.Wrap(db, storetest.Template().Functions["Ec2EventsFunction"], tables.ByLogicalID())
	return &ec2events.Handler{Store: store.New(guarded, tables, key, clock), Log: quiet}, store.New(db, tables, key, clock)
}

// TestRecordedSampleEvents feeds the exact JSON AWS sends (kept in events/) through the
// Lambda handler and follows one instance from launch to termination. pending and
// running are not applied (Used): the record's launch time is the provisioner's,
// its running time EC2's listing's.
func TestRecordedSampleEvents(t *testing.T) {
	h, s := newHandler(t)
	const instance = "i-0e8637375f3abd4f0" // the samples' instance: the walkthrough's first (SEED=2 make run)
	if _, err := s.CreateWorker(ctx, requested(instance)); err != nil {
		t.Fatal(err)
	}
	files := []string{"pending", "running", "rebalance", "spot-interruption", "shutting-down", "terminated"}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("..", "..", "events", "ec2-events-"+f+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var ev events.CloudWatchEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := h.HandleEvent(ctx, ev); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	w, err := s.Worker(ctx, "proj/pool", "us-east-1", instance)
	if err != nil {
		t.Fatal(err)
	}
	day := func(hms string) time.Time {
		tm, _ := time.Parse(time.RFC3339, "2026-11-22T"+hms+"Z")
		return tm
	}
	want := map[string]any{
		"state": store.Stopped, "ec2State": "terminated",
		"launch": time.Time{}, "running": time.Time{}, "stopping": day("12:00:00"), "terminated": day("12:00:45"),
		"rebalance": day("10:50:00"), "interruption": day("11:02:00"), "expires": day("12:00:45").Add(store.StoppedRetention),
	}
	got := map[string]any{
		"state": w.State, "ec2State": w.EC2State,
		"launch": w.LaunchTime, "running": w.RunningTime, "stopping": w.StoppingTime, "terminated": w.TerminatedTime,
		"rebalance": w.RebalanceTime, "interruption": w.InterruptionDeadline, "expires": w.Expires,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record after the sample events (-want +got):\n%s", diff)
	}
}

func TestDuplicatesAreNoOps(t *testing.T) {
	h, s := newHandler(t)
	if _, err := s.CreateWorker(ctx, requested("i-dup")); err != nil {
		t.Fatal(err)
	}
	e := stateEvent("i-dup", "shutting-down", t0.Add(time.Minute))
	if out, err := h.Apply(ctx, e); err != nil || out != ec2events.Applied {
		t.Fatalf("first delivery: %s, %v", out, err)
	}
	before, _ := s.Worker(ctx, "proj/pool", "us-east-1", "i-dup")
	for range 3 {
		if out, err := h.Apply(ctx, e); err != nil || out != ec2events.Unchanged {
			t.Fatalf("redelivery: %s, %v; want unchanged", out, err)
		}
	}
	after, _ := s.Worker(ctx, "proj/pool", "us-east-1", "i-dup")
	if after.Version != before.Version {
		t.Errorf("redeliveries wrote the record: version %d -> %d", before.Version, after.Version)
	}
}

func TestUnknownAndForeignInstances(t *testing.T) {
	h, s := newHandler(t)
	for _, e := range []ec2events.Event{
		stateEvent("i-foreign", "terminated", t0),
		{DetailType: ec2events.SpotInterruption, Time: t0, InstanceID: "i-foreign"},
	} {
		if out, err := h.Apply(ctx, e); err != nil || out != ec2events.Unknown {
			t.Errorf("event for an unknown instance: %s, %v; want unknown, no error", out, err)
		}
	}
	for _, e := range []ec2events.Event{
		{DetailType: "AWS API Call via CloudTrail", InstanceID: "i-x", Time: t0},
		stateEvent("i-x", "pending", t0), // the provisioner's launch and EC2's listing say these
		stateEvent("i-x", "running", t0),
	} {
		if out, _ := h.Apply(ctx, e); out != ec2events.Ignored {
			t.Errorf("%s %s: %s, want ignored", e.DetailType, e.State, out)
		}
	}
	if _, err := s.WorkerByInstance(ctx, "i-foreign"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an event created a record for a foreign instance: %v", err)
	}
	// Malformed events are dropped, not retried forever.
	bad := events.CloudWatchEvent{ID: "bad", DetailType: ec2events.StateChange, Time: t0, Detail: json.RawMessage(`{"instance-id":"i-1","state":"exploded"}`)}
	if err := h.HandleEvent(ctx, bad); err != nil {
		t.Errorf("malformed event: %v, want it ignored", err)
	}
}

// lifecycle is the full life of a spot instance, as events.
func lifecycle(instance string) []ec2events.Event {
	return []ec2events.Event{
		stateEvent(instance, "pending", t0.Add(1*time.Second)),
		stateEvent(instance, "running", t0.Add(40*time.Second)),
		{ID: instance + "-rebalance", DetailType: ec2events.Rebalance, Time: t0.Add(50 * time.Minute), InstanceID: instance},
		{ID: instance + "-interrupt", DetailType: ec2events.SpotInterruption, Time: t0.Add(60 * time.Minute), InstanceID: instance, Action: "terminate"},
		stateEvent(instance, "shutting-down", t0.Add(62*time.Minute)),
		stateEvent(instance, "terminated", t0.Add(63*time.Minute)),
	}
}

func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// ignoreBookkeeping leaves out what the store stamps from its own clock and counter.
var ignoreBookkeeping = cmpopts.IgnoreFields(store.Worker{}, "LastModified", "Version", "TTL", "ChangeShard", "ChangedAt")

// TestEveryPermutationConverges delivers a full life cycle's six events in every one
// of the 720 orders, each to its own worker record through the handler and DynamoDB
// Local, and checks every record ends identical.
func TestEveryPermutationConverges(t *testing.T) {
	h, s := newHandler(t)
	perms := permutations(6)
	if len(perms) != 720 {
		t.Fatalf("%d permutations", len(perms))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan error, len(perms))
	for i, perm := range perms {
		instance := fmt.Sprintf("i-perm%04d", i)
		if _, err := s.CreateWorker(ctx, requested(instance)); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			evs := lifecycle(instance)
			for _, j := range perm {
				if _, err := h.Apply(ctx, evs[j]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	want := requested("i-x")
	for _, e := range lifecycle("i-x") {
		if ec2events.Used(e) {
			ec2events.Apply(&want, e)
		}
	}
	for i := range perms {
		instance := fmt.Sprintf("i-perm%04d", i)
		got, err := s.Worker(ctx, "proj/pool", "us-east-1", instance)
		if err != nil {
			t.Fatal(err)
		}
		want.WorkerID, want.InstanceID, want.Key = instance, instance, got.Key
		if diff := cmp.Diff(want, got, ignoreBookkeeping); diff != "" {
			t.Fatalf("order %v ends differently (-in order +this order):\n%s", perms[i], diff)
		}
	}
	if want.State != store.Stopped || want.EC2State != "terminated" {
		t.Errorf("final record: state %s ec2 %s", want.State, want.EC2State)
	}
}

// TestPropertyShuffledDuplicatedLifecycles: for random life cycles, any shuffle with
// any duplications ends in the state the last real transition implies.
func TestPropertyShuffledDuplicatedLifecycles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	implied := map[string]store.State{
		"pending": store.Requested, "running": store.Requested,
		"stopping": store.Stopping, "shutting-down": store.Stopping,
		"stopped": store.Stopped, "terminated": store.Stopped,
	}
	paths := [][]string{
		{"pending"},
		{"pending", "running"},
		{"pending", "running", "stopping"},
		{"pending", "running", "stopping", "stopped"},
		{"pending", "running", "shutting-down"},
		{"pending", "running", "shutting-down", "terminated"},
		{"pending", "shutting-down", "terminated"},
		{"pending", "running", "stopping", "stopped", "terminated"},
	}
	for iter := range 2000 {
		path := paths[rng.IntN(len(paths))]
		var evs []ec2events.Event
		at := t0
		for _, st := range path {
			// Sometimes two transitions share a timestamp (EC2's clock is per second).
			if rng.IntN(4) > 0 {
				at = at.Add(time.Duration(1+rng.IntN(600)) * time.Second)
			}
			evs = append(evs, stateEvent("i-prop", st, at))
		}
		if rng.IntN(2) == 0 {
			evs = append(evs, ec2events.Event{DetailType: ec2events.SpotInterruption, Time: t0.Add(time.Duration(rng.IntN(3600)) * time.Second), InstanceID: "i-prop"})
		}
		delivered := append([]ec2events.Event(nil), evs...)
		for range rng.IntN(len(evs) + 1) {
			delivered = append(delivered, evs[rng.IntN(len(evs))])
		}
		rng.Shuffle(len(delivered), func(i, j int) { delivered[i], delivered[j] = delivered[j], delivered[i] })

		w := requested("i-prop")
		for _, e := range delivered {
			ec2events.Apply(&w, e)
		}
		inOrder := requested("i-prop")
		for _, e := range evs {
			ec2events.Apply(&inOrder, e)
		}
		last := path[len(path)-1]
		if w.EC2State != last || w.State != implied[last] {
			t.Fatalf("iteration %d: path %v delivered as %v: ec2 %s state %s; want %s %s",
				iter, path, names(delivered), w.EC2State, w.State, last, implied[last])
		}
		if diff := cmp.Diff(inOrder, w); diff != "" {
			t.Fatalf("iteration %d: shuffled delivery differs from in-order delivery:\n%s", iter, diff)
		}
	}
}

func names(evs []ec2events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.State+e.DetailType[:4])
	}
	return out
}

// failingDB is the real DynamoDB Local with one instance's writes failing.
type failingDB struct {
	store.DB
	instance string
}

func (f failingDB) PutItem(c context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if v, ok := in.Item["instanceId"].(*types.AttributeValueMemberS); ok && v.Value == f.instance {
		return nil, errors.New("injected write failure")
	}
	return f.DB.PutItem(c, in, o...)
}

// TestBatchFailureKeepsTheOthers: one record failing does not lose the others, and
// redelivering the whole batch after the failure clears has no double effect.
func TestBatchFailureKeepsTheOthers(t *testing.T) {
	tables := storetest.Tables(t)
	key := storetest.Key(t)
	good := store.New(storetest.DB(t), tables, key)
	flaky := store.New(failingDB{DB: storetest.DB(t), instance: "i-b"}, tables, key)
	for _, id := range []string{"i-a", "i-b", "i-c"} {
		if _, err := good.CreateWorker(ctx, requested(id)); err != nil {
			t.Fatal(err)
		}
	}
	var batch []events.CloudWatchEvent
	for _, id := range []string{"i-a", "i-b", "i-c"} {
		detail, _ := json.Marshal(map[string]string{"instance-id": id, "state": "stopping"})
		batch = append(batch, events.CloudWatchEvent{ID: id, DetailType: ec2events.StateChange, Source: "aws.ec2", Time: t0, Region: "us-east-1", Detail: detail})
	}
	raw, _ := json.Marshal(batch)

	err := (&ec2events.Handler{Store: flaky, Log: quiet}).HandleRaw(ctx, raw)
	if err == nil {
		t.Fatal("the injected failure was not reported")
	}
	for id, want := range map[string]string{"i-a": "stopping", "i-b": "", "i-c": "stopping"} {
		w, _ := good.WorkerByInstance(ctx, id)
		if w.EC2State != want {
			t.Errorf("%s after the failed batch: ec2 state %q, want %q", id, w.EC2State, want)
		}
	}
	versions := map[string]int64{}
	for _, id := range []string{"i-a", "i-c"} {
		w, _ := good.WorkerByInstance(ctx, id)
		versions[id] = w.Version
	}
	if err := (&ec2events.Handler{Store: good, Log: quiet}).HandleRaw(ctx, raw); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	for _, id := range []string{"i-a", "i-c"} {
		if w, _ := good.WorkerByInstance(ctx, id); w.Version != versions[id] {
			t.Errorf("%s re-applied on redelivery: version %d -> %d", id, versions[id], w.Version)
		}
	}
	if w, _ := good.WorkerByInstance(ctx, "i-b"); w.EC2State != "stopping" {
		t.Errorf("i-b after redelivery: %q", w.EC2State)
	}
}

// TestRuleRoutesWhatIsUsed: template.yaml's EventBridge rule routes exactly the
// events the handler applies, so EC2's pending and running events cost no
// invocation.
func TestRuleRoutesWhatIsUsed(t *testing.T) {
	fn := storetest.Template().Functions["Ec2EventsFunction"]
	if fn == nil || len(fn.Rules) != 1 {
		t.Fatalf("Ec2EventsFunction: want one EventBridge rule, have %+v", fn)
	}
	routed := func(detailType, state string) bool {
		for _, alt := range fn.Rules[0].Pattern["$or"].([]any) {
			m := alt.(map[string]any)
			if !contains(m["detail-type"], detailType) {
				continue
			}
			detail, ok := m["detail"].(map[string]any)
			if !ok || contains(detail["state"], state) {
				return true
			}
		}
		return false
	}
	for _, state := range []string{"pending", "running", "stopping", "stopped", "shutting-down", "terminated"} {
		e := stateEvent("i-1", state, t0)
		if got, want := routed(e.DetailType, state), ec2events.Used(e); got != want {
			t.Errorf("state %s: routed %v, used %v", state, got, want)
		}
	}
	for _, dt := range []string{ec2events.SpotInterruption, ec2events.Rebalance} {
		if !routed(dt, "") || !ec2events.Used(ec2events.Event{DetailType: dt}) {
			t.Errorf("%s: routed %v, used %v; want both", dt, routed(dt, ""), ec2events.Used(ec2events.Event{DetailType: dt}))
		}
	}
}

func contains(list any, s string) bool {
	l, _ := list.([]any)
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
