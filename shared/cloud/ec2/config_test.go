package ec2_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-xray-sdk-go/v2/xray"
	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2"
)

func TestParseConfig(t *testing.T) {
	got, err := ec2.ParseConfig(json.RawMessage(`{"regions": ["us-east-1", "eu-central-1"], "endpoint": "http://127.0.0.1:5000", "maxAttempts": 5, "pageSize": 50}`))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	want := ec2.Config{Regions: []string{"us-east-1", "eu-central-1"}, Endpoint: "http://127.0.0.1:5000", MaxAttempts: 5, PageSize: 50}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("ParseConfig (-got +want):\n%s", diff)
	}
	for _, bad := range []string{
		``,
		`{}`,
		`{"regions": []}`,
		`{"regions": ["US East"]}`,
		`{"regions": ["us-east-1"], "maxAttempts": -1}`,
		`{"regions": ["us-east-1"], "pageSize": 4}`,
		`{"regions": ["us-east-1"], "pageSize": 1001}`,
		`{"regions": ["us-east-1"], "region": "us-east-1"}`,
		`{"regions": ["us-east-1"]} {}`,
	} {
		if _, err := ec2.ParseConfig(json.RawMessage(bad)); err == nil {
			t.Errorf("ParseConfig(%s) accepted", bad)
		}
	}
}

// TestOptionsDocumentEveryKey keeps the driver's help complete.
func TestOptionsDocumentEveryKey(t *testing.T) {
	var keys, documented []string
	ct := reflect.TypeOf(ec2.Config{})
	for i := range ct.NumField() {
		keys = append(keys, strings.Split(ct.Field(i).Tag.Get("json"), ",")[0])
	}
	for _, o := range ec2.Options() {
		documented = append(documented, o.Name)
		if o.Help == "" {
			t.Errorf("option %s has no help", o.Name)
		}
	}
	sort.Strings(keys)
	sort.Strings(documented)
	if diff := cmp.Diff(documented, keys); diff != "" {
		t.Errorf("documented options (-got +want):\n%s", diff)
	}
}

func TestRegisteredDriver(t *testing.T) {
	d, ok := cloud.Lookup("ec2")
	if !ok || d.Name != "Amazon EC2" || len(d.Options) != 4 {
		t.Fatalf("Lookup(ec2) = %+v, %v", d, ok)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	srv := newEC2Server(t, func(url.Values) (int, string) { return http.StatusOK, describeBody("") })
	set, err := cloud.New("ec2", json.RawMessage(`{"regions": ["us-east-1"], "endpoint": "`+srv.URL+`"}`), "set-1")
	if err != nil {
		t.Fatalf("cloud.New(ec2): %v", err)
	}
	if _, err := set.Instances(context.Background(), "us-east-1", nil); err != nil {
		t.Fatalf("Instances through the default credential chain: %v", err)
	}
	if auth := srv.headers[0].Get("Authorization"); !strings.Contains(auth, "Credential=testing/") || !strings.Contains(auth, "/us-east-1/ec2/") {
		t.Errorf("request signed with %q, want the environment's key for us-east-1", auth)
	}
	if _, err := cloud.New("ec2", json.RawMessage(`{"regions": []}`), "set-1"); err == nil {
		t.Errorf("cloud.New(ec2) with no regions succeeded")
	}
}

// TestXRayOnlyInLambda checks that calls carry an X-Ray trace header inside
// Lambda and not elsewhere.
func TestXRayOnlyInLambda(t *testing.T) {
	for _, inLambda := range []bool{false, true} {
		if inLambda {
			t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "provisioner")
		}
		srv := newEC2Server(t, func(url.Values) (int, string) { return http.StatusOK, describeBody("") })
		set := newSet(t, srv.URL, "set-1", nil)
		ctx, seg := xray.BeginSegment(context.Background(), "test")
		_ = seg
		if _, err := set.Instances(ctx, "us-east-1", nil); err != nil {
			t.Fatalf("Instances: %v", err)
		}
		if got := srv.headers[0].Get(xray.TraceIDHeaderKey) != ""; got != inLambda {
			t.Errorf("in Lambda %v: trace header sent = %v, want %v", inLambda, got, inLambda)
		}
	}
}

func TestBuildRunInstancesInputRefuses(t *testing.T) {
	ok := cloud.LaunchRequest{Region: "us-east-1", InstanceType: "m5.large", ImageID: "ami-1", Count: 1, ClientToken: "t"}
	if _, err := ec2.BuildRunInstancesInput("set-1", ok); err != nil {
		t.Fatalf("BuildRunInstancesInput(valid) = %v", err)
	}
	for name, change := range map[string]func(*cloud.LaunchRequest){
		"no token":       func(r *cloud.LaunchRequest) { r.ClientToken = "" },
		"invalid":        func(r *cloud.LaunchRequest) { r.Count = 0 },
		"bad spec":       func(r *cloud.LaunchRequest) { r.LaunchSpec = []byte(`{"Nope": 1}`) },
		"user data 16K+": func(r *cloud.LaunchRequest) { r.UserData = make([]byte, 16385) },
	} {
		req := ok
		change(&req)
		if _, err := ec2.BuildRunInstancesInput("set-1", req); !cloud.IsConfigError(err) {
			t.Errorf("%s: BuildRunInstancesInput = %v, want a ConfigError", name, err)
		}
	}
}

func TestApproxOnDemandPrice(t *testing.T) {
	for _, tc := range []struct {
		region, typ string
		want        float64
		ok          bool
	}{
		{"us-east-1", "m5.large", 0.096, true},
		{"us-west-2", "m5.large", 0.096, true},
		{"eu-central-1", "m5.large", 0.115008, true},
		{"ap-nowhere-9", "t3.micro", 0.0104, true},
		{"us-east-1", "p3.2xlarge", 3.06, true},
		{"us-east-1", "zz9.huge", 0, false},
	} {
		got, ok := ec2.ApproxOnDemandPrice(tc.region, tc.typ)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ApproxOnDemandPrice(%s, %s) = %v, %v; want %v, %v", tc.region, tc.typ, got, ok, tc.want, tc.ok)
		}
	}
}
