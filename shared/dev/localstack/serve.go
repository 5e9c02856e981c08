package localstack

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/dev/iamguard"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
	"github.com/workerfleet/workerfleet/shared/store"
)

// FunctionApps builds one app per function of the template, as each runs in its
// own Lambda: the same configuration and options, and db guarded by that
// function's policies (iamguard), so a DynamoDB call its role is not granted fails
// here as it would deployed.
func FunctionApps(ctx context.Context, t *samtemplate.Template, cfg app.Config, db store.DB, opts ...app.Option) (map[string]*app.App, error) {
	ids := make([]string, 0, len(t.Functions))
	for id := range t.Functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	names := cfg.Tables.ByLogicalID()
	apps := make(map[string]*app.App, len(ids))
	for _, id := range ids {
		a, err := app.New(ctx, cfg, append(opts[:len(opts):len(opts)], app.WithDB(iamguard.Wrap(db, t.Functions[id], names)))...)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", id, err)
		}
		apps[id] = a
	}
	return apps, nil
}

// APIGateway serves the HTTP functions, each from its own app (FunctionApps), as
// API Gateway would, on the template's routes.
func APIGateway(apps map[string]*app.App, t *samtemplate.Template, log *slog.Logger) (*Gateway, error) {
	fns := map[string]HTTPFunction{}
	for id, f := range t.Functions {
		if len(f.Routes) == 0 {
			continue
		}
		a := apps[id]
		if a == nil {
			return nil, fmt.Errorf("no app for function %s", id)
		}
		h, err := a.Handler(id)
		if err != nil {
			return nil, err
		}
		serve, ok := h.(app.HTTPHandler)
		if !ok {
			return nil, fmt.Errorf("function %s has routes, but its handler is not an HTTP one", id)
		}
		fns[id] = serve
	}
	return NewGateway(t, fns, log)
}
