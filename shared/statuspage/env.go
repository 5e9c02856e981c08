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

// FromEnv is a deployment's page: the status table STATUS_TABLE names (and the
// workers' live index and the errors of WORKERS_TABLE and ERRORS_TABLE, for the
// instances and errors), through the default AWS configuration, or DynamoDB Local's
// at DYNAMODB_ENDPOINT under DYNAMODB_ACCESS_KEY_ID. It needs no secret: the page
// reads only figures the APIs show anyone.
func FromEnv(ctx context.Context) (*Page, error) {
	tables := store.Tables{Status: os.Getenv("STATUS_TABLE"), Workers: os.Getenv("WORKERS_TABLE"), Errors: os.Getenv("ERRORS_TABLE")}
	for name, v := range map[string]string{"STATUS_TABLE": tables.Status, "WORKERS_TABLE": tables.Workers, "ERRORS_TABLE": tables.Errors} {
		if v == "" {
			return nil, errors.New("status page: " + name + " is not set")
		}
	}
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" { // DynamoDB Local: its tables live under an access key id
		key := os.Getenv("DYNAMODB_ACCESS_KEY_ID")
		if key == "" {
			key = "local"
		}
		db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep),
			Credentials: credentials.NewStaticCredentialsProvider(key, "unchecked", "")})
		return &Page{Store: store.New(db, tables, nil)}, nil
	}
	cfg, err := telemetry.AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &Page{Store: store.New(dynamodb.NewFromConfig(cfg), tables, nil)}, nil
}
