package sim

import (
	"context"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"sort"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
)

// The spot market (Options.Market MarketSpot) prices each option (an instance
// type in an availability zone) as spot markets have behaved since EC2's 2017
// pricing change, so that buying the cheapest option is worth what it would be:
//
//   - Level: an option's long-run price is its type's share of the on-demand
//     price, drawn per type in [marketShareLo, marketShareHi], times a per-zone
//     factor exp(N(0, marketZoneSpread)). EC2's own statement is "up to 90 %" off
//     on-demand; AWS's Spot Instance Advisor lists savings per type and region,
//     which for current general-purpose and compute types in us-east-1 mostly lie
//     between 60 % and 70 % (assumed here, not retrieved for this run: the share
//     30-40 %). The zone spread is an assumption: zones of one type usually within
//     ±10-20 % of each other.
//   - Drift: prices "adjust gradually based on long-term trends in supply and
//     demand" (AWS, announcing the 2017 model, https://aws.amazon.com/blogs/compute/
//     new-amazon-ec2-spot-pricing/): each hour every option's log price moves by
//     N(0, marketHourlyVol) and is pulled 1/marketReversionHours of the way back to
//     its level. The figures (3 % an hour, a 2-day pull: about ±10 % around the
//     level) are assumptions, so the cheapest option changes within days, not
//     minutes.
//   - Interruptions: AWS's Spot Instance Advisor sorts types into bands of the
//     frequency of interruption over the last month (<5 %, 5-10 %, 10-15 %,
//     15-20 %, >20 %); AWS says the average has stayed below 5 %. Reading the
//     band as the share of instances interrupted, workers that live an hour or
//     two need about 2 % an instance-hour to reach the lowest band's top:
//     marketInterruptions, at an option's level, rising with its price as
//     (price/level)^marketScarcity (scarcity shows in the price).
//   - Capacity: each option can hold only so many of our instances, drawn in
//     [marketSpareLo, marketSpareHi] at its level and shrinking as
//     (level/price)^marketScarcity; a launch beyond it fails with
//     InsufficientInstanceCapacity, as does any launch with probability
//     marketCapacityErrors × (price/level)^marketScarcity. EC2 launches are all
//     or nothing (MinCount = MaxCount). These figures are assumptions.
//
// The prices' path depends on the seed alone, so every policy pays the same
// prices; the draws of errors and interruptions follow each policy's own calls.
const (
	marketShareLo         = 0.30
	marketShareHi         = 0.40
	marketZoneSpread      = 0.10
	marketHourlyVol       = 0.03
	marketReversionHours  = 48.0
	marketInterruptions   = 0.02 // per instance-hour at the level
	marketCapacityErrors  = 0.01 // per launch call at the level
	marketSpareLo         = 100
	marketSpareHi         = 400
	marketScarcity        = 4.0
	marketPriceEvery      = time.Hour
	marketInterruptsEvery = time.Minute
)

type market struct {
	cloud   *fakecloud.Cloud
	prices  *mrand.Rand // the price path alone
	draws   *mrand.Rand // errors and interruptions
	options []*marketOption
	byKey   map[string]*marketOption
}

type marketOption struct {
	az, instanceType string
	level, price     float64
	logDev           float64
	spare            float64
}

// scarcity is (price/level)^marketScarcity: 1 at the level, above when dearer.
func (o *marketOption) scarcity() float64 { return math.Pow(o.price/o.level, marketScarcity) }

func newMarket(seed int64, c *fakecloud.Cloud, regions, types []string) (*market, error) {
	m := &market{cloud: c, prices: mrand.New(mrand.NewPCG(uint64(seed), 0x6d61726b6574)),
		draws: mrand.New(mrand.NewPCG(uint64(seed), 0x6472617773)), byKey: map[string]*marketOption{}}
	sorted := append([]string(nil), types...)
	sort.Strings(sorted)
	share := map[string]float64{}
	for _, t := range sorted {
		share[t] = marketShareLo + (marketShareHi-marketShareLo)*m.prices.Float64()
	}
	set := c.InstanceSet("sim")
	for _, region := range regions {
		ps, err := set.SpotPrices(context.Background(), region, sorted)
		if err != nil {
			return nil, fmt.Errorf("market: %w", err)
		}
		sort.Slice(ps, func(i, j int) bool {
			return ps[i].AvailabilityZone+"/"+ps[i].InstanceType < ps[j].AvailabilityZone+"/"+ps[j].InstanceType
		})
		for _, p := range ps {
			od, ok := set.OnDemandPrice(region, p.InstanceType)
			if !ok {
				return nil, fmt.Errorf("market: no on-demand price for %s in %s", p.InstanceType, region)
			}
			level := od * share[p.InstanceType] * math.Exp(marketZoneSpread*m.prices.NormFloat64())
			o := &marketOption{az: p.AvailabilityZone, instanceType: p.InstanceType, level: level, price: level,
				spare: marketSpareLo + (marketSpareHi-marketSpareLo)*m.prices.Float64()}
			m.options = append(m.options, o)
			m.byKey[o.az+"/"+o.instanceType] = o
		}
	}
	return m, m.publish()
}

// publish sets the fake cloud's spot prices to the market's.
func (m *market) publish() error {
	for _, o := range m.options {
		if err := m.cloud.SetSpotPrice(o.az, o.instanceType, math.Round(o.price*1e4)/1e4); err != nil {
			return fmt.Errorf("market: %w", err)
		}
	}
	return nil
}

// step moves the market to t: prices every marketPriceEvery, interruptions of
// r's running spot workers every marketInterruptsEvery.
func (m *market) step(t time.Duration, r *run) {
	if t > 0 && t%marketPriceEvery == 0 {
		for _, o := range m.options {
			o.logDev += -o.logDev/marketReversionHours + marketHourlyVol*m.prices.NormFloat64()
			o.price = o.level * math.Exp(o.logDev)
		}
		if err := m.publish(); err != nil && r.failed == nil {
			r.failed = err
		}
	}
	if t%marketInterruptsEvery != 0 {
		return
	}
	ids := make([]string, 0, len(r.alive))
	for id, w := range r.alive {
		if w.spot && w.started >= 0 && !w.shutdown {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		w := r.alive[id]
		o := m.byKey[w.az+"/"+w.instanceType]
		if o == nil {
			continue
		}
		if m.draws.Float64() < marketInterruptions*o.scarcity()*marketInterruptsEvery.Hours() {
			if err := m.cloud.Interrupt(id); err != nil && r.failed == nil {
				r.failed = err
			}
		}
	}
}

// marketSet is the fake cloud's instance set with the market's capacity.
type marketSet struct {
	*fakecloud.InstanceSet
	m    *market
	live func(az, instanceType string) int
}

// Launch fails with InsufficientInstanceCapacity where the market has no room
// for the request, or by chance; else it is the fake cloud's.
func (s *marketSet) Launch(ctx context.Context, req cloud.LaunchRequest) ([]cloud.Instance, error) {
	if o := s.m.byKey[req.AvailabilityZone+"/"+req.InstanceType]; o != nil && req.Spot {
		room := o.spare/o.scarcity() - float64(s.live(o.az, o.instanceType))
		if float64(req.Count) > room || s.m.draws.Float64() < marketCapacityErrors*o.scarcity() {
			return nil, cloud.ClassifyEC2Error("InsufficientInstanceCapacity",
				fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%s).", req.InstanceType, req.AvailabilityZone),
				time.Time{})
		}
	}
	return s.InstanceSet.Launch(ctx, req)
}
