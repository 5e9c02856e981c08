// Command aws-provisioner-api is the AwsProvisionerApiFunction: the aws-provisioner
// v1 API's worker types, their state, summaries and launch specs, and the backend
// status, behind API Gateway; and, as the $default route, the JSON 404 or 405 for
// every request no route matches.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/awsprovisioner"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2/exists"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2/launchspec"
)

func main() {
	checks := app.WithResourceChecks(func(cfg aws.Config, endpoint string) awsprovisioner.ResourceChecker { return exists.New(cfg, endpoint) })
	a := app.MustLoad(app.WithLaunchSpecValidator(launchspec.Validate), checks)
	lambda.Start(a.MustHandler("AwsProvisionerApiFunction"))
}
