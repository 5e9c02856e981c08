// Command registration is the RegistrationFunction: worker-manager v1's
// registerWorker, where booting workers prove who they are and get credentials.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/workerfleet/workerfleet/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustHandler("RegistrationFunction"))
}
