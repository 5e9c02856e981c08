package app_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/statuspage"
	"github.com/workerfleet/workerfleet/shared/store"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newApp builds the app as the functions do, over DynamoDB Local.
func newApp(t *testing.T) *app.App {
	t.Helper()
	cfg := app.Config{Tables: storetest.Tables(t), RootClientID: "root", RootAccessToken: "root-token-0123456789",
		SigningKey: []byte("0123456789abcdef0123456789abcdef"), InstanceSetID: "test", AllowedRegions: []string{"us-east-1"}}
	a, err := app.New(context.Background(), cfg, app.WithDB(storetest.DB(t)), app.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRoutesMatchTheTemplate: every route in template.yaml is served by a handler of
// its function, and every handler is reachable through a route of its function.
func TestRoutesMatchTheTemplate(t *testing.T) {
	a := newApp(t)
	tmpl := storetest.Template()
	apis := a.HTTPFunctions()
	for id, f := range tmpl.Functions {
		if id == "StatusPageFunction" { // its own handler (a page, not an httpapi.API)
			if len(f.Routes) != 1 || f.Routes[0].Key() != statuspage.Route {
				t.Errorf("%s: routes %v, want only %s", id, f.Routes, statuspage.Route)
			}
			continue
		}
		api, ok := apis[id]
		if len(f.Routes) == 0 {
			if ok {
				t.Errorf("%s has a handler API but no routes in the template", id)
			}
			continue
		}
		if !ok {
			t.Errorf("%s has routes in the template but no handler", id)
			continue
		}
		var want []string
		hasDefault := false
		for _, r := range f.Routes {
			if r.Key() == samtemplate.DefaultPath {
				hasDefault = true
				continue
			}
			want = append(want, r.Key())
		}
		if hasDefault != api.AnswersUnrouted() || hasDefault != (id == app.DefaultRouteFunction) {
			t.Errorf("%s: template $default route %v, API answers unrouted requests %v, app.DefaultRouteFunction %s",
				id, hasDefault, api.AnswersUnrouted(), app.DefaultRouteFunction)
		}
		got := map[string]bool{}
		for _, r := range api.Routes() {
			got[r.Key()] = true
		}
		var gotKeys []string
		for k := range got {
			gotKeys = append(gotKeys, k)
		}
		sort.Strings(want)
		sort.Strings(gotKeys)
		if diff := cmp.Diff(want, gotKeys); diff != "" {
			t.Errorf("%s: template routes (-) vs handler routes (+):\n%s", id, diff)
		}
	}
	for id := range apis {
		if _, ok := tmpl.Functions[id]; !ok {
			t.Errorf("handler API for %s, which the template does not define", id)
		}
	}
}

// TestEveryDocumentedMethodIsServed: the methods the official clients call, by name.
func TestEveryDocumentedMethodIsServed(t *testing.T) {
	a := newApp(t)
	names := map[string]bool{}
	for _, api := range a.HTTPFunctions() {
		for _, r := range api.Routes() {
			names[r.Name] = true
		}
	}
	for _, m := range []string{
		// aws-provisioner v1
		"ping", "backendStatus", "listWorkerTypeSummaries", "createWorkerType", "updateWorkerType", "workerTypeLastModified",
		"workerType", "removeWorkerType", "listWorkerTypes", "createSecret", "getSecret", "instanceStarted", "removeSecret",
		"getLaunchSpecs", "state",
		// worker-manager v1
		"listProviders", "createWorkerPool", "updateWorkerPool", "deleteWorkerPool", "workerPool", "listWorkerPools",
		"reportWorkerError", "listWorkerPoolErrors", "listWorkersForWorkerGroup", "worker", "createWorker", "removeWorker",
		"listWorkersForWorkerPool", "registerWorker",
	} {
		if !names[m] {
			t.Errorf("method %s is not served", m)
		}
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	for k, v := range map[string]string{
		"WORKER_TYPES_TABLE": "wt", "WORKER_POOLS_TABLE": "wp", "WORKERS_TABLE": "w", "SECRETS_TABLE": "s", "ERRORS_TABLE": "e",
		"CLIENTS_TABLE": "c", "STATUS_TABLE": "st", "NONCES_TABLE": "n", "ROOT_CLIENT_ID": "root", "ROOT_ACCESS_TOKEN": "tok", "SIGNING_KEY": "0123456789abcdef!",
		"INSTANCE_SET_ID": "prod", "ALLOWED_REGIONS": "us-east-1, eu-central-1", "ERROR_RETENTION_DAYS": "3", "ROOT_URL": "https://tc.example.com/",
	} {
		t.Setenv(k, v)
	}
	cfg, err := app.FromEnv(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := store.Tables{WorkerTypes: "wt", WorkerPools: "wp", Workers: "w", Secrets: "s", Errors: "e", Clients: "c", Status: "st", Nonces: "n"}
	if cfg.Tables != want || cfg.RootURL != "https://tc.example.com" || len(cfg.AllowedRegions) != 2 || cfg.AllowedRegions[1] != "eu-central-1" ||
		cfg.ErrorRetention.Hours() != 72 || cfg.Cloud != "ec2" {
		t.Errorf("config %+v", cfg)
	}
	t.Setenv("ROOT_ACCESS_TOKEN", "")
	t.Setenv("ROOT_CREDENTIALS_SECRET", "")
	if _, err := app.FromEnv(context.Background()); err == nil {
		t.Error("a configuration without root credentials was accepted")
	}
	_ = json.Valid
}
