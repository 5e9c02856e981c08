// Command aws-provisioner-api is the AwsProvisionerApiFunction: the aws-provisioner
// v1 API's worker types, their state, summaries and launch specs, and the backend
// status, behind API Gateway; and, as the $default route, the JSON 404 or 405 for
// every request no route matches.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2/launchspec"
)

func main() {
	a := app.MustLoad(app.WithLaunchSpecValidator(launchspec.Validate))
	lambda.Start(a.HTTPFunctions()[app.DefaultRouteFunction].Serve)
}
