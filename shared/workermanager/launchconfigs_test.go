package workermanager_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/dev/apptest"
	"github.com/workerfleet/workerfleet/shared/store"
)

func lcJSON(id, image string) string {
	wm := ""
	if id != "" {
		wm = `"workerManager": {"launchConfigId": "` + id + `"}, `
	}
	return `{"region": "us-east-1", ` + wm + `"launchConfig": {"ImageId": "` + image + `", "InstanceType": "m5.large"}}`
}

func lcPool(lcs ...string) map[string]any {
	return poolBody("aws", `{"minCapacity": 0, "maxCapacity": 4, "lifecycle": {"queueInactivityTimeout": 7200}, "launchConfigs": [`+strings.Join(lcs, ", ")+`]}`)
}

type listedLaunchConfig struct {
	LaunchConfigID string
	IsArchived     bool
	Configuration  map[string]any
}

func launchConfigs(t *testing.T, h *apptest.Harness, query string) map[string]listedLaunchConfig {
	t.Helper()
	r := h.Do(nil, "GET", base+"/worker-pool/"+esc("p/lc")+"/launch-configs"+query, nil)
	if r.Status != 200 {
		t.Fatalf("listWorkerPoolLaunchConfigs: %d %s", r.Status, r.Body)
	}
	var out struct{ WorkerPoolLaunchConfigs []listedLaunchConfig }
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]listedLaunchConfig{}
	for _, lc := range out.WorkerPoolLaunchConfigs {
		m[lc.LaunchConfigID] = lc
	}
	return m
}

// TestLaunchConfigsAsToday: launch configs have ids (written, or made from their
// content), are archived when the pool drops them and come back when it takes
// them again, and an id names one launch config forever (409).
func TestLaunchConfigsAsToday(t *testing.T) {
	h := apptest.New(t, app.WithCompatibility(app.CompatibilityCurrent))
	path := base + "/worker-pool/" + esc("p/lc")
	r := h.Do(h.Root, "PUT", path, lcPool(lcJSON("named", "ami-1"), lcJSON("", "ami-2")))
	if r.Status != 200 {
		t.Fatalf("createWorkerPool: %d %s", r.Status, r.Body)
	}
	// Today's read-back carries every launch config's id.
	var created struct {
		Config struct {
			LaunchConfigs []struct {
				WorkerManager struct{ LaunchConfigID string }
			}
		}
		LastModified string
	}
	if err := json.Unmarshal(r.Body, &created); err != nil {
		t.Fatal(err)
	}
	generated := created.Config.LaunchConfigs[1].WorkerManager.LaunchConfigID
	if created.Config.LaunchConfigs[0].WorkerManager.LaunchConfigID != "named" || !strings.HasPrefix(generated, "lc-") {
		t.Fatalf("read back with ids: %s", r.Body)
	}
	lcs := launchConfigs(t, h, "")
	if len(lcs) != 2 || lcs["named"].IsArchived || lcs[generated].IsArchived || lcs["named"].Configuration["workerManager"].(map[string]any)["launchConfigId"] != "named" {
		t.Fatalf("launch configs: %+v", lcs)
	}

	// The GET body sent back changes nothing, not even lastModified.
	get := h.Do(nil, "GET", path, nil)
	var body map[string]any
	_ = json.Unmarshal(get.Body, &body)
	if r := h.Do(h.Root, "POST", path, body); r.Status != 200 || r.JSON(t)["lastModified"] != created.LastModified {
		t.Errorf("the GET body sent back: %d %s (lastModified was %s)", r.Status, r.Body, created.LastModified)
	}

	// The same id with other content: 409, and nothing changes.
	before := h.Do(nil, "GET", path, nil).Body
	if r := h.Do(h.Root, "POST", path, lcPool(lcJSON("named", "ami-9"))); r.Status != 409 || r.Code() != "RequestConflict" {
		t.Errorf("the same launchConfigId with other content: %d %s", r.Status, r.Body)
	}
	if after := h.Do(nil, "GET", path, nil).Body; string(after) != string(before) {
		t.Errorf("a refused update changed the pool:\n%s\n%s", before, after)
	}

	// Dropped: archived, listed only with includeArchived; taken back: active again.
	if r := h.Do(h.Root, "POST", path, lcPool(lcJSON("named", "ami-1"))); r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if lcs := launchConfigs(t, h, ""); len(lcs) != 1 || lcs["named"].IsArchived {
		t.Errorf("active launch configs after dropping one: %+v", lcs)
	}
	if lcs := launchConfigs(t, h, "?includeArchived=true"); len(lcs) != 2 || !lcs[generated].IsArchived {
		t.Errorf("with the archived: %+v", lcs)
	}
	if r := h.Do(h.Root, "POST", path, lcPool(lcJSON("named", "ami-1"), lcJSON("", "ami-2"))); r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if lcs := launchConfigs(t, h, ""); len(lcs) != 2 || lcs[generated].IsArchived {
		t.Errorf("taken back: %+v", lcs)
	}
	if r := h.Do(nil, "GET", path+"/launch-configs?includeArchived=maybe", nil); r.Status != 400 {
		t.Errorf("includeArchived=maybe: %d", r.Status)
	}
}

// TestV25ReadsBackAsWritten: in v25 compatibility (the default) a definition reads
// back exactly as written, launch configs without ids included.
func TestV25ReadsBackAsWritten(t *testing.T) {
	h := apptest.New(t)
	path := base + "/worker-pool/" + esc("p/lc")
	h.Do(h.Root, "PUT", path, lcPool(lcJSON("", "ami-2")))
	r := h.Do(nil, "GET", path, nil)
	if strings.Contains(string(r.Body), "launchConfigId") {
		t.Errorf("v25 read-back has ids: %s", r.Body)
	}
}

func TestErrorsCarryTheirLaunchConfig(t *testing.T) {
	h := apptest.New(t)
	h.Do(h.Root, "PUT", base+"/worker-pool/"+esc("p/aws"), poolBody("aws", awsConfig))
	if _, err := h.App.Store.CreateWorker(ctx, store.Worker{Pool: "p/aws", WorkerGroup: "us-east-1", WorkerID: "i-1", ProviderID: "aws",
		InstanceID: "i-1", LaunchConfigID: "lc-a", Capacity: 1, Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"i-1", "i-unknown"} {
		if r := h.Do(h.Root, "POST", base+"/worker-pool-errors/"+esc("p/aws"), map[string]any{"kind": "k", "title": "from " + w,
			"description": "", "extra": map[string]any{}, "workerGroup": "us-east-1", "workerId": w}); r.Status != 200 {
			t.Fatalf("reportWorkerError: %d %s", r.Status, r.Body)
		}
	}
	r := h.Do(nil, "GET", base+"/worker-pool-errors/"+esc("p/aws")+"?launchConfigId=lc-a", nil)
	errs := r.JSON(t)["workerPoolErrors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["title"] != "from i-1" || errs[0].(map[string]any)["launchConfigId"] != "lc-a" {
		t.Errorf("errors of lc-a: %s", r.Body)
	}
	id := errs[0].(map[string]any)["errorId"].(string)
	if r := h.Do(nil, "GET", base+"/worker-pool-errors/"+esc("p/aws")+"?errorId="+id, nil); len(r.JSON(t)["workerPoolErrors"].([]any)) != 1 {
		t.Errorf("by errorId: %s", r.Body)
	}
}
