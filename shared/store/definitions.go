package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// WorkerType is a stored aws-provisioner worker type: its name and its definition, the
// canonical JSON of the create/update request (without workerType and lastModified).
type WorkerType struct {
	Name         string          `dynamodbav:"workerType"`
	Definition   json.RawMessage `dynamodbav:"definition"`
	LastModified time.Time       `dynamodbav:"lastModified"`
	Version      int64           `dynamodbav:"version"`
	// MinCapacity and MaxCapacity repeat the definition's, for the listings that
	// need only them (WorkerTypeListing); nil in records written before they were
	// kept, and in a definition that does not set them.
	MinCapacity *float64 `dynamodbav:"minCapacity,omitempty"`
	MaxCapacity *float64 `dynamodbav:"maxCapacity,omitempty"`
}

func (w *WorkerType) version() int64 { return w.Version }

// setCapacities copies the definition's capacity bounds into w.
func (w *WorkerType) setCapacities() {
	var c struct {
		MinCapacity *float64 `json:"minCapacity"`
		MaxCapacity *float64 `json:"maxCapacity"`
	}
	_ = json.Unmarshal(w.Definition, &c) // not an object: no bounds to copy
	w.MinCapacity, w.MaxCapacity = c.MinCapacity, c.MaxCapacity
}

// summariesIndex is the worker types table's index of names and capacity bounds.
const summariesIndex = "summaries"

// WorkerTypeListing returns every worker type's name and capacity bounds, without
// definitions, from the summaries index: its cost follows the number of worker
// types, not the size of their definitions. The index is eventually consistent: a
// worker type created a moment ago may be missing. A record written before the
// bounds were kept has nil bounds: read it whole (WorkerType) for them.
func (s *Store) WorkerTypeListing(ctx context.Context) ([]WorkerType, error) {
	var items []WorkerType
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{TableName: aws.String(s.tables.WorkerTypes), IndexName: aws.String(summariesIndex)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan worker types' summaries: %w", err)
		}
		if items, err = decodeItems(items, withoutReserved(out.Items)); err != nil {
			return nil, err
		}
	}
	return items, nil
}
func (w *WorkerType) setVersion(v int64) { w.Version = v }

func workerTypeKey(name string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"workerType": str(name)}
}

// CreateWorkerType stores a new worker type. If one of that name exists, it returns
// the existing one and ErrExists, so the caller can tell an idempotent repeat from a
// conflict.
func (s *Store) CreateWorkerType(ctx context.Context, name string, definition json.RawMessage) (WorkerType, error) {
	wt := WorkerType{Name: name, Definition: definition, LastModified: s.Now(), Version: 1}
	wt.setCapacities()
	err := s.create(ctx, s.tables.WorkerTypes, "workerType", &wt)
	if err == nil {
		err = s.bumpGeneration(ctx, s.tables.WorkerTypes, "workerType")
	}
	if errors.Is(err, ErrExists) {
		existing, gerr := s.WorkerType(ctx, name)
		if gerr != nil {
			return WorkerType{}, gerr
		}
		return existing, ErrExists
	}
	if err != nil {
		return WorkerType{}, err
	}
	return wt, nil
}

// UpdateWorkerType replaces the definition of an existing worker type and moves its
// lastModified forward (strictly, even within one clock tick). ErrNotFound if absent.
func (s *Store) UpdateWorkerType(ctx context.Context, name string, definition json.RawMessage) (WorkerType, error) {
	wt, err := update(ctx, s, s.tables.WorkerTypes, workerTypeKey(name), func(w *WorkerType) error {
		w.Definition = definition
		w.setCapacities()
		w.LastModified = later(s.Now(), w.LastModified)
		return nil
	})
	if err != nil {
		return WorkerType{}, err
	}
	return wt, s.bumpGeneration(ctx, s.tables.WorkerTypes, "workerType")
}

// WorkerType reads one worker type; ErrNotFound if absent.
func (s *Store) WorkerType(ctx context.Context, name string) (WorkerType, error) {
	if strings.HasPrefix(name, "~") {
		return WorkerType{}, ErrNotFound
	}
	var wt WorkerType
	if err := s.getItem(ctx, s.tables.WorkerTypes, workerTypeKey(name), &wt); err != nil {
		return WorkerType{}, err
	}
	return wt, nil
}

// DeleteWorkerType removes a worker type's definition. Removing an absent one is not an
// error (it reports whether anything was removed).
func (s *Store) DeleteWorkerType(ctx context.Context, name string) (bool, error) {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:    aws.String(s.tables.WorkerTypes),
		Key:          workerTypeKey(name),
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return false, fmt.Errorf("delete worker type: %w", err)
	}
	if len(out.Attributes) == 0 {
		return false, nil
	}
	return true, s.bumpGeneration(ctx, s.tables.WorkerTypes, "workerType")
}

// WorkerTypes returns every worker type.
func (s *Store) WorkerTypes(ctx context.Context) ([]WorkerType, error) {
	return scanAll[WorkerType](ctx, s, s.tables.WorkerTypes)
}

// WorkerPool is a stored worker-manager worker pool.
type WorkerPool struct {
	WorkerPoolID string `dynamodbav:"workerPoolId"`
	ProviderID   string `dynamodbav:"providerId"`
	// PreviousProviderIDs are providers the pool had before, whose workers may still
	// exist; the provisioner keeps managing (and removing) them.
	PreviousProviderIDs []string        `dynamodbav:"previousProviderIds,omitempty"`
	Description         string          `dynamodbav:"description"`
	Owner               string          `dynamodbav:"owner"`
	EmailOnError        bool            `dynamodbav:"emailOnError"`
	Config              json.RawMessage `dynamodbav:"config"`
	Created             time.Time       `dynamodbav:"created"`
	LastModified        time.Time       `dynamodbav:"lastModified"`
	Version             int64           `dynamodbav:"version"`
}

func (p *WorkerPool) version() int64     { return p.Version }
func (p *WorkerPool) setVersion(v int64) { p.Version = v }

func workerPoolKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"workerPoolId": str(id)}
}

// CreateWorkerPool stores a new worker pool (its Created and LastModified are set
// here); ErrExists if the id is taken.
func (s *Store) CreateWorkerPool(ctx context.Context, p WorkerPool) (WorkerPool, error) {
	now := s.Now()
	p.Created, p.LastModified, p.Version = now, now, 1
	if err := s.create(ctx, s.tables.WorkerPools, "workerPoolId", &p); err != nil {
		return WorkerPool{}, err
	}
	return p, s.bumpGeneration(ctx, s.tables.WorkerPools, "workerPoolId")
}

// UpdateWorkerPool applies fn to the current pool and writes it back, with
// optimistic concurrency; LastModified moves forward. ErrNotFound if absent.
func (s *Store) UpdateWorkerPool(ctx context.Context, id string, fn func(*WorkerPool) error) (WorkerPool, error) {
	changed := false
	p, err := update(ctx, s, s.tables.WorkerPools, workerPoolKey(id), func(p *WorkerPool) error {
		changed = false
		if err := fn(p); err != nil {
			return err
		}
		p.WorkerPoolID = id
		p.LastModified = later(s.Now(), p.LastModified)
		changed = true
		return nil
	})
	if err != nil || !changed {
		return p, err
	}
	return p, s.bumpGeneration(ctx, s.tables.WorkerPools, "workerPoolId")
}

// WorkerPool reads one worker pool; ErrNotFound if absent.
func (s *Store) WorkerPool(ctx context.Context, id string) (WorkerPool, error) {
	if strings.HasPrefix(id, "~") {
		return WorkerPool{}, ErrNotFound
	}
	var p WorkerPool
	if err := s.getItem(ctx, s.tables.WorkerPools, workerPoolKey(id), &p); err != nil {
		return WorkerPool{}, err
	}
	return p, nil
}

// RemoveWorkerPool deletes a pool, but only if it is still at the given version (so a
// pool updated since the caller decided is kept); ErrConflict otherwise.
func (s *Store) RemoveWorkerPool(ctx context.Context, id string, version int64) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.tables.WorkerPools),
		Key:                       workerPoolKey(id),
		ConditionExpression:       aws.String("#v = :v"),
		ExpressionAttributeNames:  map[string]string{"#v": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(version)},
	})
	if isConditionFailed(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("remove worker pool: %w", err)
	}
	return nil
}

// ListWorkerPools returns one page of worker pools.
func (s *Store) ListWorkerPools(ctx context.Context, page Page) ([]WorkerPool, string, error) {
	return scanPage[WorkerPool](ctx, s, s.tables.WorkerPools, "pools", page)
}

// WorkerPools returns every worker pool.
func (s *Store) WorkerPools(ctx context.Context) ([]WorkerPool, error) {
	return scanAll[WorkerPool](ctx, s, s.tables.WorkerPools)
}

// later returns now, or just after prev if the clock has not moved past it, so a
// modification time always moves forward.
func later(now, prev time.Time) time.Time {
	if !now.After(prev) {
		return prev.Add(time.Millisecond)
	}
	return now
}

func scanPage[T any](ctx context.Context, s *Store, table, list string, page Page) ([]T, string, error) {
	start, err := s.decodeToken(list, page.Token)
	if err != nil {
		return nil, "", err
	}
	// The reserved item a scan may meet is left out; the page goes on past it, so
	// that it holds the limit's worth when there are that many.
	limit := int(page.limit())
	items := make([]T, 0, limit)
	for {
		out, err := s.db.Scan(ctx, &dynamodb.ScanInput{
			TableName:         aws.String(table),
			Limit:             aws.Int32(int32(limit - len(items))),
			ExclusiveStartKey: start,
			ConsistentRead:    aws.Bool(true),
		})
		if err != nil {
			return nil, "", fmt.Errorf("scan %s: %w", table, err)
		}
		if items, err = decodeItems(items, withoutReserved(out.Items)); err != nil {
			return nil, "", err
		}
		start = out.LastEvaluatedKey
		if len(start) == 0 || len(items) >= limit {
			break
		}
	}
	next, err := s.encodeToken(list, start)
	return items, next, err
}

// queryPage reads one page of a query (its limit and start from page, its token
// bound to list), decoding each item as a T; what names the query in its error.
func queryPage[T any](ctx context.Context, s *Store, in *dynamodb.QueryInput, list string, page Page, what string) ([]T, string, error) {
	start, err := s.decodeToken(list, page.Token)
	if err != nil {
		return nil, "", err
	}
	in.Limit = aws.Int32(page.limit())
	in.ExclusiveStartKey = start
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", what, err)
	}
	items, err := decodeItems(make([]T, 0, len(out.Items)), out.Items)
	if err != nil {
		return nil, "", err
	}
	next, err := s.encodeToken(list, out.LastEvaluatedKey)
	return items, next, err
}

// queryAll reads every page of a query, decoding each item as a T; what names the
// query in its error.
func queryAll[T any](ctx context.Context, s *Store, in *dynamodb.QueryInput, what string) ([]T, error) {
	var items []T
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", what, err)
		}
		if items, err = decodeItems(items, out.Items); err != nil {
			return nil, err
		}
	}
	return items, nil
}

func scanAll[T any](ctx context.Context, s *Store, table string) ([]T, error) {
	var items []T
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", table, err)
		}
		if items, err = decodeItems(items, withoutReserved(out.Items)); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// withoutReserved leaves out the definitions tables' reserved items (the
// generation's); in other tables no key starts with '~' either.
func withoutReserved(items []map[string]types.AttributeValue) []map[string]types.AttributeValue {
	out := items[:0:0]
	for _, it := range items {
		if !isReserved(it, "workerType") && !isReserved(it, "workerPoolId") {
			out = append(out, it)
		}
	}
	return out
}
