package awsprovisioner_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/awsprovisioner"
	"github.com/workerfleet/workerfleet/shared/dev/apptest"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/slugid"
	"github.com/workerfleet/workerfleet/shared/store"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

const base = "/api/aws-provisioner/v1"

// definition is a valid worker type definition; its scopes are ["queue:claim-work:*"].
func definition(mutate ...func(map[string]any)) map[string]any {
	d := map[string]any{
		"description": "build workers", "owner": "ci@example.com",
		"minCapacity": 0, "maxCapacity": 10, "scalingRatio": 0, "minPrice": 0, "maxPrice": 0.5,
		"canUseSpot": true, "canUseOndemand": false,
		"launchSpec": map[string]any{"KeyName": "ci"}, "userData": map[string]any{"a": 1}, "secrets": map[string]any{"s": "v"},
		"scopes":        []string{"queue:claim-work:*"},
		"regions":       []any{map[string]any{"region": "us-east-1", "launchSpec": map[string]any{"ImageId": "ami-0123456789abcdef0"}, "userData": map[string]any{}, "secrets": map[string]any{}, "scopes": []string{}}},
		"instanceTypes": []any{map[string]any{"instanceType": "m5.large", "capacity": 1, "utility": 1, "launchSpec": map[string]any{}, "userData": map[string]any{}, "secrets": map[string]any{}, "scopes": []string{}}},
	}
	for _, m := range mutate {
		m(d)
	}
	return d
}

func TestWorkerTypeLifecycle(t *testing.T) {
	h := apptest.New(t)
	path := base + "/worker-type/gecko-b"

	r := h.Do(h.Root, "PUT", path, definition())
	if r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	created := r.JSON(t)
	if created["workerType"] != "gecko-b" || created["lastModified"] == nil || created["owner"] != "ci@example.com" {
		t.Errorf("created %v", created)
	}
	if r := h.Do(h.Root, "PUT", path, definition()); r.Status != 200 {
		t.Errorf("the same definition again: %d %s, want 200 (idempotent)", r.Status, r.Body)
	}
	if r := h.Do(h.Root, "PUT", path, definition(func(d map[string]any) { d["maxCapacity"] = 11 })); r.Status != 409 || r.Code() != "RequestConflict" {
		t.Errorf("a different definition under the name: %d %s, want 409", r.Status, r.Body)
	}

	// The definition reads back as written, workerType and lastModified after it.
	raw := h.Do(h.Root, "GET", path, nil).Body
	written, _ := json.Marshal(definition())
	if want := strings.TrimSuffix(string(written), "}") + `,"workerType":"gecko-b","lastModified":` + fmt.Sprintf("%q", created["lastModified"]) + "}"; string(raw) != want {
		t.Errorf("workerType returned\n%s\nwant the definition as written\n%s", raw, want)
	}
	// A PUT of what a GET returned is a no-op (the seed asks callers to drop
	// workerType and lastModified first; they may stay, workerType must match).
	got := h.Do(h.Root, "GET", path, nil).JSON(t)
	if r := h.Do(h.Root, "PUT", path, got); r.Status != 200 || r.JSON(t)["lastModified"] != created["lastModified"] {
		t.Errorf("create with a GET body: %d %s, want 200 and nothing changed", r.Status, r.Body)
	}
	got["workerType"] = "another"
	if r := h.Do(h.Root, "POST", path+"/update", got); r.Status != 400 {
		t.Errorf("update naming another workerType in the body: %d, want 400", r.Status)
	}
	got["workerType"] = "gecko-b"
	got["maxCapacity"] = 20
	time.Sleep(2 * time.Millisecond)
	r = h.Do(h.Root, "POST", path+"/update", got)
	if r.Status != 200 || r.JSON(t)["maxCapacity"] != float64(20) {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if r.JSON(t)["lastModified"].(string) <= created["lastModified"].(string) {
		t.Errorf("lastModified did not move forward: %v -> %v", created["lastModified"], r.JSON(t)["lastModified"])
	}
	lm := h.Do(nil, "GET", base+"/worker-type-last-modified/gecko-b", nil).JSON(t)
	if lm["lastModified"] != r.JSON(t)["lastModified"] || lm["workerType"] != "gecko-b" {
		t.Errorf("workerTypeLastModified %v", lm)
	}
	if r := h.Do(h.Root, "POST", base+"/worker-type/absent/update", definition()); r.Status != 404 {
		t.Errorf("update of an absent worker type: %d", r.Status)
	}

	h.Do(h.Root, "PUT", base+"/worker-type/another", definition())
	var names []string
	_ = json.Unmarshal(h.Do(nil, "GET", base+"/list-worker-types", nil).Body, &names)
	if strings.Join(names, ",") != "another,gecko-b" {
		t.Errorf("listWorkerTypes = %v", names)
	}
	if r := h.Do(h.Root, "DELETE", path, nil); r.Status != 204 || len(r.Body) != 0 {
		t.Errorf("remove: %d %s, want 204 and no body", r.Status, r.Body)
	}
	if r := h.Do(h.Root, "GET", path, nil); r.Status != 404 || r.Code() != "ResourceNotFound" {
		t.Errorf("after remove: %d %s", r.Status, r.Body)
	}
	// The aws-provisioner answered 204 for a missing worker type too, so that
	// "ensure deleted" scripts pass.
	if r := h.Do(h.Root, "DELETE", path, nil); r.Status != 204 {
		t.Errorf("remove again: %d, want 204 as the aws-provisioner", r.Status)
	}
}

// TestWorkerTypeNamesWithSlashes: workerType allows '/', '+' and '='; the official
// client escapes them, API Gateway decodes them, the router and the signature cope.
func TestWorkerTypeNamesWithSlashes(t *testing.T) {
	h := apptest.New(t)
	name := "a/b+c=d"
	path := base + "/worker-type/" + url.QueryEscape(name)
	if r := h.Do(h.Root, "PUT", path, definition()); r.Status != 200 || r.JSON(t)["workerType"] != name {
		t.Fatalf("create %q: %d %s", name, r.Status, r.Body)
	}
	if r := h.Do(h.Root, "GET", path+"/launch-specifications", nil); r.Status != 200 {
		t.Errorf("launch specs of %q: %d %s", name, r.Status, r.Body)
	}
	if r := h.Do(h.Root, "POST", path+"/update", definition()); r.Status != 200 {
		t.Errorf("update %q: %d %s", name, r.Status, r.Body)
	}
}

// TestWrongMethodOnSubRouteCreatesNothing: "PUT .../gecko/update" reads like a
// createWorkerType of "gecko/update"; it is refused and stores nothing.
func TestWrongMethodOnSubRouteCreatesNothing(t *testing.T) {
	h := apptest.New(t)
	for _, name := range []string{"gecko/update", "a/b/update"} {
		r := h.Do(h.Root, "PUT", base+"/worker-type/"+name, definition())
		if r.Status != 400 || !strings.Contains(string(r.Body), "POST /worker-type/<workerType>/update") {
			t.Errorf("PUT %s: %d %s, want 400 naming the update route", name, r.Status, r.Body)
		}
	}
	var names []string
	_ = json.Unmarshal(h.Do(nil, "GET", base+"/list-worker-types", nil).Body, &names)
	if len(names) != 0 {
		t.Errorf("worker types after refused creates: %v", names)
	}
	if r := h.Do(h.Root, "PUT", base+"/worker-type/update", definition()); r.Status != 200 {
		t.Errorf("a plain name \"update\" is fine: %d %s", r.Status, r.Body)
	}
}

func TestLaunchSpecsStateSummariesAndBackendStatus(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-type/wt", definition())
	specs := h.Do(h.Root, "GET", base+"/worker-type/wt/launch-specifications", nil).JSON(t)
	spec := specs["us-east-1"].(map[string]any)["m5.large"].(map[string]any)
	ls := spec["launchSpec"].(map[string]any)
	ud := spec["userData"].(map[string]any)
	if ls["ImageId"] != "ami-0123456789abcdef0" || ls["InstanceType"] != "m5.large" || ls["KeyName"] != "ci" ||
		ud["securityToken"] != "<generated per instance>" || ud["workerType"] != "wt" || !strings.HasSuffix(ud["provisionerBaseUrl"].(string), "/api/aws-provisioner/v1") {
		t.Errorf("launch spec %v", spec)
	}

	st := h.App.Store
	for i, w := range []store.Worker{
		{State: store.Requested},
		{State: store.Requested, EC2State: "pending"},
		{State: store.Requested, EC2State: "running"},
		{State: store.Running, EC2State: "running"},
		{State: store.Stopped, EC2State: "terminated"},
	} {
		w.Pool, w.WorkerGroup, w.WorkerID, w.InstanceID, w.Capacity = store.WorkerTypePool("wt"), "us-east-1", fmt.Sprintf("i-%d", i), fmt.Sprintf("i-%d", i), 2
		if _, err := st.CreateWorker(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	var sums []map[string]any
	_ = json.Unmarshal(h.Do(nil, "GET", base+"/list-worker-type-summaries", nil).Body, &sums)
	want := map[string]any{"workerType": "wt", "minCapacity": 0.0, "maxCapacity": 10.0, "requestedCapacity": 2.0, "pendingCapacity": 2.0, "runningCapacity": 4.0}
	if len(sums) != 1 || fmt.Sprint(sums[0]) != fmt.Sprint(want) {
		t.Errorf("summaries %v, want [%v]", sums, want)
	}
	// state lists the live instances, not the stopped one (issue 22: a read's cost
	// follows what runs, not the day's launches).
	state := h.Do(nil, "GET", base+"/state/wt", nil).JSON(t)
	if n := len(state["instances"].([]any)); n != 4 || fmt.Sprint(state["summary"]) != fmt.Sprint(want) {
		t.Errorf("state: %d instances, summary %v", n, state["summary"])
	}
	if r := h.Do(nil, "GET", base+"/state/nothing-here", nil); r.Status != 404 {
		t.Errorf("state of an unknown worker type: %d", r.Status)
	}

	if r := h.Do(nil, "GET", base+"/backend-status", nil).JSON(t); r["status"] != "pending" {
		t.Errorf("before any iteration: %v", r)
	}
	if err := st.RecordCheckIn(ctx, store.CheckIn{Time: st.Now(), Iteration: "it-1", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	if r := h.Do(nil, "GET", base+"/backend-status", nil).JSON(t); r["status"] != "healthy" || r["lastCheckedIn"] == nil {
		t.Errorf("after a check-in: %v", r)
	}
}

// TestScopeMatrix: for each endpoint that needs scopes, a client holding exactly them
// succeeds; one lacking any of them, and an anonymous caller, get 403.
func TestScopeMatrix(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-type/wt", definition())
	token := slugid.Nice()
	secret := func(tok string, scopes ...string) map[string]any {
		if scopes == nil {
			scopes = []string{}
		}
		return map[string]any{"token": tok, "workerType": "wt", "secrets": map[string]any{"k": "v"}, "scopes": scopes,
			"expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	}
	tests := []struct {
		name     string
		method   string
		path     func() string
		body     func() any
		required []string
	}{
		{"createWorkerType", "PUT", func() string { return base + "/worker-type/new-" + slugid.Nice()[:8] }, func() any { return definition() },
			[]string{"aws-provisioner:manage-worker-type:*", "queue:claim-work:*", "assume:worker-type:aws-provisioner-v1/*", "assume:worker-id:*"}},
		{"updateWorkerType", "POST", func() string { return base + "/worker-type/wt/update" }, func() any { return definition() },
			[]string{"aws-provisioner:manage-worker-type:wt", "queue:claim-work:*", "assume:worker-type:aws-provisioner-v1/wt", "assume:worker-id:*"}},
		{"workerType (view)", "GET", func() string { return base + "/worker-type/wt" }, nil, []string{"aws-provisioner:view-worker-type:wt"}},
		{"workerType (manage)", "GET", func() string { return base + "/worker-type/wt" }, nil, []string{"aws-provisioner:manage-worker-type:wt"}},
		{"getLaunchSpecs", "GET", func() string { return base + "/worker-type/wt/launch-specifications" }, nil, []string{"aws-provisioner:view-worker-type:wt"}},
		{"createSecret", "PUT", func() string { token = slugid.Nice(); return base + "/secret/" + token }, func() any { return secret(token, "a:b") },
			[]string{"aws-provisioner:create-secret:wt", "a:b", "assume:worker-type:aws-provisioner-v1/wt", "assume:worker-id:*"}},
		// A secret without scopes still carries what getSecret adds (issue 22).
		{"createSecret (no scopes)", "PUT", func() string { token = slugid.Nice(); return base + "/secret/" + token }, func() any { return secret(token) },
			[]string{"aws-provisioner:create-secret:wt", "assume:worker-type:aws-provisioner-v1/wt", "assume:worker-id:*"}},
		{"removeWorkerType", "DELETE", func() string {
			name := "rm-" + slugid.Nice()[:8]
			h.Do(h.Root, "PUT", base+"/worker-type/"+name, definition())
			return base + "/worker-type/" + name
		}, nil, []string{"aws-provisioner:manage-worker-type:rm-*"}},
	}
	n := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := func() any {
				if tt.body == nil {
					return nil
				}
				return tt.body()
			}
			n++
			enough := h.Client(fmt.Sprintf("exact-%d", n), tt.required...)
			if r := h.Do(enough, tt.method, tt.path(), body()); r.Status != 200 && r.Status != 204 {
				t.Errorf("with exactly %v: %d %s", tt.required, r.Status, r.Body)
			}
			for i := range tt.required {
				less := append(append([]string{}, tt.required[:i]...), tt.required[i+1:]...)
				c := h.Client(fmt.Sprintf("less-%d-%d", n, i), less...)
				if r := h.Do(c, tt.method, tt.path(), body()); r.Status != 403 || r.Code() != "InsufficientScopes" {
					t.Errorf("without %q: %d %s, want 403", tt.required[i], r.Status, r.Body)
				}
			}
			if r := h.Do(nil, tt.method, tt.path(), body()); r.Status != 403 {
				t.Errorf("anonymous: %d %s, want 403", r.Status, r.Body)
			}
		})
	}
	for _, p := range []string{"/ping", "/backend-status", "/list-worker-type-summaries", "/list-worker-types", "/worker-type-last-modified/wt", "/state/wt"} {
		if r := h.Do(nil, "GET", base+p, nil); r.Status != 200 {
			t.Errorf("anonymous GET %s: %d %s", p, r.Status, r.Body)
		}
	}
}

func TestAuthenticationFailuresOverHTTP(t *testing.T) {
	h := apptest.New(t)
	user := h.Client("user", "aws-provisioner:view-worker-type:*")
	h.Do(h.Root, "PUT", base+"/worker-type/wt", definition())
	path := base + "/worker-type/wt"
	expired, _ := user.CreateTemporaryCredentials(time.Hour, "aws-provisioner:view-worker-type:*")
	var cert map[string]any
	_ = json.Unmarshal([]byte(expired.Certificate), &cert)
	cert["expiry"] = time.Now().Add(-time.Hour).UnixMilli()
	raw, _ := json.Marshal(cert)
	expired.Certificate = string(raw)
	for name, creds := range map[string]*tcclient.Credentials{
		"wrong token":  {ClientID: "user", AccessToken: "wrong"},
		"unknown":      {ClientID: "nobody", AccessToken: "x"},
		"expired cert": expired,
		"widening":     {ClientID: "user", AccessToken: user.AccessToken, AuthorizedScopes: []string{"*"}},
	} {
		if r := h.Do(creds, "GET", path, nil); r.Status != 401 || r.Code() != "AuthenticationFailed" {
			t.Errorf("%s: %d %s, want 401", name, r.Status, r.Body)
		}
	}
	client := &tcclient.Client{Credentials: user, RootURL: h.URL, ServiceName: "aws-provisioner", APIVersion: "v1", Authenticate: true}
	u, err := client.SignedURL("/worker-type/wt", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Do(nil, "GET", u.RequestURI(), nil); r.Status != 200 {
		t.Errorf("signed URL: %d %s", r.Status, r.Body)
	}
	tampered := strings.Replace(u.RequestURI(), "/worker-type/wt", "/worker-type/wt/launch-specifications", 1)
	if r := h.Do(nil, "GET", tampered, nil); r.Status != 401 {
		t.Errorf("a bewit moved to another path: %d %s, want 401", r.Status, r.Body)
	}
}

// TestBadInputChangesNothing: every kind of bad request is a 4xx with a
// Taskcluster-style body, and leaves the store as it was.
func TestBadInputChangesNothing(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-type/wt", definition())
	before := h.Do(h.Root, "GET", base+"/worker-type/wt", nil).Body
	tests := []struct {
		name, method, path string
		body               any
	}{
		{"malformed JSON", "PUT", "/worker-type/x", `{"description":`},
		{"wrong type", "PUT", "/worker-type/x", definition(func(d map[string]any) { d["maxCapacity"] = "ten" })},
		{"invalid name", "PUT", "/worker-type/" + url.QueryEscape("bad name!"), definition()},
		{"name too long", "PUT", "/worker-type/" + strings.Repeat("a", 23), definition()},
		{"min above max", "PUT", "/worker-type/x", definition(func(d map[string]any) { d["minCapacity"] = 20 })},
		{"zero utility", "PUT", "/worker-type/x", definition(func(d map[string]any) {
			d["instanceTypes"].([]any)[0].(map[string]any)["utility"] = 0
		})},
		{"unknown launch spec field", "PUT", "/worker-type/x", definition(func(d map[string]any) { d["launchSpec"] = map[string]any{"NoSuchField": 1} })},
		{"region not allowed", "PUT", "/worker-type/x", definition(func(d map[string]any) {
			d["regions"].([]any)[0].(map[string]any)["region"] = "ap-south-1"
		})},
		{"oversize body", "PUT", "/worker-type/x", strings.Repeat(" ", 2<<20)},
		{"update breaking the definition", "POST", "/worker-type/wt/update", definition(func(d map[string]any) { d["regions"] = []any{} })},
		{"secret for another path token", "PUT", "/secret/" + slugid.Nice(), map[string]any{"token": slugid.Nice(), "workerType": "wt", "secrets": map[string]any{}, "scopes": []string{}, "expiration": time.Now().Add(time.Hour)}},
		{"secret expired", "PUT", "/secret/AAAAAAAAQAAAAAAAAAAAAA", map[string]any{"token": "AAAAAAAAQAAAAAAAAAAAAA", "workerType": "wt", "secrets": map[string]any{}, "scopes": []string{}, "expiration": time.Now().Add(-time.Hour)}},
		{"secret not a slugid", "PUT", "/secret/short", map[string]any{"token": "short", "workerType": "wt", "secrets": map[string]any{}, "scopes": []string{}, "expiration": time.Now().Add(time.Hour)}},
	}
	for _, tt := range tests {
		r := h.Do(h.Root, tt.method, base+tt.path, tt.body)
		if r.Status < 400 || r.Status >= 500 || r.Code() == "" {
			t.Errorf("%s: %d %s; want a 4xx with a code", tt.name, r.Status, r.Body)
		}
	}
	var names []string
	_ = json.Unmarshal(h.Do(nil, "GET", base+"/list-worker-types", nil).Body, &names)
	if len(names) != 1 {
		t.Errorf("worker types after bad requests: %v, want only wt", names)
	}
	if after := h.Do(h.Root, "GET", base+"/worker-type/wt", nil).Body; string(after) != string(before) {
		t.Errorf("wt changed:\n%s\n%s", before, after)
	}
}

func TestSecrets(t *testing.T) {
	h := apptest.New(t)
	token := slugid.Nice()
	body := map[string]any{"token": token, "workerType": "wt", "secrets": map[string]any{"password": "hunter2"}, "scopes": []string{"queue:claim-work:x"},
		"expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	if r := h.Do(h.Root, "PUT", base+"/secret/"+token, body); r.Status != 200 {
		t.Fatalf("createSecret: %d %s", r.Status, r.Body)
	}
	if r := h.Do(h.Root, "PUT", base+"/secret/"+token, body); r.Status != 200 {
		t.Errorf("the same secret again: %d %s", r.Status, r.Body)
	}

	// Two concurrent reads: exactly one wins.
	var wg sync.WaitGroup
	results := make([]apptest.Response, 4)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = h.Do(nil, "GET", base+"/secret/"+token, nil) }()
	}
	wg.Wait()
	var won *apptest.Response
	for i := range results {
		switch results[i].Status {
		case 200:
			if won != nil {
				t.Fatal("two readers got the secret")
			}
			won = &results[i]
		case 404:
		default:
			t.Errorf("reader got %d %s", results[i].Status, results[i].Body)
		}
	}
	if won == nil {
		t.Fatal("no reader got the secret")
	}
	var got struct {
		Credentials struct{ ClientID, AccessToken, Certificate string }
		Data        map[string]string
		Scopes      []string
	}
	_ = json.Unmarshal(won.Body, &got)
	if got.Data["password"] != "hunter2" || len(got.Scopes) != 1 || got.Credentials.ClientID != "aws-provisioner/wt" || got.Credentials.Certificate == "" {
		t.Fatalf("getSecret answer %s", won.Body)
	}
	// The credentials work, with the aws-provisioner's scopes and the secret's.
	creds := &tcclient.Credentials{ClientID: got.Credentials.ClientID, AccessToken: got.Credentials.AccessToken, Certificate: got.Credentials.Certificate}
	c, err := h.App.Auth.Authenticate(ctx, authRequest(t, creds))
	if err != nil || c.ClientID != "aws-provisioner/wt" || fmt.Sprint(c.Scopes) != "[assume:worker-type:aws-provisioner-v1/wt assume:worker-id:* queue:claim-work:x]" {
		t.Errorf("issued credentials: %+v, %v", c, err)
	}
	if r := h.Do(nil, "GET", base+"/secret/"+token, nil); r.Status != 404 {
		t.Errorf("second read: %d", r.Status)
	}
	for range 2 {
		if r := h.Do(nil, "DELETE", base+"/secret/"+token, nil); r.Status != 200 {
			t.Errorf("removeSecret (idempotent): %d %s", r.Status, r.Body)
		}
	}
	if r := h.Do(h.Root, "PUT", base+"/secret/"+token, body); r.Status != 409 {
		t.Errorf("re-creating a used token: %d %s, want 409", r.Status, r.Body)
	}
	other := slugid.Nice()
	body["token"] = other
	h.Do(h.Root, "PUT", base+"/secret/"+other, body)
	h.Do(nil, "DELETE", base+"/secret/"+other, nil)
	if r := h.Do(nil, "GET", base+"/secret/"+other, nil); r.Status != 404 {
		t.Errorf("reading a removed secret: %d", r.Status)
	}
}

func TestInstanceStarted(t *testing.T) {
	h := apptest.New(t)
	token := slugid.Nice()
	sum := sha256.Sum256([]byte(token))
	w, err := h.App.Store.CreateWorker(ctx, store.Worker{Pool: store.WorkerTypePool("wt"), WorkerGroup: "us-east-1", WorkerID: "i-abc", InstanceID: "i-abc", SecretTokenHash: sum[:]})
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Do(nil, "GET", base+"/instance-started/i-abc/"+slugid.Nice(), nil); r.Status != 404 {
		t.Errorf("wrong token: %d", r.Status)
	}
	if r := h.Do(nil, "GET", base+"/instance-started/i-nope/"+token, nil); r.Status != 404 {
		t.Errorf("unknown instance: %d", r.Status)
	}
	if got, _ := h.App.Store.Worker(ctx, w.Pool, "us-east-1", "i-abc"); got.State != store.Requested {
		t.Fatalf("refused calls changed the worker: %s", got.State)
	}
	if r := h.Do(nil, "GET", base+"/instance-started/i-abc/"+token, nil); r.Status != 200 {
		t.Errorf("right token: %d %s", r.Status, r.Body)
	}
	if got, _ := h.App.Store.Worker(ctx, w.Pool, "us-east-1", "i-abc"); got.State != store.Running || got.Registered.IsZero() {
		t.Errorf("after instanceStarted: %s", got.State)
	}
}

// FuzzCreateWorkerType: no body makes createWorkerType, called by root (so that the
// body really is decoded and validated), answer 5xx or panic.
func FuzzCreateWorkerType(f *testing.F) {
	good, _ := json.Marshal(definition())
	f.Add(good)
	f.Add([]byte(`{"regions":[{"region":"us-east-1","launchSpec":{"ImageId":1}}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"instanceTypes":[{"capacity":1e400}]}`))
	h := apptest.New(f)
	api := h.App.HTTPFunctions()["AwsProvisionerApiFunction"]
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("PUT", "http://localhost"+base+"/worker-type/fuzz", bytes.NewReader(body))
		if err := h.Root.SignRequest(req); err != nil {
			t.Fatal(err)
		}
		ev := events.APIGatewayV2HTTPRequest{RawPath: base + "/worker-type/fuzz", Body: string(body),
			Headers: map[string]string{"host": "localhost", "x-forwarded-proto": "http", "authorization": req.Header.Get("Authorization")}}
		ev.RequestContext.HTTP.Method = "PUT"
		resp, _ := api.Serve(ctx, ev)
		if resp.StatusCode >= 500 || resp.StatusCode == 401 || resp.StatusCode == 403 {
			t.Fatalf("body %q: %d %s", body, resp.StatusCode, resp.Body)
		}
	})
}

// authRequest is what the HTTP layer hands the authenticator for a GET signed with creds.
func authRequest(t *testing.T, creds *tcclient.Credentials) auth.Request {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://localhost:80/x", nil)
	if err := creds.SignRequest(req); err != nil {
		t.Fatal(err)
	}
	return auth.Request{Method: "GET", Host: "localhost", Port: "80", Resources: []string{"/x"}, Authorization: req.Header.Get("Authorization")}
}

// TestSecretsNeverLogged: the secret's data and its token (the credential that reads
// it) appear in no log line, at any level, whatever the request does with them.
func TestSecretsNeverLogged(t *testing.T) {
	var logs bytes.Buffer
	h := apptest.New(t, app.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	token, secret := slugid.Nice(), "hunter2-"+slugid.Nice()
	body := map[string]any{"token": token, "workerType": "wt", "secrets": map[string]any{"password": secret}, "scopes": []string{},
		"expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	if r := h.Do(h.Root, "PUT", base+"/secret/"+token, body); r.Status != 200 {
		t.Fatalf("createSecret: %d %s", r.Status, r.Body)
	}
	h.Do(h.Root, "PUT", base+"/secret/"+token, map[string]any{"token": token, "workerType": "bad name!"})
	h.Do(nil, "GET", base+"/instance-started/i-0123/"+token, nil)
	if r := h.Do(nil, "GET", base+"/secret/"+token, nil); r.Status != 200 {
		t.Fatalf("getSecret: %d %s", r.Status, r.Body)
	}
	h.Do(nil, "GET", base+"/secret/"+token, nil)
	h.Do(nil, "DELETE", base+"/secret/"+token, nil)

	if !strings.Contains(logs.String(), `"route":"getSecret"`) || !strings.Contains(logs.String(), "/secret/<redacted>") {
		t.Fatalf("the requests were not logged as expected:\n%s", logs.String())
	}
	for _, s := range []string{token, secret} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("%q appears in the logs:\n%s", s, logs.String())
		}
	}
}

// TestEveryWorkerTypeNameGetsItsSecret: every name the seed's pattern allows, '='
// included (client ids do not allow it), trades its secret for working credentials.
func TestEveryWorkerTypeNameGetsItsSecret(t *testing.T) {
	h := apptest.New(t)
	for _, tt := range []struct{ name, clientID string }{
		{"rt=boot", "aws-provisioner/rt.boot"},
		{"b64+/==", "aws-provisioner/b64+/.."},
		{"A-Za-z0-9_+/=x", "aws-provisioner/A-Za-z0-9_+/.x"},
		{"=", "aws-provisioner/."},
		{"aaaaaaaaaaaaaaaaaaaaa=", "aws-provisioner/aaaaaaaaaaaaaaaaaaaaa."},
	} {
		token := slugid.Nice()
		body := map[string]any{"token": token, "workerType": tt.name, "secrets": map[string]any{"k": "v"}, "scopes": []string{"queue:claim-work:x"},
			"expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
		if r := h.Do(h.Root, "PUT", base+"/secret/"+token, body); r.Status != 200 {
			t.Fatalf("%s: createSecret: %d %s", tt.name, r.Status, r.Body)
		}
		r := h.Do(nil, "GET", base+"/secret/"+token, nil)
		if r.Status != 200 {
			t.Errorf("%s: getSecret: %d %s", tt.name, r.Status, r.Body)
			continue
		}
		var got struct {
			Credentials struct{ ClientID, AccessToken, Certificate string }
		}
		_ = json.Unmarshal(r.Body, &got)
		creds := &tcclient.Credentials{ClientID: got.Credentials.ClientID, AccessToken: got.Credentials.AccessToken, Certificate: got.Credentials.Certificate}
		if c, err := h.App.Auth.Authenticate(ctx, authRequest(t, creds)); err != nil || c.ClientID != tt.clientID {
			t.Errorf("%s: the credentials authenticate as %+v, %v; want %s", tt.name, c, err, tt.clientID)
		}
	}
}

// failingIssuer issues nothing.
type failingIssuer struct{}

func (failingIssuer) Temporary(string, []string, time.Time, time.Time) (auth.Credentials, error) {
	return auth.Credentials{}, fmt.Errorf("issuer unavailable")
}

// TestFailedGetSecretKeepsTheSecret: a getSecret that fails (here: credentials
// cannot be issued) answers 500 and leaves the secret for the worker's retry.
func TestFailedGetSecretKeepsTheSecret(t *testing.T) {
	h := apptest.New(t)
	token := slugid.Nice()
	body := map[string]any{"token": token, "workerType": "wt", "secrets": map[string]any{"k": "v"}, "scopes": []string{},
		"expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	if r := h.Do(h.Root, "PUT", base+"/secret/"+token, body); r.Status != 200 {
		t.Fatalf("createSecret: %d %s", r.Status, r.Body)
	}
	broken := &awsprovisioner.Service{Store: h.App.Store, Authn: h.App.HTTPAuth(), Issuer: failingIssuer{}, Log: apptest.Quiet}
	ev := events.APIGatewayV2HTTPRequest{RawPath: base + "/secret/" + token, Headers: map[string]string{"host": "localhost"}}
	ev.RequestContext.HTTP.Method = "GET"
	resp, _ := broken.SecretsAPI().Serve(ctx, ev)
	if resp.StatusCode != 500 || !strings.Contains(resp.Body, `"code":"InternalServerError"`) {
		t.Fatalf("getSecret with a failing issuer: %d %s, want 500", resp.StatusCode, resp.Body)
	}
	if r := h.Do(nil, "GET", base+"/secret/"+token, nil); r.Status != 200 {
		t.Errorf("the retry: %d %s, want 200: the failed read consumed the secret", r.Status, r.Body)
	}
}

// stubResources knows some images and security groups per region, or fails.
type stubResources struct {
	images, groups map[string][]string // region -> ids / names
	err            error
}

func missingOf(known, asked []string) []string {
	var out []string
	for _, a := range asked {
		if !slices.Contains(known, a) {
			out = append(out, a)
		}
	}
	return out
}

func (s stubResources) MissingImages(_ context.Context, region string, ids []string) ([]string, error) {
	return missingOf(s.images[region], ids), s.err
}

func (s stubResources) MissingSecurityGroups(_ context.Context, region string, names []string) ([]string, error) {
	return missingOf(s.groups[region], names), s.err
}

// TestWorkerTypeResourcesMustExist: as the aws-provisioner's workerTypeCanLaunch, a
// worker type whose region lacks its AMI, or the security groups (by name) its launch
// specs name, is an InputError "Invalid workerType: ..." at create and update, and
// nothing is stored.
func TestWorkerTypeResourcesMustExist(t *testing.T) {
	stub := &stubResources{images: map[string][]string{"us-east-1": {"ami-0123456789abcdef0"}}, groups: map[string][]string{"us-east-1": {"livelog-direct"}}}
	h := apptest.New(t, app.WithResourceChecks(func(aws.Config, string) awsprovisioner.ResourceChecker { return stub }))
	path := base + "/worker-type/checked"
	tests := []struct {
		name   string
		edit   func(d map[string]any)
		status int
		want   string
	}{
		{"the AMI missing", func(d map[string]any) {
			d["regions"].([]any)[0].(map[string]any)["launchSpec"] = map[string]any{"ImageId": "ami-00000000000000000"}
		}, 400, "Invalid workerType: ami-00000000000000000 not found in us-east-1"},
		{"a security group missing", func(d map[string]any) {
			d["launchSpec"] = map[string]any{"SecurityGroups": []string{"livelog-direct", "no-such-group"}}
		}, 400, "Invalid workerType: security groups no-such-group not found in us-east-1"},
	}
	for _, tt := range tests {
		r := h.Do(h.Root, "PUT", path, definition(tt.edit))
		if r.Status != tt.status || r.Code() != "InputError" || !strings.Contains(string(r.Body), tt.want) {
			t.Errorf("%s: %d %s, want %d InputError %q", tt.name, r.Status, r.Body, tt.status, tt.want)
		}
	}
	stub.err = errors.New("RequestLimitExceeded")
	if r := h.Do(h.Root, "PUT", path, definition()); r.Status != 503 {
		t.Errorf("EC2 failing: %d %s, want 503", r.Status, r.Body)
	}
	if r := h.Do(h.Root, "GET", path, nil); r.Status != 404 {
		t.Errorf("refused definitions stored something: %d %s", r.Status, r.Body)
	}
	stub.err = nil
	withGroup := definition(func(d map[string]any) { d["launchSpec"] = map[string]any{"SecurityGroups": []string{"livelog-direct"}} })
	if r := h.Do(h.Root, "PUT", path, withGroup); r.Status != 200 {
		t.Errorf("AMI and groups that exist: %d %s", r.Status, r.Body)
	}
	if r := h.Do(h.Root, "POST", path+"/update", definition(tests[0].edit)); r.Status != 400 {
		t.Errorf("update to a missing AMI: %d %s, want 400", r.Status, r.Body)
	}
}
