package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
	"github.com/workerfleet/workerfleet/shared/store"
)

// recordingAuth accepts everyone and remembers what it was asked.
type recordingAuth struct {
	last AuthRequest
	err  error
}

func (a *recordingAuth) Authenticate(_ context.Context, r AuthRequest) (Caller, error) {
	a.last = r
	if a.err != nil {
		return Caller{}, a.err
	}
	return Caller{ClientID: "tester", Scopes: []string{"have:this"}, Authenticated: true}, nil
}

type scope string

func (s scope) SatisfiedBy(held []string) bool {
	for _, h := range held {
		if h == string(s) {
			return true
		}
	}
	return false
}
func (s scope) String() string { return string(s) }

func echo(_ context.Context, r *Request) (*Response, error) {
	return OK(map[string]any{"route": r.Route, "params": r.Params}), nil
}

func testAPI(authn Authenticator) *API {
	a := New("/api/worker-manager/v1", authn, []string{"workerPoolId", "workerType"},
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	for _, r := range []Route{
		{Name: "ping", Method: "GET", Pattern: "/ping"},
		{Name: "workerPool", Method: "GET", Pattern: "/worker-pool/<workerPoolId>"},
		{Name: "listWorkersForWorkerPool", Method: "GET", Pattern: "/workers/<workerPoolId>"},
		{Name: "listWorkersForWorkerGroup", Method: "GET", Pattern: "/workers/<workerPoolId>:/<workerGroup>"},
		{Name: "worker", Method: "GET", Pattern: "/workers/<workerPoolId>:/<workerGroup>/<workerId>"},
		{Name: "removeWorker", Method: "DELETE", Pattern: "/workers/<workerPoolId>/<workerGroup>/<workerId>"},
		{Name: "workerType", Method: "GET", Pattern: "/worker-type/<workerType>"},
		{Name: "getLaunchSpecs", Method: "GET", Pattern: "/worker-type/<workerType>/launch-specifications"},
		{Name: "updateWorkerType", Method: "POST", Pattern: "/worker-type/<workerType>/update"},
		{Name: "getSecret", Method: "GET", Pattern: "/secret/<token>"},
	} {
		r.Handler = echo
		a.Handle(r)
	}
	return a
}

func event(method, rawPath, rawQuery, body string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{RawPath: rawPath, RawQueryString: rawQuery, Body: body,
		Headers: map[string]string{"host": "api.example.com", "x-forwarded-port": "443", "x-forwarded-proto": "https"}}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.RequestID = "req-1"
	return ev
}

func call(t *testing.T, a *API, ev events.APIGatewayV2HTTPRequest) (int, map[string]any) {
	t.Helper()
	resp, err := a.Serve(context.Background(), ev)
	if err != nil {
		t.Fatalf("Serve returned an error: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("response body is not JSON: %q", resp.Body)
	}
	return resp.StatusCode, body
}

// TestRoutingOnDecodedAndEncodedPaths: API Gateway decodes %2F in rawPath; the local
// stack and other gateways may not. Both must route identically.
func TestRoutingOnDecodedAndEncodedPaths(t *testing.T) {
	a := testAPI(&recordingAuth{})
	tests := []struct {
		method, path string
		wantRoute    string
		wantParams   map[string]any
	}{
		{"GET", "/api/worker-manager/v1/ping", "ping", map[string]any{}},
		{"GET", "/api/worker-manager/v1/worker-pool/proj/pool-a", "workerPool", map[string]any{"workerPoolId": "proj/pool-a"}},
		{"GET", "/api/worker-manager/v1/worker-pool/proj%2Fpool-a", "workerPool", map[string]any{"workerPoolId": "proj/pool-a"}},
		{"GET", "/api/worker-manager/v1/workers/proj/pool-a", "listWorkersForWorkerPool", map[string]any{"workerPoolId": "proj/pool-a"}},
		{"GET", "/api/worker-manager/v1/workers/proj/pool-a:/us-east-1", "listWorkersForWorkerGroup", map[string]any{"workerPoolId": "proj/pool-a", "workerGroup": "us-east-1"}},
		{"GET", "/api/worker-manager/v1/workers/proj%2Fpool-a:/us-east-1/i-123", "worker", map[string]any{"workerPoolId": "proj/pool-a", "workerGroup": "us-east-1", "workerId": "i-123"}},
		{"GET", "/api/worker-manager/v1/workers/proj/pool-a:/us-east-1/i-123", "worker", map[string]any{"workerPoolId": "proj/pool-a", "workerGroup": "us-east-1", "workerId": "i-123"}},
		{"DELETE", "/api/worker-manager/v1/workers/proj/pool-a/us-east-1/i-123", "removeWorker", map[string]any{"workerPoolId": "proj/pool-a", "workerGroup": "us-east-1", "workerId": "i-123"}},
		{"GET", "/api/worker-manager/v1/worker-type/a/b=c", "workerType", map[string]any{"workerType": "a/b=c"}},
		{"GET", "/api/worker-manager/v1/worker-type/a%2Fb%3Dc/launch-specifications", "getLaunchSpecs", map[string]any{"workerType": "a/b=c"}},
		{"POST", "/api/worker-manager/v1/worker-type/x/update/update", "updateWorkerType", map[string]any{"workerType": "x/update"}},
		{"GET", "/api/worker-manager/v1/worker-type/x/update", "workerType", map[string]any{"workerType": "x/update"}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, body := call(t, a, event(tt.method, tt.path, "", ""))
			if status != 200 {
				t.Fatalf("status = %d (%v), want 200", status, body)
			}
			want := map[string]any{"route": tt.wantRoute, "params": tt.wantParams}
			if diff := cmp.Diff(want, body); diff != "" {
				t.Errorf("routing (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorsAreTaskclusterShaped(t *testing.T) {
	panicky := testAPI(&recordingAuth{})
	panicky.Handle(Route{Name: "boom", Method: "GET", Pattern: "/boom", Handler: func(context.Context, *Request) (*Response, error) {
		panic("secret internal detail")
	}})
	panicky.Handle(Route{Name: "fail", Method: "GET", Pattern: "/fail", Handler: func(context.Context, *Request) (*Response, error) {
		return nil, errors.New("dynamodb exploded with secret detail")
	}})
	panicky.Handle(Route{Name: "conflict", Method: "PUT", Pattern: "/conflict", Handler: func(context.Context, *Request) (*Response, error) {
		return nil, Conflict("already there")
	}})
	panicky.Handle(Route{Name: "scoped", Method: "GET", Pattern: "/scoped", Handler: func(_ context.Context, r *Request) (*Response, error) {
		if err := r.Require(scope("need:that")); err != nil {
			return nil, err
		}
		return OK(nil), nil
	}})
	panicky.Handle(Route{Name: "decode", Method: "POST", Pattern: "/decode", Handler: func(_ context.Context, r *Request) (*Response, error) {
		var v struct {
			N int `json:"n"`
		}
		if err := r.Decode(&v); err != nil {
			return nil, err
		}
		return OK(v), nil
	}})

	tests := []struct {
		name       string
		ev         events.APIGatewayV2HTTPRequest
		wantStatus int
		wantCode   string
	}{
		{"unknown path", event("GET", "/api/worker-manager/v1/nope", "", ""), 404, "ResourceNotFound"},
		{"outside the base", event("GET", "/api/other/v1/ping", "", ""), 404, "ResourceNotFound"},
		{"wrong method", event("DELETE", "/api/worker-manager/v1/ping", "", ""), 405, "MethodNotAllowed"},
		{"bad escape", event("GET", "/api/worker-manager/v1/worker-pool/a%zz", "", ""), 404, "ResourceNotFound"},
		{"panic", event("GET", "/api/worker-manager/v1/boom", "", ""), 500, "InternalServerError"},
		{"internal error", event("GET", "/api/worker-manager/v1/fail", "", ""), 500, "InternalServerError"},
		{"conflict", event("PUT", "/api/worker-manager/v1/conflict", "", ""), 409, "RequestConflict"},
		{"missing scope", event("GET", "/api/worker-manager/v1/scoped", "", ""), 403, "InsufficientScopes"},
		{"oversize body", event("POST", "/api/worker-manager/v1/decode", "", strings.Repeat(" ", DefaultMaxBody+1)), 413, "InputTooLarge"},
		{"malformed JSON", event("POST", "/api/worker-manager/v1/decode", "", `{"n":`), 400, "InputValidationError"},
		{"wrong type", event("POST", "/api/worker-manager/v1/decode", "", `{"n":"x"}`), 400, "InputValidationError"},
		{"unknown field", event("POST", "/api/worker-manager/v1/decode", "", `{"m":1}`), 400, "InputValidationError"},
		{"trailing data", event("POST", "/api/worker-manager/v1/decode", "", `{"n":1} {}`), 400, "InputValidationError"},
		{"empty body", event("POST", "/api/worker-manager/v1/decode", "", ``), 400, "InputValidationError"},
		{"bad query", event("GET", "/api/worker-manager/v1/ping", "a=%zz", ""), 400, "InputError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, panicky, tt.ev)
			if status != tt.wantStatus || body["code"] != tt.wantCode {
				t.Fatalf("got %d %v, want %d %s", status, body, tt.wantStatus, tt.wantCode)
			}
			if msg, _ := body["message"].(string); msg == "" || strings.Contains(msg, "secret") {
				t.Errorf("message %q must be present and must not leak internals", msg)
			}
			if _, ok := body["requestInfo"].(map[string]any); !ok {
				t.Errorf("requestInfo missing from %v", body)
			}
		})
	}
}

func TestBase64BodiesAreDecoded(t *testing.T) {
	a := testAPI(&recordingAuth{})
	a.Handle(Route{Name: "decode", Method: "POST", Pattern: "/decode", Handler: func(_ context.Context, r *Request) (*Response, error) {
		var v map[string]int
		if err := r.Decode(&v); err != nil {
			return nil, err
		}
		return OK(v), nil
	}})
	ev := event("POST", "/api/worker-manager/v1/decode", "", base64.StdEncoding.EncodeToString([]byte(`{"n":7}`)))
	ev.IsBase64Encoded = true
	status, body := call(t, a, ev)
	if status != 200 || body["n"] != float64(7) {
		t.Errorf("base64 body: %d %v, want 200 {n:7}", status, body)
	}
	ev.Body = "!!!not base64"
	if status, _ := call(t, a, ev); status != 400 {
		t.Errorf("bad base64 body: status %d, want 400", status)
	}
}

func TestAuthenticatorSeesWhatTheClientSigned(t *testing.T) {
	authn := &recordingAuth{}
	a := testAPI(authn)
	// The client signed /api/worker-manager/v1/workers/proj%2Fpool-a:/g/w; API Gateway
	// delivered it decoded.
	ev := event("GET", "/api/worker-manager/v1/workers/proj/pool-a:/g/w", "bewit=abc", "")
	ev.Headers["authorization"] = "Hawk id=\"x\""
	if status, body := call(t, a, ev); status != 200 {
		t.Fatalf("status %d %v", status, body)
	}
	want := AuthRequest{
		Method: "GET", Host: "api.example.com", Port: "443",
		// The encodings clients sign first; the decoded path, which none signs, last.
		Resources: []string{
			"/api/worker-manager/v1/workers/proj%2Fpool-a:/g/w?bewit=abc",
			"/api/worker-manager/v1/workers/proj/pool-a:/g/w?bewit=abc",
		},
		Encoded:       1,
		Authorization: "Hawk id=\"x\"",
	}
	if diff := cmp.Diff(want, authn.last); diff != "" {
		t.Errorf("auth request (-want +got):\n%s", diff)
	}

	// encodeURIComponent differs from QueryEscape for some characters.
	ev = event("GET", "/api/worker-manager/v1/worker-type/a(b) c", "", "")
	call(t, a, ev)
	wantRes := []string{
		"/api/worker-manager/v1/worker-type/a%28b%29+c",
		"/api/worker-manager/v1/worker-type/a(b)%20c",
		"/api/worker-manager/v1/worker-type/a(b) c",
	}
	if diff := cmp.Diff(wantRes, authn.last.Resources); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}

	authn.err = AuthenticationFailed("bad mac")
	if status, body := call(t, a, event("GET", "/api/worker-manager/v1/ping", "", "")); status != 401 || body["code"] != "AuthenticationFailed" {
		t.Errorf("rejected credentials: %d %v, want 401 AuthenticationFailed", status, body)
	}
}

// TestNoScopesMethodsDoNotAuthenticate: as Taskcluster's API library, a method that
// requires no scopes is served without looking at the caller's credentials, however
// bad; every other method still fails on them.
func TestNoScopesMethodsDoNotAuthenticate(t *testing.T) {
	authn := &recordingAuth{}
	a := testAPI(authn)
	a.Handle(Route{Name: "listWorkerPools", Method: "GET", Pattern: "/worker-pools", NoScopes: true,
		Handler: func(_ context.Context, r *Request) (*Response, error) {
			return OK(map[string]any{"clientId": r.Caller.ClientID, "authenticated": r.Caller.Authenticated, "scopes": r.Caller.Scopes}), nil
		}})
	tests := []struct {
		name       string
		err        error
		path       string
		wantStatus int
	}{
		{"no-scope method, refused credentials", AuthenticationFailed("ext.certificate expired"), "/api/worker-manager/v1/worker-pools", 200},
		{"no-scope method, authenticator unreachable", errors.New("auth service down"), "/api/worker-manager/v1/worker-pools", 200},
		{"no-scope method, valid credentials", nil, "/api/worker-manager/v1/worker-pools", 200},
		{"scoped method, refused credentials", AuthenticationFailed("ext.certificate expired"), "/api/worker-manager/v1/ping", 401},
		{"scoped method, authenticator unreachable", errors.New("auth service down"), "/api/worker-manager/v1/ping", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			authn.err, authn.last = tt.err, AuthRequest{}
			ev := event("GET", tt.path, "", "")
			ev.Headers["authorization"] = `Hawk id="", ts="1", nonce="n", mac="m"`
			status, body := call(t, a, ev)
			if status != tt.wantStatus {
				t.Fatalf("status %d %v, want %d", status, body, tt.wantStatus)
			}
			asked := authn.last.Authorization != ""
			if want := tt.wantStatus != 200; asked != want {
				t.Errorf("authenticator asked: %v, want %v", asked, want)
			}
			if status == 200 {
				want := map[string]any{"clientId": "", "authenticated": false, "scopes": []any{"assume:anonymous"}}
				if diff := cmp.Diff(want, body); diff != "" {
					t.Errorf("caller seen by the handler (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestAddressedHost(t *testing.T) {
	const secret = "front-door-secret"
	api := "abc.execute-api.us-east-1.amazonaws.com"
	tests := []struct {
		name               string
		headers            map[string]string
		secret             string
		wantHost, wantPort string
	}{
		{"local", map[string]string{"Host": "127.0.0.1:8080"}, secret, "127.0.0.1", "8080"},
		{"API Gateway", map[string]string{"Host": api, "X-Forwarded-Port": "443"}, secret, api, "443"},
		{"http", map[string]string{"Host": "api.example.com", "X-Forwarded-Proto": "http"}, secret, "api.example.com", "80"},
		{"no port", map[string]string{"Host": "api.example.com"}, secret, "api.example.com", "443"},
		// Behind the front door, which proves itself: the name the client used.
		{"front door", map[string]string{"Host": api, "X-Forwarded-Host": "tc.example.com", "X-Forwarded-Port": "443", FrontDoorHeader: secret}, secret, "tc.example.com", "443"},
		{"front door, port", map[string]string{"Host": api, "X-Forwarded-Host": "tc.example.com:8443, cdn.internal", FrontDoorHeader: secret}, secret, "tc.example.com", "8443"},
		{"front door, blank", map[string]string{"Host": "api.example.com", "X-Forwarded-Host": " ", FrontDoorHeader: secret}, secret, "api.example.com", "443"},
		// Anyone else's X-Forwarded-Host is ignored.
		{"no proof", map[string]string{"Host": api, "X-Forwarded-Host": "staging.example.com"}, secret, api, "443"},
		{"wrong proof", map[string]string{"Host": api, "X-Forwarded-Host": "staging.example.com", FrontDoorHeader: "guess"}, secret, api, "443"},
		{"no front door configured", map[string]string{"Host": api, "X-Forwarded-Host": "staging.example.com", FrontDoorHeader: ""}, "", api, "443"},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.headers {
			h.Set(k, v)
		}
		r := AuthRequest{FrontDoorProof: h.Get(FrontDoorHeader)}
		r.Host, r.Port = hostPort(h)
		r.ForwardedHost, r.ForwardedPort = forwardedHostPort(h)
		if host, port := r.Addressed(tt.secret); host != tt.wantHost || port != tt.wantPort {
			t.Errorf("%s: Addressed(%v) = %s %s, want %s %s", tt.name, tt.headers, host, port, tt.wantHost, tt.wantPort)
		}
	}
}

func TestGatewayPaths(t *testing.T) {
	a := testAPI(&recordingAuth{})
	got := map[string]string{}
	for _, r := range a.Routes() {
		got[r.Name] = r.Key()
	}
	want := map[string]string{
		"ping":                      "GET /api/worker-manager/v1/ping",
		"workerPool":                "GET /api/worker-manager/v1/worker-pool/{workerPoolId+}",
		"listWorkersForWorkerPool":  "GET /api/worker-manager/v1/workers/{workerPoolId+}",
		"listWorkersForWorkerGroup": "GET /api/worker-manager/v1/workers/{workerPoolId+}",
		"worker":                    "GET /api/worker-manager/v1/workers/{workerPoolId+}",
		"removeWorker":              "DELETE /api/worker-manager/v1/workers/{workerPoolId+}",
		"workerType":                "GET /api/worker-manager/v1/worker-type/{workerType+}",
		"getLaunchSpecs":            "GET /api/worker-manager/v1/worker-type/{workerType+}",
		"updateWorkerType":          "POST /api/worker-manager/v1/worker-type/{workerType+}",
		"getSecret":                 "GET /api/worker-manager/v1/secret/{token}",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("gateway route keys (-want +got):\n%s", diff)
	}
}

func TestPaging(t *testing.T) {
	tests := []struct {
		query     string
		wantLimit int
		wantErr   bool
	}{
		{"", 0, false},
		{"limit=5&continuationToken=abc", 5, false},
		{"limit=0", 0, true},
		{"limit=1001", 0, true},
		{"limit=x", 0, true},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		r := &Request{Query: q}
		limit, _, err := r.Paging(1000)
		if (err != nil) != tt.wantErr || limit != tt.wantLimit {
			t.Errorf("Paging(%q) = %d, %v; want %d, error %v", tt.query, limit, err, tt.wantLimit, tt.wantErr)
		}
	}
}

// FuzzServe: no path, query or body makes the router panic or answer 5xx on routes
// whose handlers only decode.
func FuzzServe(f *testing.F) {
	a := testAPI(&recordingAuth{})
	a.Handle(Route{Name: "decode", Method: "POST", Pattern: "/decode/<workerPoolId>", Handler: func(_ context.Context, r *Request) (*Response, error) {
		var v struct {
			A []map[string]float64 `json:"a"`
		}
		if err := r.Decode(&v); err != nil {
			return nil, err
		}
		return OK(v), nil
	}})
	f.Add("POST", "/api/worker-manager/v1/decode/a/b", "x=1", `{"a":[{"b":1}]}`, false)
	f.Add("GET", "/api/worker-manager/v1/workers/a%2Fb:/c/d", "", "", false)
	f.Add("POST", "/api/worker-manager/v1/decode/%", "%%", "\x00", true)
	f.Fuzz(func(t *testing.T, method, path, query, body string, b64 bool) {
		ev := event(method, path, query, body)
		ev.IsBase64Encoded = b64
		resp, err := a.Serve(context.Background(), ev)
		if err != nil || resp.StatusCode >= 500 {
			t.Fatalf("Serve(%q %q %q) = %d %s, %v", method, path, query, resp.StatusCode, resp.Body, err)
		}
		if !json.Valid([]byte(resp.Body)) {
			t.Fatalf("response is not JSON: %q", resp.Body)
		}
	})
}

// TestStoreError: each store error becomes the answer both APIs give; anything
// else stays a server error, wrapped with what was being done.
func TestStoreError(t *testing.T) {
	for _, c := range []struct {
		err        error
		wantStatus int
		wantCode   string
	}{
		{fmt.Errorf("read: %w", store.ErrNotFound), http.StatusNotFound, "ResourceNotFound"},
		{store.ErrBadToken, http.StatusBadRequest, "InputValidationError"},
		{store.ErrConflict, http.StatusConflict, "RequestConflict"},
		{store.ErrTooLarge, http.StatusRequestEntityTooLarge, "InputTooLarge"},
	} {
		var apiErr *Error
		if got := StoreError(c.err, "worker pool p/a"); !errors.As(got, &apiErr) || apiErr.Status != c.wantStatus || apiErr.Code != c.wantCode {
			t.Errorf("StoreError(%v) = %v; want %d %s", c.err, got, c.wantStatus, c.wantCode)
		}
	}
	other := errors.New("throttled")
	var apiErr *Error
	if got := StoreError(other, "worker pool p/a"); errors.As(got, &apiErr) || !errors.Is(got, other) || !strings.Contains(got.Error(), "worker pool p/a") {
		t.Errorf("StoreError(other) = %v; want it wrapped, not an API error", got)
	}
}
