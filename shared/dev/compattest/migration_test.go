package compattest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcworkermanager"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/localstack"
	"github.com/workerfleet/workerfleet/shared/provision"
)

// migrationProviders are provider ids as real deployments name theirs.
const migrationProviders = `{"fxci-level3-aws": {"providerType": "aws"}, "community-tc-workers-aws": {"providerType": "aws"}, "static": {"providerType": "static"}}`

// v25LaunchConfig is one launch config as a v25 deployment's config-as-code tool
// generates it: one per region x availability zone x instance type.
type v25LaunchConfig struct {
	region, zone, subnet, instanceType string
	spot                               bool
	maxPrice                           string // SpotOptions.MaxPrice, "" for none
	profile                            string // IamInstanceProfile.Arn, "" for none
	laterForm                          bool   // capacityPerInstance under workerManager
}

func (lc v25LaunchConfig) json(capacity int, workerConfig string) string {
	var spec strings.Builder
	fmt.Fprintf(&spec, `{
          "ImageId": "ami-0123456789abcdef0",
          "InstanceType": %q,
          "Placement": {"AvailabilityZone": %q},
          "SubnetId": %q,
          "SecurityGroupIds": ["sg-0a1b2c3d4e5f60718", "sg-0f1e2d3c4b5a69788"],
          "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 120, "VolumeType": "gp3", "DeleteOnTermination": true}}],
          "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "releng"}, {"Key": "Name", "Value": "mine"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "team", "Value": "releng"}]}
          ]`, lc.instanceType, lc.zone, lc.subnet)
	if lc.spot && lc.maxPrice != "" {
		fmt.Fprintf(&spec, `,
          "InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {"MaxPrice": %q}}`, lc.maxPrice)
	} else if lc.spot {
		spec.WriteString(`,
          "InstanceMarketOptions": {"MarketType": "spot"}`)
	}
	if lc.profile != "" {
		fmt.Fprintf(&spec, `,
          "IamInstanceProfile": {"Arn": %q}`, lc.profile)
	}
	spec.WriteString(`
        }`)
	capacityField := fmt.Sprintf(`"capacityPerInstance": %d`, capacity)
	if lc.laterForm {
		capacityField = fmt.Sprintf(`"workerManager": {"launchConfigId": "%s-%s", "capacityPerInstance": %d}`, lc.zone, strings.ReplaceAll(lc.instanceType, ".", "-"), capacity)
	}
	return fmt.Sprintf(`
      {
        "region": %q,
        %s,
        "launchConfig": %s,
        "workerConfig": %s,
        "additionalUserData": {"deploymentId": "fxci-2020"}
      }`, lc.region, capacityField, spec.String(), workerConfig)
}

// v25PoolCase is a worker pool as a v25 deployment defined it.
type v25PoolCase struct {
	name, workerPoolID, providerID string
	capacity                       int
	workerConfig                   string
	launchConfigs                  []v25LaunchConfig
}

func (p v25PoolCase) config() string {
	parts := make([]string, len(p.launchConfigs))
	for i, lc := range p.launchConfigs {
		parts[i] = lc.json(p.capacity, p.workerConfig)
	}
	return fmt.Sprintf(`{
  "minCapacity": 0,
  "maxCapacity": %d,
  "lifecycle": {"registrationTimeout": 1800, "reregistrationTimeout": 345600},
  "launchConfigs": [%s
  ]
}`, 4*p.capacity, strings.Join(parts, ","))
}

// expand is every region x zone x instance type of the regions given, each zone's
// launch config naming that zone's subnet.
func expand(s *localstack.Stack, regions, types []string, lc func(region, zone, typ string) v25LaunchConfig) []v25LaunchConfig {
	var out []v25LaunchConfig
	for _, region := range regions {
		byZone := map[string]string{}
		for subnet, zone := range s.Fake.Subnets(region) {
			byZone[zone] = subnet
		}
		zones := make([]string, 0, len(byZone))
		for z := range byZone {
			zones = append(zones, z)
		}
		sort.Strings(zones)
		for _, zone := range zones {
			for _, typ := range types {
				c := lc(region, zone, typ)
				c.region, c.zone, c.subnet, c.instanceType = region, zone, byZone[zone], typ
				out = append(out, c)
			}
		}
	}
	return out
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compact %s: %v", s, err)
	}
	return b.String()
}

// TestV25PoolsMigrateUnchanged feeds worker pools shaped as v25 deployments wrote
// them (one launch config per region x AZ x instance type, spot and on-demand, with
// subnets, security groups, block devices, workerConfig, TagSpecifications,
// IamInstanceProfile, custom providerIds, and the later workerManager form) through
// createWorkerPool with the official v25 client. Each is accepted; workerPool and
// listWorkerPools return the config byte for byte as sent; sending back what a GET
// returned changes nothing; and the instances launched for demand are asked of EC2
// as v25's aws provider asked: the launch config's RunInstances fields, spot exactly
// when InstanceMarketOptions says so, the user's tags merged with ours (ours winning
// on our keys), the instance profile, and v25's user data.
func TestV25PoolsMigrateUnchanged(t *testing.T) {
	s, err := localstack.Start(context.Background(), localstack.Options{Port: freePort(t), RootAccessToken: rootToken,
		ProvisionInterval: time.Second, BootDelay: time.Second, ShutdownDelay: time.Second, Out: io.Discard,
		Providers: migrationProviders, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	wm := tcworkermanager.New(&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}, s.URL)

	provs, err := wm.ListProviders("", "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range provs.Providers {
		ids = append(ids, p.ProviderID+":"+p.ProviderType)
	}
	if got, want := strings.Join(ids, " "), "community-tc-workers-aws:aws fxci-level3-aws:aws static:static null-provider:null"; got != want {
		t.Errorf("listProviders: %s, want %s", got, want)
	}

	genericWorker := `{"genericWorker": {"config": {"cachesDir": "Z:\\caches", "idleTimeoutSecs": 900, "shutdownMachineOnIdle": true,
	  "deploymentId": "6f3d2a", "wstAudience": "firefoxcitc", "wstServerURL": "https://firefoxci-websocktunnel.services.mozilla.com/"}}}`
	dockerWorker := `{"dockerConfig": {"allowPrivileged": false}, "capacity": 2, "shutdown": {"enabled": true, "afterIdleSeconds": 900}}`
	cases := []v25PoolCase{
		{name: "fxci spot, 2 regions x 3 AZs x 2 types, SpotOptions.MaxPrice", workerPoolID: "gecko-3/b-win2012", providerID: "fxci-level3-aws",
			capacity: 1, workerConfig: genericWorker,
			launchConfigs: expand(s, []string{"us-east-1", "us-west-2"}, []string{"c5.xlarge", "m5.xlarge"}, func(_, _, typ string) v25LaunchConfig {
				return v25LaunchConfig{spot: true, maxPrice: "0.6"}
			})},
		{name: "community on-demand with an instance profile", workerPoolID: "proj-servo/ci", providerID: "community-tc-workers-aws",
			capacity: 2, workerConfig: dockerWorker,
			launchConfigs: expand(s, []string{"us-west-2"}, []string{"m5.2xlarge"}, func(_, _, _ string) v25LaunchConfig {
				return v25LaunchConfig{profile: "arn:aws:iam::123456789012:instance-profile/servo-worker"}
			})},
		{name: "spot and on-demand mixed", workerPoolID: "proj-mixed/linux", providerID: "community-tc-workers-aws",
			capacity: 1, workerConfig: `{}`,
			launchConfigs: expand(s, []string{"us-east-1"}, []string{"c5.large", "m5.large"}, func(_, zone, typ string) v25LaunchConfig {
				return v25LaunchConfig{spot: typ == "c5.large"}
			})},
		{name: "later Taskcluster: capacityPerInstance under workerManager", workerPoolID: "proj-later/linux", providerID: "fxci-level3-aws",
			capacity: 4, workerConfig: `{"ok": true}`,
			launchConfigs: expand(s, []string{"eu-central-1"}, []string{"c5.2xlarge"}, func(_, _, _ string) v25LaunchConfig {
				return v25LaunchConfig{spot: true, laterForm: true}
			})},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			written := tc.config()
			def := &tcworkermanager.WorkerPoolDefinition{ProviderID: tc.providerID, Description: "migrated from v25",
				Owner: "releng@example.com", EmailOnError: true, Config: json.RawMessage(written)}
			created, err := wm.CreateWorkerPool(tc.workerPoolID, def)
			if err != nil {
				t.Fatalf("CreateWorkerPool: %v", err)
			}
			want := compactJSON(t, written)
			if string(created.Config) != want {
				t.Errorf("createWorkerPool returned config\n%s\nwant it as written\n%s", created.Config, want)
			}
			got, err := wm.WorkerPool(tc.workerPoolID)
			if err != nil {
				t.Fatalf("WorkerPool: %v", err)
			}
			if string(got.Config) != want || got.ProviderID != tc.providerID {
				t.Errorf("workerPool returned config\n%s\nwant it as written\n%s", got.Config, want)
			}
			listed := listedConfig(t, wm, tc.workerPoolID)
			if listed != want {
				t.Errorf("listWorkerPools returned config\n%s\nwant it as written\n%s", listed, want)
			}
			// A config-as-code tool sends back what it read: nothing changes.
			upd, err := wm.UpdateWorkerPool(tc.workerPoolID, &tcworkermanager.WorkerPoolDefinition1{ProviderID: got.ProviderID, Description: got.Description,
				Owner: got.Owner, EmailOnError: got.EmailOnError, Config: got.Config, WorkerPoolID: got.WorkerPoolID, Created: got.Created, LastModified: got.LastModified})
			if err != nil || time.Time(upd.LastModified) != time.Time(got.LastModified) || string(upd.Config) != want {
				t.Errorf("UpdateWorkerPool with what a GET returned: %v, lastModified %v -> %v; want no change", err, got.LastModified, upd.LastModified)
			}
			if again, err := wm.CreateWorkerPool(tc.workerPoolID, def); err != nil || time.Time(again.LastModified) != time.Time(got.LastModified) {
				t.Errorf("CreateWorkerPool again with the same definition: %v; want a no-op", err)
			}

			provisionerID, workerType, _ := strings.Cut(tc.workerPoolID, "/")
			s.Queue.Set(provisionerID, workerType, int64(2*tc.capacity))
			launched := poolInstances(t, s, tc.workerPoolID, 2)
			s.Queue.Set(provisionerID, workerType, 0)
			for _, inst := range launched {
				checkLaunch(t, s, tc, inst)
			}
		})
	}
}

// listedConfig is the config listWorkerPools returns for id.
func listedConfig(t *testing.T, wm *tcworkermanager.WorkerManager, id string) string {
	t.Helper()
	token := ""
	for {
		page, err := wm.ListWorkerPools(token, "")
		if err != nil {
			t.Fatalf("ListWorkerPools: %v", err)
		}
		for _, p := range page.WorkerPools {
			if p.WorkerPoolID == id {
				return string(p.Config)
			}
		}
		if token = page.ContinuationToken; token == "" {
			t.Fatalf("listWorkerPools does not list %s", id)
		}
	}
}

// poolInstances waits for at least n instances of the pool.
func poolInstances(t *testing.T, s *localstack.Stack, poolID string, n int) []cloud.Instance {
	t.Helper()
	var out []cloud.Instance
	waitFor(t, fmt.Sprintf("%d instances of %s", n, poolID), 60*time.Second, func() bool {
		out = out[:0]
		for _, i := range s.Fake.AllInstances() {
			if i.Tags[cloud.TagPool] == poolID {
				out = append(out, i)
			}
		}
		return len(out) >= n
	})
	return out
}

// checkLaunch compares the RunInstances call that launched inst with what v25's aws
// provider would have sent for the launch config it came from.
func checkLaunch(t *testing.T, s *localstack.Stack, tc v25PoolCase, inst cloud.Instance) {
	t.Helper()
	in, err := s.Fake.RunInstancesInput(inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	var lc *v25LaunchConfig
	for i, c := range tc.launchConfigs {
		if c.zone == inst.AvailabilityZone && c.instanceType == inst.InstanceType {
			lc = &tc.launchConfigs[i]
		}
	}
	if lc == nil {
		t.Fatalf("instance %s (%s in %s) matches no launch config", inst.ID, inst.InstanceType, inst.AvailabilityZone)
	}
	where := fmt.Sprintf("%s (%s in %s)", inst.ID, lc.instanceType, lc.zone)

	// The market: spot exactly when InstanceMarketOptions asked for it.
	gotSpot := in.InstanceMarketOptions != nil && in.InstanceMarketOptions.MarketType == "spot"
	if gotSpot != lc.spot || inst.Spot != lc.spot {
		t.Errorf("%s: spot %v (instance %v), want %v", where, gotSpot, inst.Spot, lc.spot)
	}
	if lc.maxPrice != "" && (in.InstanceMarketOptions == nil || in.InstanceMarketOptions.SpotOptions == nil ||
		aws.ToString(in.InstanceMarketOptions.SpotOptions.MaxPrice) != lc.maxPrice) {
		t.Errorf("%s: spot options %+v, want MaxPrice %s", where, in.InstanceMarketOptions, lc.maxPrice)
	}
	// The launch config's own RunInstances fields.
	if aws.ToString(in.SubnetId) != lc.subnet || aws.ToString(in.Placement.AvailabilityZone) != lc.zone ||
		strings.Join(in.SecurityGroupIds, ",") != "sg-0a1b2c3d4e5f60718,sg-0f1e2d3c4b5a69788" || string(in.InstanceType) != lc.instanceType ||
		len(in.BlockDeviceMappings) != 1 || aws.ToInt32(in.BlockDeviceMappings[0].Ebs.VolumeSize) != 120 ||
		aws.ToInt32(in.MinCount) != aws.ToInt32(in.MaxCount) {
		t.Errorf("%s: RunInstances fields not as the launch config: subnet %s, zone %s, groups %v, type %s, block devices %+v",
			where, aws.ToString(in.SubnetId), aws.ToString(in.Placement.AvailabilityZone), in.SecurityGroupIds, in.InstanceType, in.BlockDeviceMappings)
	}
	gotProfile := ""
	if in.IamInstanceProfile != nil {
		gotProfile = aws.ToString(in.IamInstanceProfile.Arn)
	}
	if gotProfile != lc.profile {
		t.Errorf("%s: instance profile %q, want %q", where, gotProfile, lc.profile)
	}
	// Tags: the user's kept, ours set over them on our own keys.
	tags := map[string]map[string]string{}
	for _, ts := range in.TagSpecifications {
		m := map[string]string{}
		for _, tag := range ts.Tags {
			m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		tags[string(ts.ResourceType)] = m
	}
	inst0 := tags["instance"]
	for k, v := range map[string]string{"team": "releng", "Name": tc.workerPoolID, "WorkerPoolId": tc.workerPoolID,
		"Owner": "releng@example.com", "CreatedBy": "workerfleet-" + tc.providerID, cloud.TagPool: tc.workerPoolID} {
		if inst0[k] != v {
			t.Errorf("%s: instance tag %s = %q, want %q", where, k, inst0[k], v)
		}
	}
	if tags["volume"]["team"] != "releng" {
		t.Errorf("%s: volume tags %v lack the user's", where, tags["volume"])
	}
	// v25's user data: additionalUserData with rootUrl, workerPoolId, providerId,
	// workerGroup (the providerId) and workerConfig set over it.
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(in.UserData))
	if err != nil {
		t.Fatalf("%s: user data: %v", where, err)
	}
	var gotUD, wantUD map[string]any
	if err := json.Unmarshal(raw, &gotUD); err != nil {
		t.Fatalf("%s: user data %s: %v", where, raw, err)
	}
	wantJSON := fmt.Sprintf(`{"deploymentId": "fxci-2020", "rootUrl": %q, "workerPoolId": %q, "providerId": %q, "workerGroup": %q, "workerConfig": %s}`,
		s.URL, tc.workerPoolID, tc.providerID, tc.providerID, tc.workerConfig)
	if err := json.Unmarshal([]byte(wantJSON), &wantUD); err != nil {
		t.Fatal(err)
	}
	// The one deliberate difference: workers whose workerConfig sets no idle timeout
	// are given the deployment's (WORKER_IDLE_TIMEOUT; see the README's table).
	if wc, ok := wantUD["workerConfig"].(map[string]any); ok {
		if _, set := wc[provision.IdleTimeoutKey]; !set {
			wc[provision.IdleTimeoutKey] = provision.DefaultWorkerIdleTimeout.Seconds()
		}
	}
	if diff := cmp.Diff(gotUD, wantUD); diff != "" {
		t.Errorf("%s: user data (-got +want):\n%s", where, diff)
	}
}
