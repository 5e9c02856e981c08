package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseWorkerTypeProblems(t *testing.T) {
	secondRegion := func(m map[string]any) {
		m["regions"] = append(m["regions"].([]any), map[string]any{"region": "us-west-2", "launchSpec": map[string]any{"ImageId": "ami-2"}, "userData": map[string]any{}, "secrets": map[string]any{}, "scopes": []any{}})
	}
	secondType := func(m map[string]any) {
		m["instanceTypes"] = append(m["instanceTypes"].([]any), map[string]any{"instanceType": "m5.xlarge", "capacity": 2, "utility": 2, "launchSpec": map[string]any{}, "userData": map[string]any{}, "secrets": map[string]any{}, "scopes": []any{}})
	}
	zone := func(region, az string) map[string]any {
		return map[string]any{"region": region, "availabilityZone": az, "launchSpec": map[string]any{}}
	}
	rejectBogus := func(spec json.RawMessage) error {
		if strings.Contains(string(spec), `"Bogus"`) {
			return errors.New(`unknown field "Bogus"`)
		}
		return nil
	}
	tests := []struct {
		name string
		edit func(m map[string]any)
		opts ParseOptions
		want []string
	}{
		{"workerType of a response not a name", func(m map[string]any) {
			m["workerType"] = 5
			m["lastModified"] = "2020-01-01T00:00:00.000Z"
		}, ParseOptions{}, []string{"workerType must be a non-empty string"}},
		{"member names are case sensitive", func(m map[string]any) { m["Description"] = "d" }, ParseOptions{}, []string{"Description is not allowed"}},
		{"description required", func(m map[string]any) { del(m, "description") }, ParseOptions{}, []string{"description is required"}},
		{"owner required", func(m map[string]any) { del(m, "owner") }, ParseOptions{}, []string{"owner is required"}},
		{"maxCapacity required", func(m map[string]any) { del(m, "maxCapacity") }, ParseOptions{}, []string{"maxCapacity is required"}},
		{"minPrice required", func(m map[string]any) { del(m, "minPrice") }, ParseOptions{}, []string{"minPrice is required"}},
		{"maxPrice required", func(m map[string]any) { del(m, "maxPrice") }, ParseOptions{}, []string{"maxPrice is required"}},
		{"scalingRatio required", func(m map[string]any) { del(m, "scalingRatio") }, ParseOptions{}, []string{"scalingRatio is required"}},
		{"launchSpec required", func(m map[string]any) { del(m, "launchSpec") }, ParseOptions{}, []string{"launchSpec is required"}},
		{"userData required", func(m map[string]any) { del(m, "userData") }, ParseOptions{}, []string{"userData is required"}},
		{"secrets required", func(m map[string]any) { del(m, "secrets") }, ParseOptions{}, []string{"secrets is required"}},
		{"scopes required", func(m map[string]any) { del(m, "scopes") }, ParseOptions{}, []string{"scopes is required"}},
		{"regions required", func(m map[string]any) { del(m, "regions") }, ParseOptions{}, []string{"regions is required"}},
		{"instanceTypes required", func(m map[string]any) { del(m, "instanceTypes") }, ParseOptions{}, []string{"instanceTypes is required"}},
		{"regions empty", func(m map[string]any) { m["regions"] = []any{} }, ParseOptions{}, []string{"regions must have at least 1 item"}},
		{"instanceTypes empty", func(m map[string]any) { m["instanceTypes"] = []any{} }, ParseOptions{}, []string{"instanceTypes must have at least 1 item"}},
		{"regions null", func(m map[string]any) { m["regions"] = nil }, ParseOptions{}, []string{"regions must be an array"}},
		{"regions not an array", func(m map[string]any) { m["regions"] = map[string]any{} }, ParseOptions{}, []string{"regions must be an array"}},
		{"instance type not an object", func(m map[string]any) { m["instanceTypes"] = []any{"m5.large"} }, ParseOptions{}, []string{"instanceTypes[0] must be an object"}},
		{"description null", func(m map[string]any) { m["description"] = nil }, ParseOptions{}, []string{"description must be a string"}},
		{"owner not a string", func(m map[string]any) { m["owner"] = 5 }, ParseOptions{}, []string{"owner must be a string"}},
		{"maxPrice a string", func(m map[string]any) { m["maxPrice"] = "1" }, ParseOptions{}, []string{"maxPrice must be a number"}},
		{"canUseSpot a string", func(m map[string]any) { m["canUseSpot"] = "yes" }, ParseOptions{}, []string{"canUseSpot must be a boolean"}},
		{"launchSpec an array", func(m map[string]any) { m["launchSpec"] = []any{} }, ParseOptions{}, []string{"launchSpec must be an object"}},
		{"secrets a string", func(m map[string]any) { m["secrets"] = "s3cr3t" }, ParseOptions{}, []string{"secrets must be an object"}},
		{"scopes a string", func(m map[string]any) { m["scopes"] = "queue:*" }, ParseOptions{}, []string{"scopes must be an array"}},
		{"scope not a string", func(m map[string]any) { m["scopes"] = []any{"ok", 1} }, ParseOptions{}, []string{"scopes[1] must be a string"}},
		{"scope with a tab", func(m map[string]any) { m["scopes"] = []any{"ok", "a\tb"} }, ParseOptions{}, []string{"scopes[1] must be printable ASCII characters and spaces"}},
		{"region scope not ASCII", func(m map[string]any) { set(m, "regions.0.scopes", []any{"café"}) }, ParseOptions{}, []string{"regions[0].scopes[0] must be printable ASCII characters and spaces"}},
		{"instance type scope with newline", func(m map[string]any) { set(m, "instanceTypes.0.scopes", []any{"a\n"}) }, ParseOptions{}, []string{"instanceTypes[0].scopes[0] must be printable ASCII characters and spaces"}},
		{"minCapacity negative", func(m map[string]any) { m["minCapacity"] = -1 }, ParseOptions{}, []string{"minCapacity must be >= 0"}},
		{"minCapacity above maxCapacity", func(m map[string]any) { m["minCapacity"] = 11 }, ParseOptions{}, []string{"minCapacity must be <= maxCapacity"}},
		{"maxCapacity negative", func(m map[string]any) { m["maxCapacity"] = -1 }, ParseOptions{}, []string{"maxCapacity must be >= 0"}},
		{"minPrice negative", func(m map[string]any) { m["minPrice"] = -0.1 }, ParseOptions{}, []string{"minPrice must be >= 0"}},
		{"maxPrice zero", func(m map[string]any) { m["maxPrice"] = 0 }, ParseOptions{}, []string{"maxPrice must be > 0"}},
		{"minPrice above maxPrice", func(m map[string]any) { m["minPrice"] = 1.5 }, ParseOptions{}, []string{"minPrice must be <= maxPrice"}},
		{"scalingRatio negative", func(m map[string]any) { m["scalingRatio"] = -0.5 }, ParseOptions{}, []string{"scalingRatio must be >= 0"}},
		{"capacity zero", func(m map[string]any) { set(m, "instanceTypes.0.capacity", 0) }, ParseOptions{}, []string{"instanceTypes[0].capacity must be > 0"}},
		{"fractional capacity", func(m map[string]any) { set(m, "instanceTypes.0.capacity", 0.5) }, ParseOptions{}, []string{"instanceTypes[0].capacity must be a whole number"}},
		{"fractional capacity bounds", func(m map[string]any) { m["minCapacity"] = 0.5; m["maxCapacity"] = 2.5 }, ParseOptions{}, []string{"minCapacity must be a whole number", "maxCapacity must be a whole number"}},
		{"utility zero on the second type", func(m map[string]any) { secondType(m); set(m, "instanceTypes.1.utility", 0) }, ParseOptions{}, []string{"instanceTypes[1].utility must be > 0"}},
		{"utility negative", func(m map[string]any) { set(m, "instanceTypes.0.utility", -2) }, ParseOptions{}, []string{"instanceTypes[0].utility must be > 0"}},
		{"utility too small for maxPrice", func(m map[string]any) {
			m["maxPrice"] = 10000
			set(m, "instanceTypes.0.utility", 1e-320)
		}, ParseOptions{}, []string{"instanceTypes[0].utility is too small: maxPrice/utility is not a finite number"}},
		{"numbers beyond what the product stores", func(m map[string]any) {
			m["maxPrice"], m["maxCapacity"], m["scalingRatio"] = 1e300, 1e308, 1001
			set(m, "instanceTypes.0.capacity", 1<<31)
			set(m, "instanceTypes.0.utility", 1e7)
		}, ParseOptions{}, []string{"maxCapacity must be at most 2147483647", "maxPrice must be at most 10000", "scalingRatio must be at most 1000",
			"instanceTypes[0].capacity must be at most 2147483647", "instanceTypes[0].utility must be at most 1000000"}},
		{"neither spot nor on-demand", func(m map[string]any) { m["canUseSpot"] = false }, ParseOptions{}, []string{"canUseSpot and canUseOndemand cannot both be false"}},
		{"neither, both explicit", func(m map[string]any) { m["canUseSpot"] = false; m["canUseOndemand"] = false }, ParseOptions{}, []string{"canUseSpot and canUseOndemand cannot both be false"}},
		{"duplicate instance types", func(m map[string]any) { secondType(m); set(m, "instanceTypes.1.instanceType", "m5.large") }, ParseOptions{}, []string{"instanceTypes[1].instanceType duplicates instanceTypes[0]"}},
		{"malformed instance type", func(m map[string]any) { set(m, "instanceTypes.0.instanceType", "M5 Large") }, ParseOptions{}, []string{`instanceTypes[0].instanceType "M5 Large" is not a well-formed EC2 instance type`}},
		{"duplicate regions", func(m map[string]any) { secondRegion(m); set(m, "regions.1.region", "us-east-1") }, ParseOptions{}, []string{"regions[1].region duplicates regions[0]"}},
		{"duplicate after a non-object", func(m map[string]any) {
			secondType(m)
			set(m, "instanceTypes.1.instanceType", "m5.large")
			m["instanceTypes"] = append([]any{7}, m["instanceTypes"].([]any)...)
		}, ParseOptions{}, []string{"instanceTypes[0] must be an object"}}, // semantic checks run on what the schema accepts
		{"malformed region", func(m map[string]any) { set(m, "regions.0.region", "moon-1") }, ParseOptions{}, []string{`regions[0].region "moon-1" is not a well-formed AWS region name`}},
		{"region not allowed", func(m map[string]any) { secondRegion(m) }, ParseOptions{AllowedRegions: []string{"us-east-1", "eu-central-1"}},
			[]string{`regions[1].region "us-west-2" is not an allowed region (allowed: us-east-1, eu-central-1)`}},
		{"region ImageId missing", func(m map[string]any) { set(m, "regions.0.launchSpec", map[string]any{}) }, ParseOptions{}, []string{"regions[0].launchSpec.ImageId is required"}},
		{"region launchSpec null", func(m map[string]any) { set(m, "regions.0.launchSpec", nil) }, ParseOptions{}, []string{"regions[0].launchSpec.ImageId is required"}},
		{"region launchSpec missing", func(m map[string]any) { del(m, "regions.0.launchSpec") }, ParseOptions{}, []string{"regions[0].launchSpec is required"}},
		{"region ImageId empty", func(m map[string]any) { set(m, "regions.0.launchSpec.ImageId", "") }, ParseOptions{}, []string{"regions[0].launchSpec.ImageId must be a non-empty string"}},
		{"region ImageId a number", func(m map[string]any) { set(m, "regions.0.launchSpec.ImageId", 7) }, ParseOptions{}, []string{"regions[0].launchSpec.ImageId must be a string"}},
		{"ImageId in the worker type", func(m map[string]any) { set(m, "launchSpec.ImageId", "ami-x") }, ParseOptions{}, []string{"launchSpec.ImageId must not be set: it comes from regions[].launchSpec"}},
		{"ImageId in an instance type", func(m map[string]any) { set(m, "instanceTypes.0.launchSpec.ImageId", "ami-x") }, ParseOptions{}, []string{"instanceTypes[0].launchSpec.ImageId must not be set: it comes from regions[].launchSpec"}},
		{"controlled fields in the worker type", func(m map[string]any) {
			for _, f := range []string{"UserData", "MinCount", "MaxCount", "ClientToken", "InstanceType", "TagSpecifications", "InstanceMarketOptions"} {
				set(m, "launchSpec."+f, "x")
			}
		}, ParseOptions{}, []string{
			"launchSpec.ClientToken must not be set: the provisioner sets it",
			"launchSpec.InstanceMarketOptions must not be set: the provisioner decides between spot and on-demand",
			"launchSpec.MaxCount must not be set: the provisioner sets it",
			"launchSpec.MinCount must not be set: the provisioner sets it",
			"launchSpec.TagSpecifications must not be set: the provisioner tags instances",
			"launchSpec.UserData must not be set: the provisioner sets it",
			"launchSpec.InstanceType must not be set: it comes from instanceTypes",
		}},
		{"controlled field in a region", func(m map[string]any) { set(m, "regions.0.launchSpec.MinCount", 1) }, ParseOptions{}, []string{"regions[0].launchSpec.MinCount must not be set: the provisioner sets it"}},
		{"controlled field in an instance type", func(m map[string]any) { set(m, "instanceTypes.0.launchSpec.InstanceType", "m5.large") }, ParseOptions{}, []string{"instanceTypes[0].launchSpec.InstanceType must not be set: it comes from instanceTypes"}},
		{"controlled field in a zone", func(m map[string]any) {
			z := zone("us-east-1", "us-east-1a")
			set(z, "launchSpec.TagSpecifications", []any{})
			m["availabilityZones"] = []any{z}
		}, ParseOptions{}, []string{"availabilityZones[0].launchSpec.TagSpecifications must not be set: the provisioner tags instances"}},
		{"Placement.AvailabilityZone in a region", func(m map[string]any) {
			set(m, "regions.0.launchSpec.Placement", map[string]any{"AvailabilityZone": "us-east-1a"})
		}, ParseOptions{},
			[]string{"regions[0].launchSpec.Placement.AvailabilityZone must not be set: it comes from availabilityZones"}},
		{"Placement not an object", func(m map[string]any) { set(m, "launchSpec.Placement", "us-east-1a") }, ParseOptions{}, []string{"launchSpec.Placement must be an object"}},
		{"unknown member of a region", func(m map[string]any) { set(m, "regions.0.availabilityZones", []any{}) }, ParseOptions{}, []string{"regions[0].availabilityZones is not allowed"}},
		{"unknown member of an instance type", func(m map[string]any) { set(m, "instanceTypes.0.price", 1) }, ParseOptions{}, []string{"instanceTypes[0].price is not allowed"}},
		{"instance type fields required", func(m map[string]any) { m["instanceTypes"] = []any{map[string]any{}} }, ParseOptions{}, []string{
			"instanceTypes[0].instanceType is required",
			"instanceTypes[0].capacity is required",
			"instanceTypes[0].utility is required",
			"instanceTypes[0].launchSpec is required",
			"instanceTypes[0].userData is required",
			"instanceTypes[0].secrets is required",
			"instanceTypes[0].scopes is required",
		}},
		{"region fields required", func(m map[string]any) { m["regions"] = []any{map[string]any{}} }, ParseOptions{}, []string{
			"regions[0].region is required",
			"regions[0].launchSpec is required",
			"regions[0].userData is required",
			"regions[0].secrets is required",
			"regions[0].scopes is required",
		}},
		{"zone fields required", func(m map[string]any) { m["availabilityZones"] = []any{map[string]any{}} }, ParseOptions{}, []string{
			"availabilityZones[0].availabilityZone is required",
			"availabilityZones[0].region is required",
			"availabilityZones[0].launchSpec is required",
		}},
		{"zone of an unconfigured region", func(m map[string]any) { m["availabilityZones"] = []any{zone("us-west-2", "us-west-2a")} }, ParseOptions{},
			[]string{`availabilityZones[0].region "us-west-2" is not one of the worker type's regions`}},
		{"zone not of its region", func(m map[string]any) { m["availabilityZones"] = []any{zone("us-east-1", "us-west-2a")} }, ParseOptions{},
			[]string{`availabilityZones[0].availabilityZone "us-west-2a" is not an availability zone of region "us-east-1"`}},
		{"duplicate zones", func(m map[string]any) {
			m["availabilityZones"] = []any{zone("us-east-1", "us-east-1a"), zone("us-east-1", "us-east-1b"), zone("us-east-1", "us-east-1a")}
		}, ParseOptions{}, []string{"availabilityZones[2].availabilityZone duplicates availabilityZones[0]"}},
		{"zones have no scopes", func(m map[string]any) {
			z := zone("us-east-1", "us-east-1a")
			z["scopes"] = []any{}
			m["availabilityZones"] = []any{z}
		}, ParseOptions{}, []string{"availabilityZones[0].scopes is not allowed"}},
		{"merged user data too large", func(m map[string]any) {
			set(m, "userData.big", strings.Repeat("x", 9000))
			set(m, "instanceTypes.0.userData.big2", strings.Repeat("y", 9000))
		}, ParseOptions{}, []string{`userData merged for region "us-east-1", instance type "m5.large" is 18020 bytes; at most 15360 fit in EC2 user data`}},
		{"launch spec validator, reported once", func(m map[string]any) {
			secondType(m)
			secondRegion(m)
			set(m, "launchSpec.Bogus", 1)
		}, ParseOptions{ValidateLaunchSpec: rejectBogus}, []string{`launchSpec merged for region "us-east-1", instance type "m5.large": unknown field "Bogus"`}},
		{"launch spec validator sees the zone level", func(m map[string]any) {
			z := zone("us-east-1", "us-east-1b")
			set(z, "launchSpec.Bogus", 1)
			m["availabilityZones"] = []any{zone("us-east-1", "us-east-1a"), z}
		}, ParseOptions{ValidateLaunchSpec: rejectBogus}, []string{`launchSpec merged for region "us-east-1", instance type "m5.large", availability zone "us-east-1b": unknown field "Bogus"`}},
		{"too many combinations", func(m map[string]any) {
			var regions, types []any
			for i := range 20 {
				regions = append(regions, map[string]any{"region": fmt.Sprintf("us-east-%d", i+1), "launchSpec": map[string]any{"ImageId": "ami-1"}, "userData": nil, "secrets": nil, "scopes": nil})
			}
			for i := range 51 {
				types = append(types, map[string]any{"instanceType": fmt.Sprintf("m%d.large", i), "capacity": 1, "utility": 1, "launchSpec": nil, "userData": nil, "secrets": nil, "scopes": nil})
			}
			m["regions"], m["instanceTypes"] = regions, types
		}, ParseOptions{}, []string{"regions x instanceTypes x availabilityZones make 1020 launch combinations; at most 1000 are allowed"}},
		{"every schema problem at once", func(m map[string]any) {
			del(m, "owner")
			m["minPrice"] = "cheap"
			set(m, "instanceTypes.0.utility", "fast")
			set(m, "regions.0.scopes", []any{"\u0007"})
		}, ParseOptions{}, []string{
			"instanceTypes[0].utility must be a number",
			"minPrice must be a number",
			"owner is required",
			"regions[0].scopes[0] must be printable ASCII characters and spaces",
		}},
		{"every semantic problem at once", func(m map[string]any) {
			m["minPrice"] = -1
			set(m, "instanceTypes.0.utility", 0)
			set(m, "regions.0.launchSpec.UserData", "x")
		}, ParseOptions{}, []string{
			"minPrice must be >= 0",
			"regions[0].launchSpec.UserData must not be set: the provisioner sets it",
			"instanceTypes[0].utility must be > 0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := doc(t, minimalWorkerTypeJSON)
			tt.edit(m)
			_, err := ParseWorkerType(encode(t, m), tt.opts)
			if err == nil {
				t.Fatalf("ParseWorkerType accepted the definition, want problems %q", tt.want)
			}
			// The order of the problems is no contract.
			if diff := cmp.Diff(problemsOf(t, err), tt.want, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("problems (-got +want):\n%s", diff)
			}
		})
	}
}

func TestParseWorkerTypeBadBodies(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"not JSON", `{"description":`, []string{"body is not valid JSON: unexpected EOF"}},
		{"empty", ``, []string{"body is not valid JSON: no JSON value"}},
		{"two values", `{} {}`, []string{"body is not valid JSON: unexpected data after the JSON value"}},
		{"an array", `[]`, []string{"body must be a JSON object"}},
		{"null", `null`, []string{"body must be a JSON object"}},
		{"number out of range", strings.Replace(minimalWorkerTypeJSON, `"maxPrice": 1`, `"maxPrice": 1e400`, 1),
			[]string{"maxPrice is not a finite number"}},
		{"number out of range in a free-form object", strings.Replace(minimalWorkerTypeJSON, `"userData": {}`, `"userData": {"n": -1e999}`, 1),
			[]string{"userData.n is not a finite number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseWorkerType([]byte(tt.body), ParseOptions{})
			if diff := cmp.Diff(problemsOf(t, err), tt.want); diff != "" {
				t.Errorf("problems (-got +want):\n%s", diff)
			}
		})
	}
}

func TestParseWorkerTypeAccepts(t *testing.T) {
	tests := []struct {
		name string
		edit func(m map[string]any)
		opts ParseOptions
	}{
		{"minimal", func(map[string]any) {}, ParseOptions{}},
		{"nulls for free-form objects and scopes", func(m map[string]any) {
			for _, p := range []string{"launchSpec", "userData", "secrets", "scopes", "instanceTypes.0.launchSpec", "instanceTypes.0.userData", "instanceTypes.0.secrets", "instanceTypes.0.scopes", "regions.0.userData", "regions.0.secrets", "regions.0.scopes"} {
				set(m, p, nil)
			}
		}, ParseOptions{}},
		{"null optionals", func(m map[string]any) {
			m["minCapacity"], m["canUseSpot"], m["canUseOndemand"], m["availabilityZones"] = nil, nil, nil, nil
		}, ParseOptions{}},
		{"zone without secrets and userData", func(m map[string]any) {
			m["availabilityZones"] = []any{map[string]any{"region": "us-east-1", "availabilityZone": "us-east-1a", "launchSpec": nil}}
		}, ParseOptions{}},
		{"fractional utility", func(m map[string]any) {
			set(m, "instanceTypes.0.utility", 0.25)
		}, ParseOptions{}},
		{"on-demand only", func(m map[string]any) { m["canUseSpot"] = false; m["canUseOndemand"] = true }, ParseOptions{}},
		{"scopes with spaces", func(m map[string]any) { m["scopes"] = []any{"a b", "~!"} }, ParseOptions{}},
		{"minCapacity equal to maxCapacity", func(m map[string]any) { m["minCapacity"] = 10 }, ParseOptions{}},
		{"minPrice equal to maxPrice", func(m map[string]any) { m["minPrice"] = 1 }, ParseOptions{}},
		{"allowed region", func(map[string]any) {}, ParseOptions{AllowedRegions: []string{"us-east-1"}}},
		{"IamInstanceProfile and other RunInstances fields", func(m map[string]any) {
			set(m, "launchSpec.IamInstanceProfile", map[string]any{"Arn": "arn:aws:iam::123456789012:instance-profile/worker"})
			set(m, "launchSpec.Placement", map[string]any{"Tenancy": "default"})
		}, ParseOptions{}},
		{"validator passes", func(map[string]any) {}, ParseOptions{ValidateLaunchSpec: func(json.RawMessage) error { return nil }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := doc(t, minimalWorkerTypeJSON)
			tt.edit(m)
			if _, err := ParseWorkerType(encode(t, m), tt.opts); err != nil {
				t.Errorf("ParseWorkerType refused a valid definition: %v", err)
			}
		})
	}
}

func TestDefinitionCanonical(t *testing.T) {
	w, err := ParseWorkerType([]byte(minimalWorkerTypeJSON), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType: %v", err)
	}
	want := `{"availabilityZones":[],"canUseOndemand":false,"canUseSpot":true,"description":"d",` +
		`"instanceTypes":[{"capacity":1,"instanceType":"m5.large","launchSpec":{},"scopes":[],"secrets":{},"userData":{},"utility":1}],` +
		`"launchSpec":{},"maxCapacity":10,"maxPrice":1,"minCapacity":0,"minPrice":0,"owner":"o@example.com",` +
		`"regions":[{"launchSpec":{"ImageId":"ami-1"},"region":"us-east-1","scopes":[],"secrets":{},"userData":{}}],` +
		`"scalingRatio":0,"scopes":[],"secrets":{},"userData":{}}`
	if got := string(w.Definition()); got != want {
		t.Errorf("Definition() =\n%s\nwant\n%s", got, want)
	}
}

// clientCreateWorkerTypeRequest has the JSON tags of the official Go client's
// CreateWorkerTypeRequest (tcawsprovisioner v19), so the tests send what it sends.
type clientCreateWorkerTypeRequest struct {
	AvailabilityZones []clientAZ          `json:"availabilityZones,omitempty"`
	CanUseOndemand    bool                `json:"canUseOndemand,omitempty"`
	CanUseSpot        bool                `json:"canUseSpot,omitempty"`
	Description       string              `json:"description"`
	InstanceTypes     []clientInstanceTyp `json:"instanceTypes"`
	LaunchSpec        json.RawMessage     `json:"launchSpec"`
	MaxCapacity       float64             `json:"maxCapacity"`
	MaxPrice          float64             `json:"maxPrice"`
	MinCapacity       float64             `json:"minCapacity,omitempty"`
	MinPrice          float64             `json:"minPrice"`
	Owner             string              `json:"owner"`
	Regions           []clientRegion      `json:"regions"`
	ScalingRatio      float64             `json:"scalingRatio"`
	Scopes            []string            `json:"scopes"`
	Secrets           json.RawMessage     `json:"secrets"`
	UserData          json.RawMessage     `json:"userData"`
}

type clientAZ struct {
	AvailabilityZone string          `json:"availabilityZone"`
	LaunchSpec       json.RawMessage `json:"launchSpec"`
	Region           string          `json:"region"`
	Secrets          json.RawMessage `json:"secrets,omitempty"`
	UserData         json.RawMessage `json:"userData,omitempty"`
}

type clientInstanceTyp struct {
	Capacity     float64         `json:"capacity"`
	InstanceType string          `json:"instanceType"`
	LaunchSpec   json.RawMessage `json:"launchSpec"`
	Scopes       []string        `json:"scopes"`
	Secrets      json.RawMessage `json:"secrets"`
	UserData     json.RawMessage `json:"userData"`
	Utility      float64         `json:"utility"`
}

type clientRegion struct {
	LaunchSpec json.RawMessage `json:"launchSpec"`
	Region     string          `json:"region"`
	Scopes     []string        `json:"scopes"`
	Secrets    json.RawMessage `json:"secrets"`
	UserData   json.RawMessage `json:"userData"`
}

func TestParseWorkerTypeFromGoClient(t *testing.T) {
	// What the official Go client sends when a caller sets only what matters: nil
	// raw messages and slices become null, zero minCapacity and booleans are omitted.
	req := clientCreateWorkerTypeRequest{
		Description:       "d",
		Owner:             "o@example.com",
		MaxCapacity:       10,
		MaxPrice:          1,
		InstanceTypes:     []clientInstanceTyp{{Capacity: 1, InstanceType: "m5.large", Utility: 1}},
		Regions:           []clientRegion{{Region: "us-east-1", LaunchSpec: json.RawMessage(`{"ImageId":"ami-1"}`)}},
		AvailabilityZones: []clientAZ{{AvailabilityZone: "us-east-1a", Region: "us-east-1"}},
	}
	body := encode(t, req)
	got, err := ParseWorkerType(body, ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType refused the Go client's body %s: %v", body, err)
	}
	m := doc(t, minimalWorkerTypeJSON)
	m["availabilityZones"] = []any{map[string]any{"region": "us-east-1", "availabilityZone": "us-east-1a", "launchSpec": map[string]any{}}}
	want, err := ParseWorkerType(encode(t, m), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType: %v", err)
	}
	if !Equal(got, want) {
		t.Errorf("Go client body parsed to\n%s\nwant\n%s", got.Definition(), want.Definition())
	}
}

func TestEqual(t *testing.T) {
	base, err := ParseWorkerType([]byte(minimalWorkerTypeJSON), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType: %v", err)
	}
	same := []struct{ name, body string }{
		{"members reordered, defaults omitted, spaced differently", `{"instanceTypes":[{"utility":1,"scopes":[],"userData":{},"secrets":{},"launchSpec":{},"capacity":1,"instanceType":"m5.large"}],
			"regions":[{"scopes":[],"secrets":{},"userData":{},"region":"us-east-1","launchSpec":{"ImageId":"ami-1"}}],
			"scopes":[],"secrets":{},"userData":{},"launchSpec":{},"scalingRatio":0,"maxPrice":1,"minPrice":0,"maxCapacity":10,"owner":"o@example.com","description":"d"}`},
		{"defaults spelled out", strings.Replace(minimalWorkerTypeJSON, `"description": "d",`, `"description": "d", "minCapacity": 0, "canUseSpot": true, "canUseOndemand": false, "availabilityZones": [],`, 1)},
		{"numbers spelled differently", strings.Replace(strings.Replace(minimalWorkerTypeJSON, `"maxCapacity": 10`, `"maxCapacity": 1e1`, 1), `"maxPrice": 1`, `"maxPrice": 1.0`, 1)},
		{"nulls for empty objects", strings.Replace(minimalWorkerTypeJSON, `"launchSpec": {}, "userData": {}, "secrets": {}, "scopes": []`, `"launchSpec": null, "userData": null, "secrets": null, "scopes": null`, 1)},
		{"its own definition", string(base.Definition())},
	}
	for _, tt := range same {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseWorkerType([]byte(tt.body), ParseOptions{})
			if err != nil {
				t.Fatalf("ParseWorkerType: %v", err)
			}
			if !Equal(w, base) {
				t.Errorf("Equal = false, want true:\n%s\n%s", w.Definition(), base.Definition())
			}
		})
	}
	changes := []struct {
		name string
		edit func(m map[string]any)
	}{
		{"description", func(m map[string]any) { m["description"] = "other" }},
		{"owner", func(m map[string]any) { m["owner"] = "x@example.com" }},
		{"maxPrice", func(m map[string]any) { m["maxPrice"] = 1.01 }},
		{"minCapacity", func(m map[string]any) { m["minCapacity"] = 1 }},
		{"scalingRatio", func(m map[string]any) { m["scalingRatio"] = 0.1 }},
		{"canUseOndemand", func(m map[string]any) { m["canUseOndemand"] = true }},
		{"a scope", func(m map[string]any) { m["scopes"] = []any{"queue:claim-work:x/y"} }},
		{"a nested launchSpec value", func(m map[string]any) { set(m, "launchSpec.Monitoring", map[string]any{"Enabled": true}) }},
		{"region ImageId", func(m map[string]any) { set(m, "regions.0.launchSpec.ImageId", "ami-2") }},
		{"instance type utility", func(m map[string]any) { set(m, "instanceTypes.0.utility", 2) }},
		{"a secret", func(m map[string]any) { set(m, "instanceTypes.0.secrets.token", "t") }},
		{"region userData", func(m map[string]any) { set(m, "regions.0.userData.x", false) }},
		{"an availability zone", func(m map[string]any) {
			m["availabilityZones"] = []any{map[string]any{"region": "us-east-1", "availabilityZone": "us-east-1a", "launchSpec": map[string]any{}}}
		}},
	}
	for _, tt := range changes {
		t.Run("changed "+tt.name, func(t *testing.T) {
			m := doc(t, minimalWorkerTypeJSON)
			tt.edit(m)
			w, err := ParseWorkerType(encode(t, m), ParseOptions{})
			if err != nil {
				t.Fatalf("ParseWorkerType: %v", err)
			}
			if Equal(w, base) {
				t.Errorf("Equal = true after changing %s, want false", tt.name)
			}
		})
	}
}

func TestDefinitionRoundTrip(t *testing.T) {
	w := parseTestdata(t)
	again, err := ParseWorkerType(w.Definition(), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType(Definition()): %v", err)
	}
	if got, want := string(again.Definition()), string(w.Definition()); got != want {
		t.Errorf("definition changed on a round trip:\n%s\nwant\n%s", got, want)
	}
	if diff := cmp.Diff(again, w, cmp.AllowUnexported(WorkerType{})); diff == "" {
		t.Errorf("the canonical definition parsed back has the same written form as the testdata; this test would not see a change")
	}
	if diff := cmp.Diff(again, w, cmpopts.IgnoreUnexported(WorkerType{})); diff != "" {
		t.Errorf("worker type changed on a round trip (-got +want):\n%s", diff)
	}
}

// TestWrittenAsWritten: the stored form is the body as written (members, their order,
// number spellings and nulls), only whitespace removed, and without the workerType
// and lastModified members a GET adds. The aws-provisioner returned definitions as
// written too.
func TestWrittenAsWritten(t *testing.T) {
	body := `{"workerType": "builder", "maxPrice": 1.50, "description": "d", "owner": "o", "scalingRatio": 0, "minPrice": 0,
	  "maxCapacity": 4, "launchSpec": {"KeyName": "k"}, "userData": null, "secrets": {}, "scopes": [],
	  "regions": [{"region": "us-east-1", "launchSpec": {"ImageId": "ami-1"}, "userData": {}, "secrets": null, "scopes": []}],
	  "instanceTypes": [{"instanceType": "m5.large", "capacity": 1, "utility": 1e0, "launchSpec": {}, "userData": {}, "secrets": {}, "scopes": []}],
	  "lastModified": "2020-01-02T03:04:05.006Z"}`
	w, err := ParseWorkerType([]byte(body), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"maxPrice":1.50,"description":"d","owner":"o","scalingRatio":0,"minPrice":0,"maxCapacity":4,"launchSpec":{"KeyName":"k"},"userData":null,"secrets":{},"scopes":[],` +
		`"regions":[{"region":"us-east-1","launchSpec":{"ImageId":"ami-1"},"userData":{},"secrets":null,"scopes":[]}],` +
		`"instanceTypes":[{"instanceType":"m5.large","capacity":1,"utility":1e0,"launchSpec":{},"userData":{},"secrets":{},"scopes":[]}]}`
	if got := string(w.Written()); got != want {
		t.Errorf("Written() =\n%s\nwant\n%s", got, want)
	}
	if w.NamedAs() != "builder" {
		t.Errorf("NamedAs() = %q, want builder", w.NamedAs())
	}
	again, err := ParseWorkerType(w.Written(), ParseOptions{})
	if err != nil || string(again.Written()) != want || !Equal(again, w) {
		t.Errorf("the written form parsed back: %v, %s", err, again.Written())
	}
}

// TestPreviousGetBodyAccepted: the body of a GET (with workerType and lastModified)
// can be sent back, where the aws-provisioner refused those two members.
func TestPreviousGetBodyAccepted(t *testing.T) {
	w := parseTestdata(t)
	get := doc(t, string(w.Definition()))
	get["workerType"] = "builder"
	get["lastModified"] = "2020-01-02T03:04:05.006Z"
	again, err := ParseWorkerType(encode(t, get), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType refused a GET body: %v", err)
	}
	if !Equal(again, w) || again.NamedAs() != "builder" || strings.Contains(string(again.Written()), "lastModified") {
		t.Errorf("GET body parsed to a different definition:\n%s\nwant\n%s", again.Written(), w.Definition())
	}
}

func TestWorkerTypeSizing(t *testing.T) {
	w := parseTestdata(t)
	got := w.Sizing()
	want := Sizing{MinCapacity: 0, MaxCapacity: 40, ScalingRatio: 0.2, ReregistrationTimeout: WorkerTypeLifetime}
	if got != want {
		t.Errorf("Sizing() = %+v, want %+v", got, want)
	}
	if WorkerTypeLifetime.Hours() != 96 {
		t.Errorf("WorkerTypeLifetime = %v, want 96h", WorkerTypeLifetime)
	}
}

func TestInvalidErrorMessage(t *testing.T) {
	err := error(&InvalidError{Problems: []string{"a is required", "b must be > 0"}})
	if got, want := err.Error(), "invalid definition: a is required; b must be > 0"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestProblemsNeverQuoteSecrets(t *testing.T) {
	m := doc(t, minimalWorkerTypeJSON)
	set(m, "secrets", "hunter2-secret")
	set(m, "regions.0.secrets", []any{"hunter2-secret"})
	_, err := ParseWorkerType(encode(t, m), ParseOptions{})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("ParseWorkerType error = %v, want problems that do not quote the secrets", err)
	}
	if diff := cmp.Diff(problemsOf(t, err), []string{"regions[0].secrets must be an object", "secrets must be an object"}); diff != "" {
		t.Errorf("problems (-got +want):\n%s", diff)
	}
}

func parseTestdata(t testing.TB) WorkerType {
	t.Helper()
	w, err := ParseWorkerType(readTestdata(t, "workertype.json"), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseWorkerType(testdata/workertype.json): %v", err)
	}
	return w
}

func ExampleParseWorkerType() {
	_, err := ParseWorkerType([]byte(`{"description": "d", "owner": "o", "maxCapacity": 1, "minPrice": 0, "maxPrice": 1,
		"scalingRatio": 0, "launchSpec": {}, "userData": {}, "secrets": {}, "scopes": [],
		"regions": [{"region": "us-east-1", "launchSpec": {"ImageId": ""}, "userData": {}, "secrets": {}, "scopes": []}],
		"instanceTypes": [{"instanceType": "m5.large", "capacity": 1, "utility": 0, "launchSpec": {}, "userData": {}, "secrets": {}, "scopes": []}]}`), ParseOptions{})
	var ie *InvalidError
	if errors.As(err, &ie) {
		for _, p := range ie.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// instanceTypes[0].utility must be > 0
	// regions[0].launchSpec.ImageId must be a non-empty string
}
