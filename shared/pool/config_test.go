package pool

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcworkermanager"
)

const minimalAWSConfigJSON = `{
  "minCapacity": 0, "maxCapacity": 5,
  "launchConfigs": [{"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-1", "InstanceType": "m5.large"}}]
}`

func TestProviders(t *testing.T) {
	want := []ProviderInfo{
		{ProviderID: "aws", ProviderType: "aws"},
		{ProviderID: "static", ProviderType: "static"},
		{ProviderID: "null-provider", ProviderType: "null"},
	}
	if diff := cmp.Diff(DefaultProviders(), want); diff != "" {
		t.Errorf("DefaultProviders() (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(MustParseProviders(DefaultProvidersJSON).List(), want); diff != "" {
		t.Errorf("the default PROVIDERS setting (-got +want):\n%s", diff)
	}
	got := DefaultProviders()
	got[0].ProviderID = "changed"
	if DefaultProviders()[0].ProviderID != "aws" {
		t.Errorf("changing the slice Providers returned changed the providers")
	}
	b := encode(t, ProviderInfo{ProviderID: "aws", ProviderType: "aws"})
	if got, want := string(b), `{"providerId":"aws","providerType":"aws"}`; got != want {
		t.Errorf("ProviderInfo JSON = %s, want %s", got, want)
	}
}

func TestConfigSchemasCompile(t *testing.T) {
	schemas, err := configSchemas()
	if err != nil {
		t.Fatalf("provider config schemas do not compile: %v", err)
	}
	for _, p := range DefaultProviders() {
		if schemas[p.ProviderType] == nil {
			t.Errorf("no schema for provider type %s", p.ProviderType)
		}
	}
}

func TestParseAWSConfigProblems(t *testing.T) {
	rejectBogus := func(spec json.RawMessage) error {
		if strings.Contains(string(spec), `"Bogus"`) {
			return errors.New(`unknown field "Bogus"`)
		}
		return nil
	}
	lc := "launchConfigs.0."
	tests := []struct {
		name string
		edit func(m map[string]any)
		opts ParseOptions
		want []string
	}{
		{"launchConfigs, minCapacity and maxCapacity required", func(m map[string]any) {
			delete(m, "launchConfigs")
			delete(m, "minCapacity")
			delete(m, "maxCapacity")
		}, ParseOptions{}, []string{"config.launchConfigs is required", "config.maxCapacity is required", "config.minCapacity is required"}},
		{"unknown member", func(m map[string]any) { m["workerType"] = "x" }, ParseOptions{}, []string{"config.workerType is not allowed"}},
		{"minCapacity negative", func(m map[string]any) { m["minCapacity"] = -1 }, ParseOptions{}, []string{"config.minCapacity must be >= 0"}},
		{"minCapacity fractional", func(m map[string]any) { m["minCapacity"] = 1.5 }, ParseOptions{}, []string{"config.minCapacity must be an integer"}},
		{"maxCapacity a string", func(m map[string]any) { m["maxCapacity"] = "5" }, ParseOptions{}, []string{"config.maxCapacity must be an integer"}},
		{"maxCapacity huge", func(m map[string]any) { m["maxCapacity"] = 1e12 }, ParseOptions{}, []string{"config.maxCapacity must be <= 2147483647"}},
		{"minCapacity above maxCapacity", func(m map[string]any) { m["minCapacity"] = 6 }, ParseOptions{}, []string{"config.minCapacity must be <= maxCapacity"}},
		{"scalingRatio negative", func(m map[string]any) { m["scalingRatio"] = -0.1 }, ParseOptions{}, []string{"config.scalingRatio must be >= 0"}},
		{"no launch configs", func(m map[string]any) { m["launchConfigs"] = []any{} }, ParseOptions{}, []string{"config.launchConfigs must have at least 1 item"}},
		{"launch config not an object", func(m map[string]any) { m["launchConfigs"] = []any{"x"} }, ParseOptions{}, []string{"config.launchConfigs[0] must be an object"}},
		{"launch config members required", func(m map[string]any) { m["launchConfigs"] = []any{map[string]any{}} }, ParseOptions{}, []string{
			"config.launchConfigs[0].launchConfig is required",
			"config.launchConfigs[0].region is required",
		}},
		{"unknown launch config member", func(m map[string]any) { set(m, lc+"capacity", 1) }, ParseOptions{}, []string{"config.launchConfigs[0].capacity is not allowed"}},
		{"capacityPerInstance zero", func(m map[string]any) { set(m, lc+"capacityPerInstance", 0) }, ParseOptions{}, []string{"config.launchConfigs[0].capacityPerInstance must be >= 1"}},
		{"capacityPerInstance fractional", func(m map[string]any) { set(m, lc+"capacityPerInstance", 1.5) }, ParseOptions{}, []string{"config.launchConfigs[0].capacityPerInstance must be an integer"}},
		{"ImageId required, InstanceType not (v25)", func(m map[string]any) { set(m, lc+"launchConfig", map[string]any{}) }, ParseOptions{}, []string{
			"config.launchConfigs[0].launchConfig.ImageId is required",
		}},
		{"ImageId empty", func(m map[string]any) { set(m, lc+"launchConfig.ImageId", "") }, ParseOptions{}, []string{"config.launchConfigs[0].launchConfig.ImageId must have at least 1 character"}},
		{"launchConfig an array", func(m map[string]any) { set(m, lc+"launchConfig", []any{}) }, ParseOptions{}, []string{"config.launchConfigs[0].launchConfig must be an object"}},
		{"v25's RunInstances fields of the wrong type", func(m map[string]any) {
			for _, f := range []string{"IamInstanceProfile", "TagSpecifications", "InstanceMarketOptions"} {
				set(m, lc+"launchConfig."+f, "x")
			}
		}, ParseOptions{}, []string{
			"config.launchConfigs[0].launchConfig.IamInstanceProfile must be an object",
			"config.launchConfigs[0].launchConfig.InstanceMarketOptions must be an object",
			"config.launchConfigs[0].launchConfig.TagSpecifications must be an array",
		}},
		{"a market type other than spot", func(m map[string]any) {
			set(m, lc+"launchConfig.InstanceMarketOptions", map[string]any{"MarketType": "capacity-block"})
		}, ParseOptions{}, []string{`config.launchConfigs[0].launchConfig.InstanceMarketOptions.MarketType "capacity-block" is not supported: spot, or leave InstanceMarketOptions out for on-demand`}},
		{"market contradicting InstanceMarketOptions", func(m map[string]any) {
			set(m, lc+"launchConfig.InstanceMarketOptions", map[string]any{"MarketType": "spot"})
			set(m, lc+"market", "on-demand")
		}, ParseOptions{}, []string{`config.launchConfigs[0].market is "on-demand" but launchConfig.InstanceMarketOptions asks for spot; set one`}},
		{"spot MaxPrice not a decimal string", func(m map[string]any) {
			set(m, lc+"launchConfig.InstanceMarketOptions", map[string]any{"MarketType": "spot", "SpotOptions": map[string]any{"MaxPrice": 0.5}})
		}, ParseOptions{}, []string{`config.launchConfigs[0].launchConfig.InstanceMarketOptions.SpotOptions.MaxPrice must be a price in USD as a decimal string, such as "0.5"`}},
		{"maxPrice contradicting SpotOptions.MaxPrice", func(m map[string]any) {
			set(m, lc+"launchConfig.InstanceMarketOptions", map[string]any{"MarketType": "spot", "SpotOptions": map[string]any{"MaxPrice": "0.5"}})
			set(m, lc+"maxPrice", 0.6)
		}, ParseOptions{}, []string{`config.launchConfigs[0].maxPrice is 0.6 but config.launchConfigs[0].launchConfig.InstanceMarketOptions.SpotOptions.MaxPrice is "0.5"; set one`}},
		{"capacityPerInstance in both places, different", func(m map[string]any) {
			set(m, lc+"workerManager", map[string]any{"capacityPerInstance": 2})
		}, ParseOptions{}, []string{"config.launchConfigs[0].workerManager.capacityPerInstance is 2 but capacityPerInstance is 1; set one"}},
		{"unknown workerManager member", func(m map[string]any) {
			set(m, lc+"workerManager", map[string]any{"capacity": 2})
		}, ParseOptions{}, []string{"config.launchConfigs[0].workerManager.capacity is not allowed"}},
		{"initialWeight above 1", func(m map[string]any) {
			set(m, lc+"workerManager", map[string]any{"initialWeight": 2})
		}, ParseOptions{}, []string{"config.launchConfigs[0].workerManager.initialWeight must be <= 1"}},
		{"refused additionalUserData members", func(m map[string]any) {
			set(m, lc+"additionalUserData", map[string]any{"rootUrl": 1, "workerPoolId": 1, "providerId": 1, "workerGroup": 1, "workerConfig": 1, "fine": 1})
		}, ParseOptions{}, []string{
			"config.launchConfigs[0].additionalUserData.providerId must not be set: the provisioner sets it",
			"config.launchConfigs[0].additionalUserData.rootUrl must not be set: the provisioner sets it",
			"config.launchConfigs[0].additionalUserData.workerConfig must not be set: the provisioner sets it from the launch config's workerConfig",
			"config.launchConfigs[0].additionalUserData.workerGroup must not be set: the provisioner sets it",
			"config.launchConfigs[0].additionalUserData.workerPoolId must not be set: the provisioner sets it",
		}},
		{"workerConfig a string", func(m map[string]any) { set(m, lc+"workerConfig", "x") }, ParseOptions{}, []string{"config.launchConfigs[0].workerConfig must be an object"}},
		{"utility zero", func(m map[string]any) { set(m, lc+"utility", 0) }, ParseOptions{}, []string{"config.launchConfigs[0].utility must be > 0"}},
		{"unknown market", func(m map[string]any) { set(m, lc+"market", "reserved") }, ParseOptions{}, []string{`config.launchConfigs[0].market must be one of "spot", "on-demand"`}},
		{"maxPrice zero", func(m map[string]any) { set(m, lc+"maxPrice", 0) }, ParseOptions{}, []string{"config.launchConfigs[0].maxPrice must be > 0"}},
		{"registrationTimeout zero", func(m map[string]any) { set(m, "lifecycle.registrationTimeout", 0) }, ParseOptions{}, []string{"config.lifecycle.registrationTimeout must be >= 1"}},
		{"reregistrationTimeout fractional", func(m map[string]any) { set(m, "lifecycle.reregistrationTimeout", 0.5) }, ParseOptions{}, []string{"config.lifecycle.reregistrationTimeout must be an integer"}},
		{"unknown lifecycle member", func(m map[string]any) { set(m, "lifecycle.expires", 5) }, ParseOptions{}, []string{"config.lifecycle.expires is not allowed"}},
		{"lifecycle not an object", func(m map[string]any) { m["lifecycle"] = 5 }, ParseOptions{}, []string{"config.lifecycle must be an object"}},
		{"unknown demand source", func(m map[string]any) { set(m, "demand.source", "kafka") }, ParseOptions{}, []string{`config.demand.source must be one of "taskcluster", "sqs"`}},
		{"sqs without queueUrl", func(m map[string]any) { set(m, "demand.source", "sqs") }, ParseOptions{}, []string{"config.demand.queueUrl is required when demand.source is sqs"}},
		{"queueUrl without sqs", func(m map[string]any) {
			set(m, "demand.queueUrl", "https://sqs.us-east-1.amazonaws.com/123456789012/workerfleet-demand")
		}, ParseOptions{}, []string{"config.demand.queueUrl is only allowed when demand.source is sqs"}},
		{"queueUrl not an SQS url", func(m map[string]any) {
			set(m, "demand.source", "sqs")
			set(m, "demand.queueUrl", "https://example.com/123456789012/q")
		}, ParseOptions{}, []string{"config.demand.queueUrl must look like https://sqs.<region>.amazonaws.com/<account>/<name>"}},
		{"queueUrl without account", func(m map[string]any) {
			set(m, "demand.source", "sqs")
			set(m, "demand.queueUrl", "https://sqs.us-east-1.amazonaws.com/q")
		}, ParseOptions{}, []string{"config.demand.queueUrl must look like https://sqs.<region>.amazonaws.com/<account>/<name>"}},
		{"unknown demand member", func(m map[string]any) { set(m, "demand.arn", "x") }, ParseOptions{}, []string{"config.demand.arn is not allowed"}},
		{"malformed region", func(m map[string]any) { set(m, lc+"region", "Virginia") }, ParseOptions{}, []string{`config.launchConfigs[0].region "Virginia" is not a well-formed AWS region name`}},
		{"region not allowed", func(m map[string]any) {}, ParseOptions{AllowedRegions: []string{"eu-central-1"}},
			[]string{`config.launchConfigs[0].region "us-east-1" is not an allowed region (allowed: eu-central-1)`}},
		{"malformed instance type", func(m map[string]any) { set(m, lc+"launchConfig.InstanceType", "large") }, ParseOptions{},
			[]string{`config.launchConfigs[0].launchConfig.InstanceType "large" is not a well-formed EC2 instance type`}},
		{"zone of another region", func(m map[string]any) {
			set(m, lc+"launchConfig.Placement", map[string]any{"AvailabilityZone": "us-west-2a"})
		}, ParseOptions{},
			[]string{`config.launchConfigs[0].launchConfig.Placement.AvailabilityZone "us-west-2a" is not an availability zone of region "us-east-1"`}},
		{"launch spec validator", func(m map[string]any) { set(m, lc+"launchConfig.Bogus", true) }, ParseOptions{ValidateLaunchSpec: rejectBogus},
			[]string{`config.launchConfigs[0].launchConfig is not a valid launch spec: unknown field "Bogus"`}},
		{"user data too large", func(m map[string]any) {
			set(m, lc+"workerConfig", map[string]any{"x": strings.Repeat("x", 8000)})
			set(m, lc+"additionalUserData", map[string]any{"y": strings.Repeat("y", 8000)})
		}, ParseOptions{}, []string{"config.launchConfigs[0] workerConfig and additionalUserData are 16016 bytes; at most 15360 fit in EC2 user data"}},
		{"duplicate launch configs, defaults spelled out in one", func(m map[string]any) {
			dup := map[string]any{"region": "us-east-1", "capacityPerInstance": 1, "market": "on-demand", "utility": 1, "workerConfig": map[string]any{},
				"launchConfig": map[string]any{"InstanceType": "m5.large", "ImageId": "ami-1"}}
			m["launchConfigs"] = append(m["launchConfigs"].([]any), dup)
		}, ParseOptions{}, []string{"config.launchConfigs[1] duplicates config.launchConfigs[0]"}},
		{"schema and other problems at once", func(m map[string]any) {
			m["minCapacity"] = 9
			set(m, lc+"capacityPerInstance", 0)
			set(m, lc+"region", "mars-1")
		}, ParseOptions{}, []string{
			"config.launchConfigs[0].capacityPerInstance must be >= 1",
			"config.minCapacity must be <= maxCapacity",
			`config.launchConfigs[0].region "mars-1" is not a well-formed AWS region name`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := doc(t, minimalAWSConfigJSON)
			tt.edit(m)
			_, err := ParseConfig("aws", encode(t, m), tt.opts)
			if err == nil {
				t.Fatalf("ParseConfig accepted the config, want problems %q", tt.want)
			}
			if diff := cmp.Diff(problemsOf(t, err), tt.want); diff != "" {
				t.Errorf("problems (-got +want):\n%s", diff)
			}
		})
	}
}

func TestParseConfigProblems(t *testing.T) {
	tests := []struct {
		name, provider, config string
		want                   []string
	}{
		{"unknown provider", "gcp", `{}`, []string{`providerId "gcp" is not a known provider (known: aws, static, null-provider)`}},
		{"provider ids are not types", "null", `{}`, []string{`providerId "null" is not a known provider (known: aws, static, null-provider)`}},
		{"invalid JSON", "aws", `{"minCapacity":`, []string{"config is not valid JSON: unexpected EOF"}},
		{"aws config not an object", "aws", `[]`, []string{"config must be an object"}},
		{"aws config null", "aws", `null`, []string{"config.launchConfigs is required", "config.maxCapacity is required", "config.minCapacity is required"}},
		{"static with a member", "static", `{"minCapacity": 1}`, []string{"config.minCapacity is not allowed"}},
		{"static with a registrationTimeout", "static", `{"lifecycle": {"registrationTimeout": 60}}`, []string{"config.lifecycle.registrationTimeout is not allowed"}},
		{"static reregistrationTimeout zero", "static", `{"lifecycle": {"reregistrationTimeout": 0}}`, []string{"config.lifecycle.reregistrationTimeout must be >= 1"}},
		{"static config a string", "static", `"x"`, []string{"config must be an object"}},
		{"null-provider config an array", "null-provider", `[1]`, []string{"config must be an object"}},
		{"number out of range", "null-provider", `{"a": 1e999}`, []string{"config.a is not a finite number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(tt.provider, json.RawMessage(tt.config), ParseOptions{})
			if err == nil {
				t.Fatalf("ParseConfig accepted the config, want problems %q", tt.want)
			}
			if diff := cmp.Diff(problemsOf(t, err), tt.want); diff != "" {
				t.Errorf("problems (-got +want):\n%s", diff)
			}
		})
	}
}

// TestParseConfigAsWritten: JSON is the config exactly as written (whitespace aside),
// never with defaults, so a config-as-code tool comparing what it wrote with what a
// read returns sees no difference. v25 stored and returned configs as written too.
func TestParseConfigAsWritten(t *testing.T) {
	tests := []struct {
		name, provider, config, want string
	}{
		{"aws, no defaults added", "aws", minimalAWSConfigJSON,
			`{"minCapacity":0,"maxCapacity":5,"launchConfigs":[{"region":"us-east-1","capacityPerInstance":1,"launchConfig":{"ImageId":"ami-1","InstanceType":"m5.large"}}]}`},
		{"aws everything set, member order and number spellings kept", "aws", `{"maxCapacity": 50, "minCapacity": 2, "scalingRatio": 0.5,
			"lifecycle": {"registrationTimeout": 600, "reregistrationTimeout": 86400},
			"demand": {"source": "sqs", "queueUrl": "https://sqs.eu-central-1.amazonaws.com/123456789012/workerfleet-builds.fifo"},
			"launchConfigs": [{"region": "eu-central-1", "capacityPerInstance": 4, "utility": 2.5, "market": "on-demand", "maxPrice": 0.4,
				"launchConfig": {"SubnetId": "subnet-1", "InstanceType": "c5.2xlarge", "ImageId": "ami-9", "Placement": {"AvailabilityZone": "eu-central-1b"}},
				"workerConfig": {"b": 1.0, "a": "<x>"}, "additionalUserData": {"z": null}}]}`,
			`{"maxCapacity":50,"minCapacity":2,"scalingRatio":0.5,"lifecycle":{"registrationTimeout":600,"reregistrationTimeout":86400},` +
				`"demand":{"source":"sqs","queueUrl":"https://sqs.eu-central-1.amazonaws.com/123456789012/workerfleet-builds.fifo"},` +
				`"launchConfigs":[{"region":"eu-central-1","capacityPerInstance":4,"utility":2.5,"market":"on-demand","maxPrice":0.4,` +
				`"launchConfig":{"SubnetId":"subnet-1","InstanceType":"c5.2xlarge","ImageId":"ami-9","Placement":{"AvailabilityZone":"eu-central-1b"}},` +
				`"workerConfig":{"b":1.0,"a":"<x>"},"additionalUserData":{"z":null}}]}`},
		{"static empty", "static", `{}`, `{}`},
		{"static null", "static", `null`, `{}`},
		{"static nothing", "static", ``, `{}`},
		{"static lifecycle", "static", `{"lifecycle": {"reregistrationTimeout": 3600}}`, `{"lifecycle":{"reregistrationTimeout":3600}}`},
		{"null-provider keeps any object", "null-provider", `{"launchConfigs": "whatever", "b": [1.50, {"y": 1, "x": 2}]}`, `{"launchConfigs":"whatever","b":[1.50,{"y":1,"x":2}]}`},
		{"null-provider null", "null-provider", `null`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(tt.provider, json.RawMessage(tt.config), ParseOptions{})
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if got := string(cfg.JSON()); got != tt.want {
				t.Errorf("JSON() =\n%s\nwant\n%s", got, tt.want)
			}
			again, err := ParseConfig(tt.provider, cfg.JSON(), ParseOptions{})
			if err != nil {
				t.Fatalf("ParseConfig(JSON()): %v", err)
			}
			if got := string(again.JSON()); got != tt.want {
				t.Errorf("JSON() after a round trip =\n%s\nwant\n%s", got, tt.want)
			}
			if cfg.ProviderID != tt.provider {
				t.Errorf("ProviderID = %q, want %q", cfg.ProviderID, tt.provider)
			}
		})
	}
}

func TestParseConfigFromGoClient(t *testing.T) {
	// The official Go client sends "config": null when the caller leaves it unset.
	body := encode(t, tcworkermanager.WorkerPoolDefinition{ProviderID: "static", Owner: "o@example.com", Description: "d"})
	var def struct {
		ProviderID string          `json:"providerId"`
		Config     json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(body, &def); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if string(def.Config) != "null" {
		t.Fatalf("the Go client sent config %s, this test expects null", def.Config)
	}
	cfg, err := ParseConfig(def.ProviderID, def.Config, ParseOptions{})
	if err != nil {
		t.Fatalf("ParseConfig refused the Go client's null config: %v", err)
	}
	if cfg.Static == nil || cfg.ProviderType != "static" {
		t.Errorf("ParseConfig = %+v, want a static config", cfg)
	}
}

func TestConfigTypes(t *testing.T) {
	aws, err := ParseConfig("aws", json.RawMessage(minimalAWSConfigJSON), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if aws.AWS == nil || aws.Static != nil || aws.ProviderType != "aws" {
		t.Errorf("aws config = %+v, want only AWS set", aws)
	}
	static, err := ParseConfig("static", nil, ParseOptions{})
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if static.AWS != nil || static.Static == nil || static.ProviderType != "static" {
		t.Errorf("static config = %+v, want only Static set", static)
	}
	null, err := ParseConfig("null-provider", nil, ParseOptions{})
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	if null.AWS != nil || null.Static != nil || null.ProviderType != "null" {
		t.Errorf("null-provider config = %+v, want neither AWS nor Static", null)
	}
	if got := null.Options(); got != nil {
		t.Errorf("null-provider Options() = %v, want none", got)
	}
	if got := static.Options(); got != nil {
		t.Errorf("static Options() = %v, want none", got)
	}
	if got := string((Config{}).JSON()); got != "{}" {
		t.Errorf("zero Config JSON() = %s, want {}", got)
	}
}

func TestConfigSizing(t *testing.T) {
	tests := []struct {
		name, provider, config string
		want                   Sizing
	}{
		{"aws defaults", "aws", minimalAWSConfigJSON, Sizing{MaxCapacity: 5, PendingRatio: 1, HasPendingRatio: true,
			RegistrationTimeout: 30 * time.Minute, ReregistrationTimeout: 96 * time.Hour, QueueInactivityTimeout: 2 * time.Hour}},
		{"aws set", "aws", `{"minCapacity": 1, "maxCapacity": 9, "scalingRatio": 0.3, "lifecycle": {"registrationTimeout": 60, "reregistrationTimeout": 7200, "queueInactivityTimeout": 1800},
			"launchConfigs": [{"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-1", "InstanceType": "m5.large"}}]}`,
			Sizing{MinCapacity: 1, MaxCapacity: 9, PendingRatio: 0.3, HasPendingRatio: true, RegistrationTimeout: time.Minute,
				ReregistrationTimeout: 2 * time.Hour, QueueInactivityTimeout: 30 * time.Minute}},
		{"aws today's capacity defaults", "aws", `{"minCapacity": 0, "maxCapacity": 9, "scalingRatio": 0,
			"launchConfigs": [{"region": "us-east-1", "launchConfig": {"ImageId": "ami-1"}}]}`,
			Sizing{MaxCapacity: 9, HasPendingRatio: true, RegistrationTimeout: 30 * time.Minute, ReregistrationTimeout: 96 * time.Hour,
				QueueInactivityTimeout: 2 * time.Hour}},
		{"static default", "static", `{}`, Sizing{ReregistrationTimeout: 96 * time.Hour}},
		{"static set", "static", `{"lifecycle": {"reregistrationTimeout": 600}}`, Sizing{ReregistrationTimeout: 10 * time.Minute}},
		{"null-provider", "null-provider", `{"minCapacity": 4}`, Sizing{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig(tt.provider, json.RawMessage(tt.config), ParseOptions{})
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if got := cfg.Sizing(); got != tt.want {
				t.Errorf("Sizing() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

const twoLaunchConfigsJSON = `{"minCapacity": 0, "maxCapacity": 10, "launchConfigs": [
  {"region": "us-east-1", "capacityPerInstance": 2, "launchConfig": {"ImageId": "ami-1", "InstanceType": "m5.large", "Placement": {"AvailabilityZone": "us-east-1c", "Tenancy": "default"}},
   "workerConfig": {"w": 1}, "additionalUserData": {"a": 1}, "utility": 1.5, "maxPrice": 0.4, "market": "spot"},
  {"region": "us-west-2", "capacityPerInstance": 1, "market": "on-demand", "launchConfig": {"ImageId": "ami-2", "InstanceType": "c5.large"}}
]}`

func TestAWSConfigOptions(t *testing.T) {
	cfg, err := ParseConfig("aws", json.RawMessage(twoLaunchConfigsJSON), ParseOptions{})
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	opts := cfg.Options()
	if len(opts) != 2 {
		t.Fatalf("got %d options, want 2", len(opts))
	}
	want := []Option{
		{
			ID: "us-east-1/us-east-1c/m5.large/spot/" + cfg.AWS.LaunchConfigs[0].hash(), Region: "us-east-1", AvailabilityZone: "us-east-1c",
			InstanceType: "m5.large", ImageID: "ami-1", Capacity: 2, Utility: 1.5, Spot: true, MinPrice: 0, MaxPrice: 0.4,
			LaunchSpec:         json.RawMessage(`{"ImageId":"ami-1","InstanceType":"m5.large","Placement":{"AvailabilityZone":"us-east-1c","Tenancy":"default"}}`),
			WorkerConfig:       json.RawMessage(`{"w":1}`),
			AdditionalUserData: json.RawMessage(`{"a":1}`),
			LaunchConfigID:     LaunchConfigContentID(json.RawMessage(`{"region": "us-east-1", "capacityPerInstance": 2, "launchConfig": {"ImageId": "ami-1", "InstanceType": "m5.large", "Placement": {"AvailabilityZone": "us-east-1c", "Tenancy": "default"}}, "workerConfig": {"w": 1}, "additionalUserData": {"a": 1}, "utility": 1.5, "maxPrice": 0.4, "market": "spot"}`)),
		},
		{
			ID: "us-west-2/*/c5.large/on-demand/" + cfg.AWS.LaunchConfigs[1].hash(), Region: "us-west-2",
			InstanceType: "c5.large", ImageID: "ami-2", Capacity: 1, Utility: 1, Spot: false,
			LaunchSpec:         json.RawMessage(`{"ImageId":"ami-2","InstanceType":"c5.large"}`),
			WorkerConfig:       json.RawMessage(`{}`),
			AdditionalUserData: json.RawMessage(`{}`),
			LaunchConfigID:     "lc-7f06adafda5513cf8a85",
		},
	}
	if diff := cmp.Diff(opts, want); diff != "" {
		t.Errorf("options (-got +want):\n%s", diff)
	}
	for _, o := range opts {
		if n := len(o.ID[strings.LastIndex(o.ID, "/")+1:]); n != 8 {
			t.Errorf("option id %s ends in a %d-character hash, want 8", o.ID, n)
		}
	}
}

func TestAWSConfigOptionIDsStable(t *testing.T) {
	ids := func(t *testing.T, m map[string]any) map[string]string {
		t.Helper()
		cfg, err := ParseConfig("aws", encode(t, m), ParseOptions{})
		if err != nil {
			t.Fatalf("ParseConfig: %v", err)
		}
		out := map[string]string{}
		for _, o := range cfg.Options() {
			out[o.ImageID] = o.ID
		}
		return out
	}
	base := ids(t, doc(t, twoLaunchConfigsJSON))

	m := doc(t, twoLaunchConfigsJSON)
	lcs := m["launchConfigs"].([]any)
	lcs[0], lcs[1] = lcs[1], lcs[0]
	m["maxCapacity"] = 99
	m["launchConfigs"] = append(lcs, map[string]any{"region": "eu-central-1", "capacityPerInstance": 1, "launchConfig": map[string]any{"ImageId": "ami-3", "InstanceType": "m5.large"}})
	got := ids(t, m)
	for image, id := range base {
		if got[image] != id {
			t.Errorf("launch config %s: id %s after re-ordering and unrelated edits, want %s", image, got[image], id)
		}
	}

	m = doc(t, twoLaunchConfigsJSON)
	set(m, "launchConfigs.0.workerConfig.w", 2)
	got = ids(t, m)
	if got["ami-1"] == base["ami-1"] {
		t.Errorf("editing a launch config kept its option id %s", got["ami-1"])
	}
	if got["ami-2"] != base["ami-2"] {
		t.Errorf("editing another launch config changed option id %s to %s", base["ami-2"], got["ami-2"])
	}
}

func TestParseConfigAcceptsLaunchSpecValidator(t *testing.T) {
	var seen []string
	validate := func(spec json.RawMessage) error {
		seen = append(seen, string(spec))
		return nil
	}
	if _, err := ParseConfig("aws", json.RawMessage(twoLaunchConfigsJSON), ParseOptions{ValidateLaunchSpec: validate, AllowedRegions: []string{"us-east-1", "us-west-2"}}); err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	want := []string{
		`{"ImageId":"ami-1","InstanceType":"m5.large","Placement":{"AvailabilityZone":"us-east-1c","Tenancy":"default"}}`,
		`{"ImageId":"ami-2","InstanceType":"c5.large"}`,
	}
	if diff := cmp.Diff(seen, want); diff != "" {
		t.Errorf("launch specs given to the validator (-got +want):\n%s", diff)
	}
}

// TestV25LaunchConfigMeaning: a launch config means what it meant to v25's aws
// provider. InstanceMarketOptions {MarketType: spot} is spot and none is on-demand
// (v25 passed launchConfig to RunInstances as it was); the spot MaxPrice is the
// bound; RunInstances' default instance type is m1.small; capacityPerInstance may sit
// under workerManager as later Taskcluster versions write it; TagSpecifications and
// IamInstanceProfile stay in the launch spec the driver sends.
func TestV25LaunchConfigMeaning(t *testing.T) {
	tests := []struct {
		name, lc                   string
		spot                       bool
		maxPrice, capacity         float64
		instanceType, specContains string
	}{
		{"no InstanceMarketOptions: on-demand", `{"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-1", "InstanceType": "m5.large"}}`,
			false, 0, 1, "m5.large", ""},
		{"spot", `{"region": "us-east-1", "capacityPerInstance": 2, "launchConfig": {"ImageId": "ami-1", "InstanceType": "c5.4xlarge", "InstanceMarketOptions": {"MarketType": "spot"}}}`,
			true, 0, 2, "c5.4xlarge", `"InstanceMarketOptions":{"MarketType":"spot"}`},
		{"spot with a MaxPrice", `{"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-1", "InstanceType": "m5.large",
			"InstanceMarketOptions": {"MarketType": "spot", "SpotOptions": {"MaxPrice": "0.25", "SpotInstanceType": "one-time"}}}}`,
			true, 0.25, 1, "m5.large", `"SpotInstanceType":"one-time"`},
		{"no InstanceType: RunInstances' default", `{"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-1"}}`,
			false, 0, 1, "m1.small", ""},
		{"workerManager.capacityPerInstance (later Taskcluster)", `{"region": "us-east-1", "workerManager": {"capacityPerInstance": 4, "launchConfigId": "lc-1"},
			"launchConfig": {"ImageId": "ami-1", "InstanceType": "m5.large"}}`, false, 0, 4, "m5.large", ""},
		{"tags and an instance profile kept", `{"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-1", "InstanceType": "m5.large",
			"IamInstanceProfile": {"Arn": "arn:aws:iam::123456789012:instance-profile/worker"},
			"TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "ci"}]}]}}`,
			false, 0, 1, "m5.large", `"IamInstanceProfile":{"Arn":"arn:aws:iam::123456789012:instance-profile/worker"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := `{"minCapacity": 0, "maxCapacity": 4, "launchConfigs": [` + tt.lc + `]}`
			cfg, err := ParseConfig("aws", json.RawMessage(config), ParseOptions{})
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			o := cfg.Options()[0]
			if o.Spot != tt.spot || o.MaxPrice != tt.maxPrice || o.Capacity != tt.capacity || o.InstanceType != tt.instanceType {
				t.Errorf("option: spot %v, maxPrice %v, capacity %v, type %s; want %v, %v, %v, %s",
					o.Spot, o.MaxPrice, o.Capacity, o.InstanceType, tt.spot, tt.maxPrice, tt.capacity, tt.instanceType)
			}
			if !strings.Contains(string(o.LaunchSpec), tt.specContains) {
				t.Errorf("launch spec %s lacks %s", o.LaunchSpec, tt.specContains)
			}
		})
	}
}

func TestParseProviders(t *testing.T) {
	p, err := ParseProviders(`{"fxci-level3-aws": {"providerType": "aws"}, "community-tc-workers-aws": {"providerType": "aws"}, "static": {"providerType": "static"}}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []ProviderInfo{{"community-tc-workers-aws", "aws"}, {"fxci-level3-aws", "aws"}, {"static", "static"}, {"null-provider", "null"}}
	if diff := cmp.Diff(p.List(), want); diff != "" {
		t.Errorf("List (-got +want):\n%s", diff)
	}
	if _, err := ParseConfig("fxci-level3-aws", json.RawMessage(minimalAWSConfigJSON), ParseOptions{Providers: p}); err != nil {
		t.Errorf("a pool of a configured provider: %v", err)
	}
	_, err = ParseConfig("aws", json.RawMessage(minimalAWSConfigJSON), ParseOptions{Providers: p})
	if got := problemsOf(t, err); len(got) != 1 || got[0] != `providerId "aws" is not a known provider (known: community-tc-workers-aws, fxci-level3-aws, static, null-provider)` {
		t.Errorf("a provider the deployment lacks: %q", got)
	}
	for _, bad := range []struct{ setting, want string }{
		{`[]`, "PROVIDERS is not a JSON object"},
		{`null`, "must be a JSON object"},
		{`{"gcp": {"providerType": "google"}}`, `providerType "google" is not supported`},
		{`{"aws": {"providerType": "aws", "credentials": {"accessKeyId": "x"}}}`, `unknown field "credentials"`},
		{`{"null-provider": {"providerType": "aws"}}`, "always the null provider"},
		{`{"bad id!": {"providerType": "aws"}}`, "must be 1 to 38"},
		{`{"aws": {"providerType": "aws"}} {}`, "after the JSON object"},
	} {
		if _, err := ParseProviders(bad.setting); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseProviders(%s) = %v, want an error containing %q", bad.setting, err, bad.want)
		}
	}
	if p, err := ParseProviders(""); err != nil || len(p.List()) != 3 {
		t.Errorf("empty PROVIDERS: %v, %v; want the three defaults", p.List(), err)
	}
}

// TestLaunchConfigIDs: a launch config's id is its workerManager.launchConfigId, or
// one made from its content without workerManager, whatever the JSON's spelling;
// two launch configs of one pool may not share an id; today's read-back carries
// the ids.
func TestLaunchConfigIDs(t *testing.T) {
	lc := func(wm string, image string) string {
		return `{"region": "us-east-1", ` + wm + `"launchConfig": {"InstanceType": "m5.large", "ImageId": "` + image + `"}}`
	}
	parse := func(lcs ...string) (Config, error) {
		return ParseConfig("aws", json.RawMessage(`{"minCapacity": 0, "maxCapacity": 4, "launchConfigs": [`+strings.Join(lcs, ",")+`]}`), ParseOptions{})
	}
	a, err := parse(lc(`"workerManager": {"launchConfigId": "big-one", "maxCapacity": 2}, `, "ami-1"), lc("", "ami-2"))
	if err != nil {
		t.Fatal(err)
	}
	if a.AWS.LaunchConfigs[0].ID != "big-one" || !strings.HasPrefix(a.AWS.LaunchConfigs[1].ID, "lc-") || len(a.AWS.LaunchConfigs[1].ID) != 23 {
		t.Errorf("ids %q %q", a.AWS.LaunchConfigs[0].ID, a.AWS.LaunchConfigs[1].ID)
	}
	// The same content, spelled otherwise and with other workerManager settings: the same id.
	b, err := parse(`{"launchConfig": {"ImageId": "ami-2", "InstanceType": "m5.large"}, "region": "us-east-1", "workerManager": {"initialWeight": 0.5}}`)
	if err != nil {
		t.Fatal(err)
	}
	if b.AWS.LaunchConfigs[0].ID != a.AWS.LaunchConfigs[1].ID {
		t.Errorf("the same launch config got ids %q and %q", b.AWS.LaunchConfigs[0].ID, a.AWS.LaunchConfigs[1].ID)
	}
	if _, err := parse(lc(`"workerManager": {"launchConfigId": "x"}, `, "ami-1"), lc(`"workerManager": {"launchConfigId": "x"}, `, "ami-2")); err == nil ||
		!strings.Contains(err.Error(), `launchConfigId "x"`) {
		t.Errorf("two launch configs with one id: %v", err)
	}
	if _, err := parse(lc(`"workerManager": {"launchConfigId": "not valid!"}, `, "ami-1")); err == nil {
		t.Errorf("a malformed launchConfigId was accepted")
	}
	withIDs := string(a.WithLaunchConfigIDs())
	if !strings.Contains(withIDs, `"workerManager":{"launchConfigId":"big-one","maxCapacity":2}`) ||
		!strings.Contains(withIDs, `"workerManager":{"launchConfigId":"`+a.AWS.LaunchConfigs[1].ID+`"}`) {
		t.Errorf("read back with ids: %s", withIDs)
	}
	if back, err := ParseConfig("aws", json.RawMessage(withIDs), ParseOptions{}); err != nil || back.AWS.LaunchConfigs[1].ID != a.AWS.LaunchConfigs[1].ID {
		t.Errorf("the read-back config does not parse to the same ids: %v", err)
	}
}

// TestStoredConfigsSkipOnlyTheSchema: a definition read back from the store is not
// run through its JSON Schema again (it was when it was written), but the rules a
// schema cannot say still hold.
func TestStoredConfigsSkipOnlyTheSchema(t *testing.T) {
	lc := `{"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}}`
	schemaOnly := json.RawMessage(`{"minCapacity": 0, "maxCapacity": 5, "launchConfigs": [` + lc + `], "workerType": "x"}`)
	ruleBroken := json.RawMessage(`{"minCapacity": 6, "maxCapacity": 5, "launchConfigs": [` + lc + `]}`)
	for _, c := range []struct {
		name    string
		config  json.RawMessage
		stored  bool
		wantErr string
	}{
		{"a member the schema refuses, as written", schemaOnly, false, "config.workerType is not allowed"},
		{"the same, stored", schemaOnly, true, ""},
		{"minCapacity over maxCapacity, as written", ruleBroken, false, "config.minCapacity must be <= maxCapacity"},
		{"the same, stored", ruleBroken, true, "config.minCapacity must be <= maxCapacity"},
	} {
		_, err := ParseConfig("aws", c.config, ParseOptions{Stored: c.stored})
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v; want it parsed", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: %v; want %q", c.name, err, c.wantErr)
		}
	}
}
