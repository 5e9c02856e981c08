package compattest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	tcv19 "github.com/taskcluster/taskcluster/clients/client-go/v19"
	"github.com/taskcluster/taskcluster/clients/client-go/v19/tcawsprovisioner"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcqueue"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcworkermanager"

	"github.com/workerfleet/workerfleet/shared/dev/localstack"
	"github.com/workerfleet/workerfleet/shared/store"
)

const (
	upstreamClientID    = "static/taskcluster/workerfleet"
	upstreamClientToken = "upstream-client-token-0123456789abcdefghij"
)

// startTaskclusterMode starts the stand-in deployment and the local stack in
// Taskcluster mode against it, acting as upstreamClientID with the scopes
// worker-manager's own client holds.
func startTaskclusterMode(t *testing.T, simulateWorkers bool) (*standIn, *localstack.Stack) {
	t.Helper()
	up := startStandIn(t)
	up.addClient(upstreamClientID, upstreamClientToken,
		"auth:create-client:worker/*", "auth:create-client:aws-provisioner/*", "assume:worker-type:*", "assume:worker-pool:*",
		"assume:worker-id:*", "queue:worker-id:*", "queue:claim-work:*", "secrets:get:worker-type:*", "secrets:get:worker-pool:*",
		"worker-manager:remove-worker:*", "worker-manager:reregister-worker:*", "worker-manager:should-worker-terminate:*",
		"notify:email:*", "aws-provisioner:view-worker-type:*")
	// The roles a deployment has for aws-provisioner workers: their worker type's
	// queue, and any worker id.
	up.addRole("worker-type:aws-provisioner-v1/*", "queue:claim-work:aws-provisioner-v1/<..>")
	up.addRole("worker-id:*", "queue:worker-id:<..>")
	// What anyone may do there: read worker-manager's pools and workers.
	up.addRole("anonymous", "worker-manager:list-providers", "worker-manager:list-worker-pools", "worker-manager:get-worker-pool:*",
		"worker-manager:list-worker-pool-errors:*", "worker-manager:list-workers:*", "worker-manager:get-worker:*")
	s, err := localstack.Start(context.Background(), localstack.Options{Port: freePort(t), RootAccessToken: rootToken,
		ProvisionInterval: time.Second, BootDelay: time.Second, ShutdownDelay: time.Second, SimulateWorkers: simulateWorkers, Out: io.Discard,
		TaskDuration: 500 * time.Millisecond, IdleTimeout: 5 * time.Second,
		Log:                slog.New(slog.NewTextHandler(io.Discard, nil)),
		TaskclusterRootURL: up.URL, TaskclusterClientID: upstreamClientID, TaskclusterAccessToken: upstreamClientToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return up, s
}

// TestTaskclusterMode runs the local stack in Taskcluster mode against a stand-in
// deployment that checks credentials by Taskcluster's rules with code of its own:
// pending tasks in its queue launch instances; the credentials registerWorker and
// getSecret hand out are accepted by its queue for claimWork, with worker-manager
// v25's scopes; requests for its other services reach it through the stack's URL
// unchanged; emailOnError goes through its notify service; and the CLI without
// credentials and expired temporary credentials still get no-scope methods served.
func TestTaskclusterMode(t *testing.T) {
	up, s := startTaskclusterMode(t, false)
	root := &tcclient.Credentials{ClientID: "root", AccessToken: rootToken}
	wm := tcworkermanager.New(root, s.URL)

	t.Run("registerWorker credentials claim work", func(t *testing.T) {
		const poolID = "proj-up/linux"
		if _, err := wm.CreateWorkerPool(poolID, &tcworkermanager.WorkerPoolDefinition{ProviderID: "aws", Config: json.RawMessage(awsPoolConfig),
			Description: "upstream", Owner: "owner@example.com", EmailOnError: true}); err != nil {
			t.Fatalf("CreateWorkerPool: %v", err)
		}
		up.setPending(poolID, 1) // only the upstream queue knows of it
		inst := liveInstance(t, s, poolID)
		raw, _ := s.Fake.UserData(inst.ID)
		var ud struct{ RootURL, WorkerGroup string }
		if err := json.Unmarshal(raw, &ud); err != nil || ud.RootURL != s.URL {
			t.Errorf("user data rootUrl %q, want the front door %s", ud.RootURL, s.URL)
		}
		group := ud.WorkerGroup // the providerId, as v25 sets it
		doc, sig := imds(t, s, inst.ID)
		proof, _ := json.Marshal(map[string]string{"document": doc, "signature": sig})
		reg, err := tcworkermanager.New(nil, s.URL).RegisterWorker(&tcworkermanager.RegisterWorkerRequest{WorkerPoolID: poolID,
			ProviderID: "aws", WorkerGroup: group, WorkerID: inst.ID, WorkerIdentityProof: proof})
		if err != nil {
			t.Fatalf("RegisterWorker: %v", err)
		}
		var cert struct {
			Issuer string
			Start  int64
		}
		_ = json.Unmarshal([]byte(reg.Credentials.Certificate), &cert)
		if cert.Issuer != upstreamClientID || time.Since(time.UnixMilli(cert.Start)) < 15*time.Minute {
			t.Errorf("certificate issued by %q starting %v ago; want %s, 15 minutes back", cert.Issuer, time.Since(time.UnixMilli(cert.Start)), upstreamClientID)
		}
		creds := &tcclient.Credentials{ClientID: reg.Credentials.ClientID, AccessToken: reg.Credentials.AccessToken, Certificate: reg.Credentials.Certificate}
		q := tcqueue.New(creds, s.URL) // the one root URL: the front door passes it on
		claim, err := q.ClaimWork("proj-up", "linux", &tcqueue.ClaimWorkRequest{Tasks: 1, WorkerGroup: group, WorkerID: inst.ID})
		if err != nil || len(claim.Tasks) != 1 {
			t.Fatalf("claimWork with the registered worker's credentials: %+v, %v", claim, err)
		}
		claims, _, _ := up.snapshot()
		got := claims[len(claims)-1]
		wantScopes := []string{"assume:worker-type:" + poolID, "assume:worker-pool:" + poolID, "assume:worker-id:" + group + "/" + inst.ID,
			"queue:worker-id:" + group + "/" + inst.ID, "secrets:get:worker-type:" + poolID, "secrets:get:worker-pool:" + poolID,
			"queue:claim-work:" + poolID}
		if got.ClientID != "worker/aws/"+poolID+"/"+group+"/"+inst.ID || !slices.Equal(got.Scopes[:len(wantScopes)], wantScopes) {
			t.Errorf("the deployment saw %s with %v; want %v", got.ClientID, got.Scopes, wantScopes)
		}
		if _, err := q.ClaimWork("proj-up", "linux", &tcqueue.ClaimWorkRequest{Tasks: 1, WorkerGroup: group, WorkerID: "i-0someoneelse"}); status(err) != 403 {
			t.Errorf("claimWork as another worker: %v, want the deployment's 403", err)
		}

		// The same credentials on workerfleet's own API, checked with the
		// deployment's authenticateHawk; the pool mails its errors through notify.
		e, err := tcworkermanager.New(creds, s.URL).ReportWorkerError(poolID, &tcworkermanager.WorkerErrorReport{Kind: "disk-full", Title: "Disk full",
			Description: "/ is full", Extra: json.RawMessage(`{}`), WorkerGroup: group, WorkerID: inst.ID})
		if err != nil {
			t.Fatalf("ReportWorkerError with the worker's credentials: %v", err)
		}
		_, emails, _ := up.snapshot()
		if len(emails) != 1 || emails[0]["address"] != "owner@example.com" || !strings.Contains(emails[0]["content"], "ErrorId: "+e.ErrorID) {
			t.Errorf("emails through the deployment's notify: %v", emails)
		}
	})

	t.Run("getSecret credentials claim work", func(t *testing.T) {
		const wt = "gecko-up"
		ap := tcawsprovisioner.New(&tcv19.Credentials{ClientID: "root", AccessToken: rootToken})
		ap.BaseURL = s.URL + "/api/aws-provisioner/v1"
		if _, err := ap.CreateWorkerType(wt, workerTypeRequest()); err != nil {
			t.Fatalf("CreateWorkerType: %v", err)
		}
		up.setPending("aws-provisioner-v1/"+wt, 2)
		inst := liveInstance(t, s, store.WorkerTypePool(wt))
		raw, _ := s.Fake.UserData(inst.ID)
		var ud struct{ SecurityToken, TaskclusterRootURL, ProvisionerBaseURL string }
		_ = json.Unmarshal(raw, &ud)
		if ud.TaskclusterRootURL != s.URL || ud.ProvisionerBaseURL != s.URL+"/api/aws-provisioner/v1" {
			t.Errorf("user data: taskclusterRootUrl %q, provisionerBaseUrl %q; want the front door", ud.TaskclusterRootURL, ud.ProvisionerBaseURL)
		}
		anon := tcawsprovisioner.New(nil)
		anon.BaseURL = ap.BaseURL
		sec, err := anon.GetSecret(ud.SecurityToken)
		if err != nil {
			t.Fatalf("GetSecret: %v", err)
		}
		creds := &tcclient.Credentials{ClientID: sec.Credentials.ClientID, AccessToken: sec.Credentials.AccessToken, Certificate: sec.Credentials.Certificate}
		claim, err := tcqueue.New(creds, s.URL).ClaimWork("aws-provisioner-v1", wt, &tcqueue.ClaimWorkRequest{Tasks: 2, WorkerGroup: inst.Region, WorkerID: inst.ID})
		if err != nil || len(claim.Tasks) != 2 {
			t.Fatalf("claimWork with getSecret's credentials: %+v, %v", claim, err)
		}
		claims, _, _ := up.snapshot()
		got := claims[len(claims)-1]
		for _, want := range []string{"assume:worker-type:aws-provisioner-v1/" + wt, "assume:worker-id:*", "aws-provisioner:view-worker-type:gecko-*"} {
			if !slices.Contains(got.Scopes, want) {
				t.Errorf("the deployment saw %s without %s: %v", got.ClientID, want, got.Scopes)
			}
		}
	})

	t.Run("other services pass through unchanged", func(t *testing.T) {
		body := []byte(`{"secret": {"a": 1}, "expires": "2030-01-01T00:00:00.000Z"}`)
		req, _ := http.NewRequest("PUT", s.URL+"/api/secrets/v1/secret/worker-pool:proj-up%2Flinux?x=1", bytes.NewReader(body))
		req.Header.Set("Authorization", `Hawk id="someone", ts="1", nonce="abc", mac="bWFj"`)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_, _, other := up.snapshot()
		want := standInRequest{"PUT", "/api/secrets/v1/secret/worker-pool:proj-up%2Flinux?x=1", strings.TrimPrefix(s.URL, "http://"),
			req.Header.Get("Authorization"), "application/json", string(body)}
		if len(other) == 0 || other[len(other)-1] != want || resp.StatusCode != 200 || !strings.Contains(string(answer), `"standIn":true`) {
			t.Errorf("the deployment got %+v and answered %d %s; want %+v", other, resp.StatusCode, answer, want)
		}
	})

	t.Run("no-scope methods without verifiable credentials", func(t *testing.T) {
		expired := temporaryCredentials(upstreamClientID, upstreamClientToken, time.Now().Add(-3*time.Hour), time.Now().Add(-2*time.Hour), "assume:worker-pool:*")
		for name, creds := range map[string]*tcclient.Credentials{
			"the CLI without credentials":   {ClientID: "", AccessToken: ""},
			"expired temporary credentials": expired,
		} {
			c := tcworkermanager.New(creds, s.URL)
			if _, err := c.ListWorkerPools("", ""); err != nil {
				t.Errorf("%s: ListWorkerPools: %v", name, err)
			}
			if _, err := c.WorkerPool("proj-up/linux"); err != nil {
				t.Errorf("%s: WorkerPool: %v", name, err)
			}
			if _, err := c.ReportWorkerError("proj-up/linux", &tcworkermanager.WorkerErrorReport{Kind: "x", Title: "t", Extra: json.RawMessage(`{}`),
				WorkerGroup: "g", WorkerID: "w"}); status(err) != 401 {
				t.Errorf("%s: ReportWorkerError (requires scopes): %v, want 401", name, err)
			}
		}
		// The CLI itself, no credentials configured: our method, and the deployment's
		// queue through the front door.
		cli := buildTool(t, "github.com/taskcluster/taskcluster/v25/clients/client-shell")
		for _, args := range [][]string{{"api", "workerManager", "listWorkerPools"}, {"api", "queue", "pendingTasks", "proj-up", "linux"}} {
			cmd := exec.Command(cli, args...)
			cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "TASKCLUSTER_ROOT_URL=" + s.URL}
			out, err := cmd.CombinedOutput()
			if err != nil || strings.Contains(string(out), `"code"`) {
				t.Errorf("taskcluster %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})
}

// TestTaskclusterModeSimulatedWorkers: in Taskcluster mode the simulated workers
// register (or fetch their secret) and work off the deployment's queue with the
// credentials they were given: claimWork as themselves, reportCompleted with each
// claim's credentials, until nothing is pending.
func TestTaskclusterModeSimulatedWorkers(t *testing.T) {
	up, s := startTaskclusterMode(t, true)
	wm := tcworkermanager.New(&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}, s.URL)
	if _, err := wm.CreateWorkerPool("proj-sim/linux", &tcworkermanager.WorkerPoolDefinition{ProviderID: "aws", Config: json.RawMessage(awsPoolConfig),
		Description: "simulated", Owner: "ci@example.com"}); err != nil {
		t.Fatalf("CreateWorkerPool: %v", err)
	}
	ap := tcawsprovisioner.New(&tcv19.Credentials{ClientID: "root", AccessToken: rootToken})
	ap.BaseURL = s.URL + "/api/aws-provisioner/v1"
	if _, err := ap.CreateWorkerType("gecko-sim", workerTypeRequest()); err != nil {
		t.Fatalf("CreateWorkerType: %v", err)
	}
	up.setPending("proj-sim/linux", 3)
	up.setPending("aws-provisioner-v1/gecko-sim", 2)
	waitFor(t, "the simulated workers to complete the deployment's 5 tasks", 90*time.Second, func() bool {
		pending, completed := up.progress()
		return pending["proj-sim/linux"] == 0 && pending["aws-provisioner-v1/gecko-sim"] == 0 && completed == 5
	})
	claims, _, _ := up.snapshot()
	by := map[string]bool{}
	for _, c := range claims {
		by[strings.SplitN(c.ClientID, "/", 2)[0]] = true
	}
	if !by["worker"] || !by["aws-provisioner"] {
		t.Errorf("claims by %v; want a registered worker's and a worker type's", by)
	}
}

// TestMakeRunInTaskclusterMode: make run, as a user starts it with TC_ROOT_URL,
// TC_CLIENT_ID and TC_ACCESS_TOKEN, is in Taskcluster mode: it says so (and never
// shows the token), launches for the deployment's pending tasks, and passes other
// services' requests to it.
func TestMakeRunInTaskclusterMode(t *testing.T) {
	up := startStandIn(t)
	up.addClient(upstreamClientID, upstreamClientToken, "auth:create-client:worker/*", "auth:create-client:aws-provisioner/*",
		"assume:worker-type:*", "assume:worker-pool:*", "assume:worker-id:*", "queue:worker-id:*", "queue:claim-work:*",
		"secrets:get:worker-type:*", "secrets:get:worker-pool:*", "worker-manager:remove-worker:*", "worker-manager:reregister-worker:*",
		"worker-manager:should-worker-terminate:*") // no notify:email:*
	m := startMakeRun(t, "TC_ROOT_URL="+up.URL, "TC_CLIENT_ID="+upstreamClientID, "TC_ACCESS_TOKEN="+upstreamClientToken)
	out := m.output()
	if !strings.Contains(out, "Taskcluster mode: acting as "+upstreamClientID+" of "+up.URL) ||
		!strings.Contains(out, "lacks scopes workers' credentials and emailOnError need: notify:email:*") {
		t.Errorf("make run's output does not say it is in Taskcluster mode, and what the client lacks:\n%s", out)
	}
	wm := tcworkermanager.New(&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}, m.url)
	if _, err := wm.CreateWorkerPool("proj-run/linux", &tcworkermanager.WorkerPoolDefinition{ProviderID: "aws", Config: json.RawMessage(awsPoolConfig),
		Description: "make run", Owner: "ci@example.com"}); err != nil {
		t.Fatalf("CreateWorkerPool: %v", err)
	}
	up.setPending("proj-run/linux", 1)
	waitFor(t, "an instance for the deployment's pending task", 60*time.Second, func() bool { return alive(m.instances("proj-run/linux")) == 1 })
	if got := m.get("/api/index/v1/task/some.namespace"); !strings.Contains(got, `"standIn":true`) {
		t.Errorf("GET /api/index/v1/... through make run's URL: %s", got)
	}
	if strings.Contains(m.output(), upstreamClientToken) {
		t.Errorf("make run's output shows the Taskcluster access token:\n%s", m.output())
	}
}
