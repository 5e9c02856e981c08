package memdb_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/workerfleet/workerfleet/shared/dev/memdb"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func put(id string) types.WriteRequest {
	return types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"id": s(id)}}}
}

// TestBatchWriteItemIsCheckedWhole: a batch DynamoDB refuses (too many requests, a
// request without its key, a key twice) writes nothing; a good one writes all.
func TestBatchWriteItemIsCheckedWhole(t *testing.T) {
	ctx := context.Background()
	db := memdb.New()
	names, err := db.CreateTables(map[string]*samtemplate.Table{"T": {HashKey: "id", Attributes: map[string]string{"id": "S"}}},
		func(id string) string { return id })
	if err != nil {
		t.Fatal(err)
	}
	table := names["T"]
	count := func() int {
		out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Items)
	}
	var many []types.WriteRequest
	for i := range 26 {
		many = append(many, put(fmt.Sprint(i)))
	}
	noKey := types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{"other": s("x")}}}
	for _, tc := range []struct {
		name string
		reqs []types.WriteRequest
	}{
		{"26 requests", many},
		{"a put without its key, after good ones", []types.WriteRequest{put("a"), put("b"), noKey}},
		{"the same key twice", []types.WriteRequest{put("a"), {DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{"id": s("a")}}}}},
		{"a request with neither put nor delete", []types.WriteRequest{put("a"), {}}},
	} {
		_, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: tc.reqs}})
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if n := count(); n != 0 {
			t.Errorf("%s: refused, but %d items were written", tc.name, n)
		}
	}
	if _, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: many[:25]}}); err != nil {
		t.Fatalf("25 puts: %v", err)
	}
	del := types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{"id": s("0")}}}
	if _, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: {del, put("new")}}}); err != nil {
		t.Fatalf("a delete and a put: %v", err)
	}
	if n := count(); n != 25 {
		t.Errorf("after 25 puts, a delete and a put: %d items, want 25", n)
	}
}
