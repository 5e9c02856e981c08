package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"

	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcauth"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/store"
)

// CreateClient adds an API client with its own scopes and returns its access token,
// which is shown only now: the table keeps it sealed.
func (a *App) CreateClient(ctx context.Context, clientID, description string, scopes []string, expires time.Time) (string, error) {
	if clientID == a.Config.RootClientID {
		return "", fmt.Errorf("client id %q is the root client's", clientID)
	}
	return CreateClient(ctx, a.Store, a.Sealer, clientID, description, scopes, expires)
}

// CreateClient adds an API client to a clients table, its access token sealed.
func CreateClient(ctx context.Context, st *store.Store, sealer *auth.Sealer, clientID, description string, scopes []string, expires time.Time) (string, error) {
	if !auth.ValidClientID(clientID) {
		// A longer id could never authenticate: requests naming one are refused.
		return "", fmt.Errorf("client id %q is not allowed (1 to %d of A-Z a-z 0-9 ! @ / : . + | _ -)", clientID, auth.MaxClientIDLength)
	}
	for _, s := range scopes {
		if !auth.ValidScope(s) {
			return "", fmt.Errorf("scope %q is not printable ASCII", s)
		}
	}
	token, err := auth.NewAccessToken()
	if err != nil {
		return "", err
	}
	sealed, err := sealer.Seal(clientID, token)
	if err != nil {
		return "", err
	}
	if _, err := st.CreateClient(ctx, store.Client{ClientID: clientID, SealedAccessToken: sealed, Scopes: scopes,
		Description: description, Expires: expires}); err != nil {
		return "", fmt.Errorf("create client %s: %w", clientID, err)
	}
	return token, nil
}

// TaskclusterClientScopes are the scopes the Taskcluster client needs in Taskcluster
// mode: to name worker credentials (auth:create-client), to grant what
// registerWorker and getSecret grant, and to mail emailOnError errors. The scopes
// worker types give their instances (their scopes fields) come on top.
var TaskclusterClientScopes = []string{
	"auth:create-client:worker/*",
	"auth:create-client:aws-provisioner/*",
	"assume:worker-type:*",
	"assume:worker-pool:*",
	"assume:worker-id:*",
	"queue:worker-id:*",
	"queue:claim-work:*",
	"secrets:get:worker-type:*",
	"secrets:get:worker-pool:*",
	"worker-manager:remove-worker:*",
	"worker-manager:reregister-worker:*",
	"worker-manager:should-worker-terminate:*",
	"notify:email:*",
}

// CheckTaskclusterClient asks the deployment's auth service for the Taskcluster
// client's scopes (auth.currentScopes) and returns those of TaskclusterClientScopes
// it lacks. Standalone, it returns nothing.
func (a *App) CheckTaskclusterClient(ctx context.Context) ([]string, error) {
	if !a.Config.TaskclusterMode() {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := tcauth.New(a.TaskclusterCredentials(), a.Config.TaskclusterRootURL)
	c.Context = ctx
	type result struct {
		scopes *tcauth.SetOfScopes
		err    error
	}
	done := make(chan result, 1)
	go func() { s, err := c.CurrentScopes(); done <- result{s, err} }()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("ask %s for the scopes of %s: %w", a.Config.TaskclusterRootURL, a.Config.TaskclusterClientID, ctx.Err())
	}
	if r.err != nil {
		var apiErr *tcclient.APICallException
		if errors.As(r.err, &apiErr) && apiErr.CallSummary != nil && apiErr.CallSummary.HTTPResponse != nil {
			return nil, fmt.Errorf("ask %s for the scopes of %s: answered %s (are TASKCLUSTER_CLIENT_ID and its access token right?)",
				a.Config.TaskclusterRootURL, a.Config.TaskclusterClientID, apiErr.CallSummary.HTTPResponse.Status)
		}
		return nil, fmt.Errorf("ask %s for the scopes of %s: the auth service could not be reached", a.Config.TaskclusterRootURL, a.Config.TaskclusterClientID)
	}
	var missing []string
	for _, s := range TaskclusterClientScopes {
		if !auth.Satisfies(r.scopes.Scopes, s) {
			missing = append(missing, s)
		}
	}
	return missing, nil
}

// LogTaskclusterClientCheck logs what CheckTaskclusterClient finds, as an error when
// the client lacks scopes: workers would get credentials the deployment refuses.
func (a *App) LogTaskclusterClientCheck(ctx context.Context) {
	missing, err := a.CheckTaskclusterClient(ctx)
	switch {
	case err != nil:
		a.Log.WarnContext(ctx, "cannot check the Taskcluster client's scopes", "error", err.Error())
	case len(missing) > 0:
		a.Log.ErrorContext(ctx, "the Taskcluster client lacks scopes: the deployment will refuse the credentials workers get, or the mails of emailOnError",
			"clientId", a.Config.TaskclusterClientID, "missing", missing)
	}
}
