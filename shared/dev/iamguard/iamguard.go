// Package iamguard holds a function's DynamoDB calls to what its policies in
// template.yaml allow, as IAM does in a deployment: a call the function's role is
// not granted fails with AccessDeniedException. The local stack gives each function
// its own guarded client, so `make run` and the tests on it fail where a deployed
// function would be denied, instead of passing on an all-powerful local client.
//
// It checks actions on tables and their indexes, the part of IAM the template's
// DynamoDB statements use; conditions, other services and resource policies are
// not modelled.
package iamguard

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"

	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
	"github.com/workerfleet/workerfleet/shared/store"
)

// DB is a store.DB that lets through only what Function's policies allow.
type DB struct {
	store.DB
	Function *samtemplate.Function
	// LogicalIDs maps table names to their logical ids in the template.
	LogicalIDs map[string]string
}

// Wrap guards db for the function fn, whose tables are named by names (logical id
// -> table name, as dynamolocal.CreateTables returns).
func Wrap(db store.DB, fn *samtemplate.Function, names map[string]string) *DB {
	ids := make(map[string]string, len(names))
	for id, name := range names {
		ids[name] = id
	}
	return &DB{DB: db, Function: fn, LogicalIDs: ids}
}

// check returns the error IAM would for action on a table (or its index).
func (g *DB) check(action string, table *string, index *string) error {
	name := aws.ToString(table)
	id, ok := g.LogicalIDs[name]
	if ok && g.Function.AllowsDynamoDB(action, id, aws.ToString(index)) {
		return nil
	}
	resource := "arn:aws:dynamodb:us-east-1:123456789012:table/" + name
	if i := aws.ToString(index); i != "" {
		resource += "/index/" + i
	}
	return &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient, Message: fmt.Sprintf(
		"User: arn:aws:sts::123456789012:assumed-role/%sRole/%s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
		g.Function.LogicalID, g.Function.LogicalID, action, resource, action)}
}

// forward makes the call if the check (err) passed.
func forward[T any](err error, call func() (T, error)) (T, error) {
	if err != nil {
		var zero T
		return zero, err
	}
	return call()
}

// GetItem is checked against the table, then forwarded.
func (g *DB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return forward(g.check("dynamodb:GetItem", in.TableName, nil), func() (*dynamodb.GetItemOutput, error) { return g.DB.GetItem(ctx, in, opts...) })
}

// PutItem is checked against the table, then forwarded.
func (g *DB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return forward(g.check("dynamodb:PutItem", in.TableName, nil), func() (*dynamodb.PutItemOutput, error) { return g.DB.PutItem(ctx, in, opts...) })
}

// UpdateItem is checked against the table, then forwarded.
func (g *DB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return forward(g.check("dynamodb:UpdateItem", in.TableName, nil), func() (*dynamodb.UpdateItemOutput, error) { return g.DB.UpdateItem(ctx, in, opts...) })
}

// DeleteItem is checked against the table, then forwarded.
func (g *DB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return forward(g.check("dynamodb:DeleteItem", in.TableName, nil), func() (*dynamodb.DeleteItemOutput, error) { return g.DB.DeleteItem(ctx, in, opts...) })
}

// Query is checked against the table, or the index it reads, then forwarded.
func (g *DB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return forward(g.check("dynamodb:Query", in.TableName, in.IndexName), func() (*dynamodb.QueryOutput, error) { return g.DB.Query(ctx, in, opts...) })
}

// Scan is checked against the table, or the index it reads, then forwarded.
func (g *DB) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return forward(g.check("dynamodb:Scan", in.TableName, in.IndexName), func() (*dynamodb.ScanOutput, error) { return g.DB.Scan(ctx, in, opts...) })
}

// BatchWriteItem is checked against every table it writes, then forwarded.
func (g *DB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	tables := make([]string, 0, len(in.RequestItems))
	for t := range in.RequestItems {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		if err := g.check("dynamodb:BatchWriteItem", aws.String(t), nil); err != nil {
			return nil, err
		}
	}
	return g.DB.BatchWriteItem(ctx, in, opts...)
}
