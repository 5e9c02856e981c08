package fakecloud_test

import (
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/cloudtest"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
)

var epoch = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// newCloud returns a cloud on a manual clock, seeded, with cfg's changes.
func newCloud(t testing.TB, change func(*fakecloud.Config), opts ...fakecloud.Option) (*fakecloud.Cloud, *fakecloud.ManualClock) {
	t.Helper()
	cfg := fakecloud.DefaultConfig()
	cfg.Seed = 42
	if change != nil {
		change(&cfg)
	}
	clock := fakecloud.NewManualClock(epoch)
	c, err := fakecloud.New(cfg, append([]fakecloud.Option{fakecloud.WithClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("fake.New: %v", err)
	}
	return c, clock
}

func TestContract(t *testing.T) {
	c, clock := newCloud(t, nil)
	cfg := fakecloud.DefaultConfig()
	cloudtest.Run(t, cloudtest.Harness{
		Name:         "fake cloud",
		NewSet:       func(t *testing.T, id cloud.InstanceSetID) cloud.InstanceSet { return c.InstanceSet(id) },
		Region:       "us-east-1",
		InstanceType: "m5.large",
		ImageID:      "ami-0abcdef1234567890",
		Calls:        func(action string) int { return c.Calls()[action] },
		Settle: func() {
			clock.Advance(time.Duration(cfg.BootDelay) + time.Duration(cfg.ShutdownDelay) + time.Second)
			c.Step()
		},
	})
}
