package ec2events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

func interruption(instance string, at time.Time) ec2events.Event {
	return ec2events.Event{ID: instance + "-interrupt-" + at.Format("150405"), DetailType: ec2events.SpotInterruption, Time: at, Region: "us-east-1", InstanceID: instance, Action: "terminate"}
}

func rebalance(instance string, at time.Time) ec2events.Event {
	return ec2events.Event{ID: instance + "-rebalance-" + at.Format("150405"), DetailType: ec2events.Rebalance, Time: at, Region: "us-east-1", InstanceID: instance}
}

func TestApplyTransitions(t *testing.T) {
	at := t0.Add(time.Minute)
	tests := []struct {
		name  string
		event ec2events.Event
		check func(t *testing.T, w store.Worker)
	}{
		{"spot interruption warning records the deadline", interruption("i-1", at), func(t *testing.T, w store.Worker) {
			if !w.InterruptionDeadline.Equal(at.Add(2*time.Minute)) || !w.Interrupted() || w.State != store.Running {
				t.Errorf("deadline %v interrupted %v state %s", w.InterruptionDeadline, w.Interrupted(), w.State)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := requested("i-1")
			w.State = store.Running
			if !ec2events.Used(tt.event) || !ec2events.Apply(&w, tt.event) {
				t.Fatal("Apply reported no change")
			}
			tt.check(t, w)
			again := w
			if ec2events.Apply(&again, tt.event) {
				t.Errorf("applying the same event twice changed the record: %s", cmp.Diff(w, again))
			}
		})
	}
	// State changes are the provisioner's, from EC2's listing (store's
	// TestObserveEC2State), and nothing acts on a rebalance recommendation: here
	// they change nothing.
	for _, state := range []string{"pending", "running", "stopping", "stopped", "shutting-down", "terminated"} {
		w := requested("i-1")
		if e := stateEvent("i-1", state, at); ec2events.Used(e) || ec2events.Apply(&w, e) {
			t.Errorf("state %s: used or applied", state)
		}
	}
	if w := requested("i-1"); ec2events.Used(rebalance("i-1", at)) || ec2events.Apply(&w, rebalance("i-1", at)) {
		t.Error("rebalance recommendation: used or applied")
	}
}

func TestEarlierWarningsWin(t *testing.T) {
	w := requested("i-1")
	ec2events.Apply(&w, interruption("i-1", t0.Add(3*time.Minute)))
	ec2events.Apply(&w, interruption("i-1", t0.Add(time.Minute)))
	if !w.InterruptionDeadline.Equal(t0.Add(3 * time.Minute)) {
		t.Errorf("deadline %v; want the earliest warning's (+2 min)", w.InterruptionDeadline)
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
// Lambda handler: one instance's life from launch to termination. Only the spot
// interruption warning is applied (Used); the state changes are the provisioner's
// to take from EC2's listing, and nothing acts on a rebalance recommendation.
func TestRecordedSampleEvents(t *testing.T) {
	h, s := newHandler(t)
	const instance = "i-0e8637375f3abd4f0" // the samples' instance: the walkthrough's first (SEED=2 make run)
	if _, err := s.CreateWorker(ctx, requested(instance)); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]ec2events.Outcome{}
	for _, f := range []string{"pending", "running", "rebalance", "spot-interruption", "stopping", "stopped", "shutting-down", "terminated"} {
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
		e, err := ec2events.FromCloudWatchEvent(ev)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		outcomes[f], _ = h.Apply(ctx, e) // again: the outcome of a redelivery
	}
	wantOutcomes := map[string]ec2events.Outcome{"pending": ec2events.Ignored, "running": ec2events.Ignored,
		"rebalance": ec2events.Ignored, "spot-interruption": ec2events.Unchanged, "stopping": ec2events.Ignored,
		"stopped": ec2events.Ignored, "shutting-down": ec2events.Ignored, "terminated": ec2events.Ignored}
	if diff := cmp.Diff(wantOutcomes, outcomes); diff != "" {
		t.Errorf("outcomes of redelivery (-want +got):\n%s", diff)
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
		"state": store.Requested, "ec2State": "", "terminated": time.Time{},
		"rebalance": time.Time{}, "interruption": day("11:02:00"), "lastChecked": day("11:00:00"),
	}
	got := map[string]any{
		"state": w.State, "ec2State": w.EC2State, "terminated": w.TerminatedTime,
		"rebalance": w.RebalanceTime, "interruption": w.InterruptionDeadline, "lastChecked": w.LastChecked,
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
	e := interruption("i-dup", t0.Add(time.Minute))
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
		interruption("i-foreign", t0),
	} {
		if out, err := h.Apply(ctx, e); err != nil || out != ec2events.Unknown {
			t.Errorf("event for an unknown instance: %s, %v; want unknown, no error", out, err)
		}
	}
	for _, e := range []ec2events.Event{
		{DetailType: "AWS API Call via CloudTrail", InstanceID: "i-x", Time: t0},
		stateEvent("i-x", "pending", t0), // the provisioner's launch and EC2's listing say these
		stateEvent("i-x", "running", t0),
		stateEvent("i-x", "shutting-down", t0),
		stateEvent("i-x", "terminated", t0),
		rebalance("i-x", t0),
	} {
		if out, _ := h.Apply(ctx, e); out != ec2events.Ignored {
			t.Errorf("%s %s: %s, want ignored", e.DetailType, e.State, out)
		}
	}
	if _, err := s.WorkerByInstance(ctx, "i-foreign"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an event created a record for a foreign instance: %v", err)
	}
	// Malformed events are dropped, not retried forever.
	for _, bad := range []events.CloudWatchEvent{
		{ID: "bad", DetailType: ec2events.StateChange, Time: t0, Detail: json.RawMessage(`{"instance-id":"i-1","state":"exploded"}`)},
		{ID: "bad", DetailType: ec2events.SpotInterruption, Time: t0, Detail: json.RawMessage(`{"instance-action":"terminate"}`)},
		{ID: "bad", DetailType: ec2events.Rebalance, Time: t0, Detail: json.RawMessage(`[1]`)},
	} {
		if err := h.HandleEvent(ctx, bad); err != nil {
			t.Errorf("malformed %s: %v, want it ignored", bad.DetailType, err)
		}
	}
}

// lifecycle is what EC2 sends for a spot instance's life: its state changes and
// rebalance recommendations (ignored here) interleaved with two interruption
// warnings (EventBridge may deliver a warning twice, with times a second apart).
func lifecycle(instance string) []ec2events.Event {
	return []ec2events.Event{
		stateEvent(instance, "running", t0.Add(40*time.Second)),
		rebalance(instance, t0.Add(50*time.Minute)),
		rebalance(instance, t0.Add(55*time.Minute)),
		interruption(instance, t0.Add(60*time.Minute)),
		interruption(instance, t0.Add(60*time.Minute+time.Second)),
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
var ignoreBookkeeping = cmpopts.IgnoreFields(store.Worker{}, "LastModified", "Version", "TTL", "ChangeShard", "ChangedAt", "LivePool")

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
	if !want.RebalanceTime.IsZero() || !want.InterruptionDeadline.Equal(t0.Add(62*time.Minute)) || want.State != store.Requested {
		t.Errorf("final record: rebalance %v deadline %v state %s", want.RebalanceTime, want.InterruptionDeadline, want.State)
	}
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
		detail, _ := json.Marshal(map[string]string{"instance-id": id, "instance-action": "terminate"})
		batch = append(batch, events.CloudWatchEvent{ID: id, DetailType: ec2events.SpotInterruption, Source: "aws.ec2", Time: t0, Region: "us-east-1", Detail: detail})
	}
	raw, _ := json.Marshal(batch)

	err := (&ec2events.Handler{Store: flaky, Log: quiet}).HandleRaw(ctx, raw)
	if err == nil {
		t.Fatal("the injected failure was not reported")
	}
	deadline := t0.Add(ec2events.InterruptionNotice)
	for id, want := range map[string]time.Time{"i-a": deadline, "i-b": {}, "i-c": deadline} {
		w, _ := good.WorkerByInstance(ctx, id)
		if !w.InterruptionDeadline.Equal(want) {
			t.Errorf("%s after the failed batch: interruption deadline %v, want %v", id, w.InterruptionDeadline, want)
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
	if w, _ := good.WorkerByInstance(ctx, "i-b"); !w.InterruptionDeadline.Equal(deadline) {
		t.Errorf("i-b after redelivery: interruption deadline %v", w.InterruptionDeadline)
	}
}

// TestRuleRoutesWhatIsUsed: template.yaml's EventBridge rule routes exactly the
// events the handler applies, so EC2's state changes and rebalance
// recommendations cost no invocation.
func TestRuleRoutesWhatIsUsed(t *testing.T) {
	fn := storetest.Template().Functions["Ec2EventsFunction"]
	if fn == nil || len(fn.Rules) != 1 {
		t.Fatalf("Ec2EventsFunction: want one EventBridge rule, have %+v", fn)
	}
	pattern := fn.Rules[0].Pattern
	if !contains(pattern["source"], "aws.ec2") || len(pattern) != 2 {
		t.Fatalf("rule pattern %v: want aws.ec2's events by detail-type alone", pattern)
	}
	for _, state := range []string{"pending", "running", "stopping", "stopped", "shutting-down", "terminated"} {
		e := stateEvent("i-1", state, t0)
		if routed := contains(pattern["detail-type"], e.DetailType); routed || ec2events.Used(e) {
			t.Errorf("state %s: routed %v, used %v; want neither", state, routed, ec2events.Used(e))
		}
	}
	if e := rebalance("i-1", t0); contains(pattern["detail-type"], e.DetailType) || ec2events.Used(e) {
		t.Errorf("rebalance recommendations: routed %v, used %v; want neither", contains(pattern["detail-type"], e.DetailType), ec2events.Used(e))
	}
	if dt := ec2events.SpotInterruption; !contains(pattern["detail-type"], dt) || !ec2events.Used(ec2events.Event{DetailType: dt}) {
		t.Errorf("%s: routed %v, used %v; want both", dt, contains(pattern["detail-type"], dt), ec2events.Used(ec2events.Event{DetailType: dt}))
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
