package localstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

const gatewayTemplate = `
Resources:
  Api:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Ping: {Type: HttpApi, Properties: {Method: GET, Path: /api/x/v1/ping}}
        ByID: {Type: HttpApi, Properties: {Method: GET, Path: "/api/x/v1/item/{id}"}}
        Greedy: {Type: HttpApi, Properties: {Method: GET, Path: "/api/x/v1/item/{rest+}"}}
        Special: {Type: HttpApi, Properties: {Method: GET, Path: /api/x/v1/item/special}}
        Put: {Type: HttpApi, Properties: {Method: PUT, Path: "/api/x/v1/item/{rest+}"}}
  Other:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Any: {Type: HttpApi, Properties: {Method: ANY, Path: "/api/y/{rest+}"}}
`

func gatewayFor(t *testing.T) (*Gateway, *[]events.APIGatewayV2HTTPRequest) {
	t.Helper()
	tmpl, err := samtemplate.Parse([]byte(gatewayTemplate))
	if err != nil {
		t.Fatal(err)
	}
	var seen []events.APIGatewayV2HTTPRequest
	fn := func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		seen = append(seen, ev)
		return events.APIGatewayV2HTTPResponse{StatusCode: 201, Body: `{"ok":true}`, Headers: map[string]string{"Content-Type": "application/json"}}, nil
	}
	g, err := NewGateway(tmpl, map[string]HTTPFunction{"Api": fn, "Other": fn}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return g, &seen
}

func TestGatewayMatchPrecedence(t *testing.T) {
	g, _ := gatewayFor(t)
	tests := []struct {
		method, path string
		wantKey      string
		wantParams   map[string]string
	}{
		{"GET", "/api/x/v1/ping", "GET /api/x/v1/ping", map[string]string{}},
		{"GET", "/api/x/v1/item/special", "GET /api/x/v1/item/special", map[string]string{}},
		{"GET", "/api/x/v1/item/a", "GET /api/x/v1/item/{id}", map[string]string{"id": "a"}},
		{"GET", "/api/x/v1/item/a/b", "GET /api/x/v1/item/{rest+}", map[string]string{"rest": "a/b"}},
		{"PUT", "/api/x/v1/item/a", "PUT /api/x/v1/item/{rest+}", map[string]string{"rest": "a"}},
		{"DELETE", "/api/y/z", "ANY /api/y/{rest+}", map[string]string{"rest": "z"}},
	}
	for _, tt := range tests {
		r, params, ok := g.Match(tt.method, tt.path)
		if !ok || r.Key() != tt.wantKey || !cmp.Equal(params, tt.wantParams) {
			t.Errorf("Match(%s %s) = %s %v %v; want %s %v", tt.method, tt.path, r.Key(), params, ok, tt.wantKey, tt.wantParams)
		}
	}
	for _, miss := range [][2]string{{"GET", "/api/x/v1"}, {"POST", "/api/x/v1/ping"}, {"GET", "/api/x/v1/item/"}, {"GET", "/nope"}} {
		if r, _, ok := g.Match(miss[0], miss[1]); ok {
			t.Errorf("Match(%s %s) = %s, want no route", miss[0], miss[1], r.Key())
		}
	}
}

// TestGatewayEventShape checks the event is what API Gateway sends: rawPath decoded,
// query raw, headers lower-cased, forwarded headers, base64 for binary bodies.
func TestGatewayEventShape(t *testing.T) {
	g, seen := gatewayFor(t)
	srv := httptest.NewServer(g)
	defer srv.Close()

	req, _ := http.NewRequest("PUT", srv.URL+"/api/x/v1/item/a%2Fb?x=1%202&x=3", strings.NewReader(`{"a":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Custom", "v")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || string(body) != `{"ok":true}` {
		t.Fatalf("response %d %s", resp.StatusCode, body)
	}
	ev := (*seen)[0]
	if ev.RawPath != "/api/x/v1/item/a/b" || ev.RawQueryString != "x=1%202&x=3" || ev.RouteKey != "PUT /api/x/v1/item/{rest+}" {
		t.Errorf("rawPath %q rawQuery %q routeKey %q", ev.RawPath, ev.RawQueryString, ev.RouteKey)
	}
	if ev.PathParameters["rest"] != "a/b" || ev.QueryStringParameters["x"] != "1 2,3" {
		t.Errorf("params %v query %v", ev.PathParameters, ev.QueryStringParameters)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	if ev.Headers["host"] != host || ev.Headers["x-custom"] != "v" || ev.Headers["x-forwarded-proto"] != "http" || ev.Headers["x-forwarded-port"] == "" {
		t.Errorf("headers %v", ev.Headers)
	}
	if ev.Body != `{"a":1}` || ev.IsBase64Encoded || ev.RequestContext.HTTP.Method != "PUT" || ev.RequestContext.RequestID == "" {
		t.Errorf("body %q b64 %v ctx %+v", ev.Body, ev.IsBase64Encoded, ev.RequestContext)
	}

	bin := []byte{0xff, 0x00, 0x01}
	req, _ = http.NewRequest("PUT", srv.URL+"/api/x/v1/item/c", strings.NewReader(string(bin)))
	req.Header.Set("Content-Type", "application/octet-stream")
	if _, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	ev = (*seen)[1]
	if got, _ := base64.StdEncoding.DecodeString(ev.Body); !ev.IsBase64Encoded || string(got) != string(bin) {
		t.Errorf("binary body: b64 %v body %q", ev.IsBase64Encoded, ev.Body)
	}

	resp, _ = http.Get(srv.URL + "/nope")
	var msg map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&msg)
	resp.Body.Close()
	if resp.StatusCode != 404 || msg["code"] != "ResourceNotFound" || msg["message"] == "" {
		t.Errorf("unrouted request without a $default route: %d %v, want a Taskcluster-shaped 404", resp.StatusCode, msg)
	}
}

// TestGatewayDefaultRoute: with a $default route, whatever no other route matches
// goes to its function, as API Gateway sends it, with route key $default.
func TestGatewayDefaultRoute(t *testing.T) {
	tmpl, err := samtemplate.Parse([]byte(gatewayTemplate + `
  Fallback:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Unrouted: {Type: HttpApi, Properties: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	fn := func(name string) HTTPFunction {
		return func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			keys = append(keys, name+" "+ev.RouteKey+" "+ev.RawPath)
			return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
		}
	}
	g, err := NewGateway(tmpl, map[string]HTTPFunction{"Api": fn("Api"), "Other": fn("Other"), "Fallback": fn("Fallback")}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	for _, r := range []struct{ method, path string }{{"GET", "/api/x/v1/ping"}, {"DELETE", "/api/x/v1/ping"}, {"GET", "/nope"}, {"GET", "/$default"}} {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []string{"Api GET /api/x/v1/ping /api/x/v1/ping", "Fallback $default /api/x/v1/ping", "Fallback $default /nope", "Fallback $default /$default"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("functions invoked (-want +got):\n%s", diff)
	}
}

// TestStackNeverRedirects: paths with "//" or ".." reach the gateway as sent (API
// Gateway does not redirect them), not a 307 of http.ServeMux.
func TestStackNeverRedirects(t *testing.T) {
	var paths []string
	gw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		writeJSON(w, 404, map[string]string{"code": "ResourceNotFound", "message": "x"})
	})
	s := &Stack{Queue: NewQueue()}
	h, err := s.handler(gw)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/api/x//y", "/api/x/../y", "//api/x", "/api/x/./y"} {
		resp, err := client.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want the gateway's answer", p, resp.StatusCode)
		}
	}
	if diff := cmp.Diff([]string{"/api/x//y", "/api/x/../y", "//api/x", "/api/x/./y"}, paths); diff != "" {
		t.Errorf("paths the gateway saw (-want +got):\n%s", diff)
	}
	resp, err := client.Get(srv.URL + "/api/queue/v1/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the fake queue: %d", resp.StatusCode)
	}
}
