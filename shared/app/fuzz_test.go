package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/workerfleet/workerfleet/shared/dev/apptest"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/httpapi"
)

var fuzzMethods = []string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"}

// FuzzEveryRoute sends requests to every route of both APIs (and beyond them)
// through the local API Gateway, root-signed or anonymous, with fuzzed path
// parameters, query and body. Whatever it sends: no 5xx, every error is a
// Taskcluster-shaped JSON body (code and message), and a refused request leaves
// every table as it was (the nonce table aside: a refused authenticated write
// still spends its nonce, which is the point).
//
// `go test` runs the seeds, a few per route; fuzz with
// go test -run '^$' -fuzz FuzzEveryRoute -fuzztime 1m -parallel 1 ./shared/app/
func FuzzEveryRoute(f *testing.F) {
	h := apptest.New(f)
	var routes []httpapi.RouteInfo
	for _, api := range h.App.HTTPFunctions() {
		routes = append(routes, api.Routes()...)
	}
	slices.SortFunc(routes, func(a, b httpapi.RouteInfo) int { return strings.Compare(a.Name, b.Name) })
	seed(f, h, routes)

	bodies := []string{"", "{}", "null", "[]", `{"a":1e400}`, "not json", `{"providerId":"static","description":"d","owner":"o@example.com","emailOnError":false,"config":{}}`}
	for i := range routes {
		for j, p := range []string{"x", "proj/x", "proj%2Fx", strings.Repeat("a", 3000), "a=b", "../x", "i-0123456789abcdef0"} {
			f.Add(uint8(i), uint8(255), p, []string{"", "limit=0", "continuationToken=zzz", "limit=1000000", "a=%zz"}[j%5], bodies[j%len(bodies)], j%2 == 0)
		}
	}
	for _, p := range []string{"/", "//", "/api", "/api/aws-provisioner/v1//ping", "/api/worker-manager/v1/../aws-provisioner/v1/ping", "/api/x%00y", "/api/worker-manager/v1/worker-pool/"} {
		f.Add(uint8(255), uint8(0), p, "", "", true)
	}
	f.Fuzz(func(t *testing.T, route, method uint8, param, query, body string, signed bool) {
		path, verb := fuzzTarget(routes, route, method, param)
		u, err := url.Parse(h.URL + path)
		if err != nil || path == "" {
			return // not a URL a client could send
		}
		u.RawQuery = query
		req, err := http.NewRequest(verb, u.String(), strings.NewReader(body))
		if err != nil {
			return
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if signed {
			if err := h.Root.SignRequest(req); err != nil {
				return
			}
		}
		before := snapshot(t, h)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		what := verb + " " + path + "?" + query
		if resp.StatusCode >= 500 {
			t.Fatalf("%s: %d %s", what, resp.StatusCode, truncate(out))
		}
		if resp.StatusCode < 400 {
			return
		}
		var e struct{ Code, Message string }
		if verb != "HEAD" && (json.Unmarshal(out, &e) != nil || e.Code == "" || e.Message == "") {
			t.Fatalf("%s: %d %s, want a JSON body with code and message", what, resp.StatusCode, truncate(out))
		}
		if after := snapshot(t, h); !bytes.Equal(before, after) {
			t.Fatalf("%s: refused with %d %s, but the tables changed", what, resp.StatusCode, truncate(out))
		}
	})
}

// fuzzTarget is the request a fuzz input names: route's pattern with every
// parameter set to param (escaped as the Go client escapes it), with its own method
// unless method picks another; a route beyond the list makes param the whole path.
func fuzzTarget(routes []httpapi.RouteInfo, route, method uint8, param string) (path, verb string) {
	if int(route) >= len(routes) {
		return param, fuzzMethods[int(method)%len(fuzzMethods)]
	}
	r := routes[route]
	verb = r.Method
	if int(method) < len(fuzzMethods) {
		verb = fuzzMethods[method]
	}
	path = r.Path
	for {
		i := strings.Index(path, "<")
		j := strings.Index(path, ">")
		if i < 0 || j < i {
			break
		}
		path = path[:i] + url.QueryEscape(param) + path[j+1:]
	}
	return path, verb
}

// seed stores one of everything, so that fuzzed requests meet existing records.
func seed(f *testing.F, h *apptest.Harness, routes []httpapi.RouteInfo) {
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"PUT", apBase + "/worker-type/x", workerTypeDef(nil)},
		{"PUT", wmBase + "/worker-pool/proj%2Fx", poolDef("static", `{}`)},
		{"PUT", wmBase + "/workers/proj%2Fx:/x/x", map[string]any{"capacity": 1, "expires": time.Now().Add(time.Hour), "providerInfo": map[string]any{"staticSecret": strings.Repeat("s", 44)}}},
	} {
		if resp := h.Do(h.Root, r.method, r.path, r.body); resp.Status != 200 {
			f.Fatalf("seed %s %s: %d %s", r.method, r.path, resp.Status, truncate(resp.Body))
		}
	}
	if len(routes) < 25 {
		f.Fatalf("only %d routes", len(routes))
	}
}

// snapshot is every item of every table but the nonces', canonically encoded.
func snapshot(t *testing.T, h *apptest.Harness) []byte {
	t.Helper()
	tables := h.App.Store.Tables()
	db := storetest.DB(t)
	var all []string
	for _, name := range []string{tables.WorkerTypes, tables.WorkerPools, tables.Workers, tables.Secrets, tables.Errors, tables.Clients, tables.Status} {
		out, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(name), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var items []map[string]any
		if err := attributevalue.UnmarshalListOfMaps(out.Items, &items); err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			b, _ := json.Marshal(it)
			all = append(all, name+" "+string(b))
		}
	}
	slices.Sort(all)
	return []byte(strings.Join(all, "\n"))
}
