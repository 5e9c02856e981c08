package compattest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	tcv19 "github.com/taskcluster/taskcluster/clients/client-go/v19"
	"github.com/taskcluster/taskcluster/clients/client-go/v19/tcawsprovisioner"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcworkermanager"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/localstack"
	"github.com/workerfleet/workerfleet/shared/store"
)

const rootToken = "compat-root-token-0123456789abcdefghijklmn"

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startStack runs the local stack in-process; the test plays the workers.
func startStack(t *testing.T) *localstack.Stack {
	t.Helper()
	s, err := localstack.Start(context.Background(), localstack.Options{Port: freePort(t), RootAccessToken: rootToken,
		ProvisionInterval: time.Second, BootDelay: time.Second, ShutdownDelay: time.Second, SimulateWorkers: false, Out: io.Discard,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// status is the HTTP status of an official client's error.
func status(err error) int {
	var e19 *tcv19.APICallException
	if errors.As(err, &e19) && e19.CallSummary != nil && e19.CallSummary.HTTPResponse != nil {
		return e19.CallSummary.HTTPResponse.StatusCode
	}
	var e25 *tcclient.APICallException
	if errors.As(err, &e25) && e25.CallSummary != nil && e25.CallSummary.HTTPResponse != nil {
		return e25.CallSummary.HTTPResponse.StatusCode
	}
	return 0
}

// waitFor polls until cond holds.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// liveInstance waits for a running instance of a pool and returns it.
func liveInstance(t *testing.T, s *localstack.Stack, poolKey string) cloud.Instance {
	t.Helper()
	var inst cloud.Instance
	waitFor(t, "an instance of "+poolKey, 60*time.Second, func() bool {
		for _, i := range s.Fake.AllInstances() {
			if i.Tags[cloud.TagPool] == poolKey && i.State == cloud.StateRunning {
				inst = i
				return true
			}
		}
		return false
	})
	return inst
}

func workerTypeRequest() *tcawsprovisioner.CreateWorkerTypeRequest {
	return &tcawsprovisioner.CreateWorkerTypeRequest{
		Description: "compat", Owner: "ci@example.com", MaxCapacity: 1, MaxPrice: 1, ScalingRatio: 0,
		LaunchSpec: json.RawMessage(`{"KeyName": "ci"}`),
		UserData:   json.RawMessage(`{"dockerConfig": {"allowPrivileged": false}}`),
		Secrets:    json.RawMessage(`{"password": "hunter2"}`),
		Scopes:     []string{"aws-provisioner:view-worker-type:gecko-*"},
		Regions: []tcawsprovisioner.RegionConfiguration{{Region: "us-east-1",
			LaunchSpec: json.RawMessage(`{"ImageId": "ami-0123456789abcdef0"}`), Scopes: []string{}}}, // secrets and userData left nil: the client sends null
		InstanceTypes: []tcawsprovisioner.InstanceTypeConfiguration{{InstanceType: "m5.large", Capacity: 1, Utility: 1,
			LaunchSpec: json.RawMessage(`{}`), Secrets: json.RawMessage(`{}`), UserData: json.RawMessage(`{}`), Scopes: []string{}}},
	}
}

// TestAwsProvisionerV19 drives every method of the official v19 tcawsprovisioner
// client, signed URLs included.
func TestAwsProvisionerV19(t *testing.T) {
	s := startStack(t)
	ap := tcawsprovisioner.New(&tcv19.Credentials{ClientID: "root", AccessToken: rootToken})
	ap.BaseURL = s.URL + "/api/aws-provisioner/v1"
	anon := tcawsprovisioner.New(nil)
	anon.BaseURL = ap.BaseURL

	if err := anon.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	const wt = "gecko-1-b-linux"
	created, err := ap.CreateWorkerType(wt, workerTypeRequest())
	if err != nil {
		t.Fatalf("CreateWorkerType: %v", err)
	}
	if created.WorkerType != wt || created.MaxCapacity != 1 || len(created.Regions) != 1 || time.Time(created.LastModified).IsZero() {
		t.Errorf("CreateWorkerType answered %+v", created)
	}
	if _, err := ap.CreateWorkerType(wt, workerTypeRequest()); err != nil {
		t.Errorf("CreateWorkerType again (idempotent): %v", err)
	}
	other := workerTypeRequest()
	other.MaxCapacity = 3
	if _, err := ap.CreateWorkerType(wt, other); status(err) != 409 {
		t.Errorf("CreateWorkerType with another definition: %v, want 409", err)
	}
	got, err := ap.WorkerType(wt)
	if err != nil || got.Description != "compat" || string(got.Secrets) != `{"password":"hunter2"}` {
		t.Fatalf("WorkerType: %+v, %v", got, err)
	}
	// The seed's recipe: the body of a GET, without lastModified and workerType.
	update := &tcawsprovisioner.CreateWorkerTypeRequest{
		Description: "compat, updated", Owner: got.Owner, MaxCapacity: got.MaxCapacity, MaxPrice: got.MaxPrice, MinPrice: got.MinPrice,
		ScalingRatio: got.ScalingRatio, LaunchSpec: got.LaunchSpec, UserData: got.UserData, Secrets: got.Secrets, Scopes: got.Scopes,
		Regions: got.Regions, InstanceTypes: got.InstanceTypes, AvailabilityZones: got.AvailabilityZones, CanUseSpot: got.CanUseSpot,
	}
	updated, err := ap.UpdateWorkerType(wt, update)
	if err != nil || updated.Description != "compat, updated" || !time.Time(updated.LastModified).After(time.Time(created.LastModified)) {
		t.Fatalf("UpdateWorkerType: %+v, %v", updated, err)
	}
	lm, err := anon.WorkerTypeLastModified(wt)
	if err != nil || !time.Time(lm.LastModified).Equal(time.Time(updated.LastModified)) || lm.WorkerType != wt {
		t.Errorf("WorkerTypeLastModified: %+v, %v", lm, err)
	}
	names, err := anon.ListWorkerTypes()
	if err != nil || len(*names) != 1 || (*names)[0] != wt {
		t.Errorf("ListWorkerTypes: %v, %v", names, err)
	}
	specs, err := ap.GetLaunchSpecs(wt)
	if err != nil || !strings.Contains(string(*specs), `"ImageId":"ami-0123456789abcdef0"`) || !strings.Contains(string(*specs), `"securityToken":"<generated per instance>"`) {
		t.Errorf("GetLaunchSpecs: %.300s, %v", *specs, err)
	}
	for name, sign := range map[string]func() (string, error){
		"WorkerType_SignedURL": func() (string, error) { u, err := ap.WorkerType_SignedURL(wt, time.Minute); return u.String(), err },
		"GetLaunchSpecs_SignedURL": func() (string, error) {
			u, err := ap.GetLaunchSpecs_SignedURL(wt, time.Minute)
			return u.String(), err
		},
	} {
		u, err := sign()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "ami-0123456789abcdef0") {
			t.Errorf("%s: %d %.200s", name, resp.StatusCode, body)
		}
	}
	if _, err := anon.WorkerType(wt); status(err) != 403 {
		t.Errorf("WorkerType anonymously: %v, want 403", err)
	}

	// createSecret / getSecret / removeSecret, as the API allows them directly.
	token := "Ra9ZB4b5QzaW6VmeQLH0bA"
	if err := ap.CreateSecret(token, &tcawsprovisioner.SecretRequest{Token: token, WorkerType: wt, Scopes: []string{"queue:x"},
		Secrets: json.RawMessage(`{"k":"v"}`), Expiration: tcv19.Time(time.Now().Add(time.Hour))}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	sec, err := anon.GetSecret(token)
	if err != nil || string(sec.Data) != `{"k":"v"}` || len(sec.Scopes) != 1 || sec.Credentials.Certificate == "" {
		t.Fatalf("GetSecret: %+v, %v", sec, err)
	}
	if _, err := anon.GetSecret(token); status(err) != 404 {
		t.Errorf("GetSecret again: %v, want 404 (single use)", err)
	}
	if err := anon.RemoveSecret(token); err != nil {
		t.Errorf("RemoveSecret: %v", err)
	}

	// A worker type's instance: its user data holds the token; the worker reads its
	// secret, removes it, and says it started.
	s.Queue.Set("aws-provisioner-v1", wt, 1)
	inst := liveInstance(t, s, store.WorkerTypePool(wt))
	raw, _ := s.Fake.UserData(inst.ID)
	var ud struct{ SecurityToken, ProvisionerBaseURL string }
	_ = json.Unmarshal(raw, &ud)
	wsec, err := anon.GetSecret(ud.SecurityToken)
	if err != nil || string(wsec.Data) != `{"password":"hunter2"}` {
		t.Fatalf("the instance's GetSecret: %+v, %v", wsec, err)
	}
	if err := anon.RemoveSecret(ud.SecurityToken); err != nil {
		t.Errorf("the instance's RemoveSecret: %v", err)
	}
	if err := anon.InstanceStarted(inst.ID, ud.SecurityToken); err != nil {
		t.Errorf("InstanceStarted: %v", err)
	}
	if err := anon.InstanceStarted(inst.ID, token); status(err) != 404 {
		t.Errorf("InstanceStarted with another token: %v, want 404", err)
	}
	// The credentials the secret held work with the official client, with their scopes.
	asWorker := tcawsprovisioner.New(&tcv19.Credentials{ClientID: wsec.Credentials.ClientID, AccessToken: wsec.Credentials.AccessToken, Certificate: wsec.Credentials.Certificate})
	asWorker.BaseURL = ap.BaseURL
	if _, err := asWorker.WorkerType(wt); err != nil {
		t.Errorf("the worker's credentials: %v", err)
	}
	if _, err := asWorker.CreateWorkerType("gecko-2", workerTypeRequest()); status(err) != 403 {
		t.Errorf("the worker's credentials beyond their scopes: %v, want 403", err)
	}

	sums, err := anon.ListWorkerTypeSummaries()
	if err != nil || len(*sums) != 1 || (*sums)[0].RunningCapacity != 1 || (*sums)[0].MaxCapacity != 1 {
		t.Errorf("ListWorkerTypeSummaries: %+v, %v", sums, err)
	}
	if err := anon.State(wt); err != nil {
		t.Errorf("State: %v", err)
	}
	waitFor(t, "a provisioner check-in", 30*time.Second, func() bool {
		st, err := anon.BackendStatus()
		return err == nil && st.Status == "healthy" && !time.Time(st.LastCheckedIn).IsZero()
	})

	if err := ap.RemoveWorkerType(wt); err != nil {
		t.Fatalf("RemoveWorkerType: %v", err)
	}
	if _, err := ap.WorkerType(wt); status(err) != 404 {
		t.Errorf("WorkerType after removal: %v, want 404", err)
	}
	// The aws-provisioner answered 204 for a missing worker type: "ensure deleted"
	// scripts pass.
	if err := ap.RemoveWorkerType(wt); err != nil {
		t.Errorf("RemoveWorkerType of a missing worker type: %v, want success as the aws-provisioner", err)
	}
	// removeWorkerType, as in the aws-provisioner, kills the instances at once.
	waitFor(t, "the removed worker type's instance to be terminated", 30*time.Second, func() bool {
		i, ok := s.Fake.Instance(inst.ID)
		return !ok || i.State == cloud.StateShuttingDown || i.State == cloud.StateTerminated
	})
}

const awsPoolConfig = `{"minCapacity": 0, "maxCapacity": 2, "lifecycle": {"registrationTimeout": 600},
  "launchConfigs": [{"region": "us-east-1", "capacityPerInstance": 1,
    "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large", "InstanceMarketOptions": {"MarketType": "spot"}}}]}`

// TestWorkerManagerV25 drives every method of the official v25 tcworkermanager client.
func TestWorkerManagerV25(t *testing.T) {
	s := startStack(t)
	wm := tcworkermanager.New(&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}, s.URL)
	anon := tcworkermanager.New(nil, s.URL)
	if err := anon.Ping(); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	provs, err := anon.ListProviders("", "")
	if err != nil || len(provs.Providers) != 3 || provs.Providers[0].ProviderID != "aws" {
		t.Errorf("ListProviders: %+v, %v", provs, err)
	}

	// A static pool and a worker in it.
	const static = "proj-ci/static-linux"
	if _, err := wm.CreateWorkerPool(static, &tcworkermanager.WorkerPoolDefinition{ProviderID: "static", Config: json.RawMessage(`{}`),
		Description: "racks", Owner: "ci@example.com"}); err != nil {
		t.Fatalf("CreateWorkerPool: %v", err)
	}
	if _, err := wm.CreateWorkerPool(static, &tcworkermanager.WorkerPoolDefinition{ProviderID: "static", Config: json.RawMessage(`{}`), Owner: "ci@example.com"}); status(err) != 409 {
		t.Errorf("CreateWorkerPool again: %v, want 409", err)
	}
	secret := strings.Repeat("k", 44)
	w, err := wm.CreateWorker(static, "rack-1", "host-07", &tcworkermanager.WorkerCreationRequest{Capacity: 2,
		Expires: tcclient.Time(time.Now().Add(24 * time.Hour)), ProviderInfo: json.RawMessage(`{"staticSecret":"` + secret + `"}`)})
	if err != nil || w.State != "running" || w.Capacity != 2 || w.WorkerPoolID != static {
		t.Fatalf("CreateWorker: %+v, %v", w, err)
	}
	if got, err := anon.Worker(static, "rack-1", "host-07"); err != nil || got.WorkerID != "host-07" {
		t.Errorf("Worker: %+v, %v", got, err)
	}
	if l, err := anon.ListWorkersForWorkerGroup(static, "rack-1", "", ""); err != nil || len(l.Workers) != 1 {
		t.Errorf("ListWorkersForWorkerGroup: %+v, %v", l, err)
	}
	reg, err := anon.RegisterWorker(&tcworkermanager.RegisterWorkerRequest{WorkerPoolID: static, ProviderID: "static", WorkerGroup: "rack-1",
		WorkerID: "host-07", WorkerIdentityProof: json.RawMessage(`{"staticSecret":"` + secret + `"}`)})
	if err != nil || reg.Credentials.ClientID != "worker/static/"+static+"/rack-1/host-07" {
		t.Fatalf("RegisterWorker (static): %+v, %v", reg, err)
	}
	// The worker reports an error with its own credentials: they carry
	// assume:worker-pool and assume:worker-id.
	asWorker := tcworkermanager.New(&tcclient.Credentials{ClientID: reg.Credentials.ClientID, AccessToken: reg.Credentials.AccessToken, Certificate: reg.Credentials.Certificate}, s.URL)
	e, err := asWorker.ReportWorkerError(static, &tcworkermanager.WorkerErrorReport{Kind: "disk-full", Title: "Disk full",
		Description: "/ is full", Extra: json.RawMessage(`{"free": 0}`), WorkerGroup: "rack-1", WorkerID: "host-07"})
	if err != nil || e.Kind != "disk-full" || len(e.ErrorID) != 22 {
		t.Fatalf("ReportWorkerError with the worker's credentials: %+v, %v", e, err)
	}
	if _, err := asWorker.ReportWorkerError(static, &tcworkermanager.WorkerErrorReport{Kind: "x", Title: "t", Extra: json.RawMessage(`{}`),
		WorkerGroup: "rack-1", WorkerID: "someone-else"}); status(err) != 403 {
		t.Errorf("reporting for another worker: %v, want 403", err)
	}
	errs, err := anon.ListWorkerPoolErrors(static, "", "")
	if err != nil || len(errs.WorkerPoolErrors) != 1 || !strings.Contains(string(errs.WorkerPoolErrors[0].Extra), `"workerId":"host-07"`) {
		t.Errorf("ListWorkerPoolErrors: %+v, %v", errs, err)
	}
	if err := wm.RemoveWorker(static, "rack-1", "host-07"); err != nil {
		t.Errorf("RemoveWorker (static): %v", err)
	}
	if _, err := anon.Worker(static, "rack-1", "host-07"); status(err) != 404 {
		t.Errorf("Worker after RemoveWorker: %v, want 404", err)
	}

	// An aws pool: launch, register with the identity document, replay refused.
	const awsPool = "proj-ci/linux"
	if _, err := wm.CreateWorkerPool(awsPool, &tcworkermanager.WorkerPoolDefinition{ProviderID: "aws", Config: json.RawMessage(awsPoolConfig),
		Description: "ci", Owner: "ci@example.com"}); err != nil {
		t.Fatalf("CreateWorkerPool (aws): %v", err)
	}
	got, err := anon.WorkerPool(awsPool)
	if err != nil || got.ProviderID != "aws" {
		t.Fatalf("WorkerPool: %+v, %v", got, err)
	}
	upd, err := wm.UpdateWorkerPool(awsPool, &tcworkermanager.WorkerPoolDefinition1{ProviderID: "aws", Config: got.Config,
		Description: "ci, updated", Owner: got.Owner, WorkerPoolID: awsPool, Created: got.Created, LastModified: got.LastModified})
	if err != nil || upd.Description != "ci, updated" {
		t.Errorf("UpdateWorkerPool: %+v, %v", upd, err)
	}
	s.Queue.Set("proj-ci", "linux", 1)
	inst := liveInstance(t, s, awsPool)
	doc, sig := imds(t, s, inst.ID)
	proof, _ := json.Marshal(map[string]string{"document": doc, "signature": sig})
	req := &tcworkermanager.RegisterWorkerRequest{WorkerPoolID: awsPool, ProviderID: "aws", WorkerGroup: "aws", WorkerID: inst.ID, WorkerIdentityProof: proof} // v25: workerGroup is the providerId
	reg, err = anon.RegisterWorker(req)
	if err != nil || !strings.HasPrefix(reg.Credentials.ClientID, "worker/aws/") || time.Until(time.Time(reg.Expires)) < 95*time.Hour {
		t.Fatalf("RegisterWorker (aws): %+v, %v", reg, err)
	}
	if _, err := anon.RegisterWorker(req); status(err) != 400 {
		t.Errorf("a replayed proof: %v, want 400", err)
	}
	ww, err := anon.Worker(awsPool, "aws", inst.ID)
	if err != nil || ww.State != "running" {
		t.Errorf("the registered worker: %+v, %v", ww, err)
	}
	if l, err := anon.ListWorkersForWorkerPool(awsPool, "", ""); err != nil || len(l.Workers) != 1 {
		t.Errorf("ListWorkersForWorkerPool: %+v, %v", l, err)
	}

	// Paging through the official client, one at a time.
	seen := map[string]int{}
	token := ""
	for range 10 {
		page, err := anon.ListWorkerPools(token, "1")
		if err != nil {
			t.Fatalf("ListWorkerPools: %v", err)
		}
		for _, p := range page.WorkerPools {
			seen[p.WorkerPoolID]++
		}
		if token = page.ContinuationToken; token == "" {
			break
		}
	}
	if len(seen) != 2 || seen[static] != 1 || seen[awsPool] != 1 {
		t.Errorf("paging one at a time saw %v", seen)
	}

	deleted, err := wm.DeleteWorkerPool(awsPool)
	if err != nil || deleted.ProviderID != "null-provider" {
		t.Fatalf("DeleteWorkerPool: %+v, %v", deleted, err)
	}
	// As in v25, the deleted pool's worker runs on until it exits: still running a few
	// iterations later, the pool still there.
	time.Sleep(3 * time.Second)
	if i, ok := s.Fake.Instance(inst.ID); !ok || i.State != cloud.StateRunning {
		t.Errorf("the deleted pool's instance: %+v, want it left running", i)
	}
	if _, err := anon.WorkerPool(awsPool); err != nil {
		t.Errorf("the deleted pool went while its worker runs: %v", err)
	}
	if err := s.Fake.Shutdown(inst.ID); err != nil { // the worker finishes and shuts down
		t.Fatal(err)
	}
	waitFor(t, "the deleted pool to disappear", 60*time.Second, func() bool {
		_, err := anon.WorkerPool(awsPool)
		return status(err) == 404
	})
}

// imds reads an instance's identity document and signature from the local metadata
// endpoints, as a worker reads EC2's.
func imds(t *testing.T, s *localstack.Stack, id string) (doc, sig string) {
	t.Helper()
	get := func(path string) string {
		resp, err := http.Get(fmt.Sprintf("%s/local/imds/%s/latest/%s", s.URL, id, path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("imds %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	return get("dynamic/instance-identity/document"), get("dynamic/instance-identity/signature")
}
