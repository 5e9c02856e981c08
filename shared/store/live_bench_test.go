package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/store"
)

// capacityDB asks every Query for its consumed capacity and adds it up.
type capacityDB struct {
	store.DB
	mu    sync.Mutex
	units float64
}

func (c *capacityDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	q := *in
	q.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := c.DB.Query(ctx, &q, opts...)
	if err == nil && out.ConsumedCapacity != nil {
		c.mu.Lock()
		c.units += aws.ToFloat64(out.ConsumedCapacity.CapacityUnits)
		c.mu.Unlock()
	}
	return out, err
}

// BenchmarkLiveWorkers reads the live workers of a pool that also holds a day of
// stopped records (100 live, 900 stopped, of the size a launched worker's record
// has), through the live index and, as the baseline, through the pool's partition
// filtered (what LiveWorkers read before the index). It reports the read units
// each read consumes, as DynamoDB Local counts them.
func BenchmarkLiveWorkers(b *testing.B) {
	if storetest.InMemory() {
		b.Skip("read units are DynamoDB's accounting; memdb keeps none")
	}
	db := &capacityDB{DB: storetest.DB(b)}
	s := store.New(db, storetest.Tables(b), storetest.Key(b))
	ctx := context.Background()
	const pool = "proj/busy"
	for i := range 1000 {
		w := store.Worker{Pool: pool, WorkerGroup: "aws", WorkerID: fmt.Sprintf("i-%017x", i), ProviderID: "aws", Capacity: 1,
			InstanceID: fmt.Sprintf("i-%017x", i), Region: "us-east-1", AvailabilityZone: "us-east-1a", InstanceType: "m5.large",
			ImageID: "ami-0123456789abcdef0", AccountID: "123456789012", PrivateIP: "10.0.0.1", Spot: true, Price: 0.0312,
			OptionID: "us-east-1a/m5.large/spot", LaunchToken: "launch-token-0123456789abcdef", Expires: time.Now().Add(48 * time.Hour),
			SecretTokenHash: make([]byte, 32), EC2State: "running", LaunchTime: time.Now(), RunningTime: time.Now(), Registered: time.Now()}
		if _, err := s.CreateWorker(ctx, w); err != nil {
			b.Fatal(err)
		}
		if i >= 100 {
			if _, err := s.UpdateWorker(ctx, pool, store.WorkerKey("aws", w.WorkerID), func(w *store.Worker) error {
				w.MarkStopped(time.Now(), "done")
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, bc := range []struct {
		name string
		read func() (int, error)
	}{
		{"live-index", func() (int, error) { ws, err := s.LiveWorkers(ctx, pool); return len(ws), err }},
		{"partition-filtered", func() (int, error) {
			ws, err := s.Workers(ctx, pool)
			live := 0
			for _, w := range ws {
				if w.State != store.Stopped {
					live++
				}
			}
			return live, err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			db.mu.Lock()
			db.units = 0
			db.mu.Unlock()
			for range b.N {
				n, err := bc.read()
				if err != nil || n != 100 {
					b.Fatalf("%d live workers, %v; want 100", n, err)
				}
			}
			b.ReportMetric(db.units/float64(b.N), "RCU/op")
		})
	}
}
