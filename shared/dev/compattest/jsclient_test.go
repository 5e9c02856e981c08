package compattest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcworkermanager"

	"github.com/workerfleet/workerfleet/shared/dev/dynamolocal"
)

// JSClientVersion is the newest official JavaScript client on npm: the client of
// today's Taskcluster (its src/apis.js holds every current API reference).
const JSClientVersion = "87.1.3"

// jsClient installs taskcluster-client JSClientVersion from npm into the cache
// (once; later runs find it) and returns the directory holding its node_modules.
func jsClient(t *testing.T) string {
	t.Helper()
	cache, err := dynamolocal.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "npm", "taskcluster-client-"+JSClientVersion)
	pkg := filepath.Join(dir, "node_modules", "taskcluster-client", "package.json")
	if raw, err := os.ReadFile(pkg); err == nil && strings.Contains(string(raw), `"version": "`+JSClientVersion+`"`) {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "taskcluster-client@"+JSClientVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install taskcluster-client@%s: %v\n%s", JSClientVersion, err, out)
	}
	return dir
}

// runJS runs a script of testdata with node, the client's directory as its first
// argument and args after, and decodes the JSON it prints into out.
func runJS(t *testing.T, script string, out any, args ...string) {
	t.Helper()
	dir := jsClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join("testdata", script), dir}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("node %s printed %q: %v", script, raw, err)
	}
}

// todaysPoolConfig is a pool as a current deployment writes one: a short
// reregistrationTimeout (so renewals show) and a workerConfig that today's
// worker-runner takes only from registerWorker's answer.
const todaysPoolConfig = `{"minCapacity": 0, "maxCapacity": 1, "lifecycle": {"registrationTimeout": 600, "reregistrationTimeout": 300},
  "launchConfigs": [{"region": "us-east-1", "capacityPerInstance": 1,
    "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"},
    "workerConfig": {"idleTimeoutSecs": 90, "genericWorker": {"config": {"deploymentId": "d-1"}}}}]}`

type jsCredentials struct{ ClientID, AccessToken, Certificate string }

type jsFailure struct {
	Status int
	Code   string
}

// TestWorkerProtocolToday plays today's worker-runner and generic-worker against the
// local stack with the official JavaScript client 87.1.3 on a fake-cloud instance:
// registration with systemBootTime gets the launch's workerConfig and a secret,
// two renewals each rotate the secret and move the credentials' expiry, the
// worker asks shouldWorkerTerminate, reports an error with renewed credentials and
// removes itself at exit.
func TestWorkerProtocolToday(t *testing.T) {
	s := startStack(t)
	wm := tcworkermanager.New(&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}, s.URL)
	const poolID = "proj-ci/runner-today"
	if _, err := wm.CreateWorkerPool(poolID, &tcworkermanager.WorkerPoolDefinition{ProviderID: "aws", Config: json.RawMessage(todaysPoolConfig),
		Description: "today's worker-runner", Owner: "ci@example.com"}); err != nil {
		t.Fatalf("CreateWorkerPool: %v", err)
	}
	s.Queue.Set("proj-ci", "runner-today", 1)
	inst := liveInstance(t, s, poolID)
	doc, sig := imds(t, s, inst.ID)
	worker, _ := json.Marshal(map[string]string{"rootUrl": s.URL, "workerPoolId": poolID, "providerId": "aws", "workerGroup": "aws",
		"workerId": inst.ID, "document": doc, "signature": sig})

	var got struct {
		Register struct {
			Expires      time.Time
			Credentials  jsCredentials
			WorkerConfig map[string]any
			Secret       string
		}
		Renewals []struct {
			Expires     time.Time
			Credentials jsCredentials
			Secret      string
			Reuse       jsFailure
		}
		ShouldTerminate struct {
			Terminate bool
			Reason    string
		}
		ReportError      struct{ ErrorID string }
		RemoveOther      jsFailure
		Remove           map[string]any
		RenewAfterRemove jsFailure
	}
	runJS(t, "worker-today.mjs", &got, string(worker))

	reg := got.Register
	if len(reg.Secret) != 44 || reg.Credentials.Certificate == "" || reg.Credentials.ClientID != "worker/aws/"+poolID+"/aws/"+inst.ID {
		t.Errorf("registerWorker: %+v", reg)
	}
	wc, _ := json.Marshal(reg.WorkerConfig)
	if string(wc) != `{"genericWorker":{"config":{"deploymentId":"d-1"}},"idleTimeoutSecs":90}` {
		t.Errorf("registerWorker's workerConfig %s, want the launch config's", wc)
	}
	if d := time.Until(reg.Expires); d < 4*time.Minute || d > 5*time.Minute {
		t.Errorf("registration's credentials last %v, want the pool's reregistrationTimeout (300 s)", d)
	}
	if len(got.Renewals) != 2 {
		t.Fatalf("renewals: %+v", got.Renewals)
	}
	secrets := map[string]bool{reg.Secret: true}
	for i, r := range got.Renewals {
		if secrets[r.Secret] || len(r.Secret) != 44 || r.Credentials.Certificate == "" {
			t.Errorf("renewal %d did not rotate the secret or issue credentials: %+v", i+1, r)
		}
		secrets[r.Secret] = true
		if d := time.Until(r.Expires); d < 4*time.Minute || d > 5*time.Minute {
			t.Errorf("renewal %d: credentials last %v, want 300 s", i+1, d)
		}
		if r.Reuse.Status != 400 || r.Reuse.Code != "InputError" {
			t.Errorf("renewal %d: the spent secret again answered %+v, want 400 InputError", i+1, r.Reuse)
		}
	}
	if got.ShouldTerminate.Terminate || got.ShouldTerminate.Reason == "" {
		t.Errorf("shouldWorkerTerminate of a needed worker: %+v", got.ShouldTerminate)
	}
	if got.ReportError.ErrorID == "" {
		t.Errorf("reportWorkerError with renewed credentials: %+v", got.ReportError)
	}
	if got.RemoveOther.Status != 403 {
		t.Errorf("removing another worker with its own credentials: %+v, want 403", got.RemoveOther)
	}
	if got.RenewAfterRemove.Status != 400 {
		t.Errorf("renewal after removing itself: %+v, want 400", got.RenewAfterRemove)
	}
	w, err := wm.Worker(poolID, "aws", inst.ID)
	if err != nil || (w.State != "stopping" && w.State != "stopped") {
		t.Errorf("after removeWorker: %+v, %v", w, err)
	}
}
