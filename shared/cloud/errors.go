package cloud

import (
	"errors"
	"strings"
	"time"
)

// Errors are behaviours, not types: test them with errors.As against these
// interfaces, or with the IsXxx helpers below. Every error ClassifyEC2Error returns
// also has a Code() string method (see CodedError) giving the EC2 error code.

// CodedError is an error carrying an EC2 error code.
type CodedError interface {
	error
	// Code returns the EC2 error code, such as "InsufficientInstanceCapacity".
	Code() string
}

// CapacityError means the cloud has no capacity for the request right now: wait
// before launching the same thing again, or try another type or AZ.
type CapacityError interface {
	error
	IsCapacityError() bool
	// IsInstanceTypeSpecific reports that the condition concerns the requested
	// instance type: other types may still launch.
	IsInstanceTypeSpecific() bool
	// IsAvailabilityZoneSpecific reports that the condition concerns the AZ the
	// launch went to: other AZs may still have capacity.
	IsAvailabilityZoneSpecific() bool
}

// QuotaError means an account limit is reached: launch nothing more in the
// instance's quota group (QuotaGroup) until instances go away or the limit rises.
type QuotaError interface {
	error
	IsQuotaError() bool
}

// RateLimitError means the call was throttled: make no call of the kind before
// EarliestRetry.
type RateLimitError interface {
	error
	EarliestRetry() time.Time
}

// PriceError means the spot price is above the launch's MaxPrice.
type PriceError interface {
	error
	IsPriceError() bool
}

// ConfigError means the request is invalid in a way retrying cannot fix (a bad
// parameter, a missing image or subnet, a refused permission). It is permanent:
// upstream it becomes an error of the worker pool and is never retried.
type ConfigError interface {
	error
	IsConfigError() bool
}

// RateLimitBackoff is how long after a throttled call its RateLimitError's
// EarliestRetry lies. The EC2 driver's SDK has already retried with adaptive
// backoff before the error surfaces, so the region's token bucket (RunInstances:
// a burst of 5, refilled at 2 per second) is drained; a few seconds lets it refill.
const RateLimitBackoff = 5 * time.Second

// apiError is an EC2 error that is none of the classes: transient or unknown.
type apiError struct {
	code    string
	message string
}

func (e *apiError) Error() string {
	if e.message == "" {
		return e.code
	}
	return e.code + ": " + e.message
}

func (e *apiError) Code() string { return e.code }

type capacityError struct {
	apiError
	typeSpecific bool
	azSpecific   bool
}

func (*capacityError) IsCapacityError() bool              { return true }
func (e *capacityError) IsInstanceTypeSpecific() bool     { return e.typeSpecific }
func (e *capacityError) IsAvailabilityZoneSpecific() bool { return e.azSpecific }

type quotaError struct{ apiError }

func (*quotaError) IsQuotaError() bool { return true }

type rateLimitError struct {
	apiError
	retryAt time.Time
}

func (e *rateLimitError) EarliestRetry() time.Time { return e.retryAt }

type priceError struct{ apiError }

func (*priceError) IsPriceError() bool { return true }

type configError struct{ apiError }

func (*configError) IsConfigError() bool { return true }

// capacityCodes maps capacity codes to (type specific, AZ specific).
var capacityCodes = map[string][2]bool{
	// No capacity of this type in this AZ now.
	"InsufficientInstanceCapacity": {true, true},
	// "Your requested instance type is not supported in your requested AZ", or
	// "the requested configuration is currently not supported": not here, not now.
	"Unsupported": {true, true},
	// The subnet (and so the AZ) has run out of private addresses.
	"InsufficientFreeAddressesInSubnet": {false, true},
	// EC2 cannot fulfil the request now, for this type and AZ.
	"UnfulfillableCapacity": {true, true},
	// Dedicated hosts and reserved capacity of this type in this AZ.
	"InsufficientHostCapacity":             {true, true},
	"InsufficientReservedInstanceCapacity": {true, true},
	// Generic: the AZ is short of capacity.
	"InsufficientCapacity": {false, true},
}

var quotaCodes = map[string]bool{
	"InstanceLimitExceeded":            true,
	"VcpuLimitExceeded":                true,
	"MaxSpotInstanceCountExceeded":     true,
	"InsufficientAddressCapacity":      true,
	"MaxSpotFleetRequestCountExceeded": true,
}

// rateLimitCodes are EC2's throttle code and the SDK's throttle codes.
var rateLimitCodes = map[string]bool{
	"RequestLimitExceeded":                   true,
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottled":                       true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"SlowDown":                               true,
	"EC2ThrottledException":                  true,
	"BandwidthLimitExceeded":                 true,
	"LimitExceededException":                 true,
	"PriorRequestNotComplete":                true,
	"ProvisionedThroughputExceededException": true,
	"TransactionInProgressException":         true,
}

var priceCodes = map[string]bool{
	"SpotMaxPriceTooLow": true,
}

var configCodes = map[string]bool{
	"InvalidParameterCombination":      true,
	"InvalidParameterValue":            true,
	"InvalidParameter":                 true,
	"MissingParameter":                 true,
	"UnknownParameter":                 true,
	"InvalidInstanceType":              true,
	"InvalidGroup.NotFound":            true,
	"InvalidKeyPair.NotFound":          true,
	"InvalidBlockDeviceMapping":        true,
	"InvalidUserData.Malformed":        true,
	"IdempotentParameterMismatch":      true,
	"UnauthorizedOperation":            true,
	"OptInRequired":                    true,
	"InvalidPlacementGroup.Unknown":    true,
	"InvalidSecurityGroupID.NotFound":  true,
	"InvalidSecurityGroupID.Malformed": true,
}

// configPrefixes are families of config codes: InvalidAMIID.NotFound,
// InvalidAMIID.Malformed, InvalidSubnetID.NotFound, ...
var configPrefixes = []string{"InvalidAMIID.", "InvalidSubnetID.", "InvalidIamInstanceProfile."}

// ClassifyEC2Error turns an EC2 error code and message into an error of the right
// class. It is the one classification both the EC2 driver (for the SDK's errors)
// and the fake cloud (for the errors it simulates) use, so they cannot drift.
// now is the time the error arrived; a RateLimitError's EarliestRetry is
// now + RateLimitBackoff.
//
//   - CapacityError: InsufficientInstanceCapacity, Unsupported,
//     InsufficientFreeAddressesInSubnet, UnfulfillableCapacity,
//     InsufficientCapacity and InsufficientHostCapacity / ReservedInstanceCapacity.
//   - QuotaError: InstanceLimitExceeded, VcpuLimitExceeded,
//     MaxSpotInstanceCountExceeded, MaxSpotFleetRequestCountExceeded,
//     InsufficientAddressCapacity.
//   - RateLimitError: RequestLimitExceeded and the AWS SDK's throttle codes
//     (Throttling, ThrottlingException, RequestThrottled, SlowDown, ...).
//   - PriceError: SpotMaxPriceTooLow.
//   - ConfigError: InvalidParameterCombination, InvalidParameterValue,
//     InvalidParameter, MissingParameter, UnknownParameter, InvalidInstanceType,
//     InvalidAMIID.*, InvalidSubnetID.*, InvalidIamInstanceProfile.*,
//     InvalidGroup.NotFound, InvalidSecurityGroupID.*, InvalidKeyPair.NotFound,
//     InvalidBlockDeviceMapping, InvalidUserData.Malformed,
//     InvalidPlacementGroup.Unknown, IdempotentParameterMismatch,
//     UnauthorizedOperation, OptInRequired.
//   - Anything else (InternalError, Unavailable, AuthFailure, ...) is returned as
//     an unclassified error that still has Code().
//
// The legacy "Client." and "Server." prefixes on a code are ignored.
func ClassifyEC2Error(code, message string, now time.Time) error {
	code = strings.TrimPrefix(strings.TrimPrefix(code, "Client."), "Server.")
	base := apiError{code: code, message: message}
	if spec, ok := capacityCodes[code]; ok {
		return &capacityError{apiError: base, typeSpecific: spec[0], azSpecific: spec[1]}
	}
	switch {
	case quotaCodes[code]:
		return &quotaError{base}
	case rateLimitCodes[code]:
		return &rateLimitError{apiError: base, retryAt: now.Add(RateLimitBackoff)}
	case priceCodes[code]:
		return &priceError{base}
	case configCodes[code]:
		return &configError{base}
	}
	for _, p := range configPrefixes {
		if strings.HasPrefix(code, p) {
			return &configError{base}
		}
	}
	return &base
}

// IsClassifiedEC2Code reports whether ClassifyEC2Error puts code in one of the
// classes (capacity, quota, rate limit, price, config).
func IsClassifiedEC2Code(code string) bool {
	var e *apiError
	return !errors.As(ClassifyEC2Error(code, "", time.Time{}), &e)
}

// IsCapacityError reports whether err (or one it wraps) is a CapacityError.
func IsCapacityError(err error) bool {
	var e CapacityError
	return errors.As(err, &e) && e.IsCapacityError()
}

// IsInstanceTypeSpecific reports whether err is a CapacityError that concerns the
// requested instance type only.
func IsInstanceTypeSpecific(err error) bool {
	var e CapacityError
	return errors.As(err, &e) && e.IsCapacityError() && e.IsInstanceTypeSpecific()
}

// IsAvailabilityZoneSpecific reports whether err is a CapacityError that concerns
// the AZ the launch went to only.
func IsAvailabilityZoneSpecific(err error) bool {
	var e CapacityError
	return errors.As(err, &e) && e.IsCapacityError() && e.IsAvailabilityZoneSpecific()
}

// IsQuotaError reports whether err (or one it wraps) is a QuotaError.
func IsQuotaError(err error) bool {
	var e QuotaError
	return errors.As(err, &e) && e.IsQuotaError()
}

// IsRateLimitError reports whether err (or one it wraps) is a RateLimitError.
func IsRateLimitError(err error) bool {
	var e RateLimitError
	return errors.As(err, &e)
}

// EarliestRetry returns the EarliestRetry of a RateLimitError in err's chain, and
// false when there is none.
func EarliestRetry(err error) (time.Time, bool) {
	var e RateLimitError
	if !errors.As(err, &e) {
		return time.Time{}, false
	}
	return e.EarliestRetry(), true
}

// IsPriceError reports whether err (or one it wraps) is a PriceError.
func IsPriceError(err error) bool {
	var e PriceError
	return errors.As(err, &e) && e.IsPriceError()
}

// IsConfigError reports whether err (or one it wraps) is a ConfigError.
func IsConfigError(err error) bool {
	var e ConfigError
	return errors.As(err, &e) && e.IsConfigError()
}

// ErrorCode returns the EC2 error code of the CodedError in err's chain, or "".
func ErrorCode(err error) string {
	var e CodedError
	if !errors.As(err, &e) {
		return ""
	}
	return e.Code()
}
