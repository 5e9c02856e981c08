package pool

import "strconv"

// Bounds on the numbers of definitions: what the product can store, sum and hand to
// the official clients (which decode capacities as int64) without overflow or loss.
// Definitions beyond them are refused with a 400 naming the bound; the worker pool
// schemas (schemas/config-*.json) carry the same maxima.
const (
	// MaxCapacity bounds every capacity: a worker type's or pool's minCapacity and
	// maxCapacity, an instance type's capacity, a pool's capacityPerInstance, a
	// static worker's capacity (2^31-1).
	MaxCapacity = 2147483647
	// MaxPrice bounds prices, in USD per hour (EC2's dearest instance costs about
	// a tenth of this).
	MaxPrice = 10000
	// MaxScalingRatio bounds scalingRatio.
	MaxScalingRatio = 1000
	// MaxUtility bounds an instance type's or launch config's utility.
	MaxUtility = 1000000
)

// Bounds on the size of what one definition may hold, so that no pool owner can make
// an item DynamoDB refuses (400 KB), reads that cost every caller (listings read
// definitions), or an iteration that spends the shared EC2 launch budget on one
// pool's thousands of launch configs.
const (
	// MaxDefinitionBytes bounds a worker type's body and a worker pool's
	// create/update body (config, description, owner included) as sent, and a
	// secret's createSecret body: 128 KiB, several times the largest definitions of
	// real deployments.
	MaxDefinitionBytes = 128 << 10
	// MaxLaunchConfigs bounds an aws pool's launchConfigs.
	MaxLaunchConfigs = 100
	// MaxReportBytes bounds a worker's reportWorkerError body and a createWorker
	// body.
	MaxReportBytes = 64 << 10
)

// atMost records a problem if a number that was read (ok) exceeds max, and reports
// whether it is still usable.
func (c *checker) atMost(path string, v float64, ok bool, max float64) bool {
	if ok && v > max {
		c.addf(path, "must be at most %s", strconv.FormatFloat(max, 'f', -1, 64))
		return false
	}
	return ok
}
