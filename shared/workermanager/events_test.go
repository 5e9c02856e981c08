package workermanager_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/app"
)

// names lists the recorded events as "name key=value ..." lines of the members
// given.
func names(rec *announce.Recorder, members ...string) []string {
	var out []string
	for _, e := range rec.Events() {
		var m map[string]any
		_ = json.Unmarshal(e.Message, &m)
		line := e.Name
		for _, k := range members {
			if v, ok := m[k]; ok {
				line += " " + k + "=" + v.(string)
			}
		}
		out = append(out, line)
	}
	return out
}

// TestEventsAsToday: the API announces what today's worker-manager announces, with
// its names and messages.
func TestEventsAsToday(t *testing.T) {
	rec := &announce.Recorder{}
	e := newAWSEnvWith(t, app.WithEvents(rec))
	// newAWSEnv created p/aws (one launch config, id made from its content).
	if got := names(rec); strings.Join(got, ",") != "workerPoolCreated,launchConfigCreated" {
		t.Fatalf("creating a pool: %v", got)
	}
	first := rec.Events()[1]
	if first.Exchange != "exchange/taskcluster-worker-manager/v1/launch-config-created" {
		t.Errorf("exchange %s", first.Exchange)
	}
	reg := e.registerToday(t)
	if r := e.h.Do(&reg.Credentials, "POST", base+"/worker-pool-errors/"+esc("p/aws"), map[string]any{"kind": "boom", "title": "t",
		"description": "", "extra": map[string]any{}, "workerGroup": "us-east-1", "workerId": "i-0abc"}); r.Status != 200 {
		t.Fatalf("reportWorkerError: %d %s", r.Status, r.Body)
	}
	if r := e.h.Do(&reg.Credentials, "DELETE", base+"/workers/"+esc("p/aws")+"/us-east-1/i-0abc", nil); r.Status != 200 {
		t.Fatalf("removeWorker: %d", r.Status)
	}
	e.setPool(t, `{"minCapacity":0,"maxCapacity":4,"launchConfigs":[
	  {"region":"us-east-1","workerManager":{"launchConfigId":"new-one"},"launchConfig":{"ImageId":"ami-0123456789abcdef0","InstanceType":"m5.large"}}]}`)
	if r := e.h.Do(e.h.Root, "DELETE", base+"/worker-pool/"+esc("p/aws"), nil); r.Status != 200 {
		t.Fatalf("deleteWorkerPool: %d", r.Status)
	}
	got := names(rec, "workerId", "kind", "reason", "providerId", "previousProviderId")
	want := []string{
		"workerPoolCreated providerId=aws",
		"launchConfigCreated providerId=aws",
		"workerRunning workerId=i-0abc providerId=aws",
		"workerPoolError workerId=i-0abc kind=boom providerId=aws",
		"workerRemoved workerId=i-0abc reason=removed through the API by worker/aws/p/aws/us-east-1/i-0abc providerId=aws",
		"workerPoolUpdated providerId=aws",
		"launchConfigCreated providerId=aws",
		"launchConfigArchived providerId=aws",
		"workerPoolUpdated providerId=null-provider previousProviderId=aws",
		"launchConfigArchived providerId=null-provider",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every worker message carries today's required members.
	for _, ev := range rec.Events() {
		if !strings.HasPrefix(ev.Name, "worker") || strings.HasPrefix(ev.Name, "workerPool") {
			continue
		}
		var m map[string]any
		_ = json.Unmarshal(ev.Message, &m)
		for _, k := range []string{"workerPoolId", "providerId", "workerId", "workerGroup", "capacity", "timestamp"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s lacks %s: %s", ev.Name, k, ev.Message)
			}
		}
	}
}
