package fakecloud

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2"
)

// DefaultRegions are the catalog's regions when the configuration names none.
var DefaultRegions = []string{"eu-central-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2"}

// DefaultInstanceTypes are the catalog's instance types when the configuration
// names none; their prices are the EC2 driver's (ec2.ApproxOnDemandPrice).
var DefaultInstanceTypes = []string{
	"c5.2xlarge", "c5.large", "c5.xlarge", "c6g.large",
	"g4dn.xlarge",
	"m5.2xlarge", "m5.large", "m5.xlarge", "m6g.large",
	"p3.2xlarge",
	"r5.large", "r5.xlarge",
	"t3.large", "t3.medium", "t3.micro", "t3.small",
}

// typeInfo is an instance type of the catalog.
type typeInfo struct {
	name string
	arch string
	// usEast1 is the on-demand price in us-east-1.
	usEast1 float64
}

// region is one simulated region: its zones, subnets, prices and instances.
type region struct {
	name     string
	azs      []string
	subnets  map[string]string // subnet id -> AZ
	onDemand map[string]float64
	prices   map[string]*spotPrice // "<az>/<type>"
	order    []string              // keys of prices, sorted, for deterministic walks
	live     int                   // instances not yet terminated, for the quota
	sets     map[cloud.InstanceSetID]*setIndex
}

func (r *region) hasAZ(az string) bool {
	for _, a := range r.azs {
		if a == az {
			return true
		}
	}
	return false
}

// spotPrice is one AZ's spot price for one type: it walks around base.
type spotPrice struct {
	base    float64
	current float64
	changed time.Time
}

// setIndex indexes one instance set's instances in a region, by id and by the
// value of their TagPool tag ("" for none).
type setIndex struct {
	all    map[string]*instance
	byPool map[string]map[string]*instance
}

func regionOfAZ(az string) string {
	if len(az) < 2 {
		return ""
	}
	return az[:len(az)-1]
}

// architecture guesses an instance type's CPU architecture from its family: a
// "g" after the generation digit means Graviton (m6g, c7gn, x2gd), as does mac2.
func architecture(instanceType string) string {
	family, _, _ := strings.Cut(instanceType, ".")
	if strings.HasPrefix(family, "mac2") {
		return "arm64"
	}
	i := strings.IndexAny(family, "0123456789")
	if i >= 0 && strings.Contains(family[i:], "g") {
		return "arm64"
	}
	return "x86_64"
}

// buildCatalog fills regions, zones, subnets, on-demand prices and the spot
// prices' starting points (drawn from the seeded generator in sorted order).
func (c *Cloud) buildCatalog() {
	c.catalog = map[string]typeInfo{}
	if c.cfg.InstanceTypes != nil {
		for t, p := range c.cfg.InstanceTypes {
			c.catalog[t] = typeInfo{name: t, arch: architecture(t), usEast1: p}
		}
	} else {
		for _, t := range DefaultInstanceTypes {
			p, _ := ec2.ApproxOnDemandPrice("us-east-1", t)
			c.catalog[t] = typeInfo{name: t, arch: architecture(t), usEast1: p}
		}
	}
	names := c.cfg.Regions
	if len(names) == 0 {
		names = DefaultRegions
	}
	c.regionNames = append([]string(nil), names...)
	sort.Strings(c.regionNames)
	types := make([]string, 0, len(c.catalog))
	for t := range c.catalog {
		types = append(types, t)
	}
	sort.Strings(types)

	start := c.now().UTC()
	c.regions = map[string]*region{}
	for _, name := range c.regionNames {
		r := &region{
			name:     name,
			subnets:  map[string]string{},
			onDemand: map[string]float64{},
			prices:   map[string]*spotPrice{},
			sets:     map[cloud.InstanceSetID]*setIndex{},
		}
		factor := regionFactor(name)
		for _, t := range types {
			r.onDemand[t] = math.Round(c.catalog[t].usEast1*factor*1e6) / 1e6
		}
		for _, suffix := range []string{"a", "b", "c"} {
			az := name + suffix
			r.azs = append(r.azs, az)
			r.subnets[subnetID(az)] = az
			for _, t := range types {
				// Spot prices start at 28% to 48% of on-demand, differently per AZ.
				base := roundPrice(r.onDemand[t] * (0.28 + 0.2*c.prices.Float64()))
				key := az + "/" + t
				r.prices[key] = &spotPrice{base: base, current: base, changed: start}
				r.order = append(r.order, key)
			}
		}
		c.regions[name] = r
	}
}

// regionFactor is how much dearer region is than us-east-1, from the EC2 driver's
// price table (1 for regions it does not know).
func regionFactor(name string) float64 {
	here, ok1 := ec2.ApproxOnDemandPrice(name, "m5.large")
	base, ok2 := ec2.ApproxOnDemandPrice("us-east-1", "m5.large")
	if !ok1 || !ok2 || base == 0 {
		return 1
	}
	return here / base
}

// subnetID is the id of an AZ's default subnet, stable whatever the seed.
func subnetID(az string) string {
	h := fnv.New64a()
	h.Write([]byte(az))
	return fmt.Sprintf("subnet-0%016x", h.Sum64())
}

func roundPrice(p float64) float64 {
	p = math.Round(p*1e4) / 1e4
	if p < 0.0001 {
		p = 0.0001
	}
	return p
}

// walkPrices moves every spot price one step of a mean-reverting random walk in
// log space (an Ornstein-Uhlenbeck step pulled 5% of the way back to its base,
// plus noise of PriceVolatility), capped at the on-demand price.
func (c *Cloud) walkPrices(now time.Time) {
	vol := c.cfg.PriceVolatility
	if vol <= 0 {
		return
	}
	const pull = 0.05
	for _, name := range c.regionNames {
		r := c.regions[name]
		for _, key := range r.order {
			sp := r.prices[key]
			_, typ, _ := strings.Cut(key, "/")
			logP := math.Log(sp.current)
			logP += pull*(math.Log(sp.base)-logP) + vol*c.prices.NormFloat64()
			p := roundPrice(math.Min(math.Exp(logP), r.onDemand[typ]))
			if p != sp.current {
				sp.current = p
				sp.changed = now
			}
		}
	}
}

// SetSpotPrice sets the spot price of instanceType in availability zone az (and
// the level the random walk returns to).
func (c *Cloud) SetSpotPrice(az, instanceType string, price float64) error {
	if price <= 0 || math.IsInf(price, 0) || math.IsNaN(price) {
		return fmt.Errorf("spot price %v is not a positive price", price)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.regions[regionOfAZ(az)]
	if !ok {
		return fmt.Errorf("unknown availability zone %q", az)
	}
	sp, ok := r.prices[az+"/"+instanceType]
	if !ok {
		return fmt.Errorf("no spot price for %s in %q", instanceType, az)
	}
	sp.base, sp.current, sp.changed = price, price, c.now().UTC()
	return nil
}
