package reaction

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// FunctionFromEnv builds the ReactionFunction from its environment (ConfigFromEnv)
// and the AWS clients it calls: Lambda (the provisioner), SQS (the signal queue),
// Secrets Manager (the Pulse credentials).
//
// Its AWS calls are not traced (not telemetry.AWSConfig): X-Ray's instrumentation
// would pass this minute's trace on to every provisioner invocation, making each
// invocation of this function one trace of up to 60 iterations (past X-Ray's trace
// size); each iteration is its own trace instead (docs/provisioning.md#reaction
// counts them).
func FunctionFromEnv(ctx context.Context, log *slog.Logger) (*Function, error) {
	cfg, err := ConfigFromEnv()
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration: %w", err)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	return &Function{
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
	}, nil
}
