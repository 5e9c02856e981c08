package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcauth"
)

// TaskclusterAuth checks credentials with a Taskcluster deployment's auth service
// (authenticateHawk), through the official client.
type TaskclusterAuth struct {
	RootURL string
	// Timeout bounds one check (default 5s).
	Timeout    time.Duration
	HTTPClient *http.Client
}

// AuthenticateHawk asks the auth service to check a request's Hawk credentials.
func (t *TaskclusterAuth) AuthenticateHawk(ctx context.Context, method, resource, host string, port int, authorization string) (Caller, error) {
	timeout := t.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := tcauth.New(nil, t.RootURL)
	c.Context = ctx
	if t.HTTPClient != nil {
		c.HTTPClient = t.HTTPClient
	}
	type result struct {
		raw *tcauth.HawkSignatureAuthenticationResponse
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := c.AuthenticateHawk(&tcauth.HawkSignatureAuthenticationRequest{
			Method: strings.ToLower(method), Resource: resource, Host: host, Port: int64(port), Authorization: authorization,
		})
		done <- result{raw, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return Caller{}, fmt.Errorf("taskcluster authenticateHawk: %w", ctx.Err())
	}
	if res.err != nil {
		return Caller{}, fmt.Errorf("taskcluster authenticateHawk: %s", strings.SplitN(res.err.Error(), "\n", 2)[0])
	}
	var out struct {
		Status   string        `json:"status"`
		Message  string        `json:"message"`
		ClientID string        `json:"clientId"`
		Scopes   []string      `json:"scopes"`
		Expires  tcclient.Time `json:"expires"`
	}
	if err := json.Unmarshal(*res.raw, &out); err != nil {
		return Caller{}, fmt.Errorf("taskcluster authenticateHawk: %w", err)
	}
	if out.Status != "auth-success" {
		return Caller{}, fail("%s (checked by %s)", out.Message, t.RootURL)
	}
	return Caller{ClientID: out.ClientID, Scopes: out.Scopes, Authenticated: true, Expires: time.Time(out.Expires)}, nil
}
