// Package cloudtest is the contract test suite of cloud.InstanceSet: one set of
// tests that every driver runs (the EC2 driver against moto, the fake cloud
// directly), so the drivers cannot drift apart. What a cloud under test cannot do
// (moto ignores ClientToken, for one) is declared by its Harness with the reason,
// and those tests are skipped for it with that reason.
package cloudtest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// Capability is something a cloud under test may lack.
type Capability string

// Capabilities the suite tests only where the harness does not declare them
// lacking.
const (
	// Idempotency: the same ClientToken returns the same instances.
	Idempotency Capability = "ClientToken idempotency"
	// MarketPrices: spot prices differ between AZs and stay below on-demand.
	MarketPrices Capability = "spot prices that differ per availability zone"
)

// EC2 action names, for Harness.Calls.
const (
	RunInstances             = "RunInstances"
	DescribeInstances        = "DescribeInstances"
	TerminateInstances       = "TerminateInstances"
	DescribeSpotPriceHistory = "DescribeSpotPriceHistory"
)

// Harness describes the cloud under test.
type Harness struct {
	// Name names the cloud in messages.
	Name string
	// NewSet returns an instance set for id; all sets of one Run must share one
	// cloud (one account), so the suite can check they do not see each other.
	NewSet func(t *testing.T, id cloud.InstanceSetID) cloud.InstanceSet
	// Region, InstanceType and ImageID are what the suite launches: a region the
	// sets may use, an instance type the cloud offers there (with an on-demand
	// price), an image id it accepts.
	Region       string
	InstanceType string
	ImageID      string
	// Calls returns how many calls of an EC2 action (RunInstances,
	// DescribeInstances, TerminateInstances, DescribeSpotPriceHistory) reached the
	// cloud so far.
	Calls func(action string) int
	// Settle lets transitions that are due happen (the fake advances its clock past
	// its boot and shutdown delays and steps); nil for a cloud that needs nothing.
	Settle func()
	// Lacks lists the capabilities the cloud lacks, each with the reason.
	Lacks map[Capability]string
}

var seq atomic.Int64

// newID returns an instance set id unique to this test and process.
func newID(t *testing.T, label string) cloud.InstanceSetID {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return cloud.InstanceSetID(fmt.Sprintf("cloudtest-%s-%s-%d-%d", name, label, time.Now().UnixNano(), seq.Add(1)))
}

func (h Harness) settle() {
	if h.Settle != nil {
		h.Settle()
	}
}

func (h Harness) skipIfLacking(t *testing.T, c Capability) {
	t.Helper()
	if why, ok := h.Lacks[c]; ok {
		t.Skipf("%s lacks %s: %s", h.Name, c, why)
	}
}

func (h Harness) request(pool string, count int) cloud.LaunchRequest {
	return cloud.LaunchRequest{
		Region:       h.Region,
		InstanceType: h.InstanceType,
		ImageID:      h.ImageID,
		Count:        count,
		Tags:         map[string]string{cloud.TagPool: pool},
	}
}

func ids(list []cloud.Instance) []string {
	out := make([]string, len(list))
	for i, inst := range list {
		out[i] = inst.ID
	}
	sort.Strings(out)
	return out
}

// Run runs the contract suite against h.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"LaunchTagsAndLists", testLaunchTagsAndLists},
		{"LaunchSpot", testLaunchSpot},
		{"LaunchInAvailabilityZone", testLaunchInAZ},
		{"OtherSetsInvisibleAndUntouchable", testOtherSets},
		{"TerminateMovesToShuttingDown", testTerminate},
		{"ListsEveryPage", testEveryPage},
		{"UserDataLimit", testUserDataLimit},
		{"InvalidRequestsMakeNoCall", testInvalidRequests},
		{"CancelledContext", testCancelled},
		{"SpotPrices", testSpotPrices},
		{"MarketSpotPrices", testMarketPrices},
		{"ClientTokenIdempotency", testIdempotency},
		{"Prices", testOnDemandPrice},
		{"QuotaGroup", testQuotaGroup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

func testLaunchTagsAndLists(t *testing.T, h Harness) {
	ctx := context.Background()
	id := newID(t, "a")
	set := h.NewSet(t, id)
	if set.ID() != id {
		t.Fatalf("ID() = %q, want %q", set.ID(), id)
	}
	req := h.request("pool-tags", 2)
	req.Tags["team"] = "ci"
	req.ClientToken = fmt.Sprintf("tok-%d", seq.Add(1))
	launched, err := set.Launch(ctx, req)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if len(launched) != 2 {
		t.Fatalf("Launch returned %d instances, want 2", len(launched))
	}
	wantTags := map[string]string{cloud.TagPool: "pool-tags", "team": "ci", cloud.TagInstanceSet: string(id), cloud.TagLaunch: req.ClientToken}
	for _, inst := range launched {
		if diff := cmp.Diff(inst.Tags, wantTags); diff != "" {
			t.Errorf("launched %s tags (-got +want):\n%s", inst.ID, diff)
		}
		if inst.ID == "" || inst.Region != h.Region || inst.InstanceType != h.InstanceType || inst.ImageID != h.ImageID {
			t.Errorf("launched %+v, want an id, region %s, type %s, image %s", inst, h.Region, h.InstanceType, h.ImageID)
		}
		if !strings.HasPrefix(inst.AvailabilityZone, h.Region) {
			t.Errorf("launched %s in AZ %q, want one of %s", inst.ID, inst.AvailabilityZone, h.Region)
		}
		if inst.State != cloud.StatePending && inst.State != cloud.StateRunning {
			t.Errorf("launched %s is %s, want pending or running", inst.ID, inst.State)
		}
		if inst.Spot {
			t.Errorf("on-demand launch %s reported as spot", inst.ID)
		}
	}

	listed, err := set.Instances(ctx, h.Region, map[string]string{cloud.TagPool: "pool-tags"})
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	if diff := cmp.Diff(ids(listed), ids(launched)); diff != "" {
		t.Errorf("Instances(pool) ids (-got +want):\n%s", diff)
	}
	for _, inst := range listed {
		if diff := cmp.Diff(inst.Tags, wantTags); diff != "" {
			t.Errorf("listed %s tags (-got +want):\n%s", inst.ID, diff)
		}
	}
	for _, tc := range []struct {
		name string
		tags map[string]string
		want []string
	}{
		{"no tags", nil, ids(launched)},
		{"all tags", map[string]string{cloud.TagPool: "pool-tags", "team": "ci"}, ids(launched)},
		{"own set id", map[string]string{cloud.TagInstanceSet: string(id)}, ids(launched)},
		{"another tag value", map[string]string{cloud.TagPool: "pool-tags", "team": "other"}, []string{}},
		{"another pool", map[string]string{cloud.TagPool: "pool-other"}, []string{}},
		{"another set id", map[string]string{cloud.TagInstanceSet: "someone-else"}, []string{}},
	} {
		got, err := set.Instances(ctx, h.Region, tc.tags)
		if err != nil {
			t.Fatalf("Instances(%s): %v", tc.name, err)
		}
		if diff := cmp.Diff(ids(got), tc.want); diff != "" {
			t.Errorf("Instances(%s) ids (-got +want):\n%s", tc.name, diff)
		}
	}
}

func testLaunchSpot(t *testing.T, h Harness) {
	ctx := context.Background()
	set := h.NewSet(t, newID(t, "a"))
	req := h.request("pool-spot", 1)
	req.Spot = true
	od, ok := set.OnDemandPrice(h.Region, h.InstanceType)
	if !ok {
		t.Fatalf("OnDemandPrice(%s, %s) unknown", h.Region, h.InstanceType)
	}
	req.MaxPrice = od
	launched, err := set.Launch(ctx, req)
	if err != nil {
		t.Fatalf("Launch spot: %v", err)
	}
	listed, err := set.Instances(ctx, h.Region, map[string]string{cloud.TagPool: "pool-spot"})
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	if len(launched) != 1 || len(listed) != 1 || !launched[0].Spot || !listed[0].Spot {
		t.Fatalf("spot launch: launched %+v, listed %+v; want one instance, spot in both", launched, listed)
	}
}

func testLaunchInAZ(t *testing.T, h Harness) {
	ctx := context.Background()
	set := h.NewSet(t, newID(t, "a"))
	req := h.request("pool-az", 1)
	req.AvailabilityZone = h.Region + "b"
	launched, err := set.Launch(ctx, req)
	if err != nil {
		t.Fatalf("Launch in %s: %v", req.AvailabilityZone, err)
	}
	if len(launched) != 1 || launched[0].AvailabilityZone != req.AvailabilityZone {
		t.Fatalf("launched %+v, want one instance in %s", launched, req.AvailabilityZone)
	}
}

func testOtherSets(t *testing.T, h Harness) {
	ctx := context.Background()
	a := h.NewSet(t, newID(t, "a"))
	b := h.NewSet(t, newID(t, "b"))
	theirs, err := b.Launch(ctx, h.request("pool-shared", 1))
	if err != nil {
		t.Fatalf("Launch by b: %v", err)
	}
	seen, err := a.Instances(ctx, h.Region, map[string]string{cloud.TagPool: "pool-shared"})
	if err != nil {
		t.Fatalf("a.Instances: %v", err)
	}
	if len(seen) != 0 {
		t.Errorf("set a lists %v, which set b launched; want nothing", ids(seen))
	}
	if err := a.Terminate(ctx, h.Region, ids(theirs)); err != nil {
		t.Fatalf("a.Terminate(b's instance) = %v, want nil (skipped)", err)
	}
	h.settle()
	still, err := b.Instances(ctx, h.Region, map[string]string{cloud.TagPool: "pool-shared"})
	if err != nil {
		t.Fatalf("b.Instances: %v", err)
	}
	if len(still) != 1 || (still[0].State != cloud.StatePending && still[0].State != cloud.StateRunning) {
		t.Fatalf("after set a tried to terminate it, b's instance is %+v; want it pending or running", still)
	}
}

func testTerminate(t *testing.T, h Harness) {
	ctx := context.Background()
	set := h.NewSet(t, newID(t, "a"))
	launched, err := set.Launch(ctx, h.request("pool-term", 2))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	h.settle()
	if err := set.Terminate(ctx, h.Region, append(ids(launched), "i-0123456789abcdef0")); err != nil {
		t.Fatalf("Terminate(ours + unknown) = %v, want nil", err)
	}
	listed, err := set.Instances(ctx, h.Region, map[string]string{cloud.TagPool: "pool-term"})
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	if diff := cmp.Diff(ids(listed), ids(launched)); diff != "" {
		t.Fatalf("Instances after Terminate (-got +want):\n%s", diff)
	}
	for _, inst := range listed {
		if inst.State != cloud.StateShuttingDown && inst.State != cloud.StateTerminated {
			t.Errorf("after Terminate %s is %s, want shutting-down or terminated", inst.ID, inst.State)
		}
	}
	h.settle()
	before := h.Calls(TerminateInstances)
	if err := set.Terminate(ctx, h.Region, ids(launched)); err != nil {
		t.Fatalf("Terminate(already terminating) = %v, want nil", err)
	}
	if got := h.Calls(TerminateInstances) - before; got != 0 {
		t.Errorf("terminating instances already terminating made %d TerminateInstances calls, want 0", got)
	}
	if err := set.Terminate(ctx, h.Region, nil); err != nil {
		t.Errorf("Terminate(nothing) = %v, want nil", err)
	}
}

// testEveryPage launches 7 reservations; a harness with a page size (the EC2
// driver's pageSize) below 7 makes Instances read several pages.
func testEveryPage(t *testing.T, h Harness) {
	ctx := context.Background()
	set := h.NewSet(t, newID(t, "a"))
	var want []cloud.Instance
	for range 7 {
		got, err := set.Launch(ctx, h.request("pool-pages", 1))
		if err != nil {
			t.Fatalf("Launch: %v", err)
		}
		want = append(want, got...)
	}
	listed, err := set.Instances(ctx, h.Region, map[string]string{cloud.TagPool: "pool-pages"})
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	if diff := cmp.Diff(ids(listed), ids(want)); diff != "" {
		t.Errorf("Instances over several pages (-got +want):\n%s", diff)
	}
}

func testUserDataLimit(t *testing.T, h Harness) {
	ctx := context.Background()
	set := h.NewSet(t, newID(t, "a"))
	before := h.Calls(RunInstances)
	req := h.request("pool-userdata", 1)
	req.UserData = make([]byte, cloud.MaxUserDataBytes+1)
	_, err := set.Launch(ctx, req)
	if !cloud.IsConfigError(err) {
		t.Fatalf("Launch with %d bytes of user data = %v, want a ConfigError", len(req.UserData), err)
	}
	if got := h.Calls(RunInstances) - before; got != 0 {
		t.Errorf("refused launch made %d RunInstances calls, want 0", got)
	}
	req.UserData = []byte(strings.Repeat("x", cloud.MaxUserDataBytes))
	if _, err := set.Launch(ctx, req); err != nil {
		t.Fatalf("Launch with exactly %d bytes of user data: %v, want it accepted", cloud.MaxUserDataBytes, err)
	}
}

func testInvalidRequests(t *testing.T, h Harness) {
	ctx := context.Background()
	set := h.NewSet(t, newID(t, "a"))
	for _, tc := range []struct {
		name   string
		change func(*cloud.LaunchRequest)
	}{
		{"unknown launch spec field", func(r *cloud.LaunchRequest) { r.LaunchSpec = []byte(`{"SubnetId":"subnet-1","Flavour":"x"}`) }},
		{"launch spec not an object", func(r *cloud.LaunchRequest) { r.LaunchSpec = []byte(`["SubnetId"]`) }},
		{"client token too long", func(r *cloud.LaunchRequest) { r.ClientToken = strings.Repeat("t", 65) }},
		{"caller sets the set id tag", func(r *cloud.LaunchRequest) { r.Tags[cloud.TagInstanceSet] = "mine" }},
		{"caller sets the launch tag", func(r *cloud.LaunchRequest) { r.Tags[cloud.TagLaunch] = "mine" }},
		{"aws: tag", func(r *cloud.LaunchRequest) { r.Tags["aws:cloudformation:stack"] = "x" }},
		{"no instances", func(r *cloud.LaunchRequest) { r.Count = 0 }},
		{"no image", func(r *cloud.LaunchRequest) { r.ImageID = "" }},
		{"max price without spot", func(r *cloud.LaunchRequest) { r.MaxPrice = 0.5 }},
		{"negative max price", func(r *cloud.LaunchRequest) { r.Spot, r.MaxPrice = true, -1 }},
		{"region the set may not use", func(r *cloud.LaunchRequest) { r.Region = "xx-nowhere-1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := h.request("pool-invalid", 1)
			tc.change(&req)
			before := h.Calls(RunInstances)
			_, err := set.Launch(ctx, req)
			if !cloud.IsConfigError(err) {
				t.Fatalf("Launch = %v, want a ConfigError", err)
			}
			if cloud.ErrorCode(err) == "" {
				t.Errorf("ConfigError %v has no EC2 code", err)
			}
			if got := h.Calls(RunInstances) - before; got != 0 {
				t.Errorf("refused launch made %d RunInstances calls, want 0", got)
			}
		})
	}
	if _, err := set.Instances(ctx, "xx-nowhere-1", nil); !cloud.IsConfigError(err) {
		t.Errorf("Instances in a region the set may not use = %v, want a ConfigError", err)
	}
}

func testCancelled(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	set := h.NewSet(t, newID(t, "a"))
	if _, err := set.Launch(ctx, h.request("pool-cancel", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Launch with a cancelled context = %v, want context.Canceled", err)
	}
	listed, err := set.Instances(context.Background(), h.Region, nil)
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	if len(listed) != 0 {
		t.Errorf("a cancelled launch left instances %v", ids(listed))
	}
}

func testSpotPrices(t *testing.T, h Harness) {
	ctx := context.Background()
	set := h.NewSet(t, newID(t, "a"))
	prices, err := set.SpotPrices(ctx, h.Region, []string{h.InstanceType})
	if err != nil {
		t.Fatalf("SpotPrices: %v", err)
	}
	if len(prices) == 0 {
		t.Fatalf("SpotPrices(%s, %s) is empty", h.Region, h.InstanceType)
	}
	zones := map[string]bool{}
	for _, p := range prices {
		if p.Price <= 0 || p.Region != h.Region || p.InstanceType != h.InstanceType || !strings.HasPrefix(p.AvailabilityZone, h.Region) {
			t.Errorf("price %+v: want a positive price of %s in an AZ of %s", p, h.InstanceType, h.Region)
		}
		if zones[p.AvailabilityZone] {
			t.Errorf("two prices for %s in %s; want the newest only", p.InstanceType, p.AvailabilityZone)
		}
		zones[p.AvailabilityZone] = true
	}
	before := h.Calls(DescribeSpotPriceHistory)
	none, err := set.SpotPrices(ctx, h.Region, nil)
	if err != nil || len(none) != 0 {
		t.Errorf("SpotPrices(no types) = %v, %v; want nothing", none, err)
	}
	if got := h.Calls(DescribeSpotPriceHistory) - before; got != 0 {
		t.Errorf("SpotPrices(no types) made %d calls, want 0", got)
	}
}

func testMarketPrices(t *testing.T, h Harness) {
	h.skipIfLacking(t, MarketPrices)
	set := h.NewSet(t, newID(t, "a"))
	prices, err := set.SpotPrices(context.Background(), h.Region, []string{h.InstanceType})
	if err != nil {
		t.Fatalf("SpotPrices: %v", err)
	}
	od, _ := set.OnDemandPrice(h.Region, h.InstanceType)
	distinct := map[float64]bool{}
	for _, p := range prices {
		distinct[p.Price] = true
		if p.Price > od {
			t.Errorf("spot price %+v above on-demand %v", p, od)
		}
	}
	if len(prices) < 2 || len(distinct) < 2 {
		t.Errorf("spot prices %+v: want several AZs with different prices", prices)
	}
}

func testIdempotency(t *testing.T, h Harness) {
	h.skipIfLacking(t, Idempotency)
	ctx := context.Background()
	set := h.NewSet(t, newID(t, "a"))
	req := h.request("pool-idem", 2)
	req.ClientToken = fmt.Sprintf("idem-%d", seq.Add(1))
	first, err := set.Launch(ctx, req)
	if err != nil {
		t.Fatalf("first Launch: %v", err)
	}
	again, err := set.Launch(ctx, req)
	if err != nil {
		t.Fatalf("second Launch with the same token: %v", err)
	}
	if diff := cmp.Diff(ids(again), ids(first)); diff != "" {
		t.Errorf("same token, instances (-second +first):\n%s", diff)
	}
	listed, err := set.Instances(ctx, h.Region, map[string]string{cloud.TagPool: "pool-idem"})
	if err != nil {
		t.Fatalf("Instances: %v", err)
	}
	if len(listed) != 2 {
		t.Errorf("after two launches with one token the pool has %d instances, want 2", len(listed))
	}
	req.Count = 3
	if _, err := set.Launch(ctx, req); !cloud.IsConfigError(err) || cloud.ErrorCode(err) != "IdempotentParameterMismatch" {
		t.Errorf("same token, different request = %v, want the ConfigError IdempotentParameterMismatch", err)
	}
}

func testOnDemandPrice(t *testing.T, h Harness) {
	set := h.NewSet(t, newID(t, "a"))
	if p, ok := set.OnDemandPrice(h.Region, h.InstanceType); !ok || p <= 0 {
		t.Errorf("OnDemandPrice(%s, %s) = %v, %v; want a positive price", h.Region, h.InstanceType, p, ok)
	}
	if p, ok := set.OnDemandPrice(h.Region, "zz9.imaginary"); ok {
		t.Errorf("OnDemandPrice of an imaginary type = %v, true; want false", p)
	}
}

func testQuotaGroup(t *testing.T, h Harness) {
	set := h.NewSet(t, newID(t, "a"))
	for _, tc := range []struct{ typ, want string }{
		{"t3.micro", "standard"},
		{"m5.large", "standard"},
		{"c6g.large", "standard"},
		{"r5.xlarge", "standard"},
		{"g4dn.xlarge", "g"},
		{"p3.2xlarge", "p"},
		{"inf1.xlarge", "inf"},
		{"x1e.xlarge", "x"},
	} {
		if got := set.QuotaGroup(tc.typ); got != tc.want {
			t.Errorf("QuotaGroup(%s) = %q, want %q", tc.typ, got, tc.want)
		}
	}
}
