package ec2

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// Instances lists the set's instances in region carrying all of tags, with one
// filtered DescribeInstances per page (tag:workerfleet:instance-set = id plus a
// tag:<key> filter per tag), reading every page. See cloud.InstanceSet.
func (s *InstanceSet) Instances(ctx context.Context, region string, tags map[string]string) ([]cloud.Instance, error) {
	c, err := s.client(region)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	want, ok := cloud.ListFilter(s.id, tags)
	if !ok {
		return nil, nil
	}
	return s.describe(ctx, c, region, tagFilters(want))
}

// describe reads every page of a filtered DescribeInstances.
func (s *InstanceSet) describe(ctx context.Context, c api, region string, filters []types.Filter) ([]cloud.Instance, error) {
	in := &ec2.DescribeInstancesInput{Filters: filters, MaxResults: aws.Int32(int32(s.cfg.PageSize))}
	var out []cloud.Instance
	for {
		page, err := c.DescribeInstances(ctx, in)
		if err != nil {
			return nil, translate("DescribeInstances", region, err)
		}
		for _, r := range page.Reservations {
			for _, inst := range r.Instances {
				out = append(out, fromEC2(region, aws.ToString(r.OwnerId), inst))
			}
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// tagFilters returns one tag:<key> filter per tag, sorted by key.
func tagFilters(tags map[string]string) []types.Filter {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	filters := make([]types.Filter, len(keys))
	for i, k := range keys {
		filters[i] = types.Filter{Name: aws.String("tag:" + k), Values: []string{tags[k]}}
	}
	return filters
}

// Terminate terminates those of ids that carry the set's id (see
// cloud.InstanceSet). It first lists them with a DescribeInstances filtered by
// instance-id and tag:workerfleet:instance-set (at most
// cloud.MaxDescribeFilterValues filter values per call), so it only ever names
// instances it tagged, then calls TerminateInstances in batches of
// cloud.MaxTerminateBatch. If an instance vanishes in between (the batch fails
// with InvalidInstanceID.NotFound) the batch is retried one id at a time, skipping
// the missing ones.
func (s *InstanceSet) Terminate(ctx context.Context, region string, ids []string) error {
	c, err := s.client(region)
	if err != nil {
		return fmt.Errorf("terminate: %w", err)
	}
	unique := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	setFilter := types.Filter{Name: aws.String("tag:" + cloud.TagInstanceSet), Values: []string{string(s.id)}}
	var ours []string
	for _, chunk := range chunks(unique, cloud.MaxDescribeFilterValues-1) {
		found, err := s.describe(ctx, c, region, []types.Filter{
			{Name: aws.String("instance-id"), Values: chunk},
			setFilter,
		})
		if err != nil {
			return fmt.Errorf("terminate: %w", err)
		}
		for _, inst := range found {
			if inst.State != cloud.StateShuttingDown && inst.State != cloud.StateTerminated {
				ours = append(ours, inst.ID)
			}
		}
	}
	if skipped := len(unique) - len(ours); skipped > 0 {
		s.log.DebugContext(ctx, "terminate skipped instances that are not this set's, unknown, or already terminating",
			"region", region, "skipped", skipped)
	}
	for _, batch := range chunks(ours, cloud.MaxTerminateBatch) {
		if err := s.terminateBatch(ctx, c, region, batch); err != nil {
			return err
		}
	}
	if len(ours) > 0 {
		s.log.DebugContext(ctx, "terminated instances", "region", region, "count", len(ours))
	}
	return nil
}

func (s *InstanceSet) terminateBatch(ctx context.Context, c api, region string, batch []string) error {
	_, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: batch})
	if err == nil {
		return nil
	}
	err = translate("TerminateInstances", region, err)
	if cloud.ErrorCode(err) != "InvalidInstanceID.NotFound" {
		return fmt.Errorf("terminate: %w", err)
	}
	if len(batch) == 1 {
		return nil // it vanished since it was listed
	}
	for _, id := range batch {
		if err := s.terminateBatch(ctx, c, region, []string{id}); err != nil {
			return err
		}
	}
	return nil
}

func chunks(ids []string, size int) [][]string {
	var out [][]string
	for len(ids) > size {
		out = append(out, ids[:size])
		ids = ids[size:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// SpotPrices reads the current Linux/UNIX spot prices of instanceTypes in region
// with DescribeSpotPriceHistory (StartTime now, every page) and keeps the newest
// price per availability zone and type, sorted by type then zone. See
// cloud.InstanceSet.
func (s *InstanceSet) SpotPrices(ctx context.Context, region string, instanceTypes []string) ([]cloud.Price, error) {
	c, err := s.client(region)
	if err != nil {
		return nil, fmt.Errorf("spot prices: %w", err)
	}
	if len(instanceTypes) == 0 {
		return nil, nil
	}
	in := &ec2.DescribeSpotPriceHistoryInput{
		ProductDescriptions: []string{"Linux/UNIX"},
		StartTime:           aws.Time(time.Now()),
		MaxResults:          aws.Int32(1000),
	}
	for _, t := range instanceTypes {
		in.InstanceTypes = append(in.InstanceTypes, types.InstanceType(t))
	}
	type key struct{ az, typ string }
	newest := map[key]cloud.Price{}
	for {
		page, err := c.DescribeSpotPriceHistory(ctx, in)
		if err != nil {
			return nil, translate("DescribeSpotPriceHistory", region, err)
		}
		for _, sp := range page.SpotPriceHistory {
			price, err := strconv.ParseFloat(aws.ToString(sp.SpotPrice), 64)
			if err != nil {
				return nil, fmt.Errorf("spot prices in %s: price %q of %s: %w", region, aws.ToString(sp.SpotPrice), sp.InstanceType, err)
			}
			p := cloud.Price{
				Region:           region,
				AvailabilityZone: aws.ToString(sp.AvailabilityZone),
				InstanceType:     string(sp.InstanceType),
				Price:            price,
				Time:             aws.ToTime(sp.Timestamp),
			}
			k := key{p.AvailabilityZone, p.InstanceType}
			if old, ok := newest[k]; !ok || p.Time.After(old.Time) {
				newest[k] = p
			}
		}
		if aws.ToString(page.NextToken) == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	out := make([]cloud.Price, 0, len(newest))
	for _, p := range newest {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].InstanceType != out[j].InstanceType {
			return out[i].InstanceType < out[j].InstanceType
		}
		return out[i].AvailabilityZone < out[j].AvailabilityZone
	})
	return out, nil
}
