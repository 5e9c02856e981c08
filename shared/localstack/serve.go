package localstack

import (
	"log/slog"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/template"
)

// APIGateway serves an app's HTTP functions as API Gateway would, on the template's
// routes.
func APIGateway(a *app.App, t *template.Template, log *slog.Logger) (*Gateway, error) {
	fns := map[string]HTTPFunction{}
	for id, api := range a.HTTPFunctions() {
		fns[id] = api.Serve
	}
	fns["StatusPageFunction"] = a.StatusPage().Serve
	return NewGateway(t, fns, log)
}
