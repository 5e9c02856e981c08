package app_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/identity"
	"github.com/workerfleet/workerfleet/shared/store"
)

func readEvent(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestEveryFunctionHasASampleEvent: events/<folder>.json for each function.
func TestEveryFunctionHasASampleEvent(t *testing.T) {
	kebab := regexp.MustCompile(`([a-z0-9])([A-Z])`)
	for id := range storetest.Template().Functions {
		name := strings.ToLower(kebab.ReplaceAllString(strings.TrimSuffix(id, "Function"), "$1-$2")) + ".json"
		if _, err := os.Stat(filepath.Join("..", "..", "events", name)); err != nil {
			t.Errorf("function %s has no sample event: %v", id, err)
		}
	}
}

// TestSampleEventsThroughTheirHandlers feeds each sample event to its function's
// handler, as Lambda would, and checks the answer.
func TestSampleEventsThroughTheirHandlers(t *testing.T) {
	ctx := context.Background()
	fc, err := fakecloud.New(fakecloud.DefaultConfig(), fakecloud.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{Tables: storetest.Tables(t), RootClientID: "root", RootAccessToken: "root-token-0123456789",
		SigningKey: []byte("0123456789abcdef0123456789abcdef"), InstanceSetID: "test", AllowedRegions: fakecloud.DefaultRegions, Cloud: fakecloud.Alias,
		ProvisionCadence: -1} // one iteration per event: the cadence is provision's to test
	a, err := app.New(ctx, cfg, app.WithDB(storetest.DB(t)), app.WithLogger(quiet), app.WithCloud(fc.InstanceSet("test")),
		app.WithVerifier(identity.NewAWSVerifier()))
	if err != nil {
		t.Fatal(err)
	}
	apis := a.HTTPFunctions()
	serve := func(fn, file string) (int, map[string]any) {
		t.Helper()
		var ev events.APIGatewayV2HTTPRequest
		readEvent(t, file, &ev)
		if !ev.IsBase64Encoded {
			t.Errorf("%s: sam's HTTP API events carry a base64 body", file)
		}
		resp, err := apis[fn].Serve(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if strings.HasPrefix(resp.Body, "{") {
			_ = json.Unmarshal([]byte(resp.Body), &body)
		}
		return resp.StatusCode, body
	}

	if code, _ := serve("AwsProvisionerApiFunction", "aws-provisioner-api.json"); code != 200 {
		t.Errorf("aws-provisioner-api sample (listWorkerTypes): %d", code)
	}
	if code, body := serve("SecretsApiFunction", "secrets-api.json"); code != 404 || body["code"] != "ResourceNotFound" {
		t.Errorf("secrets-api sample (getSecret of a token never created): %d %v", code, body)
	}
	if code, body := serve("WorkerManagerApiFunction", "worker-manager-api.json"); code != 200 || len(body["providers"].([]any)) != 3 {
		t.Errorf("worker-manager-api sample (listProviders): %d %v", code, body)
	}
	// The registration sample's worker, created as createWorker would have.
	if _, err := a.Store.CreateWorkerPool(ctx, store.WorkerPool{WorkerPoolID: "proj-ci/static-linux", ProviderID: "static", Config: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.CreateWorker(ctx, store.Worker{Pool: "proj-ci/static-linux", WorkerGroup: "rack-1", WorkerID: "host-07", ProviderID: "static",
		State: store.Running, Capacity: 1, Expires: time.Now().Add(time.Hour), StaticSecretHash: identity.HashStaticSecret("bR5MlHPzQ7S3KFq0yWZk2gXwDlc8dO4kTqJ1nAvE9Ppu")}); err != nil {
		t.Fatal(err)
	}
	if code, body := serve("RegistrationFunction", "registration.json"); code != 200 || body["credentials"] == nil {
		t.Errorf("registration sample (static registerWorker): %d %v", code, body)
	}

	// The provisioner takes both schedule shapes: Scheduler's detail "{}" and a rule's {}.
	p, err := a.Provisioner(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"provisioner.json", "provisioner-rule.json"} {
		var ev events.CloudWatchEvent
		readEvent(t, file, &ev)
		if err := p.HandleEvent(ctx, ev); err != nil {
			t.Errorf("%s: %v", file, err)
		}
		c, err := a.Store.LastCheckIn(ctx)
		if err != nil || c.Iteration != ev.ID {
			t.Errorf("%s: check-in %+v, %v; want iteration %s", file, c, err, ev.ID)
		}
	}

	const instance = "i-0e8637375f3abd4f0"
	if _, err := a.Store.CreateWorker(ctx, store.Worker{Pool: "proj-ci/linux", WorkerGroup: "us-east-1", WorkerID: instance, InstanceID: instance, ProviderID: "aws"}); err != nil {
		t.Fatal(err)
	}
	var ev events.CloudWatchEvent
	readEvent(t, "ec2-events.json", &ev)
	if err := a.EC2Events().HandleEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 22, 11, 32, 0, 0, time.UTC) // the warning's time and EC2's two minutes
	if w, _ := a.Store.WorkerByInstance(ctx, instance); !w.InterruptionDeadline.Equal(want) || w.State != store.Requested {
		t.Errorf("ec2-events sample: interruption deadline %v, state %s; want %v, requested", w.InterruptionDeadline, w.State, want)
	}
}
