package ec2_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2"
	"github.com/workerfleet/workerfleet/shared/dev/cloudtest"
)

var launchReq = cloud.LaunchRequest{Region: "us-east-1", InstanceType: "m5.large", ImageID: "ami-1", Count: 1}

// TestErrorClasses serves every error of the shared table as EC2 does (XML body,
// HTTP status) and checks the class the driver gives it through the real SDK.
func TestErrorClasses(t *testing.T) {
	for _, tc := range cloudtest.ErrorCases {
		t.Run(tc.Code, func(t *testing.T) {
			srv := newEC2Server(t, func(url.Values) (int, string) {
				return tc.Status, errorBody(tc.Code, "message for "+tc.Code)
			})
			set := newSet(t, srv.URL, "set-1", nil)
			before := time.Now()
			_, err := set.Launch(context.Background(), launchReq)
			if err == nil {
				t.Fatalf("Launch succeeded, want %s", tc.Code)
			}
			if diff := cmp.Diff(cloudtest.ClassOf(err), tc.Expected()); diff != "" {
				t.Errorf("class of %s (-got +want):\n%s", tc.Code, diff)
			}
			for _, part := range []string{"RunInstances", "us-east-1", "req-0001", tc.Code, "message for " + tc.Code} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not mention %q", err, part)
				}
			}
			if at, ok := cloud.EarliestRetry(err); ok {
				if at.Before(before.Add(cloud.RateLimitBackoff)) || at.After(time.Now().Add(cloud.RateLimitBackoff)) {
					t.Errorf("EarliestRetry %v, want about now + %v", at, cloud.RateLimitBackoff)
				}
			}
		})
	}
	// Every call translates its errors, not only RunInstances.
	srv := newEC2Server(t, func(url.Values) (int, string) {
		return http.StatusServiceUnavailable, errorBody("RequestLimitExceeded", "Request limit exceeded.")
	})
	set := newSet(t, srv.URL, "set-1", nil)
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"Instances":  func() error { _, err := set.Instances(ctx, "us-east-1", nil); return err },
		"Terminate":  func() error { return set.Terminate(ctx, "us-east-1", []string{"i-1"}) },
		"SpotPrices": func() error { _, err := set.SpotPrices(ctx, "us-east-1", []string{"m5.large"}); return err },
	} {
		if err := call(); !cloud.IsRateLimitError(err) {
			t.Errorf("%s throttled = %v, want a RateLimitError", name, err)
		}
	}
}

// TestSDKThrottleCodesAreRateLimits keeps the classification in step with the
// SDK: every code the SDK treats as throttling is a RateLimitError.
func TestSDKThrottleCodesAreRateLimits(t *testing.T) {
	for code := range retry.DefaultThrottleErrorCodes {
		if err := cloud.ClassifyEC2Error(code, "", time.Now()); !cloud.IsRateLimitError(err) {
			t.Errorf("the SDK's throttle code %s is %v, not a RateLimitError", code, err)
		}
	}
}

// TestRetries checks which errors the SDK retries: throttles and unclassified
// server errors are, capacity (which EC2 answers with HTTP 500), quota, price
// and config errors are not.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		code   string
		status int
		want   int
	}{
		{"RequestLimitExceeded", http.StatusServiceUnavailable, 3},
		{"InternalError", http.StatusInternalServerError, 3},
		{"InsufficientInstanceCapacity", http.StatusInternalServerError, 1},
		{"InsufficientAddressCapacity", http.StatusInternalServerError, 1},
		{"VcpuLimitExceeded", http.StatusBadRequest, 1},
		{"InvalidAMIID.NotFound", http.StatusBadRequest, 1},
	} {
		t.Run(tc.code, func(t *testing.T) {
			var calls atomic.Int32
			srv := newEC2Server(t, func(url.Values) (int, string) {
				calls.Add(1)
				return tc.status, errorBody(tc.code, "m")
			})
			set := newSet(t, srv.URL, "set-1", func(c *ec2.Config) { c.MaxAttempts = 3 })
			_, err := set.Launch(context.Background(), launchReq)
			if cloud.ErrorCode(err) != tc.code {
				t.Fatalf("Launch = %v, want %s", err, tc.code)
			}
			if got := int(calls.Load()); got != tc.want {
				t.Errorf("%s: %d attempts with maxAttempts 3, want %d", tc.code, got, tc.want)
			}
		})
	}
}

func TestContextCancelled(t *testing.T) {
	srv := newEC2Server(t, func(url.Values) (int, string) { return http.StatusOK, describeBody("") })
	set := newSet(t, srv.URL, "set-1", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := set.Instances(ctx, "us-east-1", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Instances(cancelled) = %v, want context.Canceled", err)
	}
}
