package cloud_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/cloudtest"
)

func TestClassifyEC2Error(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range cloudtest.ErrorCases {
		t.Run(tc.Code, func(t *testing.T) {
			// Wrapped, as drivers return them: classes must survive wrapping.
			err := fmt.Errorf("launch: %w", cloud.ClassifyEC2Error(tc.Code, "the message", now))
			if diff := cmp.Diff(cloudtest.ClassOf(err), tc.Expected()); diff != "" {
				t.Errorf("class of %s (-got +want):\n%s", tc.Code, diff)
			}
			if got, want := err.Error(), "launch: "+tc.Code+": the message"; got != want {
				t.Errorf("message = %q, want %q", got, want)
			}
			if got, want := cloud.IsClassifiedEC2Code(tc.Code), tc.Want != (cloudtest.ErrorClass{}); got != want {
				t.Errorf("IsClassifiedEC2Code(%s) = %v, want %v", tc.Code, got, want)
			}
		})
	}
}

func TestClassifyEC2ErrorDetails(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	err := cloud.ClassifyEC2Error("RequestLimitExceeded", "Request limit exceeded.", now)
	var rl cloud.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("errors.As(%v, RateLimitError) = false, want true", err)
	}
	if got, want := rl.EarliestRetry(), now.Add(cloud.RateLimitBackoff); !got.Equal(want) {
		t.Errorf("EarliestRetry = %v, want %v", got, want)
	}
	if got, ok := cloud.EarliestRetry(fmt.Errorf("wrapped: %w", err)); !ok || !got.Equal(now.Add(cloud.RateLimitBackoff)) {
		t.Errorf("EarliestRetry(wrapped) = %v, %v; want %v, true", got, ok, now.Add(cloud.RateLimitBackoff))
	}
	if _, ok := cloud.EarliestRetry(errors.New("plain")); ok {
		t.Errorf("EarliestRetry(plain error) reported a rate limit")
	}

	// The legacy Client./Server. prefixes are dropped.
	for code, want := range map[string]string{
		"Client.UnauthorizedOperation":        "UnauthorizedOperation",
		"Server.InsufficientInstanceCapacity": "InsufficientInstanceCapacity",
	} {
		err := cloud.ClassifyEC2Error(code, "", now)
		if got := cloud.ErrorCode(err); got != want {
			t.Errorf("ErrorCode(%s) = %q, want %q", code, got, want)
		}
		if !cloud.IsClassifiedEC2Code(want) {
			t.Errorf("%s unclassified", want)
		}
	}

	// An error without a message is just its code.
	if got := cloud.ClassifyEC2Error("InternalError", "", now).Error(); got != "InternalError" {
		t.Errorf("Error() = %q, want InternalError", got)
	}
	// Plain errors belong to no class.
	if diff := cmp.Diff(cloudtest.ClassOf(errors.New("boom")), cloudtest.ErrorClass{}); diff != "" {
		t.Errorf("class of a plain error (-got +want):\n%s", diff)
	}
}
