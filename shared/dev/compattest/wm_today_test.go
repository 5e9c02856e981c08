package compattest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/dev/localstack"
	"github.com/workerfleet/workerfleet/shared/provision"
)

// startCurrentStack runs the local stack in-process following today's
// worker-manager (Compatibility "current"); opts, if given, adjusts the options.
func startCurrentStack(t *testing.T, opts func(*localstack.Options)) *localstack.Stack {
	t.Helper()
	o := localstack.Options{Port: freePort(t), RootAccessToken: rootToken, Compatibility: "current",
		ProvisionInterval: time.Second, BootDelay: time.Second, ShutdownDelay: time.Second, Out: io.Discard,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if opts != nil {
		opts(&o)
	}
	s, err := localstack.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// jsCall is one call of wm-today.mjs: its answer, or how it failed.
type jsCall struct {
	Method, Label string
	OK            bool
	Status        int
	Code          string
	Body          json.RawMessage
}

type jsRun struct {
	Calls   []jsCall
	Methods []string // the reference's methods, as the script's client has them
	Error   string
}

// find is the call of method under label.
func (r *jsRun) find(t *testing.T, method, label string) jsCall {
	t.Helper()
	for _, c := range r.Calls {
		if c.Method == method && c.Label == label {
			return c
		}
	}
	t.Fatalf("the script made no call %s (%s)", method, label)
	return jsCall{}
}

// answer decodes the answer of method under label into out; it fails the test
// if the call failed.
func (r *jsRun) answer(t *testing.T, method, label string, out any) bool {
	t.Helper()
	c := r.find(t, method, label)
	if !c.OK {
		t.Errorf("%s (%s): failed with %d %s, want an answer", method, label, c.Status, c.Code)
		return false
	}
	if err := json.Unmarshal(c.Body, out); err != nil {
		t.Errorf("%s (%s): %s: %v", method, label, c.Body, err)
		return false
	}
	return true
}

// refused checks that method under label failed with status.
func (r *jsRun) refused(t *testing.T, method, label string, status int, why string) {
	t.Helper()
	if c := r.find(t, method, label); c.OK || c.Status != status {
		t.Errorf("%s (%s): answered %v %d %s %.300s; today's worker-manager answers %d (%s)", method, label, c.OK, c.Status, c.Code, c.Body, status, why)
	}
}

// checkSchemas checks every answer against its method's output schema.
func checkSchemas(t *testing.T, r *jsRun) {
	t.Helper()
	for _, c := range r.Calls {
		if !c.OK || c.Method == "" {
			continue
		}
		s, known := todaysOutputs[c.Method]
		if !known {
			t.Errorf("%s: not a method of today's reference", c.Method)
			continue
		}
		if s == nil {
			continue
		}
		for _, p := range conform(c.Method, decodeAny(c.Body), s) {
			t.Errorf("%s (%s): %s", c.Method, c.Label, p)
		}
	}
}

type lcWire = map[string]any

// launchConfigID is a launch config's workerManager.launchConfigId.
func launchConfigID(lc lcWire) string {
	wm, _ := lc["workerManager"].(map[string]any)
	id, _ := wm["launchConfigId"].(string)
	return id
}

// withoutID is a launch config without its workerManager.launchConfigId (and
// without workerManager, if that was all it held).
func withoutID(lc lcWire) lcWire {
	out := lcWire{}
	for k, v := range lc {
		out[k] = v
	}
	if wm, ok := lc["workerManager"].(map[string]any); ok {
		rest := map[string]any{}
		for k, v := range wm {
			if k != "launchConfigId" {
				rest[k] = v
			}
		}
		if len(rest) == 0 {
			delete(out, "workerManager")
		} else {
			out["workerManager"] = rest
		}
	}
	return out
}

// checkReadBack checks that got, a pool's config as answered, is sent as written
// with each launch config's id (the written one, or one made for it), and returns
// the ids by the index of the launch config sent.
func checkReadBack(t *testing.T, what string, got json.RawMessage, sent map[string]any) []string {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(got, &cfg); err != nil {
		t.Errorf("%s: config %s: %v", what, got, err)
		return nil
	}
	for k, v := range sent {
		if k != "launchConfigs" && !reflect.DeepEqual(cfg[k], v) {
			t.Errorf("%s: config.%s = %v, want it as sent: %v", what, k, cfg[k], v)
		}
	}
	for k := range cfg {
		if _, ok := sent[k]; !ok {
			t.Errorf("%s: config.%s, not sent", what, k)
		}
	}
	sentLCs, _ := sent["launchConfigs"].([]any)
	gotLCs, _ := cfg["launchConfigs"].([]any)
	ids := make([]string, len(sentLCs))
	if len(gotLCs) != len(sentLCs) {
		t.Errorf("%s: %d launch configs, want the %d sent", what, len(gotLCs), len(sentLCs))
		return ids
	}
	seen := map[string]bool{}
	for _, g := range gotLCs {
		glc, _ := g.(map[string]any)
		id := launchConfigID(glc)
		if !ident.matches(id) || seen[id] {
			t.Errorf("%s: launch config %v has workerManager.launchConfigId %q, want a new identifier", what, glc, id)
		}
		seen[id] = true
		matched := false
		for i, s := range sentLCs {
			slc := s.(map[string]any)
			if ids[i] == "" && reflect.DeepEqual(withoutID(glc), withoutID(slc)) {
				if sid := launchConfigID(slc); sid != "" && sid != id {
					continue
				}
				ids[i], matched = id, true
				break
			}
		}
		if !matched {
			t.Errorf("%s: launch config %v is none of those sent (with an id)", what, glc)
		}
	}
	return ids
}

func (m member) matches(s string) bool { return len(m.conform("", s)) == 0 }

// workerIDs are the workerIds of a worker list.
func workerIDs(ws []struct{ WorkerID string }) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.WorkerID)
	}
	sort.Strings(out)
	return out
}

type workerList struct {
	Workers []struct{ WorkerID string }
}

type launchConfigList struct {
	WorkerPoolLaunchConfigs []struct {
		LaunchConfigID string
		IsArchived     bool
		Configuration  map[string]any
	}
}

// states are the launch config ids of a listing, with "(archived)" after those
// archived, sorted.
func (l launchConfigList) states() []string {
	out := []string{}
	for _, lc := range l.WorkerPoolLaunchConfigs {
		s := lc.LaunchConfigID
		if lc.IsArchived {
			s += " (archived)"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

const todaysAWSConfig = `{
  "minCapacity": 0, "maxCapacity": 1, "scalingRatio": 1,
  "lifecycle": {"registrationTimeout": 1800, "reregistrationTimeout": 3600, "queueInactivityTimeout": 7200},
  "launchConfigs": [
    {"workerManager": {"launchConfigId": "lc-east-a", "capacityPerInstance": 1, "initialWeight": 1},
     "region": "us-east-1",
     "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large", "Placement": {"AvailabilityZone": "us-east-1a"}},
     "workerConfig": {"genericWorker": {"config": {"deploymentId": "east-a"}}}},
    {"capacityPerInstance": 1, "region": "us-east-1",
     "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large", "Placement": {"AvailabilityZone": "us-east-1b"}},
     "workerConfig": {"genericWorker": {"config": {"deploymentId": "east-b"}}}},
    {"region": "us-west-2",
     "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"},
     "workerConfig": {"genericWorker": {"config": {"deploymentId": "west"}}},
     "additionalUserData": {"team": "ci"}}
  ]
}`

// TestWorkerManagerToday calls every method of today's worker-manager reference
// (taskcluster-client 87.1.3, and v106's shouldWorkerTerminate) with the official
// JavaScript client against the local stack following today's worker-manager, and
// checks every answer against the current schemas (required members, JSON types,
// enums, patterns, no members beyond them) and against what today's
// worker-manager answers: launch config ids written and made, 409 for a launch
// config id reused with other content, archived launch configs, the state,
// launchConfigId, errorId, workerState and includeArchived filters, a static
// worker's life, and a fake-cloud instance's registration, renewal, errors and
// removal.
func TestWorkerManagerToday(t *testing.T) {
	s := startCurrentStack(t, nil)
	const awsPool, staticPool = "proj-today/aws-linux", "proj-today/static-hosts"
	var awsConfig map[string]any
	if err := json.Unmarshal([]byte(todaysAWSConfig), &awsConfig); err != nil {
		t.Fatal(err)
	}
	input := map[string]any{"rootUrl": s.URL, "rootToken": rootToken, "awsPool": awsPool, "staticPool": staticPool,
		"awsDefinition": map[string]any{"providerId": "aws", "description": "today's aws pool", "owner": "ci@example.com",
			"emailOnError": false, "config": awsConfig}}
	run := func(phase string, extra map[string]any) *jsRun {
		in := map[string]any{"phase": phase}
		for k, v := range input {
			in[k] = v
		}
		for k, v := range extra {
			in[k] = v
		}
		raw, _ := json.Marshal(in)
		var r jsRun
		runJS(t, "wm-today.mjs", &r, string(raw))
		if r.Error != "" {
			t.Fatalf("wm-today.mjs (%s): %s; calls: %+v", phase, r.Error, r.Calls)
		}
		return &r
	}

	pools := run("pools", nil)
	s.Queue.Set("proj-today", "aws-linux", 1)
	inst := liveInstance(t, s, awsPool)
	doc, sig := imds(t, s, inst.ID)
	worker := run("worker", map[string]any{"instanceId": inst.ID, "document": doc, "signature": sig})
	all := &jsRun{Calls: append(append([]jsCall(nil), pools.Calls...), worker.Calls...), Methods: pools.Methods}

	// Every method of the reference, and nothing else, was called and answered.
	want := all.Methods // the script adds shouldWorkerTerminate to 87.1.3's reference
	answered := map[string]bool{}
	for _, c := range all.Calls {
		if c.OK {
			answered[c.Method] = true
		}
	}
	for _, m := range want {
		if _, known := todaysOutputs[m]; !known {
			t.Errorf("the reference's %s has no schema here", m)
		}
		if !answered[m] {
			t.Errorf("%s: no call answered", m)
		}
	}
	if len(want) != 27 || len(todaysOutputs) != 27 {
		t.Errorf("%d methods in the reference (with shouldWorkerTerminate), %d here: want 27", len(want), len(todaysOutputs))
	}
	checkSchemas(t, all)
	if testing.Verbose() {
		for _, c := range all.Calls {
			t.Logf("%s (%s): %v %d %s %.400s", c.Method, c.Label, c.OK, c.Status, c.Code, c.Body)
		}
	}

	t.Run("pools", func(t *testing.T) { checkTodaysPools(t, pools, awsConfig) })
	t.Run("static workers", func(t *testing.T) { checkTodaysStaticWorkers(t, pools) })
	t.Run("aws worker", func(t *testing.T) { checkTodaysAWSWorker(t, s, worker, inst.ID, awsPool, awsConfig) })
}

func checkTodaysPools(t *testing.T, r *jsRun, awsConfig map[string]any) {
	var providers struct {
		Providers []struct{ ProviderID, ProviderType string }
	}
	if r.answer(t, "listProviders", "", &providers) && len(providers.Providers) == 0 {
		t.Errorf("listProviders: none")
	}
	var created, got struct {
		ProviderID string
		Config     json.RawMessage
	}
	var ids []string
	if r.answer(t, "createWorkerPool", "aws", &created) {
		ids = checkReadBack(t, "createWorkerPool", created.Config, awsConfig)
		if len(ids) == 3 && ids[0] != "lc-east-a" {
			t.Errorf("createWorkerPool: the first launch config's id %q, want lc-east-a as written", ids[0])
		}
	}
	if r.answer(t, "workerPool", "aws", &got) {
		if again := checkReadBack(t, "workerPool", got.Config, awsConfig); !reflect.DeepEqual(again, ids) {
			t.Errorf("workerPool: launch config ids %v, createWorkerPool answered %v", again, ids)
		}
	}
	// Today's WorkerPool.create answers an existing pool as created when the
	// definition equals the stored one, launch config ids included.
	var again struct{ Config json.RawMessage }
	if r.answer(t, "createWorkerPool", "aws again as read", &again) {
		checkReadBack(t, "createWorkerPool again", again.Config, awsConfig)
	}
	for _, c := range []struct {
		method, label string
		status        int
		why           string
	}{
		{"createWorkerPool", "queueInactivityTimeout below 1200", 400, "InputValidationError: the lifecycle schema's minimum is 1200"},
		{"createWorkerPool", "initialWeight above 1", 400, "InputValidationError: initialWeight is at most 1"},
		{"createWorkerPool", "capacityPerInstance 0", 400, "InputValidationError: capacityPerInstance is at least 1"},
		{"createWorkerPool", "launchConfigId not an identifier", 400, "InputValidationError: launch-config-id is an identifier"},
		{"createWorker", "aws pool", 400, "InputError: the aws provider creates no workers on request"},
		{"updateWorker", "missing", 404, "ResourceNotFound"},
		{"worker", "missing", 404, "ResourceNotFound"},
		{"removeWorker", "missing", 404, "ResourceNotFound"},
		{"shouldWorkerTerminate", "missing", 404, "ResourceNotFound"},
		{"workerPool", "missing", 404, "ResourceNotFound"},
		{"workerPoolStats", "missing", 404, "ResourceNotFound"},
		{"listWorkerPoolLaunchConfigs", "missing", 404, "ResourceNotFound"},
		{"workerPoolErrorStats", "missing", 404, "ResourceNotFound"},
		{"listWorkersForWorkerPool", "missing", 404, "ResourceNotFound"},
		{"listWorkerPoolLaunchConfigs", "includeArchived maybe", 400, "InvalidRequestArguments: includeArchived is true or false"},
	} {
		r.refused(t, c.method, c.label, c.status, c.why)
	}
	var standalone workerList
	if r.answer(t, "listWorkersForWorkerPool", "standalone", &standalone) && len(standalone.Workers) != 0 {
		t.Errorf("listWorkersForWorkerPool with state standalone: %v, want none (worker-manager's workers are never standalone)", workerIDs(standalone.Workers))
	}
	r.refused(t, "createWorkerPool", "aws other", 409, "RequestConflict: worker pool already exists")
	var static struct {
		ProviderID string
		Config     map[string]any
	}
	if r.answer(t, "createWorkerPool", "static", &static) && static.ProviderID != "static" {
		t.Errorf("createWorkerPool (static): %+v", static)
	}
	var list struct {
		WorkerPools       []struct{ WorkerPoolID string }
		ContinuationToken string
	}
	if r.answer(t, "listWorkerPools", "", &list) && len(list.WorkerPools) != 2 {
		t.Errorf("listWorkerPools: %+v, want the two pools", list)
	}
	if r.answer(t, "listWorkerPools", "limit 1", &list) && (len(list.WorkerPools) != 1 || list.ContinuationToken == "") {
		t.Errorf("listWorkerPools with limit 1: %+v, want one pool and a continuationToken", list)
	}
	var lcs launchConfigList
	if r.answer(t, "listWorkerPoolLaunchConfigs", "created", &lcs) {
		wantIDs := slices.Clone(ids)
		sort.Strings(wantIDs)
		if got := lcs.states(); !reflect.DeepEqual(got, wantIDs) {
			t.Errorf("listWorkerPoolLaunchConfigs: %v, want %v", got, wantIDs)
		}
		for _, lc := range lcs.WorkerPoolLaunchConfigs {
			i := slices.Index(ids, lc.LaunchConfigID)
			if i < 0 {
				continue
			}
			sent := awsConfig["launchConfigs"].([]any)[i].(map[string]any)
			if !reflect.DeepEqual(withoutID(lc.Configuration), withoutID(sent)) {
				t.Errorf("listWorkerPoolLaunchConfigs: %s's configuration %v, want %v as sent", lc.LaunchConfigID, lc.Configuration, sent)
			}
		}
	}
	r.refused(t, "updateWorkerPool", "id reused", 409, "RequestConflict: launch config lc-east-a already exists with different configuration")
	var changed struct {
		Config struct{ LaunchConfigs []lcWire }
	}
	if r.answer(t, "updateWorkerPool", "workerManager changed", &changed) {
		for _, lc := range changed.Config.LaunchConfigs {
			if launchConfigID(lc) == "lc-east-a" && !reflect.DeepEqual(lc["workerManager"].(map[string]any)["maxCapacity"], 3.0) {
				t.Errorf("updateWorkerPool changing only workerManager: %v, want maxCapacity 3", lc)
			}
		}
	}
	var back struct{}
	r.answer(t, "updateWorkerPool", "back", &back)
}

func checkTodaysStaticWorkers(t *testing.T, r *jsRun) {
	type worker struct {
		WorkerGroup, WorkerID, State, ProviderID string
		Capacity                                 int
		Expires                                  time.Time
	}
	var created, updated, got, second worker
	if r.answer(t, "createWorker", "static", &created) &&
		(created.State != "running" || created.Capacity != 2 || created.ProviderID != "static" || created.WorkerGroup != "rack-1") {
		t.Errorf("createWorker: %+v, want a running worker of capacity 2 in rack-1", created)
	}
	r.refused(t, "createWorker", "static again", 400, "InputError: worker already exists, with another secret")
	if r.answer(t, "createWorker", "static no capacity", &second) && second.Capacity != 1 {
		t.Errorf("createWorker without capacity: %+v, want capacity 1", second)
	}
	if r.answer(t, "updateWorker", "static", &updated) && (updated.Capacity != 3 || !updated.Expires.After(created.Expires)) {
		t.Errorf("updateWorker: %+v, want capacity 3 and a later expiry than %v", updated, created.Expires)
	}
	if r.answer(t, "worker", "static", &got) && got.Capacity != 3 {
		t.Errorf("worker after updateWorker: %+v", got)
	}
	var group workerList
	if r.answer(t, "listWorkersForWorkerGroup", "static", &group) {
		if ids := workerIDs(group.Workers); !reflect.DeepEqual(ids, []string{"host-1", "host-2"}) {
			t.Errorf("listWorkersForWorkerGroup: %v, want host-1 and host-2", ids)
		}
	}
	var reg struct {
		Expires      time.Time
		WorkerConfig map[string]any
		Credentials  struct{ ClientID string }
	}
	if r.answer(t, "registerWorker", "static", &reg) {
		wc, _ := json.Marshal(reg.WorkerConfig)
		if string(wc) != `{"genericWorker":{"config":{"deploymentId":"racks"}}}` {
			t.Errorf("registerWorker (static): workerConfig %s, want the pool's", wc)
		}
		if d := time.Until(reg.Expires); d < 50*time.Minute || d > 61*time.Minute {
			t.Errorf("registerWorker (static): credentials expire in %v, want the pool's reregistrationTimeout (1 h)", d)
		}
		if reg.Credentials.ClientID != "worker/static/proj-today/static-hosts/rack-1/host-1" {
			t.Errorf("registerWorker (static): clientId %q", reg.Credentials.ClientID)
		}
	}
	var reported struct{ Extra map[string]any }
	if r.answer(t, "reportWorkerError", "static", &reported) &&
		(reported.Extra["free"] != 0.0 || reported.Extra["workerId"] != "host-1" || reported.Extra["workerGroup"] != "rack-1") {
		t.Errorf("reportWorkerError: extra %v, want the report's with workerGroup and workerId", reported.Extra)
	}
	var should struct {
		Terminate bool
		Reason    string
	}
	if r.answer(t, "shouldWorkerTerminate", "static", &should) && (should.Terminate || should.Reason != "none") {
		t.Errorf("shouldWorkerTerminate (static): %+v, want {false none}", should)
	}
	var removed worker
	if r.answer(t, "worker", "static host-2 removed", &removed) && removed.State != "stopped" {
		t.Errorf("worker after removeWorker (static): %+v, want state stopped", removed)
	}
}

func checkTodaysAWSWorker(t *testing.T, s *localstack.Stack, r *jsRun, instanceID, awsPool string, awsConfig map[string]any) {
	type worker struct {
		WorkerGroup, WorkerID, State, ProviderID, LaunchConfigID string
		Capacity                                                 int
	}
	var listed struct{ Workers []worker }
	if !r.answer(t, "listWorkersForWorkerPool", "all", &listed) {
		return
	}
	var w worker
	for _, x := range listed.Workers {
		if x.WorkerID == instanceID {
			w = x
		}
	}
	// The instance's launch config, by its id in the pool's answers.
	var pool struct {
		Config struct{ LaunchConfigs []lcWire }
	}
	r.answer(t, "workerPool", "before drop", &pool)
	var lc lcWire
	for _, c := range pool.Config.LaunchConfigs {
		if launchConfigID(c) == w.LaunchConfigID {
			lc = c
		}
	}
	if lc == nil {
		t.Fatalf("worker %+v: its launchConfigId is none of the pool's", w)
	}
	if w.State != "requested" || w.ProviderID != "aws" || w.WorkerGroup != lc["region"] || w.Capacity != 1 {
		t.Errorf("listWorkersForWorkerPool: %+v, want a requested aws worker of capacity 1 in workerGroup %v (its launch config's region)", w, lc["region"])
	}
	inst, _ := s.Fake.Instance(instanceID)
	if inst.Region != lc["region"] {
		t.Errorf("the instance runs in %s, its launch config %s says %v", inst.Region, w.LaunchConfigID, lc["region"])
	}

	has := func(method, label string, want bool) {
		t.Helper()
		var l workerList
		if r.answer(t, method, label, &l) && slices.Contains(workerIDs(l.Workers), instanceID) != want {
			t.Errorf("%s (%s): %v; the worker (now %s) should be listed: %v", method, label, workerIDs(l.Workers), label, want)
		}
	}
	has("listWorkersForWorkerPool", "requested", true)
	has("listWorkersForWorkerPool", "running before", false)
	has("listWorkersForWorkerPool", "its launchConfigId", true)
	has("listWorkersForWorkerPool", "other launchConfigId", false)
	has("listWorkersForWorkerPool", "running", true)
	has("listWorkersForWorkerPool", "requested after", false)
	has("listWorkersForWorkerPool", "stopped", false)
	has("listWorkersForWorkerGroup", "aws", true)
	has("listWorkers", "aws", true)
	has("listWorkers", "running", true)
	has("listWorkers", "stopped", false)
	has("listWorkers", "its launchConfigId", true)
	has("listWorkers", "other launchConfigId", false)

	var reg, renewed struct {
		Secret       string
		WorkerConfig map[string]any
		Credentials  struct{ ClientID string }
	}
	if r.answer(t, "registerWorker", "aws", &reg) {
		// The one deliberate difference (the README's table): a workerConfig that
		// sets no idle timeout is given the deployment's.
		wantConfig := map[string]any{}
		for k, v := range lc["workerConfig"].(map[string]any) {
			wantConfig[k] = v
		}
		if _, set := wantConfig[provision.IdleTimeoutKey]; !set {
			wantConfig[provision.IdleTimeoutKey] = provision.DefaultWorkerIdleTimeout.Seconds()
		}
		if !reflect.DeepEqual(reg.WorkerConfig, wantConfig) {
			t.Errorf("registerWorker: workerConfig %v, want its launch config's %v", reg.WorkerConfig, wantConfig)
		}
		if want := fmt.Sprintf("worker/aws/%s/%s/%s", awsPool, w.WorkerGroup, instanceID); reg.Credentials.ClientID != want {
			t.Errorf("registerWorker: clientId %q, want %q", reg.Credentials.ClientID, want)
		}
	}
	if r.answer(t, "reregisterWorker", "aws", &renewed) && (renewed.Secret == reg.Secret || renewed.Credentials.ClientID != reg.Credentials.ClientID) {
		t.Errorf("reregisterWorker: %+v, want a new secret for the same client", renewed)
	}
	var got worker
	if r.answer(t, "worker", "aws", &got) && (got.State != "running" || got.LaunchConfigID != w.LaunchConfigID) {
		t.Errorf("worker: %+v, want running, launched from %s", got, w.LaunchConfigID)
	}
	var queueList struct{ Workers []worker }
	if r.answer(t, "listWorkers", "aws", &queueList) {
		for _, q := range queueList.Workers {
			if q.WorkerID == instanceID && (q.LaunchConfigID != w.LaunchConfigID || q.State != "running" || q.ProviderID != "aws") {
				t.Errorf("listWorkers: %+v, want running, aws, launched from %s", q, w.LaunchConfigID)
			}
		}
	}
	var gw struct{ ProvisionerID, WorkerType, WorkerID string }
	if r.answer(t, "getWorker", "aws", &gw) && (gw.ProvisionerID != "proj-today" || gw.WorkerType != "aws-linux" || gw.WorkerID != instanceID) {
		t.Errorf("getWorker: %+v", gw)
	}
	var should struct {
		Terminate bool
		Reason    string
	}
	if r.answer(t, "shouldWorkerTerminate", "aws", &should) && should.Terminate {
		t.Errorf("shouldWorkerTerminate of the one needed worker: %+v", should)
	}

	// Errors: the reporting worker's launch config, and the filters.
	var e struct{ ErrorID, LaunchConfigID string }
	if r.answer(t, "reportWorkerError", "aws", &e) && e.LaunchConfigID != w.LaunchConfigID {
		t.Errorf("reportWorkerError: launchConfigId %q, want the worker's %q", e.LaunchConfigID, w.LaunchConfigID)
	}
	errorsOf := func(label string, want int) []string {
		t.Helper()
		var l struct {
			WorkerPoolErrors []struct{ ErrorID, LaunchConfigID string }
		}
		if !r.answer(t, "listWorkerPoolErrors", label, &l) {
			return nil
		}
		var ids []string
		for _, x := range l.WorkerPoolErrors {
			ids = append(ids, x.ErrorID)
		}
		if len(ids) != want {
			t.Errorf("listWorkerPoolErrors (%s): %d errors %v, want %d", label, len(ids), l.WorkerPoolErrors, want)
		}
		return ids
	}
	errorsOf("aws", 2)
	if ids := errorsOf("errorId", 1); len(ids) == 1 && ids[0] != e.ErrorID {
		t.Errorf("listWorkerPoolErrors with errorId %s: %v", e.ErrorID, ids)
	}
	errorsOf("its launchConfigId", 2)
	errorsOf("other launchConfigId", 0)
	type errorStats struct {
		WorkerPoolID string
		Totals       struct {
			Total                                                float64
			Title, LaunchConfig, WorkerPool, Code, Hourly, Daily map[string]float64
		}
	}
	var allStats, poolStats errorStats
	if r.answer(t, "workerPoolErrorStats", "all", &allStats) &&
		(allStats.WorkerPoolID != "" || allStats.Totals.Total != 3 || allStats.Totals.WorkerPool[awsPool] != 2 || allStats.Totals.WorkerPool["proj-today/static-hosts"] != 1) {
		t.Errorf("workerPoolErrorStats: %+v, want 3 errors, 2 of %s and 1 of the static pool", allStats, awsPool)
	}
	if r.answer(t, "workerPoolErrorStats", "aws", &poolStats) &&
		(poolStats.WorkerPoolID != awsPool || poolStats.Totals.Total != 2 || poolStats.Totals.LaunchConfig[w.LaunchConfigID] != 2 ||
			poolStats.Totals.Title["Image broken"] != 1) {
		t.Errorf("workerPoolErrorStats of %s: %+v, want 2 errors of launch config %s, one titled Image broken", awsPool, poolStats, w.LaunchConfigID)
	}

	var stats struct {
		LaunchConfigStats []struct {
			LaunchConfigID                string
			RunningCount, RunningCapacity int
		}
	}
	if r.answer(t, "workerPoolStats", "aws", &stats) {
		running := map[string]int{}
		for _, x := range stats.LaunchConfigStats {
			running[x.LaunchConfigID] += x.RunningCount
		}
		if running[w.LaunchConfigID] != 1 {
			t.Errorf("workerPoolStats: running by launch config %v, want 1 of %s", running, w.LaunchConfigID)
		}
	}
	var poolsStats struct {
		WorkerPoolsStats []struct{ WorkerPoolID string }
	}
	if r.answer(t, "listWorkerPoolsStats", "", &poolsStats) {
		var ids []string
		for _, x := range poolsStats.WorkerPoolsStats {
			ids = append(ids, x.WorkerPoolID)
		}
		sort.Strings(ids)
		if !reflect.DeepEqual(ids, []string{awsPool, "proj-today/static-hosts"}) {
			t.Errorf("listWorkerPoolsStats: pools %v", ids)
		}
	}

	// A launch config dropped is archived; sent again, active again.
	var dropped struct{ LaunchConfigID string }
	if !r.answer(t, "", "dropped", &dropped) {
		return
	}
	var allIDs []string
	for _, c := range pool.Config.LaunchConfigs {
		allIDs = append(allIDs, launchConfigID(c))
	}
	sort.Strings(allIDs)
	var active, archivedToo []string
	for _, id := range allIDs {
		if id == dropped.LaunchConfigID {
			archivedToo = append(archivedToo, id+" (archived)")
			continue
		}
		active = append(active, id)
		archivedToo = append(archivedToo, id)
	}
	sort.Strings(archivedToo)
	var updated struct {
		Config struct{ LaunchConfigs []lcWire }
	}
	if r.answer(t, "updateWorkerPool", "drop one", &updated) && len(updated.Config.LaunchConfigs) != 2 {
		t.Errorf("updateWorkerPool dropping %s: %d launch configs", dropped.LaunchConfigID, len(updated.Config.LaunchConfigs))
	}
	lcStates := func(label string, want []string) {
		t.Helper()
		var l launchConfigList
		if r.answer(t, "listWorkerPoolLaunchConfigs", label, &l) && !reflect.DeepEqual(l.states(), want) {
			t.Errorf("listWorkerPoolLaunchConfigs (%s): %v, want %v", label, l.states(), want)
		}
	}
	lcStates("after drop", active)
	lcStates("after drop, includeArchived", archivedToo)
	lcStates("after drop, includeArchived false", active)
	lcStates("after restore", allIDs)

	var none struct{}
	r.answer(t, "removeWorker", "aws itself", &none)
	if r.answer(t, "worker", "aws removed", &got) && got.State != "stopping" && got.State != "stopped" {
		t.Errorf("worker after removeWorker: %+v, want stopping or stopped", got)
	}
	var deleted struct{ ProviderID string }
	if r.answer(t, "deleteWorkerPool", "static", &deleted) && deleted.ProviderID != "null-provider" {
		t.Errorf("deleteWorkerPool (static): providerId %q, want null-provider", deleted.ProviderID)
	}
	var deletedAWS struct {
		ProviderID string
		Config     struct{ LaunchConfigs []lcWire }
	}
	if r.answer(t, "deleteWorkerPool", "aws", &deletedAWS) &&
		(deletedAWS.ProviderID != "null-provider" || len(deletedAWS.Config.LaunchConfigs) != 0) {
		t.Errorf("deleteWorkerPool (aws): providerId %q and %d launch configs; today's worker-manager answers null-provider "+
			"and a config without launchConfigs (all archived)", deletedAWS.ProviderID, len(deletedAWS.Config.LaunchConfigs))
	}
	if r.answer(t, "workerPool", "after delete", &deletedAWS) && len(deletedAWS.Config.LaunchConfigs) != 0 {
		t.Errorf("workerPool after deleteWorkerPool: %d launch configs; today's worker-manager answers a config without launchConfigs (all archived)",
			len(deletedAWS.Config.LaunchConfigs))
	}
	lcStates("after delete", []string{})
	var allArchived []string
	for _, id := range allIDs {
		allArchived = append(allArchived, id+" (archived)")
	}
	lcStates("after delete, includeArchived", allArchived)
}
