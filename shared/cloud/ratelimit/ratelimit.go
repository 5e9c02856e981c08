// Package ratelimit keeps an InstanceSet's calls within EC2's request token buckets,
// per region and action, so concurrent pools never throttle themselves (or the
// account's other users of the same buckets). A call waits for a token, or gives up
// when its context ends; a slow region never holds up another region's calls.
package ratelimit

import (
	"context"
	"sync"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// Limit is a token bucket: Burst tokens, refilled at PerSecond.
type Limit struct {
	Burst     float64
	PerSecond float64
}

// EC2 are EC2's documented request buckets per account, region and action
// (RunInstances: 5 burst, 2 per second; TerminateInstances: 100, 5; Describe*: 100,
// 20 for filtered, paginated calls).
var EC2 = map[string]Limit{
	"RunInstances":             {Burst: 5, PerSecond: 2},
	"TerminateInstances":       {Burst: 100, PerSecond: 5},
	"DescribeInstances":        {Burst: 100, PerSecond: 20},
	"DescribeSpotPriceHistory": {Burst: 100, PerSecond: 20},
}

// InstanceSet is a rate-limited cloud.InstanceSet.
type InstanceSet struct {
	cloud.InstanceSet
	limits  map[string]Limit
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
}

var _ cloud.InstanceSet = (*InstanceSet)(nil)

// Wrap limits set's calls with limits (by EC2 action name); an action without a
// limit is not limited.
func Wrap(set cloud.InstanceSet, limits map[string]Limit) *InstanceSet {
	return &InstanceSet{InstanceSet: set, limits: limits, now: time.Now, buckets: map[string]*bucket{}}
}

type bucket struct {
	mu     sync.Mutex
	limit  Limit
	tokens float64
	last   time.Time
}

// wait takes a token for action in region, waiting for one if need be.
func (s *InstanceSet) wait(ctx context.Context, region, action string) error {
	limit, ok := s.limits[action]
	if !ok || limit.PerSecond <= 0 {
		return nil
	}
	s.mu.Lock()
	b, ok := s.buckets[region+"/"+action]
	if !ok {
		b = &bucket{limit: limit, tokens: limit.Burst, last: s.now()}
		s.buckets[region+"/"+action] = b
	}
	s.mu.Unlock()
	for {
		b.mu.Lock()
		now := s.now()
		b.tokens = min(b.limit.Burst, b.tokens+now.Sub(b.last).Seconds()*b.limit.PerSecond)
		b.last = now
		if b.tokens >= 1 {
			b.tokens--
			b.mu.Unlock()
			return nil
		}
		delay := time.Duration((1 - b.tokens) / b.limit.PerSecond * float64(time.Second))
		b.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Launch waits for a RunInstances token.
func (s *InstanceSet) Launch(ctx context.Context, req cloud.LaunchRequest) ([]cloud.Instance, error) {
	if err := s.wait(ctx, req.Region, "RunInstances"); err != nil {
		return nil, err
	}
	return s.InstanceSet.Launch(ctx, req)
}

// Instances waits for a DescribeInstances token.
func (s *InstanceSet) Instances(ctx context.Context, region string, tags map[string]string) ([]cloud.Instance, error) {
	if err := s.wait(ctx, region, "DescribeInstances"); err != nil {
		return nil, err
	}
	return s.InstanceSet.Instances(ctx, region, tags)
}

// Terminate waits for a TerminateInstances token.
func (s *InstanceSet) Terminate(ctx context.Context, region string, ids []string) error {
	if err := s.wait(ctx, region, "TerminateInstances"); err != nil {
		return err
	}
	return s.InstanceSet.Terminate(ctx, region, ids)
}

// SpotPrices waits for a DescribeSpotPriceHistory token.
func (s *InstanceSet) SpotPrices(ctx context.Context, region string, instanceTypes []string) ([]cloud.Price, error) {
	if err := s.wait(ctx, region, "DescribeSpotPriceHistory"); err != nil {
		return nil, err
	}
	return s.InstanceSet.SpotPrices(ctx, region, instanceTypes)
}
