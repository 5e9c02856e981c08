// Command secrets-api is the SecretsApiFunction: the aws-provisioner v1 API's
// secrets (createSecret, getSecret, removeSecret) and instanceStarted.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/workerfleet/workerfleet/shared/app"
)

func main() {
	lambda.Start(app.MustLoad().MustHandler("SecretsApiFunction"))
}
