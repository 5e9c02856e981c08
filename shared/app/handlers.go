package app

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/events"

	"github.com/workerfleet/workerfleet/shared/reaction"
)

// HTTPHandler is the Lambda handler of a function API Gateway invokes.
type HTTPHandler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Handler is the Lambda handler of template.yaml's function id, built from this
// app: the one place that says which handler serves which function. The mains
// start it, the local stack serves it and make invoke calls it. The API functions'
// handlers are HTTPHandlers. Two functions are built without an app, to read no
// secrets and link nothing else: the status page (statuspage.FromEnv; here for
// the local stack) and the reaction function (shared/reaction), which has no
// entry here.
func (a *App) Handler(id string) (any, error) {
	switch id {
	case DefaultRouteFunction: // it answers every unrouted request, so it knows every API's routes
		return HTTPHandler(a.HTTPFunctions()[id].Serve), nil
	case "SecretsApiFunction":
		return HTTPHandler(a.AWSProvisioner().SecretsAPI().Serve), nil
	case "WorkerManagerApiFunction":
		return HTTPHandler(a.WorkerManager().API().Serve), nil
	case "RegistrationFunction":
		return HTTPHandler(a.WorkerManager().RegistrationAPI().Serve), nil
	case "StatusPageFunction":
		return HTTPHandler(a.StatusPage().Serve), nil
	case "Ec2EventsFunction":
		return a.EC2Events().HandleEvent, nil
	case "ProvisionerFunction":
		a.LogTaskclusterClientCheck(context.Background()) // once per cold start, in Taskcluster mode
		p, err := a.Provisioner(os.Stdout)
		if err != nil {
			return nil, err
		}
		if d, ok := p.Demand.(*reaction.Demand); ok {
			return reaction.Handler(p, d), nil // Reaction=on: one iteration per invocation
		}
		return p.HandleEvent, nil
	}
	return nil, fmt.Errorf("no function %s is built from the app", id)
}

// MustHandler is Handler for a main: a function that cannot be built logs why and
// exits.
func (a *App) MustHandler(id string) any {
	h, err := a.Handler(id)
	if err != nil {
		a.Log.Error("cannot start", "function", id, "error", err.Error())
		os.Exit(1)
	}
	return h
}
