package workermanager

import (
	"context"
	"encoding/json"
	"time"

	"github.com/workerfleet/workerfleet/shared/store"
)

// Store is what the worker-manager API asks of the tables: the operations it uses,
// declared here where they are used. *store.Store implements it; a test or the
// simulator may hold another.
type Store interface {
	AddError(ctx context.Context, e store.PoolError, retention time.Duration) (store.PoolError, error)
	Check(ctx context.Context) error
	CheckLaunchConfigs(ctx context.Context, poolID string, lcs []store.LaunchConfigIdentity) ([]string, error)
	CreateWorker(ctx context.Context, w store.Worker) (store.Worker, error)
	CreateWorkerPool(ctx context.Context, p store.WorkerPool) (store.WorkerPool, error)
	DeleteWorker(ctx context.Context, pool, key string, version int64) error
	LaunchConfigs(ctx context.Context, poolID string, page store.Page) ([]store.LaunchConfig, string, error)
	ListErrorsWhere(ctx context.Context, pool string, f store.ErrorFilter, page store.Page) ([]store.PoolError, string, error)
	ListWorkerPools(ctx context.Context, page store.Page) ([]store.WorkerPool, string, error)
	ListWorkersWhere(ctx context.Context, pool, workerGroup string, f store.WorkerFilter, page store.Page) ([]store.Worker, string, error)
	LiveWorkers(ctx context.Context, pool string) ([]store.Worker, error)
	Now() time.Time
	PoolErrors(ctx context.Context, pool string) ([]store.PoolError, error)
	PoolStatus(ctx context.Context, pool string) (store.PoolStatus, error)
	PoolStatuses(ctx context.Context) ([]store.PoolStatus, error)
	PutPoolStatuses(ctx context.Context, statuses []store.PoolStatus) error
	PutWorkerConfig(ctx context.Context, pool string, config []byte, until time.Time) (string, error)
	RecordLaunchConfigs(ctx context.Context, poolID string, lcs []store.LaunchConfigIdentity) ([]string, error)
	UpdateWorker(ctx context.Context, pool, key string, fn func(*store.Worker) error) (store.Worker, error)
	UpdateWorkerFrom(ctx context.Context, read store.Worker, fn func(*store.Worker) error) (store.Worker, error)
	UpdateWorkerPool(ctx context.Context, id string, fn func(*store.WorkerPool) error) (store.WorkerPool, error)
	Worker(ctx context.Context, pool, workerGroup, workerID string) (store.Worker, error)
	WorkerConfig(ctx context.Context, pool, hash string) (json.RawMessage, error)
	WorkerPool(ctx context.Context, id string) (store.WorkerPool, error)
}

var _ Store = (*store.Store)(nil)
