package cloud_test

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

func validRequest() cloud.LaunchRequest {
	return cloud.LaunchRequest{
		Region: "us-east-1", InstanceType: "m5.large", ImageID: "ami-0123", Count: 1,
		Tags: map[string]string{cloud.TagPool: "p"},
	}
}

func TestValidateLaunchRequest(t *testing.T) {
	tests := []struct {
		name     string
		change   func(*cloud.LaunchRequest)
		wantCode string // "" = valid
	}{
		{"valid", func(*cloud.LaunchRequest) {}, ""},
		{"spot with max price", func(r *cloud.LaunchRequest) { r.Spot, r.MaxPrice = true, 0.05 }, ""},
		{"user data at the limit", func(r *cloud.LaunchRequest) { r.UserData = make([]byte, cloud.MaxUserDataBytes) }, ""},
		{"client token at the limit", func(r *cloud.LaunchRequest) { r.ClientToken = strings.Repeat("a", 64) }, ""},
		{"48 caller tags", func(r *cloud.LaunchRequest) {
			for i := range 47 {
				r.Tags[strings.Repeat("k", i+1)] = "v"
			}
		}, ""},
		{"count at the limit", func(r *cloud.LaunchRequest) { r.Count = cloud.MaxLaunchCount }, ""},
		{"no region", func(r *cloud.LaunchRequest) { r.Region = "" }, "MissingParameter"},
		{"no type", func(r *cloud.LaunchRequest) { r.InstanceType = "" }, "MissingParameter"},
		{"no image", func(r *cloud.LaunchRequest) { r.ImageID = "" }, "MissingParameter"},
		{"count 0", func(r *cloud.LaunchRequest) { r.Count = 0 }, "InvalidParameterValue"},
		{"count over the limit", func(r *cloud.LaunchRequest) { r.Count = cloud.MaxLaunchCount + 1 }, "InvalidParameterValue"},
		{"user data over the limit", func(r *cloud.LaunchRequest) { r.UserData = make([]byte, cloud.MaxUserDataBytes+1) }, "InvalidParameterValue"},
		{"client token too long", func(r *cloud.LaunchRequest) { r.ClientToken = strings.Repeat("a", 65) }, "InvalidParameterValue"},
		{"client token not ASCII", func(r *cloud.LaunchRequest) { r.ClientToken = "tökén" }, "InvalidParameterValue"},
		{"client token with a newline", func(r *cloud.LaunchRequest) { r.ClientToken = "a\nb" }, "InvalidParameterValue"},
		{"negative max price", func(r *cloud.LaunchRequest) { r.Spot, r.MaxPrice = true, -0.1 }, "InvalidParameterValue"},
		{"NaN max price", func(r *cloud.LaunchRequest) { r.Spot, r.MaxPrice = true, math.NaN() }, "InvalidParameterValue"},
		{"max price on demand", func(r *cloud.LaunchRequest) { r.MaxPrice = 0.1 }, "InvalidParameterCombination"},
		{"49 caller tags", func(r *cloud.LaunchRequest) {
			for i := range 48 {
				r.Tags[strings.Repeat("k", i+1)] = "v"
			}
		}, "InvalidParameterValue"},
		{"set id tag", func(r *cloud.LaunchRequest) { r.Tags[cloud.TagInstanceSet] = "x" }, "InvalidParameterValue"},
		{"launch tag", func(r *cloud.LaunchRequest) { r.Tags[cloud.TagLaunch] = "x" }, "InvalidParameterValue"},
		{"aws: tag", func(r *cloud.LaunchRequest) { r.Tags["AWS:thing"] = "x" }, "InvalidParameterValue"},
		{"empty tag key", func(r *cloud.LaunchRequest) { r.Tags[""] = "x" }, "InvalidParameterValue"},
		{"long tag key", func(r *cloud.LaunchRequest) { r.Tags[strings.Repeat("k", 129)] = "x" }, "InvalidParameterValue"},
		{"long tag value", func(r *cloud.LaunchRequest) { r.Tags["k"] = strings.Repeat("v", 257) }, "InvalidParameterValue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := validRequest()
			tc.change(&req)
			err := cloud.ValidateLaunchRequest(req)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("ValidateLaunchRequest = %v, want nil", err)
				}
				return
			}
			if !cloud.IsConfigError(err) || cloud.ErrorCode(err) != tc.wantCode {
				t.Fatalf("ValidateLaunchRequest = %v, want a ConfigError with code %s", err, tc.wantCode)
			}
		})
	}
}

func TestLaunchTagsAndListFilter(t *testing.T) {
	caller := map[string]string{cloud.TagPool: "p", "team": "ci"}
	got := cloud.LaunchTags("set-1", caller, "tok")
	want := map[string]string{cloud.TagPool: "p", "team": "ci", cloud.TagInstanceSet: "set-1", cloud.TagLaunch: "tok"}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("LaunchTags (-got +want):\n%s", diff)
	}
	if _, ok := caller[cloud.TagInstanceSet]; ok {
		t.Errorf("LaunchTags changed the caller's map")
	}

	for _, tc := range []struct {
		name   string
		tags   map[string]string
		want   map[string]string
		wantOK bool
	}{
		{"nil", nil, map[string]string{cloud.TagInstanceSet: "set-1"}, true},
		{"pool", map[string]string{cloud.TagPool: "p"}, map[string]string{cloud.TagPool: "p", cloud.TagInstanceSet: "set-1"}, true},
		{"own id", map[string]string{cloud.TagInstanceSet: "set-1"}, map[string]string{cloud.TagInstanceSet: "set-1"}, true},
		{"other id", map[string]string{cloud.TagInstanceSet: "set-2"}, nil, false},
	} {
		got, ok := cloud.ListFilter("set-1", tc.tags)
		if ok != tc.wantOK {
			t.Errorf("ListFilter(%s) ok = %v, want %v", tc.name, ok, tc.wantOK)
		}
		if diff := cmp.Diff(got, tc.want); diff != "" {
			t.Errorf("ListFilter(%s) (-got +want):\n%s", tc.name, diff)
		}
	}

	have := map[string]string{"a": "1", "b": "2"}
	for _, tc := range []struct {
		want map[string]string
		ok   bool
	}{
		{nil, true},
		{map[string]string{"a": "1"}, true},
		{map[string]string{"a": "1", "b": "2"}, true},
		{map[string]string{"a": "2"}, false},
		{map[string]string{"c": ""}, false},
	} {
		if got := cloud.HasTags(have, tc.want); got != tc.ok {
			t.Errorf("HasTags(%v, %v) = %v, want %v", have, tc.want, got, tc.ok)
		}
	}
}

func TestQuotaGroup(t *testing.T) {
	for _, tc := range []struct{ typ, want string }{
		{"t3.micro", "standard"}, {"a1.large", "standard"}, {"c5.xlarge", "standard"}, {"c7gn.large", "standard"},
		{"d3.xlarge", "standard"}, {"h1.2xlarge", "standard"}, {"i3en.large", "standard"}, {"im4gn.large", "standard"},
		{"is4gen.large", "standard"}, {"m5.large", "standard"}, {"M5.LARGE", "standard"}, {"r6g.medium", "standard"},
		{"z1d.large", "standard"},
		{"g4dn.xlarge", "g"}, {"g5g.xlarge", "g"}, {"gr6.4xlarge", "g"}, {"vt1.3xlarge", "g"},
		{"p3.2xlarge", "p"}, {"p4d.24xlarge", "p"}, {"f1.2xlarge", "f"}, {"x1e.xlarge", "x"}, {"x2gd.medium", "x"},
		{"u-6tb1.metal", "u"}, {"inf1.xlarge", "inf"}, {"inf2.xlarge", "inf"}, {"dl1.24xlarge", "dl"},
		{"trn1.2xlarge", "trn"}, {"hpc6a.48xlarge", "hpc"}, {"mac1.metal", "mac"}, {"mac2-m2.metal", "mac"},
		{"", ""}, {"42.large", ""},
	} {
		if got := cloud.QuotaGroup(tc.typ); got != tc.want {
			t.Errorf("QuotaGroup(%q) = %q, want %q", tc.typ, got, tc.want)
		}
	}
}
