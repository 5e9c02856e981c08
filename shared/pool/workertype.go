package pool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

	written json.RawMessage // the body as written, without workerType and lastModified
	namedAs string          // the body's workerType member, if it had one
}

// Written is the definition exactly as it was written (insignificant whitespace
// removed; member order, number spellings and nulls kept), without the workerType
// and lastModified members of a response: what is stored and returned, so a read
// shows no difference from what was written. Defaults are applied when it is used.
func (w WorkerType) Written() json.RawMessage {
	if len(w.written) == 0 {
		return w.Definition()
	}
	return w.written
}

// NamedAs is the workerType member of the body (as in the body of a GET sent back),
// or "" if it had none; the caller checks it names the worker type addressed.
func (w WorkerType) NamedAs() string { return w.namedAs }

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

// maxDataBytes bounds what a definition may put into an instance's user data (a
// worker type's merged userData, a launch config's workerConfig plus
// additionalUserData): EC2 takes at most 16 KiB and 1 KiB is kept for the fields
// the provisioner adds.
const maxDataBytes = ec2UserDataLimit - 1024

// ec2UserDataLimit is the most user data EC2 accepts, before base64.
const ec2UserDataLimit = 16384

// ParseWorkerType validates a createWorkerType/updateWorkerType request body and
// returns the worker type, defaults applied, together with the definition as written
// (Written). Every problem found is reported at once in an *InvalidError; no other
// error is returned.
//
// Validation is one mechanism in two steps: the aws-provisioner's published worker
// type schema (schemas/worker-type*.json; as the v19 clients describe it, with
// secrets), then the checks no schema can express, each a small named function
// (checkMarkets, checkCapacities, checkPrices, checkRegions, checkInstanceTypes,
// checkZones, checkLaunchSpecs, checkCombinations). The second step runs only on a
// body the schema accepts.
//
// Before the schema, null launchSpec, userData and secrets mean {} and null scopes
// and availabilityZones mean [], which is what the official Go client sends for fields
// left unset; and the workerType and lastModified members a workerType response adds
// are dropped (workerType must then name this worker type: see WorkerType.NamedAs),
// so the body of a GET can be sent back. minCapacity defaults to 0, canUseSpot to
// true, canUseOndemand to false, availabilityZones to []. A worker type may have at
// most 1000 region x instance type (x availability zone) combinations.
func ParseWorkerType(body []byte, o ParseOptions) (WorkerType, error) {
	if len(body) > MaxDefinitionBytes {
		return WorkerType{}, invalid(fmt.Sprintf("body is %d bytes; a worker type definition may have at most %d", len(body), MaxDefinitionBytes))
	}
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
	namedAs, _ := obj["workerType"].(string)
	_, hasName := obj["workerType"]
	delete(obj, "workerType")
	delete(obj, "lastModified")
	nullsAsEmpty(obj)
	schema, err := workerTypeSchema()
	if err != nil {
		return WorkerType{}, fmt.Errorf("compile the worker type schema: %w", err)
	}
	if !o.Stored {
		c.validateSchema(schema, obj)
	}
	if hasName && namedAs == "" {
		c.addf("workerType", "must be a non-empty string")
	}
	if err := c.err(); err != nil {
		return WorkerType{}, err
	}
	w, ok := c.decodeWorkerType(obj)
	if !ok {
		return WorkerType{}, c.err()
	}
	c.checkMarkets(w)
	c.checkCapacities(w)
	c.checkPrices(w)
	c.checkRegions(w, o)
	c.checkInstanceTypes(w)
	c.checkZones(w)
	c.checkLaunchSpecs(w)
	c.checkCombinations(w, o)
	if err := c.err(); err != nil {
		return WorkerType{}, err
	}
	w.namedAs = namedAs
	if w.written, err = withoutMembers(body, "workerType", "lastModified"); err != nil {
		return WorkerType{}, invalid("body cannot be stored: " + err.Error())
	}
	return w, nil
}

// nullsAsEmpty replaces, in a worker type body, the nulls the official Go client
// sends for members left unset with what they mean: {} for launchSpec, userData and
// secrets, [] for scopes and availabilityZones, and absent for the optional
// minCapacity, canUseSpot and canUseOndemand.
func nullsAsEmpty(obj object) {
	objects := []string{"launchSpec", "userData", "secrets"}
	fix := func(m object, arrays ...string) {
		for _, k := range objects {
			if v, ok := m[k]; ok && v == nil {
				m[k] = object{}
			}
		}
		for _, k := range arrays {
			if v, ok := m[k]; ok && v == nil {
				m[k] = []any{}
			}
		}
	}
	fix(obj, "scopes", "availabilityZones")
	for _, k := range []string{"minCapacity", "canUseSpot", "canUseOndemand"} {
		if v, ok := obj[k]; ok && v == nil {
			delete(obj, k) // optional: null is absent
		}
	}
	for _, list := range []string{"regions", "instanceTypes", "availabilityZones"} {
		items, _ := obj[list].([]any)
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				fix(m, "scopes")
			}
		}
	}
}

// decodeWorkerType decodes a body the schema accepted, with defaults applied.
func (c *checker) decodeWorkerType(obj object) (WorkerType, bool) {
	b, err := marshal(obj)
	if err == nil {
		var w WorkerType
		if err = json.Unmarshal(b, &w); err == nil {
			if _, set := obj["canUseSpot"]; !set {
				w.CanUseSpot = true
			}
			w.normalizeEmpty()
			return w, true
		}
	}
	c.addf("", "cannot be decoded: %v", err)
	return WorkerType{}, false
}

// normalizeEmpty gives every free-form member and list a value: {} and [].
func (w *WorkerType) normalizeEmpty() {
	w.AvailabilityZones = nonNil(w.AvailabilityZones)
	w.InstanceTypes = nonNil(w.InstanceTypes)
	w.Regions = nonNil(w.Regions)
	w.Scopes = nonNil(w.Scopes)
	w.LaunchSpec, w.UserData, w.Secrets = objectOrEmpty(w.LaunchSpec), objectOrEmpty(w.UserData), objectOrEmpty(w.Secrets)
	for i := range w.Regions {
		r := &w.Regions[i]
		r.Scopes = nonNil(r.Scopes)
		r.LaunchSpec, r.UserData, r.Secrets = objectOrEmpty(r.LaunchSpec), objectOrEmpty(r.UserData), objectOrEmpty(r.Secrets)
	}
	for i := range w.InstanceTypes {
		t := &w.InstanceTypes[i]
		t.Scopes = nonNil(t.Scopes)
		t.LaunchSpec, t.UserData, t.Secrets = objectOrEmpty(t.LaunchSpec), objectOrEmpty(t.UserData), objectOrEmpty(t.Secrets)
	}
	for i := range w.AvailabilityZones {
		z := &w.AvailabilityZones[i]
		z.LaunchSpec, z.UserData, z.Secrets = objectOrEmpty(z.LaunchSpec), objectOrEmpty(z.UserData), objectOrEmpty(z.Secrets)
	}
}

// checkMarkets: at least one market.
func (c *checker) checkMarkets(w WorkerType) {
	if !w.CanUseSpot && !w.CanUseOndemand {
		c.addf("canUseSpot", "and canUseOndemand cannot both be false")
	}
}

// checkCapacities: whole, non-negative capacities with minCapacity <= maxCapacity,
// none beyond MaxCapacity; 0 <= scalingRatio <= MaxScalingRatio.
// Capacities are whole numbers: listWorkerTypeSummaries reports them as integers
// (the official clients decode int64), and so do the workers reading capacity from
// their user data.
func (c *checker) checkCapacities(w WorkerType) {
	whole := func(path string, v float64) bool {
		switch {
		case v < 0:
			c.addf(path, "must be >= 0")
		case v != math.Trunc(v):
			c.addf(path, "must be a whole number")
		default:
			return true
		}
		return false
	}
	okMin := whole("minCapacity", w.MinCapacity)
	okMax := whole("maxCapacity", w.MaxCapacity)
	if okMin && okMax && w.MinCapacity > w.MaxCapacity {
		c.addf("minCapacity", "must be <= maxCapacity")
	}
	c.atMost("minCapacity", w.MinCapacity, okMin, MaxCapacity)
	c.atMost("maxCapacity", w.MaxCapacity, okMax, MaxCapacity)
	if w.ScalingRatio < 0 {
		c.addf("scalingRatio", "must be >= 0")
	}
	c.atMost("scalingRatio", w.ScalingRatio, true, MaxScalingRatio)
}

// checkPrices: 0 <= minPrice <= maxPrice, maxPrice > 0, neither beyond MaxPrice.
func (c *checker) checkPrices(w WorkerType) {
	if w.MinPrice < 0 {
		c.addf("minPrice", "must be >= 0")
	}
	if w.MaxPrice <= 0 {
		c.addf("maxPrice", "must be > 0")
	}
	c.atMost("minPrice", w.MinPrice, true, MaxPrice)
	c.atMost("maxPrice", w.MaxPrice, true, MaxPrice)
	if w.MinPrice >= 0 && w.MaxPrice > 0 && w.MinPrice > w.MaxPrice {
		c.addf("minPrice", "must be <= maxPrice")
	}
}

// checkRegions: at least one, each once, well formed and allowed here.
func (c *checker) checkRegions(w WorkerType, o ParseOptions) {
	if len(w.Regions) == 0 {
		c.addf("regions", "must have at least 1 item")
	}
	at := map[string]int{}
	for i, r := range w.Regions {
		path := field(index("regions", i), "region")
		if first, dup := at[r.Region]; dup {
			c.addf(path, "duplicates %s", index("regions", first))
			continue
		}
		at[r.Region] = i
		c.checkRegion(path, r.Region, o)
	}
}

// checkInstanceTypes: at least one, each once and well formed, with a whole
// capacity in (0, MaxCapacity] and a utility in (0, MaxUtility] that keeps
// maxPrice/utility finite.
func (c *checker) checkInstanceTypes(w WorkerType) {
	if len(w.InstanceTypes) == 0 {
		c.addf("instanceTypes", "must have at least 1 item")
	}
	at := map[string]int{}
	for i, t := range w.InstanceTypes {
		path := index("instanceTypes", i)
		if first, dup := at[t.InstanceType]; dup {
			c.addf(field(path, "instanceType"), "duplicates %s", index("instanceTypes", first))
		} else {
			at[t.InstanceType] = i
			if !wellFormedInstanceType(t.InstanceType) {
				c.addf(field(path, "instanceType"), "%q is not a well-formed EC2 instance type", t.InstanceType)
			}
		}
		if t.Capacity <= 0 {
			c.addf(field(path, "capacity"), "must be > 0")
		} else if t.Capacity != math.Trunc(t.Capacity) {
			c.addf(field(path, "capacity"), "must be a whole number")
		}
		c.atMost(field(path, "capacity"), t.Capacity, true, MaxCapacity)
		switch {
		case t.Utility <= 0:
			c.addf(field(path, "utility"), "must be > 0")
		case !c.atMost(field(path, "utility"), t.Utility, true, MaxUtility):
		case w.MaxPrice > MaxPrice || w.MinPrice > MaxPrice:
		case math.IsInf(w.MaxPrice/t.Utility, 0) || math.IsInf(w.MinPrice/t.Utility, 0):
			c.addf(field(path, "utility"), "is too small: maxPrice/utility is not a finite number")
		}
	}
}

// checkZones: each zone once, in one of the worker type's regions, and a zone of it.
func (c *checker) checkZones(w WorkerType) {
	regions := map[string]bool{}
	for _, r := range w.Regions {
		regions[r.Region] = true
	}
	at := map[string]int{}
	for i, z := range w.AvailabilityZones {
		path := index("availabilityZones", i)
		if !regions[z.Region] {
			c.addf(field(path, "region"), "%q is not one of the worker type's regions", z.Region)
		}
		switch first, dup := at[z.AvailabilityZone]; {
		case dup:
			c.addf(field(path, "availabilityZone"), "duplicates %s", index("availabilityZones", first))
		case !zoneOfRegion(z.AvailabilityZone, z.Region):
			at[z.AvailabilityZone] = i
			c.addf(field(path, "availabilityZone"), "%q is not an availability zone of region %q", z.AvailabilityZone, z.Region)
		default:
			at[z.AvailabilityZone] = i
		}
	}
}

// checkLaunchSpecs checks every launchSpec for the fields its level may not set.
func (c *checker) checkLaunchSpecs(w WorkerType) {
	c.checkLaunchSpec("launchSpec", decodeObject(w.LaunchSpec), levelWorkerType)
	for i, r := range w.Regions {
		c.checkLaunchSpec(field(index("regions", i), "launchSpec"), decodeObject(r.LaunchSpec), levelRegion)
	}
	for i, t := range w.InstanceTypes {
		c.checkLaunchSpec(field(index("instanceTypes", i), "launchSpec"), decodeObject(t.LaunchSpec), levelInstanceType)
	}
	for i, z := range w.AvailabilityZones {
		c.checkLaunchSpec(field(index("availabilityZones", i), "launchSpec"), decodeObject(z.LaunchSpec), levelZone)
	}
}

// checkCombinations bounds the combinations and checks each merged one.
func (c *checker) checkCombinations(w WorkerType, o ParseOptions) {
	if n := w.combinationCount(); n > maxCombinations {
		c.addf("regions", "x instanceTypes x availabilityZones make %d launch combinations; at most %d are allowed", n, maxCombinations)
		return
	}
	c.checkMerged(w, o)
}

// withoutMembers is a JSON object's text without the named top-level members,
// insignificant whitespace removed and everything else (member order, number
// spellings) as written.
func withoutMembers(body []byte, names ...string) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var out bytes.Buffer
	out.WriteByte('{')
	first := true
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		if slices.Contains(names, key) {
			continue
		}
		if !first {
			out.WriteByte(',')
		}
		first = false
		k, err := marshal(key)
		if err != nil {
			return nil, err
		}
		out.Write(k)
		out.WriteByte(':')
		if err := json.Compact(&out, value); err != nil {
			return nil, err
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
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
// combination would carry, and (with ParseOptions.ValidateLaunchSpec) each merged launch
// spec. A problem the validator reports for many combinations is reported once, for
// the first.
func (c *checker) checkMerged(w WorkerType, o ParseOptions) {
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
						assignInto(data, l.userData)
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

// Definition is the canonical JSON of the worker type: defaults applied, nulls
// normalised, members in a stable order. Equal compares it; Written is what is stored.
func (w WorkerType) Definition() json.RawMessage {
	w.written, w.namedAs = nil, ""
	w.AvailabilityZones = slices.Clone(w.AvailabilityZones)
	w.InstanceTypes = slices.Clone(w.InstanceTypes)
	w.Regions = slices.Clone(w.Regions)
	w.normalizeEmpty()
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
