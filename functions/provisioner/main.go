// Command provisioner is the ProvisionerFunction: one provisioning iteration per
// scheduled invocation (more while demand moves); with reaction on, one per
// invocation, scheduled or from the reaction function, answering a
// reaction.Result.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/workerfleet/workerfleet/shared/app"
	_ "github.com/workerfleet/workerfleet/shared/cloud/ec2" // the driver it launches with
	"github.com/workerfleet/workerfleet/shared/reaction"
)

func main() {
	a := app.MustLoad()
	a.LogTaskclusterClientCheck(context.Background()) // once per cold start, in Taskcluster mode
	p, err := a.Provisioner(os.Stdout)
	if err != nil {
		slog.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	if d, ok := p.Demand.(*reaction.Demand); ok {
		lambda.Start(reaction.Handler(p, d))
		return
	}
	lambda.Start(p.HandleEvent)
}
