package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The changes index: every worker record carries the time of its last write
// (ChangedAt) under one of ChangeShards partition keys (ChangeShard), so the
// provisioner reads what changed since its last iteration with ChangeShards
// Queries, however many pools and workers there are. Spreading the records over
// shards keeps any one partition of the index below DynamoDB's write limit
// (1,000 writes a second) when many pools launch at once. Items that are not
// worker records (the pools' workerConfigs) carry no shard, so the index holds
// none of them.
const (
	changesIndex    = "changes"
	attrChangeShard = "chgShard"
	attrChangedAt   = "chgAt"
	// ChangeShards is how many partitions the changes index spreads records over.
	ChangeShards = 16
)

// changeShard is the shard of a worker record, from its key.
func changeShard(pool, key string) string {
	h := fnv.New32a()
	h.Write([]byte(pool))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return strconv.Itoa(int(h.Sum32() % ChangeShards))
}

// markChanged records a write of the record at now in the changes index.
func (w *Worker) markChanged(now time.Time) {
	w.ChangeShard = changeShard(w.Pool, w.Key)
	w.ChangedAt = now.UnixMilli()
}

// ChangedWorkers returns the worker records of every pool written at or after
// since (by the writers' clocks), stopped and expired ones included, each holding
// only the provisioner's attributes (Worker.Partial). The index is eventually
// consistent and writers' clocks differ a little: callers ask from a little before
// their last read, and take a record only if its Version is newer than the one
// they hold.
func (s *Store) ChangedWorkers(ctx context.Context, since time.Time) ([]Worker, error) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		all  []Worker
		errs = make([]error, ChangeShards)
	)
	for shard := range ChangeShards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, err := queryPartialWorkers(ctx, s, &dynamodb.QueryInput{
				TableName:                aws.String(s.tables.Workers),
				IndexName:                aws.String(changesIndex),
				KeyConditionExpression:   aws.String("#s = :s AND #at >= :since"),
				ExpressionAttributeNames: map[string]string{"#s": attrChangeShard, "#at": attrChangedAt},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":s": str(strconv.Itoa(shard)), ":since": num(since.UnixMilli()),
				},
			}, fmt.Sprintf("changed workers (shard %d)", shard))
			errs[shard] = err
			mu.Lock()
			all = append(all, ws...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return all, nil
}

// queryPartialWorkers reads every page of a query of worker records, decoding the
// provisioner's attributes of each.
func queryPartialWorkers(ctx context.Context, s *Store, in *dynamodb.QueryInput, what string) ([]Worker, error) {
	var out []Worker
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", what, err)
		}
		if out == nil {
			out = make([]Worker, 0, len(page.Items))
		}
		for _, item := range page.Items {
			w, err := decodePartialWorker(item)
			if err != nil {
				return nil, err
			}
			out = append(out, w)
		}
	}
	return out, nil
}
