// Command provisioner is the ProvisionerFunction: one provisioning iteration per
// scheduled invocation (more while demand moves); with reaction on, one per
// invocation, scheduled or from the reaction function, answering a
// reaction.Result.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/workerfleet/workerfleet/shared/app"
	_ "github.com/workerfleet/workerfleet/shared/cloud/ec2" // the driver it launches with
)

func main() {
	lambda.Start(app.MustLoad().MustHandler("ProvisionerFunction"))
}
