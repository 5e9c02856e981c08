package provision

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/store"
)

// dyingCloud launches, then "dies": the invocation is cut off after EC2 created the
// instances and before the provisioner could record them.
type dyingCloud struct {
	cloud.InstanceSet
	die func()
}

func (d *dyingCloud) Launch(ctx context.Context, req cloud.LaunchRequest) ([]cloud.Instance, error) {
	if _, err := d.InstanceSet.Launch(ctx, req); err != nil {
		return nil, err
	}
	d.die()
	<-ctx.Done()
	return nil, ctx.Err()
}

func crash(t *testing.T, e *env, id string) {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	real := e.p.Cloud
	e.p.Cloud = &dyingCloud{InstanceSet: real, die: cancel}
	if _, err := e.p.Run(cctx, id); err != nil {
		t.Fatalf("crashed iteration: %v", err)
	}
	e.p.Cloud = real
}

// TestCrashBetweenLaunchAndRecord: instances launched by an invocation that died are
// terminated by the next iteration; none leaks.
func TestCrashBetweenLaunchAndRecord(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/crash", 0, 5)
	e.demand.set("proj/crash", 3)
	crash(t, e, "it-crashed")
	if got := len(e.live("proj/crash")); got == 0 || len(e.workers("proj/crash")) != 0 {
		t.Fatalf("setup: %d instances and %d records; want unrecorded instances", got, len(e.workers("proj/crash")))
	}
	e.clock.Advance(6 * time.Minute) // the dead invocation's lease expires
	e.demand.set("proj/crash", 0)
	e.iterate()
	if got := len(e.live("proj/crash")); got != 0 {
		t.Errorf("%d unrecorded instances survived the next iteration", got)
	}
	e.checkNoLeak()
}

// TestRetriedInvocationRecordsItsOwnLaunch: Lambda retrying the dead invocation (same
// event id) gets the same instances back through their ClientTokens and records them:
// no duplicate launch, no sweep of its own instances.
func TestRetriedInvocationRecordsItsOwnLaunch(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/retry", 0, 5)
	e.demand.set("proj/retry", 3)
	crash(t, e, "it-retried")
	before := map[string]bool{}
	for _, inst := range e.live("proj/retry") {
		before[inst.ID] = true
	}
	e.clock.Advance(time.Second)
	if _, err := e.p.Run(ctx, "it-retried"); err != nil {
		t.Fatal(err)
	}
	after := map[string]bool{}
	for _, inst := range e.live("proj/retry") {
		after[inst.ID] = true
	}
	if len(after) != 3 {
		t.Fatalf("after the retry: %d instances, want 3 (no duplicate launch)", len(after))
	}
	for id := range before {
		if !after[id] {
			t.Errorf("the retry swept or replaced instance %s that its first attempt launched", id)
		}
	}
	if got := len(e.workers("proj/retry")); got != 3 {
		t.Errorf("%d records, want 3", got)
	}
	e.checkNoLeak()
}

func TestDuplicateAndOverlappingInvocations(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/dup", 0, 20)
	e.demand.set("proj/dup", 6)

	// EventBridge delivers the same schedule event twice, one after the other.
	for range 2 {
		if _, err := e.p.Run(ctx, "event-1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(e.live("proj/dup")); got != 6 {
		t.Fatalf("duplicate invocation: %d instances, want 6", got)
	}

	// Two different invocations at once: one runs, the other exits.
	e.demand.set("proj/dup", 10)
	var wg sync.WaitGroup
	reports := make([]*Report, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Two Lambda instances: the same configuration, each its own process state.
			p := &Provisioner{Store: e.p.Store, Cloud: e.p.Cloud, Demand: e.p.Demand, Config: e.p.Config, Log: e.p.Log}
			r, err := p.Run(ctx, NewIterationID())
			if err != nil {
				t.Error(err)
			}
			reports[i] = r
		}()
	}
	wg.Wait()
	skipped := 0
	for _, r := range reports {
		if r != nil && r.Skipped {
			skipped++
		}
	}
	if got := len(e.live("proj/dup")); got != 10 {
		t.Errorf("overlapping invocations: %d instances, want 10 (skipped: %d)", got, skipped)
	}
	e.checkNoLeak()
}

func TestThrottlingBacksTheRegionOff(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/throttle", 0, 5)
	e.demand.set("proj/throttle", 2)
	if err := e.cloud.SetErrorRates(0, 0, 1); err != nil {
		t.Fatal(err)
	}
	rep := e.iterate()
	if got := len(e.live("proj/throttle")); got != 0 {
		t.Fatalf("%d instances launched while every call is throttled", got)
	}
	if len(rep.Problems) == 0 || !strings.Contains(strings.Join(rep.Problems, " "), "RequestLimitExceeded") {
		t.Errorf("problems %v; want the throttling reported", rep.Problems)
	}
	bs, _ := e.store.Backoffs(ctx)
	found := false
	for _, b := range bs {
		found = found || b.Scope == regionScope("us-east-1")
	}
	if !found {
		t.Errorf("backoffs %+v; want us-east-1 backed off", bs)
	}
	if err := e.cloud.SetErrorRates(0, 0, 0); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(cloud.RateLimitBackoff + time.Second)
	e.iterate()
	if got := len(e.live("proj/throttle")); got != 2 {
		t.Errorf("after the backoff: %d instances, want 2", got)
	}
	e.checkNoLeak()
}

// meddlingDB is the real DynamoDB Local with a concurrent writer: before a share of
// the versioned worker updates, it updates the same record itself, so the update's
// condition genuinely fails and the store must retry.
type meddlingDB struct {
	store.DB
	table string
	mu    sync.Mutex
	rng   *rand.Rand
	hits  int
}

func (m *meddlingDB) PutItem(c context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	m.mu.Lock()
	meddle := aws.ToString(in.TableName) == m.table && in.ConditionExpression != nil &&
		strings.Contains(*in.ConditionExpression, "#v = :v") && m.rng.Float64() < 0.4
	if meddle {
		m.hits++
	}
	m.mu.Unlock()
	if meddle {
		if _, err := m.DB.UpdateItem(c, &dynamodb.UpdateItemInput{
			TableName:                 in.TableName,
			Key:                       map[string]types.AttributeValue{"pool": in.Item["pool"], "worker": in.Item["worker"]},
			UpdateExpression:          aws.String("ADD #v :one"),
			ExpressionAttributeNames:  map[string]string{"#v": "version"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
		}); err != nil {
			return nil, err
		}
	}
	return m.DB.PutItem(c, in, o...)
}

func TestConditionalFailuresLoseNothing(t *testing.T) {
	e := newEnv(t)
	tables := e.store.Tables()
	m := &meddlingDB{DB: storetest.DB(t), table: tables.Workers, rng: rand.New(rand.NewPCG(3, 4))}
	s := store.New(m, tables, storetest.Key(t), store.WithClock(e.clock.Now))
	e.store, e.p.Store = s, s
	e.awsPool("proj/meddle", 1, 6)

	for step := range 8 {
		e.demand.set("proj/meddle", int64(step%4*2))
		e.iterate()
		if got := len(e.live("proj/meddle")); got > 6 {
			t.Fatalf("step %d: %d instances exceed maxCapacity 6", step, got)
		}
		e.advance(40 * time.Second)
		e.register("proj/meddle", 2)
		if step%3 == 2 {
			for _, inst := range e.live("proj/meddle")[:1] {
				if err := e.cloud.Shutdown(inst.ID); err != nil && !errors.Is(err, context.Canceled) {
					t.Fatal(err)
				}
			}
		}
		e.clock.Advance(11 * time.Minute) // unregistered ones get reaped
	}
	if m.hits == 0 {
		t.Fatal("the meddler never interfered; the test proves nothing")
	}
	e.advance(time.Minute)
	e.iterate()
	e.checkNoLeak()
}
