package provision

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ratelimit"
	"github.com/workerfleet/workerfleet/shared/pool"
)

// launchClock records when each pool's launches came back from EC2 (through the
// rate limiter, so waiting for a token counts).
type launchClock struct {
	cloud.InstanceSet
	mu    sync.Mutex
	ok    map[string][]time.Time // by pool: successful launches
	calls map[string]int         // by pool: every launch call
}

func (l *launchClock) Launch(ctx context.Context, req cloud.LaunchRequest) ([]cloud.Instance, error) {
	insts, err := l.InstanceSet.Launch(ctx, req)
	l.mu.Lock()
	defer l.mu.Unlock()
	p := req.Tags[cloud.TagPool]
	l.calls[p]++
	if err == nil {
		l.ok[p] = append(l.ok[p], time.Now())
	}
	return insts, err
}

func (l *launchClock) launched(pool string) (int, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.ok[pool]
	if len(ts) == 0 {
		return 0, time.Time{}
	}
	return len(ts), ts[len(ts)-1]
}

// failingPoolConfig is an aws pool at the launch-config bound, every config in a
// subnet that does not exist, with no capacity limit to speak of: every launch it
// tries fails.
func failingPoolConfig() string {
	lcs := make([]string, pool.MaxLaunchConfigs)
	for i := range lcs {
		lcs[i] = fmt.Sprintf(`{"region":"us-east-1","capacityPerInstance":1,"launchConfig":{"ImageId":"ami-0123456789abcdef0","InstanceType":"m5.large","SubnetId":"subnet-%017x"}}`, i)
	}
	return `{"minCapacity":0,"maxCapacity":2147483647,"launchConfigs":[` + strings.Join(lcs, ",") + `]}`
}

// fairnessRun runs iterations every interval, in real time, through EC2's real
// RunInstances budget (ratelimit.EC2: 5 burst, 2 per second), and gives the
// healthy pool one more pending task at each of the offsets; it returns each
// demand's time to the healthy pool's launch, the longest iteration, and the
// failing pool's launch calls.
func fairnessRun(t *testing.T, withFailing bool, interval time.Duration, demands int) (latencies []time.Duration, longest time.Duration, failingCalls, iterations int) {
	e := newEnv(t)
	clock := &launchClock{InstanceSet: ratelimit.Wrap(e.set, ratelimit.EC2), ok: map[string][]time.Time{}, calls: map[string]int{}}
	e.p.Cloud = clock
	e.awsPool("proj/healthy", 0, 1000)
	if withFailing {
		e.createPool("proj/failing", "aws", failingPoolConfig())
		e.demand.set("proj/failing", 1_000_000)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	wg.Go(func() {
		for {
			start := time.Now()
			if _, err := e.p.Run(context.Background(), NewIterationID()); err != nil {
				t.Errorf("iteration: %v", err)
			}
			took := time.Since(start)
			mu.Lock()
			longest = max(longest, took)
			iterations++
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(interval - took):
			}
		}
	})
	// The failing pool has been failing for a while (the steady state).
	time.Sleep(3 * interval)
	for k := range demands {
		// Demand arrives at different points of the iterations' cycle.
		time.Sleep(interval*time.Duration(k%3)/3 + interval/7)
		e.demand.set("proj/healthy", int64(k+1))
		asked := time.Now()
		deadline := asked.Add(30 * time.Second)
		for {
			if n, at := clock.launched("proj/healthy"); n > k {
				latencies = append(latencies, at.Sub(asked))
				break
			}
			if time.Now().After(deadline) {
				latencies = append(latencies, 30*time.Second)
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	clock.mu.Lock()
	failingCalls = clock.calls["proj/failing"]
	clock.mu.Unlock()
	return latencies, longest, failingCalls, iterations
}

func summary(ds []time.Duration) (median, worst time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// TestFailingPoolCostsOthersNothing (finding 1): a pool at the launch-config bound
// whose every launch fails, with endless demand, beside a healthy pool with
// demand: the healthy pool's every demand is launched for, and the failing pool
// makes at most Config.MaxFailedLaunchesPerPool launch calls an iteration, taking
// only tokens no other pool waits for. The times from demand to launch, alone and
// beside the failing pool, are measured and logged (the README reports them); as
// wall-clock figures on a shared machine they are not asserted.
func TestFailingPoolCostsOthersNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs iterations in real time against EC2's RunInstances budget (about 20s)")
	}
	const interval, demands = time.Second, 6
	alone, longestAlone, _, _ := fairnessRun(t, false, interval, demands)
	beside, longestBeside, failing, iterations := fairnessRun(t, true, interval, demands)
	medA, worstA := summary(alone)
	medB, worstB := summary(beside)
	t.Logf("healthy pool, demand to launch, %d demands, iterations every %s: alone median %s worst %s (longest iteration %s); beside the failing pool median %s worst %s (longest iteration %s; the failing pool made %d launch calls)",
		demands, interval, medA.Round(time.Millisecond), worstA.Round(time.Millisecond), longestAlone.Round(time.Millisecond),
		medB.Round(time.Millisecond), worstB.Round(time.Millisecond), longestBeside.Round(time.Millisecond), failing)
	for i, d := range beside {
		if d >= 30*time.Second {
			t.Errorf("beside the failing pool, demand %d of the healthy pool was never launched for", i+1)
		}
	}
	if limit := iterations * DefaultMaxFailedLaunchesPerPool; failing > limit {
		t.Errorf("the failing pool made %d launch calls in about %d iterations; at most %d an iteration are allowed", failing, iterations, DefaultMaxFailedLaunchesPerPool)
	}
}
