package statuspage

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/workerfleet/workerfleet/shared/store"
	"github.com/workerfleet/workerfleet/shared/telemetry"
)

// FromEnv is a deployment's page: the status table STATUS_TABLE names, through the
// default AWS configuration, or DynamoDB Local's at DYNAMODB_ENDPOINT under
// DYNAMODB_ACCESS_KEY_ID. It needs no
// secret: the page reads only the provisioner's figures.
func FromEnv(ctx context.Context) (*Page, error) {
	table := os.Getenv("STATUS_TABLE")
	if table == "" {
		return nil, errors.New("status page: STATUS_TABLE is not set")
	}
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" { // DynamoDB Local: its tables live under an access key id
		key := os.Getenv("DYNAMODB_ACCESS_KEY_ID")
		if key == "" {
			key = "local"
		}
		db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep),
			Credentials: credentials.NewStaticCredentialsProvider(key, "unchecked", "")})
		return &Page{Store: store.New(db, store.Tables{Status: table}, nil)}, nil
	}
	cfg, err := telemetry.AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &Page{Store: store.New(dynamodb.NewFromConfig(cfg), store.Tables{Status: table}, nil)}, nil
}
