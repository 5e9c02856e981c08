package iamguard_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/workerfleet/workerfleet/shared/dev/iamguard"
	"github.com/workerfleet/workerfleet/shared/dev/memdb"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

const policies = `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt ItemsTable.Arn
            - Effect: Allow
              Action: [dynamodb:Query]
              Resource: !Sub "${ItemsTable.Arn}/index/byOwner"
            - Effect: Allow
              Action: dynamodb:BatchWriteItem
              Resource: [!GetAtt LogTable.Arn]
            - Effect: Allow
              Action: [sqs:SendMessage]
              Resource: "*"
  ItemsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
        - {AttributeName: owner, AttributeType: S}
      KeySchema:
        - {AttributeName: id, KeyType: HASH}
      GlobalSecondaryIndexes:
        - IndexName: byOwner
          KeySchema:
            - {AttributeName: owner, KeyType: HASH}
          Projection: {ProjectionType: ALL}
  LogTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - {AttributeName: id, AttributeType: S}
      KeySchema:
        - {AttributeName: id, KeyType: HASH}
`

func TestOnlyGrantedCallsPass(t *testing.T) {
	tmpl, err := samtemplate.Parse([]byte(policies))
	if err != nil {
		t.Fatal(err)
	}
	db := memdb.New()
	names, err := db.CreateTables(tmpl.Tables, func(id string) string { return "t_" + id })
	if err != nil {
		t.Fatal(err)
	}
	g := iamguard.Wrap(db, tmpl.Functions["Fn"], names)
	ctx := context.Background()
	items, log := aws.String(names["ItemsTable"]), aws.String(names["LogTable"])
	item := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "a"}, "owner": &types.AttributeValueMemberS{Value: "me"}}
	key := map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: "a"}}
	byOwner := func(index *string) error {
		_, err := g.Query(ctx, &dynamodb.QueryInput{TableName: items, IndexName: index, KeyConditionExpression: aws.String("#o = :o"),
			ExpressionAttributeNames: map[string]string{"#o": "owner"}, ExpressionAttributeValues: map[string]types.AttributeValue{":o": item["owner"]}})
		return err
	}
	batch := func(table *string) error {
		_, err := g.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{
			*table: {{PutRequest: &types.PutRequest{Item: item}}}}})
		return err
	}
	for _, tc := range []struct {
		name   string
		call   func() error
		denied string // the action and resource the denial names; "" = allowed
	}{
		{"PutItem on the table", func() error {
			_, err := g.PutItem(ctx, &dynamodb.PutItemInput{TableName: items, Item: item})
			return err
		}, ""},
		{"GetItem on the table", func() error { _, err := g.GetItem(ctx, &dynamodb.GetItemInput{TableName: items, Key: key}); return err }, ""},
		{"Query of the granted index", func() error { return byOwner(aws.String("byOwner")) }, ""},
		{"BatchWriteItem on the granted table", func() error { return batch(log) }, ""},
		{"UpdateItem, not granted", func() error {
			_, err := g.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: items, Key: key, UpdateExpression: aws.String("SET #o = :o"),
				ExpressionAttributeNames: map[string]string{"#o": "owner"}, ExpressionAttributeValues: map[string]types.AttributeValue{":o": item["owner"]}})
			return err
		}, "dynamodb:UpdateItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/t_ItemsTable "},
		{"DeleteItem, not granted", func() error {
			_, err := g.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: items, Key: key})
			return err
		},
			"dynamodb:DeleteItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/t_ItemsTable "},
		{"Query of the table: the index's grant does not cover it", func() error {
			_, err := g.Query(ctx, &dynamodb.QueryInput{TableName: items, KeyConditionExpression: aws.String("id = :i"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":i": key["id"]}})
			return err
		}, "dynamodb:Query on resource: arn:aws:dynamodb:us-east-1:123456789012:table/t_ItemsTable "},
		{"Scan, not granted", func() error { _, err := g.Scan(ctx, &dynamodb.ScanInput{TableName: log}); return err },
			"dynamodb:Scan on resource: arn:aws:dynamodb:us-east-1:123456789012:table/t_LogTable "},
		{"GetItem on another table", func() error { _, err := g.GetItem(ctx, &dynamodb.GetItemInput{TableName: log, Key: key}); return err },
			"dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/t_LogTable "},
		{"BatchWriteItem on the table granted only single writes", func() error { return batch(items) },
			"dynamodb:BatchWriteItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/t_ItemsTable "},
		{"a table the template does not define", func() error {
			_, err := g.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("elsewhere"), Key: key})
			return err
		}, "dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/elsewhere "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.denied == "" {
				if err != nil {
					t.Fatalf("allowed call failed: %v", err)
				}
				return
			}
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "AccessDeniedException" {
				t.Fatalf("error = %v, want AccessDeniedException", err)
			}
			if !strings.Contains(api.ErrorMessage(), "assumed-role/FnRole/Fn is not authorized to perform: "+tc.denied) {
				t.Errorf("message %q does not name the role, %q", api.ErrorMessage(), tc.denied)
			}
		})
	}
	// Nothing denied reached the table: the one item is the PutItem's, unchanged.
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: items})
	if err != nil || len(out.Items) != 1 {
		t.Fatalf("items table: %d items, %v; want the 1 put", len(out.Items), err)
	}
}

func TestUnreadableGrantResourceIsAnError(t *testing.T) {
	bad := strings.Replace(policies, "Resource: !GetAtt ItemsTable.Arn", `Resource: "arn:aws:dynamodb:*:*:table/*"`, 1)
	if _, err := samtemplate.Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "neither !GetAtt Table.Arn") {
		t.Errorf("Parse of a grant on a literal ARN: %v; want an error naming the forms it reads", err)
	}
}
