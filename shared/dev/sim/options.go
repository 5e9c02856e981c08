package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
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

// Policy names a provisioning setup the simulator runs: a scaling policy, how
// soon it reacts to demand and what idle timeout its workers get.
type Policy string

const (
	// PolicyWorkerfleet is workerfleet as deployed: its own scaling policy,
	// iterations within Options.Reaction of a task becoming pending and on the
	// backstop cadence, and each pool's idle timeout chosen from its own demand.
	PolicyWorkerfleet Policy = "workerfleet"
	// PolicyWMv25 is Taskcluster worker-manager v25 as Taskcluster deploys it:
	// its estimator and even split, its provisioning loop (lib-iterate waiting 10
	// s after each iteration: Options.BaselineInterval), and nothing said of
	// idling, so workers keep their own idle timeout (Options.IdleTimeout).
	PolicyWMv25 Policy = "wm-v25"
	// PolicyWMToday is today's worker-manager (v106): its estimator with the
	// idle-capacity term, the same loop, the same workers.
	PolicyWMToday Policy = "wm-today"
	// PolicyWMv25Reaction is v25's policy given workerfleet's reaction.
	PolicyWMv25Reaction Policy = "wm-v25+reaction"
	// PolicyWMv25Same is v25's policy given workerfleet's reaction and idle
	// timeout: the same-settings baseline, so what is left between it and
	// workerfleet is the policy itself (estimator and choice).
	PolicyWMv25Same Policy = "wm-v25+reaction+idle"
	// PolicyWMTodaySame is today's policy given workerfleet's reaction and idle
	// timeout.
	PolicyWMTodaySame Policy = "wm-today+reaction+idle"
)

// Policies are every policy the simulator knows, in the order it reports them.
var Policies = []Policy{PolicyWorkerfleet, PolicyWMv25, PolicyWMToday, PolicyWMv25Reaction, PolicyWMv25Same, PolicyWMTodaySame}

// DefaultPolicies are those a run compares by default: workerfleet, both fair
// baselines, and the steps between v25's and workerfleet (reaction, then idle
// timeout), so each lever's part can be read off.
var DefaultPolicies = []Policy{PolicyWorkerfleet, PolicyWMv25, PolicyWMToday, PolicyWMv25Reaction, PolicyWMv25Same}

// setup is what a policy is made of.
type setup struct {
	estimator Estimator // "": workerfleet's policy
	reaction  bool      // iterations react to demand (Options.Reaction)
	ourIdle   bool      // workers get workerfleet's idle timeout
}

func (p Policy) setup() (setup, bool) {
	switch p {
	case PolicyWorkerfleet:
		return setup{reaction: true, ourIdle: true}, true
	case PolicyWMv25:
		return setup{estimator: EstimatorV25}, true
	case PolicyWMToday:
		return setup{estimator: EstimatorToday}, true
	case PolicyWMv25Reaction:
		return setup{estimator: EstimatorV25, reaction: true}, true
	case PolicyWMv25Same:
		return setup{estimator: EstimatorV25, reaction: true, ourIdle: true}, true
	case PolicyWMTodaySame:
		return setup{estimator: EstimatorToday, reaction: true, ourIdle: true}, true
	}
	return setup{}, false
}

// ParsePolicy returns the policy named s.
func ParsePolicy(s string) (Policy, error) {
	if _, ok := Policy(s).setup(); ok {
		return Policy(s), nil
	}
	names := make([]string, len(Policies))
	for i, p := range Policies {
		names[i] = string(p)
	}
	return "", fmt.Errorf("unknown policy %q (%s)", s, strings.Join(names, ", "))
}

// Price models.
const (
	// MarketSpot (the default) prices options as spot markets show them: see
	// market.go.
	MarketSpot = "spot"
	// MarketWalk is the fake cloud's own: each option's price drawn once (28-48 %
	// of on-demand) and wobbling around it, so the spreads never change.
	MarketWalk = "walk"
)

// Options configure a simulation. Zero values take the defaults documented on each
// field: the anchor simulator's workers, the fake cloud's catalog, the deployed
// schedule.
type Options struct {
	// Trace names the trace (in the summary); Tasks are its tasks.
	Trace string
	Tasks []Task
	// Pool is the aws worker pool the run provisions (DefaultPool): its config, or
	// a whole pool definition with the config under "config" (as createWorkerPool
	// takes it).
	Pool json.RawMessage
	// Policies are those run, each on its own copy of everything
	// (DefaultPolicies).
	Policies []Policy
	// Seed seeds the prices, interruptions and capacity errors and the workers
	// that never claim (1). The same seed gives the same summary.
	Seed int64

	// Workers: StartupDelay from launch to claiming (20s, the fake cloud's boot
	// delay); IdleTimeout, the workers' own: how long they idle before shutting
	// down when their user data's workerConfig says nothing (15m); StoppingDelay
	// from shutdown to terminated (200s); NeverClaim, the share that boot but
	// never register nor claim (0.0002).
	StartupDelay, IdleTimeout, StoppingDelay time.Duration
	NeverClaim                               float64

	// Market is the price model (MarketSpot, or MarketWalk).
	Market string
	// PriceVolatility and SpotInterruptionRate are the fake cloud's, for
	// MarketWalk (its defaults: 0.02 per simulated second, 0 per instance-hour);
	// negative = 0.
	PriceVolatility, SpotInterruptionRate float64

	// Schedule is the EventBridge schedule's period (template.yaml's
	// ProvisionSchedule default).
	Schedule time.Duration
	// Reaction is how soon after a task becomes pending an iteration covering its
	// pool starts, for the policies that react (1s; negative: they do not, and
	// iterate on the schedule and Cadence as before reaction was deployed).
	// Backstop is how often they iterate without signals while any pool has work
	// (10s); with none, on the schedule.
	Reaction, Backstop time.Duration
	// Cadence is the iterations' cadence inside an invocation when Reaction is
	// off (provision.DefaultCadence(Schedule)); its Window, if 0, is the default
	// cadence's; a negative Interval turns it off.
	Cadence provision.Cadence
	// WorkerIdleTimeout is what workerfleet's provisioner tells workers: 0, each
	// pool's own, chosen from its demand (provision.IdleTimeouts, as deployed);
	// positive, that for every pool (WORKER_IDLE_TIMEOUT); negative, nothing, so
	// workers idle for IdleTimeout.
	WorkerIdleTimeout time.Duration
	// BaselineInterval is worker-manager's loop period: 10s between iterations
	// (lib-iterate's waitTime) plus IterationTime (11s). 1s is the anchor
	// simulator's loop.
	BaselineInterval time.Duration
	// IterationTime is how long one iteration is taken to last against the real
	// APIs (1s): worker-manager's loop waits it out, and Lambda bills it.
	IterationTime time.Duration

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
	defaultReaction      = time.Second
	defaultBackstop      = 10 * time.Second
	defaultIterationTime = time.Second
	// worker-manager's provisioner loop waits 10 s after each iteration
	// (lib-iterate waitTime 10000 in its provisioner.js, v25 and today).
	wmLoopWait = 10 * time.Second
)

func (o *Options) defaults() error {
	if len(o.Pool) == 0 {
		o.Pool = json.RawMessage(DefaultPool)
	}
	if len(o.Policies) == 0 {
		o.Policies = DefaultPolicies
	}
	for _, p := range o.Policies {
		if _, err := ParsePolicy(string(p)); err != nil {
			return err
		}
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
	def(&o.Reaction, defaultReaction)
	def(&o.Backstop, defaultBackstop)
	def(&o.IterationTime, defaultIterationTime)
	def(&o.BaselineInterval, wmLoopWait+o.IterationTime)
	if o.NeverClaim == 0 {
		o.NeverClaim = defaultNeverClaim
	}
	switch o.Market {
	case "":
		o.Market = MarketSpot
	case MarketSpot, MarketWalk:
	default:
		return fmt.Errorf("market %q: %s or %s", o.Market, MarketSpot, MarketWalk)
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
	if o.Backstop < 0 {
		o.Backstop = o.Schedule // no fast backstop: the schedule alone
	}
	switch {
	case o.Cadence.Interval < 0:
		o.Cadence = provision.Cadence{}
	case o.Cadence == (provision.Cadence{}):
		o.Cadence = provision.DefaultCadence(o.Schedule)
	case o.Cadence.Window == 0:
		// An interval alone keeps the deployed window (without one, Next never
		// allows a second iteration).
		o.Cadence.Window = max(o.Cadence.Interval, o.Schedule-10*time.Second)
	}
	switch {
	case o.Schedule < time.Second:
		return fmt.Errorf("schedule %v: at least 1s", o.Schedule)
	case o.Backstop < time.Second:
		return fmt.Errorf("backstop %v: at least 1s", o.Backstop)
	case o.BaselineInterval < time.Second:
		return fmt.Errorf("baseline interval %v: at least 1s", o.BaselineInterval)
	case o.Warmup >= o.End:
		return fmt.Errorf("warmup %v must end before the end %v", o.Warmup, o.End)
	case o.NeverClaim < 0 || o.NeverClaim >= 1:
		return fmt.Errorf("never-claim share %v: must be in [0, 1)", o.NeverClaim)
	}
	return nil
}

// poolConfig returns the aws config of raw: raw itself, or its "config" member
// when raw is a whole pool definition (with providerId, description, owner ...,
// as the walkthrough's pool file and createWorkerPool have it).
func poolConfig(raw json.RawMessage) (json.RawMessage, error) {
	var whole struct {
		ProviderID string          `json:"providerId"`
		Config     json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &whole); err != nil {
		return nil, fmt.Errorf("pool: not a JSON object: %w", err)
	}
	if len(whole.Config) == 0 {
		return raw, nil
	}
	return whole.Config, nil
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
