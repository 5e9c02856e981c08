package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
	"github.com/workerfleet/workerfleet/shared/dev/iamguard"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/ec2events"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var (
	ctx   = context.Background()
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	t0    = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
)

// demandStub answers pending-task questions from a map, keyed provisionerId/workerType
// (or the SQS URL).
type demandStub struct {
	mu      sync.Mutex
	pending map[string]int64
	fail    map[string]error
}

func (d *demandStub) key(q demand.Query) string {
	if q.SQSQueueURL != "" {
		return q.SQSQueueURL
	}
	return q.ProvisionerID + "/" + q.WorkerType
}

func (d *demandStub) Pending(_ context.Context, q demand.Query) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.fail[d.key(q)]; err != nil {
		return 0, err
	}
	return d.pending[d.key(q)], nil
}

func (d *demandStub) set(key string, n int64) {
	d.mu.Lock()
	d.pending[key] = n
	d.mu.Unlock()
}

// env is a provisioner over DynamoDB Local and the fake cloud, whose EC2 events reach
// the worker records through the ec2-events handler, as in a deployment.
type env struct {
	t      testing.TB
	clock  *fakecloud.ManualClock
	cloud  *fakecloud.Cloud
	set    cloud.InstanceSet
	store  *store.Store
	demand *demandStub
	p      *Provisioner
}

func newEnv(t testing.TB, tweak ...func(*fakecloud.Config)) *env {
	t.Helper()
	clock := fakecloud.NewManualClock(t0)
	cfg := fakecloud.DefaultConfig()
	cfg.Seed = 7
	cfg.BootDelay = fakecloud.Duration(30 * time.Second)
	cfg.ShutdownDelay = fakecloud.Duration(20 * time.Second)
	cfg.PriceVolatility = 0
	cfg.SpotInterruptionRate = 0
	cfg.Regions = []string{"us-east-1", "us-west-2"}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := fakecloud.New(cfg, fakecloud.WithClock(clock.Now), fakecloud.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	// The provisioner's and the ec2-events handler's DynamoDB calls are held to
	// their functions' policies in template.yaml, as IAM holds them deployed.
	db, tables, key := storetest.DB(t), storetest.Tables(t), storetest.Key(t)
	guard := func(fn string) store.DB {
		return iamguard.Wrap(db, storetest.Template().Functions[fn], tables.ByLogicalID())
	}
	s := store.New(db, tables, key, store.WithClock(clock.Now)) // the tests' own: setting up and looking
	events := &ec2events.Handler{Store: store.New(guard("Ec2EventsFunction"), tables, key, store.WithClock(clock.Now)), Log: quiet}
	c.SetEventSink(func(ctx context.Context, raw json.RawMessage) {
		if err := events.HandleRaw(ctx, raw); err != nil {
			t.Errorf("ec2 event: %v", err)
		}
	})
	e := &env{t: t, clock: clock, cloud: c, set: c.InstanceSet("deployment-a"), store: s, demand: &demandStub{pending: map[string]int64{}, fail: map[string]error{}}}
	e.p = &Provisioner{Store: store.New(guard("ProvisionerFunction"), tables, key, store.WithClock(clock.Now)), Cloud: e.set, Demand: e.demand, Log: quiet,
		Config: Config{RootURL: "https://tc.example.com", Regions: []string{"us-east-1", "us-west-2"}, TokenKey: []byte("test key")}}
	return e
}

// iterate runs one iteration under a fresh id.
func (e *env) iterate() *Report {
	e.t.Helper()
	rep, err := e.p.Run(ctx, NewIterationID())
	if err != nil {
		e.t.Fatalf("iteration: %v", err)
	}
	return rep
}

// advance moves time and lets the fake cloud apply what is due.
func (e *env) advance(d time.Duration) {
	e.clock.Advance(d)
	e.cloud.Step()
}

const awsPoolConfig = `{
  "minCapacity": %d, "maxCapacity": %d,
  "lifecycle": {"registrationTimeout": 600, "reregistrationTimeout": 3600},
  "launchConfigs": [
    {"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large", "InstanceMarketOptions": {"MarketType": "spot"}}},
    {"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "c5.large", "InstanceMarketOptions": {"MarketType": "spot"}}}
  ]
}`

func (e *env) createPool(id, provider, config string) store.WorkerPool {
	e.t.Helper()
	cfg, err := pool.ParseConfig(provider, json.RawMessage(config), pool.ParseOptions{})
	if err != nil {
		e.t.Fatalf("pool config: %v", err)
	}
	p, err := e.store.CreateWorkerPool(ctx, store.WorkerPool{WorkerPoolID: id, ProviderID: provider, Config: cfg.JSON(), Owner: "me@example.com"})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) awsPool(id string, min, max int) store.WorkerPool {
	return e.createPool(id, "aws", fmt.Sprintf(awsPoolConfig, min, max))
}

const workerTypeDef = `{
  "description": "test", "owner": "me@example.com",
  "minCapacity": 0, "maxCapacity": %d, "scalingRatio": 0, "minPrice": 0, "maxPrice": 1,
  "launchSpec": {"KeyName": "ci"}, "userData": {"dockerConfig": {"privileged": false}},
  "secrets": {"token": "s3cr3t"}, "scopes": ["queue:claim-work:aws-provisioner-v1/*"],
  "regions": [{"region": "us-east-1", "launchSpec": {"ImageId": "ami-0123456789abcdef0"}, "userData": {}, "secrets": {"region": "use1"}, "scopes": []}],
  "instanceTypes": [{"instanceType": "m5.large", "capacity": 1, "utility": 1, "launchSpec": {}, "userData": {}, "secrets": {}, "scopes": ["docker-worker:cache:*"]}]
}`

func (e *env) createWorkerType(name string, max int) {
	e.t.Helper()
	wt, err := pool.ParseWorkerType([]byte(fmt.Sprintf(workerTypeDef, max)), pool.ParseOptions{})
	if err != nil {
		e.t.Fatalf("worker type: %v", err)
	}
	if _, err := e.store.CreateWorkerType(ctx, name, wt.Definition()); err != nil {
		e.t.Fatal(err)
	}
}

// live returns the pool's instances that are pending or running in the cloud.
func (e *env) live(poolKey string) []cloud.Instance {
	var out []cloud.Instance
	for _, inst := range e.cloud.AllInstances() {
		if inst.Tags[cloud.TagPool] == poolKey && (inst.State == cloud.StatePending || inst.State == cloud.StateRunning) {
			out = append(out, inst)
		}
	}
	return out
}

func (e *env) workers(poolKey string) []store.Worker {
	e.t.Helper()
	ws, err := e.store.Workers(ctx, poolKey)
	if err != nil {
		e.t.Fatal(err)
	}
	return ws
}

// register marks a pool's requested workers running, as registerWorker does.
func (e *env) register(poolKey string, n int) {
	e.t.Helper()
	for _, w := range e.workers(poolKey) {
		if n == 0 {
			return
		}
		if w.State != store.Requested {
			continue
		}
		if _, err := e.store.UpdateWorker(ctx, w.Pool, w.Key, func(w *store.Worker) error {
			w.State, w.Registered = store.Running, e.clock.Now()
			w.TerminateAfter = e.clock.Now().Add(time.Hour)
			return nil
		}); err != nil {
			e.t.Fatal(err)
		}
		n--
	}
}

// checkNoLeak asserts every instance the cloud runs for the deployment is recorded
// as a live worker of its pool.
func (e *env) checkNoLeak() {
	e.t.Helper()
	for _, inst := range e.cloud.AllInstances() {
		if inst.Tags[cloud.TagInstanceSet] != string(e.set.ID()) || (inst.State != cloud.StatePending && inst.State != cloud.StateRunning) {
			continue
		}
		w, err := e.store.WorkerByInstance(ctx, inst.ID)
		if err != nil || !w.State.Alive() {
			e.t.Errorf("instance %s (%s, pool %s) is running without a live worker record: %v %s",
				inst.ID, inst.State, inst.Tags[cloud.TagPool], err, w.State)
		}
	}
}
