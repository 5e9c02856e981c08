package provision

import (
	"time"
)

// Cadence is how often the provisioner iterates inside one scheduled invocation.
// The schedule (EventBridge, once a minute) starts an invocation; while demand is
// moving the invocation runs another iteration every Interval until Window has
// passed since it began, so the pool reacts within seconds; when nothing moves it
// returns after one iteration, and an idle deployment costs one short invocation
// per schedule period.
type Cadence struct {
	// Interval is the pause between iterations while demand moves; 0 runs one
	// iteration per invocation.
	Interval time.Duration
	// Window is how long after the invocation's start another iteration may begin:
	// the schedule's period less a margin, so invocations do not overlap (the
	// lease would skip the overlap anyway).
	Window time.Duration
}

// Next says whether another iteration follows one whose report is rep, elapsed
// after the invocation began, and after how long.
func (c Cadence) Next(rep *Report, elapsed time.Duration) (time.Duration, bool) {
	if c.Interval <= 0 || rep == nil || rep.Skipped || elapsed+c.Interval > c.Window {
		return 0, false
	}
	return c.Interval, rep.Moving()
}

// Moving reports whether demand may move within the next seconds: a pool has
// pending tasks, or workers (running or on their way, so work is coming and going),
// or the iteration launched or terminated something. A deployment whose pools are
// empty and without demand is idle.
func (r *Report) Moving() bool {
	if r.Launched > 0 || r.Terminated > 0 {
		return true
	}
	for _, p := range r.Pools {
		if p.PendingTasks > 0 || p.Requested > 0 || p.Running > 0 || p.Change > 0 {
			return true
		}
	}
	return false
}

// DefaultCadenceInterval is the deployed pause between iterations while demand
// moves.
const DefaultCadenceInterval = 15 * time.Second

// DefaultCadence is the deployed cadence for a schedule of the given period:
// DefaultCadenceInterval, within the period less 10s (none if the period leaves
// no room for a second iteration).
func DefaultCadence(schedule time.Duration) Cadence {
	window := schedule - 10*time.Second
	if window < DefaultCadenceInterval {
		return Cadence{}
	}
	return Cadence{Interval: DefaultCadenceInterval, Window: window}
}
