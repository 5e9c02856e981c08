package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcauth"
)

// DefaultRemoteTimeout bounds one remote check by default.
const DefaultRemoteTimeout = 5 * time.Second

// TaskclusterAuth is a RemoteAuthenticator: a Taskcluster deployment's auth service
// (authenticateHawk, POST <RootURL>/api/auth/v1/authenticate-hawk), called through
// the official client.
type TaskclusterAuth struct {
	RootURL string
	// Timeout bounds one check, retries included (default DefaultRemoteTimeout).
	Timeout time.Duration
	// HTTPClient, if set, makes the calls.
	HTTPClient *http.Client
}

var _ RemoteAuthenticator = (*TaskclusterAuth)(nil)

// authResult is authenticateHawk's answer: {"status": "auth-success", "clientId",
// "scopes", "expires", "scheme", ["hash"]} or {"status": "auth-failed", "message"}.
type authResult struct {
	Status   string        `json:"status"`
	Message  string        `json:"message"`
	ClientID string        `json:"clientId"`
	Scopes   []string      `json:"scopes"`
	Expires  tcclient.Time `json:"expires"`
}

// AuthenticateHawk asks the auth service to check a request's Hawk credentials; the
// method is sent lower-case, as Taskcluster's services send it. A refusal is an
// *Error carrying the service's message; a service that cannot be reached in time
// or answers otherwise than the API says is another error. Errors never carry the
// authorization header.
func (t *TaskclusterAuth) AuthenticateHawk(ctx context.Context, method, resource, host string, port int, authorization string) (Caller, error) {
	if t.RootURL == "" {
		return Caller{}, errors.New("taskcluster authenticateHawk: no root URL configured")
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = DefaultRemoteTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := tcauth.New(nil, t.RootURL)
	c.Context = ctx
	if t.HTTPClient != nil {
		c.HTTPClient = t.HTTPClient
	}
	req := &tcauth.HawkSignatureAuthenticationRequest{
		Method: strings.ToLower(method), Resource: resource, Host: host, Port: int64(port), Authorization: authorization,
	}
	type result struct {
		raw *tcauth.HawkSignatureAuthenticationResponse
		err error
	}
	// The client retries 5xx answers with a backoff that does not watch the
	// context; waiting here keeps the timeout exact, and the call ends at its next
	// attempt, which sees the context done.
	done := make(chan result, 1)
	go func() {
		raw, err := c.AuthenticateHawk(req)
		done <- result{raw, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return Caller{}, fmt.Errorf("taskcluster authenticateHawk at %s: %w", t.RootURL, ctx.Err())
	}
	if res.err != nil {
		return Caller{}, fmt.Errorf("taskcluster authenticateHawk at %s: %s", t.RootURL, describeCallError(res.err))
	}
	var out authResult
	if res.raw == nil || json.Unmarshal(*res.raw, &out) != nil {
		return Caller{}, fmt.Errorf("taskcluster authenticateHawk at %s: the answer is not the JSON the API defines", t.RootURL)
	}
	switch out.Status {
	case "auth-success":
		if out.ClientID == "" {
			return Caller{}, fmt.Errorf("taskcluster authenticateHawk at %s: a success without a clientId", t.RootURL)
		}
		for _, s := range out.Scopes {
			if !ValidScope(s) {
				return Caller{}, fmt.Errorf("taskcluster authenticateHawk at %s: a success with an invalid scope", t.RootURL)
			}
		}
		return Caller{ClientID: out.ClientID, Scopes: append([]string{}, out.Scopes...), Authenticated: true, Expires: time.Time(out.Expires)}, nil
	case "auth-failed":
		return Caller{}, fail("%s (checked by %s)", out.Message, t.RootURL)
	}
	return Caller{}, fmt.Errorf("taskcluster authenticateHawk at %s: unexpected status %q", t.RootURL, out.Status)
}

// describeCallError says why a call failed, from the HTTP status when there was an
// answer: the client's own error text repeats the request, which holds the
// authorization header.
func describeCallError(err error) string {
	var apiErr *tcclient.APICallException
	if errors.As(err, &apiErr) {
		if cs := apiErr.CallSummary; cs != nil && cs.HTTPResponse != nil {
			if code := cs.HTTPResponse.StatusCode; code/100 != 2 {
				return fmt.Sprintf("answered HTTP %d", code)
			}
			return "the answer is not the JSON the API defines"
		}
		err = apiErr.RootCause
	}
	if err == nil {
		return "the call failed"
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}
