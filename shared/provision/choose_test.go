package provision

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

func opt(id, typ string, capacity, utility, maxPrice float64, spot bool) pool.Option {
	return pool.Option{ID: id, Region: "us-east-1", InstanceType: typ, ImageID: "ami-1", Capacity: capacity, Utility: utility, MaxPrice: maxPrice, Spot: spot}
}

func book(prices map[string]float64) *priceBook { // "az/type" -> price
	pb := &priceBook{spot: map[string]map[string]map[string]float64{"us-east-1": {}}, onDemand: func(region, typ string) (float64, bool) {
		p, ok := map[string]float64{"m5.large": 0.096, "c5.large": 0.085}[typ]
		return p, ok
	}}
	for k, p := range prices {
		az, typ, _ := strings.Cut(k, "/")
		if pb.spot["us-east-1"][az] == nil {
			pb.spot["us-east-1"][az] = map[string]float64{}
		}
		pb.spot["us-east-1"][az][typ] = p
	}
	return pb
}

func noBackoffs(scopes ...string) *backoffs {
	b := &backoffs{m: map[string]store.Backoff{}}
	for _, s := range scopes {
		b.m[s] = store.Backoff{Scope: s, Until: t0.Add(time.Hour), Reason: "test"}
	}
	return b
}

func TestChoose(t *testing.T) {
	prices := book(map[string]float64{
		"us-east-1a/m5.large": 0.040, "us-east-1b/m5.large": 0.035,
		"us-east-1a/c5.large": 0.030, "us-east-1b/c5.large": 0.031,
		"us-east-1a/m5.2xlarge": 0.100,
	})
	tests := []struct {
		name     string
		opts     []pool.Option
		backoffs []string
		want     []string // candidate keys, cheapest unit of work first
		excluded []string
	}{
		{"every zone of each type, by unit price",
			[]pool.Option{opt("m", "m5.large", 1, 1, 0, true), opt("c", "c5.large", 1, 1, 0, true)},
			nil, []string{"c@us-east-1a", "c@us-east-1b", "m@us-east-1b", "m@us-east-1a"}, nil},
		{"utility divides the price: a type twice as fast at 4/3 the price wins",
			[]pool.Option{opt("m", "m5.large", 1, 2, 0, true), opt("c", "c5.large", 1, 1, 0, true)},
			nil, []string{"m@us-east-1b", "m@us-east-1a", "c@us-east-1a", "c@us-east-1b"}, nil},
		{"capacity divides the price too: 4 tasks for $0.10 beat 1 for $0.03",
			[]pool.Option{opt("big", "m5.2xlarge", 4, 1, 0, true), opt("c", "c5.large", 1, 1, 0, true)},
			nil, []string{"big@us-east-1a", "c@us-east-1a", "c@us-east-1b"}, nil},
		{"zones priced above maxPrice are excluded (seed: maxPrice/utility bounds the instance price)",
			[]pool.Option{opt("m", "m5.large", 1, 1, 0.034, true), opt("c", "c5.large", 1, 1, 0.0305, true)},
			nil, []string{"c@us-east-1a"}, []string{"m"}},
		{"a backed-off zone moves the option to its next zone",
			[]pool.Option{opt("c", "c5.large", 1, 1, 0, true)},
			[]string{capacityScope("us-east-1", "us-east-1a", "c5.large")}, []string{"c@us-east-1b"}, nil},
		{"a type backed off everywhere in the region is excluded",
			[]pool.Option{opt("c", "c5.large", 1, 1, 0, true), opt("m", "m5.large", 1, 1, 0, true)},
			[]string{capacityScope("us-east-1", "", "c5.large")}, []string{"m@us-east-1b", "m@us-east-1a"}, []string{"c"}},
		{"a quota group backoff excludes its types",
			[]pool.Option{opt("c", "c5.large", 1, 1, 0, true)},
			[]string{quotaScope("us-east-1", "standard")}, nil, []string{"c"}},
		{"a rate-limited region is excluded",
			[]pool.Option{opt("c", "c5.large", 1, 1, 0, true)},
			[]string{regionScope("us-east-1")}, nil, []string{"c"}},
		{"an option backoff excludes only that option",
			[]pool.Option{opt("c", "c5.large", 1, 1, 0, true), opt("m", "m5.large", 1, 1, 0, true)},
			[]string{optionScope("p", "c")}, []string{"m@us-east-1b", "m@us-east-1a"}, []string{"c"}},
		{"on-demand uses the on-demand price and lets EC2 pick the zone",
			[]pool.Option{opt("od", "c5.large", 1, 1, 0, false), opt("m", "m5.large", 1, 1, 0, true)},
			nil, []string{"m@us-east-1b", "m@us-east-1a", "od@"}, nil},
		{"no spot price for the type: excluded",
			[]pool.Option{opt("r", "r5.large", 1, 1, 0, true)},
			nil, nil, []string{"r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cands, ex := choose("p", tt.opts, prices, noBackoffs(tt.backoffs...), cloud.QuotaGroup, map[string]bool{})
			var got []string
			for _, c := range cands {
				got = append(got, c.key())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("candidates (-want +got):\n%s", diff)
			}
			var gotEx []string
			for _, e := range ex {
				gotEx = append(gotEx, e.Option)
			}
			if diff := cmp.Diff(tt.excluded, gotEx); diff != "" {
				t.Errorf("exclusions (-want +got):\n%s (%+v)", diff, ex)
			}
		})
	}
}

func TestChoosePinnedSubnetUsesTheDearestZone(t *testing.T) {
	o := opt("s", "c5.large", 1, 1, 0.0305, true)
	o.LaunchSpec = json.RawMessage(`{"SubnetId": "subnet-1"}`)
	prices := book(map[string]float64{"us-east-1a/c5.large": 0.030, "us-east-1b/c5.large": 0.031})
	cands, ex := choose("p", []pool.Option{o}, prices, noBackoffs(), cloud.QuotaGroup, map[string]bool{})
	if len(cands) != 0 || len(ex) != 1 {
		t.Errorf("a subnet's zone is unknown here: the dearest price (0.031) must be held against maxPrice 0.0305; got %+v %+v", cands, ex)
	}
}

func TestAllocate(t *testing.T) {
	cfg := Config{}
	cfg.defaults()
	c := func(id string, capacity, unit float64) candidate {
		return candidate{opt: pool.Option{ID: id, Capacity: capacity, Utility: 1}, unit: unit}
	}
	tests := []struct {
		name         string
		cands        []candidate
		want         float64
		headroom     float64
		maxInstances int
		wantCounts   map[string]int
	}{
		{"small request goes to the cheapest alone", []candidate{c("a", 1, 1), c("b", 1, 1.01)}, 2, 100, 100, map[string]int{"a": 2}},
		{"large request spreads over options within 20%", []candidate{c("a", 1, 1), c("b", 1, 1.1), c("c", 1, 1.19), c("d", 1, 1.5)}, 9, 100, 100, map[string]int{"a": 3, "b": 3, "c": 3}},
		{"at most SpreadMax options", []candidate{c("a", 1, 1), c("b", 1, 1), c("c", 1, 1), c("d", 1, 1)}, 6, 100, 100, map[string]int{"a": 2, "b": 2, "c": 2}},
		{"capacity per instance: 10 wanted of capacity 4 is 3 instances", []candidate{c("big", 4, 1)}, 10, 100, 100, map[string]int{"big": 3}},
		{"no bet on one option: at most 60% of a large request while another can take the rest", []candidate{c("a", 1, 1), c("b", 1, 1.7)}, 10, 100, 100, map[string]int{"a": 6, "b": 4}},
		{"the only option takes everything", []candidate{c("a", 1, 1)}, 10, 100, 100, map[string]int{"a": 10}},
		{"never past maxCapacity: a smaller option fills what is left", []candidate{c("big", 4, 1), c("small", 1, 2)}, 6, 6, 100, map[string]int{"big": 1, "small": 2}},
		{"nothing fits the headroom", []candidate{c("big", 4, 1)}, 3, 3, 100, nil},
		{"bounded by maxInstances", []candidate{c("a", 1, 1)}, 50, 100, 7, map[string]int{"a": 7}},
		{"nothing wanted", []candidate{c("a", 1, 1)}, 0, 100, 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]int
			for _, a := range allocate(tt.cands, tt.want, tt.headroom, tt.maxInstances, cfg) {
				if got == nil {
					got = map[string]int{}
				}
				got[a.c.opt.ID] = a.count
			}
			if diff := cmp.Diff(tt.wantCounts, got); diff != "" {
				t.Errorf("allocation (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEstimate runs the scaling rule as one iteration applies it, with the seed's
// examples: scaling ratio 0 (capacity for every pending task) and 0.2 (keep pending
// tasks near 20% of running capacity), min and max capacity, interrupted capacity.
func TestEstimate(t *testing.T) {
	tests := []struct {
		name                            string
		min, max, ratio                 float64
		running, requested, interrupted float64
		pending                         float64
		want                            float64
	}{
		{"ratio 0: every pending task", 0, 100, 0, 10, 0, 0, 5, 5},
		{"ratio 0: requested capacity counts", 0, 100, 0, 10, 3, 0, 5, 2},
		{"ratio 0.2: 20% of running capacity may stay pending", 0, 100, 0.2, 10, 0, 0, 5, 3},
		{"ratio 0.2: nothing while within the ratio", 0, 100, 0.2, 10, 0, 0, 2, 0},
		{"max capacity caps", 0, 12, 0, 10, 0, 0, 50, 2},
		{"min capacity kept without demand", 4, 12, 0, 1, 1, 0, 0, 2},
		{"interrupted capacity is replaced while headroom allows", 0, 10, 0, 8, 0, 1, 1, 1},
		{"interrupted capacity still counts against max", 0, 10, 0, 8, 0, 2, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := &target{kind: kindPool, providerID: "aws", sizing: pool.Sizing{MinCapacity: tt.min, MaxCapacity: tt.max, ScalingRatio: tt.ratio}}
			add := func(n float64, state store.State, interrupted bool) {
				for range int(n) {
					w := store.Worker{State: state, Capacity: 1, ProviderID: "aws"}
					if interrupted {
						w.InterruptionDeadline = t0
					}
					tg.workers = append(tg.workers, w)
				}
			}
			add(tt.running, store.Running, false)
			add(tt.requested, store.Requested, false)
			add(tt.interrupted, store.Running, true)
			tg.workers = append(tg.workers, store.Worker{State: store.Stopping, Capacity: 5, ProviderID: "aws"}) // never counted
			running, requested, interrupted := tg.capacities()
			change := tg.sizing.CapacityChange(running, requested, tt.pending)
			headroom := tg.sizing.MaxCapacity - running - requested - interrupted
			got := max(0, min(change, headroom))
			if got != tt.want {
				t.Errorf("capacity to add = %g, want %g (running %g requested %g interrupted %g)", got, tt.want, running, requested, interrupted)
			}
		})
	}
}
