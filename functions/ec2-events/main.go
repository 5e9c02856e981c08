// Command ec2-events is the Ec2EventsFunction: EC2 state changes, spot interruption
// warnings and rebalance recommendations, applied to the worker records. It reads no
// secrets (its role has no access to them).
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/workerfleet/workerfleet/shared/app"
)

func main() {
	lambda.Start(app.MustLoadWithoutSecrets().MustHandler("Ec2EventsFunction"))
}
