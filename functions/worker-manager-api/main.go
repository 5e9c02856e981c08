// Command worker-manager-api is the WorkerManagerApiFunction: the worker-manager v1
// API's providers, worker pools, workers and errors.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2" // the driver: removeWorker terminates instances
)

func main() {
	lambda.Start(app.MustLoad(app.WithLaunchSpecValidator(ec2.ValidateLaunchSpec)).WorkerManager().API().Serve)
}
