package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
	"github.com/workerfleet/workerfleet/shared/provision"
)

// DefaultPool is the pool a simulation runs when given none: two instance types in
// three zones of one region, spot (said both ways, market and v25's
// InstanceMarketOptions, whatever the parser's default market), capacity 1,
// maxCapacity 1000.
const DefaultPool = `{
  "minCapacity": 0,
  "maxCapacity": 1000,
  "lifecycle": {"registrationTimeout": 900, "reregistrationTimeout": 345600},
  "launchConfigs": [
    {"region": "us-east-1", "capacityPerInstance": 1, "market": "spot", "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large", "Placement": {"AvailabilityZone": "us-east-1a"}, "InstanceMarketOptions": {"MarketType": "spot"}}},
    {"region": "us-east-1", "capacityPerInstance": 1, "market": "spot", "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large", "Placement": {"AvailabilityZone": "us-east-1b"}, "InstanceMarketOptions": {"MarketType": "spot"}}},
    {"region": "us-east-1", "capacityPerInstance": 1, "market": "spot", "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large", "Placement": {"AvailabilityZone": "us-east-1c"}, "InstanceMarketOptions": {"MarketType": "spot"}}},
    {"region": "us-east-1", "capacityPerInstance": 1, "market": "spot", "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "c5.large", "Placement": {"AvailabilityZone": "us-east-1a"}, "InstanceMarketOptions": {"MarketType": "spot"}}},
    {"region": "us-east-1", "capacityPerInstance": 1, "market": "spot", "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "c5.large", "Placement": {"AvailabilityZone": "us-east-1b"}, "InstanceMarketOptions": {"MarketType": "spot"}}},
    {"region": "us-east-1", "capacityPerInstance": 1, "market": "spot", "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "c5.large", "Placement": {"AvailabilityZone": "us-east-1c"}, "InstanceMarketOptions": {"MarketType": "spot"}}}
  ]
}`

// Options configure a simulation. Zero values take the defaults documented on each
// field: the anchor simulator's workers, the fake cloud's catalog, the deployed
// schedule.
type Options struct {
	// Trace names the trace (in the summary); Tasks are its tasks.
	Trace string
	Tasks []Task
	// Pool is the aws worker pool config the run provisions (DefaultPool).
	Pool json.RawMessage
	// Policies are those run, each on its own copy of everything
	// (workerfleet and worker-manager).
	Policies []provision.Policy
	// Seed seeds the fake cloud (spot prices, interruptions) and the workers that
	// never claim (1). The same seed gives the same summary.
	Seed int64

	// Workers: StartupDelay from launch to claiming (20s, the fake cloud's boot
	// delay); IdleTimeout without a task before a worker shuts itself down (15m,
	// unless its user data's workerConfig sets idleTimeoutSecs); StoppingDelay
	// from shutdown to terminated (200s); NeverClaim, the share that boot but never
	// register nor claim (0.0002).
	StartupDelay, IdleTimeout, StoppingDelay time.Duration
	NeverClaim                               float64

	// PriceVolatility and SpotInterruptionRate are the fake cloud's (its
	// defaults: 0.02 per simulated second, 0 per instance-hour); negative = 0.
	PriceVolatility, SpotInterruptionRate float64

	// Schedule is the EventBridge schedule's period (template.yaml's
	// ProvisionSchedule default). Cadence is workerfleet's cadence inside an
	// invocation (provision.DefaultCadence(Schedule)); a negative Interval turns
	// it off.
	Schedule time.Duration
	Cadence  provision.Cadence
	// WorkerIdleTimeout is what workerfleet's provisioner tells workers
	// (provision.DefaultWorkerIdleTimeout, as deployed); negative: nothing, so
	// they idle for IdleTimeout. The baseline tells them nothing.
	WorkerIdleTimeout time.Duration
	// BaselineInterval, if set, runs the worker-manager baseline on a loop of
	// that period instead of the schedule (1s is the anchor simulator's loop).
	BaselineInterval time.Duration

	// Warmup and End: measures cover trace time [Warmup, End) (24h, 144h); the
	// simulation runs until End.
	Warmup, End time.Duration
	// LambdaMemoryMB is the provisioner function's memory, for its cost
	// (template.yaml's, 1024).
	LambdaMemoryMB int
	// Progress, if set, is told how far the simulation is (simulated seconds done,
	// of total); it is called from several goroutines.
	Progress func(done, total int64)
}

const (
	defaultStartupDelay  = 20 * time.Second
	defaultIdleTimeout   = 15 * time.Minute
	defaultStoppingDelay = 200 * time.Second
	defaultNeverClaim    = 0.0002
	defaultWarmup        = 24 * time.Hour
	defaultEnd           = 144 * time.Hour
)

func (o *Options) defaults() error {
	if len(o.Pool) == 0 {
		o.Pool = json.RawMessage(DefaultPool)
	}
	if len(o.Policies) == 0 {
		o.Policies = []provision.Policy{provision.PolicyWorkerfleet, provision.PolicyWorkerManager}
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.StartupDelay, defaultStartupDelay)
	def(&o.IdleTimeout, defaultIdleTimeout)
	def(&o.StoppingDelay, defaultStoppingDelay)
	def(&o.Warmup, defaultWarmup)
	def(&o.End, defaultEnd)
	if o.NeverClaim == 0 {
		o.NeverClaim = defaultNeverClaim
	}
	fc := fakecloud.DefaultConfig()
	if o.PriceVolatility == 0 {
		o.PriceVolatility = fc.PriceVolatility
	}
	if o.SpotInterruptionRate == 0 {
		o.SpotInterruptionRate = fc.SpotInterruptionRate
	}
	if o.Schedule == 0 || o.LambdaMemoryMB == 0 {
		sched, mem, err := deployedShape()
		if err != nil {
			return err
		}
		def(&o.Schedule, sched)
		if o.LambdaMemoryMB == 0 {
			o.LambdaMemoryMB = mem
		}
	}
	if o.Cadence == (provision.Cadence{}) {
		o.Cadence = provision.DefaultCadence(o.Schedule)
	}
	switch {
	case o.WorkerIdleTimeout == 0:
		o.WorkerIdleTimeout = provision.DefaultWorkerIdleTimeout
	case o.WorkerIdleTimeout < 0:
		o.WorkerIdleTimeout = 0
	}
	if o.Cadence.Interval < 0 {
		o.Cadence = provision.Cadence{}
	}
	switch {
	case o.Schedule < time.Second:
		return fmt.Errorf("schedule %v: at least 1s", o.Schedule)
	case o.Warmup >= o.End:
		return fmt.Errorf("warmup %v must end before the end %v", o.Warmup, o.End)
	case o.NeverClaim < 0 || o.NeverClaim >= 1:
		return fmt.Errorf("never-claim share %v: must be in [0, 1)", o.NeverClaim)
	}
	return nil
}

var ratePattern = regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours)\)$`)

// deployedShape reads the provisioner's schedule and memory from template.yaml.
func deployedShape() (time.Duration, int, error) {
	path, err := samtemplate.Find()
	if err != nil {
		return 0, 0, fmt.Errorf("the deployed schedule is read from template.yaml: %w", err)
	}
	tmpl, err := samtemplate.Load(path)
	if err != nil {
		return 0, 0, err
	}
	expr := fmt.Sprint(tmpl.Parameters["ProvisionSchedule"].Default)
	m := ratePattern.FindStringSubmatch(expr)
	if m == nil {
		return 0, 0, fmt.Errorf("template.yaml's ProvisionSchedule default %q is not rate(N minutes|hours)", expr)
	}
	n, _ := strconv.Atoi(m[1])
	unit := time.Minute
	if m[2][0] == 'h' {
		unit = time.Hour
	}
	mem := 1024
	raw, err := os.ReadFile(path)
	if err == nil {
		if mm := provisionerMemory.FindSubmatch(raw); mm != nil {
			mem, _ = strconv.Atoi(string(mm[1]))
		}
	}
	return time.Duration(n) * unit, mem, nil
}

var provisionerMemory = regexp.MustCompile(`(?s)ProvisionerFunction:.*?MemorySize: (\d+)`)
