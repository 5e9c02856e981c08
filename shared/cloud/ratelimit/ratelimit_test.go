package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// counting is an InstanceSet that records when each launch reached it.
type counting struct {
	cloud.InstanceSet
	mu    sync.Mutex
	times []time.Time
}

func (c *counting) Launch(_ context.Context, req cloud.LaunchRequest) ([]cloud.Instance, error) {
	c.mu.Lock()
	c.times = append(c.times, time.Now())
	c.mu.Unlock()
	return nil, nil
}

func TestBurstThenRefillPerRegion(t *testing.T) {
	inner := &counting{}
	s := Wrap(inner, map[string]Limit{"RunInstances": {Burst: 3, PerSecond: 20}})
	ctx := context.Background()
	start := time.Now()
	for range 7 {
		if _, err := s.Launch(ctx, cloud.LaunchRequest{Region: "us-east-1"}); err != nil {
			t.Fatal(err)
		}
	}
	// 3 at once, then 4 more at 20 per second: about 200ms.
	elapsed := time.Since(start)
	if elapsed < 150*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("7 launches with burst 3 at 20/s took %v, want about 200ms", elapsed)
	}
	if d := inner.times[2].Sub(start); d > 50*time.Millisecond {
		t.Errorf("the burst waited %v", d)
	}
	// Another region has its own bucket: no wait.
	before := time.Now()
	for range 3 {
		if _, err := s.Launch(ctx, cloud.LaunchRequest{Region: "eu-central-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(before); d > 50*time.Millisecond {
		t.Errorf("another region's burst waited %v", d)
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	s := Wrap(&counting{}, map[string]Limit{"RunInstances": {Burst: 1, PerSecond: 0.01}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Launch(ctx, cloud.LaunchRequest{Region: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Launch(ctx, cloud.LaunchRequest{Region: "r"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second launch: %v, want the context's deadline", err)
	}
}

// TestPoolsTakeTurns: a pool that launches without pause (its launches failing, say)
// does not hold the bucket: another pool's launches get every other token.
func TestPoolsTakeTurns(t *testing.T) {
	inner := &counting{}
	s := Wrap(inner, map[string]Limit{"RunInstances": {Burst: 1, PerSecond: 20}})
	ctx := context.Background()
	launch := func(pool string) {
		if _, err := s.Launch(ctx, cloud.LaunchRequest{Region: "r", Tags: map[string]string{cloud.TagPool: pool}}); err != nil {
			t.Error(err)
		}
	}
	var wg sync.WaitGroup
	var greedyDone []time.Time
	var mu sync.Mutex
	wg.Go(func() {
		for range 20 {
			launch("greedy")
			mu.Lock()
			greedyDone = append(greedyDone, time.Now())
			mu.Unlock()
		}
	})
	time.Sleep(60 * time.Millisecond) // the greedy pool has the bucket
	start := time.Now()
	for range 3 {
		launch("healthy")
	}
	healthy := time.Since(start)
	wg.Wait()
	// Alternating, the healthy pool's 3 launches take about 6 tokens (300ms); queued
	// behind the greedy pool's, 20 (1s).
	if healthy > 450*time.Millisecond {
		t.Errorf("the healthy pool's 3 launches took %v beside a greedy pool, want about 300ms (turns)", healthy)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(greedyDone); n != 20 {
		t.Errorf("the greedy pool launched %d times, want 20", n)
	}
}

// TestOpportunisticCallsTakeOnlySpareTokens: an opportunistic launch takes a token
// only when one more is left, and never waits.
func TestOpportunisticCallsTakeOnlySpareTokens(t *testing.T) {
	s := Wrap(&counting{}, map[string]Limit{"RunInstances": {Burst: 3, PerSecond: 0.01}})
	opp := Opportunistic(context.Background())
	req := cloud.LaunchRequest{Region: "r", Tags: map[string]string{cloud.TagPool: "failing"}}
	for i, want := range []error{nil, nil, ErrBudgetBusy, ErrBudgetBusy} {
		start := time.Now()
		_, err := s.Launch(opp, req)
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("opportunistic launch %d: %v, want %v", i, err, want)
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Errorf("opportunistic launch %d waited %v", i, d)
		}
	}
	// The token left is the next ordinary caller's.
	if _, err := s.Launch(context.Background(), cloud.LaunchRequest{Region: "r"}); err != nil {
		t.Errorf("the ordinary launch after them: %v", err)
	}
}
