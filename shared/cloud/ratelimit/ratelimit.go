// Package ratelimit keeps an InstanceSet's calls within EC2's request token buckets,
// per region and action, so concurrent pools never throttle themselves (or the
// account's other users of the same buckets). A call waits for a token, or gives up
// when its context ends; a slow region never holds up another region's calls. While
// launches wait, the pools waiting take the tokens in turn: a pool that launches
// without pause cannot take the budget from the others.
package ratelimit

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// ErrBudgetBusy is what an opportunistic call (see Opportunistic) gets when it
// would have to wait, or take the bucket's last token.
var ErrBudgetBusy = errors.New("the request budget is in use by others; try again later")

type opportunisticKey struct{}

// Opportunistic marks a context's calls as taking only spare tokens: a token
// when no other call waits and one more is left for the next caller, or else
// ErrBudgetBusy at once. It is for the calls of a pool whose launches keep
// failing: they never wait, so they never make another pool (or the iteration)
// wait, and never take the token another pool's next launch needs.
func Opportunistic(ctx context.Context) context.Context {
	return context.WithValue(ctx, opportunisticKey{}, true)
}

func opportunistic(ctx context.Context) bool { v, _ := ctx.Value(opportunisticKey{}).(bool); return v }

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

// bucket is one token bucket, shared fairly: while calls wait, tokens go to the
// tenants (pools) with waiting calls in turn, each tenant's calls in order, so a
// tenant that calls without pause (a pool whose launches all fail) gets one token
// in n when n tenants wait, never the whole bucket.
type bucket struct {
	mu      sync.Mutex
	limit   Limit
	tokens  float64
	last    time.Time
	waiting map[string][]*waiter // by tenant, oldest first
	turns   []string             // tenants with waiting calls, next to be served first
	pumping bool                 // a timer will hand out the next token
}

type waiter struct {
	ready   chan struct{}
	granted bool
}

// refill adds the tokens earned since last.
func (b *bucket) refill(now time.Time) {
	b.tokens = min(b.limit.Burst, b.tokens+now.Sub(b.last).Seconds()*b.limit.PerSecond)
	b.last = now
}

// wait takes a token for action in region on tenant's behalf, waiting for one (and
// for its turn) if need be.
func (s *InstanceSet) wait(ctx context.Context, region, action, tenant string) error {
	limit, ok := s.limits[action]
	if !ok || limit.PerSecond <= 0 {
		return nil
	}
	s.mu.Lock()
	b, ok := s.buckets[region+"/"+action]
	if !ok {
		b = &bucket{limit: limit, tokens: limit.Burst, last: s.now(), waiting: map[string][]*waiter{}}
		s.buckets[region+"/"+action] = b
	}
	s.mu.Unlock()

	b.mu.Lock()
	b.refill(s.now())
	if opportunistic(ctx) {
		defer b.mu.Unlock()
		if len(b.turns) == 0 && b.tokens >= 2 {
			b.tokens--
			return nil
		}
		return ErrBudgetBusy
	}
	if len(b.turns) == 0 && b.tokens >= 1 {
		b.tokens--
		b.mu.Unlock()
		return nil
	}
	w := &waiter{ready: make(chan struct{})}
	if len(b.waiting[tenant]) == 0 {
		b.turns = append(b.turns, tenant)
	}
	b.waiting[tenant] = append(b.waiting[tenant], w)
	s.schedule(b)
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		if w.granted {
			return nil // granted as the context ended: use it
		}
		b.remove(tenant, w)
		return ctx.Err()
	}
}

// schedule makes sure a timer will hand out the next token (b.mu held).
func (s *InstanceSet) schedule(b *bucket) {
	if b.pumping || len(b.turns) == 0 {
		return
	}
	b.pumping = true
	delay := time.Duration(max(0, 1-b.tokens) / b.limit.PerSecond * float64(time.Second))
	time.AfterFunc(delay, func() { s.pump(b) })
}

// pump hands out the tokens earned to the waiting calls, one tenant after the
// other.
func (s *InstanceSet) pump(b *bucket) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pumping = false
	b.refill(s.now())
	for b.tokens >= 1 && len(b.turns) > 0 {
		tenant := b.turns[0]
		b.turns = b.turns[1:]
		q := b.waiting[tenant]
		w := q[0]
		if len(q) > 1 {
			b.waiting[tenant] = q[1:]
			b.turns = append(b.turns, tenant) // its next call waits for its next turn
		} else {
			delete(b.waiting, tenant)
		}
		b.tokens--
		w.granted = true
		close(w.ready)
	}
	s.schedule(b)
}

// remove takes a waiter that gave up out of its tenant's queue (b.mu held).
func (b *bucket) remove(tenant string, w *waiter) {
	q := b.waiting[tenant]
	for i, x := range q {
		if x == w {
			q = append(q[:i:i], q[i+1:]...)
			break
		}
	}
	if len(q) > 0 {
		b.waiting[tenant] = q
		return
	}
	delete(b.waiting, tenant)
	for i, t := range b.turns {
		if t == tenant {
			b.turns = append(b.turns[:i:i], b.turns[i+1:]...)
			break
		}
	}
}

// Launch waits for a RunInstances token, taking turns with the other pools' (by
// the request's cloud.TagPool tag) launches.
func (s *InstanceSet) Launch(ctx context.Context, req cloud.LaunchRequest) ([]cloud.Instance, error) {
	if err := s.wait(ctx, req.Region, "RunInstances", req.Tags[cloud.TagPool]); err != nil {
		return nil, err
	}
	return s.InstanceSet.Launch(ctx, req)
}

// Instances waits for a DescribeInstances token.
func (s *InstanceSet) Instances(ctx context.Context, region string, tags map[string]string) ([]cloud.Instance, error) {
	if err := s.wait(ctx, region, "DescribeInstances", ""); err != nil {
		return nil, err
	}
	return s.InstanceSet.Instances(ctx, region, tags)
}

// Terminate waits for a TerminateInstances token.
func (s *InstanceSet) Terminate(ctx context.Context, region string, ids []string) error {
	if err := s.wait(ctx, region, "TerminateInstances", ""); err != nil {
		return err
	}
	return s.InstanceSet.Terminate(ctx, region, ids)
}

// SpotPrices waits for a DescribeSpotPriceHistory token.
func (s *InstanceSet) SpotPrices(ctx context.Context, region string, instanceTypes []string) ([]cloud.Price, error) {
	if err := s.wait(ctx, region, "DescribeSpotPriceHistory", ""); err != nil {
		return nil, err
	}
	return s.InstanceSet.SpotPrices(ctx, region, instanceTypes)
}
