package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/dev/apptest"
	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// These tests hold the findings of issue 22 (tenant isolation, minted scopes, the
// edges) through the HTTP layer; each failed before its fix.

// signedFor signs a request for another host (as a client of another deployment
// would), then sends it to the harness with the given extra headers.
func signedFor(t *testing.T, h *apptest.Harness, creds *tcclient.Credentials, method, signedURL string, headers map[string]string) apptest.Response {
	t.Helper()
	req, err := http.NewRequest(method, signedURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.SignRequest(req); err != nil {
		t.Fatal(err)
	}
	local, _ := url.Parse(h.URL)
	req.URL.Scheme, req.URL.Host, req.Host = local.Scheme, local.Host, local.Host
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apptest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// TestForwardedHostIsTrustedOnlyFromTheFrontDoor (finding 4): a request signed for
// another deployment's host, with that host in X-Forwarded-Host, is refused unless
// the front door's secret header comes with it.
func TestForwardedHostIsTrustedOnlyFromTheFrontDoor(t *testing.T) {
	const secret = "the-front-door-secret"
	path := apBase + "/worker-type/none"
	staging := "https://staging.example.com" + path
	for _, tt := range []struct {
		name       string
		secret     string // the deployment's FRONT_DOOR_SECRET
		headers    map[string]string
		signed     string // "" : the harness's own URL
		wantStatus int
	}{
		{"another deployment's request, forwarded host claimed", "", map[string]string{"X-Forwarded-Host": "staging.example.com:443"}, staging, 401},
		{"the same, with a front door configured but no proof", secret, map[string]string{"X-Forwarded-Host": "staging.example.com:443"}, staging, 401},
		{"the same, with a wrong proof", secret, map[string]string{"X-Forwarded-Host": "staging.example.com:443", httpapi.FrontDoorHeader: "guess"}, staging, 401},
		{"through the front door", secret, map[string]string{"X-Forwarded-Host": "staging.example.com:443", httpapi.FrontDoorHeader: secret}, staging, 404},
		{"signed for the Host, a stray X-Forwarded-Host ignored", secret, map[string]string{"X-Forwarded-Host": "elsewhere.example.com:443"}, "", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := apptest.New(t, app.WithFrontDoorSecret(tt.secret))
			signed := tt.signed
			if signed == "" {
				signed = h.URL + path
			}
			r := signedFor(t, h, h.Root, "GET", signed, tt.headers)
			if r.Status != tt.wantStatus || r.Code() == "" {
				t.Errorf("%d %s, want %d with a Taskcluster error", r.Status, truncate(r.Body), tt.wantStatus)
			}
		})
	}
}

// TestUnknownClientsCostOneUpstreamCall (finding 6): with authentication delegated
// to a Taskcluster deployment, a request of a client unknown here is validated
// first (a malformed path parameter or body costs no upstream call), and then
// costs one authenticateHawk call: only the encodings a client signs are tried,
// and a refusal that is not a MAC mismatch ends the search.
func TestUnknownClientsCostOneUpstreamCall(t *testing.T) {
	var mu sync.Mutex
	var resources []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Resource string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		resources = append(resources, in.Resource)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"auth-failed","message":"Client ID nobody does not exist"}`)
	}))
	defer upstream.Close()
	h := apptest.NewWithConfig(t, func(c *app.Config) { c.TaskclusterRootURL, c.DelegateAuth = upstream.URL, true })
	nobody := &tcclient.Credentials{ClientID: "nobody", AccessToken: "whatever"}
	for _, tt := range []struct {
		name, method, path string
		body               any
		wantStatus         int
		wantCalls          []string
	}{
		{"malformed pool id", "PUT", wmBase + "/worker-pool/no-slash-here", map[string]any{}, 400, nil},
		{"malformed worker type", "DELETE", apBase + "/worker-type/" + strings.Repeat("x", 30), nil, 400, nil},
		{"body not JSON", "POST", wmBase + "/worker-pool-errors/proj%2Fpool", "{not json", 400, nil},
		{"valid request", "DELETE", wmBase + "/worker-pool/proj%2Fpool", nil, 401, []string{wmBase + "/worker-pool/proj%2Fpool"}},
	} {
		mu.Lock()
		resources = nil
		mu.Unlock()
		r := h.Do(nobody, tt.method, tt.path, tt.body)
		if r.Status != tt.wantStatus || r.Code() == "" {
			t.Errorf("%s: %d %s, want %d", tt.name, r.Status, truncate(r.Body), tt.wantStatus)
		}
		mu.Lock()
		got := resources
		mu.Unlock()
		if diff := cmp.Diff(tt.wantCalls, got); diff != "" {
			t.Errorf("%s: authenticateHawk calls by resource (-want +got):\n%s", tt.name, diff)
		}
	}
}

// launchConfigs is an aws pool config of n launch configs, each in its own
// (nonexistent) subnet, with a huge maxCapacity: the shape of the pool that
// starved the others in issue 22.
func launchConfigs(n int) string {
	lcs := make([]string, n)
	for i := range lcs {
		lcs[i] = fmt.Sprintf(`{"region":"us-east-1","capacityPerInstance":1,"launchConfig":{"ImageId":"ami-0123456789abcdef0","InstanceType":"m5.large","SubnetId":"subnet-%017x"}}`, i)
	}
	return `{"minCapacity":0,"maxCapacity":2147483647,"launchConfigs":[` + strings.Join(lcs, ",") + `]}`
}

// TestStoredItemsAreBounded (finding 7): bodies that would make items DynamoDB
// refuses (400 KB) are answered 413 before anything is written, on every route that
// stores what it is sent; a pool at the bounds is created and deleted.
func TestStoredItemsAreBounded(t *testing.T) {
	h, db := countingHarness(t)
	if r := h.Do(h.Root, "PUT", wmBase+"/worker-pool/p%2Ferr", poolDef("aws", launchConfigs(1))); r.Status != 200 {
		t.Fatalf("pool: %d %s", r.Status, truncate(r.Body))
	}
	big := strings.Repeat("x", 500<<10)
	secret := map[string]any{"token": "", "workerType": "wt", "secrets": map[string]any{"k": big}, "scopes": []string{},
		"expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}
	token := "Aaaaaaaaaaaaaaaaaaaaaa"
	secret["token"] = token
	bigPool := poolDef("aws", launchConfigs(1))
	bigPool["description"] = big
	for _, tt := range []struct {
		name, method, path string
		body               any
		wantStatus         int
		wantCode           string
	}{
		{"reportWorkerError", "POST", wmBase + "/worker-pool-errors/p%2Ferr", map[string]any{"kind": "k", "title": "t", "description": big, "extra": map[string]any{}}, 413, "InputTooLarge"},
		{"createWorkerType", "PUT", apBase + "/worker-type/big", workerTypeDef(func(d map[string]any) { d["userData"] = map[string]any{"blob": big} }), 413, "InputTooLarge"},
		{"createSecret", "PUT", apBase + "/secret/" + token, secret, 413, "InputTooLarge"},
		{"createWorkerPool (description)", "PUT", wmBase + "/worker-pool/p%2Fbig", bigPool, 413, "InputTooLarge"},
		{"createWorkerPool (launch configs over the bound)", "PUT", wmBase + "/worker-pool/p%2Fmany", poolDef("aws", launchConfigs(pool.MaxLaunchConfigs+1)), 400, "InputValidationError"},
		// 2,500 launch configs (about 400 KB) once made an item DynamoDB refused.
		{"createWorkerPool (2,500 launch configs)", "PUT", wmBase + "/worker-pool/p%2Fhuge", poolDef("aws", launchConfigs(2500)), 413, "InputTooLarge"},
	} {
		db.Reset()
		r := h.Do(h.Root, tt.method, tt.path, tt.body)
		if r.Status != tt.wantStatus || r.Code() != tt.wantCode {
			t.Errorf("%s: %d %s, want %d %s", tt.name, r.Status, truncate(r.Body), tt.wantStatus, tt.wantCode)
		}
		if n := db.Counts()["PutItem"]; n > 1 { // the replay guard's nonce, at most
			t.Errorf("%s: %d PutItem calls (%v), want nothing stored", tt.name, n, db.Ops())
		}
	}
	// At the bound: created, then deleted (which records the provider history).
	// Filled to the byte with workerConfig padding spread over the launch configs
	// (each must fit in EC2 user data).
	config := func(pad int) json.RawMessage {
		lcs := make([]string, pool.MaxLaunchConfigs)
		for i := range lcs {
			n := pad / len(lcs)
			if i == len(lcs)-1 {
				n += pad % len(lcs)
			}
			lcs[i] = fmt.Sprintf(`{"region":"us-east-1","capacityPerInstance":1,"launchConfig":{"ImageId":"ami-0123456789abcdef0","InstanceType":"m5.large","SubnetId":"subnet-%017x"},"workerConfig":{"p":%q}}`, i, strings.Repeat("w", n))
		}
		return json.RawMessage(`{"minCapacity":0,"maxCapacity":2147483647,"launchConfigs":[` + strings.Join(lcs, ",") + `]}`)
	}
	at := poolDef("aws", "{}")
	at["description"] = strings.Repeat("d", 10240)
	at["config"] = config(0)
	raw, _ := json.Marshal(at)
	at["config"] = config(pool.MaxDefinitionBytes - len(raw))
	if raw, _ = json.Marshal(at); len(raw) != pool.MaxDefinitionBytes {
		t.Fatalf("the pool at the bounds is %d bytes, want %d", len(raw), pool.MaxDefinitionBytes)
	}
	if r := h.Do(h.Root, "PUT", wmBase+"/worker-pool/p%2Fat", at); r.Status != 200 {
		t.Fatalf("pool at the bounds: %d %s", r.Status, truncate(r.Body))
	}
	if r := h.Do(h.Root, "DELETE", wmBase+"/worker-pool/p%2Fat", nil); r.Status != 200 {
		t.Errorf("deleting the pool at the bounds: %d %s", r.Status, truncate(r.Body))
	}
}

// readsDB records the reads it passes on: which table or index each read, and how
// many bytes of items came back (store.ItemSize). DynamoDB Local charges a read of
// an index by the base table's item size, unlike DynamoDB, which charges it by the
// index entries' size; the bytes read out are what the emulator shows truthfully.
type readsDB struct {
	store.DB
	mu    sync.Mutex
	names map[string]string // table name: role
	reads []string          // "Scan WorkerTypes/summaries"
	bytes int
}

func (c *readsDB) record(op string, table, index *string, items ...map[string]types.AttributeValue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	what := op + " " + c.names[aws.ToString(table)]
	if index != nil {
		what += "/" + *index
	}
	c.reads = append(c.reads, what)
	for _, it := range items {
		c.bytes += store.ItemSize(it)
	}
}

func (c *readsDB) reset() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, b := c.reads, c.bytes
	c.reads, c.bytes = nil, 0
	return r, b
}

func (c *readsDB) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	out, err := c.DB.Scan(ctx, in, opts...)
	if err == nil {
		c.record("Scan", in.TableName, in.IndexName, out.Items...)
	}
	return out, err
}

func (c *readsDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.DB.Query(ctx, in, opts...)
	if err == nil {
		c.record("Query", in.TableName, in.IndexName, out.Items...)
	}
	return out, err
}

func (c *readsDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := c.DB.GetItem(ctx, in, opts...)
	if err == nil {
		c.record("GetItem", in.TableName, nil, out.Item)
	}
	return out, err
}

// TestAnonymousReadsCostWhatTheyAnswer (finding 5): listWorkerTypes and the
// summaries read the worker types' names and bounds (an index), not their
// definitions, and the summaries and state read the live workers (an index), not
// the stopped records kept listed: with 40 worker types of 100 KB and 300 stopped
// workers, the listings read a few KB.
func TestAnonymousReadsCostWhatTheyAnswer(t *testing.T) {
	db := &readsDB{DB: storetest.DB(t)}
	h := apptest.New(t, app.WithDB(db))
	tables := h.App.Config.Tables
	db.names = map[string]string{tables.WorkerTypes: "WorkerTypes", tables.Workers: "Workers", tables.Errors: "Errors", tables.Status: "Status", tables.Clients: "Clients"}
	for i := range 40 {
		def := workerTypeDef(func(d map[string]any) { d["description"] = strings.Repeat("d", 100<<10) })
		if r := h.Do(h.Root, "PUT", fmt.Sprintf("%s/worker-type/wt-%02d", apBase, i), def); r.Status != 200 {
			t.Fatalf("worker type %d: %d %s", i, r.Status, truncate(r.Body))
		}
	}
	for i := range 302 {
		w := store.Worker{Pool: store.WorkerTypePool("wt-00"), WorkerGroup: "us-east-1", WorkerID: fmt.Sprintf("i-%04d", i),
			InstanceID: fmt.Sprintf("i-%04d", i), Capacity: 1, State: store.Stopped, EC2State: "terminated"}
		if i < 2 {
			w.State, w.EC2State = store.Running, "running"
		}
		if _, err := h.App.Store.CreateWorker(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		path      string
		check     func(body []byte) bool
		maxBytes  int
		forbidden []string // reads the answer does not need
	}{
		{apBase + "/list-worker-types", func(b []byte) bool { var n []string; return json.Unmarshal(b, &n) == nil && len(n) == 40 }, 4 << 10,
			[]string{"Scan WorkerTypes", "GetItem WorkerTypes"}},
		{apBase + "/list-worker-type-summaries", func(b []byte) bool {
			var s []map[string]any
			return json.Unmarshal(b, &s) == nil && len(s) == 40 && s[0]["runningCapacity"] == float64(2) && s[0]["maxCapacity"] == float64(10)
		}, 8 << 10, []string{"Scan WorkerTypes", "GetItem WorkerTypes", "Query Workers"}},
		{apBase + "/state/wt-00", func(b []byte) bool {
			var s map[string]any
			return json.Unmarshal(b, &s) == nil && len(s["instances"].([]any)) == 2
		}, 110 << 10, []string{"Query Workers"}}, // its definition (100 KB) is read: state shows it
	} {
		db.reset()
		start := time.Now()
		r := h.Do(nil, "GET", tt.path, nil)
		took := time.Since(start)
		reads, bytes := db.reset()
		t.Logf("GET %s: %d bytes answered in %s, %d bytes read by %d reads", tt.path, len(r.Body), took.Round(time.Millisecond), bytes, len(reads))
		if r.Status != 200 || !tt.check(r.Body) {
			t.Errorf("GET %s: %d %s", tt.path, r.Status, truncate(r.Body))
		}
		if bytes > tt.maxBytes {
			t.Errorf("GET %s read %d bytes, want at most %d", tt.path, bytes, tt.maxBytes)
		}
		for _, f := range tt.forbidden {
			if slices.Contains(reads, f) {
				t.Errorf("GET %s made a read it does not need: %s (all: %v)", tt.path, f, reads)
			}
		}
	}
}
