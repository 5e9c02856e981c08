package provision

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/store"
)

// BenchmarkIteration runs steady-state iterations (every pool at its capacity, no
// launches) over pools of 20 workers each, on the fake cloud and DynamoDB Local, and
// reports per iteration: wall time, EC2 API calls and DynamoDB requests.
//
//	go test -run '^$' -bench Iteration -benchtime 3x ./shared/provision/
func BenchmarkIteration(b *testing.B) {
	for _, size := range []struct{ pools, perPool int }{{100, 20}, {1000, 5}, {1000, 20}} {
		b.Run(fmt.Sprintf("pools=%d/workers=%d", size.pools, size.pools*size.perPool), func(b *testing.B) {
			e := newEnv(b)
			e.cloud.SetEventSink(nil) // the warm-up reconciles states instead: faster to set up
			counting := store.NewCountingDB(storetest.DB(b))
			s := store.New(counting, e.store.Tables(), storetest.Key(b), store.WithClock(e.clock.Now))
			e.store, e.p.Store = s, s

			var wg sync.WaitGroup
			sem := make(chan struct{}, 16)
			for i := range size.pools {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					e.awsPool(fmt.Sprintf("bench/pool-%04d", i), size.perPool, size.perPool)
				}()
			}
			wg.Wait()
			start := time.Now()
			e.iterate() // launches every pool's minCapacity
			e.advance(time.Minute)
			e.iterate() // records EC2's states
			e.iterate()
			b.Logf("setup: %d pools, %d instances in %v", size.pools, len(e.cloud.AllInstances()), time.Since(start).Round(time.Second))

			counting.Reset()
			e.cloud.ResetCalls()
			b.ResetTimer()
			for range b.N {
				rep := e.iterate()
				if rep.Launched != 0 || rep.Terminated != 0 || len(rep.Problems) != 0 {
					b.Fatalf("not a steady state: %+v", rep)
				}
			}
			b.StopTimer()
			calls := 0
			for _, n := range e.cloud.Calls() {
				calls += n
			}
			b.ReportMetric(float64(calls)/float64(b.N), "ec2-calls/op")
			b.ReportMetric(float64(counting.Total())/float64(b.N), "dynamodb-requests/op")
			for _, op := range counting.Ops() {
				b.Logf("  %-15s %6.0f per iteration", op, float64(counting.Counts()[op])/float64(b.N))
			}
			for op, n := range e.cloud.Calls() {
				b.Logf("  %-25s %6.0f per iteration", op, float64(n)/float64(b.N))
			}
		})
	}
}
