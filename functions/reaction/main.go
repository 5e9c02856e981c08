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

	"github.com/workerfleet/workerfleet/shared/reaction"
	"github.com/workerfleet/workerfleet/shared/telemetry"
)

func main() {
	log := telemetry.Setup()
	slog.SetDefault(log)
	f, err := reaction.FunctionFromEnv(context.Background(), log)
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(f.Handle)
}
