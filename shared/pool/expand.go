package pool

import (
	"encoding/json"
	"fmt"
	"slices"
)

// level is one level of a worker type's launchSpec, userData and secrets, decoded.
type level struct {
	launchSpec, userData, secrets object
}

func decodeLevel(launchSpec, userData, secrets json.RawMessage) level {
	return level{decodeObject(launchSpec), decodeObject(userData), decodeObject(secrets)}
}

// expansion is a worker type's levels, decoded once.
type expansion struct {
	top     level
	regions []level // as w.Regions
	types   []level // as w.InstanceTypes
	zones   []level // as w.AvailabilityZones
}

func (w WorkerType) expand() expansion {
	x := expansion{top: decodeLevel(w.LaunchSpec, w.UserData, w.Secrets)}
	for _, r := range w.Regions {
		x.regions = append(x.regions, decodeLevel(r.LaunchSpec, r.UserData, r.Secrets))
	}
	for _, t := range w.InstanceTypes {
		x.types = append(x.types, decodeLevel(t.LaunchSpec, t.UserData, t.Secrets))
	}
	for _, z := range w.AvailabilityZones {
		x.zones = append(x.zones, decodeLevel(z.LaunchSpec, z.UserData, z.Secrets))
	}
	return x
}

// combination is one region x instance type (x availability zone, where zones are
// configured for the region) with its levels merged.
type combination struct {
	region, instanceType, zone    int // indexes; zone -1 for none
	launchSpec, userData, secrets object
}

func (m combination) label(w WorkerType) string {
	s := fmt.Sprintf("region %q, instance type %q", w.Regions[m.region].Region, w.InstanceTypes[m.instanceType].InstanceType)
	if m.zone >= 0 {
		s += fmt.Sprintf(", availability zone %q", w.AvailabilityZones[m.zone].AvailabilityZone)
	}
	return s
}

// zonesOf returns the indexes of the zones configured for region, or [-1] (any
// zone) if there are none.
func (w WorkerType) zonesOf(region string) []int {
	var out []int
	for k, z := range w.AvailabilityZones {
		if z.Region == region {
			out = append(out, k)
		}
	}
	if out == nil {
		return []int{-1}
	}
	return out
}

// combinations lists every launchable combination, regions in definition order,
// then instance types, then zones.
func (x expansion) combinations(w WorkerType) []combination {
	var out []combination
	for i, r := range w.Regions {
		for j := range w.InstanceTypes {
			for _, k := range w.zonesOf(r.Region) {
				out = append(out, x.merge(w, i, j, k))
			}
		}
	}
	return out
}

// levels are the levels of region i, instance type j and zone k (-1: none), in
// the aws-provisioner's merge order: worker type, region, availability zone,
// instance type.
func (x expansion) levels(i, j, k int) []level {
	levels := []level{x.top, x.regions[i]}
	if k >= 0 {
		levels = append(levels, x.zones[k])
	}
	return append(levels, x.types[j])
}

// merge merges the levels of region i, instance type j and zone k (-1: none) in the
// documented order, then sets the fields that come from the definition's structure.
func (x expansion) merge(w WorkerType, i, j, k int) combination {
	m := combination{region: i, instanceType: j, zone: k, launchSpec: object{}, userData: object{}, secrets: object{}}
	for _, l := range x.levels(i, j, k) {
		assignInto(m.launchSpec, l.launchSpec)
		assignInto(m.userData, l.userData)
		assignInto(m.secrets, l.secrets)
	}
	x.finishLaunchSpec(w, m.launchSpec, i, j, k)
	return m
}

// mergedLaunchSpec is merge's launchSpec alone.
func (x expansion) mergedLaunchSpec(w WorkerType, i, j, k int) object {
	spec := object{}
	for _, l := range x.levels(i, j, k) {
		assignInto(spec, l.launchSpec)
	}
	x.finishLaunchSpec(w, spec, i, j, k)
	return spec
}

// finishLaunchSpec sets ImageId, InstanceType and Placement.AvailabilityZone.
func (x expansion) finishLaunchSpec(w WorkerType, spec object, i, j, k int) {
	if id, ok := x.regions[i].launchSpec["ImageId"]; ok {
		spec["ImageId"] = id
	}
	spec["InstanceType"] = w.InstanceTypes[j].InstanceType
	if k >= 0 {
		placement, ok := spec["Placement"].(map[string]any)
		if !ok {
			placement = object{}
		}
		placement["AvailabilityZone"] = w.AvailabilityZones[k].AvailabilityZone
		spec["Placement"] = placement
	}
}

// scopes is the union of the worker type's, region i's and instance type j's scopes,
// sorted and without duplicates.
func (w WorkerType) scopes(i, j int) []string {
	out := make([]string, 0, len(w.Scopes)+len(w.Regions[i].Scopes)+len(w.InstanceTypes[j].Scopes))
	out = append(out, w.Scopes...)
	out = append(out, w.Regions[i].Scopes...)
	out = append(out, w.InstanceTypes[j].Scopes...)
	slices.Sort(out)
	return slices.Compact(out)
}

// option builds the Option for a merged combination; the caller sets the market.
func (w WorkerType) option(m combination) Option {
	r, t := w.Regions[m.region], w.InstanceTypes[m.instanceType]
	zone, zoneID := "", "*"
	if m.zone >= 0 {
		zone = w.AvailabilityZones[m.zone].AvailabilityZone
		zoneID = zone
	}
	imageID, _ := m.launchSpec["ImageId"].(string)
	return Option{
		ID:               fmt.Sprintf("%s/%s/%s", r.Region, zoneID, t.InstanceType),
		Region:           r.Region,
		AvailabilityZone: zone,
		InstanceType:     t.InstanceType,
		ImageID:          imageID,
		Capacity:         t.Capacity,
		Utility:          t.Utility,
		MinPrice:         w.MinPrice / t.Utility,
		MaxPrice:         w.MaxPrice * t.Utility,
		Bid:              AWSProvisionerBids(w.MinPrice),
		LaunchSpec:       raw(m.launchSpec),
		UserData:         raw(m.userData),
		Secrets:          raw(m.secrets),
		Scopes:           w.scopes(m.region, m.instanceType),
	}
}

// Options expands the worker type into its launch options: every region x instance
// type, times every configured availability zone of the region where there are any
// (otherwise one option with AvailabilityZone ""), times each allowed market (spot
// first). Their order follows the definition.
func (w WorkerType) Options() []Option {
	x := w.expand()
	var out []Option
	for _, m := range x.combinations(w) {
		base := w.option(m)
		for _, spot := range w.markets() {
			o := base
			o.ID = base.ID + "/" + market(spot)
			o.Spot = spot
			o.Scopes = slices.Clone(base.Scopes)
			out = append(out, o)
		}
	}
	return out
}

// markets lists the markets the worker type may use, spot first.
func (w WorkerType) markets() []bool {
	var out []bool
	if w.CanUseSpot {
		out = append(out, true)
	}
	if w.CanUseOndemand {
		out = append(out, false)
	}
	return out
}
