package pool

import (
	"encoding/json"
	"math"
	"time"
)

// ParseOptions tune parsing to the deployment.
type ParseOptions struct {
	// Providers are the deployment's providers; the zero value is the default set
	// (aws, static, null-provider).
	Providers Providers
	// AllowedRegions are the EC2 regions definitions may name. Empty allows any
	// well-formed AWS region name.
	AllowedRegions []string
	// ValidateLaunchSpec, if set, is the EC2 driver's strict check of RunInstances
	// field names. It is applied to every merged launch spec of a worker type and to
	// every launchConfig of an aws pool, and what it returns becomes a problem.
	ValidateLaunchSpec func(json.RawMessage) error
	// Stored says the definition was read back from the store, where it was
	// validated in full when it was written: its JSON Schema, most of a parse's
	// cost, is not run again. The rules a schema cannot say still are, so a
	// definition an older version accepted is still caught by today's.
	Stored bool
}

// Option is one concrete way to launch an instance for a worker type or a pool:
// what the provisioner chooses among. Worker types and pools both expand into
// Options, so the provisioner has one algorithm for both.
type Option struct {
	// ID is stable across re-orderings and unrelated edits of the definition:
	// <region>/<availability zone or *>/<instance type>/<spot|on-demand>, and for a
	// pool launch config also a short hash of that launch config.
	ID string

	Region           string
	AvailabilityZone string // "" lets EC2 (or the provisioner) pick any zone of Region
	InstanceType     string
	ImageID          string

	Capacity float64 // tasks one instance runs at once
	Utility  float64 // relative performance of the instance type; prices are compared per unit of utility
	Spot     bool    // spot market; false is on-demand

	// MinPrice and MaxPrice bound the instance's hourly price in USD; 0 means no
	// bound. MaxPrice is a filter on current prices for both markets (and, for pools,
	// the spot MaxPrice submitted to EC2). MinPrice is the lowest bid for a worker
	// type's option. See the package documentation for how they derive from a
	// definition, and SpotBid for the bid.
	MinPrice, MaxPrice float64

	// Bid is the aws-provisioner's bid rule, for a worker type's options; the zero
	// value (pools) bids MaxPrice.
	Bid BidRule

	// Weight, in (0, 1], is a pool launch config's workerManager.initialWeight
	// (later Taskcluster versions); 0 reads as 1. The provisioner chooses by price;
	// among options of the same price per unit of work, the heavier first
	// (ChoiceWeight).
	Weight float64
	// Unused: the launch config's initialWeight or maxCapacity is 0; the provisioner
	// never launches it.
	Unused bool
	// MaxInstances bounds the live instances of the option (a launch config's
	// workerManager.maxCapacity); 0 is no bound.
	MaxInstances int

	// LaunchSpec holds the RunInstances fields of the merged launch spec, including
	// ImageId, InstanceType and Placement.AvailabilityZone (which agree with the fields
	// above), and none of the fields the provisioner controls (UserData, MinCount,
	// MaxCount, ClientToken, TagSpecifications, InstanceMarketOptions).
	LaunchSpec json.RawMessage

	// Worker types only: the merged userData and secrets, and the union of scopes.
	UserData, Secrets json.RawMessage
	Scopes            []string

	// Pools only: the launch config's workerConfig and additionalUserData, and its
	// id (LaunchConfig.ID).
	WorkerConfig, AdditionalUserData json.RawMessage
	LaunchConfigID                   string
}

// BidRule is how the aws-provisioner set a spot request's price (determineSpotBids):
// Margin times the current spot price, rounded up to a millionth of a dollar, raised
// to MinPerUnit/utility where the price per unit of utility is below MinPerUnit (the
// worker type's minPrice); and no bid above Cap at all.
type BidRule struct {
	Margin     float64 // 2 in the aws-provisioner; 0: no rule, bid MaxPrice
	MinPerUnit float64
	Cap        float64 // 10 in the aws-provisioner ("exceptionally high bid"); 0: none
}

// AWSProvisionerBids is the aws-provisioner's rule for a worker type whose minPrice is
// minPerUnit.
func AWSProvisionerBids(minPerUnit float64) BidRule {
	return BidRule{Margin: 2, MinPerUnit: minPerUnit, Cap: 10}
}

// SpotBid is the MaxPrice of a spot request for o when its current spot price is
// spot, and whether to bid at all: a pool's option bids its MaxPrice (0: EC2's
// default, the on-demand price); a worker type's follows its BidRule.
func (o Option) SpotBid(spot float64) (float64, bool) {
	r := o.Bid
	if r.Margin == 0 {
		return o.MaxPrice, true
	}
	bid := ceilMicro(spot * r.Margin)
	if o.Utility > 0 && spot/o.Utility < r.MinPerUnit {
		// The original replaced the bid here ("too-low": "increased"), which for a
		// high utility could put it under the spot price, a request EC2 never fills;
		// it only ever raises it here.
		bid = math.Max(bid, ceilMicro(r.MinPerUnit/o.Utility))
	}
	if r.Cap > 0 && bid > r.Cap {
		return bid, false
	}
	return bid, true
}

// ceilMicro rounds a price up to a millionth of a dollar.
func ceilMicro(p float64) float64 { return math.Ceil(p*1e6) / 1e6 }

// ChoiceWeight is the option's weight when options of the same price per unit of
// work are compared (the heavier first): its Weight, or 1.
func (o Option) ChoiceWeight() float64 {
	if o.Weight > 0 {
		return o.Weight
	}
	return 1
}

// Wanted is the capacity pendingTasks call for: all of them, or today's
// scalingRatio's share (PendingRatio) for a pool that sets one.
func (s Sizing) Wanted(pendingTasks float64) float64 {
	if s.HasPendingRatio {
		return pendingTasks * s.PendingRatio
	}
	return pendingTasks
}

// Market names used in pool configs and option ids.
const (
	MarketSpot     = "spot"
	MarketOnDemand = "on-demand"
)

func market(spot bool) string {
	if spot {
		return MarketSpot
	}
	return MarketOnDemand
}

// WorkerTypeLifetime is how long an aws-provisioner instance may live: the
// provisioner terminates instances older than this to prevent zombies.
const WorkerTypeLifetime = 96 * time.Hour

// Sizing is how much capacity a worker type or pool wants and how long its
// instances may take, in one shape for both.
type Sizing struct {
	MinCapacity, MaxCapacity float64
	// ScalingRatio is the aws-provisioner's (worker types): see CapacityChange.
	ScalingRatio float64
	// PendingRatio is today's worker-manager's scalingRatio, which pools use
	// (HasPendingRatio): the share of the pending tasks provisioned for. Worker
	// types provision for every pending task.
	PendingRatio    float64
	HasPendingRatio bool
	// QueueInactivityTimeout is how long a pool's worker may go without working
	// before it is terminated (today's lifecycle.queueInactivityTimeout); 0: no limit.
	QueueInactivityTimeout time.Duration
	// RegistrationTimeout is how long a launched instance has to register before it
	// is considered broken and terminated; 0 means no limit (worker types: their
	// instances need not check in).
	RegistrationTimeout time.Duration
	// ReregistrationTimeout is an instance's lifetime on one registration: a pool's
	// lifecycle.reregistrationTimeout, or WorkerTypeLifetime for worker types. 0 means
	// no limit.
	ReregistrationTimeout time.Duration
}

// CapacityChange is the aws-provisioner's rule for how much capacity to add (or, if
// negative, how much is surplus) given the capacity of running instances, the
// capacity of requested instances that are not yet running, and the number of
// pending tasks:
//
//	desiredPending = round(ScalingRatio * running)
//	change         = pendingTasks - pending - desiredPending
//
// and if running+pending+change would reach MaxCapacity, change is
// MaxCapacity-running-pending instead; if it would fall below MinCapacity, change
// is MinCapacity-running-pending. With ScalingRatio 0 this is worker-manager's
// estimator: capacity for every pending task, within [MinCapacity, MaxCapacity].
func (s Sizing) CapacityChange(running, pending, pendingTasks float64) float64 {
	pendingTasks = s.Wanted(pendingTasks)
	desiredPending := math.Floor(s.ScalingRatio*running + 0.5) // JavaScript's Math.round
	change := pendingTasks - pending - desiredPending
	after := change + pending + running
	switch {
	case after >= s.MaxCapacity:
		return s.MaxCapacity - running - pending
	case after < s.MinCapacity:
		return s.MinCapacity - running - pending
	}
	return change
}
