package provision

import (
	"context"
	"sort"
	"sync"

	"github.com/workerfleet/workerfleet/shared/store"
)

// priceBook holds this iteration's prices: spot per region, AZ and instance type
// (cached in DynamoDB for PriceTTL, as a Lambda keeps nothing), and on-demand from
// the driver's table.
type priceBook struct {
	spot     map[string]map[string]map[string]float64 // region -> az -> type -> price
	onDemand func(region, instanceType string) (float64, bool)
}

// spotPrice is the spot price of instanceType in az.
func (pb *priceBook) spotPrice(region, az, instanceType string) (float64, bool) {
	p, ok := pb.spot[region][az][instanceType]
	return p, ok
}

// zones returns the AZs of region that have a spot price for instanceType, sorted.
func (pb *priceBook) zones(region, instanceType string) []string {
	var out []string
	for az, types := range pb.spot[region] {
		if _, ok := types[instanceType]; ok {
			out = append(out, az)
		}
	}
	sort.Strings(out)
	return out
}

// loadPrices gets the spot prices of every instance type a provisioning target may
// launch as spot, per region: from the cache when fresh and complete, else from the
// cloud (then cached).
func (it *iteration) loadPrices(ctx context.Context) *priceBook {
	need := map[string]map[string]bool{} // region -> types
	for _, t := range it.targets {
		if !t.provision {
			continue
		}
		for _, o := range t.options {
			if !o.Spot {
				continue
			}
			if need[o.Region] == nil {
				need[o.Region] = map[string]bool{}
			}
			need[o.Region][o.InstanceType] = true
		}
	}
	pb := &priceBook{spot: map[string]map[string]map[string]float64{}, onDemand: it.p.Cloud.OnDemandPrice}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for region, types := range need {
		wg.Add(1)
		go func() {
			defer wg.Done()
			byAZ := it.regionPrices(ctx, region, types)
			mu.Lock()
			pb.spot[region] = byAZ
			mu.Unlock()
		}()
	}
	wg.Wait()
	return pb
}

func (it *iteration) regionPrices(ctx context.Context, region string, types map[string]bool) map[string]map[string]float64 {
	index := func(prices []store.Price) (map[string]map[string]float64, bool) {
		byAZ := map[string]map[string]float64{}
		have := map[string]bool{}
		for _, p := range prices {
			if byAZ[p.AvailabilityZone] == nil {
				byAZ[p.AvailabilityZone] = map[string]float64{}
			}
			byAZ[p.AvailabilityZone][p.InstanceType] = p.Price
			have[p.InstanceType] = true
		}
		for typ := range types {
			if !have[typ] {
				return byAZ, false
			}
		}
		return byAZ, true
	}
	if cached, err := it.p.Store.Prices(ctx, region, it.p.Config.PriceTTL); err == nil {
		if byAZ, complete := index(cached.Prices); complete {
			return byAZ
		}
	}
	if _, ok := it.backoffs.active(regionScope(region)); ok {
		return nil
	}
	list := make([]string, 0, len(types))
	for typ := range types {
		list = append(list, typ)
	}
	sort.Strings(list)
	prices, err := it.p.Cloud.SpotPrices(ctx, region, list)
	if err != nil {
		it.problem("spot prices in %s: %v", region, err)
		it.backOffRateLimit(ctx, region, err)
		return nil
	}
	pl := store.PriceList{Region: region, Fetched: it.now}
	for _, p := range prices {
		pl.Prices = append(pl.Prices, store.Price{AvailabilityZone: p.AvailabilityZone, InstanceType: p.InstanceType, Price: p.Price})
	}
	if err := it.p.Store.PutPrices(ctx, pl, it.p.Config.PriceTTL); err != nil {
		it.problem("caching spot prices for %s: %v", region, err)
	}
	byAZ, _ := index(pl.Prices)
	return byAZ
}
