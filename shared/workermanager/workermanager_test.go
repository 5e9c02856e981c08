package workermanager_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/apptest"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/identity"
	"github.com/workerfleet/workerfleet/shared/store"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var ctx = context.Background()

const base = "/api/worker-manager/v1"

func esc(id string) string { return url.QueryEscape(id) }

const awsConfig = `{"minCapacity":0,"maxCapacity":4,"lifecycle":{"registrationTimeout":600},"launchConfigs":[
  {"region":"us-east-1","capacityPerInstance":1,"launchConfig":{"ImageId":"ami-0123456789abcdef0","InstanceType":"m5.large"}}]}`

// compact is v's JSON without insignificant whitespace.
func compact(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func poolBody(provider, config string) map[string]any {
	return map[string]any{"providerId": provider, "description": "ci", "owner": "ci@example.com", "emailOnError": false, "config": json.RawMessage(config)}
}

func TestWorkerPoolLifecycle(t *testing.T) {
	h := apptest.New(t)
	path := base + "/worker-pool/" + esc("proj-ci/linux")
	r := h.Do(h.Root, "PUT", path, poolBody("aws", awsConfig))
	if r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	p := r.JSON(t)
	if p["workerPoolId"] != "proj-ci/linux" || p["providerId"] != "aws" || p["created"] == nil {
		t.Errorf("created %v", p)
	}
	var asRead struct{ Config json.RawMessage }
	if err := json.Unmarshal([]byte(r.Body), &asRead); err != nil {
		t.Fatal(err)
	}
	if got, want := string(asRead.Config), compact(t, json.RawMessage(awsConfig)); got != want {
		t.Errorf("config returned as %s, want it as written: %s", got, want)
	}
	// The same definition again is an idempotent repeat; another is a conflict.
	if r := h.Do(h.Root, "PUT", path, poolBody("aws", awsConfig)); r.Status != 200 || r.JSON(t)["lastModified"] != p["lastModified"] {
		t.Errorf("create again, the same: %d %s, want 200 and nothing changed", r.Status, r.Body)
	}
	if r := h.Do(h.Root, "PUT", path, poolBody("aws", strings.Replace(awsConfig, `"maxCapacity":4`, `"maxCapacity":5`, 1))); r.Status != 409 {
		t.Errorf("create again, another definition: %d, want 409", r.Status)
	}
	// Sending back what a GET returned changes nothing, not even lastModified.
	same := h.Do(nil, "GET", path, nil).JSON(t)
	if r := h.Do(h.Root, "POST", path, same); r.Status != 200 || r.JSON(t)["lastModified"] != p["lastModified"] {
		t.Errorf("update with an unchanged GET body: %d %s, want 200 and lastModified kept", r.Status, r.Body)
	}
	// The body of a GET can be sent back to update.
	got := h.Do(nil, "GET", path, nil).JSON(t)
	got["description"] = "changed"
	if r := h.Do(h.Root, "POST", path, got); r.Status != 200 || r.JSON(t)["description"] != "changed" {
		t.Errorf("update with a GET body: %d %s", r.Status, r.Body)
	}
	got["workerPoolId"] = "proj-ci/other"
	if r := h.Do(h.Root, "POST", path, got); r.Status != 400 {
		t.Errorf("update with another workerPoolId in the body: %d, want 400", r.Status)
	}
	if r := h.Do(h.Root, "POST", path, poolBody("static", `{}`)); r.Status != 200 || r.JSON(t)["providerId"] != "static" {
		t.Errorf("provider change: %d %s", r.Status, r.Body)
	}
	wp, _ := h.App.Store.WorkerPool(ctx, "proj-ci/linux")
	if fmt.Sprint(wp.PreviousProviderIDs) != "[aws]" {
		t.Errorf("previous providers %v, want [aws]", wp.PreviousProviderIDs)
	}
	r = h.Do(h.Root, "DELETE", path, nil)
	if r.Status != 200 || r.JSON(t)["providerId"] != "null-provider" {
		t.Errorf("delete: %d %s", r.Status, r.Body)
	}
	if r := h.Do(nil, "GET", base+"/worker-pool/"+esc("proj-ci/absent"), nil); r.Status != 404 {
		t.Errorf("absent pool: %d", r.Status)
	}
}

func TestInvalidPoolsStoreNothing(t *testing.T) {
	h := apptest.New(t)
	for name, tc := range map[string]struct {
		id   string
		body any
	}{
		"unknown provider":   {"p/a", poolBody("gcp", `{}`)},
		"invalid aws config": {"p/a", poolBody("aws", `{"minCapacity":5,"maxCapacity":1,"launchConfigs":[]}`)},
		"refused field":      {"p/a", poolBody("aws", strings.Replace(awsConfig, `"region"`, `"additionalUserData":{"rootUrl":"x"},"region"`, 1))},
		"bad id":             {"Not_A_Pool", poolBody("static", `{}`)},
		"bad id case":        {"p/UPPER", poolBody("static", `{}`)},
		"no owner":           {"p/a", map[string]any{"providerId": "static", "description": "", "emailOnError": false, "config": map[string]any{}}},
		"bad owner":          {"p/a", map[string]any{"providerId": "static", "description": "", "owner": "nobody", "emailOnError": false, "config": map[string]any{}}},
		"unknown field":      {"p/a", map[string]any{"providerId": "static", "description": "", "owner": "a@b.c", "emailOnError": false, "config": map[string]any{}, "extra": 1}},
		"null-provider":      {"p/a", poolBody("null-provider", `{}`)},
		"malformed JSON":     {"p/a", `{"providerId":`},
	} {
		r := h.Do(h.Root, "PUT", base+"/worker-pool/"+esc(tc.id), tc.body)
		if r.Status != 400 || r.Code() == "" {
			t.Errorf("%s: %d %s, want 400", name, r.Status, r.Body)
		}
	}
	if pools, _, _ := h.App.Store.ListWorkerPools(ctx, store.Page{}); len(pools) != 0 {
		t.Errorf("%d pools stored by bad requests", len(pools))
	}
}

func TestScopeMatrix(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/static"), poolBody("static", `{}`))
	secret := strings.Repeat("a", 44)
	n := 0
	tests := []struct {
		name, method string
		path         func() string
		body         any
		required     []string
	}{
		{"createWorkerPool", "PUT", func() string { n++; return base + "/worker-pool/" + esc(fmt.Sprintf("p/new-%d", n)) }, poolBody("static", `{}`),
			[]string{"worker-manager:manage-worker-pool:p/*", "worker-manager:provider:static"}},
		{"updateWorkerPool", "POST", func() string { return base + "/worker-pool/" + esc("p/static") }, poolBody("static", `{}`),
			[]string{"worker-manager:manage-worker-pool:p/static", "worker-manager:provider:static"}},
		{"createWorker", "PUT", func() string { n++; return base + "/workers/" + esc("p/static") + ":/g/" + fmt.Sprintf("w%d", n) },
			map[string]any{"expires": time.Now().Add(time.Hour), "providerInfo": map[string]any{"staticSecret": secret}},
			[]string{"worker-manager:create-worker:p/static/g/*"}},
		{"reportWorkerError", "POST", func() string { return base + "/worker-pool-errors/" + esc("p/static") },
			map[string]any{"kind": "boot-failure", "title": "t", "description": "d", "extra": map[string]any{}, "workerGroup": "g", "workerId": "w"},
			[]string{"assume:worker-pool:p/static", "assume:worker-id:g/w"}},
		{"removeWorker", "DELETE", func() string {
			n++
			id := fmt.Sprintf("rm%d", n)
			h.Do(h.Root, "PUT", base+"/workers/"+esc("p/static")+":/g/"+id, map[string]any{"expires": time.Now().Add(time.Hour), "providerInfo": map[string]any{"staticSecret": secret}})
			return base + "/workers/" + esc("p/static") + "/g/" + id
		}, nil, []string{"worker-manager:remove-worker:p/static/g/*"}},
		{"deleteWorkerPool", "DELETE", func() string {
			n++
			id := fmt.Sprintf("p/del-%d", n)
			h.Do(h.Root, "PUT", base+"/worker-pool/"+esc(id), poolBody("static", `{}`))
			return base + "/worker-pool/" + esc(id)
		}, nil, []string{"worker-manager:manage-worker-pool:p/del-*"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exact := h.Client(fmt.Sprintf("exact-%d", i), tt.required...)
			if r := h.Do(exact, tt.method, tt.path(), tt.body); r.Status != 200 {
				t.Errorf("with exactly %v: %d %s", tt.required, r.Status, r.Body)
			}
			for j := range tt.required {
				less := append(append([]string{}, tt.required[:j]...), tt.required[j+1:]...)
				c := h.Client(fmt.Sprintf("less-%d-%d", i, j), less...)
				if r := h.Do(c, tt.method, tt.path(), tt.body); r.Status != 403 {
					t.Errorf("without %q: %d %s, want 403", tt.required[j], r.Status, r.Body)
				}
			}
		})
	}
	for _, p := range []string{"/ping", "/providers", "/worker-pools", "/worker-pool/" + esc("p/static"), "/worker-pool-errors/" + esc("p/static"),
		"/workers/" + esc("p/static"), "/workers/" + esc("p/static") + ":/g"} {
		if r := h.Do(nil, "GET", base+p, nil); r.Status != 200 {
			t.Errorf("anonymous GET %s: %d %s", p, r.Status, r.Body)
		}
	}
}

func TestListingsPageOneAtATime(t *testing.T) {
	h := apptest.New(t)
	var wantPools, wantWorkers []string
	for i := range 5 {
		id := fmt.Sprintf("page/pool-%d", i)
		h.Do(h.Root, "PUT", base+"/worker-pool/"+esc(id), poolBody("static", `{}`))
		wantPools = append(wantPools, id)
		w := fmt.Sprintf("w%d", i)
		h.Do(h.Root, "PUT", base+"/workers/"+esc("page/pool-0")+":/g/"+w, map[string]any{"expires": time.Now().Add(time.Hour), "providerInfo": map[string]any{"staticSecret": strings.Repeat("b", 44)}})
		wantWorkers = append(wantWorkers, w)
		h.Do(h.Root, "POST", base+"/worker-pool-errors/"+esc("page/pool-0"), map[string]any{"kind": "k", "title": "t", "description": "d", "extra": map[string]any{}, "workerGroup": "g", "workerId": w})
	}
	collect := func(path, key, field string) []string {
		var out []string
		token := ""
		for range 20 {
			q := url.Values{"limit": {"1"}}
			if token != "" {
				q.Set("continuationToken", token)
			}
			r := h.Do(nil, "GET", path+"?"+q.Encode(), nil)
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", path, r.Status, r.Body)
			}
			m := r.JSON(t)
			for _, it := range m[key].([]any) {
				out = append(out, it.(map[string]any)[field].(string))
			}
			next, _ := m["continuationToken"].(string)
			if next == "" {
				sort.Strings(out)
				return out
			}
			token = next
		}
		t.Fatalf("%s: paging did not end", path)
		return nil
	}
	if diff := cmp.Diff(wantPools, collect(base+"/worker-pools", "workerPools", "workerPoolId")); diff != "" {
		t.Errorf("pools (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantWorkers, collect(base+"/workers/"+esc("page/pool-0"), "workers", "workerId")); diff != "" {
		t.Errorf("workers (-want +got):\n%s", diff)
	}
	if got := collect(base+"/worker-pool-errors/"+esc("page/pool-0"), "workerPoolErrors", "errorId"); len(got) != 5 {
		t.Errorf("errors: %v", got)
	}
	if r := h.Do(nil, "GET", base+"/worker-pools?continuationToken=tampered", nil); r.Status != 400 {
		t.Errorf("tampered token: %d %s", r.Status, r.Body)
	}
	if r := h.Do(nil, "GET", base+"/worker-pools?limit=0", nil); r.Status != 400 {
		t.Errorf("limit 0: %d", r.Status)
	}
	provs := h.Do(nil, "GET", base+"/providers?limit=2", nil).JSON(t)
	if len(provs["providers"].([]any)) != 2 || provs["continuationToken"] == nil {
		t.Errorf("providers page: %v", provs)
	}
}

func TestReportedErrors(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/a"), poolBody("static", `{}`))
	r := h.Do(h.Root, "POST", base+"/worker-pool-errors/"+esc("p/a"), map[string]any{"kind": "disk-full", "title": "Disk full", "description": "no space",
		"extra": map[string]any{"disk": "/"}, "workerGroup": "g", "workerId": "w1"})
	if r.Status != 200 {
		t.Fatalf("report: %d %s", r.Status, r.Body)
	}
	e := r.JSON(t)
	extra := e["extra"].(map[string]any)
	if e["kind"] != "disk-full" || e["workerPoolId"] != "p/a" || extra["workerGroup"] != "g" || extra["workerId"] != "w1" || extra["disk"] != "/" ||
		e["reported"] == nil || len(e["errorId"].(string)) != 22 {
		t.Errorf("error %v", e)
	}
	if r := h.Do(h.Root, "POST", base+"/worker-pool-errors/"+esc("p/absent"), map[string]any{"kind": "k", "title": "t", "description": "", "extra": map[string]any{}, "workerGroup": "g", "workerId": "w"}); r.Status != 404 {
		t.Errorf("error for an absent pool: %d", r.Status)
	}
	if r := h.Do(h.Root, "POST", base+"/worker-pool-errors/"+esc("p/a"), map[string]any{"kind": "Bad Kind", "title": "t", "description": "", "extra": map[string]any{}, "workerGroup": "g", "workerId": "w"}); r.Status != 400 {
		t.Errorf("bad kind: %d", r.Status)
	}
}

// mailbox records the emails a Mailer is asked to send; err makes them fail.
type mailbox struct {
	mu   sync.Mutex
	sent []string // address, subject and content, one string each
	err  error
}

func (m *mailbox) Email(_ context.Context, address, subject, content string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, address+"\n"+subject+"\n"+content)
	return m.err
}

// TestEmailOnError: a reported error is mailed to the owner of a pool with
// emailOnError, and only then; an email that fails still leaves the error recorded.
func TestEmailOnError(t *testing.T) {
	mail := &mailbox{}
	h := apptest.New(t, app.WithMailer(mail))
	quiet, loud := poolBody("static", `{}`), poolBody("static", `{}`)
	loud["emailOnError"], loud["owner"] = true, "owner@example.com"
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/quiet"), quiet)
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/loud"), loud)
	report := func(pool string) apptest.Response {
		return h.Do(h.Root, "POST", base+"/worker-pool-errors/"+esc(pool), map[string]any{"kind": "disk-full", "title": "Disk full",
			"description": "no space left", "extra": map[string]any{"disk": "/"}, "workerGroup": "g", "workerId": "w1"})
	}
	if r := report("p/quiet"); r.Status != 200 || len(mail.sent) != 0 {
		t.Errorf("a pool without emailOnError: %d, %d emails", r.Status, len(mail.sent))
	}
	r := report("p/loud")
	if r.Status != 200 || len(mail.sent) != 1 {
		t.Fatalf("a pool with emailOnError: %d, %d emails", r.Status, len(mail.sent))
	}
	id := r.JSON(t)["errorId"].(string)
	for _, want := range []string{"owner@example.com\nTaskcluster Worker Manager Error: Disk full\n", "the worker pool p/loud:", "no space left",
		"ErrorId: " + id, "disk: /", "workerId: w1"} {
		if !strings.Contains(mail.sent[0], want) {
			t.Errorf("the email lacks %q:\n%s", want, mail.sent[0])
		}
	}
	mail.err = errors.New("notify is down")
	if r := report("p/loud"); r.Status != 200 {
		t.Errorf("report while mail fails: %d %s", r.Status, r.Body)
	}
	if l := h.Do(nil, "GET", base+"/worker-pool-errors/"+esc("p/loud"), nil).JSON(t)["workerPoolErrors"].([]any); len(l) != 2 {
		t.Errorf("%d errors recorded, want 2", len(l))
	}
}

func TestStaticWorkers(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/static"), poolBody("static", `{"lifecycle":{"reregistrationTimeout":7200}}`))
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/aws"), poolBody("aws", awsConfig))
	secret := strings.Repeat("s", 44)
	path := base + "/workers/" + esc("p/static") + ":/rack1/host7"
	body := map[string]any{"capacity": 4, "expires": time.Now().Add(24 * time.Hour), "providerInfo": map[string]any{"staticSecret": secret}}
	r := h.Do(h.Root, "PUT", path, body)
	if r.Status != 200 || r.JSON(t)["state"] != "running" || r.JSON(t)["capacity"] != float64(4) {
		t.Fatalf("createWorker: %d %s", r.Status, r.Body)
	}
	if r := h.Do(h.Root, "PUT", path, body); r.Status != 200 {
		t.Errorf("the same worker again: %d", r.Status)
	}
	body["providerInfo"] = map[string]any{"staticSecret": strings.Repeat("t", 44)}
	// v25's static provider: "worker already exists" as an InputError (400).
	if r := h.Do(h.Root, "PUT", path, body); r.Status != 400 || r.Code() != "InputError" {
		t.Errorf("same worker, other secret: %d %s, want 400 InputError as v25", r.Status, r.Body)
	}
	if r := h.Do(h.Root, "PUT", base+"/workers/"+esc("p/aws")+":/g/w", body); r.Status != 400 {
		t.Errorf("createWorker on an aws pool: %d, want 400", r.Status)
	}
	w, _ := h.App.Store.Worker(ctx, "p/static", "rack1", "host7")
	if strings.Contains(fmt.Sprint(w), secret) {
		t.Error("the static secret is stored in plain text")
	}

	register := func(s string) apptest.Response {
		return h.Do(nil, "POST", base+"/worker/register", map[string]any{"workerPoolId": "p/static", "providerId": "static",
			"workerGroup": "rack1", "workerId": "host7", "workerIdentityProof": map[string]any{"staticSecret": s}})
	}
	if r := register(strings.Repeat("x", 44)); r.Status != 400 {
		t.Errorf("wrong secret: %d %s", r.Status, r.Body)
	}
	for range 2 { // static workers re-register to renew their credentials
		r := register(secret)
		if r.Status != 200 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		checkCredentials(t, h, r, "worker/static/p/static/rack1/host7", "p/static", "rack1/host7", 2*time.Hour)
	}
	if r := h.Do(h.Root, "DELETE", base+"/workers/"+esc("p/static")+"/rack1/host7", nil); r.Status != 200 {
		t.Errorf("removeWorker: %d %s", r.Status, r.Body)
	}
	if r := h.Do(nil, "GET", path, nil); r.Status != 404 {
		t.Errorf("removed static worker: %d", r.Status)
	}
}

// checkCredentials checks a registerWorker answer: credentials that authenticate as
// the named worker with worker-manager v25's seven scopes, expiring as expected.
func checkCredentials(t *testing.T, h *apptest.Harness, r apptest.Response, clientID, poolID, workerID string, life time.Duration) {
	t.Helper()
	var resp struct {
		Credentials struct{ ClientID, AccessToken, Certificate string }
		Expires     time.Time
	}
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(resp.Expires); d < life-time.Minute || d > life+time.Minute {
		t.Errorf("credentials expire in %v, want %v", d, life)
	}
	var cert struct{ Start int64 }
	if err := json.Unmarshal([]byte(resp.Credentials.Certificate), &cert); err != nil {
		t.Fatal(err)
	}
	if back := time.Since(time.UnixMilli(cert.Start)); back < 15*time.Minute || back > 16*time.Minute {
		t.Errorf("credentials start %v back, want 15 minutes as worker-manager v25's", back.Round(time.Second))
	}
	creds := &tcclient.Credentials{ClientID: resp.Credentials.ClientID, AccessToken: resp.Credentials.AccessToken, Certificate: resp.Credentials.Certificate}
	c, err := h.App.Auth.Authenticate(ctx, signedGET(t, creds))
	if err != nil {
		t.Fatalf("the worker's credentials do not authenticate: %v", err)
	}
	want := []string{"assume:worker-type:" + poolID, "assume:worker-pool:" + poolID, "assume:worker-id:" + workerID,
		"queue:worker-id:" + workerID, "secrets:get:worker-type:" + poolID, "secrets:get:worker-pool:" + poolID,
		"queue:claim-work:" + poolID,
		// Today's worker-manager adds the three a worker needs for itself.
		"worker-manager:remove-worker:" + poolID + "/" + workerID, "worker-manager:reregister-worker:" + poolID + "/" + workerID,
		"worker-manager:should-worker-terminate:" + poolID + "/" + workerID}
	if c.ClientID != clientID || !cmp.Equal(c.Scopes, want) {
		t.Errorf("worker credentials: %s %v, want %s %v", c.ClientID, c.Scopes, clientID, want)
	}
}

func signedGET(t *testing.T, creds *tcclient.Credentials) auth.Request {
	t.Helper()
	req, err := newGET("http://localhost:80/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.SignRequest(req); err != nil {
		t.Fatal(err)
	}
	return auth.Request{Method: "GET", Host: "localhost", Port: "80", Resources: []string{"/x"}, Authorization: req.Header.Get("Authorization")}
}

// awsEnv is an aws pool with one launched worker, and an identity key the verifier
// trusts (as AWS's would be).
type awsEnv struct {
	h      *apptest.Harness
	key    *rsa.PrivateKey
	worker store.Worker
	term   *terminations
}

type terminations struct{ ids []string }

func (tm *terminations) Terminate(_ context.Context, region string, ids []string) error {
	tm.ids = append(tm.ids, ids...)
	return nil
}

func newAWSEnv(t testing.TB) *awsEnv { return newAWSEnvWith(t) }

// newAWSEnvWith is newAWSEnv with further app options.
func newAWSEnvWith(t testing.TB, opts ...app.Option) *awsEnv {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec2"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	v := identity.NewAWSVerifier()
	if err := v.Trust("*", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		t.Fatal(err)
	}
	term := &terminations{}
	h := apptest.New(t, append([]app.Option{app.WithVerifier(v), app.WithCloud(terminatingSet{term})}, opts...)...)
	if r := h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/aws"), poolBody("aws", awsConfig)); r.Status != 200 {
		t.Fatal(string(r.Body))
	}
	now := h.App.Store.Now()
	w, err := h.App.Store.CreateWorker(ctx, store.Worker{Pool: "p/aws", WorkerGroup: "us-east-1", WorkerID: "i-0abc", ProviderID: "aws",
		InstanceID: "i-0abc", Region: "us-east-1", AvailabilityZone: "us-east-1b", InstanceType: "m5.large", ImageID: "ami-0123456789abcdef0",
		AccountID: "123456789012", PrivateIP: "10.0.0.7", Capacity: 1, RegistrationDeadline: now.Add(10 * time.Minute), Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return &awsEnv{h: h, key: key, worker: w, term: term}
}

// terminatingSet is a cloud.InstanceSet that only records terminations.
type terminatingSet struct{ *terminations }

func (terminatingSet) ID() cloud.InstanceSetID { return "test" }
func (terminatingSet) Launch(context.Context, cloud.LaunchRequest) ([]cloud.Instance, error) {
	return nil, fmt.Errorf("not in this test")
}
func (terminatingSet) Instances(context.Context, string, map[string]string) ([]cloud.Instance, error) {
	return nil, nil
}
func (terminatingSet) SpotPrices(context.Context, string, []string) ([]cloud.Price, error) {
	return nil, nil
}
func (terminatingSet) OnDemandPrice(string, string) (float64, bool) { return 0, false }
func (terminatingSet) QuotaGroup(string) string                     { return "standard" }

func (e *awsEnv) document(mutate func(map[string]any)) (string, string) {
	d := map[string]any{"accountId": "123456789012", "architecture": "x86_64", "availabilityZone": "us-east-1b", "imageId": "ami-0123456789abcdef0",
		"instanceId": "i-0abc", "instanceType": "m5.large", "pendingTime": time.Now().UTC().Format(time.RFC3339), "privateIp": "10.0.0.7",
		"region": "us-east-1", "version": "2017-09-30"}
	if mutate != nil {
		mutate(d)
	}
	doc, _ := json.MarshalIndent(d, "", "  ")
	sum := sha256.Sum256(doc)
	sig, _ := rsa.SignPKCS1v15(rand.Reader, e.key, crypto.SHA256, sum[:])
	return string(doc), base64.StdEncoding.EncodeToString(sig)
}

func (e *awsEnv) register(doc, sig string) apptest.Response {
	return e.h.Do(nil, "POST", base+"/worker/register", map[string]any{"workerPoolId": "p/aws", "providerId": "aws",
		"workerGroup": "us-east-1", "workerId": "i-0abc", "workerIdentityProof": map[string]any{"document": doc, "signature": sig}})
}

func TestAWSRegistration(t *testing.T) {
	e := newAWSEnv(t)
	refused := map[string]func(map[string]any){
		"other instance":     func(d map[string]any) { d["instanceId"] = "i-0other" },
		"other region":       func(d map[string]any) { d["region"] = "us-west-2" },
		"other zone":         func(d map[string]any) { d["availabilityZone"] = "us-east-1c" },
		"other type":         func(d map[string]any) { d["instanceType"] = "m5.xlarge" },
		"other image":        func(d map[string]any) { d["imageId"] = "ami-0ffffffffffffffff" },
		"other account":      func(d map[string]any) { d["accountId"] = "999999999999" },
		"other private ip":   func(d map[string]any) { d["privateIp"] = "10.0.0.8" },
		"booted long before": func(d map[string]any) { d["pendingTime"] = time.Now().Add(-time.Hour).UTC().Format(time.RFC3339) },
		"booted after the timeout": func(d map[string]any) {
			d["pendingTime"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		},
	}
	for name, mutate := range refused {
		doc, sig := e.document(mutate)
		if r := e.register(doc, sig); r.Status != 400 || r.Code() != "InputError" {
			t.Errorf("%s: %d %s, want 400", name, r.Status, r.Body)
		}
	}
	doc, sig := e.document(nil)
	if r := e.register(strings.Replace(doc, "m5.large", "m5.xlarge", 1), sig); r.Status != 400 {
		t.Errorf("tampered document: %d", r.Status)
	}
	if r := e.register(doc, base64.StdEncoding.EncodeToString([]byte("not a signature"))); r.Status != 400 {
		t.Errorf("bad signature: %d", r.Status)
	}
	if w, _ := e.h.App.Store.Worker(ctx, "p/aws", "us-east-1", "i-0abc"); w.State != store.Requested {
		t.Fatalf("refused registrations changed the worker: %s", w.State)
	}

	r := e.register(doc, sig)
	if r.Status != 200 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	checkCredentials(t, e.h, r, "worker/aws/p/aws/us-east-1/i-0abc", "p/aws", "us-east-1/i-0abc", 96*time.Hour)
	w, _ := e.h.App.Store.Worker(ctx, "p/aws", "us-east-1", "i-0abc")
	if w.State != store.Running || w.Registered.IsZero() || time.Until(w.TerminateAfter) < 95*time.Hour {
		t.Errorf("registered worker: %s registered %v terminateAfter %v", w.State, w.Registered, w.TerminateAfter)
	}
	if r := e.register(doc, sig); r.Status != 400 {
		t.Errorf("replayed proof: %d %s, want 400", r.Status, r.Body)
	}

	// removeWorker of an aws worker: stopping, and its instance terminated.
	if r := e.h.Do(e.h.Root, "DELETE", base+"/workers/"+esc("p/aws")+"/us-east-1/i-0abc", nil); r.Status != 200 {
		t.Fatalf("removeWorker: %d %s", r.Status, r.Body)
	}
	w, _ = e.h.App.Store.Worker(ctx, "p/aws", "us-east-1", "i-0abc")
	if w.State != store.Stopping || fmt.Sprint(e.term.ids) != "[i-0abc]" {
		t.Errorf("after removeWorker: %s, terminated %v", w.State, e.term.ids)
	}
}

func TestRegistrationRefusals(t *testing.T) {
	e := newAWSEnv(t)
	doc, sig := e.document(nil)
	for name, body := range map[string]map[string]any{
		"unknown pool":    {"workerPoolId": "p/none", "providerId": "aws", "workerGroup": "us-east-1", "workerId": "i-0abc"},
		"unknown worker":  {"workerPoolId": "p/aws", "providerId": "aws", "workerGroup": "us-east-1", "workerId": "i-0none"},
		"wrong provider":  {"workerPoolId": "p/aws", "providerId": "static", "workerGroup": "us-east-1", "workerId": "i-0abc"},
		"malformed proof": {"workerPoolId": "p/aws", "providerId": "aws", "workerGroup": "us-east-1", "workerId": "i-0abc", "workerIdentityProof": "x"},
	} {
		if _, ok := body["workerIdentityProof"]; !ok {
			body["workerIdentityProof"] = map[string]any{"document": doc, "signature": sig}
		}
		r := e.h.Do(nil, "POST", base+"/worker/register", body)
		if r.Status < 400 || r.Status >= 500 {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	// Past the registration deadline.
	if _, err := e.h.App.Store.UpdateWorker(ctx, e.worker.Pool, e.worker.Key, func(w *store.Worker) error {
		w.RegistrationDeadline = time.Now().Add(-time.Minute)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if r := e.register(doc, sig); r.Status != 400 || !strings.Contains(string(r.Body), "registrationTimeout") {
		t.Errorf("past the deadline: %d %s", r.Status, r.Body)
	}
}

func newGET(u string) (*http.Request, error) { return http.NewRequest("GET", u, nil) }

// FuzzRegisterWorker sends registerWorker arbitrary bodies, seeded with the shapes of
// real aws and static registrations and their near misses. No input may get a 5xx,
// and any refused one must leave every worker record exactly as it was.
func FuzzRegisterWorker(f *testing.F) {
	e := newAWSEnv(f)
	h := e.h
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/static"), poolBody("static", `{}`))
	secret := strings.Repeat("s", 44)
	if r := h.Do(h.Root, "PUT", base+"/workers/"+esc("p/static")+":/rack1/host7", map[string]any{"capacity": 1,
		"expires": time.Now().Add(time.Hour), "providerInfo": map[string]any{"staticSecret": secret}}); r.Status != 200 {
		f.Fatalf("createWorker: %d %s", r.Status, r.Body)
	}
	seed := func(v any) { b, _ := json.Marshal(v); f.Add(b) }
	doc, _ := e.document(nil)
	other, otherSig := e.document(func(d map[string]any) { d["instanceId"] = "i-0other" })
	for _, proof := range []any{
		map[string]any{"document": other, "signature": otherSig},
		map[string]any{"document": doc, "signature": otherSig},
		map[string]any{"document": doc},
		map[string]any{"staticSecret": secret},
		"x", nil, 7,
	} {
		seed(map[string]any{"workerPoolId": "p/aws", "providerId": "aws", "workerGroup": "us-east-1", "workerId": "i-0abc", "workerIdentityProof": proof})
	}
	seed(map[string]any{"workerPoolId": "p/static", "providerId": "static", "workerGroup": "rack1", "workerId": "host7",
		"workerIdentityProof": map[string]any{"staticSecret": strings.Repeat("x", 44)}})
	f.Add([]byte(`{"workerPoolId": "p/aws", "workerPoolId": "p/static"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))

	records := func(t *testing.T) []store.Worker {
		var out []store.Worker
		for _, k := range [][3]string{{"p/aws", "us-east-1", "i-0abc"}, {"p/static", "rack1", "host7"}} {
			w, err := h.App.Store.Worker(ctx, k[0], k[1], k[2])
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, w)
		}
		return out
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		th := *h
		th.T = t
		before := records(t)
		r := th.Do(nil, "POST", base+"/worker/register", body)
		if r.Status >= 500 {
			t.Fatalf("registerWorker %q: %d %s", body, r.Status, r.Body)
		}
		if r.Status == 200 {
			return // a valid static registration (the fuzzer found the secret's shape)
		}
		if r.Code() == "" {
			t.Errorf("registerWorker %q: %d without a Taskcluster error body: %s", body, r.Status, r.Body)
		}
		if diff := cmp.Diff(before, records(t)); diff != "" {
			t.Fatalf("refused registration %q (%d) changed a worker:\n%s", body, r.Status, diff)
		}
	})
}
