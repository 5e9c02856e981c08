package statuspage

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/workerfleet/workerfleet/shared/store"
	"github.com/workerfleet/workerfleet/shared/telemetry"
)

// FromEnv is a deployment's page: the status table STATUS_TABLE names, through the
// default AWS configuration (DYNAMODB_ENDPOINT overrides the endpoint). It needs no
// secret: the page reads only the provisioner's figures.
func FromEnv(ctx context.Context) (*Page, error) {
	table := os.Getenv("STATUS_TABLE")
	if table == "" {
		return nil, errors.New("status page: STATUS_TABLE is not set")
	}
	cfg, err := telemetry.AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
	return &Page{Store: store.New(db, store.Tables{Status: table}, nil)}, nil
}
