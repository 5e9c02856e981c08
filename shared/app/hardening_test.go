package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/dev/apptest"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/store"
)

// These tests hold the findings of a security review (issue 14) through the HTTP
// layer: each failed before its fix.

const (
	apBase = "/api/aws-provisioner/v1"
	wmBase = "/api/worker-manager/v1"
)

// countingHarness is the APIs over a DynamoDB client that counts its requests.
func countingHarness(t *testing.T) (*apptest.Harness, *store.CountingDB) {
	t.Helper()
	db := store.NewCountingDB(storetest.DB(t))
	return apptest.New(t, app.WithDB(db)), db
}

// TestOversizedKeysAreRefusedBeforeDynamoDB: a client id, a certificate issuer or a
// path parameter too long to be a DynamoDB key is a 4xx, and no request reaches
// DynamoDB (which would answer "key values must be under 2048 bytes", a 500).
func TestOversizedKeysAreRefusedBeforeDynamoDB(t *testing.T) {
	h, db := countingHarness(t)
	long := strings.Repeat("a", 3000)
	named, err := (&tcclient.Credentials{ClientID: long, AccessToken: "whatever-token"}).CreateNamedTemporaryCredentials("someone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, method, path string
		creds              *tcclient.Credentials
		wantStatus         int
	}{
		{"client id", "GET", apBase + "/worker-type/wt", &tcclient.Credentials{ClientID: long, AccessToken: "x"}, 401},
		{"client id on a write", "DELETE", apBase + "/worker-type/wt", &tcclient.Credentials{ClientID: long, AccessToken: "x"}, 401},
		{"certificate issuer", "GET", apBase + "/worker-type/wt", named, 401},
		{"instance id", "GET", apBase + "/instance-started/" + long + "/" + "tok", nil, 400},
		{"instance id (under the path bound)", "GET", apBase + "/instance-started/" + long[:1000] + "/" + "tok", nil, 404},
		{"secret token", "GET", apBase + "/secret/" + long, nil, 400},
		{"worker type", "GET", apBase + "/worker-type/" + long, nil, 400},
		{"worker pool", "GET", wmBase + "/worker-pool/" + long + "%2Fx", nil, 400},
		{"worker", "GET", wmBase + "/workers/proj%2Fx:/" + long + "/" + long, nil, 400},
	} {
		db.Reset()
		r := h.Do(tt.creds, tt.method, tt.path, nil)
		if r.Status != tt.wantStatus || r.Code() == "" {
			t.Errorf("%s: %d %s, want %d with a Taskcluster error", tt.name, r.Status, truncate(r.Body), tt.wantStatus)
		}
		if n := db.Total(); n != 0 {
			t.Errorf("%s: %d DynamoDB requests (%v), want none", tt.name, n, db.Ops())
		}
	}
}

// TestCertificateStartingTooFarAheadIsRefused: a temporary certificate may start at
// most 5 minutes ahead (Taskcluster's rule), not the 15 minutes of a header's ts.
func TestCertificateStartingTooFarAheadIsRefused(t *testing.T) {
	h := apptest.New(t)
	iss := auth.Issuer{ClientID: "root", AccessToken: apptest.RootToken, Scopes: []string{"*"}}
	for _, tt := range []struct {
		ahead      time.Duration
		wantStatus int
	}{
		{4 * time.Minute, 404}, // authenticated; no such worker type
		{10 * time.Minute, 401},
	} {
		now := time.Now()
		c, err := iss.Temporary("", []string{"*"}, now.Add(tt.ahead), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		creds := &tcclient.Credentials{ClientID: c.ClientID, AccessToken: c.AccessToken, Certificate: c.Certificate}
		// workerType requires scopes, so it authenticates (listWorkerTypes requires
		// none and is served whatever the credentials).
		r := h.Do(creds, "GET", apBase+"/worker-type/none", nil)
		if r.Status != tt.wantStatus {
			t.Errorf("certificate starting %s ahead: %d %s, want %d", tt.ahead, r.Status, truncate(r.Body), tt.wantStatus)
		}
		if tt.wantStatus == 401 && !strings.Contains(string(r.Body), "not valid until") {
			t.Errorf("certificate starting %s ahead: %s, want it to say when it becomes valid", tt.ahead, truncate(r.Body))
		}
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// workerTypeDef is a valid worker type definition, mutated.
func workerTypeDef(mutate func(map[string]any)) map[string]any {
	d := map[string]any{
		"description": "d", "owner": "o", "minCapacity": 0, "maxCapacity": 10, "scalingRatio": 0, "minPrice": 0, "maxPrice": 0.5,
		"canUseSpot": true, "canUseOndemand": false, "launchSpec": map[string]any{}, "userData": map[string]any{}, "secrets": map[string]any{},
		"scopes":        []string{},
		"regions":       []any{map[string]any{"region": "us-east-1", "launchSpec": map[string]any{"ImageId": "ami-0123456789abcdef0"}, "userData": map[string]any{}, "secrets": map[string]any{}, "scopes": []string{}}},
		"instanceTypes": []any{map[string]any{"instanceType": "m5.large", "capacity": 1, "utility": 1, "launchSpec": map[string]any{}, "userData": map[string]any{}, "secrets": map[string]any{}, "scopes": []string{}}},
	}
	if mutate != nil {
		mutate(d)
	}
	return d
}

func poolDef(provider, config string) map[string]any {
	return map[string]any{"providerId": provider, "description": "d", "owner": "o@example.com", "emailOnError": false, "config": json.RawMessage(config)}
}

// TestNumbersRoundTripOrAreRefused: every number is either stored and read back
// as sent, or refused with a 400 that names the bound; nothing is stored by the
// refusal.
func TestNumbersRoundTripOrAreRefused(t *testing.T) {
	h := apptest.New(t)
	instanceType := func(key string, v any) func(map[string]any) {
		return func(d map[string]any) { d["instanceTypes"].([]any)[0].(map[string]any)[key] = v }
	}
	top := func(key string, v any) func(map[string]any) { return func(d map[string]any) { d[key] = v } }
	for i, tt := range []struct {
		name   string
		mutate func(map[string]any)
		want   string
	}{
		{"maxCapacity 1e308", top("maxCapacity", 1e308), "maxCapacity must be at most 2147483647"},
		{"maxCapacity 2^63-1", top("maxCapacity", json.Number("9223372036854775807")), "maxCapacity must be at most 2147483647"},
		{"minCapacity 2^40", func(d map[string]any) { d["minCapacity"], d["maxCapacity"] = 1<<40, 1<<41 }, "minCapacity must be at most 2147483647"},
		{"capacity 2^53", instanceType("capacity", 1<<53), "capacity must be at most 2147483647"},
		{"utility 1e300", instanceType("utility", 1e300), "utility must be at most 1000000"},
		{"maxPrice 1e300", top("maxPrice", 1e300), "maxPrice must be at most 10000"},
		{"scalingRatio 1e300", top("scalingRatio", 1e300), "scalingRatio must be at most 1000"},
	} {
		name := fmt.Sprintf("big-%d", i)
		r := h.Do(h.Root, "PUT", apBase+"/worker-type/"+name, workerTypeDef(tt.mutate))
		if r.Status != 400 || !strings.Contains(string(r.Body), tt.want) {
			t.Errorf("%s: %d %s, want 400 saying %q", tt.name, r.Status, truncate(r.Body), tt.want)
		}
		if r := h.Do(h.Root, "GET", apBase+"/worker-type/"+name, nil); r.Status != 404 {
			t.Errorf("%s: the refused worker type is stored: %d", tt.name, r.Status)
		}
	}
	// The bounds themselves round-trip.
	edge := workerTypeDef(func(d map[string]any) {
		d["maxCapacity"], d["minCapacity"], d["maxPrice"], d["scalingRatio"] = 2147483647, 2147483647, 10000, 1000
		instanceType("capacity", 2147483647)(d)
		instanceType("utility", 1000000)(d)
	})
	if r := h.Do(h.Root, "PUT", apBase+"/worker-type/edge", edge); r.Status != 200 {
		t.Fatalf("worker type at the bounds: %d %s", r.Status, truncate(r.Body))
	}
	got := h.Do(h.Root, "GET", apBase+"/worker-type/edge", nil).JSON(t)
	if got["maxCapacity"] != float64(2147483647) || got["minCapacity"] != float64(2147483647) {
		t.Errorf("worker type at the bounds reads back as %v / %v", got["minCapacity"], got["maxCapacity"])
	}
	summaries := h.Do(h.Root, "GET", apBase+"/list-worker-type-summaries", nil)
	if strings.Contains(string(summaries.Body), "-") && strings.Contains(string(summaries.Body), "e+") {
		t.Errorf("summaries hold an overflowed number: %s", summaries.Body)
	}

	// Worker pools: the schema's bounds.
	for _, tt := range []struct{ name, config, want string }{
		{"scalingRatio", `{"minCapacity":0,"maxCapacity":4,"scalingRatio":1e308,"launchConfigs":[{"region":"us-east-1","capacityPerInstance":1,"launchConfig":{"ImageId":"ami-0123456789abcdef0","InstanceType":"m5.large"}}]}`, "scalingRatio"},
		{"maxCapacity", `{"minCapacity":0,"maxCapacity":1e308,"launchConfigs":[{"region":"us-east-1","capacityPerInstance":1,"launchConfig":{"ImageId":"ami-0123456789abcdef0","InstanceType":"m5.large"}}]}`, "maxCapacity"},
		{"capacityPerInstance", `{"minCapacity":0,"maxCapacity":4,"launchConfigs":[{"region":"us-east-1","capacityPerInstance":9223372036854775807,"launchConfig":{"ImageId":"ami-0123456789abcdef0","InstanceType":"m5.large"}}]}`, "capacityPerInstance"},
		{"utility", `{"minCapacity":0,"maxCapacity":4,"launchConfigs":[{"region":"us-east-1","capacityPerInstance":1,"utility":1e308,"launchConfig":{"ImageId":"ami-0123456789abcdef0","InstanceType":"m5.large"}}]}`, "utility"},
		{"maxPrice", `{"minCapacity":0,"maxCapacity":4,"launchConfigs":[{"region":"us-east-1","capacityPerInstance":1,"maxPrice":1e308,"launchConfig":{"ImageId":"ami-0123456789abcdef0","InstanceType":"m5.large"}}]}`, "maxPrice"},
	} {
		r := h.Do(h.Root, "PUT", wmBase+"/worker-pool/p%2Fbig", poolDef("aws", tt.config))
		if r.Status != 400 || !strings.Contains(string(r.Body), tt.want) || strings.Count(r.JSON(t)["message"].(string), "\n") != 0 {
			t.Errorf("pool %s: %d %s, want 400 naming it, and only it", tt.name, r.Status, truncate(r.Body))
		}
	}
	if r := h.Do(h.Root, "GET", wmBase+"/worker-pool/p%2Fbig", nil); r.Status != 404 {
		t.Errorf("a refused pool is stored: %d", r.Status)
	}

	// Static workers: capacity as sent, or refused.
	if r := h.Do(h.Root, "PUT", wmBase+"/worker-pool/p%2Fstatic", poolDef("static", `{}`)); r.Status != 200 {
		t.Fatalf("static pool: %d %s", r.Status, r.Body)
	}
	worker := func(capacity any) map[string]any {
		return map[string]any{"capacity": capacity, "expires": time.Now().Add(time.Hour), "providerInfo": map[string]any{"staticSecret": strings.Repeat("s", 44)}}
	}
	for _, c := range []any{json.Number("9223372036854775807"), json.Number("2147483648"), json.Number("1e30")} {
		r := h.Do(h.Root, "PUT", wmBase+"/workers/p%2Fstatic:/rack/big", worker(c))
		if r.Status != 400 || r.Code() != "InputValidationError" {
			t.Errorf("static worker capacity %v: %d %s, want 400", c, r.Status, truncate(r.Body))
		}
	}
	if r := h.Do(h.Root, "GET", wmBase+"/workers/p%2Fstatic:/rack/big", nil); r.Status != 404 {
		t.Errorf("a refused worker is stored: %d %s", r.Status, truncate(r.Body))
	}
	r := h.Do(h.Root, "PUT", wmBase+"/workers/p%2Fstatic:/rack/max", worker(2147483647))
	if r.Status != 200 || r.JSON(t)["capacity"] != float64(2147483647) {
		t.Errorf("static worker capacity 2147483647: %d %s", r.Status, truncate(r.Body))
	}
}

// TestAnswersThatNeverReachAHandlerAreTaskclusterShaped: unknown routes, wrong
// methods, oversized bodies and odd paths get a JSON error with code and message
// through the template's $default route, and a wrong method names the allowed ones.
func TestAnswersThatNeverReachAHandlerAreTaskclusterShaped(t *testing.T) {
	h := apptest.New(t)
	for _, tt := range []struct {
		method, path string
		body         any
		wantStatus   int
		wantCode     string
		wantAllow    string
	}{
		{"GET", "/nope", nil, 404, "ResourceNotFound", ""},
		{"GET", "/api/aws-provisioner/v1/nope", nil, 404, "ResourceNotFound", ""},
		{"GET", "/api/worker-manager/v2/providers", nil, 404, "ResourceNotFound", ""},
		{"PATCH", apBase + "/worker-type/wt", nil, 405, "MethodNotAllowed", "DELETE, GET, POST, PUT"},
		{"POST", apBase + "/list-worker-types", nil, 405, "MethodNotAllowed", "GET"},
		{"GET", wmBase + "/worker/register", nil, 405, "MethodNotAllowed", "POST"},
		{"DELETE", wmBase + "/providers", nil, 405, "MethodNotAllowed", "GET"},
		{"PUT", wmBase + "/worker-pool/a%2Fb", strings.Repeat(" ", 2<<20), 413, "InputTooLarge", ""},
		{"GET", apBase + "//list-worker-types", nil, 404, "ResourceNotFound", ""},
		{"GET", apBase + "/worker-type/../list-worker-types", nil, 400, "InputValidationError", ""}, // routed as API Gateway routes it
	} {
		r := h.DoRaw(tt.method, tt.path, tt.body)
		if r.Status != tt.wantStatus || r.Code() != tt.wantCode || !strings.Contains(string(r.Body), `"message":`) {
			t.Errorf("%s %s: %d %s, want %d %s with a message", tt.method, tt.path, r.Status, truncate(r.Body), tt.wantStatus, tt.wantCode)
		}
		if got := r.Header.Get("Allow"); got != tt.wantAllow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.wantAllow)
		}
	}
}

// TestReplayedWritesAreRefused: a captured, signed request that changes state is
// served once; replayed within the skew window it is a 401 and changes nothing.
// Reads stay replayable, as in Taskcluster.
func TestReplayedWritesAreRefused(t *testing.T) {
	h := apptest.New(t)
	send := func(req *http.Request, body []byte) apptest.Response {
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return apptest.Response{Status: resp.StatusCode, Body: out}
	}
	signed := func(method, path string, body []byte) *http.Request {
		req, _ := http.NewRequest(method, h.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if err := h.Root.SignRequest(req); err != nil {
			t.Fatal(err)
		}
		return req
	}
	v1, _ := json.Marshal(workerTypeDef(nil))
	if r := send(signed("PUT", apBase+"/worker-type/wt", v1), v1); r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, truncate(r.Body))
	}
	// An update to maxCapacity 20, captured, then a later one to 30.
	v2, _ := json.Marshal(workerTypeDef(func(d map[string]any) { d["maxCapacity"] = 20 }))
	captured := signed("POST", apBase+"/worker-type/wt/update", v2)
	if r := send(captured, v2); r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, truncate(r.Body))
	}
	v3, _ := json.Marshal(workerTypeDef(func(d map[string]any) { d["maxCapacity"] = 30 }))
	if r := send(signed("POST", apBase+"/worker-type/wt/update", v3), v3); r.Status != 200 {
		t.Fatalf("second update: %d %s", r.Status, truncate(r.Body))
	}
	r := send(captured, v2)
	if r.Status != 401 || r.Code() != "AuthenticationFailed" || !strings.Contains(string(r.Body), "already served") {
		t.Errorf("replayed update: %d %s, want 401 saying it was already served", r.Status, truncate(r.Body))
	}
	if got := h.Do(h.Root, "GET", apBase+"/worker-type/wt", nil).JSON(t); got["maxCapacity"] != float64(30) {
		t.Errorf("after the replay maxCapacity is %v, want 30: the replay rolled the definition back", got["maxCapacity"])
	}
	// Concurrent replays of one fresh request: exactly one is served.
	del := signed("DELETE", apBase+"/worker-type/wt", nil)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() { defer wg.Done(); statuses[i] = send(del, nil).Status }()
	}
	wg.Wait()
	served := 0
	for _, s := range statuses {
		switch s {
		case 204: // removeWorkerType, as the aws-provisioner answers it
			served++
		case 401:
		default:
			t.Errorf("concurrent replay: %d", s)
		}
	}
	if served != 1 {
		t.Errorf("%d of %d concurrent copies of one request were served, want 1 (%v)", served, len(statuses), statuses)
	}
	// Reads are not tracked.
	read := signed("GET", apBase+"/list-worker-types", nil)
	for range 2 {
		if r := send(read, nil); r.Status != 200 {
			t.Errorf("a repeated read: %d %s, want 200", r.Status, truncate(r.Body))
		}
	}
}

// BenchmarkReplayProtection is what replay protection adds to a request that
// changes state: authenticating a signed POST with the nonce table (one
// conditional PutItem to DynamoDB Local) and without.
func BenchmarkReplayProtection(b *testing.B) {
	h := apptest.New(b)
	root := &tcclient.Credentials{ClientID: "root", AccessToken: apptest.RootToken}
	for _, tt := range []struct {
		name    string
		replays auth.ReplayGuard
	}{
		{"without", nil},
		{"with", h.App.Auth.Replays},
	} {
		b.Run(tt.name, func(b *testing.B) {
			a := *h.App.Auth
			a.Replays = tt.replays
			for b.Loop() {
				req, _ := http.NewRequest("POST", "http://localhost:80"+apBase+"/worker-type/wt/update", nil)
				if err := root.SignRequest(req); err != nil {
					b.Fatal(err)
				}
				_, err := a.Authenticate(context.Background(), auth.Request{Method: "POST", Host: "localhost", Port: "80",
					Resources: []string{apBase + "/worker-type/wt/update"}, Authorization: req.Header.Get("Authorization")})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestClientIDsAreBoundedAtCreation: a client whose id could never authenticate (over
// auth.MaxClientIDLength, or outside the pattern) is refused when created, and
// nothing is stored; one at the bound works.
func TestClientIDsAreBoundedAtCreation(t *testing.T) {
	h := apptest.New(t)
	ctx := context.Background()
	for _, id := range []string{strings.Repeat("c", auth.MaxClientIDLength+1), "has space", ""} {
		if _, err := h.App.CreateClient(ctx, id, "too long", []string{"*"}, time.Time{}); err == nil {
			t.Errorf("CreateClient(%.20q…, %d bytes) accepted", id, len(id))
		}
		if _, err := h.App.Store.Client(ctx, id); id != "" && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused client (%d bytes) was stored: %v", len(id), err)
		}
	}
	id := strings.Repeat("c", auth.MaxClientIDLength)
	tok, err := h.App.CreateClient(ctx, id, "at the bound", []string{"queue:*"}, time.Time{})
	if err != nil {
		t.Fatalf("CreateClient at the bound: %v", err)
	}
	if r := h.Do(&tcclient.Credentials{ClientID: id, AccessToken: tok}, "DELETE", apBase+"/worker-type/absent", nil); r.Status == 401 {
		t.Errorf("the client at the bound does not authenticate: %d %s", r.Status, truncate(r.Body))
	}
}
