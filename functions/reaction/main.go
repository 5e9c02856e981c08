// Command reaction is the ReactionFunction: it holds the deployment's Pulse
// subscription (and reads the signal queue SQS-demand pools' producers write to)
// and drives the provisioner's iterations, one within a second of a task becoming
// pending, invoking ProvisionerFunction for each (see shared/reaction). Its schedule starts one every minute; each listens a little
// over a minute.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/workerfleet/workerfleet/shared/reaction"
	"github.com/workerfleet/workerfleet/shared/telemetry"
)

func main() {
	log := telemetry.Setup()
	ctx := context.Background()
	cfg, err := reaction.ConfigFromEnv()
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	// Not telemetry.AWSConfig: its X-Ray instrumentation would pass this minute's
	// trace on to every provisioner invocation, making each invocation of this
	// function one trace of up to 60 iterations (past X-Ray's trace size); each
	// iteration is its own trace instead (docs/provisioning.md#reaction counts them).
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	f := &reaction.Function{
		Config: cfg,
		Lambda: awslambda.NewFromConfig(awsCfg),
		SQS:    sqs.NewFromConfig(awsCfg),
		Secret: func(ctx context.Context, id string) (string, error) {
			out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.SecretString), nil
		},
		Log: log,
	}
	slog.SetDefault(log)
	lambda.Start(f.Handle)
}
