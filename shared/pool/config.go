package pool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Demand sources of aws pools.
const (
	DemandTaskcluster = "taskcluster"
	DemandSQS         = "sqs"
)

// Lifecycle defaults, in seconds.
const (
	DefaultRegistrationTimeout   = 1800
	DefaultReregistrationTimeout = 345600
	// DefaultQueueInactivityTimeout is today's worker-manager's (2 hours).
	DefaultQueueInactivityTimeout = 7200
)

// Config is a validated worker pool provider config. Exactly one of AWS and Static
// is set for those provider types, with defaults applied; a null-provider config is
// any object and has neither. JSON is the config exactly as it was written.
type Config struct {
	ProviderID   string
	ProviderType string
	AWS          *AWSConfig
	Static       *StaticConfig

	canonical json.RawMessage
}

// AWSConfig is the config of an aws pool as the provisioner uses it: the config as
// written, decoded, with defaults applied (see the package documentation).
type AWSConfig struct {
	MinCapacity   int            `json:"minCapacity"`
	MaxCapacity   int            `json:"maxCapacity"`
	ScalingRatio  float64        `json:"scalingRatio"`
	Lifecycle     Lifecycle      `json:"lifecycle"`
	Demand        Demand         `json:"demand"`
	LaunchConfigs []LaunchConfig `json:"launchConfigs"`
}

// Lifecycle bounds a worker's life, in seconds. RegistrationTimeout is 0 (and
// absent from the JSON) for static pools, which have none.
type Lifecycle struct {
	RegistrationTimeout   int `json:"registrationTimeout,omitempty"`
	ReregistrationTimeout int `json:"reregistrationTimeout"`
	// QueueInactivityTimeout is how long a worker may go without working (today's
	// worker-manager); 0 (and absent from the JSON) for static pools.
	QueueInactivityTimeout int `json:"queueInactivityTimeout,omitempty"`
}

// Demand says where an aws pool's demand (its pending tasks) is read.
type Demand struct {
	Source   string `json:"source"`             // DemandTaskcluster or DemandSQS
	QueueURL string `json:"queueUrl,omitempty"` // for DemandSQS
}

// LaunchConfig is one way an aws pool launches instances.
type LaunchConfig struct {
	Region              string          `json:"region"`
	LaunchConfig        json.RawMessage `json:"launchConfig"`
	CapacityPerInstance int             `json:"capacityPerInstance"`
	WorkerManager       *WorkerManager  `json:"workerManager,omitempty"`
	WorkerConfig        json.RawMessage `json:"workerConfig"`
	AdditionalUserData  json.RawMessage `json:"additionalUserData"`
	Utility             float64         `json:"utility"`
	Market              string          `json:"market"`             // MarketSpot or MarketOnDemand
	MaxPrice            float64         `json:"maxPrice,omitempty"` // USD per instance-hour; 0 is no bound

	// ID is the launch config's id: its workerManager.launchConfigId, or one made
	// from its content (LaunchConfigContentID). Written is the launch config as the
	// definition wrote it.
	ID      string          `json:"-"`
	Written json.RawMessage `json:"-"`
}

// WorkerManager is the workerManager member later Taskcluster versions put in a
// launch config: worker-manager's own settings, apart from the RunInstances fields.
type WorkerManager struct {
	LaunchConfigID      string   `json:"launchConfigId,omitempty"`
	CapacityPerInstance int      `json:"capacityPerInstance,omitempty"`
	InitialWeight       *float64 `json:"initialWeight,omitempty"`
	MaxCapacity         *int     `json:"maxCapacity,omitempty"`
}

// DefaultInstanceType is what EC2 launches when RunInstances names no InstanceType,
// and so what a v25 launch config without one launched.
const DefaultInstanceType = "m1.small"

// StaticConfig is the config of a static pool.
type StaticConfig struct {
	Lifecycle Lifecycle `json:"lifecycle"`
	// WorkerConfig goes to the pool's workers in registerWorker's answer.
	WorkerConfig json.RawMessage `json:"workerConfig"`
}

// ParseConfig validates the config of a worker pool whose provider is providerID
// (one of o.Providers) against that provider type's JSON Schema and the rules a
// schema cannot say, and returns it decoded with defaults applied. JSON null or an
// empty config means {}, as the official Go client sends null for a config left
// unset. Every problem is reported at once in an *InvalidError whose paths start at
// "config"; an unknown provider is an *InvalidError too.
func ParseConfig(providerID string, config json.RawMessage, o ParseOptions) (Config, error) {
	ptype, ok := o.Providers.Type(providerID)
	if !ok {
		return Config{}, invalid(fmt.Sprintf("providerId %q is not a known provider (known: %s)", providerID, o.Providers.IDs()))
	}
	schemas, err := configSchemas()
	if err != nil {
		return Config{}, fmt.Errorf("compile provider config schemas: %w", err)
	}
	if len(config) > MaxDefinitionBytes {
		return Config{}, invalid(fmt.Sprintf("config is %d bytes; at most %d are allowed", len(config), MaxDefinitionBytes))
	}
	c := &checker{root: "config"}
	var tree any = object{}
	written := json.RawMessage("{}")
	if len(bytes.TrimSpace(config)) > 0 {
		v, err := decodeValue(config)
		if err != nil {
			return Config{}, invalid("config is not valid JSON: " + err.Error())
		}
		if v != nil {
			tree = c.normalize("", v)
			var buf bytes.Buffer
			if err := json.Compact(&buf, config); err != nil {
				return Config{}, invalid("config is not valid JSON: " + err.Error())
			}
			written = buf.Bytes()
		}
	}
	if !o.Stored {
		c.validateSchema(schemas[ptype], tree)
	}
	cfg := Config{ProviderID: providerID, ProviderType: ptype, canonical: written}
	switch ptype {
	case ProviderTypeAWS:
		cfg.AWS = c.parseAWS(tree, o)
	case ProviderTypeStatic:
		cfg.Static = c.parseStatic(tree)
	}
	if err := c.err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// JSON is the config as it was written (insignificant whitespace removed; members,
// their order and number spellings kept), as stored and returned: defaults are
// applied when the config is used, never stored.
func (c Config) JSON() json.RawMessage {
	if len(c.canonical) == 0 {
		return json.RawMessage("{}")
	}
	return c.canonical
}

// Sizing is the pool's capacity bounds, scaling ratio and lifecycle. Only aws pools
// are provisioned; static pools have only a reregistration timeout, null-provider
// pools nothing.
func (c Config) Sizing() Sizing {
	switch {
	case c.AWS != nil:
		return Sizing{
			MinCapacity:            float64(c.AWS.MinCapacity),
			MaxCapacity:            float64(c.AWS.MaxCapacity),
			PendingRatio:           c.AWS.ScalingRatio,
			HasPendingRatio:        true,
			RegistrationTimeout:    seconds(c.AWS.Lifecycle.RegistrationTimeout),
			ReregistrationTimeout:  seconds(c.AWS.Lifecycle.ReregistrationTimeout),
			QueueInactivityTimeout: seconds(c.AWS.Lifecycle.QueueInactivityTimeout),
		}
	case c.Static != nil:
		return Sizing{ReregistrationTimeout: seconds(c.Static.Lifecycle.ReregistrationTimeout)}
	}
	return Sizing{}
}

// Options are the launch options of an aws pool; other pools have none.
func (c Config) Options() []Option {
	if c.AWS == nil {
		return nil
	}
	return c.AWS.Options()
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// parseAWS checks what the schema cannot and, if all is well, decodes the config
// with defaults applied.
func (c *checker) parseAWS(tree any, o ParseOptions) *AWSConfig {
	obj, _ := tree.(map[string]any)
	c.checkCapacityBounds(obj)
	c.checkDemand(obj)
	lcs, _ := obj["launchConfigs"].([]any)
	if len(lcs) > MaxLaunchConfigs {
		c.addf("launchConfigs", "holds %d launch configs; at most %d are allowed", len(lcs), MaxLaunchConfigs)
		return nil
	}
	for i, v := range lcs {
		if lc, ok := v.(map[string]any); ok {
			c.checkLaunchConfig(index("launchConfigs", i), lc, o)
		}
	}
	if len(c.problems) > 0 {
		return nil
	}
	cfg := c.decodeAWS(tree)
	if len(c.problems) > 0 {
		return nil
	}
	return cfg
}

// checkCapacityBounds: minCapacity <= maxCapacity.
func (c *checker) checkCapacityBounds(obj object) {
	minCap, okMin := number(obj["minCapacity"])
	maxCap, okMax := number(obj["maxCapacity"])
	if okMin && okMax && minCap > maxCap {
		c.addf("minCapacity", "must be <= maxCapacity")
	}
}

// checkDemand: a queue URL exactly when the demand source is SQS, and one that
// looks like an SQS queue's.
func (c *checker) checkDemand(obj object) {
	d, ok := obj["demand"].(map[string]any)
	if !ok {
		return
	}
	source, _ := d["source"].(string)
	queueURL, hasURL := d["queueUrl"]
	switch {
	case source == DemandSQS && !hasURL:
		c.addf("demand.queueUrl", "is required when demand.source is sqs")
	case source != DemandSQS && hasURL:
		c.addf("demand.queueUrl", "is only allowed when demand.source is sqs")
	}
	if s, ok := queueURL.(string); ok && !sqsQueueURLRE.MatchString(s) {
		c.addf("demand.queueUrl", "must look like https://sqs.<region>.amazonaws.com/<account>/<name>")
	}
}

// checkLaunchConfig checks one launch config: its region, instance type and zone,
// capacity per instance (in either place), market and price (in either form), the
// driver's view of its RunInstances fields, and the size of its user data.
func (c *checker) checkLaunchConfig(path string, lc object, o ParseOptions) {
	region, okRegion := lc["region"].(string)
	if okRegion {
		c.checkRegion(field(path, "region"), region, o)
	}
	c.checkCapacityPerInstance(path, lc)
	if spec, ok := lc["launchConfig"].(map[string]any); ok {
		specPath := field(path, "launchConfig")
		if t, ok := spec["InstanceType"].(string); ok && t != "" && !wellFormedInstanceType(t) {
			c.addf(field(specPath, "InstanceType"), "%q is not a well-formed EC2 instance type", t)
		}
		if p, ok := spec["Placement"].(map[string]any); ok {
			if z, ok := p["AvailabilityZone"].(string); ok && okRegion && !zoneOfRegion(z, region) {
				c.addf(field(field(specPath, "Placement"), "AvailabilityZone"), "%q is not an availability zone of region %q", z, region)
			}
		}
		c.checkMarket(path, lc, spec)
		if o.ValidateLaunchSpec != nil {
			if err := o.ValidateLaunchSpec(raw(spec)); err != nil {
				c.addf(specPath, "is not a valid launch spec: %v", err)
			}
		}
	}
	wc, _ := lc["workerConfig"].(map[string]any)
	aud, _ := lc["additionalUserData"].(map[string]any)
	if n := len(raw(wc)) + len(raw(aud)); n > maxDataBytes {
		c.addf(path, "workerConfig and additionalUserData are %d bytes; at most %d fit in EC2 user data", n, maxDataBytes)
	}
}

// checkCapacityPerInstance: capacityPerInstance is set, as v25 wrote it or under
// workerManager as later Taskcluster versions do; where both are, they agree.
func (c *checker) checkCapacityPerInstance(path string, lc object) {
	top, okTop := number(lc["capacityPerInstance"])
	wm, _ := lc["workerManager"].(map[string]any)
	nested, okNested := number(wm["capacityPerInstance"])
	switch {
	case okTop && okNested && top != nested:
		c.addf(field(field(path, "workerManager"), "capacityPerInstance"), "is %v but capacityPerInstance is %v; set one", nested, top)
	}
}

// checkMarket: the launch config's InstanceMarketOptions (as v25 read it) and our
// market and maxPrice extensions must not contradict each other.
func (c *checker) checkMarket(path string, lc, spec object) {
	imo, hasIMO := spec["InstanceMarketOptions"].(map[string]any)
	if !hasIMO {
		return
	}
	imoPath := field(field(path, "launchConfig"), "InstanceMarketOptions")
	mt, _ := imo["MarketType"].(string)
	if mt != "" && mt != MarketSpot {
		c.addf(field(imoPath, "MarketType"), "%q is not supported: spot, or leave InstanceMarketOptions out for on-demand", mt)
		return
	}
	if m, ok := lc["market"].(string); ok && m != MarketSpot {
		c.addf(field(path, "market"), "is %q but launchConfig.InstanceMarketOptions asks for spot; set one", m)
	}
	so, _ := imo["SpotOptions"].(map[string]any)
	mp, set := so["MaxPrice"]
	if !set {
		return
	}
	mpPath := field(field(imoPath, "SpotOptions"), "MaxPrice")
	s, _ := mp.(string)
	price, err := strconv.ParseFloat(s, 64)
	if err != nil || !(price > 0) || math.IsInf(price, 0) {
		c.addf(mpPath, "must be a price in USD as a decimal string, such as \"0.5\"")
		return
	}
	if own, ok := number(lc["maxPrice"]); ok && own != price {
		c.addf(field(path, "maxPrice"), "is %v but %s is %q; set one", own, c.name(mpPath), s)
	}
}

// decodeAWS decodes a checked config and applies the defaults.
func (c *checker) decodeAWS(tree any) *AWSConfig {
	obj, _ := tree.(map[string]any)
	b, err := marshal(tree)
	if err != nil {
		c.addf("", "cannot be encoded: %v", err)
		return nil
	}
	var cfg AWSConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		c.addf("", "cannot be decoded: %v", err)
		return nil
	}
	if cfg.Lifecycle.RegistrationTimeout == 0 {
		cfg.Lifecycle.RegistrationTimeout = DefaultRegistrationTimeout
	}
	if cfg.Lifecycle.ReregistrationTimeout == 0 {
		cfg.Lifecycle.ReregistrationTimeout = DefaultReregistrationTimeout
	}
	if cfg.Lifecycle.QueueInactivityTimeout == 0 {
		cfg.Lifecycle.QueueInactivityTimeout = DefaultQueueInactivityTimeout
	}
	if _, set := obj["scalingRatio"]; !set {
		cfg.ScalingRatio = 1
	}
	if cfg.Demand.Source == "" {
		cfg.Demand.Source = DemandTaskcluster
	}
	seen, ids := map[string]int{}, map[string]int{}
	written, _ := obj["launchConfigs"].([]any)
	for i := range cfg.LaunchConfigs {
		lc := &cfg.LaunchConfigs[i]
		lc.applyDefaults()
		h := lc.hash()
		if first, dup := seen[h]; dup {
			c.addf(index("launchConfigs", i), "duplicates %s", c.name(index("launchConfigs", first)))
		}
		seen[h] = i
		if i < len(written) {
			lc.Written, _ = marshal(written[i])
		}
		lc.ID = LaunchConfigContentID(lc.Written)
		if lc.WorkerManager != nil && lc.WorkerManager.LaunchConfigID != "" {
			lc.ID = lc.WorkerManager.LaunchConfigID
		}
		if first, dup := ids[lc.ID]; dup {
			c.addf(index("launchConfigs", i), "has the launchConfigId %q of %s; an id names one launch config", lc.ID, c.name(index("launchConfigs", first)))
		}
		ids[lc.ID] = i
	}
	return &cfg
}

// applyDefaults fills in what a launch config leaves out: capacityPerInstance from
// workerManager, the market and maxPrice from InstanceMarketOptions (no
// InstanceMarketOptions is on-demand, as in v25), utility 1, empty workerConfig and
// additionalUserData.
func (lc *LaunchConfig) applyDefaults() {
	if lc.WorkerManager != nil && lc.WorkerManager.CapacityPerInstance > 0 {
		lc.CapacityPerInstance = lc.WorkerManager.CapacityPerInstance
	}
	if lc.CapacityPerInstance == 0 {
		lc.CapacityPerInstance = 1 // today's default
	}
	lc.WorkerConfig = objectOrEmpty(lc.WorkerConfig)
	lc.AdditionalUserData = objectOrEmpty(lc.AdditionalUserData)
	if lc.Utility == 0 {
		lc.Utility = 1
	}
	var spec struct {
		InstanceMarketOptions *struct {
			MarketType  string
			SpotOptions *struct{ MaxPrice string }
		}
	}
	_ = json.Unmarshal(lc.LaunchConfig, &spec)
	imo := spec.InstanceMarketOptions
	if lc.Market == "" {
		lc.Market = MarketOnDemand
		if imo != nil && (imo.MarketType == MarketSpot || imo.MarketType == "") {
			lc.Market = MarketSpot
		}
	}
	if lc.MaxPrice == 0 && imo != nil && imo.SpotOptions != nil {
		lc.MaxPrice, _ = strconv.ParseFloat(imo.SpotOptions.MaxPrice, 64)
	}
}

// parseStatic decodes a static config (already checked by its schema) with defaults.
func (c *checker) parseStatic(tree any) *StaticConfig {
	cfg := &StaticConfig{Lifecycle: Lifecycle{ReregistrationTimeout: DefaultReregistrationTimeout}, WorkerConfig: json.RawMessage(`{}`)}
	obj, _ := tree.(map[string]any)
	if wc, ok := obj["workerConfig"].(map[string]any); ok {
		if b, err := marshal(wc); err == nil {
			cfg.WorkerConfig = b
		}
	}
	lc, _ := obj["lifecycle"].(map[string]any)
	if n, ok := number(lc["reregistrationTimeout"]); ok && n >= 1 && n <= 2147483647 {
		cfg.Lifecycle.ReregistrationTimeout = int(n)
	}
	return cfg
}

// hash is a short hash of the launch config's canonical JSON.
func (lc LaunchConfig) hash() string {
	b, err := marshal(lc)
	if err != nil {
		b = []byte(lc.Region)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:4])
}

// Options are one launch option per launch config, in config order. The option's
// ID is <region>/<zone or *>/<instance type>/<market>/<hash of the launch config>,
// so it changes only when that launch config does.
func (c AWSConfig) Options() []Option {
	out := make([]Option, 0, len(c.LaunchConfigs))
	for _, lc := range c.LaunchConfigs {
		spec := decodeObject(lc.LaunchConfig)
		imageID, _ := spec["ImageId"].(string)
		instanceType, _ := spec["InstanceType"].(string)
		if instanceType == "" {
			instanceType = DefaultInstanceType
		}
		zone, zoneID := "", "*"
		if p, ok := spec["Placement"].(map[string]any); ok {
			if z, ok := p["AvailabilityZone"].(string); ok && z != "" {
				zone, zoneID = z, z
			}
		}
		weight, maxInstances, unused := 0.0, 0, false
		if wm := lc.WorkerManager; wm != nil {
			if wm.InitialWeight != nil {
				weight, unused = *wm.InitialWeight, *wm.InitialWeight == 0
			}
			if wm.MaxCapacity != nil {
				// maxCapacity is capacity: so many instances fit.
				maxInstances = *wm.MaxCapacity / max(lc.CapacityPerInstance, 1)
				unused = unused || maxInstances == 0
			}
		}
		out = append(out, Option{
			LaunchConfigID:     lc.ID,
			Weight:             weight,
			Unused:             unused,
			MaxInstances:       maxInstances,
			ID:                 fmt.Sprintf("%s/%s/%s/%s/%s", lc.Region, zoneID, instanceType, lc.Market, lc.hash()),
			Region:             lc.Region,
			AvailabilityZone:   zone,
			InstanceType:       instanceType,
			ImageID:            imageID,
			Capacity:           float64(lc.CapacityPerInstance),
			Utility:            lc.Utility,
			Spot:               lc.Market == MarketSpot,
			MaxPrice:           lc.MaxPrice,
			LaunchSpec:         lc.LaunchConfig,
			WorkerConfig:       lc.WorkerConfig,
			AdditionalUserData: lc.AdditionalUserData,
		})
	}
	return out
}

// SameConfig reports whether two configs say the same thing, whatever the order of
// their members and the spelling of their numbers (1, 1.0 and 1e0 are the same). An
// update that changes only that is no change.
func SameConfig(a, b json.RawMessage) bool {
	ca, okA := canonicalJSON(a)
	cb, okB := canonicalJSON(b)
	return okA && okB && bytes.Equal(ca, cb)
}

// canonicalJSON is v with members sorted and numbers in one spelling; empty and null
// are {}.
func canonicalJSON(v json.RawMessage) ([]byte, bool) {
	if len(bytes.TrimSpace(v)) == 0 {
		return []byte("{}"), true
	}
	tree, err := decodeValue(v)
	if err != nil {
		return nil, false
	}
	if tree == nil {
		return []byte("{}"), true
	}
	c := &checker{}
	tree = c.normalize("", tree)
	if len(c.problems) > 0 {
		return nil, false
	}
	b, err := marshal(tree)
	return b, err == nil
}
