package awsprovisioner

import (
	"context"
	"encoding/json"
	"time"

	"github.com/workerfleet/workerfleet/shared/store"
)

// Store is what the aws-provisioner API asks of the tables: the operations it
// uses, declared here where they are used. *store.Store implements it; a test or
// the simulator may hold another.
type Store interface {
	ConsumeSecret(ctx context.Context, sec store.Secret) error
	CreateSecret(ctx context.Context, sec store.Secret) error
	CreateWorker(ctx context.Context, w store.Worker) (store.Worker, error)
	CreateWorkerType(ctx context.Context, name string, definition json.RawMessage) (store.WorkerType, error)
	DeleteSecret(ctx context.Context, token string) error
	DeleteWorkerType(ctx context.Context, name string) (bool, error)
	LastCheckIn(ctx context.Context) (store.CheckIn, error)
	ListErrors(ctx context.Context, pool string, page store.Page) ([]store.PoolError, string, error)
	LiveWorkers(ctx context.Context, pool string) ([]store.Worker, error)
	Now() time.Time
	PoolStatus(ctx context.Context, pool string) (store.PoolStatus, error)
	Secret(ctx context.Context, token string) (store.Secret, error)
	UpdateWorker(ctx context.Context, pool, key string, fn func(*store.Worker) error) (store.Worker, error)
	UpdateWorkerType(ctx context.Context, name string, definition json.RawMessage) (store.WorkerType, error)
	Worker(ctx context.Context, pool, workerGroup, workerID string) (store.Worker, error)
	WorkerByInstance(ctx context.Context, instanceID string) (store.Worker, error)
	WorkerType(ctx context.Context, name string) (store.WorkerType, error)
	WorkerTypeListing(ctx context.Context) ([]store.WorkerType, error)
}

var _ Store = (*store.Store)(nil)
