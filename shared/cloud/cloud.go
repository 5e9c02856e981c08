// Package cloud owns the contract between workerfleet and the clouds it launches
// workers on: the InstanceSet interface every driver implements, the error classes
// drivers return (capacity, quota, rate limit, price, config), the single function
// that classifies EC2 error codes into them, and the registry of drivers by alias.
//
// Drivers live in sub-packages and register themselves in init: shared/cloud/ec2
// (alias "ec2", the real EC2) and shared/dev/fakecloud (alias "fake", a simulated EC2
// for the local stack, demos and tests). shared/dev/cloudtest is the contract test
// suite both run.
package cloud

import (
	"context"
	"encoding/json"
	"time"
)

// InstanceSetID identifies one deployment of workerfleet. Every instance a set
// creates carries it as the tag TagInstanceSet, and a set only ever lists or
// terminates instances carrying its own id, so two deployments sharing an account
// never touch each other's instances.
type InstanceSetID string

// Tags workerfleet puts on the instances (and volumes) it launches.
const (
	// TagInstanceSet carries the InstanceSetID; the set adds it itself.
	TagInstanceSet = "workerfleet:instance-set"
	// TagPool carries the pool key the instance belongs to; the caller sets it.
	TagPool = "workerfleet:pool"
	// TagLaunch carries the launch's idempotency token (LaunchRequest.ClientToken);
	// the set adds it itself.
	TagLaunch = "workerfleet:launch"
)

// EC2 limits both drivers honour.
const (
	// MaxUserDataBytes is the largest raw (before base64) user data EC2 accepts.
	MaxUserDataBytes = 16384
	// MaxClientTokenLength is the longest idempotency token EC2 accepts.
	MaxClientTokenLength = 64
	// MaxTags is the number of tags EC2 allows on one resource, ours included.
	MaxTags = 50
	// MaxLaunchCount is the most instances one Launch asks for.
	MaxLaunchCount = 1000
	// MaxTerminateBatch is the most instance ids one TerminateInstances call takes.
	MaxTerminateBatch = 1000
	// MaxDescribeFilterValues is the most filter values one DescribeInstances call
	// takes, summed over its filters.
	MaxDescribeFilterValues = 200
	// MaxDescribePageSize is the largest DescribeInstances page (MaxResults).
	MaxDescribePageSize = 1000
)

// Instance states, with EC2's names.
const (
	StatePending      = "pending"
	StateRunning      = "running"
	StateShuttingDown = "shutting-down"
	StateTerminated   = "terminated"
	StateStopping     = "stopping"
	StateStopped      = "stopped"
)

// LaunchRequest asks for Count identical instances in one call.
type LaunchRequest struct {
	// Region to launch in; required.
	Region string
	// AvailabilityZone is optional: "" lets the cloud choose, or takes it from
	// LaunchSpec's Placement.AvailabilityZone or SubnetId.
	AvailabilityZone string
	// InstanceType and ImageID are required.
	InstanceType string
	ImageID      string
	// Count instances are launched with MinCount = MaxCount = Count, in one call:
	// all of them or none.
	Count int
	// Spot launches one-time spot instances that terminate on interruption.
	Spot bool
	// MaxPrice caps the spot price (USD per hour); 0 means no cap (the on-demand
	// price). Only with Spot.
	MaxPrice float64
	// UserData is raw; the driver base64-encodes it. More than MaxUserDataBytes is
	// a ConfigError and no call is made.
	UserData []byte
	// Tags are the caller's tags (TagPool among them); the set adds TagInstanceSet
	// and TagLaunch itself and refuses callers that set those.
	Tags map[string]string
	// ClientToken is the idempotency token (at most MaxClientTokenLength ASCII
	// characters): the same token returns the same instances and never launches a
	// second time. "" makes the driver generate one for this call.
	ClientToken string
	// LaunchSpec holds extra RunInstances fields in EC2's own API names
	// (SecurityGroupIds, SubnetId, KeyName, BlockDeviceMappings,
	// IamInstanceProfile, Placement, EbsOptimized, ...). Unknown fields are a
	// ConfigError.
	LaunchSpec json.RawMessage
}

// Instance is a cloud instance as a driver sees it.
type Instance struct {
	ID               string
	Region           string
	AvailabilityZone string
	InstanceType     string
	ImageID          string
	AccountID        string
	PrivateIP        string
	// State is one of EC2's state names (StatePending, StateRunning, ...).
	State      string
	LaunchTime time.Time
	Spot       bool
	Tags       map[string]string
}

// Price is a spot price at a time.
type Price struct {
	Region           string
	AvailabilityZone string
	InstanceType     string
	// Price is in USD per hour.
	Price float64
	// Time is when the price took effect.
	Time time.Time
}

// An InstanceSet launches, lists and terminates the instances of one deployment
// (one InstanceSetID) in a cloud. All its methods are safe for concurrent use.
//
// Errors from cloud calls are classified (see ClassifyEC2Error): test them with
// IsCapacityError, IsQuotaError, IsRateLimitError, IsPriceError and IsConfigError.
// An error that is none of these is transient or unknown (a network failure, an
// AWS internal error) and may be retried later. A cancelled context returns the
// context's error.
type InstanceSet interface {
	// ID returns the set's id.
	ID() InstanceSetID

	// Launch starts req.Count instances in one RunInstances call, tagged with the
	// caller's tags plus TagInstanceSet and TagLaunch, and returns them as the cloud
	// reported them (usually pending). It launches all of them or none.
	//
	// Calling Launch again with the same ClientToken returns the instances of the
	// first call and launches nothing.
	//
	// Errors: a ConfigError, without any call, for an invalid request (missing
	// fields, user data over MaxUserDataBytes, bad tags, a LaunchSpec with unknown
	// fields, a region the set may not use); otherwise the classified cloud error:
	// CapacityError (no capacity for this type or AZ now), QuotaError (the account
	// limit is reached), RateLimitError (throttled; retry after EarliestRetry),
	// PriceError (MaxPrice below the spot price), ConfigError (the cloud rejected
	// the request as invalid, which retrying cannot fix).
	Launch(ctx context.Context, req LaunchRequest) ([]Instance, error)

	// Instances returns the instances in region that carry this set's id and every
	// one of tags, in every state (pending and shutting-down included, and
	// terminated ones for as long as the cloud still lists them), reading every page.
	// A tags entry for TagInstanceSet with another id matches nothing.
	//
	// Errors: RateLimitError when throttled, ConfigError for a region the set may
	// not use, otherwise transient.
	Instances(ctx context.Context, region string, tags map[string]string) ([]Instance, error)

	// Terminate terminates the given instances in region, in batches of at most
	// MaxTerminateBatch. It never touches an instance that does not carry this
	// set's id: such ids are skipped, not errors, and so are unknown ids and
	// instances already shutting down or terminated. An instance the cloud does
	// not list yet (EC2 is eventually consistent right after a launch) is skipped
	// too; it shows in a later Instances and can be terminated then.
	//
	// Errors: RateLimitError when throttled, ConfigError for a region the set may
	// not use or a refused call, otherwise transient. After an error some of the
	// instances may have been terminated; calling again is safe.
	Terminate(ctx context.Context, region string, ids []string) error

	// SpotPrices returns the current spot price of each of instanceTypes in each
	// availability zone of region that offers it (Linux/UNIX). Types the region
	// does not offer are left out; no types means no prices and no call.
	//
	// Errors: RateLimitError when throttled, ConfigError for a region the set may
	// not use or an invalid type name, otherwise transient.
	SpotPrices(ctx context.Context, region string, instanceTypes []string) ([]Price, error)

	// OnDemandPrice returns the on-demand price (USD per hour, Linux) of
	// instanceType in region, and false when the driver does not know it. It makes
	// no call.
	OnDemandPrice(region, instanceType string) (float64, bool)

	// QuotaGroup returns the EC2 vCPU quota group instanceType counts against (see
	// the package function QuotaGroup): instances of one group share a quota, so a
	// QuotaError for one type applies to the whole group.
	QuotaGroup(instanceType string) string
}
