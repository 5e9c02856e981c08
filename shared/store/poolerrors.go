package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DefaultErrorRetention is how long a pool error stays listed unless the
// deployment says otherwise (ErrorRetentionDays).
const DefaultErrorRetention = 7 * 24 * time.Hour

// PoolError is an error recorded against a worker pool (or a worker type): reported by
// a worker through the API, or by a provider while provisioning.
type PoolError struct {
	Pool        string          `dynamodbav:"pool"`
	SortKey     string          `dynamodbav:"error"` // reported time (fixed width) + "#" + errorId: listings run newest first
	ErrorID     string          `dynamodbav:"errorId"`
	Kind        string          `dynamodbav:"kind"`
	Title       string          `dynamodbav:"title"`
	Description string          `dynamodbav:"description"`
	Extra       json.RawMessage `dynamodbav:"extra"`
	// LaunchConfigID is the launch config the error concerns, if any.
	LaunchConfigID string    `dynamodbav:"launchConfigId,omitempty"`
	Reported       time.Time `dynamodbav:"reported"`
	TTL            int64     `dynamodbav:"ttl"`
}

// sortableTime formats times so that string order is time order.
const sortableTime = "2006-01-02T15:04:05.000000000Z"

// AddError records an error for a pool, kept for retention. Reported defaults to now.
func (s *Store) AddError(ctx context.Context, e PoolError, retention time.Duration) (PoolError, error) {
	if e.Reported.IsZero() {
		e.Reported = s.Now()
	}
	if len(e.Extra) == 0 {
		e.Extra = json.RawMessage("{}")
	}
	e.SortKey = e.Reported.UTC().Format(sortableTime) + "#" + e.ErrorID
	e.TTL = ttlOf(e.Reported.Add(retention))
	item, err := marshal(&e)
	if err != nil {
		return PoolError{}, err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.tables.Errors), Item: item}); err != nil {
		return PoolError{}, fmt.Errorf("add pool error: %w", err)
	}
	return e, nil
}

// ListErrors returns one page of a pool's unexpired errors, newest first.
func (s *Store) ListErrors(ctx context.Context, pool string, page Page) ([]PoolError, string, error) {
	return s.ListErrorsWhere(ctx, pool, ErrorFilter{}, page)
}

// ErrorFilter narrows a listing of errors; its zero value lets every one through.
type ErrorFilter struct {
	ErrorID, LaunchConfigID string
}

// ListErrorsWhere is ListErrors of the errors f lets through (a page may hold
// fewer than the limit while more follow).
func (s *Store) ListErrorsWhere(ctx context.Context, pool string, f ErrorFilter, page Page) ([]PoolError, string, error) {
	filter, names, values := notExpired(s.Now())
	names["#p"] = attrPool
	values[":p"] = str(pool)
	if f.ErrorID != "" {
		filter = "(" + filter + ") AND #eid = :eid"
		names["#eid"], values[":eid"] = "errorId", str(f.ErrorID)
	}
	if f.LaunchConfigID != "" {
		filter = "(" + filter + ") AND #lc = :lc"
		names["#lc"], values[":lc"] = "launchConfigId", str(f.LaunchConfigID)
	}
	return queryPage[PoolError](ctx, s, &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.Errors),
		KeyConditionExpression:    aws.String("#p = :p"),
		FilterExpression:          aws.String(filter),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ScanIndexForward:          aws.Bool(false),
	}, "errors:"+pool+":"+f.ErrorID+":"+f.LaunchConfigID, page, "pool errors")
}

// PoolErrors returns every unexpired error of a pool ("" for every pool's: a scan
// of the errors table, which holds only ErrorRetention's worth).
func (s *Store) PoolErrors(ctx context.Context, pool string) ([]PoolError, error) {
	var es []PoolError
	var err error
	if pool == "" {
		es, err = scanAll[PoolError](ctx, s, s.tables.Errors)
	} else {
		filter, names, values := notExpired(s.Now())
		names["#p"] = attrPool
		values[":p"] = str(pool)
		es, err = queryAll[PoolError](ctx, s, &dynamodb.QueryInput{
			TableName:                 aws.String(s.tables.Errors),
			KeyConditionExpression:    aws.String("#p = :p"),
			FilterExpression:          aws.String(filter),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		}, "errors of "+pool)
	}
	if err != nil {
		return nil, err
	}
	now := s.Now().Unix()
	out := es[:0]
	for _, e := range es {
		if e.TTL == 0 || e.TTL > now {
			out = append(out, e)
		}
	}
	return out, nil
}
