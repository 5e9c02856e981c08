package provision

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/workerfleet/workerfleet/shared/pool"
)

// candidate is an option priced for this iteration, with the zone to launch in.
type candidate struct {
	opt   pool.Option
	az    string  // "" lets EC2 pick (or the launch spec's subnet decides)
	price float64 // hourly price of one instance (0 when unknown, on-demand only)
	unit  float64 // price / (capacity * utility): the price of one unit of work
}

func (c candidate) key() string { return c.opt.ID + "@" + c.az }

// exclusion says why an option cannot launch now. Backoff exclusions pass with time;
// the others (prices, missing prices) need the operator.
type exclusion struct {
	Option, Reason string
	Backoff        bool
}

// unknownPrice ranks on-demand options whose price the driver does not know last.
const unknownPrice = math.MaxFloat64 / 4

// choose prices every option and keeps those that can launch now, cheapest unit of
// work first (the heavier option first among equals): unused options, those in a backed-off
// region, quota group, AZ/type or option are left out, as are those priced above
// their maxPrice. A spot option without a zone
// becomes one candidate per zone of its region not backed off, each at that zone's
// price (unless its launch spec names a subnet, which decides the zone).
func choose(poolKey string, opts []pool.Option, pb *priceBook, b *backoffs, quotaGroup func(string) string, tried map[string]bool) ([]candidate, []exclusion) {
	ch := &chooser{poolKey: poolKey, pb: pb, b: b, quotaGroup: quotaGroup, tried: tried}
	for _, o := range opts {
		ch.consider(o)
	}
	sort.SliceStable(ch.out, func(i, j int) bool {
		a, b := ch.out[i], ch.out[j]
		if a.unit != b.unit {
			return a.unit < b.unit
		}
		if wa, wb := a.opt.ChoiceWeight(), b.opt.ChoiceWeight(); wa != wb {
			return wa > wb
		}
		return a.key() < b.key()
	})
	return ch.out, ch.ex
}

// chooser collects one choice's candidates and what it left out, and why.
type chooser struct {
	poolKey    string
	pb         *priceBook
	b          *backoffs
	quotaGroup func(string) string
	tried      map[string]bool

	out []candidate
	ex  []exclusion
}

func (ch *chooser) exclude(o pool.Option, format string, args ...any) {
	ch.ex = append(ch.ex, exclusion{Option: o.ID, Reason: fmt.Sprintf(format, args...)})
}

func (ch *chooser) backedOff(o pool.Option, format string, args ...any) {
	ch.ex = append(ch.ex, exclusion{Option: o.ID, Reason: fmt.Sprintf(format, args...), Backoff: true})
}

// consider adds option o's candidates: one, or, for a spot option free to take any
// zone, one per zone.
func (ch *chooser) consider(o pool.Option) {
	if !ch.available(o) {
		return
	}
	if o.Spot && o.AvailabilityZone == "" && !pinnedZone(o.LaunchSpec) {
		ch.considerZones(o)
		return
	}
	if c, ok := ch.priced(o); ok {
		ch.accept(o, c)
	}
}

// available reports whether o may be launched at all: it is used, and neither its
// region, its quota group, itself nor its instance type's capacity is backed off.
func (ch *chooser) available(o pool.Option) bool {
	if o.Unused {
		ch.exclude(o, "its launch config's workerManager initialWeight or maxCapacity is 0")
		return false
	}
	if bo, ok := ch.b.active(regionScope(o.Region)); ok {
		ch.backedOff(o, "region %s backed off: %s", o.Region, bo.Reason)
		return false
	}
	if bo, ok := ch.b.active(quotaScope(o.Region, ch.quotaGroup(o.InstanceType))); ok {
		ch.backedOff(o, "quota backed off: %s", bo.Reason)
		return false
	}
	if bo, ok := ch.b.active(optionScope(ch.poolKey, o.ID)); ok {
		ch.backedOff(o, "option backed off: %s", bo.Reason)
		return false
	}
	if _, ok := ch.b.active(capacityScope(o.Region, "", o.InstanceType)); ok {
		ch.backedOff(o, "no %s capacity in %s for now", o.InstanceType, o.Region)
		return false
	}
	return true
}

// priced is o's one candidate and its price: on demand, in o's zone, or, where its
// launch spec decides the zone (a subnet), the dearest zone's.
func (ch *chooser) priced(o pool.Option) (candidate, bool) {
	c := candidate{opt: o, az: o.AvailabilityZone}
	switch {
	case !o.Spot:
		p, ok := ch.pb.onDemand(o.Region, o.InstanceType)
		if !ok {
			if o.MaxPrice > 0 {
				ch.exclude(o, "no on-demand price known for %s to compare with maxPrice", o.InstanceType)
				return c, false
			}
			p = 0
		}
		c.price = p
	case o.AvailabilityZone != "":
		p, ok := ch.pb.spotPrice(o.Region, o.AvailabilityZone, o.InstanceType)
		if !ok {
			ch.exclude(o, "no spot price for %s in %s", o.InstanceType, o.AvailabilityZone)
			return c, false
		}
		c.price = p
	default: // the zone is pinned by the launch spec
		zones := ch.pb.zones(o.Region, o.InstanceType)
		if len(zones) == 0 {
			ch.exclude(o, "no spot price for %s in %s", o.InstanceType, o.Region)
			return c, false
		}
		for _, z := range zones { // the subnet's zone is not known here: assume the dearest
			if p, _ := ch.pb.spotPrice(o.Region, z, o.InstanceType); p > c.price {
				c.price = p
			}
		}
	}
	return c, true
}

// accept adds o's candidate c unless its zone's capacity is backed off, its price
// is above what o allows, or it was tried already.
func (ch *chooser) accept(o pool.Option, c candidate) {
	if c.az != "" {
		if _, off := ch.b.active(capacityScope(o.Region, c.az, o.InstanceType)); off {
			ch.backedOff(o, "no %s capacity in %s for now", o.InstanceType, c.az)
			return
		}
	}
	if o.MaxPrice > 0 && c.price > o.MaxPrice {
		ch.exclude(o, "price $%.4f/h is above maxPrice $%.4f/h", c.price, o.MaxPrice)
		return
	}
	if o.Spot {
		if bid, ok := o.SpotBid(c.price); !ok {
			ch.exclude(o, "bid $%.4f/h is above the $%g/h no bid exceeds", bid, o.Bid.Cap)
			return
		}
	}
	if ch.tried[c.key()] {
		return
	}
	c.unit = c.price / (o.Capacity * o.Utility)
	if !o.Spot && c.price == 0 {
		c.unit = unknownPrice
	}
	ch.out = append(ch.out, c)
}

// considerZones adds a candidate per zone of o's region, each priced on its own:
// the cheapest wins a small request, and a large one spreads over the zones near
// its price.
func (ch *chooser) considerZones(o pool.Option) {
	zones, off, dear := 0, 0, 0
	cheapest := math.MaxFloat64
	for _, z := range ch.pb.zones(o.Region, o.InstanceType) {
		if _, backed := ch.b.active(capacityScope(o.Region, z, o.InstanceType)); backed {
			off++
			continue
		}
		zc := candidate{opt: o, az: z}
		zc.price, _ = ch.pb.spotPrice(o.Region, z, o.InstanceType)
		if _, ok := o.SpotBid(zc.price); !ok || (o.MaxPrice > 0 && zc.price > o.MaxPrice) {
			dear++
			cheapest = math.Min(cheapest, zc.price)
			continue
		}
		zones++
		if ch.tried[zc.key()] {
			continue
		}
		zc.unit = zc.price / (o.Capacity * o.Utility)
		ch.out = append(ch.out, zc)
	}
	switch {
	case zones > 0:
	case dear > 0:
		ch.exclude(o, "price $%.4f/h is above maxPrice $%.4f/h in every zone", cheapest, o.MaxPrice)
	case off > 0:
		ch.backedOff(o, "no %s capacity in any zone of %s for now", o.InstanceType, o.Region)
	default:
		ch.exclude(o, "no spot price for %s in %s", o.InstanceType, o.Region)
	}
}

// pinnedZone reports whether a launch spec decides the zone itself (a subnet, or
// network interfaces naming one).
func pinnedZone(spec json.RawMessage) bool {
	var s struct {
		SubnetId          string
		NetworkInterfaces []json.RawMessage
	}
	_ = json.Unmarshal(spec, &s)
	return s.SubnetId != "" || len(s.NetworkInterfaces) > 0
}

// allocation is a number of instances of one candidate.
type allocation struct {
	c     candidate
	count int
}

// allocate turns the capacity wanted into instances of the candidates (cheapest
// first). A large request (more than SpreadMin instances) is spread, round robin, over
// the options whose unit price is within SpreadTolerance of the cheapest (at most
// SpreadMax of them), and no option takes more than MaxShare of it while another can
// take the rest: so one option's capacity shortage or interruptions never take the
// whole request down. A small request goes to the cheapest alone. No instance is
// allocated that would take the pool past headroom (what maxCapacity leaves), and at
// most maxInstances are.
func allocate(cands []candidate, want, headroom float64, maxInstances int, cfg Config) []allocation {
	if want <= 0 || headroom <= 0 || len(cands) == 0 || maxInstances <= 0 {
		return nil
	}
	large := math.Ceil(want/cands[0].opt.Capacity) > float64(cfg.SpreadMin)
	spread := []int{0}
	if large {
		for i := 1; i < len(cands) && len(spread) < cfg.SpreadMax; i++ {
			if cands[i].unit <= cands[0].unit*(1+cfg.SpreadTolerance) {
				spread = append(spread, i)
			}
		}
	}
	share := math.MaxInt
	if large && len(cands) > 1 {
		share = max(cfg.SpreadMin, int(math.Ceil(math.Ceil(want/cands[0].opt.Capacity)*cfg.MaxShare)))
	}
	counts := make([]int, len(cands))
	remaining, room, n, next := want, headroom, 0, 0
	fits := func(i int, capped bool) bool {
		return cands[i].opt.Capacity <= room && (!capped || counts[i] < share)
	}
	for remaining > 0 && n < maxInstances {
		picked := -1
		for k := range spread {
			i := spread[(next+k)%len(spread)]
			if fits(i, true) {
				picked, next = i, (next+k+1)%len(spread)
				break
			}
		}
		// The spread set is full (or nothing in it fits what maxCapacity leaves): the
		// next cheapest that can take more, then anything that fits at all.
		for _, capped := range []bool{true, false} {
			for i := 0; picked < 0 && i < len(cands); i++ {
				if fits(i, capped) {
					picked = i
				}
			}
		}
		if picked < 0 {
			break
		}
		counts[picked]++
		remaining -= cands[picked].opt.Capacity
		room -= cands[picked].opt.Capacity
		n++
	}
	var out []allocation
	for i, c := range cands {
		if counts[i] > 0 {
			out = append(out, allocation{c: c, count: counts[i]})
		}
	}
	return out
}
