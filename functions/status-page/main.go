// Command status-page is the StatusPageFunction: the fleet at a glance, a
// read-only page at the API's root URL (and its figures as JSON), behind API
// Gateway.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/workerfleet/workerfleet/shared/statuspage"
)

func main() {
	page, err := statuspage.FromEnv(context.Background())
	if err != nil {
		slog.Error("status page: configuration", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(page.Serve)
}
