// Package apptest runs the product's HTTP APIs for tests as a user reaches them: the
// app over DynamoDB Local, behind the local API Gateway on a real HTTP server, called
// with requests the official Taskcluster client signs.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2/launchspec"
	"github.com/workerfleet/workerfleet/shared/dev/localstack"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
)

// Quiet is a logger that discards.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// RootToken is the root client's access token in tests.
const RootToken = "root-access-token-for-tests-0123456789"

// Harness is a running API.
type Harness struct {
	T    testing.TB
	App  *app.App
	URL  string
	Root *tcclient.Credentials
}

// New starts the APIs over fresh tables. The package's TestMain must call
// storetest.Main.
func New(t testing.TB, opts ...app.Option) *Harness {
	t.Helper()
	return NewWithConfig(t, nil, opts...)
}

// NewWithConfig is New with the configuration changed by configure first (for
// settings the options cannot reach, such as a Taskcluster deployment to delegate
// authentication to).
func NewWithConfig(t testing.TB, configure func(*app.Config), opts ...app.Option) *Harness {
	t.Helper()
	cfg := app.Config{Tables: storetest.Tables(t), RootClientID: "root", RootAccessToken: RootToken,
		SigningKey: []byte("test signing key, 32 bytes long!"), InstanceSetID: "test",
		AllowedRegions: []string{"us-east-1", "us-west-2", "eu-central-1"}}
	if configure != nil {
		configure(&cfg)
	}
	opts = append([]app.Option{app.WithDB(storetest.DB(t)), app.WithLogger(Quiet), app.WithLaunchSpecValidator(launchspec.Validate)}, opts...)
	a, err := app.New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	fns, err := localstack.FunctionApps(context.Background(), storetest.Template(), cfg, a.Store.DB(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := localstack.APIGateway(fns, storetest.Template(), Quiet)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return &Harness{T: t, App: a, URL: srv.URL, Root: &tcclient.Credentials{ClientID: "root", AccessToken: RootToken}}
}

// Client creates an API client holding exactly scopes.
func (h *Harness) Client(id string, scopes ...string) *tcclient.Credentials {
	h.T.Helper()
	tok, err := h.App.CreateClient(context.Background(), id, "test client", scopes, time.Time{})
	if err != nil {
		h.T.Fatal(err)
	}
	return &tcclient.Credentials{ClientID: id, AccessToken: tok}
}

// Response is an API answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %s", r.Status, r.Body)
	}
	return m
}

// Code is the Taskcluster error code of the body, if any.
func (r Response) Code() string {
	var m struct{ Code string }
	_ = json.Unmarshal(r.Body, &m)
	return m.Code
}

// Do sends a request, signed with creds unless nil; body is JSON-encoded unless it is
// a []byte or string, sent as is.
func (h *Harness) Do(creds *tcclient.Credentials, method, path string, body any) Response {
	h.T.Helper()
	raw := h.encode(body)
	req, err := http.NewRequest(method, h.URL+path, bytes.NewReader(raw))
	if err != nil {
		h.T.Fatal(err)
	}
	if len(raw) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	if creds != nil {
		if err := creds.SignRequest(req); err != nil {
			h.T.Fatal(err)
		}
	}
	return h.send(req)
}

// DoRaw sends an unsigned request with the path exactly as given (no "//" or ".."
// resolved, escapes kept), and a body as Do does.
func (h *Harness) DoRaw(method, path string, body any) Response {
	h.T.Helper()
	raw := h.encode(body)
	req, err := http.NewRequest(method, h.URL, bytes.NewReader(raw))
	if err != nil {
		h.T.Fatal(err)
	}
	req.URL.Opaque = path // sent verbatim
	if len(raw) > 0 {
		req.Header.Set("Content-Type", "application/json")
	}
	return h.send(req)
}

// encode is a request body as Do and DoRaw send it: nil is none, a []byte or string
// goes as is, anything else as JSON.
func (h *Harness) encode(body any) []byte {
	h.T.Helper()
	switch b := body.(type) {
	case nil:
		return nil
	case []byte:
		return b
	case string:
		return []byte(b)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		h.T.Fatal(err)
	}
	return raw
}

func (h *Harness) send(req *http.Request) Response {
	h.T.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.T.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: out}
}
