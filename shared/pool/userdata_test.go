package pool

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	testLastModified = time.Date(2020, 1, 2, 3, 4, 5, 6e6, time.UTC)
	testGenerated    = time.Date(2021, 6, 7, 8, 9, 10, 0, time.FixedZone("CEST", 2*3600))
	testContext      = UserDataContext{RootURL: "https://tc.example.com/", Generated: testGenerated}
)

func optionByID(t *testing.T, opts []Option, id string) Option {
	t.Helper()
	for _, o := range opts {
		if o.ID == id {
			return o
		}
	}
	t.Fatalf("no option %s", id)
	return Option{}
}

func TestWorkerTypeUserDataShape(t *testing.T) {
	w := parseTestdata(t)
	tests := []struct {
		name   string
		id     string
		launch Launch
		want   map[string]any
	}{
		{"zone from the option", "us-east-1/us-east-1a/m5.xlarge/spot", Launch{SecurityToken: "tok-1", Bid: 0.4, Price: 0.1}, map[string]any{
			"data":                map[string]any{"capacityManagement": map[string]any{"diskspaceThreshold": 3e10}, "dockerConfig": map[string]any{"allowPrivileged": false}, "level": "zone", "region-only": 1.0},
			"capacity":            2.0,
			"workerType":          "builder",
			"provisionerId":       "aws-provisioner-v1",
			"region":              "us-east-1",
			"availabilityZone":    "us-east-1a",
			"instanceType":        "m5.xlarge",
			"spotBid":             0.4,
			"price":               0.1,
			"launchSpecGenerated": "2021-06-07T06:09:10.000Z",
			"lastModified":        "2020-01-02T03:04:05.006Z",
			"provisionerBaseUrl":  "https://tc.example.com/api/aws-provisioner/v1",
			"taskclusterRootUrl":  "https://tc.example.com",
			"securityToken":       "tok-1",
		}},
		{"zone chosen at launch", "us-west-2/*/m5.large/spot", Launch{AvailabilityZone: "us-west-2c", SecurityToken: "tok-2"}, map[string]any{
			"data":                map[string]any{"capacityManagement": map[string]any{"diskspaceThreshold": 3e10}, "dockerConfig": map[string]any{"allowPrivileged": false}, "level": "instance type"},
			"capacity":            1.0,
			"workerType":          "builder",
			"provisionerId":       "aws-provisioner-v1",
			"region":              "us-west-2",
			"availabilityZone":    "us-west-2c",
			"instanceType":        "m5.large",
			"spotBid":             0.0,
			"price":               0.0,
			"launchSpecGenerated": "2021-06-07T06:09:10.000Z",
			"lastModified":        "2020-01-02T03:04:05.006Z",
			"provisionerBaseUrl":  "https://tc.example.com/api/aws-provisioner/v1",
			"taskclusterRootUrl":  "https://tc.example.com",
			"securityToken":       "tok-2",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := WorkerTypeUserData("builder", testLastModified, optionByID(t, w.Options(), tt.id), testContext, tt.launch)
			if err != nil {
				t.Fatalf("WorkerTypeUserData: %v", err)
			}
			if diff := cmp.Diff(decodeJSON(t, b), any(tt.want)); diff != "" {
				t.Errorf("user data (-got +want):\n%s", diff)
			}
		})
	}
}

// workerReadsUserData has the field types docker-worker and generic-worker decode an
// aws-provisioner instance's user data into.
type workerReadsUserData struct {
	Data                json.RawMessage `json:"data"`
	Capacity            int             `json:"capacity"`
	WorkerType          string          `json:"workerType"`
	ProvisionerID       string          `json:"provisionerId"`
	Region              string          `json:"region"`
	AvailabilityZone    string          `json:"availabilityZone"`
	InstanceType        string          `json:"instanceType"`
	SpotBid             float64         `json:"spotBid"`
	Price               float64         `json:"price"`
	LaunchSpecGenerated time.Time       `json:"launchSpecGenerated"`
	LastModified        time.Time       `json:"lastModified"`
	ProvisionerBaseURL  string          `json:"provisionerBaseUrl"`
	TaskclusterRootURL  string          `json:"taskclusterRootUrl"`
	SecurityToken       string          `json:"securityToken"`
}

func TestWorkerTypeUserDataReadableByWorkers(t *testing.T) {
	w := parseTestdata(t)
	o := optionByID(t, w.Options(), "us-east-1/us-east-1b/m5.large/spot")
	b, err := WorkerTypeUserData("builder", testLastModified, o, testContext, Launch{SecurityToken: "tok", Bid: 0.246, Price: 0.123})
	if err != nil {
		t.Fatalf("WorkerTypeUserData: %v", err)
	}
	// What EC2 hands the instance is the base64 of it.
	decoded, err := base64.StdEncoding.DecodeString(base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	var got workerReadsUserData
	if err := json.Unmarshal(decoded, &got); err != nil {
		t.Fatalf("a worker cannot decode the user data %s: %v", decoded, err)
	}
	want := workerReadsUserData{
		Data:                o.UserData,
		Capacity:            1,
		WorkerType:          "builder",
		ProvisionerID:       "aws-provisioner-v1",
		Region:              "us-east-1",
		AvailabilityZone:    "us-east-1b",
		InstanceType:        "m5.large",
		SpotBid:             0.246,
		Price:               0.123,
		LaunchSpecGenerated: testGenerated.UTC(),
		LastModified:        testLastModified,
		ProvisionerBaseURL:  "https://tc.example.com/api/aws-provisioner/v1",
		TaskclusterRootURL:  "https://tc.example.com",
		SecurityToken:       "tok",
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("user data as a worker reads it (-got +want):\n%s", diff)
	}
}

func TestWorkerTypeUserDataErrors(t *testing.T) {
	w := parseTestdata(t)
	zoned := optionByID(t, w.Options(), "us-east-1/us-east-1a/m5.large/spot")
	anyZone := optionByID(t, w.Options(), "us-west-2/*/m5.large/spot")
	huge := anyZone
	huge.UserData = json.RawMessage(fmt.Sprintf(`{"x":%q}`, strings.Repeat("x", 16400)))
	const token = "very-secret-token"
	tests := []struct {
		name   string
		wtName string
		o      Option
		ctx    UserDataContext
		launch Launch
		want   string
	}{
		{"bad worker type name", "not valid!", anyZone, testContext, Launch{SecurityToken: token}, `worker type user data: invalid worker type name "not valid!"`},
		{"no root url", "builder", anyZone, UserDataContext{}, Launch{SecurityToken: token}, `worker type user data: root url "" is not an absolute http(s) url`},
		{"relative root url", "builder", anyZone, UserDataContext{RootURL: "tc.example.com"}, Launch{SecurityToken: token}, `worker type user data: root url "tc.example.com" is not an absolute http(s) url`},
		{"no token", "builder", anyZone, testContext, Launch{}, "worker type user data: security token is required"},
		{"negative price", "builder", anyZone, testContext, Launch{SecurityToken: token, Price: -1}, "worker type user data: bid and price must be finite numbers >= 0"},
		{"negative bid", "builder", anyZone, testContext, Launch{SecurityToken: token, Bid: -1}, "worker type user data: bid and price must be finite numbers >= 0"},
		{"zone other than the option's", "builder", zoned, testContext, Launch{SecurityToken: token, AvailabilityZone: "us-east-1b"}, `worker type user data: availability zone "us-east-1b" is not the option's "us-east-1a"`},
		{"zone of another region", "builder", anyZone, testContext, Launch{SecurityToken: token, AvailabilityZone: "us-east-1a"}, `worker type user data: "us-east-1a" is not an availability zone of region "us-west-2"`},
		{"too large for EC2", "builder", huge, testContext, Launch{SecurityToken: token}, "worker type user data is 16823 bytes; EC2 takes at most 16384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := WorkerTypeUserData(tt.wtName, testLastModified, tt.o, tt.ctx, tt.launch)
			if err == nil {
				t.Fatalf("WorkerTypeUserData succeeded, want error %q", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error = %q, want %q", got, tt.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error %q quotes the security token", err)
			}
		})
	}
}

func TestLaunchSpecsShape(t *testing.T) {
	w := parseTestdata(t)
	var got map[string]map[string]map[string]json.RawMessage
	if err := json.Unmarshal(w.LaunchSpecs("builder", testLastModified, testContext), &got); err != nil {
		t.Fatalf("LaunchSpecs is not an object of regions of instance types: %v", err)
	}
	keys := sortedKeys[json.RawMessage]
	entryKeys := []string{"capacity", "launchSpec", "scopes", "secrets", "userData", "utility"}
	withZones := []string{"availabilityZones", "capacity", "launchSpec", "scopes", "secrets", "userData", "utility"}
	wantShape := map[string]map[string][]string{
		"us-east-1": {"m5.large": withZones, "m5.xlarge": withZones},
		"us-west-2": {"m5.large": entryKeys, "m5.xlarge": entryKeys},
	}
	gotShape := map[string]map[string][]string{}
	for region, types := range got {
		gotShape[region] = map[string][]string{}
		for it, entry := range types {
			gotShape[region][it] = keys(entry)
		}
	}
	if diff := cmp.Diff(gotShape, wantShape); diff != "" {
		t.Fatalf("getLaunchSpecs shape (-got +want):\n%s", diff)
	}

	// An entry without zones, in full.
	want := `{"launchSpec":{"BlockDeviceMappings":[{"DeviceName":"/dev/xvdb","Ebs":{"DeleteOnTermination":true,"VolumeSize":120,"VolumeType":"gp3"}}],` +
		`"ImageId":"ami-west","InstanceType":"m5.xlarge","KeyName":"wt","Monitoring":{"Enabled":false},"SecurityGroupIds":["sg-wt"]},` +
		`"userData":{"data":{"capacityManagement":{"diskspaceThreshold":30000000000},"dockerConfig":{"allowPrivileged":false},"level":"worker type"},` +
		`"capacity":2,"workerType":"builder","provisionerId":"aws-provisioner-v1","region":"us-west-2","availabilityZone":"","instanceType":"m5.xlarge",` +
		`"spotBid":4,"price":2,"launchSpecGenerated":"2021-06-07T06:09:10.000Z","lastModified":"2020-01-02T03:04:05.006Z",` +
		`"provisionerBaseUrl":"https://tc.example.com/api/aws-provisioner/v1","taskclusterRootUrl":"https://tc.example.com","securityToken":"<generated per instance>"},` +
		`"secrets":{"files":[],"level":"worker type"},"scopes":["assume:worker-type:aws-provisioner-v1/builder","queue:claim-work:aws-provisioner-v1/builder"],` +
		`"capacity":2,"utility":2}`
	entry := got["us-west-2"]["m5.xlarge"]
	if diff := cmp.Diff(decodeJSON(t, encode(t, entry)), decodeJSON(t, []byte(want))); diff != "" {
		t.Errorf("us-west-2 m5.xlarge entry (-got +want):\n%s", diff)
	}

	// Zones: each previews what an instance in that zone gets, and the user data is
	// exactly what the provisioner would send, token aside.
	var zones map[string]map[string]json.RawMessage
	if err := json.Unmarshal(got["us-east-1"]["m5.large"]["availabilityZones"], &zones); err != nil {
		t.Fatalf("availabilityZones: %v", err)
	}
	if diff := cmp.Diff(sortedKeys(zones), []string{"us-east-1a", "us-east-1b"}); diff != "" {
		t.Fatalf("zones of us-east-1 m5.large (-got +want):\n%s", diff)
	}
	for _, zone := range []string{"us-east-1a", "us-east-1b"} {
		if diff := cmp.Diff(keys(zones[zone]), []string{"launchSpec", "secrets", "userData"}); diff != "" {
			t.Errorf("zone %s entry members (-got +want):\n%s", zone, diff)
		}
		o := optionByID(t, w.Options(), "us-east-1/"+zone+"/m5.large/spot")
		sent, err := WorkerTypeUserData("builder", testLastModified, o, testContext, Launch{SecurityToken: SecurityTokenPlaceholder, Bid: o.MaxPrice, Price: o.MaxPrice / o.Utility})
		if err != nil {
			t.Fatalf("WorkerTypeUserData: %v", err)
		}
		if got, want := string(zones[zone]["userData"]), string(sent); got != want {
			t.Errorf("zone %s preview user data\n%s\ndiffers from what an instance gets\n%s", zone, got, want)
		}
		if diff := cmp.Diff(decodeJSON(t, zones[zone]["launchSpec"]), decodeJSON(t, o.LaunchSpec)); diff != "" {
			t.Errorf("zone %s launchSpec (-got +want):\n%s", zone, diff)
		}
		if diff := cmp.Diff(decodeJSON(t, zones[zone]["secrets"]), decodeJSON(t, o.Secrets)); diff != "" {
			t.Errorf("zone %s secrets (-got +want):\n%s", zone, diff)
		}
	}
}

func TestLaunchSpecsReportsUserDataErrors(t *testing.T) {
	w := parseTestdata(t)
	var got map[string]map[string]struct {
		UserData map[string]any `json:"userData"`
	}
	if err := json.Unmarshal(w.LaunchSpecs("builder", testLastModified, UserDataContext{}), &got); err != nil {
		t.Fatalf("LaunchSpecs: %v", err)
	}
	want := map[string]any{"error": `worker type user data: root url "" is not an absolute http(s) url`}
	if diff := cmp.Diff(got["us-west-2"]["m5.large"].UserData, want); diff != "" {
		t.Errorf("userData without a root url (-got +want):\n%s", diff)
	}
}

func TestPoolUserData(t *testing.T) {
	cfg, err := ParseConfig("aws", []byte(`{"minCapacity": 0, "maxCapacity": 5, "launchConfigs": [{"region": "us-east-1", "capacityPerInstance": 2,
		"launchConfig": {"ImageId": "ami-1", "InstanceType": "m5.large"},
		"workerConfig": {"genericWorker": {"config": {"idleTimeoutSecs": 90}}},
		"additionalUserData": {"extra": "yes", "nested": {"n": 1}}}]}`), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	b, err := PoolUserData("https://tc.example.com/", "proj/builder", "aws", "aws", cfg.Options()[0])
	if err != nil {
		t.Fatalf("PoolUserData: %v", err)
	}
	want := map[string]any{
		"extra":        "yes",
		"nested":       map[string]any{"n": 1.0},
		"rootUrl":      "https://tc.example.com",
		"workerPoolId": "proj/builder",
		"providerId":   "aws",
		"workerGroup":  "aws",
		"workerConfig": map[string]any{"genericWorker": map[string]any{"config": map[string]any{"idleTimeoutSecs": 90.0}}},
	}
	if diff := cmp.Diff(decodeJSON(t, b), any(want)); diff != "" {
		t.Errorf("pool user data (-got +want):\n%s", diff)
	}

	// Ours win over additionalUserData (which ParseConfig already refuses to set them).
	o := cfg.Options()[0]
	o.AdditionalUserData = json.RawMessage(`{"rootUrl": "https://evil.example.com", "workerGroup": "evil"}`)
	o.WorkerConfig = nil
	b, err = PoolUserData("https://tc.example.com", "proj/builder", "aws", "us-east-1", o)
	if err != nil {
		t.Fatalf("PoolUserData: %v", err)
	}
	want = map[string]any{"rootUrl": "https://tc.example.com", "workerPoolId": "proj/builder", "providerId": "aws", "workerGroup": "us-east-1", "workerConfig": map[string]any{}}
	if diff := cmp.Diff(decodeJSON(t, b), any(want)); diff != "" {
		t.Errorf("pool user data over colliding additionalUserData (-got +want):\n%s", diff)
	}
}

func TestPoolUserDataErrors(t *testing.T) {
	huge := Option{WorkerConfig: json.RawMessage(fmt.Sprintf(`{"x":%q}`, strings.Repeat("x", 16400)))}
	tests := []struct {
		name                        string
		root, pool, provider, group string
		o                           Option
		want                        string
	}{
		{"bad root url", "ftp://x", "p/b", "aws", "aws", Option{}, `pool user data: root url "ftp://x" is not an absolute http(s) url`},
		{"bad pool id", "https://tc", "p/B", "aws", "aws", Option{}, `pool user data: invalid worker pool id "p/B"`},
		{"bad provider id", "https://tc", "p/b", "a.b", "aws", Option{}, `pool user data: invalid provider id "a.b"`},
		{"bad worker group", "https://tc", "p/b", "aws", "", Option{}, `pool user data: invalid worker group ""`},
		{"too large", "https://tc", "p/b", "aws", "aws", huge, "pool user data is 16508 bytes; EC2 takes at most 16384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PoolUserData(tt.root, tt.pool, tt.provider, tt.group, tt.o)
			if err == nil || err.Error() != tt.want {
				t.Errorf("PoolUserData error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCapacityChange(t *testing.T) {
	tests := []struct {
		name                           string
		s                              Sizing
		running, pending, pendingTasks float64
		want                           float64
	}{
		{"capacity for every pending task", Sizing{MaxCapacity: 20}, 0, 0, 5, 5},
		{"pending capacity counts", Sizing{MaxCapacity: 20}, 2, 1, 5, 4},
		{"capped at maxCapacity", Sizing{MaxCapacity: 10}, 2, 1, 20, 7},
		{"reaching maxCapacity exactly", Sizing{MaxCapacity: 10}, 8, 0, 2, 2},
		{"raised to minCapacity", Sizing{MinCapacity: 2, MaxCapacity: 10}, 0, 0, 0, 2},
		{"scaling ratio keeps tasks pending", Sizing{MaxCapacity: 20, ScalingRatio: 0.2}, 10, 0, 5, 3},
		{"half rounds up, as JavaScript does", Sizing{MaxCapacity: 20, ScalingRatio: 0.25}, 10, 0, 5, 2},
		{"surplus is negative", Sizing{MaxCapacity: 10}, 5, 3, 0, -3},
		{"above maxCapacity aims back at it", Sizing{MaxCapacity: 4}, 5, 1, 0, -2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.CapacityChange(tt.running, tt.pending, tt.pendingTasks); got != tt.want {
				t.Errorf("CapacityChange(%v, %v, %v) with %+v = %v, want %v", tt.running, tt.pending, tt.pendingTasks, tt.s, got, tt.want)
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
