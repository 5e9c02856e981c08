package cloudtest

import (
	"net/http"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// ErrorClass is what the cloud package's helpers say about an error, for
// comparing errors with cmp.Diff.
type ErrorClass struct {
	Code         string
	Capacity     bool
	TypeSpecific bool
	AZSpecific   bool
	Quota        bool
	RateLimit    bool
	Price        bool
	Config       bool
}

// ClassOf returns what the cloud package's helpers say about err.
func ClassOf(err error) ErrorClass {
	_, rateLimited := cloud.EarliestRetry(err)
	return ErrorClass{
		Code:         cloud.ErrorCode(err),
		Capacity:     cloud.IsCapacityError(err),
		TypeSpecific: cloud.IsInstanceTypeSpecific(err),
		AZSpecific:   cloud.IsAvailabilityZoneSpecific(err),
		Quota:        cloud.IsQuotaError(err),
		RateLimit:    cloud.IsRateLimitError(err) && rateLimited,
		Price:        cloud.IsPriceError(err),
		Config:       cloud.IsConfigError(err),
	}
}

// ErrorCase is an EC2 error as EC2 sends it (code and HTTP status) and the class
// it must get, written out by hand from EC2's documentation: the EC2 driver's
// tests serve each one from an HTTP server speaking EC2's protocol, the fake's
// tests inject each one, and both must classify it as Want.
type ErrorCase struct {
	Code   string
	Status int
	Want   ErrorClass
}

// ErrorCases covers every code the classification names, and a few it leaves
// unclassified.
var ErrorCases = []ErrorCase{
	{"InsufficientInstanceCapacity", http.StatusInternalServerError, ErrorClass{Capacity: true, TypeSpecific: true, AZSpecific: true}},
	{"Unsupported", http.StatusBadRequest, ErrorClass{Capacity: true, TypeSpecific: true, AZSpecific: true}},
	{"InsufficientFreeAddressesInSubnet", http.StatusBadRequest, ErrorClass{Capacity: true, AZSpecific: true}},
	{"UnfulfillableCapacity", http.StatusBadRequest, ErrorClass{Capacity: true, TypeSpecific: true, AZSpecific: true}},
	{"InsufficientCapacity", http.StatusInternalServerError, ErrorClass{Capacity: true, AZSpecific: true}},
	{"InsufficientHostCapacity", http.StatusInternalServerError, ErrorClass{Capacity: true, TypeSpecific: true, AZSpecific: true}},
	{"InsufficientReservedInstanceCapacity", http.StatusInternalServerError, ErrorClass{Capacity: true, TypeSpecific: true, AZSpecific: true}},

	{"InstanceLimitExceeded", http.StatusBadRequest, ErrorClass{Quota: true}},
	{"VcpuLimitExceeded", http.StatusBadRequest, ErrorClass{Quota: true}},
	{"MaxSpotInstanceCountExceeded", http.StatusBadRequest, ErrorClass{Quota: true}},
	{"InsufficientAddressCapacity", http.StatusInternalServerError, ErrorClass{Quota: true}},

	{"RequestLimitExceeded", http.StatusServiceUnavailable, ErrorClass{RateLimit: true}},
	{"Throttling", http.StatusBadRequest, ErrorClass{RateLimit: true}},
	{"ThrottlingException", http.StatusBadRequest, ErrorClass{RateLimit: true}},
	{"RequestThrottled", http.StatusServiceUnavailable, ErrorClass{RateLimit: true}},
	{"SlowDown", http.StatusServiceUnavailable, ErrorClass{RateLimit: true}},
	{"EC2ThrottledException", http.StatusBadRequest, ErrorClass{RateLimit: true}},

	{"SpotMaxPriceTooLow", http.StatusBadRequest, ErrorClass{Price: true}},

	{"InvalidParameterCombination", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidParameterValue", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidParameter", http.StatusBadRequest, ErrorClass{Config: true}},
	{"MissingParameter", http.StatusBadRequest, ErrorClass{Config: true}},
	{"UnknownParameter", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidAMIID.NotFound", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidAMIID.Malformed", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidAMIID.Unavailable", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidSubnetID.NotFound", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidSubnetID.Malformed", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidGroup.NotFound", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidSecurityGroupID.NotFound", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidKeyPair.NotFound", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidInstanceType", http.StatusBadRequest, ErrorClass{Config: true}},
	{"InvalidIamInstanceProfile.NotFound", http.StatusBadRequest, ErrorClass{Config: true}},
	{"IdempotentParameterMismatch", http.StatusBadRequest, ErrorClass{Config: true}},
	{"UnauthorizedOperation", http.StatusForbidden, ErrorClass{Config: true}},

	// Unclassified: transient or unknown, retried later, never a pool error.
	{"InternalError", http.StatusInternalServerError, ErrorClass{}},
	{"Unavailable", http.StatusServiceUnavailable, ErrorClass{}},
	{"AuthFailure", http.StatusUnauthorized, ErrorClass{}},
}

// Expected returns tc.Want with its Code filled in.
func (tc ErrorCase) Expected() ErrorClass {
	w := tc.Want
	w.Code = tc.Code
	return w
}
