package fakecloud_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
)

// The provisioner's benchmark holds 20,000 instances across 1,000 pools.
const (
	benchPools       = 1000
	benchPerPool     = 20
	benchInstances   = benchPools * benchPerPool
	benchRegion      = "us-east-1"
	benchType        = "m5.large"
	benchImage       = "ami-0bench"
	benchCallsMetric = "calls/op"
)

func poolKey(i int) string { return fmt.Sprintf("proj-%04d/worker-type", i) }

// fullCloud returns a cloud holding benchInstances running instances of one set,
// benchPerPool in each of benchPools pools.
func fullCloud(b *testing.B) (*fakecloud.Cloud, *fakecloud.InstanceSet) {
	b.Helper()
	c, clock := newCloud(b, nil)
	set := c.InstanceSet("bench")
	ctx := context.Background()
	for p := range benchPools {
		_, err := set.Launch(ctx, cloud.LaunchRequest{
			Region: benchRegion, InstanceType: benchType, ImageID: benchImage, Count: benchPerPool,
			Tags: map[string]string{cloud.TagPool: poolKey(p)},
		})
		if err != nil {
			b.Fatalf("Launch: %v", err)
		}
	}
	clock.Advance(time.Minute)
	c.Step()
	c.ResetCalls()
	return c, set
}

func reportCalls(b *testing.B, c *fakecloud.Cloud) {
	total := 0
	for _, n := range c.Calls() {
		total += n
	}
	b.ReportMetric(float64(total)/float64(b.N), benchCallsMetric)
}

// BenchmarkLaunch launches one instance into one of the 1,000 pools of a cloud
// already holding 20,000.
func BenchmarkLaunch(b *testing.B) {
	c, set := fullCloud(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := set.Launch(ctx, cloud.LaunchRequest{
			Region: benchRegion, InstanceType: benchType, ImageID: benchImage, Count: 1,
			Tags: map[string]string{cloud.TagPool: poolKey(i % benchPools)},
		})
		if err != nil {
			b.Fatalf("Launch: %v", err)
		}
	}
	b.StopTimer()
	reportCalls(b, c)
}

// BenchmarkInstancesByPool lists one pool (20 instances) among 20,000.
func BenchmarkInstancesByPool(b *testing.B) {
	c, set := fullCloud(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := set.Instances(ctx, benchRegion, map[string]string{cloud.TagPool: poolKey(i % benchPools)})
		if err != nil || len(got) != benchPerPool {
			b.Fatalf("Instances = %d instances, %v; want %d", len(got), err, benchPerPool)
		}
	}
	b.StopTimer()
	reportCalls(b, c)
}

// BenchmarkInstancesAll lists the whole set: 20,000 instances.
func BenchmarkInstancesAll(b *testing.B) {
	c, set := fullCloud(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := set.Instances(ctx, benchRegion, nil)
		if err != nil || len(got) != benchInstances {
			b.Fatalf("Instances = %d instances, %v; want %d", len(got), err, benchInstances)
		}
	}
	b.StopTimer()
	reportCalls(b, c)
}

// BenchmarkStep runs the clock's transitions and price walk with 20,000
// instances, nothing due.
func BenchmarkStep(b *testing.B) {
	c, _ := fullCloud(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Step()
	}
}
