package pool

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// largeWorkerType is a realistic big definition: 5 regions x 10 instance types, with
// availability zones configured in two regions and launch specs, user data and
// secrets at every level.
func largeWorkerType(tb testing.TB) []byte {
	tb.Helper()
	regions := []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-central-1"}
	types := []string{"m5.large", "m5.xlarge", "m5.2xlarge", "c5.large", "c5.xlarge", "c5.2xlarge", "c5.4xlarge", "r5.large", "r5.xlarge", "m5d.2xlarge"}
	wt := map[string]any{
		"description": "Linux builders for try pushes, with docker and a big scratch disk",
		"owner":       "releng@example.com",
		"minCapacity": 2, "maxCapacity": 500, "scalingRatio": 0.2, "minPrice": 0.05, "maxPrice": 1.5,
		"canUseSpot": true, "canUseOndemand": true,
		"launchSpec": map[string]any{
			"KeyName":    "builders",
			"Monitoring": map[string]any{"Enabled": false},
			"BlockDeviceMappings": []any{
				map[string]any{"DeviceName": "/dev/xvda", "Ebs": map[string]any{"VolumeSize": 40, "VolumeType": "gp3", "DeleteOnTermination": true}},
				map[string]any{"DeviceName": "/dev/xvdb", "Ebs": map[string]any{"VolumeSize": 120, "VolumeType": "gp3", "DeleteOnTermination": true, "Iops": 3000}},
			},
			"MetadataOptions":                   map[string]any{"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
			"InstanceInitiatedShutdownBehavior": "terminate",
		},
		"userData": map[string]any{
			"dockerConfig":       map[string]any{"allowPrivileged": false, "allowDisableSeccomp": false},
			"capacityManagement": map[string]any{"diskspaceThreshold": 30000000000},
			"shutdown":           map[string]any{"enabled": true, "afterIdleSeconds": 900},
			"logging":            map[string]any{"papertrail": "logs.example.com:12345", "level": "info"},
		},
		"secrets": map[string]any{
			"files":     []any{map[string]any{"path": "/etc/worker/key", "content": "aGVsbG8gd29ybGQ=", "encoding": "base64"}},
			"papertail": "token-abcdef",
		},
		"scopes": []any{"queue:claim-work:aws-provisioner-v1/builder", "assume:worker-type:aws-provisioner-v1/builder", "secrets:get:project/releng/builder/*"},
	}
	var rs, ts, zs []any
	for i, r := range regions {
		rs = append(rs, map[string]any{
			"region":     r,
			"launchSpec": map[string]any{"ImageId": fmt.Sprintf("ami-0%015d", i), "SecurityGroupIds": []any{fmt.Sprintf("sg-%d-a", i), fmt.Sprintf("sg-%d-b", i)}},
			"userData":   map[string]any{"region": r, "artifactBucket": "artifacts-" + r},
			"secrets":    map[string]any{"regionKey": "k-" + r},
			"scopes":     []any{"auth:aws-s3:read-write:artifacts-" + r + "/*"},
		})
		if i < 2 {
			for _, az := range []string{"a", "b", "c"} {
				zs = append(zs, map[string]any{
					"region": r, "availabilityZone": r + az,
					"launchSpec": map[string]any{"SubnetId": "subnet-" + r + az},
					"userData":   map[string]any{"zone": r + az},
				})
			}
		}
	}
	for i, it := range types {
		ts = append(ts, map[string]any{
			"instanceType": it, "capacity": 1 + i%4, "utility": 1 + float64(i)/4,
			"launchSpec": map[string]any{"EbsOptimized": true},
			"userData":   map[string]any{"capacityManagement": map[string]any{"diskspaceThreshold": 20000000000 + i}},
			"secrets":    map[string]any{},
			"scopes":     []any{},
		})
	}
	wt["regions"], wt["instanceTypes"], wt["availabilityZones"] = rs, ts, zs
	b, err := json.Marshal(wt)
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	return b
}

func BenchmarkParseWorkerType(b *testing.B) {
	body := largeWorkerType(b)
	strict := func(spec json.RawMessage) error {
		var m map[string]json.RawMessage
		return json.Unmarshal(spec, &m)
	}
	for _, bc := range []struct {
		name string
		opts ParseOptions
	}{
		{"no-validator", ParseOptions{}},
		{"with-validator", ParseOptions{ValidateLaunchSpec: strict, AllowedRegions: []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-central-1"}}},
		{"stored", ParseOptions{Stored: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := ParseWorkerType(body, bc.opts); err != nil {
					b.Fatalf("ParseWorkerType: %v", err)
				}
			}
		})
	}
}

func BenchmarkWorkerTypeOptions(b *testing.B) {
	w, err := ParseWorkerType(largeWorkerType(b), ParseOptions{})
	if err != nil {
		b.Fatalf("ParseWorkerType: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if n := len(w.Options()); n != 2*(2*3*10+3*10) {
			b.Fatalf("got %d options, want %d", n, 2*(2*3*10+3*10))
		}
	}
}

func TestLargeWorkerTypeParses(t *testing.T) {
	w, err := ParseWorkerType(largeWorkerType(t), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType: %v", err)
	}
	if got, want := len(w.Options()), 180; got != want {
		t.Errorf("got %d options, want %d (60 zoned + 30 unzoned combinations, two markets)", got, want)
	}
}

// BenchmarkParseConfig parses an aws pool of six launch configs as written
// (its JSON Schema run) and as read back from the store (Stored: not run again).
func BenchmarkParseConfig(b *testing.B) {
	var lcs []string
	for _, it := range []string{"m5.large", "c5.large"} {
		for _, az := range []string{"a", "b", "c"} {
			lcs = append(lcs, `{"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "`+it+`", "Placement": {"AvailabilityZone": "us-east-1`+az+`"}, "InstanceMarketOptions": {"MarketType": "spot"}}}`)
		}
	}
	body := json.RawMessage(`{"minCapacity": 0, "maxCapacity": 100, "lifecycle": {"registrationTimeout": 900}, "launchConfigs": [` + strings.Join(lcs, ",") + `]}`)
	for _, bc := range []struct {
		name string
		opts ParseOptions
	}{{"written", ParseOptions{}}, {"stored", ParseOptions{Stored: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseConfig("aws", body, bc.opts); err != nil {
					b.Fatalf("ParseConfig: %v", err)
				}
			}
		})
	}
}
