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
	"gopkg.in/yaml.v3"
)

// runnerState is the part of worker-runner's cached run state (cacheOverRestarts)
// the tests look at.
type runnerState struct {
	RootURL      string
	Credentials  tcclient.Credentials
	WorkerPoolID string
	WorkerGroup  string
	WorkerID     string
	// ProviderMetadata is what the provider read about the instance.
	ProviderMetadata map[string]any
}

// runWorkerRunner runs a worker-runner binary with the given provider section and
// the dummy worker (which exits at once), and returns the run state it cached. The
// binary must exit 0 within two minutes.
func runWorkerRunner(t *testing.T, bin string, provider map[string]any, env ...string) runnerState {
	t.Helper()
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state.json")
	config, err := yaml.Marshal(map[string]any{
		"provider":          provider,
		"worker":            map[string]any{"implementation": "dummy"},
		"getSecrets":        false,
		"cacheOverRestarts": statePath,
	})
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, "runner.yml")
	if err := os.WriteFile(configPath, config, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, configPath)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s exited with %v:\n%s", filepath.Base(bin), err, out)
	}
	raw, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatalf("worker-runner cached no state: %v\n%s", err, out)
	}
	var st runnerState
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("cached state: %v", err)
	}
	return st
}

// TestWorkerRunnerV25 runs Taskcluster's worker-runner v25 on the local stack: with
// the aws provider on a fake-cloud instance (its metadata base URL pointed at the
// instance's fake metadata endpoint) and with the static provider. Both register,
// exit 0, and end up with credentials the stack accepts with the worker's scopes.
func TestWorkerRunnerV25(t *testing.T) {
	startWorker := buildTool(t, "github.com/taskcluster/taskcluster/v25/tools/taskcluster-worker-runner/cmd/start-worker")
	withMetadata := buildTool(t, "github.com/workerfleet/workerfleet/shared/dev/compattest/startworker")
	s := startStack(t)
	wm := tcworkermanager.New(&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}, s.URL)

	// reportError uses a worker's credentials for a method that needs the scopes
	// registration gives (assume:worker-pool:<pool>, assume:worker-id:<group>/<id>).
	reportError := func(name string, st runnerState) {
		t.Helper()
		asWorker := tcworkermanager.New(&st.Credentials, st.RootURL)
		if _, err := asWorker.ReportWorkerError(st.WorkerPoolID, &tcworkermanager.WorkerErrorReport{Kind: "worker-runner", Title: name,
			Description: "reported with worker-runner's credentials", Extra: json.RawMessage(`{}`),
			WorkerGroup: st.WorkerGroup, WorkerID: st.WorkerID}); err != nil {
			t.Errorf("%s: the worker's credentials: %v", name, err)
		}
	}

	t.Run("aws provider", func(t *testing.T) {
		const poolID = "proj-ci/runner-aws"
		if _, err := wm.CreateWorkerPool(poolID, &tcworkermanager.WorkerPoolDefinition{ProviderID: "aws", Config: json.RawMessage(awsPoolConfig),
			Description: "worker-runner", Owner: "ci@example.com"}); err != nil {
			t.Fatalf("CreateWorkerPool: %v", err)
		}
		s.Queue.Set("proj-ci", "runner-aws", 1)
		inst := liveInstance(t, s, poolID)
		st := runWorkerRunner(t, withMetadata, map[string]any{"providerType": "aws"},
			"EC2_METADATA_BASE_URL="+s.URL+"/local/imds/"+inst.ID+"/latest")
		if want := "worker/aws/" + poolID + "/aws/" + inst.ID; st.Credentials.ClientID != want || st.WorkerID != inst.ID || st.WorkerGroup != "aws" {
			t.Errorf("registered as %q (worker %s), want %q", st.Credentials.ClientID, st.WorkerID, want)
		}
		if st.RootURL != s.URL || st.ProviderMetadata["local-ipv4"] != inst.PrivateIP ||
			!strings.HasPrefix(st.ProviderMetadata["public-hostname"].(string), "ec2-100-") || st.ProviderMetadata["instance-id"] != inst.ID {
			t.Errorf("run state: rootUrl %s, provider metadata %v", st.RootURL, st.ProviderMetadata)
		}
		reportError("aws provider", st)
		if w, err := wm.Worker(poolID, st.WorkerGroup, inst.ID); err != nil || w.State != "running" {
			t.Errorf("the worker after registration: %+v, %v", w, err)
		}
	})

	t.Run("static provider", func(t *testing.T) {
		const poolID = "proj-ci/runner-static"
		if _, err := wm.CreateWorkerPool(poolID, &tcworkermanager.WorkerPoolDefinition{ProviderID: "static", Config: json.RawMessage(`{}`),
			Description: "worker-runner", Owner: "ci@example.com"}); err != nil {
			t.Fatalf("CreateWorkerPool: %v", err)
		}
		secret := strings.Repeat("r", 44)
		if _, err := wm.CreateWorker(poolID, "rack-2", "host-11", &tcworkermanager.WorkerCreationRequest{Capacity: 1,
			Expires: tcclient.Time(time.Now().Add(24 * time.Hour)), ProviderInfo: json.RawMessage(`{"staticSecret":"` + secret + `"}`)}); err != nil {
			t.Fatalf("CreateWorker: %v", err)
		}
		st := runWorkerRunner(t, startWorker, map[string]any{"providerType": "static", "rootURL": s.URL, "providerID": "static",
			"workerPoolID": poolID, "workerGroup": "rack-2", "workerID": "host-11", "staticSecret": secret})
		if want := "worker/static/" + poolID + "/rack-2/host-11"; st.Credentials.ClientID != want {
			t.Errorf("registered as %q, want %q", st.Credentials.ClientID, want)
		}
		reportError("static provider", st)
	})
}
