package provision

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

func TestDemandMetWithinOneIterationAndNeverAboveMax(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/ci", 0, 10)
	e.demand.set("proj/ci", 7)

	rep := e.iterate()
	if got := len(e.live("proj/ci")); got != 7 {
		t.Fatalf("after one iteration with 7 pending tasks: %d instances, want 7\n%s", got, rep.Pools[0].Line())
	}
	ws := e.workers("proj/ci")
	if len(ws) != 7 {
		t.Fatalf("%d worker records, want 7", len(ws))
	}
	for _, w := range ws {
		if w.State != store.Requested || w.InstanceID == "" || w.WorkerGroup != "aws" || w.Region != "us-east-1" || w.WorkerID != w.InstanceID ||
			w.RegistrationDeadline.IsZero() || w.ImageID == "" || w.AccountID == "" || w.AvailabilityZone == "" || w.ProviderID != "aws" {
			t.Errorf("record does not hold what registration verifies: %+v", w)
		}
	}

	// A second iteration with the same demand adds nothing: requested capacity counts.
	e.iterate()
	if got := len(e.live("proj/ci")); got != 7 {
		t.Errorf("second iteration: %d instances, want still 7", got)
	}

	// Far more demand than maxCapacity: exactly maxCapacity, over several iterations.
	e.demand.set("proj/ci", 100)
	for range 3 {
		e.iterate()
		e.advance(10 * time.Second)
		if got := len(e.live("proj/ci")); got > 10 {
			t.Fatalf("%d instances exceed maxCapacity 10", got)
		}
	}
	if got := len(e.live("proj/ci")); got != 10 {
		t.Errorf("with 100 pending: %d instances, want maxCapacity 10", got)
	}
	e.checkNoLeak()
	if c, err := e.store.LastCheckIn(ctx); err != nil || c.Outcome != "ok" {
		t.Errorf("check-in: %+v, %v", c, err)
	}
}

func TestMinCapacityKept(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/min", 3, 5)
	e.iterate()
	if got := len(e.live("proj/min")); got != 3 {
		t.Fatalf("no demand, minCapacity 3: %d instances", got)
	}
	e.advance(time.Minute)
	e.register("proj/min", 3)
	// One worker finishes and shuts itself down. EC2's state changes reach the
	// records through the provisioner's listing, not ec2-events.
	victim := e.live("proj/min")[0].ID
	if err := e.cloud.Shutdown(victim); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute)
	if w, _ := e.store.WorkerByInstance(ctx, victim); w.State != store.Running {
		t.Fatalf("before the iteration the shut-down worker's record is %s, want running (ec2-events leaves state changes to the provisioner)", w.State)
	}
	var published recorder
	e.p.Events = &published
	e.iterate()
	if got := len(e.live("proj/min")); got != 3 {
		t.Errorf("after one worker left: %d instances, want minCapacity 3 again", got)
	}
	w, _ := e.store.WorkerByInstance(ctx, victim)
	if w.State != store.Stopped || w.EC2State != "terminated" || w.StopReason != store.ReasonGone {
		t.Errorf("after the iteration the shut-down worker's record is %s (EC2 %s, %q), want stopped, terminated, %q", w.State, w.EC2State, w.StopReason, store.ReasonGone)
	}
	if got := published.names(); !slices.Contains(got, announce.WorkerStopped) {
		t.Errorf("published %v, want a workerStopped", got)
	}
}

// recorder is an announce.Publisher that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []announce.Event
}

func (r *recorder) Publish(_ context.Context, events ...announce.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, events...)
	return nil
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Name)
	}
	return out
}

func TestWorkerTypeLaunchCarriesItsOneTimeSecret(t *testing.T) {
	e := newEnv(t)
	e.createWorkerType("gecko-b", 5)
	e.demand.set("aws-provisioner-v1/gecko-b", 2)
	e.iterate()
	insts := e.live("wt:gecko-b")
	if len(insts) != 2 {
		t.Fatalf("%d instances, want 2", len(insts))
	}
	tokens := map[string]bool{}
	for _, inst := range insts {
		raw, err := e.cloud.UserData(inst.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ud struct {
			SecurityToken, WorkerType, ProvisionerID, Region string
			Data                                             map[string]any
		}
		if err := json.Unmarshal(raw, &ud); err != nil {
			t.Fatalf("user data is not JSON: %s", raw)
		}
		if ud.WorkerType != "gecko-b" || ud.ProvisionerID != "aws-provisioner-v1" || ud.Region != "us-east-1" || ud.Data["dockerConfig"] == nil {
			t.Errorf("user data %s", raw)
		}
		tokens[ud.SecurityToken] = true
		sec, err := e.store.Secret(ctx, ud.SecurityToken)
		if err != nil {
			t.Fatalf("the instance's token has no secret: %v", err)
		}
		var data map[string]string
		_ = json.Unmarshal(sec.Secrets, &data)
		if data["token"] != "s3cr3t" || data["region"] != "use1" || !strings.Contains(strings.Join(sec.Scopes, " "), "docker-worker:cache:*") {
			t.Errorf("secret %s scopes %v: want the merged secrets and scopes", sec.Secrets, sec.Scopes)
		}
		w, _ := e.store.WorkerByInstance(ctx, inst.ID)
		sum := sha256.Sum256([]byte(ud.SecurityToken))
		if !bytes.Equal(w.SecretTokenHash, sum[:]) || w.ProviderID != WorkerTypeProvider {
			t.Errorf("record %s does not hold the token's hash", w.Key)
		}
	}
	if len(tokens) != 2 {
		t.Errorf("instances share secret tokens: %v", tokens)
	}
}

func TestRemovedWorkerTypeIsEmptied(t *testing.T) {
	e := newEnv(t)
	e.createWorkerType("doomed", 5)
	e.demand.set("aws-provisioner-v1/doomed", 3)
	e.iterate()
	if len(e.live("wt:doomed")) != 3 {
		t.Fatal("setup: want 3 instances")
	}
	if _, err := e.store.DeleteWorkerType(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	rep := e.iterate()
	if got := len(e.live("wt:doomed")); got != 0 {
		t.Errorf("after removal: %d instances still running", got)
	}
	if rep.Terminated != 3 {
		t.Errorf("report says %d terminated, want 3", rep.Terminated)
	}
	for _, w := range e.workers("wt:doomed") {
		if w.State.Alive() || w.StopReason != ReasonTargetGone {
			t.Errorf("record %s: %s (%q)", w.Key, w.State, w.StopReason)
		}
	}
}

// deletePool does what deleteWorkerPool does: the pool's provider becomes
// null-provider.
func (e *env) deletePool(id string) {
	e.t.Helper()
	if _, err := e.store.UpdateWorkerPool(ctx, id, func(p *store.WorkerPool) error {
		p.PreviousProviderIDs = append(p.PreviousProviderIDs, p.ProviderID)
		p.ProviderID = pool.NullProviderID
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// workerExits is a worker finishing and shutting its instance down, as a worker
// does when it is idle or its credentials run out.
func (e *env) workerExits(inst cloud.Instance) {
	e.t.Helper()
	if err := e.set.Terminate(ctx, inst.Region, []string{inst.ID}); err != nil {
		e.t.Fatal(err)
	}
}

// TestDeletedPoolLetsWorkersFinish: as in v25 (and the worker-manager seed),
// deleteWorkerPool stops launching but leaves the pool's workers running until they
// exit; the pool is removed only once they are all gone.
func TestDeletedPoolLetsWorkersFinish(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/gone", 0, 4)
	e.demand.set("proj/gone", 2)
	e.iterate()
	e.advance(time.Minute)
	e.register("proj/gone", 2)
	e.deletePool("proj/gone")
	e.demand.set("proj/gone", 5) // demand no longer matters

	rep := e.iterate()
	if line := rep.Pools[0].Line(); rep.Pools[0].Running != 2 || !strings.Contains(line, "deleted; waiting for 2 workers") {
		t.Errorf("report of the deleted pool: %q; want its 2 running workers and what it waits for", line)
	}
	e.advance(time.Minute)
	live := e.live("proj/gone")
	if len(live) != 2 || len(e.cloud.AllInstances()) != 2 {
		t.Fatalf("after deletion: %d live of %d instances; want the 2 workers left running and nothing launched", len(live), len(e.cloud.AllInstances()))
	}
	e.workerExits(live[0])
	e.advance(time.Minute)
	e.iterate()
	if _, err := e.store.WorkerPool(ctx, "proj/gone"); err != nil {
		t.Fatalf("pool removed while a worker still runs: %v", err)
	}
	if got := len(e.live("proj/gone")); got != 1 {
		t.Fatalf("%d workers left running, want 1", got)
	}
	e.workerExits(live[1])
	e.advance(time.Minute) // the instance terminates; EC2's event stops the record
	e.iterate()
	if _, err := e.store.WorkerPool(ctx, "proj/gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pool still there after its workers exited: %v", err)
	}
	for _, w := range e.workers("proj/gone") {
		switch w.StopReason {
		case ReasonRegistrationTimeout, ReasonLifetime, ReasonTargetGone, ReasonOrphan:
			t.Errorf("worker %s was stopped by the provisioner (%q); it should have exited on its own", w.WorkerID, w.StopReason)
		}
	}
}

// TestDeletedPoolWorkersStopAtLifecycleLimits: a deleted pool's workers that never
// exit are stopped at their lifecycle limits, as any worker is (v25's worker-scanner
// terminates past terminateAfter), and the pool goes after them.
func TestDeletedPoolWorkersStopAtLifecycleLimits(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/gone", 0, 4)
	e.demand.set("proj/gone", 3)
	e.iterate()
	e.advance(time.Minute)
	e.register("proj/gone", 1) // its credentials last an hour; the other two never register
	e.deletePool("proj/gone")
	e.iterate()
	if got := len(e.live("proj/gone")); got != 3 {
		t.Fatalf("right after deletion %d of 3 workers live", got)
	}

	e.advance(10 * time.Minute) // past registrationTimeout (600s)
	e.iterate()
	reasons := map[string]int{}
	for _, w := range e.workers("proj/gone") {
		reasons[w.StopReason]++
	}
	if reasons[ReasonRegistrationTimeout] != 2 || reasons[""] != 1 {
		t.Errorf("past the registration timeout, stop reasons %v; want 2 x %q and the registered worker running", reasons, ReasonRegistrationTimeout)
	}
	e.advance(time.Minute)
	e.iterate()
	if _, err := e.store.WorkerPool(ctx, "proj/gone"); err != nil {
		t.Fatalf("pool removed while its registered worker runs: %v", err)
	}

	e.advance(time.Hour) // past the registered worker's credentials
	e.iterate()
	e.advance(time.Minute)
	e.iterate()
	for _, w := range e.workers("proj/gone") {
		if w.State != store.Stopped {
			t.Errorf("worker %s is %s past its lifetime", w.WorkerID, w.State)
		}
		if w.Registered.IsZero() != (w.StopReason == ReasonRegistrationTimeout) {
			t.Errorf("worker %s stopped with %q", w.WorkerID, w.StopReason)
		}
	}
	if _, err := e.store.WorkerPool(ctx, "proj/gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pool still there after its workers stopped: %v", err)
	}
}

// TestProviderChangeKeepsRunningWorkers: changing a pool's provider, as in v25,
// launches new workers with the new provider while the old provider's keep running,
// counting towards the pool's capacity, until they exit.
func TestProviderChangeKeepsRunningWorkers(t *testing.T) {
	e := newEnv(t)
	e.p.Config.Providers = pool.MustParseProviders(`{"aws": {"providerType": "aws"}, "aws-b": {"providerType": "aws"}}`)
	e.awsPool("proj/move", 0, 3)
	e.demand.set("proj/move", 2)
	e.iterate()
	e.advance(time.Minute)
	e.register("proj/move", 2)
	if _, err := e.store.UpdateWorkerPool(ctx, "proj/move", func(p *store.WorkerPool) error {
		p.PreviousProviderIDs, p.ProviderID = []string{"aws"}, "aws-b"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.demand.set("proj/move", 0)
	e.iterate()
	if got := len(e.live("proj/move")); got != 2 {
		t.Fatalf("after the provider change %d live; want the 2 old workers still running", got)
	}
	e.demand.set("proj/move", 2)
	e.iterate()
	byProvider := map[string]int{}
	for _, w := range e.workers("proj/move") {
		if w.State.Alive() {
			byProvider[w.ProviderID]++
		}
	}
	if byProvider["aws"] != 2 || byProvider["aws-b"] != 1 {
		t.Errorf("live workers by provider %v; want the 2 of aws still running and 1 new of aws-b (maxCapacity 3)", byProvider)
	}
}

func TestUnregisteredAndExpiredWorkersAreReaped(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/reap", 0, 10)
	e.demand.set("proj/reap", 3)
	e.iterate()
	e.demand.set("proj/reap", 0)
	e.advance(time.Minute)
	e.register("proj/reap", 1) // one registers; two never do

	e.clock.Advance(11 * time.Minute) // past registrationTimeout (600s)
	e.iterate()
	var running, reaped int
	for _, w := range e.workers("proj/reap") {
		switch {
		case w.State == store.Running:
			running++
		case w.StopReason == ReasonRegistrationTimeout:
			reaped++
		}
	}
	if running != 1 || reaped != 2 {
		t.Errorf("after the registration timeout: %d running, %d reaped; want 1 and 2", running, reaped)
	}

	e.clock.Advance(2 * time.Hour) // past the registered worker's lifetime
	e.iterate()
	for _, w := range e.workers("proj/reap") {
		if w.State.Alive() {
			t.Errorf("worker %s still %s past its lifetime", w.Key, w.State)
		}
	}
	if got := len(e.live("proj/reap")); got != 0 {
		t.Errorf("%d instances still running", got)
	}
}

// TestStaleReadNeverKillsAHealthyWorker: a worker that registers after the iteration
// read it (due for the registration timeout) but before the termination is carried
// out is left alone.
func TestStaleReadNeverKillsAHealthyWorker(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/race", 0, 10)
	e.demand.set("proj/race", 1)
	e.iterate()
	e.clock.Advance(11 * time.Minute)
	stale := e.workers("proj/race")[0] // read while requested and overdue
	e.register("proj/race", 1)         // ... then it registers

	it := &iteration{p: e.p, id: "x", now: e.clock.Now(), rep: &Report{}}
	target := &target{key: "proj/race", kind: kindPool, providerID: "aws"}
	reason, due := it.stopDue(target, stale)
	if reason != ReasonRegistrationTimeout {
		t.Fatalf("setup: the stale read should look overdue, got %q", reason)
	}
	updated, stopped, err := it.stopWorker(ctx, stale, reason, due)
	if err != nil || stopped || updated.State != store.Running {
		t.Errorf("stopWorker on a stale read: stopped %v, state %s, %v; want the running worker left alone", stopped, updated.State, err)
	}
}

func TestOrphansAreTerminatedAndForeignInstancesLeftAlone(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/o", 0, 10)
	launch := func(set cloud.InstanceSet, pool, token string) string {
		insts, err := set.Launch(ctx, cloud.LaunchRequest{Region: "us-east-1", InstanceType: "m5.large", ImageID: "ami-0123456789abcdef0", Count: 1, ClientToken: token, Tags: map[string]string{cloud.TagPool: pool}})
		if err != nil {
			t.Fatal(err)
		}
		return insts[0].ID
	}
	orphan := launch(e.set, "proj/o", "orphan-1")
	foreign := launch(e.cloud.InstanceSet("someone-else"), "proj/o", "foreign-1")
	rep := e.iterate()
	if inst, _ := e.cloud.Instance(orphan); inst.State != cloud.StateShuttingDown {
		t.Errorf("orphan is %s, want shutting-down", inst.State)
	}
	if inst, _ := e.cloud.Instance(foreign); inst.State != cloud.StatePending {
		t.Errorf("another deployment's instance is %s: it must never be touched", inst.State)
	}
	if rep.Pools[0].Terminated != 1 || rep.Orphans != 0 {
		t.Errorf("report: %+v, orphans %d", rep.Pools[0], rep.Orphans)
	}
	// An instance of a pool nobody defines is an orphan of the iteration, not a pool's.
	stray := launch(e.set, "proj/never-defined", "orphan-2")
	rep = e.iterate()
	if inst, _ := e.cloud.Instance(stray); inst.State != cloud.StateShuttingDown {
		t.Errorf("stray instance is %s, want shutting-down", inst.State)
	}
	if rep.Orphans != 1 || rep.Terminated != 1 {
		t.Errorf("report: terminated %d, orphans %d; want 1 and 1", rep.Terminated, rep.Orphans)
	}
}

func TestCapacityErrorMovesTheNextLaunchToAnotherOption(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/cap", 0, 10)
	// Make m5.large the cheapest everywhere, then take away its capacity.
	for _, az := range e.cloud.AvailabilityZones("us-east-1") {
		if err := e.cloud.SetSpotPrice(az, "m5.large", 0.01); err != nil {
			t.Fatal(err)
		}
		if err := e.cloud.SetSpotPrice(az, "c5.large", 0.05); err != nil {
			t.Fatal(err)
		}
		if err := e.cloud.SetCapacity(az, "m5.large", 0); err != nil {
			t.Fatal(err)
		}
	}
	e.demand.set("proj/cap", 2)
	rep := e.iterate()
	insts := e.live("proj/cap")
	if len(insts) != 2 {
		t.Fatalf("%d instances, want 2 on the other option\n%s", len(insts), rep.Pools[0].Line())
	}
	for _, inst := range insts {
		if inst.InstanceType != "c5.large" {
			t.Errorf("launched %s, want c5.large after m5.large had no capacity", inst.InstanceType)
		}
	}
	scopes, err := e.store.Backoffs(ctx)
	if err != nil || len(scopes) == 0 || !strings.HasPrefix(scopes[0].Scope, "capacity/us-east-1/") || !strings.HasSuffix(scopes[0].Scope, "/m5.large") {
		t.Errorf("backoffs %+v, %v; want a capacity backoff for m5.large", scopes, err)
	}
	// The backoff persists: the next iteration does not try m5.large at all.
	e.cloud.ResetCalls()
	e.demand.set("proj/cap", 3)
	e.iterate()
	if calls := e.cloud.Calls()["RunInstances"]; calls != 1 {
		t.Errorf("next iteration made %d RunInstances calls, want 1 (straight to c5.large)", calls)
	}
}

func TestDemandFailureIsAPoolErrorNotACrash(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/bad", 1, 3)
	e.awsPool("proj/good", 0, 3)
	e.demand.fail["proj/bad"] = errors.New("queue unavailable")
	e.demand.set("proj/good", 2)
	rep := e.iterate()
	if got := len(e.live("proj/good")); got != 2 {
		t.Errorf("the healthy pool got %d instances, want 2", got)
	}
	if got := len(e.live("proj/bad")); got != 1 {
		t.Errorf("the failing pool got %d instances, want its minCapacity 1", got)
	}
	errs, _, err := e.store.ListErrors(ctx, "proj/bad", store.Page{})
	if err != nil || len(errs) != 1 || errs[0].Kind != KindDemand || !strings.Contains(errs[0].Description, "queue unavailable") {
		t.Fatalf("pool errors %+v, %v", errs, err)
	}
	// Repeated every iteration, it is listed once (per backoff period).
	e.iterate()
	errs, _, _ = e.store.ListErrors(ctx, "proj/bad", store.Page{})
	if len(errs) != 1 {
		t.Errorf("%d errors after two failing iterations, want 1", len(errs))
	}
	if !strings.Contains(strings.Join(rep.Pools[0].Errors, " "), "Pending tasks") {
		t.Errorf("report: %+v", rep.Pools)
	}
}

func TestConfigErrorsBecomePoolErrors(t *testing.T) {
	e := newEnv(t)
	e.createPool("proj/badami", "aws", `{"minCapacity":1,"maxCapacity":2,"launchConfigs":[
		{"region":"us-east-1","capacityPerInstance":1,"launchConfig":{"ImageId":"not-an-ami","InstanceType":"m5.large"}}]}`)
	e.iterate()
	errs, _, _ := e.store.ListErrors(ctx, "proj/badami", store.Page{})
	if len(errs) != 1 || errs[0].Kind != KindConfig || !strings.Contains(errs[0].Description, "InvalidAMIID") {
		t.Fatalf("errors %+v; want one launch-config-rejected naming InvalidAMIID", errs)
	}
	e.iterate() // backed off: no second attempt, no second error
	errs, _, _ = e.store.ListErrors(ctx, "proj/badami", store.Page{})
	if len(errs) != 1 {
		t.Errorf("%d errors after a second iteration, want 1 (the option is backed off)", len(errs))
	}
}

func TestLostEventsAreReconciled(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/lost", 0, 5)
	e.demand.set("proj/lost", 1)
	e.iterate()
	e.cloud.SetEventSink(nil) // EC2 events are lost from here on
	e.advance(time.Minute)
	inst := e.live("proj/lost")[0]
	if err := e.cloud.Shutdown(inst.ID); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Minute)
	e.demand.set("proj/lost", 0)
	e.iterate()
	w, _ := e.store.WorkerByInstance(ctx, inst.ID)
	if w.State != store.Stopped || w.EC2State != cloud.StateTerminated {
		t.Errorf("without events: state %s, ec2 %s; want the listing to stop it", w.State, w.EC2State)
	}
}

func TestInterruptedCapacityIsReplacedWithinMax(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/spot", 0, 3)
	e.demand.set("proj/spot", 2)
	e.iterate()
	e.advance(time.Minute)
	e.register("proj/spot", 2)
	victim := e.live("proj/spot")[0].ID
	if err := e.cloud.Interrupt(victim); err != nil {
		t.Fatal(err)
	}
	if w, _ := e.store.WorkerByInstance(ctx, victim); !w.Interrupted() {
		t.Fatal("the interruption warning was not recorded")
	}
	e.demand.set("proj/spot", 2) // both still busy: their tasks need a home
	e.iterate()
	if got := len(e.live("proj/spot")); got != 3 {
		t.Errorf("%d instances, want the interrupted one replaced (3, within maxCapacity 3)", got)
	}
}

func TestUserDataNamesThePool(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/ud", 1, 1)
	e.iterate()
	inst := e.live("proj/ud")[0]
	raw, _ := e.cloud.UserData(inst.ID)
	var ud map[string]any
	if err := json.Unmarshal(raw, &ud); err != nil {
		t.Fatalf("user data %q: %v", raw, err)
	}
	// v25's aws provider: workerGroup is the providerId.
	want := map[string]any{"rootUrl": "https://tc.example.com", "workerPoolId": "proj/ud", "providerId": "aws", "workerGroup": "aws"}
	for k, v := range want {
		if ud[k] != v {
			t.Errorf("user data %s = %v, want %v", k, ud[k], v)
		}
	}
	_ = base64.StdEncoding
}

// TestLargeRequestsSpreadAcrossZones: a request of many instances is not bet on one
// zone; options (here: zones of one type) priced within 20% of the cheapest share it.
func TestLargeRequestsSpreadAcrossZones(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/spread", 0, 20)
	zones := e.cloud.AvailabilityZones("us-east-1")
	for i, az := range zones {
		if err := e.cloud.SetSpotPrice(az, "c5.large", 0.030+0.001*float64(i)); err != nil {
			t.Fatal(err)
		}
		if err := e.cloud.SetSpotPrice(az, "m5.large", 0.09); err != nil {
			t.Fatal(err)
		}
	}
	e.demand.set("proj/spread", 9)
	e.iterate()
	byZone := map[string]int{}
	for _, inst := range e.live("proj/spread") {
		byZone[inst.AvailabilityZone]++
	}
	if len(byZone) != len(zones) || byZone[zones[0]] != 3 {
		t.Errorf("9 instances over zones %v; want 3 in each of %v", byZone, zones)
	}
	// A small request goes to the cheapest zone alone.
	e2 := newEnv(t)
	e2.awsPool("proj/small", 0, 20)
	for i, az := range zones {
		_ = e2.cloud.SetSpotPrice(az, "c5.large", 0.030+0.001*float64(i))
		_ = e2.cloud.SetSpotPrice(az, "m5.large", 0.09)
	}
	e2.demand.set("proj/small", 2)
	e2.iterate()
	for _, inst := range e2.live("proj/small") {
		if inst.AvailabilityZone != zones[0] {
			t.Errorf("a 2-instance request went to %s, not the cheapest zone %s", inst.AvailabilityZone, zones[0])
		}
	}
}

// TestWorkerTypeBidsAsTheAWSProvisioner: a worker type's spot request bids twice the
// spot price (rounded up to a millionth) and its user data carries that as spotBid
// and the price per unit of utility as price, as the aws-provisioner's
// determineSpotBids and createLaunchSpec did.
func TestWorkerTypeBidsAsTheAWSProvisioner(t *testing.T) {
	e := newEnv(t)
	e.createWorkerType("bidder", 1)
	e.demand.set(pool.ProvisionerID+"/bidder", 1)
	e.iterate()
	live := e.live("wt:bidder")
	if len(live) != 1 {
		t.Fatalf("%d instances, want 1", len(live))
	}
	w := e.workers("wt:bidder")[0]
	in, err := e.cloud.RunInstancesInput(live[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	wantBid := math.Ceil(2*w.Price*1e6) / 1e6
	if in.InstanceMarketOptions == nil || in.InstanceMarketOptions.SpotOptions == nil ||
		*in.InstanceMarketOptions.SpotOptions.MaxPrice != strconv.FormatFloat(wantBid, 'f', -1, 64) {
		t.Errorf("spot options %+v, want MaxPrice %v (twice the spot price %v)", in.InstanceMarketOptions, wantBid, w.Price)
	}
	raw, _ := e.cloud.UserData(live[0].ID)
	var ud struct{ SpotBid, Price float64 }
	if err := json.Unmarshal(raw, &ud); err != nil {
		t.Fatal(err)
	}
	if ud.SpotBid != wantBid || ud.Price != w.Price { // utility 1
		t.Errorf("user data spotBid %v, price %v; want %v, %v", ud.SpotBid, ud.Price, wantBid, w.Price)
	}
}

// TestLaunchConfigWeightsAndLimits: today's workerManager settings of a launch
// config. maxCapacity bounds its live capacity (instances times
// capacityPerInstance), initialWeight 0 (or maxCapacity 0) keeps it unused, and a
// weight above 0 does not change its price: the choice stays by price.
func TestLaunchConfigWeightsAndLimits(t *testing.T) {
	e := newEnv(t)
	e.createPool("proj/wm", "aws", `{"minCapacity": 0, "maxCapacity": 10, "launchConfigs": [
	  {"region": "us-east-1", "workerManager": {"capacityPerInstance": 2, "maxCapacity": 4},
	   "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large", "InstanceMarketOptions": {"MarketType": "spot"}}},
	  {"region": "us-east-1", "workerManager": {"capacityPerInstance": 1, "initialWeight": 0},
	   "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.xlarge", "InstanceMarketOptions": {"MarketType": "spot"}}},
	  {"region": "us-east-1", "workerManager": {"capacityPerInstance": 1, "initialWeight": 0.001},
	   "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "c5.large", "InstanceMarketOptions": {"MarketType": "spot"}}}]}`)
	e.demand.set("proj/wm", 6)
	e.iterate()
	byType := map[string]int{}
	for _, i := range e.live("proj/wm") {
		byType[i.InstanceType]++
	}
	// m5.large (2 tasks an instance) up to its maxCapacity of 4 capacity: 2
	// instances; the other 2 tasks go to c5.large whatever its tiny weight; never
	// m5.xlarge (initialWeight 0), however cheap.
	if byType["m5.large"] != 2 || byType["c5.large"] != 2 || byType["m5.xlarge"] != 0 {
		t.Errorf("instances by type %v; want 2 m5.large (maxCapacity 4 at 2 each), 2 c5.large, no m5.xlarge (initialWeight 0)", byType)
	}
}

// poolMail records the emails the provisioner sends.
type poolMail struct{ to, subjects []string }

func (m *poolMail) Email(_ context.Context, address, subject, _ string) error {
	m.to, m.subjects = append(m.to, address), append(m.subjects, subject)
	return nil
}

// TestEmailOnErrorMailsProvisioningErrors: an error the provisioner records for a
// pool with emailOnError is mailed to its owner, once per recorded error; pools
// without it get no email.
func TestEmailOnErrorMailsProvisioningErrors(t *testing.T) {
	e := newEnv(t)
	mail := &poolMail{}
	e.p.Mailer = mail
	bad := `{"minCapacity":1,"maxCapacity":2,"launchConfigs":[
		{"region":"us-east-1","capacityPerInstance":1,"launchConfig":{"ImageId":"not-an-ami","InstanceType":"m5.large"}}]}`
	loud := e.createPool("proj/loud", "aws", bad)
	e.createPool("proj/quiet", "aws", bad)
	if _, err := e.store.UpdateWorkerPool(ctx, loud.WorkerPoolID, func(p *store.WorkerPool) error { p.EmailOnError = true; return nil }); err != nil {
		t.Fatal(err)
	}
	e.iterate()
	e.iterate() // backed off: no second error, no second email
	if len(mail.to) != 1 || mail.to[0] != "me@example.com" || !strings.HasPrefix(mail.subjects[0], "Taskcluster Worker Manager Error: ") {
		t.Errorf("emails to %v with subjects %v; want one to the loud pool's owner", mail.to, mail.subjects)
	}
}

// TestWorkerMissingFromTheLiveIndexIsNotAnOrphan: the live index the provisioner
// reads is eventually consistent, and records written before it existed are not in
// it. An instance whose record is missing from it is confirmed by a consistent read
// before it is terminated as an orphan: it keeps running, counts as capacity, and
// its record joins the index.
func TestWorkerMissingFromTheLiveIndexIsNotAnOrphan(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/lag", 0, 10)
	e.demand.set("proj/lag", 2)
	if rep := e.iterate(); rep.Launched != 2 {
		t.Fatalf("first iteration launched %d, want 2", rep.Launched)
	}
	e.advance(time.Minute) // the instances run (their events rewrite the records)

	// One record as an older version wrote it: no livePool, so the index lacks it.
	w := e.workers("proj/lag")[0]
	w.LivePool = ""
	item, err := attributevalue.MarshalMap(w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DB().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.store.Tables().Workers), Item: item}); err != nil {
		t.Fatal(err)
	}
	if live, _ := e.store.LiveWorkers(ctx, "proj/lag"); len(live) != 1 {
		t.Fatalf("setup: %d live workers listed, want 1 (one record outside the index)", len(live))
	}

	rep := e.iterate()
	if inst, _ := e.cloud.Instance(w.InstanceID); inst.State != cloud.StateRunning {
		t.Errorf("the instance of the record outside the index is %s, want running", inst.State)
	}
	if rep.Terminated != 0 || rep.Launched != 0 {
		t.Errorf("second iteration terminated %d and launched %d; want 0 and 0 (the record counts)", rep.Terminated, rep.Launched)
	}
	live, err := e.store.LiveWorkers(ctx, "proj/lag")
	if err != nil || len(live) != 2 {
		t.Errorf("after the iteration: %d live workers listed, %v; want 2", len(live), err)
	}
	e.checkNoLeak()
}

// TestRecordsFromBeforeTheLiveIndexAreReconciled: a process's first iteration adds
// the records written before the live index to it, so one whose instance is gone
// is still found and stopped.
func TestRecordsFromBeforeTheLiveIndexAreReconciled(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/old", 0, 10)
	created := e.clock.Now().Add(-time.Hour)
	w := store.Worker{Pool: "proj/old", Key: store.WorkerKey("aws", "i-0000000000000dead"), WorkerGroup: "aws", WorkerID: "i-0000000000000dead",
		ProviderID: "aws", State: store.Running, Created: created, LastModified: created, LastChecked: created,
		Expires: e.clock.Now().Add(time.Hour), InstanceID: "i-0000000000000dead", Region: "us-east-1", Version: 2}
	item, err := attributevalue.MarshalMap(w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DB().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(e.store.Tables().Workers), Item: item}); err != nil {
		t.Fatal(err)
	}
	e.iterate()
	got, err := e.store.WorkerByKey(ctx, w.Pool, w.Key)
	if err != nil || got.State != store.Stopped || got.StopReason != ReasonNotListed {
		t.Errorf("record from before the index: state %s (%q), %v; want stopped: %s", got.State, got.StopReason, err, ReasonNotListed)
	}
}
