// Command worker-manager-api is the WorkerManagerApiFunction: the worker-manager v1
// API's providers, worker pools, workers and errors.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/workerfleet/workerfleet/shared/app"
	_ "github.com/workerfleet/workerfleet/shared/cloud/ec2" // the driver: removeWorker terminates instances
	"github.com/workerfleet/workerfleet/shared/cloud/ec2/launchspec"
)

func main() {
	lambda.Start(app.MustLoad(app.WithLaunchSpecValidator(launchspec.Validate)).MustHandler("WorkerManagerApiFunction"))
}
