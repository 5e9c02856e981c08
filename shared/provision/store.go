package provision

import (
	"context"
	"time"

	"github.com/workerfleet/workerfleet/shared/store"
)

// Store is what the provisioning iteration asks of the tables: the operations it
// uses, declared here where they are used. *store.Store implements it; a test or
// the simulator may hold another.
type Store interface {
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (store.Lease, error)
	AddError(ctx context.Context, e store.PoolError, retention time.Duration) (store.PoolError, error)
	Backoffs(ctx context.Context) ([]store.Backoff, error)
	ChangedWorkers(ctx context.Context, since time.Time) ([]store.Worker, error)
	CreateSecret(ctx context.Context, sec store.Secret) error
	CreateWorker(ctx context.Context, w store.Worker) (store.Worker, error)
	DefinitionsGeneration(ctx context.Context) (string, error)
	DeletePoolStatuses(ctx context.Context, pools []string) error
	DeleteSecret(ctx context.Context, token string) error
	IndexLiveWorkers(ctx context.Context, pool string) (int, error)
	LastCheckIn(ctx context.Context) (store.CheckIn, error)
	LiveWorkers(ctx context.Context, pool string) ([]store.Worker, error)
	Now() time.Time
	PoolStatuses(ctx context.Context) ([]store.PoolStatus, error)
	Prices(ctx context.Context, region string, maxAge time.Duration) (store.PriceList, error)
	PutBackoff(ctx context.Context, b store.Backoff) error
	PutPoolStatuses(ctx context.Context, statuses []store.PoolStatus) error
	PutPrices(ctx context.Context, pl store.PriceList, ttl time.Duration) error
	PutWorkerConfig(ctx context.Context, pool string, config []byte, until time.Time) (string, error)
	RecordCheckIn(ctx context.Context, c store.CheckIn) error
	ReleaseLease(ctx context.Context, l store.Lease) error
	RemoveWorkerPool(ctx context.Context, id string, version int64) error
	UpdateWorker(ctx context.Context, pool, key string, fn func(*store.Worker) error) (store.Worker, error)
	UpdateWorkerFrom(ctx context.Context, read store.Worker, fn func(*store.Worker) error) (store.Worker, error)
	WorkerByKey(ctx context.Context, pool, key string) (store.Worker, error)
	WorkerPools(ctx context.Context) ([]store.WorkerPool, error)
	WorkerTypes(ctx context.Context) ([]store.WorkerType, error)
}

var _ Store = (*store.Store)(nil)
