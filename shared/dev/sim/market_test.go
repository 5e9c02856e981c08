package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
)

func newTestMarket(t *testing.T, seed int64) *market {
	t.Helper()
	fc := fakecloud.DefaultConfig()
	fc.Seed, fc.Regions, fc.PriceVolatility = seed, []string{"us-east-1"}, 0
	fc.InstanceTypes = map[string]float64{"m5.large": 0.096, "c5.large": 0.085}
	c, err := fakecloud.New(fc, fakecloud.WithClock(fakecloud.NewManualClock(epoch).Now))
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMarket(seed, c, []string{"us-east-1"}, []string{"m5.large", "c5.large"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// cheapest is the option with the lowest price.
func (m *market) cheapest() string {
	best := m.options[0]
	for _, o := range m.options {
		if o.price < best.price {
			best = o
		}
	}
	return best.az + "/" + best.instanceType
}

// TestMarketDrifts: the spot market's prices stay within its published shape
// (30-40 % of on-demand at their levels, within a factor of two of them after
// days), the same seed gives the same path, and the cheapest option changes over
// the trace's days rather than staying fixed as the fake cloud's walk keeps it.
func TestMarketDrifts(t *testing.T) {
	a, b := newTestMarket(t, 1), newTestMarket(t, 1)
	r := &run{alive: map[string]*worker{}}
	cheapest := map[string]bool{}
	for h := 1; h <= 144; h++ {
		a.step(time.Duration(h)*time.Hour, r)
		b.step(time.Duration(h)*time.Hour, r)
		cheapest[a.cheapest()] = true
		for i, o := range a.options {
			if o.price != b.options[i].price {
				t.Fatalf("hour %d: the same seed gave prices %v and %v", h, o.price, b.options[i].price)
			}
			if ratio := o.price / o.level; ratio < 0.5 || ratio > 2 {
				t.Errorf("hour %d: %s/%s at %.2f of its level", h, o.az, o.instanceType, ratio)
			}
		}
	}
	if r.failed != nil {
		t.Fatal(r.failed)
	}
	for _, o := range a.options {
		od := map[string]float64{"m5.large": 0.096, "c5.large": 0.085}[o.instanceType]
		if share := o.level / od; share < 0.30*0.6 || share > 0.40*1.6 {
			t.Errorf("%s/%s: level at %.2f of on-demand", o.az, o.instanceType, share)
		}
	}
	if len(cheapest) < 2 {
		t.Errorf("over 144 hours the cheapest option was always %v", cheapest)
	}
}

// TestMarketCapacity: an option holds only its spare capacity; a launch beyond
// it fails as EC2's InsufficientInstanceCapacity does, and dearer options hold
// less.
func TestMarketCapacity(t *testing.T) {
	m := newTestMarket(t, 2)
	o := m.options[0]
	live := 0
	set := &marketSet{InstanceSet: m.cloud.InstanceSet("sim"), m: m, live: func(string, string) int { return live }}
	req := cloud.LaunchRequest{Region: "us-east-1", AvailabilityZone: o.az, InstanceType: o.instanceType, ImageID: "ami-0123456789abcdef0",
		Count: int(o.spare) + 1, Spot: true}
	_, err := set.Launch(context.Background(), req)
	var ce cloud.CapacityError
	if !errors.As(err, &ce) {
		t.Errorf("a launch beyond the option's spare %.0f: %v, want a capacity error", o.spare, err)
	}
	before := o.spare / o.scarcity()
	o.price = o.level * 1.2
	if after := o.spare / o.scarcity(); after >= before*0.6 {
		t.Errorf("at 1.2 times its level an option holds %.0f of %.0f: scarcity does not show", after, before)
	}
	if r := marketInterruptions * o.scarcity(); r < 2*marketInterruptions {
		t.Errorf("interruptions at 1.2 times the level: %v an hour, want at least twice %v", r, marketInterruptions)
	}
}
