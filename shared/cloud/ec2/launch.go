package ec2

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2/launchspec"
)

// BuildRunInstancesInput returns the RunInstances call Launch makes for req on
// behalf of the set id: req.LaunchSpec decoded (launchspec.Decode), then the fields
// the driver controls set over it:
//
//   - ImageId, InstanceType, and MinCount = MaxCount = Count;
//   - ClientToken = req.ClientToken, which must not be empty;
//   - UserData, base64 of req.UserData (none when empty);
//   - TagSpecifications for the instance and its volumes, each with the spec's
//     tags for that resource, the caller's tags, TagInstanceSet and TagLaunch (the
//     last ones win), sorted by key;
//   - InstanceMarketOptions: for Spot, the spec's SpotOptions (a v25 launch config
//     may carry them) with MaxPrice as a decimal string where req sets one, and by
//     default a one-time request that terminates on interruption; otherwise none;
//   - Placement.AvailabilityZone when req.AvailabilityZone is set (the spec's
//     other Placement fields are kept);
//   - DryRun unset.
//
// An invalid request (cloud.ValidateLaunchRequest) or spec is a cloud.ConfigError.
// The fake cloud launches from this same input, so the two drivers read launch
// requests identically.
func BuildRunInstancesInput(id cloud.InstanceSetID, req cloud.LaunchRequest) (*ec2.RunInstancesInput, error) {
	if err := cloud.ValidateLaunchRequest(req); err != nil {
		return nil, err
	}
	if req.ClientToken == "" {
		return nil, cloud.ClassifyEC2Error("MissingParameter", "the request must contain the parameter ClientToken", time.Now())
	}
	in, err := launchspec.Decode(req.LaunchSpec)
	if err != nil {
		return nil, err
	}
	in.ImageId = aws.String(req.ImageID)
	in.InstanceType = types.InstanceType(req.InstanceType)
	in.MinCount = aws.Int32(int32(req.Count))
	in.MaxCount = aws.Int32(int32(req.Count))
	in.ClientToken = aws.String(req.ClientToken)
	in.DryRun = nil
	in.UserData = nil
	if len(req.UserData) > 0 {
		in.UserData = aws.String(base64.StdEncoding.EncodeToString(req.UserData))
	}

	ours := cloud.LaunchTags(id, req.Tags, req.ClientToken)
	specTags := map[types.ResourceType]map[string]string{}
	for _, ts := range in.TagSpecifications {
		m := specTags[ts.ResourceType]
		if m == nil {
			m = map[string]string{}
			specTags[ts.ResourceType] = m
		}
		for _, t := range ts.Tags {
			m[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	in.TagSpecifications = nil
	for _, rt := range []types.ResourceType{types.ResourceTypeInstance, types.ResourceTypeVolume} {
		merged := make(map[string]string, len(specTags[rt])+len(ours))
		for k, v := range specTags[rt] {
			merged[k] = v
		}
		for k, v := range ours {
			merged[k] = v
		}
		in.TagSpecifications = append(in.TagSpecifications, types.TagSpecification{ResourceType: rt, Tags: sortedTags(merged)})
	}

	specSpot := in.InstanceMarketOptions
	in.InstanceMarketOptions = nil
	if req.Spot {
		opts := &types.SpotMarketOptions{}
		if specSpot != nil && specSpot.SpotOptions != nil {
			*opts = *specSpot.SpotOptions
		}
		if opts.SpotInstanceType == "" {
			opts.SpotInstanceType = types.SpotInstanceTypeOneTime
		}
		if opts.InstanceInterruptionBehavior == "" {
			opts.InstanceInterruptionBehavior = types.InstanceInterruptionBehaviorTerminate
		}
		if req.MaxPrice > 0 {
			opts.MaxPrice = aws.String(strconv.FormatFloat(req.MaxPrice, 'f', -1, 64))
		}
		in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot, SpotOptions: opts}
	}

	if req.AvailabilityZone != "" {
		placement := types.Placement{}
		if in.Placement != nil {
			placement = *in.Placement
		}
		placement.AvailabilityZone = aws.String(req.AvailabilityZone)
		in.Placement = &placement
	}
	return in, nil
}

func sortedTags(m map[string]string) []types.Tag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tags := make([]types.Tag, len(keys))
	for i, k := range keys {
		tags[i] = types.Tag{Key: aws.String(k), Value: aws.String(m[k])}
	}
	return tags
}

// Launch starts req.Count instances with one RunInstances call (see
// cloud.InstanceSet and BuildRunInstancesInput). An empty ClientToken is replaced
// by a random one, so the SDK's own retries of the call stay idempotent.
func (s *InstanceSet) Launch(ctx context.Context, req cloud.LaunchRequest) ([]cloud.Instance, error) {
	if req.ClientToken == "" {
		req.ClientToken = newClientToken()
	}
	in, err := BuildRunInstancesInput(s.id, req)
	if err != nil {
		return nil, fmt.Errorf("launch in %s: %w", req.Region, err)
	}
	c, err := s.client(req.Region)
	if err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	out, err := c.RunInstances(ctx, in)
	if err != nil {
		return nil, translate("RunInstances", req.Region, err)
	}
	instances := make([]cloud.Instance, 0, len(out.Instances))
	for _, inst := range out.Instances {
		instances = append(instances, fromEC2(req.Region, aws.ToString(out.OwnerId), inst))
	}
	s.log.DebugContext(ctx, "launched instances", "region", req.Region, "instanceType", req.InstanceType,
		"count", len(instances), "spot", req.Spot, "clientToken", req.ClientToken)
	return instances, nil
}

// newClientToken returns 32 random hex characters.
func newClientToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// fromEC2 converts an SDK instance.
func fromEC2(region, owner string, inst types.Instance) cloud.Instance {
	out := cloud.Instance{
		ID:           aws.ToString(inst.InstanceId),
		Region:       region,
		InstanceType: string(inst.InstanceType),
		ImageID:      aws.ToString(inst.ImageId),
		AccountID:    owner,
		PrivateIP:    aws.ToString(inst.PrivateIpAddress),
		LaunchTime:   aws.ToTime(inst.LaunchTime),
		Spot:         inst.InstanceLifecycle == types.InstanceLifecycleTypeSpot,
		Tags:         make(map[string]string, len(inst.Tags)),
	}
	if inst.Placement != nil {
		out.AvailabilityZone = aws.ToString(inst.Placement.AvailabilityZone)
	}
	if inst.State != nil {
		out.State = string(inst.State.Name)
	}
	for _, t := range inst.Tags {
		out.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// FromEC2 converts an instance of a DescribeInstances reservation (owner is its
// OwnerId) as the driver does: for the local stack's simulated workers on moto.
func FromEC2(region, owner string, inst types.Instance) cloud.Instance {
	return fromEC2(region, owner, inst)
}
