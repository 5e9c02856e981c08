package pool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// ProviderInfo describes one provider, as listProviders shows it.
type ProviderInfo struct {
	ProviderID   string `json:"providerId"`
	ProviderType string `json:"providerType"`
}

// Provider types.
const (
	ProviderTypeAWS    = "aws"
	ProviderTypeStatic = "static"
	ProviderTypeNull   = "null"
)

// NullProviderID is the provider of pools pending deletion.
const NullProviderID = "null-provider"

var providers = []ProviderInfo{
	{ProviderID: "aws", ProviderType: ProviderTypeAWS},
	{ProviderID: "static", ProviderType: ProviderTypeStatic},
	{ProviderID: NullProviderID, ProviderType: ProviderTypeNull},
}

// Providers lists the providers worker pools may use.
func Providers() []ProviderInfo {
	return append([]ProviderInfo(nil), providers...)
}

func providerType(providerID string) (string, bool) {
	for _, p := range providers {
		if p.ProviderID == providerID {
			return p.ProviderType, true
		}
	}
	return "", false
}

// Demand sources of aws pools.
const (
	DemandTaskcluster = "taskcluster"
	DemandSQS         = "sqs"
)

// Lifecycle defaults, in seconds.
const (
	DefaultRegistrationTimeout   = 1800
	DefaultReregistrationTimeout = 345600
)

// Config is a validated worker pool provider config in canonical form. Exactly one
// of AWS and Static is set for those provider types; a null-provider config is any
// object and has neither.
type Config struct {
	ProviderID   string
	ProviderType string
	AWS          *AWSConfig
	Static       *StaticConfig

	canonical json.RawMessage
}

// AWSConfig is the config of an aws pool. Its JSON is the canonical form.
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
	WorkerConfig        json.RawMessage `json:"workerConfig"`
	AdditionalUserData  json.RawMessage `json:"additionalUserData"`
	Utility             float64         `json:"utility"`
	Market              string          `json:"market"`             // MarketSpot or MarketOnDemand
	MaxPrice            float64         `json:"maxPrice,omitempty"` // USD per instance-hour; 0 is no bound
}

// StaticConfig is the config of a static pool.
type StaticConfig struct {
	Lifecycle Lifecycle `json:"lifecycle"`
}

// ParseConfig validates the config of a worker pool whose provider is providerID
// against that provider's JSON Schema and the rules a schema cannot say, and returns
// it in canonical form. JSON null or an empty config means {}, as the official Go
// client sends null for a config left unset. Every problem is reported at once in an
// *InvalidError whose paths start at "config"; an unknown provider is an
// *InvalidError too.
func ParseConfig(providerID string, config json.RawMessage, o Options) (Config, error) {
	ptype, ok := providerType(providerID)
	if !ok {
		return Config{}, invalid(fmt.Sprintf("providerId %q is not a known provider (known: aws, static, null-provider)", providerID))
	}
	schemas, err := configSchemas()
	if err != nil {
		return Config{}, fmt.Errorf("compile provider config schemas: %w", err)
	}
	c := &checker{root: "config"}
	var tree any = object{}
	if len(bytes.TrimSpace(config)) > 0 {
		v, err := decodeValue(config)
		if err != nil {
			return Config{}, invalid("config is not valid JSON: " + err.Error())
		}
		if v != nil {
			tree = c.normalize("", v)
		}
	}
	c.validateSchema(schemas[ptype], tree)
	cfg := Config{ProviderID: providerID, ProviderType: ptype}
	var canonical any
	switch ptype {
	case ProviderTypeAWS:
		cfg.AWS = c.parseAWS(tree, o)
		canonical = cfg.AWS
	case ProviderTypeStatic:
		cfg.Static = c.parseStatic(tree)
		canonical = cfg.Static
	default:
		canonical = tree
	}
	if err := c.err(); err != nil {
		return Config{}, err
	}
	cfg.canonical, err = marshal(canonical)
	if err != nil {
		return Config{}, invalid("config cannot be encoded: " + err.Error())
	}
	return cfg, nil
}

// JSON is the canonical config, defaults applied, as stored and returned.
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
			MinCapacity:           float64(c.AWS.MinCapacity),
			MaxCapacity:           float64(c.AWS.MaxCapacity),
			ScalingRatio:          c.AWS.ScalingRatio,
			RegistrationTimeout:   seconds(c.AWS.Lifecycle.RegistrationTimeout),
			ReregistrationTimeout: seconds(c.AWS.Lifecycle.ReregistrationTimeout),
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
func (c *checker) parseAWS(tree any, o Options) *AWSConfig {
	obj, _ := tree.(map[string]any)
	minCap, okMin := number(obj["minCapacity"])
	maxCap, okMax := number(obj["maxCapacity"])
	if okMin && okMax && minCap > maxCap {
		c.addf("minCapacity", "must be <= maxCapacity")
	}
	if d, ok := obj["demand"].(map[string]any); ok {
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
	lcs, _ := obj["launchConfigs"].([]any)
	for i, v := range lcs {
		lc, ok := v.(map[string]any)
		if !ok {
			continue
		}
		path := index("launchConfigs", i)
		region, okRegion := lc["region"].(string)
		if okRegion {
			c.checkRegion(field(path, "region"), region, o)
		}
		spec, ok := lc["launchConfig"].(map[string]any)
		if ok {
			specPath := field(path, "launchConfig")
			if t, ok := spec["InstanceType"].(string); ok && t != "" && !wellFormedInstanceType(t) {
				c.addf(field(specPath, "InstanceType"), "%q is not a well-formed EC2 instance type", t)
			}
			if p, ok := spec["Placement"].(map[string]any); ok {
				if z, ok := p["AvailabilityZone"].(string); ok && okRegion && !zoneOfRegion(z, region) {
					c.addf(field(field(specPath, "Placement"), "AvailabilityZone"), "%q is not an availability zone of region %q", z, region)
				}
			}
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
	if len(c.problems) > 0 {
		return nil
	}

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
	if cfg.Demand.Source == "" {
		cfg.Demand.Source = DemandTaskcluster
	}
	seen := map[string]int{}
	for i := range cfg.LaunchConfigs {
		lc := &cfg.LaunchConfigs[i]
		lc.WorkerConfig = objectOrEmpty(lc.WorkerConfig)
		lc.AdditionalUserData = objectOrEmpty(lc.AdditionalUserData)
		if lc.Utility == 0 {
			lc.Utility = 1
		}
		if lc.Market == "" {
			lc.Market = MarketSpot
		}
		h := lc.hash()
		if first, dup := seen[h]; dup {
			c.addf(index("launchConfigs", i), "duplicates %s", c.name(index("launchConfigs", first)))
		}
		seen[h] = i
	}
	if len(c.problems) > 0 {
		return nil
	}
	return &cfg
}

// parseStatic decodes a static config (already checked by its schema) with defaults.
func (c *checker) parseStatic(tree any) *StaticConfig {
	cfg := &StaticConfig{Lifecycle: Lifecycle{ReregistrationTimeout: DefaultReregistrationTimeout}}
	obj, _ := tree.(map[string]any)
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
		zone, zoneID := "", "*"
		if p, ok := spec["Placement"].(map[string]any); ok {
			if z, ok := p["AvailabilityZone"].(string); ok && z != "" {
				zone, zoneID = z, z
			}
		}
		out = append(out, Option{
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
