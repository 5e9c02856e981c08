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
