package workermanager_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/dev/apptest"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/store"
	"github.com/workerfleet/workerfleet/shared/workermanager"
)

// registered is registerWorker's answer in today's shape.
type registered struct {
	Expires      time.Time
	Credentials  tcclient.Credentials
	WorkerConfig json.RawMessage
	Secret       string
}

func decodeRegistered(t *testing.T, r apptest.Response) registered {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var out registered
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Secret) != 44 || out.Credentials.ClientID == "" || out.Credentials.Certificate == "" || out.WorkerConfig == nil {
		t.Fatalf("answer lacks what today's worker-runner reads: %s", r.Body)
	}
	return out
}

// registerToday registers e's worker as worker-runner v106 does: with systemBootTime,
// and (as a newer worker might) a field this service does not know.
func (e *awsEnv) registerToday(t *testing.T) registered {
	t.Helper()
	doc, sig := e.document(nil)
	return decodeRegistered(t, e.h.Do(nil, "POST", base+"/worker/register", map[string]any{"workerPoolId": "p/aws", "providerId": "aws",
		"workerGroup": "us-east-1", "workerId": "i-0abc", "workerIdentityProof": map[string]any{"document": doc, "signature": sig},
		"systemBootTime": time.Now().Add(-20 * time.Second).UTC().Format(time.RFC3339), "someFieldOfTomorrow": true}))
}

func (e *awsEnv) setPool(t *testing.T, config string) {
	t.Helper()
	if r := e.h.Do(e.h.Root, "POST", base+"/worker-pool/"+esc("p/aws"), poolBody("aws", config)); r.Status != 200 {
		t.Fatalf("updateWorkerPool: %d %s", r.Status, r.Body)
	}
}

func (e *awsEnv) reregister(creds *tcclient.Credentials, secret string) apptest.Response {
	return e.h.Do(creds, "POST", base+"/worker/reregister", map[string]any{"workerPoolId": "p/aws", "workerGroup": "us-east-1",
		"workerId": "i-0abc", "secret": secret})
}

func TestRegisterWorkerAsTodaysWorkerRunner(t *testing.T) {
	e := newAWSEnv(t)
	config := []byte(`{"idleTimeoutSecs":300,"shutdown":{"enabled":true}}`)
	hash, err := e.h.App.Store.PutWorkerConfig(ctx, "p/aws", config, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.App.Store.UpdateWorker(ctx, e.worker.Pool, e.worker.Key, func(w *store.Worker) error {
		w.WorkerConfigHash = hash
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	reg := e.registerToday(t)
	if string(reg.WorkerConfig) != string(config) {
		t.Errorf("workerConfig %s, want the launch's %s", reg.WorkerConfig, config)
	}
	w, _ := e.h.App.Store.Worker(ctx, "p/aws", "us-east-1", "i-0abc")
	if w.State != store.Running || len(w.RegistrationSecretHash) == 0 || strings.Contains(string(w.RegistrationSecretHash), reg.Secret) {
		t.Errorf("registered record: %s, secret hash %x", w.State, w.RegistrationSecretHash)
	}
	// A malformed systemBootTime is a 400 that changes nothing (the field is known).
	if r := e.h.Do(nil, "POST", base+"/worker/register", map[string]any{"workerPoolId": "p/aws", "providerId": "aws",
		"workerGroup": "us-east-1", "workerId": "i-0abc", "workerIdentityProof": map[string]any{}, "systemBootTime": "yesterday"}); r.Status != 400 {
		t.Errorf("malformed systemBootTime: %d %s", r.Status, r.Body)
	}
}

func TestReregisterWorker(t *testing.T) {
	e := newAWSEnv(t)
	e.setPool(t, strings.Replace(awsConfig, `"registrationTimeout":600`, `"registrationTimeout":600,"reregistrationTimeout":90`, 1))
	reg := e.registerToday(t)
	if d := time.Until(reg.Expires); d < 80*time.Second || d > 91*time.Second {
		t.Errorf("registration's credentials last %v, want the pool's 90 s", d)
	}

	// Twice, as worker-runner renews: each renewal's credentials and secret make the next.
	creds, secret := &reg.Credentials, reg.Secret
	for i := range 2 {
		r := e.reregister(creds, secret)
		if r.Status != 200 {
			t.Fatalf("renewal %d: %d %s", i+1, r.Status, r.Body)
		}
		var renewed struct {
			Expires     time.Time
			Credentials tcclient.Credentials
			Secret      string
		}
		if err := json.Unmarshal(r.Body, &renewed); err != nil {
			t.Fatal(err)
		}
		if len(renewed.Secret) != 44 || renewed.Secret == secret || renewed.Credentials.Certificate == "" {
			t.Fatalf("renewal %d answered %s", i+1, r.Body)
		}
		if d := time.Until(renewed.Expires); d < 80*time.Second || d > 91*time.Second {
			t.Errorf("renewal %d: credentials last %v, want 90 s", i+1, d)
		}
		w, _ := e.h.App.Store.Worker(ctx, "p/aws", "us-east-1", "i-0abc")
		if !w.TerminateAfter.Equal(renewed.Expires.Truncate(time.Millisecond)) && w.TerminateAfter.Sub(renewed.Expires).Abs() > time.Millisecond {
			t.Errorf("renewal %d: the worker's end of life %v did not move with its credentials (%v)", i+1, w.TerminateAfter, renewed.Expires)
		}
		// The used secret is spent.
		if r := e.reregister(&renewed.Credentials, secret); r.Status != 400 {
			t.Errorf("renewal %d: the old secret again: %d %s", i+1, r.Status, r.Body)
		}
		creds, secret = &renewed.Credentials, renewed.Secret
	}

	before, _ := e.h.App.Store.Worker(ctx, "p/aws", "us-east-1", "i-0abc")
	refusals := []struct {
		name   string
		creds  *tcclient.Credentials
		body   map[string]any
		status int
	}{
		{"wrong secret", creds, map[string]any{"workerPoolId": "p/aws", "workerGroup": "us-east-1", "workerId": "i-0abc", "secret": strings.Repeat("x", 44)}, 400},
		{"malformed secret", creds, map[string]any{"workerPoolId": "p/aws", "workerGroup": "us-east-1", "workerId": "i-0abc", "secret": "short"}, 400},
		{"no credentials", nil, map[string]any{"workerPoolId": "p/aws", "workerGroup": "us-east-1", "workerId": "i-0abc", "secret": secret}, 403},
		{"another worker's credentials", creds, map[string]any{"workerPoolId": "p/aws", "workerGroup": "us-east-1", "workerId": "i-0other", "secret": secret}, 403},
		{"another pool", creds, map[string]any{"workerPoolId": "p/other", "workerGroup": "us-east-1", "workerId": "i-0abc", "secret": secret}, 403},
		{"an unknown worker, by root", e.h.Root, map[string]any{"workerPoolId": "p/aws", "workerGroup": "us-east-1", "workerId": "i-0none", "secret": secret}, 400},
	}
	for _, tt := range refusals {
		if r := e.h.Do(tt.creds, "POST", base+"/worker/reregister", tt.body); r.Status != tt.status || r.Code() == "" {
			t.Errorf("%s: %d %s, want %d", tt.name, r.Status, r.Body, tt.status)
		}
	}
	if after, _ := e.h.App.Store.Worker(ctx, "p/aws", "us-east-1", "i-0abc"); !cmp.Equal(before, after) {
		t.Errorf("refused renewals changed the worker:\n%s", cmp.Diff(before, after))
	}

	// Two renewals racing with the same secret: exactly one wins.
	var wins, losses atomic.Int32
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch r := e.reregister(creds, secret); r.Status {
			case 200:
				wins.Add(1)
			case 400:
				losses.Add(1)
			default:
				t.Errorf("racing renewal: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || losses.Load() != 1 {
		t.Errorf("racing renewals: %d won, %d lost; want exactly one winner", wins.Load(), losses.Load())
	}

}

// TestLongestReregistrationTimeoutIsIssued: every reregistrationTimeout the schema
// allows gets credentials (bounded by temporary credentials' 31 days from their
// back-dated start), where a timeout past about 31 days used to be refused by the
// issuer after the worker was marked running.
func TestLongestReregistrationTimeoutIsIssued(t *testing.T) {
	e := newAWSEnv(t)
	e.setPool(t, strings.Replace(awsConfig, `"registrationTimeout":600`, `"registrationTimeout":600,"reregistrationTimeout":2147483647`, 1))
	reg := e.registerToday(t)
	if d := time.Until(reg.Expires); d < 31*24*time.Hour-time.Hour || d > 31*24*time.Hour {
		t.Errorf("credentials last %v, want just under 31 days", d)
	}
}

// failingDB fails the next conditional write of a worker record to running, as
// if the table were unreachable at that moment.
type failingDB struct {
	store.DB
	armed atomic.Bool
}

func (f *failingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if st, ok := in.Item["state"].(*types.AttributeValueMemberS); ok && st.Value == string(store.Running) && in.ConditionExpression != nil &&
		f.armed.CompareAndSwap(true, false) {
		return nil, errors.New("injected: the table did not answer")
	}
	return f.DB.PutItem(ctx, in, opts...)
}

// TestFailedRegistrationCanBeRetried: a registration whose write fails after its
// credentials were issued leaves the worker requested, and its retry registers it.
func TestFailedRegistrationCanBeRetried(t *testing.T) {
	fdb := &failingDB{DB: storetest.DB(t)}
	e := newAWSEnvWith(t, app.WithDB(fdb))
	fdb.armed.Store(true)
	doc, sig := e.document(nil)
	if r := e.register(doc, sig); r.Status != 500 {
		t.Fatalf("registration with the write failing: %d %s, want 500", r.Status, r.Body)
	}
	if w, _ := e.h.App.Store.Worker(ctx, "p/aws", "us-east-1", "i-0abc"); w.State != store.Requested || len(w.RegistrationSecretHash) != 0 {
		t.Fatalf("a failed registration changed the worker: %s", w.State)
	}
	decodeRegistered(t, e.register(doc, sig))
}

// refusingIssuer refuses to issue while refuse is set, as an issuer whose token
// or scopes are wrong does.
type refusingIssuer struct {
	workermanager.Issuer
	refuse *atomic.Bool
}

func (r refusingIssuer) Temporary(name string, scopes []string, start, expiry time.Time) (auth.Credentials, error) {
	if r.refuse.Load() {
		return auth.Credentials{}, errors.New("injected: the issuer refuses")
	}
	return r.Issuer.Temporary(name, scopes, start, expiry)
}

// TestRefusedIssuingCanBeRetried: a registration whose credentials are refused
// leaves the worker requested (nothing was written), and registers once issuing
// works again.
func TestRefusedIssuingCanBeRetried(t *testing.T) {
	refuse := &atomic.Bool{}
	refuse.Store(true)
	e := newAWSEnvWith(t, app.WithIssuerWrapper(func(i workermanager.Issuer) workermanager.Issuer { return refusingIssuer{i, refuse} }))
	doc, sig := e.document(nil)
	if r := e.register(doc, sig); r.Status != 500 {
		t.Fatalf("registration with issuing refused: %d %s, want 500", r.Status, r.Body)
	}
	if w, _ := e.h.App.Store.Worker(ctx, "p/aws", "us-east-1", "i-0abc"); w.State != store.Requested || !w.Registered.IsZero() {
		t.Fatalf("a refused registration changed the worker: %s", w.State)
	}
	refuse.Store(false)
	decodeRegistered(t, e.register(doc, sig))
}

func TestShouldWorkerTerminate(t *testing.T) {
	e := newAWSEnv(t)
	reg := e.registerToday(t)
	path := base + "/workers/" + esc("p/aws") + "/us-east-1/i-0abc/should-terminate"
	ask := func(creds *tcclient.Credentials) (bool, string) {
		t.Helper()
		r := e.h.Do(creds, "GET", path, nil)
		if r.Status != 200 {
			t.Fatalf("shouldWorkerTerminate: %d %s", r.Status, r.Body)
		}
		var out struct {
			Terminate bool
			Reason    string
		}
		if err := json.Unmarshal(r.Body, &out); err != nil || out.Reason == "" {
			t.Fatalf("shouldWorkerTerminate answered %s", r.Body)
		}
		return out.Terminate, out.Reason
	}
	if stop, reason := ask(&reg.Credentials); stop || reason != "none" {
		t.Errorf("a healthy worker: %v %q", stop, reason)
	}
	if r := e.h.Do(nil, "GET", path, nil); r.Status != 403 {
		t.Errorf("anonymous: %d", r.Status)
	}
	other := e.h.Client("other-worker", "worker-manager:should-worker-terminate:p/aws/us-east-1/i-0other")
	if r := e.h.Do(other, "GET", path, nil); r.Status != 403 {
		t.Errorf("another worker's scope: %d", r.Status)
	}
	// The provisioner's decision is what the worker hears.
	if _, err := e.h.App.Store.UpdateWorker(ctx, e.worker.Pool, e.worker.Key, func(w *store.Worker) error {
		w.DecideTermination(true, "over capacity", time.Now())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if stop, reason := ask(&reg.Credentials); !stop || reason != "over capacity" {
		t.Errorf("a surplus worker: %v %q", stop, reason)
	}
	if _, err := e.h.App.Store.UpdateWorker(ctx, e.worker.Pool, e.worker.Key, func(w *store.Worker) error {
		w.DecideTermination(false, "needed", time.Time{})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Deleting the pool tells its workers at once.
	if r := e.h.Do(e.h.Root, "DELETE", base+"/worker-pool/"+esc("p/aws"), nil); r.Status != 200 {
		t.Fatalf("deleteWorkerPool: %d %s", r.Status, r.Body)
	}
	if stop, reason := ask(&reg.Credentials); !stop || reason != "worker pool deleted" {
		t.Errorf("a deleted pool's worker: %v %q", stop, reason)
	}
	if r := e.h.Do(e.h.Root, "GET", base+"/workers/"+esc("p/aws")+"/us-east-1/i-0none/should-terminate", nil); r.Status != 404 {
		t.Errorf("unknown worker: %d", r.Status)
	}
}

func TestStaticWorkersAreNeverToldToTerminate(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/static"), poolBody("static", `{"lifecycle":{"reregistrationTimeout":120},"workerConfig":{"shutdown":false}}`))
	secret := strings.Repeat("s", 44)
	if r := h.Do(h.Root, "PUT", base+"/workers/"+esc("p/static")+":/rack1/host7", map[string]any{"capacity": 1,
		"expires": time.Now().Add(time.Hour), "providerInfo": map[string]any{"staticSecret": secret}}); r.Status != 200 {
		t.Fatalf("createWorker: %d %s", r.Status, r.Body)
	}
	reg := decodeRegistered(t, h.Do(nil, "POST", base+"/worker/register", map[string]any{"workerPoolId": "p/static", "providerId": "static",
		"workerGroup": "rack1", "workerId": "host7", "workerIdentityProof": map[string]any{"staticSecret": secret}}))
	if string(reg.WorkerConfig) != `{"shutdown":false}` {
		t.Errorf("a static worker's workerConfig: %s, want its pool's", reg.WorkerConfig)
	}
	r := h.Do(&reg.Credentials, "GET", base+"/workers/"+esc("p/static")+"/rack1/host7/should-terminate", nil)
	if r.Status != 200 || compact(t, r.JSON(t)) != `{"reason":"none","terminate":false}` {
		t.Errorf("static worker: %d %s", r.Status, r.Body)
	}
	// A static worker renews too; its record keeps the expiry createWorker gave it.
	before, _ := h.App.Store.Worker(ctx, "p/static", "rack1", "host7")
	r = h.Do(&reg.Credentials, "POST", base+"/worker/reregister", map[string]any{"workerPoolId": "p/static", "workerGroup": "rack1", "workerId": "host7", "secret": reg.Secret})
	if r.Status != 200 {
		t.Fatalf("static reregister: %d %s", r.Status, r.Body)
	}
	if after, _ := h.App.Store.Worker(ctx, "p/static", "rack1", "host7"); !after.Expires.Equal(before.Expires) {
		t.Errorf("a renewal moved a static worker's expiry from %v to %v", before.Expires, after.Expires)
	}
}

func TestWorkerRemovesItself(t *testing.T) {
	e := newAWSEnv(t)
	reg := e.registerToday(t)
	if r := e.h.Do(&reg.Credentials, "DELETE", base+"/workers/"+esc("p/aws")+"/us-east-1/i-0other", nil); r.Status != 403 {
		t.Errorf("removing another worker with its own credentials: %d", r.Status)
	}
	if r := e.h.Do(&reg.Credentials, "DELETE", base+"/workers/"+esc("p/aws")+"/us-east-1/i-0abc", nil); r.Status != 200 {
		t.Fatalf("removeWorker with the worker's own credentials: %d %s", r.Status, r.Body)
	}
	w, _ := e.h.App.Store.Worker(ctx, "p/aws", "us-east-1", "i-0abc")
	if w.State != store.Stopping {
		t.Errorf("after removing itself: %s", w.State)
	}
	if r := e.reregister(&reg.Credentials, reg.Secret); r.Status != 400 {
		t.Errorf("a stopping worker renewed: %d %s", r.Status, r.Body)
	}
}

// TestRegistrationRequests counts the DynamoDB requests of registerWorker and
// reregisterWorker (the function's own, through the per-function IAM guard).
func TestRegistrationRequests(t *testing.T) {
	counter := store.NewCountingDB(storetest.DB(t))
	e := newAWSEnvWith(t, app.WithDB(counter))
	counter.Reset()
	reg := e.registerToday(t)
	registerCounts := counter.Counts()
	counter.Reset()
	if r := e.reregister(&reg.Credentials, reg.Secret); r.Status != 200 {
		t.Fatalf("reregister: %d %s", r.Status, r.Body)
	}
	reregisterCounts := counter.Counts()
	t.Logf("registerWorker: %v; reregisterWorker: %v", registerCounts, reregisterCounts)
	// register: pool, worker, its workerConfig; one conditional write. reregister: the
	// nonce (Hawk replay protection), worker, pool; one conditional write.
	if registerCounts["GetItem"] > 3 || registerCounts["PutItem"] != 1 {
		t.Errorf("registerWorker made %v", registerCounts)
	}
	if reregisterCounts["GetItem"] > 2 || reregisterCounts["PutItem"] > 2 {
		t.Errorf("reregisterWorker made %v", reregisterCounts)
	}
}
