package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/statuspage"
	"github.com/workerfleet/workerfleet/shared/store"
)

// syncBuffer is a bytes.Buffer the stack's goroutines may print to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startStack starts a stack on a free port with a fast schedule, closed at the end.
func startStack(t *testing.T, o Options) (*Stack, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	o.Port, o.Out, o.RootAccessToken = freePort(t), out, "e2e-root-access-token-0123456789"
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	o.ProvisionInterval, o.BootDelay, o.TaskDuration, o.IdleTimeout = time.Second, time.Second, 500*time.Millisecond, time.Minute
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, out
}

// createPool stores a pool of one us-east-1 launch config.
func createPool(t *testing.T, s *Stack, id string) {
	t.Helper()
	cfg, err := pool.ParseConfig("aws", json.RawMessage(`{"minCapacity": 0, "maxCapacity": 2,
		"launchConfigs": [{"region": "us-east-1", "capacityPerInstance": 1,
		  "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}}]}`), pool.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.App.Store.CreateWorkerPool(context.Background(), store.WorkerPool{WorkerPoolID: id, ProviderID: "aws",
		Config: cfg.JSON(), Owner: "me@example.com", Description: "e2e"}); err != nil {
		t.Fatal(err)
	}
}

// waitRunning waits until n of the pool's workers have registered.
func waitRunning(t *testing.T, s *Stack, poolKey string, n int, out *syncBuffer) []store.Worker {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ws, err := s.App.Store.Workers(context.Background(), poolKey)
		if err != nil {
			t.Fatal(err)
		}
		var running []store.Worker
		for _, w := range ws {
			if w.State == store.Running {
				running = append(running, w)
			}
		}
		if len(running) >= n {
			return running
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d workers registered after 90s; workers %+v\noutput:\n%s", len(running), n, ws, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// CLOUD=ec2 is the same stack on moto: the provisioner launches on moto, and a
// simulated worker boots on each instance and registers with the identity document
// the stack's metadata endpoint serves for it.
func TestEC2StackBootsAndRegistersSimulatedWorkers(t *testing.T) {
	if _, err := exec.LookPath(motoserver.Command); err != nil {
		t.Skip("moto_server is not installed (pip install 'moto[server]')")
	}
	s, out := startStack(t, Options{Cloud: "ec2", SimulateWorkers: true})
	createPool(t, s, "proj-ci/moto")
	s.Queue.Set("proj-ci", "moto", 2)
	running := waitRunning(t, s, "proj-ci/moto", 2, out)
	for _, w := range running {
		if !strings.HasPrefix(w.InstanceID, "i-") || w.Region != "us-east-1" {
			t.Errorf("worker %+v is not a moto instance of the pool", w)
		}
		resp, err := http.Get(s.URL + "/local/imds/" + w.InstanceID + "/latest/dynamic/instance-identity/document")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ InstanceID, Region string }
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || doc.InstanceID != w.InstanceID || doc.Region != "us-east-1" {
			t.Errorf("metadata endpoint's document for %s: %+v, %v", w.InstanceID, doc, err)
		}
	}
	if !strings.Contains(out.String(), "registered with its identity document") {
		t.Errorf("no registration line:\n%s", out)
	}
	if b := s.Banner(); !strings.Contains(b, "moto (EC2)") || !strings.Contains(b, s.moto.Endpoint()) || strings.Contains(b, "/local/cloud/instances") {
		t.Errorf("banner of the ec2 stack:\n%s", b)
	}
	resp, err := http.Get(s.URL + "/local/imds/i-0000000000000000f/latest/user-data")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("metadata of an unknown instance: %d, want 404", resp.StatusCode)
	}
}

// PERSIST: a stack with a DataDir finds the tables, and the key sealing client
// tokens, that the previous one left there.
func TestDataDirKeepsTablesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	first, _ := startStack(t, Options{DataDir: dir, SimulateWorkers: false})
	createPool(t, first, "proj-ci/kept")
	key := string(first.App.Config.SigningKey)
	first.Close()

	second, _ := startStack(t, Options{DataDir: dir, SimulateWorkers: false})
	if _, err := second.App.Store.WorkerPool(context.Background(), "proj-ci/kept"); err != nil {
		t.Fatalf("the pool did not survive the restart: %v", err)
	}
	if string(second.App.Config.SigningKey) != key {
		t.Error("the signing key changed across the restart: client tokens sealed before it are lost")
	}
	if !strings.Contains(second.Banner(), "kept in "+dir) {
		t.Errorf("banner does not say where the tables are kept:\n%s", second.Banner())
	}
	second.Close()

	memory, _ := startStack(t, Options{SimulateWorkers: false})
	if _, err := memory.App.Store.WorkerPool(context.Background(), "proj-ci/kept"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a stack without a DataDir sees a kept pool: %v", err)
	}
	if !strings.Contains(memory.Banner(), "in memory") {
		t.Errorf("banner does not say the tables are in memory:\n%s", memory.Banner())
	}
}

// TestPersistedStackWithASeedIssuesNewInstanceIDs: with PERSIST and a fixed SEED, a
// restarted stack's fake cloud would issue the earlier run's instance ids again,
// and the kept records naming them would claim the new instances; it skips them.
func TestPersistedStackWithASeedIssuesNewInstanceIDs(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	launch := func(s *Stack) string {
		t.Helper()
		insts, err := s.Fake.InstanceSet("local").Launch(ctx, cloud.LaunchRequest{Region: "us-east-1", InstanceType: "m5.large",
			ImageID: "ami-0123456789abcdef0", Count: 1, ClientToken: "persist-test"})
		if err != nil {
			t.Fatal(err)
		}
		return insts[0].ID
	}
	first, _ := startStack(t, Options{DataDir: dir, Seed: 3, SimulateWorkers: false})
	kept := launch(first)
	if _, err := first.App.Store.CreateWorker(ctx, store.Worker{Pool: "proj-ci/kept", WorkerGroup: "aws", WorkerID: kept, InstanceID: kept,
		Region: "us-east-1", Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	first.Close()

	second, _ := startStack(t, Options{DataDir: dir, Seed: 3, SimulateWorkers: false})
	if id := launch(second); id == kept {
		t.Errorf("the restarted stack issued %s again, which a kept record names", id)
	}
	second.Close()

	// Without kept records the seed gives the same ids.
	fresh, _ := startStack(t, Options{Seed: 3, SimulateWorkers: false})
	if id := launch(fresh); id != kept {
		t.Errorf("a fresh stack with the same seed issued %s, want %s", id, kept)
	}
}

// chromium finds Debian's chromium; without it the test is skipped, unless
// WORKERFLEET_REQUIRE_CHROMIUM is set (CI sets it: .ci/run installs chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("WORKERFLEET_REQUIRE_CHROMIUM") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium), and WORKERFLEET_REQUIRE_CHROMIUM is set")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// The status page, served by the API itself at the root URL, rendered by a real
// browser (headless chromium): it shows the pools and the worker type the test
// created, with their figures and capacity charts.
func TestStatusPageInHeadlessChromium(t *testing.T) {
	browser := chromium(t)
	s, out := startStack(t, Options{SimulateWorkers: false})
	createPool(t, s, "proj-ci/page-a")
	createPool(t, s, "proj-ci/page-b")
	wt, err := pool.ParseWorkerType([]byte(`{"description": "page", "owner": "me@example.com",
		"minCapacity": 0, "maxCapacity": 3, "scalingRatio": 0, "minPrice": 0, "maxPrice": 1,
		"launchSpec": {}, "userData": {}, "secrets": {}, "scopes": [],
		"regions": [{"region": "us-east-1", "launchSpec": {"ImageId": "ami-0123456789abcdef0"}, "userData": {}, "secrets": {}, "scopes": []}],
		"instanceTypes": [{"instanceType": "m5.large", "capacity": 1, "utility": 1, "launchSpec": {}, "userData": {}, "secrets": {}, "scopes": []}]}`), pool.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.App.Store.CreateWorkerType(context.Background(), "page-builder", wt.Definition()); err != nil {
		t.Fatal(err)
	}
	s.Queue.Set("proj-ci", "page-a", 1)

	// Two iterations' figures for each: the first chart point and the second.
	deadline := time.Now().Add(60 * time.Second)
	for {
		snap, err := statuspage.Build(context.Background(), s.App.Store, s.ProvisionInterval)
		if err != nil {
			t.Fatal(err)
		}
		ready := 0
		for _, p := range snap.Pools {
			if len(p.History) >= 2 {
				ready++
			}
		}
		if ready == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("figures of 3 pools after 60s: %+v\n%s", snap, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	render := func(url string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
			"--user-data-dir="+t.TempDir(), "--dump-dom", url)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		dom, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, stderr.String())
		}
		return dom
	}
	dom := render(s.URL + "/")
	// page-a has a pending task: its instance (requested: no simulated workers
	// here) is listed with its price, and the fleet's cost is shown.
	for _, want := range []string{`data-pool="proj-ci/page-a"`, `data-pool="proj-ci/page-b"`, `data-pool="page-builder"`,
		"worker type", `id="provisioner"`, "<svg", "0 / 2", "0 / 3", `id="fleet-cost"`, "1 instances", "time (UTC)", "capacity",
		`href="?pool=proj-ci%2fpage-a"`} {
		if !bytes.Contains(dom, []byte(want)) {
			t.Errorf("the rendered page lacks %q:\n%s", want, dom)
		}
	}
	if n := bytes.Count(dom, []byte("<polyline")); n != 9 {
		t.Errorf("%d chart lines, want 3 per pool:\n%s", n, dom)
	}
	if bytes.Contains(dom, []byte("Not shown:")) {
		t.Errorf("the page could not read all it shows (the function's role?):\n%s", dom)
	}

	// The pool's own page: its instance, with type, zone, market, price and state.
	pool := render(s.URL + "/?pool=proj-ci%2Fpage-a")
	for _, want := range []string{`data-pool="proj-ci/page-a"`, `id="instances"`, `data-worker="i-`, "m5.large", "us-east-1", "requested", "/h", `id="errors"`, "<svg"} {
		if !bytes.Contains(pool, []byte(want)) {
			t.Errorf("the rendered pool page lacks %q:\n%s", want, pool)
		}
	}
	if bytes.Contains(pool, []byte("Not shown:")) {
		t.Errorf("the pool page could not read all it shows (the function's role?):\n%s", pool)
	}
}

// TestPersistedStackRestartsWithoutGhostsOrLostTasks: a kept stack (PERSIST) stopped
// with workers busy starts again with its cloud empty. Its records of those workers
// are stopped at once (they showed "running" for the provisioner's 10-minute grace
// before, with no instance behind them), and the fake queue's tasks, the pending
// ones and those the workers were running, are pending again (they were lost).
func TestPersistedStackRestartsWithoutGhostsOrLostTasks(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first, out := startStack(t, Options{DataDir: dir, SimulateWorkers: true})
	createPool(t, first, "proj-ci/kept")
	first.Queue.SetHeld("proj-ci", "kept", 10, true)
	busy := waitRunning(t, first, "proj-ci/kept", 2, out)
	for deadline := time.Now().Add(30 * time.Second); first.Queue.Pending("proj-ci", "kept") != 8; {
		if time.Now().After(deadline) {
			t.Fatalf("the two workers did not take a task each: %+v", first.Queue.List())
		}
		time.Sleep(100 * time.Millisecond)
	}
	first.Close()

	second, out := startStack(t, Options{DataDir: dir, SimulateWorkers: false})
	for _, w := range busy {
		got, err := second.App.Store.Worker(ctx, "proj-ci/kept", w.WorkerGroup, w.WorkerID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != store.Stopped || got.StopReason != ReasonRestarted {
			t.Errorf("worker %s after the restart: %s (%q), want stopped (%q)", w.WorkerID, got.State, got.StopReason, ReasonRestarted)
		}
	}
	if !strings.Contains(out.String(), "kept tables: 2 workers of the last run are now stopped") {
		t.Errorf("the restart does not say what it did:\n%s", out.String())
	}
	want := []QueueCount{{ProvisionerID: "proj-ci", WorkerType: "kept", PendingTasks: 10, Hold: true}}
	if diff := cmp.Diff(want, second.Queue.List()); diff != "" {
		t.Errorf("the fake queue after the restart (-want +got):\n%s", diff)
	}
}

// TestInstanceActionsEndAndWarnAsEC2Would: POST /local/cloud/instances/<id>/<action>
// makes the fake cloud end an instance or warn of its interruption; the
// provisioner finds the end in EC2's listing (no EC2 state event reaches a
// record), stops the worker's record and replaces its capacity; the warning
// reaches the record through ec2-events.
func TestInstanceActionsEndAndWarnAsEC2Would(t *testing.T) {
	s, out := startStack(t, Options{SimulateWorkers: true})
	cfg, err := pool.ParseConfig("aws", json.RawMessage(`{"minCapacity": 0, "maxCapacity": 2,
		"launchConfigs": [{"region": "us-east-1", "capacityPerInstance": 1,
		  "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large",
		    "InstanceMarketOptions": {"MarketType": "spot"}}}]}`), pool.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.App.Store.CreateWorkerPool(context.Background(), store.WorkerPool{WorkerPoolID: "proj-ci/actions", ProviderID: "aws",
		Config: cfg.JSON(), Owner: "me@example.com", Description: "e2e"}); err != nil {
		t.Fatal(err)
	}
	createPool(t, s, "proj-ci/ondemand")
	s.Queue.Set("proj-ci", "actions", 50) // keeps both workers busy
	s.Queue.Set("proj-ci", "ondemand", 1)
	running := waitRunning(t, s, "proj-ci/actions", 2, out)
	post := func(path string) (int, map[string]string) {
		t.Helper()
		resp, err := http.Post(s.URL+"/local/cloud/instances/"+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	for path, want := range map[string]int{"i-0000000000000000f/shutdown": 404, running[0].InstanceID + "/explode": 404, running[0].InstanceID: 404} {
		if code, body := post(path); code != want || body["code"] == "" {
			t.Errorf("POST %s: %d %v, want %d with a code", path, code, body, want)
		}
	}

	onDemand := waitRunning(t, s, "proj-ci/ondemand", 1, out)[0].InstanceID
	if code, body := post(onDemand + "/interrupt"); code != 400 || !strings.Contains(body["message"], "not a spot instance") {
		t.Errorf("interrupting an on-demand instance: %d %v, want 400", code, body)
	}

	warned := running[1].InstanceID
	if code, body := post(warned + "/interrupt"); code != 200 || body["state"] != "running" {
		t.Fatalf("interrupt: %d %v", code, body)
	}
	ended := running[0].InstanceID
	if code, body := post(ended + "/shutdown"); code != 200 || body["state"] != "shutting-down" {
		t.Fatalf("shutdown: %d %v", code, body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		w, err := s.App.Store.WorkerByInstance(context.Background(), ended)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.App.Store.WorkerByInstance(context.Background(), warned)
		if err != nil {
			t.Fatal(err)
		}
		if w.State == store.Stopped && w.EC2State == "terminated" && v.Interrupted() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s: ended %s (EC2 %s), warned interrupted %v\n%s", w.State, w.EC2State, v.Interrupted(), out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ws, err := s.App.Store.Workers(context.Background(), "proj-ci/actions")
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) < 3 {
		t.Errorf("the ended worker was not replaced: %d records", len(ws))
	}
}
