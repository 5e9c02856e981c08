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

// atMost records a problem if a number that was read (ok) exceeds max, and reports
// whether it is still usable.
func (c *checker) atMost(path string, v float64, ok bool, max float64) bool {
	if ok && v > max {
		c.addf(path, "must be at most %s", strconv.FormatFloat(max, 'f', -1, 64))
		return false
	}
	return ok
}
