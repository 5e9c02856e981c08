// Command provisioner is the ProvisionerFunction: one provisioning iteration per
// scheduled invocation.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/workerfleet/workerfleet/shared/app"
	_ "github.com/workerfleet/workerfleet/shared/cloud/ec2" // the driver it launches with
)

func main() {
	a := app.MustLoad()
	a.LogTaskclusterClientCheck(context.Background()) // once per cold start, in Taskcluster mode
	p, err := a.Provisioner(os.Stdout)
	if err != nil {
		slog.Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(p.HandleEvent)
}
