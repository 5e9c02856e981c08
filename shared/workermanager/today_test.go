package workermanager_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/dev/apptest"
	"github.com/workerfleet/workerfleet/shared/store"
)

// TestTodaysRoutes: today's clients call the worker methods without v25's ':' after
// the pool id; both forms answer the same.
func TestTodaysRoutes(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/static"), poolBody("static", `{}`))
	secret := strings.Repeat("s", 44)
	body := map[string]any{"capacity": 2, "expires": time.Now().Add(time.Hour), "providerInfo": map[string]any{"staticSecret": secret}}
	for _, form := range []struct{ name, pool string }{{"today's", esc("p/static")}, {"v25's", esc("p/static") + ":"}} {
		worker := base + "/workers/" + form.pool + "/rack1/host-" + strings.TrimSuffix(form.name, "'s")
		if r := h.Do(h.Root, "PUT", worker, body); r.Status != 200 {
			t.Fatalf("%s createWorker: %d %s", form.name, r.Status, r.Body)
		}
		if r := h.Do(nil, "GET", worker, nil); r.Status != 200 || r.JSON(t)["capacity"] != 2.0 {
			t.Errorf("%s worker: %d %s", form.name, r.Status, r.Body)
		}
		if r := h.Do(nil, "GET", base+"/workers/"+form.pool+"/rack1", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"workerGroup":"rack1"`) {
			t.Errorf("%s listWorkersForWorkerGroup: %d %s", form.name, r.Status, r.Body)
		}
		update := map[string]any{"capacity": 3, "expires": time.Now().Add(2 * time.Hour)}
		if r := h.Do(h.Root, "POST", worker, update); r.Status != 200 || r.JSON(t)["capacity"] != 3.0 {
			t.Errorf("%s updateWorker: %d %s", form.name, r.Status, r.Body)
		}
	}
	// updateWorker needs its scope, and refuses what it cannot change.
	worker := base + "/workers/" + esc("p/static") + "/rack1/host-today"
	nobody := h.Client("nobody")
	if r := h.Do(nobody, "POST", worker, map[string]any{"expires": time.Now()}); r.Status != 403 {
		t.Errorf("updateWorker without its scope: %d", r.Status)
	}
	if r := h.Do(h.Root, "POST", worker, map[string]any{"capacity": 0, "expires": time.Now()}); r.Status != 400 {
		t.Errorf("updateWorker with capacity 0: %d", r.Status)
	}
	if r := h.Do(h.Root, "POST", base+"/workers/"+esc("p/static")+"/rack1/nobody", map[string]any{"expires": time.Now()}); r.Status != 404 {
		t.Errorf("updateWorker of an unknown worker: %d", r.Status)
	}

	// The queue's view of the same workers.
	r := h.Do(nil, "GET", base+"/provisioners/p/worker-types/static/workers", nil)
	if r.Status != 200 || strings.Count(string(r.Body), `"workerId"`) != 2 || !strings.Contains(string(r.Body), `"state":"running"`) {
		t.Errorf("listWorkers: %d %s", r.Status, r.Body)
	}
	if r := h.Do(nil, "GET", base+"/provisioners/p/worker-types/static/workers?quarantined=true", nil); r.Status != 200 || strings.Contains(string(r.Body), "workerId") {
		t.Errorf("listWorkers quarantined: %d %s", r.Status, r.Body)
	}
	r = h.Do(nil, "GET", base+"/provisioners/p/worker-types/static/workers/rack1/host-today", nil)
	got := r.JSON(t)
	for _, field := range []string{"provisionerId", "workerType", "workerGroup", "workerId", "recentTasks", "expires", "firstClaim"} {
		if _, ok := got[field]; !ok {
			t.Errorf("getWorker lacks %s: %s", field, r.Body)
		}
	}
	if r := h.Do(nil, "GET", base+"/provisioners/p/worker-types/static/workers/rack1/nobody", nil); r.Status != 404 {
		t.Errorf("getWorker of an unknown worker: %d", r.Status)
	}
}

func TestListWorkersFilters(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/aws"), poolBody("aws", awsConfig))
	for i, st := range []store.State{store.Requested, store.Running, store.Stopped} {
		if _, err := h.App.Store.CreateWorker(ctx, store.Worker{Pool: "p/aws", WorkerGroup: "us-east-1", WorkerID: "i-" + string(st),
			ProviderID: "aws", State: st, InstanceID: "i-" + string(st), LaunchConfigID: []string{"lc-a", "lc-b", "lc-a"}[i],
			Capacity: 1, Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for query, want := range map[string]string{
		"":                                     "i-requested i-running i-stopped",
		"?state=stopped":                       "i-stopped",
		"?state=running":                       "i-running",
		"?launchConfigId=lc-a":                 "i-requested i-stopped",
		"?state=requested&launchConfigId=lc-a": "i-requested",
	} {
		r := h.Do(nil, "GET", base+"/workers/"+esc("p/aws")+query, nil)
		var ids []string
		for _, w := range r.JSON(t)["workers"].([]any) {
			ids = append(ids, w.(map[string]any)["workerId"].(string))
		}
		if strings.Join(ids, " ") != want {
			t.Errorf("listWorkersForWorkerPool%s: %v, want %s", query, ids, want)
		}
	}
	if r := h.Do(nil, "GET", base+"/workers/"+esc("p/aws")+"?state=sleeping", nil); r.Status != 400 {
		t.Errorf("an unknown state: %d", r.Status)
	}
}

func TestMonitoringMethods(t *testing.T) {
	h := apptest.New(t)
	for path, want := range map[string]string{"/__lbheartbeat__": "{}", "/__heartbeat__": "{}"} {
		if r := h.Do(nil, "GET", base+path, nil); r.Status != 200 || compact(t, r.JSON(t)) != want {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	r := h.Do(nil, "GET", base+"/__version__", nil)
	if v := r.JSON(t); r.Status != 200 || v["version"] == "" || v["source"] == nil {
		t.Errorf("version: %d %s", r.Status, r.Body)
	}
}

// TestStats: pools answer with today's worker figures (from the provisioner's
// status of each pool), per launch config (from the live workers) and for errors.
func TestStats(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/aws"), poolBody("aws", `{"minCapacity": 0, "maxCapacity": 9, "launchConfigs": [
	  {"region": "us-east-1", "workerManager": {"launchConfigId": "east", "capacityPerInstance": 2}, "launchConfig": {"ImageId": "ami-1"}},
	  {"region": "us-west-2", "workerManager": {"launchConfigId": "west"}, "launchConfig": {"ImageId": "ami-2"}}]}`))
	for i, st := range []store.State{store.Requested, store.Running, store.Running, store.Stopping} {
		if _, err := h.App.Store.CreateWorker(ctx, store.Worker{Pool: "p/aws", WorkerGroup: "aws", WorkerID: fmt.Sprintf("i-%d", i), ProviderID: "aws",
			State: st, InstanceID: fmt.Sprintf("i-%d", i), LaunchConfigID: "east", Capacity: 2, Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	counts := store.WorkerCounts{Requested: 1, Running: 2, Stopping: 1, RequestedCapacity: 2, RunningCapacity: 4, StoppingCapacity: 2}
	if err := h.App.Store.PutPoolStatuses(ctx, []store.PoolStatus{{Pool: "p/aws", Updated: time.Now(), Workers: counts}}); err != nil {
		t.Fatal(err)
	}
	const want = `"currentCapacity":8,"requestedCount":1,"runningCount":2,"stoppingCount":1,"stoppedCount":0,"requestedCapacity":2,"runningCapacity":4,"stoppingCapacity":2,"stoppedCapacity":0`
	for _, path := range []string{"/worker-pool/" + esc("p/aws"), "/worker-pools", "/worker-pools/stats"} {
		if r := h.Do(nil, "GET", base+path, nil); r.Status != 200 || !strings.Contains(string(r.Body), want) {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
	r := h.Do(nil, "GET", base+"/worker-pool/"+esc("p/aws")+"/stats", nil)
	if body := string(r.Body); r.Status != 200 || !strings.Contains(body, `"launchConfigId":"east",`+want) ||
		!strings.Contains(body, `"launchConfigId":"west","currentCapacity":0`) {
		t.Errorf("workerPoolStats: %d %s", r.Status, r.Body)
	}

	for _, title := range []string{"a", "a", "b"} {
		h.Do(h.Root, "POST", base+"/worker-pool-errors/"+esc("p/aws"), map[string]any{"kind": "k-" + title, "title": title,
			"description": "", "extra": map[string]any{}, "workerGroup": "aws", "workerId": "i-1"})
	}
	r = h.Do(nil, "GET", base+"/worker-pool-errors/stats?workerPoolId="+esc("p/aws"), nil)
	var es struct {
		WorkerPoolID string
		Totals       struct {
			Total                                                int
			Daily, Hourly, Title, Code, WorkerPool, LaunchConfig map[string]int
		}
	}
	if err := json.Unmarshal(r.Body, &es); err != nil || es.Totals.Total != 3 || es.Totals.Title["a"] != 2 || es.Totals.Code["k-b"] != 1 ||
		es.Totals.LaunchConfig["east"] != 3 || es.Totals.WorkerPool["p/aws"] != 3 || len(es.Totals.Hourly) != 1 || len(es.Totals.Daily) != 1 {
		t.Errorf("workerPoolErrorStats: %d %s", r.Status, r.Body)
	}
	if r := h.Do(nil, "GET", base+"/worker-pool-errors/stats", nil); r.Status != 200 || !strings.Contains(string(r.Body), `"total":3`) {
		t.Errorf("workerPoolErrorStats of all pools: %d %s", r.Status, r.Body)
	}
	if r := h.Do(nil, "GET", base+"/worker-pool-errors/stats?workerPoolId="+esc("p/none"), nil); r.Status != 404 {
		t.Errorf("workerPoolErrorStats of an unknown pool: %d", r.Status)
	}
}

// TestReadsNeedTodaysScopes: reads ask today's scopes; what anyone holds is the
// deployment's to say (ANONYMOUS_SCOPES; by default every read, as before).
func TestReadsNeedTodaysScopes(t *testing.T) {
	reads := []string{"/providers", "/worker-pools", "/worker-pools/stats", "/worker-pool/" + esc("p/static"),
		"/worker-pool/" + esc("p/static") + "/stats", "/worker-pool/" + esc("p/static") + "/launch-configs",
		"/worker-pool-errors/" + esc("p/static"), "/worker-pool-errors/stats", "/workers/" + esc("p/static"),
		"/workers/" + esc("p/static") + "/rack1", "/workers/" + esc("p/static") + "/rack1/host7",
		"/provisioners/p/worker-types/static/workers", "/provisioners/p/worker-types/static/workers/rack1/host7"}
	setup := func(h *apptest.Harness) {
		h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/static"), poolBody("static", `{}`))
		h.Do(h.Root, "PUT", base+"/workers/"+esc("p/static")+"/rack1/host7", map[string]any{"capacity": 1,
			"expires": time.Now().Add(time.Hour), "providerInfo": map[string]any{"staticSecret": strings.Repeat("s", 44)}})
	}
	open := apptest.New(t)
	setup(open)
	closed := apptest.New(t, app.WithAnonymousScopes())
	setup(closed)
	reader := closed.Client("reader", "worker-manager:list-providers", "worker-manager:list-worker-pools", "worker-manager:get-worker-pool:p/*",
		"worker-manager:list-worker-pool-errors:*", "worker-manager:list-workers:p/*", "worker-manager:get-worker:p/*")
	for _, path := range reads {
		if r := open.Do(nil, "GET", base+path, nil); r.Status != 200 {
			t.Errorf("%s, anonymous, default scopes: %d %s", path, r.Status, r.Body)
		}
		if r := closed.Do(nil, "GET", base+path, nil); r.Status != 403 || r.Code() != "InsufficientScopes" {
			t.Errorf("%s, anonymous, ANONYMOUS_SCOPES=none: %d %s", path, r.Status, r.Body)
		}
		if r := closed.Do(reader, "GET", base+path, nil); r.Status != 200 {
			t.Errorf("%s, a client with today's read scopes: %d %s", path, r.Status, r.Body)
		}
	}
	// Another pool's workers are not readable with p/*'s scopes.
	closed.Do(closed.Root, "PUT", base+"/worker-pool/"+esc("q/static"), poolBody("static", `{}`))
	if r := closed.Do(reader, "GET", base+"/workers/"+esc("q/static"), nil); r.Status != 403 {
		t.Errorf("another pool's workers: %d", r.Status)
	}
}
