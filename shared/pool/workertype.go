package pool

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"time"
)

// ProvisionerID is the provisionerId of every aws-provisioner worker type.
const ProvisionerID = "aws-provisioner-v1"

// WorkerType is a validated aws-provisioner v1 worker type definition, in canonical
// form: defaults applied, nulls replaced by {} or [], free-form objects holding
// canonical JSON. Build one with ParseWorkerType and treat it as read-only; to change
// a definition, parse a new one.
//
// The fields are in the order of the canonical JSON (that of the official clients).
type WorkerType struct {
	AvailabilityZones []AvailabilityZoneConfig `json:"availabilityZones"`
	CanUseOndemand    bool                     `json:"canUseOndemand"`
	CanUseSpot        bool                     `json:"canUseSpot"`
	Description       string                   `json:"description"`
	InstanceTypes     []InstanceTypeConfig     `json:"instanceTypes"`
	LaunchSpec        json.RawMessage          `json:"launchSpec"`
	MaxCapacity       float64                  `json:"maxCapacity"`
	MaxPrice          float64                  `json:"maxPrice"`
	MinCapacity       float64                  `json:"minCapacity"`
	MinPrice          float64                  `json:"minPrice"`
	Owner             string                   `json:"owner"`
	Regions           []RegionConfig           `json:"regions"`
	ScalingRatio      float64                  `json:"scalingRatio"`
	Scopes            []string                 `json:"scopes"`
	Secrets           json.RawMessage          `json:"secrets"`
	UserData          json.RawMessage          `json:"userData"`
}

// AvailabilityZoneConfig is what a worker type sets for one availability zone.
// Configuring any zone of a region restricts that region to its configured zones.
type AvailabilityZoneConfig struct {
	AvailabilityZone string          `json:"availabilityZone"`
	LaunchSpec       json.RawMessage `json:"launchSpec"`
	Region           string          `json:"region"`
	Secrets          json.RawMessage `json:"secrets"`
	UserData         json.RawMessage `json:"userData"`
}

// InstanceTypeConfig is what a worker type sets for one EC2 instance type.
type InstanceTypeConfig struct {
	Capacity     float64         `json:"capacity"`
	InstanceType string          `json:"instanceType"`
	LaunchSpec   json.RawMessage `json:"launchSpec"`
	Scopes       []string        `json:"scopes"`
	Secrets      json.RawMessage `json:"secrets"`
	UserData     json.RawMessage `json:"userData"`
	Utility      float64         `json:"utility"`
}

// RegionConfig is what a worker type sets for one region; its launchSpec holds the
// region's ImageId.
type RegionConfig struct {
	LaunchSpec json.RawMessage `json:"launchSpec"`
	Region     string          `json:"region"`
	Scopes     []string        `json:"scopes"`
	Secrets    json.RawMessage `json:"secrets"`
	UserData   json.RawMessage `json:"userData"`
}

// ImageID is the AMI the region's launchSpec names.
func (r RegionConfig) ImageID() string {
	id, _ := decodeObject(r.LaunchSpec)["ImageId"].(string)
	return id
}

var (
	workerTypeKeys   = []string{"availabilityZones", "canUseOndemand", "canUseSpot", "description", "instanceTypes", "launchSpec", "maxCapacity", "maxPrice", "minCapacity", "minPrice", "owner", "regions", "scalingRatio", "scopes", "secrets", "userData"}
	zoneKeys         = []string{"availabilityZone", "launchSpec", "region", "secrets", "userData"}
	instanceTypeKeys = []string{"capacity", "instanceType", "launchSpec", "scopes", "secrets", "userData", "utility"}
	regionKeys       = []string{"launchSpec", "region", "scopes", "secrets", "userData"}
)

// maxDataBytes bounds what a definition may put into an instance's user data (a
// worker type's merged userData, a launch config's workerConfig plus
// additionalUserData): EC2 takes at most 16 KiB and 1 KiB is kept for the fields
// the provisioner adds.
const maxDataBytes = ec2UserDataLimit - 1024

// ec2UserDataLimit is the most user data EC2 accepts, before base64.
const ec2UserDataLimit = 16384

// ParseWorkerType validates a createWorkerType/updateWorkerType request body and
// returns the worker type in canonical form. Every problem found is reported at once
// in an *InvalidError; no other error is returned.
//
// The fields the official Go client always sends are required: description, owner,
// instanceTypes, regions, launchSpec, userData, secrets, scopes, minPrice, maxPrice,
// maxCapacity and scalingRatio (and, in each instance type and region, every field
// but availability zones' secrets and userData). Null launchSpec, userData and secrets
// mean {} and null scopes mean [], which is what that client sends for fields left
// unset. minCapacity defaults to 0, canUseSpot to true, canUseOndemand to false,
// availabilityZones to []. Members not in the schema, including the workerType and
// lastModified of a workerType response, are refused. A worker type may have at most
// 1000 region x instance type (x availability zone) combinations.
func ParseWorkerType(body []byte, o Options) (WorkerType, error) {
	c := &checker{root: "body"}
	tree, err := decodeValue(body)
	if err != nil {
		return WorkerType{}, invalid("body is not valid JSON: " + err.Error())
	}
	tree = c.normalize("", tree)
	obj, ok := tree.(map[string]any)
	if !ok {
		c.addf("", "must be a JSON object")
		return WorkerType{}, c.err()
	}
	w := parseWorkerType(c, obj, o)
	if err := c.err(); err != nil {
		return WorkerType{}, err
	}
	return w, nil
}

func parseWorkerType(c *checker, obj object, o Options) WorkerType {
	f := fields{c: c, obj: obj}
	f.only(workerTypeKeys...)

	var w WorkerType
	w.Description, _ = f.str("description")
	w.Owner, _ = f.str("owner")
	w.CanUseSpot = f.boolean("canUseSpot", true)
	w.CanUseOndemand = f.boolean("canUseOndemand", false)
	if !w.CanUseSpot && !w.CanUseOndemand {
		c.addf("canUseSpot", "and canUseOndemand cannot both be false")
	}

	var okMinCap, okMaxCap, okMinPrice, okMaxPrice, okRatio bool
	w.MinCapacity, okMinCap = f.num("minCapacity", false, 0)
	w.MaxCapacity, okMaxCap = f.num("maxCapacity", true, 0)
	w.MinPrice, okMinPrice = f.num("minPrice", true, 0)
	w.MaxPrice, okMaxPrice = f.num("maxPrice", true, 0)
	w.ScalingRatio, okRatio = f.num("scalingRatio", true, 0)
	// Capacities are whole numbers: listWorkerTypeSummaries reports them as integers
	// (the official clients decode int64), and so do the workers reading capacity from
	// their user data.
	if okMinCap && w.MinCapacity < 0 {
		c.addf("minCapacity", "must be >= 0")
	} else if okMinCap && w.MinCapacity != math.Trunc(w.MinCapacity) {
		c.addf("minCapacity", "must be a whole number")
	}
	if okMaxCap && w.MaxCapacity < 0 {
		c.addf("maxCapacity", "must be >= 0")
	} else if okMaxCap && w.MaxCapacity != math.Trunc(w.MaxCapacity) {
		c.addf("maxCapacity", "must be a whole number")
	}
	if okMinCap && okMaxCap && w.MinCapacity > w.MaxCapacity {
		c.addf("minCapacity", "must be <= maxCapacity")
	}
	okMinCap = c.atMost("minCapacity", w.MinCapacity, okMinCap, MaxCapacity)
	okMaxCap = c.atMost("maxCapacity", w.MaxCapacity, okMaxCap, MaxCapacity)
	okMinPrice = c.atMost("minPrice", w.MinPrice, okMinPrice, MaxPrice)
	okMaxPrice = c.atMost("maxPrice", w.MaxPrice, okMaxPrice, MaxPrice)
	c.atMost("scalingRatio", w.ScalingRatio, okRatio, MaxScalingRatio)
	if okMinPrice && w.MinPrice < 0 {
		c.addf("minPrice", "must be >= 0")
	}
	if okMaxPrice && w.MaxPrice <= 0 {
		c.addf("maxPrice", "must be > 0")
	}
	if okMinPrice && okMaxPrice && w.MinPrice > w.MaxPrice {
		c.addf("minPrice", "must be <= maxPrice")
	}
	if okRatio && w.ScalingRatio < 0 {
		c.addf("scalingRatio", "must be >= 0")
	}

	w.LaunchSpec = f.launchSpec(levelWorkerType)
	w.UserData = raw(f.freeForm("userData", true))
	w.Secrets = raw(f.freeForm("secrets", true))
	w.Scopes = f.scopes("scopes")

	w.Regions = []RegionConfig{}
	regionAt := map[string]int{}
	for _, rf := range f.objects("regions", true) {
		rf.only(regionKeys...)
		var r RegionConfig
		var ok bool
		if r.Region, ok = rf.str("region"); ok {
			if first, dup := regionAt[r.Region]; dup {
				c.addf(field(rf.path, "region"), "duplicates %s", index("regions", first))
			} else {
				regionAt[r.Region] = rf.at
				c.checkRegion(field(rf.path, "region"), r.Region, o)
			}
		}
		r.LaunchSpec = rf.launchSpec(levelRegion)
		r.UserData = raw(rf.freeForm("userData", true))
		r.Secrets = raw(rf.freeForm("secrets", true))
		r.Scopes = rf.scopes("scopes")
		w.Regions = append(w.Regions, r)
	}

	w.InstanceTypes = []InstanceTypeConfig{}
	typeAt := map[string]int{}
	for _, tf := range f.objects("instanceTypes", true) {
		tf.only(instanceTypeKeys...)
		var t InstanceTypeConfig
		var ok bool
		if t.InstanceType, ok = tf.str("instanceType"); ok {
			if first, dup := typeAt[t.InstanceType]; dup {
				c.addf(field(tf.path, "instanceType"), "duplicates %s", index("instanceTypes", first))
			} else {
				typeAt[t.InstanceType] = tf.at
				if !wellFormedInstanceType(t.InstanceType) {
					c.addf(field(tf.path, "instanceType"), "%q is not a well-formed EC2 instance type", t.InstanceType)
				}
			}
		}
		var okCap, okUtil bool
		if t.Capacity, okCap = tf.num("capacity", true, 0); okCap && t.Capacity <= 0 {
			c.addf(field(tf.path, "capacity"), "must be > 0")
		} else if okCap && t.Capacity != math.Trunc(t.Capacity) {
			c.addf(field(tf.path, "capacity"), "must be a whole number")
		}
		c.atMost(field(tf.path, "capacity"), t.Capacity, okCap, MaxCapacity)
		if t.Utility, okUtil = tf.num("utility", true, 0); okUtil && t.Utility <= 0 {
			c.addf(field(tf.path, "utility"), "must be > 0")
		}
		okUtil = c.atMost(field(tf.path, "utility"), t.Utility, okUtil, MaxUtility)
		if okUtil && t.Utility > 0 && okMaxPrice && okMinPrice &&
			(math.IsInf(w.MaxPrice/t.Utility, 0) || math.IsInf(w.MinPrice/t.Utility, 0)) {
			c.addf(field(tf.path, "utility"), "is too small: maxPrice/utility is not a finite number")
		}
		t.LaunchSpec = tf.launchSpec(levelInstanceType)
		t.UserData = raw(tf.freeForm("userData", true))
		t.Secrets = raw(tf.freeForm("secrets", true))
		t.Scopes = tf.scopes("scopes")
		w.InstanceTypes = append(w.InstanceTypes, t)
	}

	w.AvailabilityZones = []AvailabilityZoneConfig{}
	zoneAt := map[string]int{}
	for _, zf := range f.objects("availabilityZones", false) {
		zf.only(zoneKeys...)
		var z AvailabilityZoneConfig
		zone, okZone := zf.str("availabilityZone")
		region, okRegion := zf.str("region")
		z.AvailabilityZone, z.Region = zone, region
		if okRegion {
			if _, configured := regionAt[region]; !configured {
				c.addf(field(zf.path, "region"), "%q is not one of the worker type's regions", region)
			}
		}
		if okZone {
			switch first, dup := zoneAt[zone]; {
			case dup:
				c.addf(field(zf.path, "availabilityZone"), "duplicates %s", index("availabilityZones", first))
			case okRegion && !zoneOfRegion(zone, region):
				zoneAt[zone] = zf.at
				c.addf(field(zf.path, "availabilityZone"), "%q is not an availability zone of region %q", zone, region)
			default:
				zoneAt[zone] = zf.at
			}
		}
		z.LaunchSpec = zf.launchSpec(levelZone)
		z.UserData = raw(zf.freeForm("userData", false))
		z.Secrets = raw(zf.freeForm("secrets", false))
		w.AvailabilityZones = append(w.AvailabilityZones, z)
	}

	if n := w.combinationCount(); n > maxCombinations {
		c.addf("regions", "x instanceTypes x availabilityZones make %d launch combinations; at most %d are allowed", n, maxCombinations)
	} else {
		c.checkMerged(w, o)
	}
	return w
}

// maxCombinations bounds the regions x instance types (x zones) of a worker type,
// which are each merged, validated and previewed.
const maxCombinations = 1000

// combinationCount is how many region x instance type (x zone) combinations w has.
func (w WorkerType) combinationCount() int {
	n := 0
	for _, r := range w.Regions {
		n += len(w.InstanceTypes) * len(w.zonesOf(r.Region))
	}
	return n
}

// launchSpecLevel is where in a worker type a launchSpec sits.
type launchSpecLevel int

const (
	levelWorkerType launchSpecLevel = iota
	levelRegion
	levelInstanceType
	levelZone
)

// controlled are the RunInstances fields the provisioner sets itself, with why; no
// launch spec may set them.
var controlled = []struct{ field, reason string }{
	{"ClientToken", "the provisioner sets it"},
	{"InstanceMarketOptions", "the provisioner decides between spot and on-demand"},
	{"MaxCount", "the provisioner sets it"},
	{"MinCount", "the provisioner sets it"},
	{"TagSpecifications", "the provisioner tags instances"},
	{"UserData", "the provisioner sets it"},
}

// checkLaunchSpec records the problems of one worker type launchSpec.
func (c *checker) checkLaunchSpec(path string, spec object, level launchSpecLevel) {
	for _, f := range controlled {
		if _, set := spec[f.field]; set {
			c.addf(field(path, f.field), "must not be set: %s", f.reason)
		}
	}
	if _, set := spec["InstanceType"]; set {
		c.addf(field(path, "InstanceType"), "must not be set: it comes from instanceTypes")
	}
	id, set := spec["ImageId"]
	switch {
	case level == levelRegion && !set:
		c.addf(field(path, "ImageId"), "is required")
	case level == levelRegion:
		if s, ok := id.(string); !ok || s == "" {
			c.addf(field(path, "ImageId"), "must be a non-empty string")
		}
	case set:
		c.addf(field(path, "ImageId"), "must not be set: it comes from regions[].launchSpec")
	}
	if p, set := spec["Placement"]; set {
		switch p := p.(type) {
		case map[string]any:
			if _, set := p["AvailabilityZone"]; set {
				c.addf(field(field(path, "Placement"), "AvailabilityZone"), "must not be set: it comes from availabilityZones")
			}
		default:
			c.addf(field(path, "Placement"), "must be an object")
		}
	}
}

// checkMerged checks what only the merged levels show: the user data each
// combination would carry, and (with Options.ValidateLaunchSpec) each merged launch
// spec. A problem the validator reports for many combinations is reported once, for
// the first.
func (c *checker) checkMerged(w WorkerType, o Options) {
	var x *expansion // decoded when first needed
	expanded := func() *expansion {
		if x == nil {
			e := w.expand()
			x = &e
		}
		return x
	}
	seen := map[string]bool{}
	for i, r := range w.Regions {
		for j := range w.InstanceTypes {
			for _, k := range w.zonesOf(r.Region) {
				m := combination{region: i, instanceType: j, zone: k}
				// A merged object is never larger than its levels together, so the
				// exact merge is needed only when they could be too large.
				bound := len(w.UserData) + len(r.UserData) + len(w.InstanceTypes[j].UserData)
				if k >= 0 {
					bound += len(w.AvailabilityZones[k].UserData)
				}
				if bound > maxDataBytes {
					data := object{}
					for _, l := range expanded().levels(i, j, k) {
						mergeInto(data, l.userData)
					}
					if n := len(raw(data)); n > maxDataBytes {
						c.addf("userData", "merged for %s is %d bytes; at most %d fit in EC2 user data", m.label(w), n, maxDataBytes)
					}
				}
				if o.ValidateLaunchSpec == nil {
					continue
				}
				err := o.ValidateLaunchSpec(raw(expanded().mergedLaunchSpec(w, i, j, k)))
				if err != nil && !seen[err.Error()] {
					seen[err.Error()] = true
					c.addf("launchSpec", "merged for %s: %v", m.label(w), err)
				}
			}
		}
	}
}

// Definition is the canonical JSON of the worker type, as stored: the request body
// with defaults applied and nulls normalised, members in a stable order.
func (w WorkerType) Definition() json.RawMessage {
	w.AvailabilityZones = nonNil(w.AvailabilityZones)
	w.InstanceTypes = nonNil(w.InstanceTypes)
	w.Regions = nonNil(w.Regions)
	w.Scopes = nonNil(w.Scopes)
	w.LaunchSpec, w.UserData, w.Secrets = objectOrEmpty(w.LaunchSpec), objectOrEmpty(w.UserData), objectOrEmpty(w.Secrets)
	for i, r := range w.Regions {
		r.Scopes = nonNil(r.Scopes)
		r.LaunchSpec, r.UserData, r.Secrets = objectOrEmpty(r.LaunchSpec), objectOrEmpty(r.UserData), objectOrEmpty(r.Secrets)
		w.Regions[i] = r
	}
	for i, t := range w.InstanceTypes {
		t.Scopes = nonNil(t.Scopes)
		t.LaunchSpec, t.UserData, t.Secrets = objectOrEmpty(t.LaunchSpec), objectOrEmpty(t.UserData), objectOrEmpty(t.Secrets)
		w.InstanceTypes[i] = t
	}
	for i, z := range w.AvailabilityZones {
		z.LaunchSpec, z.UserData, z.Secrets = objectOrEmpty(z.LaunchSpec), objectOrEmpty(z.UserData), objectOrEmpty(z.Secrets)
		w.AvailabilityZones[i] = z
	}
	b, err := marshal(w)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

// Equal reports whether a and b are the same definition: whatever the order of
// their members and whether defaults were spelled out, their canonical JSON is the
// same. createWorkerType uses it to tell an idempotent repeat from a conflict.
func Equal(a, b WorkerType) bool {
	return bytes.Equal(a.Definition(), b.Definition())
}

// Sizing is the worker type's capacity bounds and scaling ratio; its instances have
// no registration deadline and live at most WorkerTypeLifetime.
func (w WorkerType) Sizing() Sizing {
	return Sizing{
		MinCapacity:           w.MinCapacity,
		MaxCapacity:           w.MaxCapacity,
		ScalingRatio:          w.ScalingRatio,
		ReregistrationTimeout: WorkerTypeLifetime,
	}
}

// nonNil returns s, or an empty slice for nil, so it marshals as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return slices.Clone(s)
}

func objectOrEmpty(r json.RawMessage) json.RawMessage {
	if len(r) == 0 || string(r) == "null" {
		return json.RawMessage("{}")
	}
	return r
}

// formatTime is how times appear in user data and responses, as Taskcluster writes
// them (JavaScript's toISOString).
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
