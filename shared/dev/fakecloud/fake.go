// Package fakecloud is a simulated EC2 (driver alias "fake"): the cloud of the local
// stack and of demos, and the one the provisioner's tests and benchmarks run
// against.
//
// A Cloud keeps instances through EC2's life cycle (pending, running,
// shutting-down, terminated) on an injectable clock, honours ClientToken
// idempotency, prices spot capacity per AZ with a seeded random walk, emits the
// EventBridge events EC2 sends (state changes, spot interruption warnings,
// rebalance recommendations) to a sink, serves signed instance identity documents
// and user data for the simulated workers, and injects capacity, quota and
// rate-limit errors, deterministically or at chosen rates. Its errors are
// classified by cloud.ClassifyEC2Error, as the EC2 driver's are, and it launches
// from the very RunInstancesInput the EC2 driver would send
// (ec2.BuildRunInstancesInput), so the two read requests alike.
//
// Everything random (instance ids, prices, injected failures, interruptions,
// event ids) comes from generators seeded by Config.Seed: two clouds with the
// same seed, clock and calls behave identically. Spot prices have a generator of
// their own, so the ids and failures of a sequence of calls do not depend on how
// many price steps ran in between. Time moves only when Step runs
// (or Run, which calls it on a ticker).
//
// Many InstanceSets (one per InstanceSetID) share one Cloud, as deployments share
// an AWS account. A Cloud is safe for concurrent use and indexes instances by
// region, set and pool tag, so listing one pool stays cheap at tens of thousands
// of instances.
package fakecloud

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// Alias is the name the driver is registered under.
const Alias = "fake"

func init() {
	cloud.Register(cloud.Driver{
		Alias:   Alias,
		Name:    "Simulated EC2 (local stack, demos, tests)",
		Options: Options(),
		New: func(raw json.RawMessage, id cloud.InstanceSetID) (cloud.InstanceSet, error) {
			cfg, err := ParseConfig(raw)
			if err != nil {
				return nil, err
			}
			c, err := New(cfg)
			if err != nil {
				return nil, err
			}
			return c.InstanceSet(id), nil
		},
	})
}

// Duration is a time.Duration written in JSON as a string such as "10s".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string ("1m30s").
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Config configures a Cloud; its JSON form is the driver's configuration. Start
// from DefaultConfig: New takes zero delays and rates as zero.
type Config struct {
	// BootDelay is the time from launch to running. Transitions happen on the
	// first Step at or after their time, so even a 0 delay waits for a Step.
	BootDelay Duration `json:"bootDelay"`
	// ShutdownDelay is the time from shutting-down to terminated.
	ShutdownDelay Duration `json:"shutdownDelay"`
	// TerminatedRetention is how long terminated instances stay listed; 0 = 1h.
	TerminatedRetention Duration `json:"terminatedRetention"`
	// AccountID is the simulated AWS account (12 digits); "" = 123456789012.
	AccountID string `json:"accountId"`
	// Seed seeds every random choice; 0 picks one at random (and logs it).
	Seed int64 `json:"seed"`
	// Regions replaces the default regions; each has AZs a, b and c.
	Regions []string `json:"regions"`
	// InstanceTypes replaces the default instance types: name -> us-east-1 Linux
	// on-demand price, other regions scaled as the EC2 driver's table does.
	InstanceTypes map[string]float64 `json:"instanceTypes"`
	// CapacityErrorRate, QuotaErrorRate: chance (0..1) that a launch fails with
	// InsufficientInstanceCapacity, VcpuLimitExceeded.
	CapacityErrorRate float64 `json:"capacityErrorRate"`
	QuotaErrorRate    float64 `json:"quotaErrorRate"`
	// RateLimitErrorRate: chance (0..1) that any call fails with
	// RequestLimitExceeded.
	RateLimitErrorRate float64 `json:"rateLimitErrorRate"`
	// Capacity limits how many live instances of a type an AZ holds, keyed
	// "<az>/<type>" ("us-east-1a/p3.2xlarge": 0); launches past it fail with
	// InsufficientInstanceCapacity.
	Capacity map[string]int `json:"capacity"`
	// InstanceQuota limits live (not terminated) instances per region, across all
	// instance sets; 0 = no limit. Launches past it fail with InstanceLimitExceeded.
	InstanceQuota int `json:"instanceQuota"`
	// SpotInterruptionRate is the expected number of interruptions per spot
	// instance-hour of running (0.05 = one in twenty per hour).
	SpotInterruptionRate float64 `json:"spotInterruptionRate"`
	// PriceVolatility is the size of each Step's spot price move (a mean-reverting
	// random walk in log space; 0 = prices move only with SetSpotPrice).
	PriceVolatility float64 `json:"priceVolatility"`
	// IdentityKeyPEM is the RSA private key (PKCS#1 or PKCS#8 PEM) signing identity
	// documents; "" generates one from crypto/rand on first use.
	IdentityKeyPEM string `json:"identityKeyPEM"`
}

// DefaultConfig returns the defaults the driver's JSON configuration starts from.
func DefaultConfig() Config {
	return Config{
		BootDelay:           Duration(10 * time.Second),
		ShutdownDelay:       Duration(5 * time.Second),
		TerminatedRetention: Duration(time.Hour),
		AccountID:           DefaultAccountID,
		PriceVolatility:     0.02,
	}
}

// DefaultAccountID is the account of a Cloud configured without one.
const DefaultAccountID = "123456789012"

// Options documents the configuration keys (the driver's help).
func Options() []cloud.Option {
	return []cloud.Option{
		{Name: "bootDelay", Default: "10s", Help: "time an instance stays pending before it is running"},
		{Name: "shutdownDelay", Default: "5s", Help: "time an instance stays shutting-down before it is terminated"},
		{Name: "terminatedRetention", Default: "1h", Help: "how long terminated instances stay listed, as in EC2"},
		{Name: "accountId", Default: DefaultAccountID, Help: "the simulated AWS account id, in events, identity documents and instances"},
		{Name: "seed", Default: "0", Help: "seed of every random choice (instance ids, prices, injected errors, interruptions); 0 picks one and logs it"},
		{Name: "regions", Default: strings.Join(DefaultRegions, ","), Help: "regions of the catalog, each with availability zones a, b and c"},
		{Name: "instanceTypes", Default: strings.Join(DefaultInstanceTypes, ","), Help: "instance types of the catalog, as {\"name\": us-east-1 on-demand USD/hour}; other regions are scaled"},
		{Name: "capacityErrorRate", Default: "0", Help: "chance (0..1) that a launch fails with InsufficientInstanceCapacity"},
		{Name: "quotaErrorRate", Default: "0", Help: "chance (0..1) that a launch fails with VcpuLimitExceeded"},
		{Name: "rateLimitErrorRate", Default: "0", Help: "chance (0..1) that any call fails with RequestLimitExceeded"},
		{Name: "capacity", Default: "{}", Help: "live instances an AZ can hold per type, as {\"us-east-1a/p3.2xlarge\": 0}; beyond it launches fail with InsufficientInstanceCapacity"},
		{Name: "instanceQuota", Default: "0", Help: "live instances allowed per region across all instance sets (InstanceLimitExceeded beyond); 0 = no limit"},
		{Name: "spotInterruptionRate", Default: "0", Help: "expected interruptions per running spot instance-hour; each is announced by a rebalance recommendation and a 2-minute interruption warning"},
		{Name: "priceVolatility", Default: "0.02", Help: "size of each step of the spot prices' mean-reverting random walk; 0 keeps prices still"},
		{Name: "identityKeyPEM", Default: "(generated)", Help: "RSA private key (PEM) signing instance identity documents; never trust it outside the local stack"},
	}
}

// ParseConfig decodes a JSON configuration over DefaultConfig; unknown keys are
// errors. The result is checked by New.
func ParseConfig(raw json.RawMessage) (Config, error) {
	cfg := DefaultConfig()
	if len(bytes.TrimSpace(raw)) == 0 {
		return cfg, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("fake cloud config: %w", err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("fake cloud config: trailing data after the object")
	}
	return cfg, nil
}

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// EventSink receives each EventBridge event, as the JSON AWS sends.
type EventSink func(ctx context.Context, event json.RawMessage)

// Option changes how New builds a Cloud.
type Option func(*Cloud)

// WithClock makes the cloud read time from now (a ManualClock's Now in tests).
func WithClock(now func() time.Time) Option { return func(c *Cloud) { c.now = now } }

// WithEventSink sends every event to sink (see SetEventSink).
func WithEventSink(sink EventSink) Option { return func(c *Cloud) { c.sink = sink } }

// WithIdentityKey signs identity documents with key instead of a generated one.
func WithIdentityKey(key *rsa.PrivateKey) Option { return func(c *Cloud) { c.key = key } }

// WithLogger logs to l instead of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *Cloud) { c.log = l } }

// Cloud is a simulated EC2 account.
type Cloud struct {
	mu  sync.Mutex
	cfg Config
	now func() time.Time
	log *slog.Logger
	rng *mrand.Rand
	// prices drives the spot prices alone and eventIDs the events' ids alone, so
	// that the walk's steps (one per Step, as the wall clock ticks in the local
	// stack) and the events' timing never shift the instance ids, zones, injected
	// failures or interruptions a seed gives a sequence of calls.
	prices, eventIDs *mrand.Rand

	sinkMu sync.RWMutex
	sink   EventSink

	// avoid, if set, reports ids the cloud must not issue (see AvoidIDs).
	avoid func(id string) bool

	regions     map[string]*region
	regionNames []string
	catalog     map[string]typeInfo
	byID        map[string]*instance
	tokens      map[string]*launchRecord
	timers      timerHeap
	timerSeq    uint64
	instSeq     uint64
	calls       map[string]int
	nextErrs    map[string][]string
	capLimit    map[string]int // "<az>/<type>" -> limit
	capUsed     map[string]int // "<az>/<type>" -> live instances
	outbox      [][]byte       // events to deliver, in order (see unlockAndEmit)
	delivering  bool           // a call is delivering the outbox

	keyOnce sync.Once
	key     *rsa.PrivateKey
	certPEM []byte
	keyErr  error
}

// New builds a Cloud from cfg and options.
func New(cfg Config, opts ...Option) (*Cloud, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	c := &Cloud{
		now:      time.Now,
		log:      slog.Default(),
		byID:     map[string]*instance{},
		tokens:   map[string]*launchRecord{},
		calls:    map[string]int{},
		nextErrs: map[string][]string{},
		capLimit: map[string]int{},
		capUsed:  map[string]int{},
	}
	for _, o := range opts {
		o(c)
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.TerminatedRetention == 0 {
		cfg.TerminatedRetention = Duration(time.Hour)
	}
	if cfg.Seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.Seed = int64(binary.LittleEndian.Uint64(b[:]) &^ (1 << 63))
		if cfg.Seed == 0 {
			cfg.Seed = 1
		}
		c.log.Info("fake cloud seed chosen at random; set seed to reproduce this run", "seed", cfg.Seed)
	}
	if cfg.IdentityKeyPEM != "" && c.key == nil {
		key, err := parseRSAKey([]byte(cfg.IdentityKeyPEM))
		if err != nil {
			return nil, fmt.Errorf("fake cloud config: identityKeyPEM: %w", err)
		}
		c.key = key
	}
	c.cfg = cfg
	c.prices = mrand.New(mrand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)^0x9e3779b97f4a7c15))
	c.rng = mrand.New(mrand.NewPCG(uint64(cfg.Seed)^0x5851f42d4c957f2d, uint64(cfg.Seed)))
	c.eventIDs = mrand.New(mrand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)^0x2545f4914f6cdd1d))
	c.buildCatalog()
	for key, n := range cfg.Capacity {
		az, typ, _ := strings.Cut(key, "/")
		r, ok := c.regions[regionOfAZ(az)]
		if _, known := c.catalog[typ]; !ok || !r.hasAZ(az) || !known || n < 0 {
			return nil, fmt.Errorf("fake cloud config: capacity key %q must be <az>/<type> of the catalog, with a limit of 0 or more", key)
		}
		c.capLimit[key] = n
	}
	return c, nil
}

func (cfg Config) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("fake cloud config: "+format, args...)
	}
	switch {
	case cfg.BootDelay < 0 || cfg.ShutdownDelay < 0 || cfg.TerminatedRetention < 0:
		return bad("delays must not be negative")
	case cfg.AccountID != "" && !accountPattern.MatchString(cfg.AccountID):
		return bad("accountId %q is not 12 digits", cfg.AccountID)
	case cfg.InstanceQuota < 0:
		return bad("instanceQuota %d is negative", cfg.InstanceQuota)
	case cfg.SpotInterruptionRate < 0 || cfg.PriceVolatility < 0:
		return bad("spotInterruptionRate and priceVolatility must not be negative")
	}
	for name, r := range map[string]float64{"capacityErrorRate": cfg.CapacityErrorRate, "quotaErrorRate": cfg.QuotaErrorRate, "rateLimitErrorRate": cfg.RateLimitErrorRate} {
		if r < 0 || r > 1 {
			return bad("%s %v is not between 0 and 1", name, r)
		}
	}
	for _, r := range cfg.Regions {
		if !regionPattern.MatchString(r) {
			return bad("%q is not a region name", r)
		}
	}
	for t, p := range cfg.InstanceTypes {
		if !strings.Contains(t, ".") || p <= 0 {
			return bad("instance type %q needs a name like m5.large and a positive price", t)
		}
	}
	return nil
}

// Seed returns the seed in use (the chosen one when the configuration had 0).
func (c *Cloud) Seed() int64 { return c.cfg.Seed }

// AccountID returns the simulated account id.
func (c *Cloud) AccountID() string { return c.cfg.AccountID }

// Now returns the cloud's current time.
func (c *Cloud) Now() time.Time { return c.now() }

// SetEventSink sends every later event to sink (nil drops them). Events arrive
// one at a time, in the order they happened, after the cloud's lock is released,
// so a sink may call back into the cloud.
func (c *Cloud) SetEventSink(sink EventSink) {
	c.sinkMu.Lock()
	defer c.sinkMu.Unlock()
	c.sink = sink
}

// AvoidIDs makes the cloud skip instance ids taken reports true for: ids that
// records kept from an earlier run still name (the local stack's PERSIST), which a
// fresh cloud with the same seed would otherwise issue again. A seed still gives
// the same ids wherever none is avoided. Call it before the first launch; taken is
// called with the cloud's lock held and must not call the cloud.
func (c *Cloud) AvoidIDs(taken func(id string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.avoid = taken
}

// InstanceSet returns the instance set of the deployment id in this cloud.
func (c *Cloud) InstanceSet(id cloud.InstanceSetID) *InstanceSet {
	return &InstanceSet{id: id, cloud: c}
}

// Calls returns how many EC2 API calls the instance sets of this cloud have made
// since the last ResetCalls, by action: RunInstances, DescribeInstances,
// TerminateInstances, DescribeSpotPriceHistory. The counts are those the EC2
// driver would make for the same method calls (a Terminate is one filtered
// DescribeInstances per 199 ids and one TerminateInstances per 1000 of ours; an
// Instances is one DescribeInstances per 1000 instances), so benchmarks against
// the fake report real API budgets. Calls refused before reaching the API (a
// ConfigError from validation) are not counted.
func (c *Cloud) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		out[k] = v
	}
	return out
}

// ResetCalls sets every call count back to zero.
func (c *Cloud) ResetCalls() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = map[string]int{}
}

// FailNext makes the next call of action (RunInstances, DescribeInstances,
// TerminateInstances or DescribeSpotPriceHistory) fail with the EC2 error code,
// classified by cloud.ClassifyEC2Error; several calls queue several failures.
func (c *Cloud) FailNext(action, code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextErrs[action] = append(c.nextErrs[action], code)
}

// FailNextLaunch makes the next Launch fail with code (FailNext("RunInstances", code)).
func (c *Cloud) FailNextLaunch(code string) { c.FailNext("RunInstances", code) }

// SetErrorRates changes the chances of injected capacity, quota and rate-limit
// errors (each 0..1).
func (c *Cloud) SetErrorRates(capacity, quota, rateLimit float64) error {
	for _, r := range []float64{capacity, quota, rateLimit} {
		if r < 0 || r > 1 {
			return fmt.Errorf("error rate %v is not between 0 and 1", r)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.CapacityErrorRate, c.cfg.QuotaErrorRate, c.cfg.RateLimitErrorRate = capacity, quota, rateLimit
	return nil
}

// SetCapacity limits the live instances of instanceType in availability zone az
// to n; a negative n removes the limit.
func (c *Cloud) SetCapacity(az, instanceType string, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.regions[regionOfAZ(az)]
	if !ok || !r.hasAZ(az) {
		return fmt.Errorf("unknown availability zone %q", az)
	}
	if _, ok := c.catalog[instanceType]; !ok {
		return fmt.Errorf("unknown instance type %q", instanceType)
	}
	if n < 0 {
		delete(c.capLimit, az+"/"+instanceType)
	} else {
		c.capLimit[az+"/"+instanceType] = n
	}
	return nil
}

// SetInstanceQuota limits live instances per region to n (0 = no limit).
func (c *Cloud) SetInstanceQuota(n int) error {
	if n < 0 {
		return fmt.Errorf("instance quota %d is negative", n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.InstanceQuota = n
	return nil
}

// Regions returns the catalog's regions, sorted.
func (c *Cloud) Regions() []string { return append([]string(nil), c.regionNames...) }

// AvailabilityZones returns region's availability zones, sorted.
func (c *Cloud) AvailabilityZones(region string) []string {
	if r, ok := c.regions[region]; ok {
		return append([]string(nil), r.azs...)
	}
	return nil
}

// Subnets returns region's subnets (one default subnet per AZ), subnet id -> AZ.
// A launch spec naming one of them launches in its AZ; any other subnet id is
// InvalidSubnetID.NotFound.
func (c *Cloud) Subnets(region string) map[string]string {
	out := map[string]string{}
	if r, ok := c.regions[region]; ok {
		for id, az := range r.subnets {
			out[id] = az
		}
	}
	return out
}

// InstanceTypes returns the catalog's instance types, sorted.
func (c *Cloud) InstanceTypes() []string {
	out := make([]string, 0, len(c.catalog))
	for t := range c.catalog {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// AllInstances returns every instance the cloud lists, of every instance set and
// in every state (terminated ones until TerminatedRetention has passed), in launch
// order, with their tags.
func (c *Cloud) AllInstances() []cloud.Instance {
	c.mu.Lock()
	defer c.mu.Unlock()
	all := make([]*instance, 0, len(c.byID))
	for _, inst := range c.byID {
		all = append(all, inst)
	}
	return snapshot(all)
}

// Instance returns the instance id, if the cloud still lists it.
func (c *Cloud) Instance(id string) (cloud.Instance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.byID[id]
	if !ok {
		return cloud.Instance{}, false
	}
	return inst.snapshot(), true
}

// ErrNotFound is returned for an instance id the cloud does not list.
var ErrNotFound = errors.New("instance not found")

func notFound(id string) error { return fmt.Errorf("instance %s: %w", id, ErrNotFound) }

// uuid returns a random (version 4) UUID from the seeded generator.
func (c *Cloud) uuid() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], c.eventIDs.Uint64())
	binary.BigEndian.PutUint64(b[8:], c.eventIDs.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// token returns a random client token from the seeded generator.
func (c *Cloud) token() string {
	return strconv.FormatUint(c.rng.Uint64(), 36) + strconv.FormatUint(c.rng.Uint64(), 36)
}
