package ec2

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// translate turns an error from the SDK into the driver's error: EC2 API errors
// become cloud's classes (cloud.ClassifyEC2Error), with the operation, region and
// request id as context; a cancelled context stays recognisable with errors.Is.
func translate(op, region string, err error) error {
	if err == nil {
		return nil
	}
	var apiErr smithy.APIError
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &apiErr) {
		return fmt.Errorf("ec2 %s in %s: %w", op, region, err)
	}
	classified := cloud.ClassifyEC2Error(apiErr.ErrorCode(), apiErr.ErrorMessage(), time.Now())
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) && respErr.ServiceRequestID() != "" {
		return fmt.Errorf("ec2 %s in %s (request %s): %w", op, region, respErr.ServiceRequestID(), classified)
	}
	return fmt.Errorf("ec2 %s in %s: %w", op, region, classified)
}

// regionError is the ConfigError for a region outside the configuration.
func regionError(region string, allowed []string) error {
	return cloud.ClassifyEC2Error("InvalidParameterValue",
		fmt.Sprintf("region %q is not among the driver's regions (%s)", region, strings.Join(allowed, ", ")), time.Now())
}

// newRetryer is the SDK's adaptive retry (client-side rate limiting that slows
// down on throttling), except that capacity, quota, price and config errors are
// not retried: EC2 answers some of them with HTTP 500, which the SDK would
// otherwise retry, and retrying them only spends the RunInstances request budget
// on an answer the caller must act on (another type or AZ, or none).
func newRetryer(maxAttempts int) aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			if maxAttempts > 0 {
				so.MaxAttempts = maxAttempts
			}
			so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(noRetryForClassified)}, so.Retryables...)
		})
	})
}

// noRetryForClassified says "do not retry" for an EC2 error in a class other than
// rate limit, and leaves every other error to the SDK's own rules.
func noRetryForClassified(err error) aws.Ternary {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return aws.UnknownTernary
	}
	code := apiErr.ErrorCode()
	if !cloud.IsClassifiedEC2Code(code) || cloud.IsRateLimitError(cloud.ClassifyEC2Error(code, "", time.Time{})) {
		return aws.UnknownTernary
	}
	return aws.FalseTernary
}
