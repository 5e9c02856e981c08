package compattest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcworkermanager"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/localstack"
	"github.com/workerfleet/workerfleet/shared/workermanager"
)

// getWM reads path of the worker-manager API anonymously (the deployment's default
// anonymous scopes allow every read) into out. For today's methods and members the
// v25 Go client lacks (listWorkerPoolLaunchConfigs, a worker's launchConfigId).
func getWM(t *testing.T, s *localstack.Stack, path string, out any) {
	t.Helper()
	resp, err := http.Get(s.URL + workermanager.Base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %s: %v", path, body, err)
	}
}

// todaysLaunchConfig is one launch config as a current deployment stores and
// returns it: workerManager {launchConfigId, capacityPerInstance, initialWeight,
// maxCapacity} (the id as written, or as made by worker-manager: "lc-" and 20 hex
// digits; "" sends none, as tc-admin does), spot in one zone's subnet.
type todaysLaunchConfig struct {
	id, region, zone, subnet, instanceType string
	capacity                               int
	weight                                 *float64
	maxCapacity                            int // 0: none
}

func (lc todaysLaunchConfig) value(workerConfig map[string]any) map[string]any {
	wm := map[string]any{"capacityPerInstance": lc.capacity}
	if lc.id != "" {
		wm["launchConfigId"] = lc.id
	}
	if lc.weight != nil {
		wm["initialWeight"] = *lc.weight
	}
	if lc.maxCapacity > 0 {
		wm["maxCapacity"] = lc.maxCapacity
	}
	return map[string]any{
		"workerManager": wm,
		"region":        lc.region,
		"launchConfig": map[string]any{
			"ImageId": "ami-0a1b2c3d4e5f60789", "InstanceType": lc.instanceType, "SubnetId": lc.subnet,
			"Placement":             map[string]any{"AvailabilityZone": lc.zone},
			"SecurityGroupIds":      []any{"sg-0c1d2e3f405162738"},
			"InstanceMarketOptions": map[string]any{"MarketType": "spot"},
			"BlockDeviceMappings": []any{map[string]any{"DeviceName": "/dev/sda1",
				"Ebs": map[string]any{"VolumeSize": 60, "VolumeType": "gp3", "DeleteOnTermination": true}}},
		},
		"workerConfig":       workerConfig,
		"additionalUserData": map[string]any{},
	}
}

// zones are a region's availability zones of the fake cloud, sorted, with each
// one's subnet.
func zones(s *localstack.Stack, region string) (names []string, subnet map[string]string) {
	subnet = map[string]string{}
	for sn, z := range s.Fake.Subnets(region) {
		subnet[z] = sn
		names = append(names, z)
	}
	sort.Strings(names)
	return names, subnet
}

func weight(w float64) *float64 { return &w }

// todaysPool is a pool definition as a current deployment returns it (lifecycle
// defaults filled in, as today's worker-manager stores them).
type todaysPool struct {
	id, description string
	maxCapacity     int
	launchConfigs   []todaysLaunchConfig
	workerConfig    map[string]any
}

func (p todaysPool) config() map[string]any {
	lcs := make([]any, len(p.launchConfigs))
	for i, lc := range p.launchConfigs {
		lcs[i] = lc.value(p.workerConfig)
	}
	return map[string]any{
		"minCapacity": 0, "maxCapacity": p.maxCapacity, "scalingRatio": 1,
		"lifecycle":     map[string]any{"registrationTimeout": 1800, "reregistrationTimeout": 345600, "queueInactivityTimeout": 7200},
		"launchConfigs": lcs,
	}
}

// roundTrip is v through JSON, as an answer decodes.
func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type poolWorker struct {
	WorkerGroup, WorkerID, State, LaunchConfigID string
	Capacity                                     int
}

// liveWorkers are a pool's requested and running workers, from
// listWorkersForWorkerPool.
func liveWorkers(t *testing.T, s *localstack.Stack, poolID string) []poolWorker {
	t.Helper()
	var out []poolWorker
	for _, state := range []string{"requested", "running"} {
		var l struct{ Workers []poolWorker }
		getWM(t, s, "/workers/"+poolID+"?state="+state, &l)
		out = append(out, l.Workers...)
	}
	return out
}

// TestTodaysDefinitionsMigrate feeds worker pools as a current deployment stores
// and returns them (shaped like taskcluster/community-tc-config's generic-worker and
// docker-worker pools: a launch config per region x zone, workerManager with
// launchConfigId, capacityPerInstance, initialWeight and maxCapacity, lifecycle with
// today's defaults filled in, scalingRatio, workerConfig), written by hand, through
// createWorkerPool with the official v25 Go client, on the stack following today's
// worker-manager. Each is accepted unmodified, read back with its launch config
// ids, and sending back what a GET returned changes nothing. The provisioner then
// launches them under today's rules: each worker records the launch config it came
// from, a launch config's maxCapacity bounds the capacity (not the instances) it
// runs, and a launch config of initialWeight 0 never launches. Also: a definition
// without the lifecycle defaults reads back with them, as today's worker-manager
// stores it.
func TestTodaysDefinitionsMigrate(t *testing.T) {
	const provider = "community-tc-workers-aws"
	s := startCurrentStack(t, func(o *localstack.Options) {
		o.Providers = `{"community-tc-workers-aws": {"providerType": "aws"}, "static": {"providerType": "static"}}`
		o.Seed = 20 // spot prices held still: the cheapest launch configs stay the cheapest
	})
	wm := tcworkermanager.New(&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}, s.URL)

	genericWorker := map[string]any{"genericWorker": map[string]any{"config": map[string]any{
		"deploymentId": "c6e1f0b2a3d4", "idleTimeoutSecs": 900, "shutdownMachineOnIdle": true, "enableInteractive": true,
		"wstAudience": "communitytc", "wstServerURL": "https://community-websocktunnel.services.mozilla.com"}}}
	dockerWorker := map[string]any{"dockerConfig": map[string]any{"allowPrivileged": false}, "capacity": 2,
		"shutdown": map[string]any{"enabled": true, "afterIdleSeconds": 900}}

	// generic-worker: m5.large spot in every zone of two regions (ids as
	// worker-manager made them, and one left for it to make), and t3.small, the
	// cheapest by far, switched off with initialWeight 0.
	var gw []todaysLaunchConfig
	for _, region := range []string{"us-east-1", "us-west-2"} {
		names, subnet := zones(s, region)
		for i, z := range names {
			id := fmt.Sprintf("lc-%020x", 0x5eed0000+len(gw))
			if region == "us-west-2" && i == len(names)-1 {
				id = "" // worker-manager makes it
			}
			gw = append(gw, todaysLaunchConfig{id: id, region: region, zone: z, subnet: subnet[z], instanceType: "m5.large", capacity: 1, weight: weight(1)})
		}
		if region == "us-east-1" {
			gw = append(gw, todaysLaunchConfig{id: "use1-t3-small-off", region: region, zone: names[0], subnet: subnet[names[0]],
				instanceType: "t3.small", capacity: 1, weight: weight(0)})
		}
	}
	// docker-worker, capacity 2 per instance: c5.large (cheap) bounded to capacity
	// 4 by its maxCapacity, m5.2xlarge for the rest.
	names, subnet := zones(s, "us-east-1")
	dw := []todaysLaunchConfig{
		{id: "use1a-c5-large", region: "us-east-1", zone: names[0], subnet: subnet[names[0]], instanceType: "c5.large", capacity: 2, weight: weight(1), maxCapacity: 4},
		{id: "use1b-m5-2xlarge", region: "us-east-1", zone: names[1], subnet: subnet[names[1]], instanceType: "m5.2xlarge", capacity: 2, weight: weight(0.5)},
	}
	pools := []todaysPool{
		{id: "proj-taskcluster/gw-ubuntu-24-04", description: "generic-worker on Ubuntu 24.04 (community-tc)", maxCapacity: 3,
			launchConfigs: gw, workerConfig: genericWorker},
		{id: "proj-taskcluster/docker-worker", description: "docker-worker (community-tc)", maxCapacity: 12,
			launchConfigs: dw, workerConfig: dockerWorker},
	}

	assigned := map[string][]string{} // each pool's launch config ids, by index, as answered
	for _, p := range pools {
		t.Run("definition "+p.id, func(t *testing.T) {
			sent := roundTrip(t, p.config())
			def := &tcworkermanager.WorkerPoolDefinition{ProviderID: provider, Description: p.description, Owner: "taskcluster-notifications@example.com",
				EmailOnError: true, Config: mustJSON(t, sent)}
			created, err := wm.CreateWorkerPool(p.id, def)
			if err != nil {
				t.Fatalf("CreateWorkerPool: %v", err)
			}
			ids := checkReadBack(t, "createWorkerPool", created.Config, sent)
			assigned[p.id] = ids
			for i, lc := range p.launchConfigs {
				if lc.id != "" && ids[i] != lc.id {
					t.Errorf("createWorkerPool: launch config %d has id %q, want %q as written", i, ids[i], lc.id)
				}
			}
			got, err := wm.WorkerPool(p.id)
			if err != nil {
				t.Fatalf("WorkerPool: %v", err)
			}
			if again := checkReadBack(t, "workerPool", got.Config, sent); !reflect.DeepEqual(again, ids) {
				t.Errorf("workerPool: launch config ids %v, createWorkerPool answered %v", again, ids)
			}
			if listed := listedConfig(t, wm, p.id); listed != string(got.Config) {
				t.Errorf("listWorkerPools: config\n%s\nworkerPool answered\n%s", listed, got.Config)
			}
			var lcs launchConfigList
			getWM(t, s, "/worker-pool/"+p.id+"/launch-configs", &lcs)
			wantIDs := append([]string(nil), ids...)
			sort.Strings(wantIDs)
			if !reflect.DeepEqual(lcs.states(), wantIDs) {
				t.Errorf("listWorkerPoolLaunchConfigs: %v, want %v", lcs.states(), wantIDs)
			}

			// A config-as-code tool sends back what it read: nothing changes.
			upd, err := wm.UpdateWorkerPool(p.id, &tcworkermanager.WorkerPoolDefinition1{ProviderID: got.ProviderID, Description: got.Description,
				Owner: got.Owner, EmailOnError: got.EmailOnError, Config: got.Config, WorkerPoolID: got.WorkerPoolID, Created: got.Created, LastModified: got.LastModified})
			if err != nil {
				t.Fatalf("UpdateWorkerPool with what a GET returned: %v", err)
			}
			if time.Time(upd.LastModified) != time.Time(got.LastModified) || string(upd.Config) != string(got.Config) {
				t.Errorf("UpdateWorkerPool with what a GET returned: lastModified %v -> %v, config\n%s\nwas\n%s; want no change",
					got.LastModified, upd.LastModified, upd.Config, got.Config)
			}
			var after launchConfigList
			getWM(t, s, "/worker-pool/"+p.id+"/launch-configs?includeArchived=true", &after)
			if !reflect.DeepEqual(after.states(), wantIDs) {
				t.Errorf("listWorkerPoolLaunchConfigs after sending the GET back: %v, want %v (none archived, none new)", after.states(), wantIDs)
			}
		})
	}

	lcOf := func(p todaysPool, w poolWorker) *todaysLaunchConfig {
		for i, lc := range p.launchConfigs {
			if ids := assigned[p.id]; lc.id == w.LaunchConfigID || (lc.id == "" && i < len(ids) && ids[i] == w.LaunchConfigID) {
				return &p.launchConfigs[i]
			}
		}
		return nil
	}
	// checkWorker checks that a worker records a launch config of its pool, and
	// that its instance is that launch config's.
	checkWorker := func(t *testing.T, p todaysPool, w poolWorker, made map[string]bool) {
		t.Helper()
		inst, ok := s.Fake.Instance(w.WorkerID)
		if !ok {
			t.Errorf("worker %s: no such instance", w.WorkerID)
			return
		}
		lc := lcOf(p, w)
		if lc == nil {
			if !made[w.LaunchConfigID] {
				t.Errorf("worker %+v: launchConfigId %q is none of the pool's", w, w.LaunchConfigID)
			}
			return
		}
		if inst.InstanceType != lc.instanceType || inst.AvailabilityZone != lc.zone || w.WorkerGroup != lc.region || w.Capacity != lc.capacity {
			t.Errorf("worker %+v (%s in %s): not as its launch config %s says (%s in %s, capacity %d, workerGroup %s)",
				w, inst.InstanceType, inst.AvailabilityZone, w.LaunchConfigID, lc.instanceType, lc.zone, lc.capacity, lc.region)
		}
	}
	// checkUserData checks a worker's user data against what today's aws provider
	// writes for its launch config.
	checkUserData := func(t *testing.T, p todaysPool, w poolWorker) {
		t.Helper()
		lc := lcOf(p, w)
		if lc == nil {
			return
		}
		// Today's user data: additionalUserData, and over it rootUrl, workerPoolId,
		// providerId, workerGroup (the region), launchConfigId and workerConfig.
		raw, err := s.Fake.UserData(w.WorkerID)
		if err != nil {
			t.Errorf("worker %s: user data: %v", w.WorkerID, err)
			return
		}
		var ud map[string]any
		if err := json.Unmarshal(raw, &ud); err != nil {
			t.Errorf("worker %s: user data %s: %v", w.WorkerID, raw, err)
			return
		}
		want := map[string]any{"rootUrl": s.URL, "workerPoolId": p.id, "providerId": provider, "workerGroup": lc.region,
			"launchConfigId": w.LaunchConfigID}
		for k, v := range want {
			if ud[k] != v {
				t.Errorf("worker %s: user data %s = %v, want %v as today's aws provider writes it", w.WorkerID, k, ud[k], v)
			}
		}
		wc, _ := ud["workerConfig"].(map[string]any)
		for k, v := range p.workerConfig { // the deployment's idle timeout may be added (the README's table)
			if !reflect.DeepEqual(wc[k], roundTrip(t, map[string]any{"v": v})["v"]) {
				t.Errorf("worker %s: user data workerConfig.%s = %v, want %v", w.WorkerID, k, wc[k], v)
			}
		}
	}
	madeIDs := func(p todaysPool) map[string]bool {
		var got struct{ Config json.RawMessage }
		getWM(t, s, "/worker-pool/"+p.id, &got)
		made := map[string]bool{}
		var cfg struct{ LaunchConfigs []lcWire }
		_ = json.Unmarshal(got.Config, &cfg)
		for _, lc := range cfg.LaunchConfigs {
			made[launchConfigID(lc)] = true
		}
		return made
	}

	t.Run("initialWeight 0 never launches", func(t *testing.T) {
		p := pools[0]
		made := madeIDs(p)
		s.Queue.Set("proj-taskcluster", "gw-ubuntu-24-04", 3)
		var ws []poolWorker
		waitFor(t, "3 workers of "+p.id, 60*time.Second, func() bool {
			ws = liveWorkers(t, s, p.id)
			for _, w := range ws {
				if w.LaunchConfigID == "use1-t3-small-off" {
					return true // fail below, at once
				}
			}
			return len(ws) >= 3
		})
		for _, w := range ws {
			if w.LaunchConfigID == "use1-t3-small-off" {
				t.Errorf("worker %+v launched from a launch config of initialWeight 0", w)
			}
			checkWorker(t, p, w, made)
		}
		for _, i := range s.Fake.AllInstances() {
			if i.Tags[cloud.TagPool] == p.id && i.InstanceType == "t3.small" {
				t.Errorf("instance %s is a t3.small: only the launch config of initialWeight 0 names that type", i.ID)
			}
		}
	})

	// The control: at initialWeight 1, the t3.small is what the provisioner picks,
	// so the subtest above would see it launched were initialWeight 0 ignored.
	t.Run("control: the t3.small at initialWeight 1 launches", func(t *testing.T) {
		names, subnet := zones(s, "us-east-1")
		on := todaysLaunchConfig{id: "use1-t3-small-on", region: "us-east-1", zone: names[0], subnet: subnet[names[0]], instanceType: "t3.small", capacity: 1, weight: weight(1)}
		m5 := todaysLaunchConfig{id: "use1-m5-large", region: "us-east-1", zone: names[0], subnet: subnet[names[0]], instanceType: "m5.large", capacity: 1, weight: weight(1)}
		p := todaysPool{id: "proj-taskcluster/gw-control", description: "control", maxCapacity: 1, launchConfigs: []todaysLaunchConfig{m5, on}, workerConfig: genericWorker}
		if _, err := wm.CreateWorkerPool(p.id, &tcworkermanager.WorkerPoolDefinition{ProviderID: provider, Description: p.description,
			Owner: "taskcluster-notifications@example.com", Config: mustJSON(t, p.config())}); err != nil {
			t.Fatalf("CreateWorkerPool: %v", err)
		}
		s.Queue.Set("proj-taskcluster", "gw-control", 1)
		var ws []poolWorker
		waitFor(t, "a worker of "+p.id, 60*time.Second, func() bool {
			ws = liveWorkers(t, s, p.id)
			return len(ws) >= 1
		})
		if ws[0].LaunchConfigID != "use1-t3-small-on" {
			t.Errorf("the control's worker %+v: want it from use1-t3-small-on, the cheapest", ws[0])
		}
		checkWorker(t, p, ws[0], nil)
	})

	t.Run("a launch config's maxCapacity is capacity", func(t *testing.T) {
		p := pools[1]
		made := madeIDs(p)
		s.Queue.Set("proj-taskcluster", "docker-worker", 12)
		most := 0
		var ws []poolWorker
		waitFor(t, "capacity 12 of "+p.id, 90*time.Second, func() bool {
			ws = liveWorkers(t, s, p.id)
			capacity, bounded := 0, 0
			for _, w := range ws {
				capacity += w.Capacity
				if w.LaunchConfigID == "use1a-c5-large" {
					bounded += w.Capacity
				}
			}
			most = max(most, bounded)
			return capacity >= 12 || most > 4
		})
		if most > 4 {
			t.Errorf("launch config use1a-c5-large (maxCapacity 4, capacityPerInstance 2) reached capacity %d: today's worker-manager counts its maxCapacity in capacity (at most 2 instances)", most)
		}
		byLC := map[string]int{}
		for _, w := range ws {
			byLC[w.LaunchConfigID] += w.Capacity
			checkWorker(t, p, w, made)
		}
		if byLC["use1a-c5-large"] != 4 || byLC["use1b-m5-2xlarge"] != 8 {
			t.Errorf("capacity by launch config %v, want 4 from the cheap use1a-c5-large (its maxCapacity) and the other 8 from use1b-m5-2xlarge", byLC)
		}
	})

	t.Run("today's user data", func(t *testing.T) {
		for _, p := range pools {
			for _, w := range liveWorkers(t, s, p.id) {
				checkUserData(t, p, w)
			}
		}
	})

	t.Run("lifecycle defaults filled in", func(t *testing.T) {
		names, subnet := zones(s, "us-west-2")
		lc := todaysLaunchConfig{region: "us-west-2", zone: names[0], subnet: subnet[names[0]], instanceType: "m5.large", capacity: 1}
		sent := map[string]any{"minCapacity": 0, "maxCapacity": 1, "lifecycle": map[string]any{"registrationTimeout": 900},
			"launchConfigs": []any{lc.value(map[string]any{})}}
		created, err := wm.CreateWorkerPool("proj-taskcluster/lifecycle-defaults", &tcworkermanager.WorkerPoolDefinition{ProviderID: provider,
			Description: "lifecycle without its defaults", Owner: "taskcluster-notifications@example.com", Config: mustJSON(t, roundTrip(t, sent))})
		if err != nil {
			t.Fatalf("CreateWorkerPool: %v", err)
		}
		var cfg struct{ Lifecycle map[string]float64 }
		_ = json.Unmarshal(created.Config, &cfg)
		want := map[string]float64{"registrationTimeout": 900, "reregistrationTimeout": 345600, "queueInactivityTimeout": 7200}
		if !reflect.DeepEqual(cfg.Lifecycle, want) {
			t.Errorf("createWorkerPool: lifecycle %v; today's worker-manager stores and returns %v (its schema's defaults filled in)", cfg.Lifecycle, want)
		}
	})
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
