package fakecloud

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2"
)

// The EC2 actions the fake counts (see Cloud.Calls).
const (
	RunInstances             = "RunInstances"
	DescribeInstances        = "DescribeInstances"
	TerminateInstances       = "TerminateInstances"
	DescribeSpotPriceHistory = "DescribeSpotPriceHistory"
)

// InstanceSet is one deployment's view of a Cloud: a cloud.InstanceSet.
type InstanceSet struct {
	id    cloud.InstanceSetID
	cloud *Cloud
}

var _ cloud.InstanceSet = (*InstanceSet)(nil)

// ID returns the set's id.
func (s *InstanceSet) ID() cloud.InstanceSetID { return s.id }

// Cloud returns the cloud the set lives in.
func (s *InstanceSet) Cloud() *Cloud { return s.cloud }

// QuotaGroup returns cloud.QuotaGroup(instanceType).
func (s *InstanceSet) QuotaGroup(instanceType string) string { return cloud.QuotaGroup(instanceType) }

// OnDemandPrice returns the catalog's on-demand price of instanceType in region.
func (s *InstanceSet) OnDemandPrice(region, instanceType string) (float64, bool) {
	r, ok := s.cloud.regions[region]
	if !ok {
		return 0, false
	}
	p, ok := r.onDemand[instanceType]
	return p, ok
}

// Launch simulates RunInstances with the input the EC2 driver would send
// (ec2.BuildRunInstancesInput); see cloud.InstanceSet. In order, as EC2 checks:
// an invalid request is a ConfigError without a call; then a queued FailNext
// failure or an injected RequestLimitExceeded; a known ClientToken returns its
// instances (IdempotentParameterMismatch if the request differs); an image id not
// starting "ami-", a type outside the catalog, an unknown AZ or subnet are config
// errors; the region's instance quota (InstanceLimitExceeded) and an injected
// VcpuLimitExceeded; then the AZ: the requested one (or the subnet's), or one
// chosen at random among those with capacity for every instance
// (InsufficientInstanceCapacity when none has, or when one is injected); for spot
// with a MaxPrice, an AZ whose price is within it (SpotMaxPriceTooLow otherwise).
// The instances start pending and run after the boot delay.
func (s *InstanceSet) Launch(ctx context.Context, req cloud.LaunchRequest) ([]cloud.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.cloud
	c.mu.Lock()
	defer c.unlockAndEmit(ctx)
	if req.ClientToken == "" {
		req.ClientToken = c.token()
	}
	in, err := ec2.BuildRunInstancesInput(s.id, req)
	if err != nil {
		return nil, fmt.Errorf("launch in %s: %w", req.Region, err)
	}
	r, ok := c.regions[req.Region]
	if !ok {
		return nil, fmt.Errorf("launch: %w", c.regionError(req.Region))
	}
	c.calls[RunInstances]++
	now := c.now().UTC()
	if err := c.injected(RunInstances, now); err != nil {
		return nil, opError(RunInstances, req.Region, err)
	}
	fp, err := fingerprint(in)
	if err != nil {
		return nil, fmt.Errorf("launch in %s: %w", req.Region, err)
	}
	key := req.Region + "/" + req.ClientToken
	if rec, ok := c.tokens[key]; ok {
		if rec.fingerprint != fp {
			return nil, opError(RunInstances, req.Region, cloud.ClassifyEC2Error("IdempotentParameterMismatch",
				"The client token you have provided is associated with a resource that is already deleted or has different parameters.", now))
		}
		return snapshot(append([]*instance(nil), rec.instances...)), nil
	}
	launched, err := c.launch(r, s.id, in, now)
	if err != nil {
		return nil, opError(RunInstances, req.Region, err)
	}
	rec := &launchRecord{key: key, fingerprint: fp, instances: launched, listed: len(launched)}
	for _, inst := range launched {
		inst.record = rec
	}
	c.tokens[key] = rec
	c.log.DebugContext(ctx, "fake cloud launched instances", "region", req.Region, "instanceType", req.InstanceType,
		"count", len(launched), "spot", req.Spot, "instanceSet", string(s.id))
	return snapshot(append([]*instance(nil), launched...)), nil
}

// fingerprint identifies a RunInstances request, to tell a retry from a different
// request reusing a token.
func fingerprint(in *awsec2.RunInstancesInput) ([32]byte, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return [32]byte{}, fmt.Errorf("fingerprint request: %w", err)
	}
	return sha256.Sum256(b), nil
}

func (c *Cloud) launch(r *region, set cloud.InstanceSetID, in *awsec2.RunInstancesInput, now time.Time) ([]*instance, error) {
	fail := func(code, format string, args ...any) ([]*instance, error) {
		return nil, cloud.ClassifyEC2Error(code, fmt.Sprintf(format, args...), now)
	}
	image := aws.ToString(in.ImageId)
	if !strings.HasPrefix(image, "ami-") {
		return fail("InvalidAMIID.Malformed", "Invalid id: %q (expecting \"ami-...\")", image)
	}
	typ := string(in.InstanceType)
	info, ok := c.catalog[typ]
	if !ok {
		return fail("InvalidParameterValue", "Invalid value '%s' for InstanceType.", typ)
	}
	count := int(aws.ToInt32(in.MinCount))
	az := ""
	if in.Placement != nil && in.Placement.AvailabilityZone != nil {
		az = *in.Placement.AvailabilityZone
		if !r.hasAZ(az) {
			return fail("InvalidParameterValue", "Invalid availability zone: [%s]", az)
		}
	}
	if in.SubnetId != nil {
		subnetAZ, ok := r.subnets[*in.SubnetId]
		if !ok {
			return fail("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", *in.SubnetId)
		}
		if az != "" && az != subnetAZ {
			return fail("InvalidParameterCombination", "The subnet %s is in %s, not in the requested availability zone %s", *in.SubnetId, subnetAZ, az)
		}
		az = subnetAZ
	}
	spot := in.InstanceMarketOptions != nil && in.InstanceMarketOptions.MarketType == types.MarketTypeSpot
	maxPrice := 0.0
	if spot && in.InstanceMarketOptions.SpotOptions != nil && in.InstanceMarketOptions.SpotOptions.MaxPrice != nil {
		p, err := strconv.ParseFloat(*in.InstanceMarketOptions.SpotOptions.MaxPrice, 64)
		if err != nil {
			return fail("InvalidParameterValue", "Invalid max price %q", *in.InstanceMarketOptions.SpotOptions.MaxPrice)
		}
		maxPrice = p
	}

	if q := c.cfg.InstanceQuota; q > 0 && r.live+count > q {
		return fail("InstanceLimitExceeded", "You have requested more instances (%d) than your current instance limit of %d allows for the specified instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.", r.live+count, q)
	}
	if c.draw(c.cfg.QuotaErrorRate) {
		return fail("VcpuLimitExceeded", "You have requested more vCPU capacity than your current vCPU limit allows for the instance bucket that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.")
	}

	candidates := r.azs
	if az != "" {
		candidates = []string{az}
	}
	var fits []string
	for _, a := range candidates {
		if limit, ok := c.capLimit[a+"/"+typ]; !ok || c.capUsed[a+"/"+typ]+count <= limit {
			fits = append(fits, a)
		}
	}
	if c.draw(c.cfg.CapacityErrorRate) {
		fits = nil
	}
	if len(fits) == 0 {
		if az != "" {
			return fail("InsufficientInstanceCapacity", "We currently do not have sufficient %s capacity in the Availability Zone you requested (%s). Our system will be working on provisioning additional capacity.", typ, az)
		}
		return fail("InsufficientInstanceCapacity", "We currently do not have sufficient %s capacity in zones with support for the requested configuration. Our system will be working on provisioning additional capacity.", typ)
	}
	if spot && maxPrice > 0 {
		var affordable []string
		lowest := 0.0
		for _, a := range fits {
			p := r.prices[a+"/"+typ].current
			if p <= maxPrice {
				affordable = append(affordable, a)
			}
			if lowest == 0 || p < lowest {
				lowest = p
			}
		}
		if len(affordable) == 0 {
			return fail("SpotMaxPriceTooLow", "Your Spot request price of %s is lower than the minimum required Spot request fulfillment price of %s.",
				strconv.FormatFloat(maxPrice, 'f', -1, 64), strconv.FormatFloat(lowest, 'f', -1, 64))
		}
		fits = affordable
	}
	chosen := fits[0]
	if len(fits) > 1 {
		chosen = fits[c.rng.IntN(len(fits))]
	}

	var tags map[string]string
	for _, ts := range in.TagSpecifications {
		if ts.ResourceType == types.ResourceTypeInstance {
			tags = make(map[string]string, len(ts.Tags))
			for _, t := range ts.Tags {
				tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
			}
		}
	}
	var userData []byte
	if in.UserData != nil {
		b, err := base64.StdEncoding.DecodeString(*in.UserData)
		if err != nil {
			return fail("InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.")
		}
		userData = b
	}

	request, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("record the request: %w", err)
	}
	idx := r.sets[set]
	if idx == nil {
		idx = &setIndex{all: map[string]*instance{}, byPool: map[string]map[string]*instance{}}
		r.sets[set] = idx
	}
	azIndex := strings.IndexByte("abc", chosen[len(chosen)-1])
	out := make([]*instance, 0, count)
	for range count {
		c.instSeq++
		inst := &instance{
			seq:      c.instSeq,
			set:      set,
			pool:     tags[cloud.TagPool],
			arch:     info.arch,
			userData: userData,
			request:  request,
			inst: cloud.Instance{
				ID:               c.newInstanceID(),
				Region:           r.name,
				AvailabilityZone: chosen,
				InstanceType:     typ,
				ImageID:          image,
				AccountID:        c.cfg.AccountID,
				PrivateIP:        fmt.Sprintf("172.31.%d.%d", azIndex*64+int(c.instSeq/254%64), c.instSeq%254+1),
				State:            cloud.StatePending,
				LaunchTime:       now.Truncate(time.Second),
				Spot:             spot,
				Tags:             make(map[string]string, len(tags)),
			},
		}
		for k, v := range tags {
			inst.inst.Tags[k] = v
		}
		c.byID[inst.inst.ID] = inst
		idx.all[inst.inst.ID] = inst
		pool := idx.byPool[inst.pool]
		if pool == nil {
			pool = map[string]*instance{}
			idx.byPool[inst.pool] = pool
		}
		pool[inst.inst.ID] = inst
		r.live++
		c.capUsed[chosen+"/"+typ]++
		c.setState(inst, cloud.StatePending, now)
		c.schedule(now.Add(time.Duration(c.cfg.BootDelay)), timerBoot, inst.inst.ID)
		out = append(out, inst)
	}
	return out, nil
}

// newInstanceID returns an unused id like EC2's (i- and 17 hex digits).
func (c *Cloud) newInstanceID() string {
	for {
		id := fmt.Sprintf("i-0%016x", c.rng.Uint64())
		if _, taken := c.byID[id]; !taken && (c.avoid == nil || !c.avoid(id)) {
			return id
		}
	}
}

// draw reports true with probability rate (drawing nothing when rate is 0, so
// configurations without injected errors consume no randomness).
func (c *Cloud) draw(rate float64) bool {
	return rate > 0 && c.rng.Float64() < rate
}

// injected returns a queued FailNext failure for action, or an injected
// RequestLimitExceeded.
func (c *Cloud) injected(action string, now time.Time) error {
	if q := c.nextErrs[action]; len(q) > 0 {
		c.nextErrs[action] = q[1:]
		return cloud.ClassifyEC2Error(q[0], injectedMessage(q[0]), now)
	}
	if c.draw(c.cfg.RateLimitErrorRate) {
		return cloud.ClassifyEC2Error("RequestLimitExceeded", "Request limit exceeded.", now)
	}
	return nil
}

// injectedMessage is EC2's message for common codes, for injected failures.
func injectedMessage(code string) string {
	switch code {
	case "InsufficientInstanceCapacity":
		return "We currently do not have sufficient capacity in the Availability Zone you requested. Our system will be working on provisioning additional capacity."
	case "RequestLimitExceeded":
		return "Request limit exceeded."
	case "InstanceLimitExceeded":
		return "You have requested more instances than your current instance limit allows for the specified instance type."
	case "VcpuLimitExceeded":
		return "You have requested more vCPU capacity than your current vCPU limit allows for the instance bucket that the specified instance type belongs to."
	case "SpotMaxPriceTooLow":
		return "Your Spot request price is lower than the minimum required Spot request fulfillment price."
	case "UnauthorizedOperation":
		return "You are not authorized to perform this operation."
	case "InternalError":
		return "An internal error has occurred."
	}
	return "injected by the fake cloud"
}

func (c *Cloud) regionError(region string) error {
	return cloud.ClassifyEC2Error("InvalidParameterValue",
		fmt.Sprintf("region %q is not in the fake cloud's catalog (%s)", region, strings.Join(c.regionNames, ", ")), c.now())
}

func opError(op, region string, err error) error {
	return fmt.Errorf("fake ec2 %s in %s: %w", op, region, err)
}

func pages(n, size int) int {
	if n <= 0 {
		return 1
	}
	return (n + size - 1) / size
}

// Instances lists the set's instances in region carrying every one of tags (see
// cloud.InstanceSet), from the index of the set's instances by pool when tags
// names a pool, so listing one pool costs what the pool holds.
func (s *InstanceSet) Instances(ctx context.Context, region string, tags map[string]string) ([]cloud.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.cloud
	c.mu.Lock()
	defer c.unlockAndEmit(ctx)
	r, ok := c.regions[region]
	if !ok {
		return nil, fmt.Errorf("list instances: %w", c.regionError(region))
	}
	want, ok := cloud.ListFilter(s.id, tags)
	if !ok {
		return nil, nil
	}
	c.calls[DescribeInstances]++
	if err := c.injected(DescribeInstances, c.now().UTC()); err != nil {
		return nil, opError(DescribeInstances, region, err)
	}
	idx := r.sets[s.id]
	if idx == nil {
		return nil, nil
	}
	candidates := idx.all
	if pool, ok := want[cloud.TagPool]; ok {
		candidates = idx.byPool[pool]
	}
	var found []*instance
	for _, inst := range candidates {
		if cloud.HasTags(inst.inst.Tags, want) {
			found = append(found, inst)
		}
	}
	c.calls[DescribeInstances] += pages(len(found), cloud.MaxDescribePageSize) - 1
	return snapshot(found), nil
}

// Terminate moves those of ids that are this set's, in region, and pending or
// running to shutting-down (see cloud.InstanceSet); they are terminated after the
// shutdown delay.
func (s *InstanceSet) Terminate(ctx context.Context, region string, ids []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := s.cloud
	c.mu.Lock()
	defer c.unlockAndEmit(ctx)
	r, ok := c.regions[region]
	if !ok {
		return fmt.Errorf("terminate: %w", c.regionError(region))
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id != "" {
			seen[id] = true
		}
	}
	if len(seen) == 0 {
		return nil
	}
	now := c.now().UTC()
	c.calls[DescribeInstances] += pages(len(seen), cloud.MaxDescribeFilterValues-1)
	if err := c.injected(DescribeInstances, now); err != nil {
		return fmt.Errorf("terminate: %w", opError(DescribeInstances, region, err))
	}
	var ours []*instance
	if idx := r.sets[s.id]; idx != nil {
		for id := range seen {
			inst, ok := idx.all[id]
			if ok && (inst.inst.State == cloud.StatePending || inst.inst.State == cloud.StateRunning) {
				ours = append(ours, inst)
			}
		}
	}
	if len(ours) == 0 {
		return nil
	}
	c.calls[TerminateInstances] += pages(len(ours), cloud.MaxTerminateBatch)
	if err := c.injected(TerminateInstances, now); err != nil {
		return fmt.Errorf("terminate: %w", opError(TerminateInstances, region, err))
	}
	sort.Slice(ours, func(a, b int) bool { return ours[a].seq < ours[b].seq })
	for _, inst := range ours {
		c.beginShutdown(inst, now)
	}
	return nil
}

// SpotPrices returns the current spot price of each of instanceTypes in the
// catalog, in every AZ of region, sorted by type then AZ (see cloud.InstanceSet).
func (s *InstanceSet) SpotPrices(ctx context.Context, region string, instanceTypes []string) ([]cloud.Price, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.cloud
	c.mu.Lock()
	defer c.unlockAndEmit(ctx)
	r, ok := c.regions[region]
	if !ok {
		return nil, fmt.Errorf("spot prices: %w", c.regionError(region))
	}
	if len(instanceTypes) == 0 {
		return nil, nil
	}
	c.calls[DescribeSpotPriceHistory]++
	if err := c.injected(DescribeSpotPriceHistory, c.now().UTC()); err != nil {
		return nil, opError(DescribeSpotPriceHistory, region, err)
	}
	typesWanted := append([]string(nil), instanceTypes...)
	sort.Strings(typesWanted)
	var out []cloud.Price
	for i, t := range typesWanted {
		if i > 0 && typesWanted[i-1] == t {
			continue
		}
		for _, az := range r.azs {
			sp, ok := r.prices[az+"/"+t]
			if !ok {
				continue
			}
			out = append(out, cloud.Price{Region: region, AvailabilityZone: az, InstanceType: t, Price: sp.current, Time: sp.changed})
		}
	}
	return out, nil
}
