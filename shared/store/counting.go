package store

import (
	"context"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// CountingDB wraps a DB and counts its requests by operation, for benchmarks and for
// the local stack's per-iteration figures.
type CountingDB struct {
	DB
	mu     sync.Mutex
	counts map[string]int
}

// NewCountingDB wraps db.
func NewCountingDB(db DB) *CountingDB { return &CountingDB{DB: db, counts: map[string]int{}} }

func (c *CountingDB) count(op string) {
	c.mu.Lock()
	c.counts[op]++
	c.mu.Unlock()
}

// Counts returns the requests made since the last Reset, by operation.
func (c *CountingDB) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

// Total returns the number of requests since the last Reset.
func (c *CountingDB) Total() int {
	n := 0
	for _, v := range c.Counts() {
		n += v
	}
	return n
}

// Ops returns the operations counted, sorted.
func (c *CountingDB) Ops() []string {
	counts := c.Counts()
	ops := make([]string, 0, len(counts))
	for op := range counts {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// Reset zeroes the counts.
func (c *CountingDB) Reset() {
	c.mu.Lock()
	c.counts = map[string]int{}
	c.mu.Unlock()
}

// GetItem counts and forwards.
func (c *CountingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.count("GetItem")
	return c.DB.GetItem(ctx, in, opts...)
}

// PutItem counts and forwards.
func (c *CountingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.count("PutItem")
	return c.DB.PutItem(ctx, in, opts...)
}

// UpdateItem counts and forwards.
func (c *CountingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.count("UpdateItem")
	return c.DB.UpdateItem(ctx, in, opts...)
}

// DeleteItem counts and forwards.
func (c *CountingDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.count("DeleteItem")
	return c.DB.DeleteItem(ctx, in, opts...)
}

// Query counts and forwards.
func (c *CountingDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.count("Query")
	return c.DB.Query(ctx, in, opts...)
}

// Scan counts and forwards.
func (c *CountingDB) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	c.count("Scan")
	return c.DB.Scan(ctx, in, opts...)
}

// BatchWriteItem counts and forwards.
func (c *CountingDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.count("BatchWriteItem")
	return c.DB.BatchWriteItem(ctx, in, opts...)
}
