// Package idletimeout chooses how long a pool's idle workers wait for work before
// they shut down, from the pool's own recent demand and the cost of a relaunch.
//
// An idle worker kept for T costs its price for as long as it waits; shut down, it
// costs a relaunch when work comes: its boot (billed, and waited for by the task)
// and its stop (billed until the instance is gone). For a worker that goes idle at
// a random moment, the time R until the pool's next task arrival is the residual of
// the gap between arrivals it falls into (a long gap is more likely to be landed
// in: gap g is chosen with weight g, and R is uniform on [0, g]). In units of
// instance time, keeping it idle for T is expected to cost
//
//	C(T) = E[min(R, T)] + relaunch * P(R > T)
//
// and the timeout is the T that minimises C over the pool's recent gaps, within
// [Min, Max]. C is concave between gap lengths, so its minimum lies on a gap's
// length or on a bound, and those are the only candidates tried.
package idletimeout

import (
	"math"
	"sort"
	"sync"
	"time"
)

// Choose is the idle timeout that minimises the expected cost C(T) for the gaps
// between task arrivals given, with a relaunch costing relaunch of instance time,
// within [lo, hi]. It returns hi without gaps (nothing known: keep workers).
func Choose(gaps []time.Duration, relaunch, lo, hi time.Duration) time.Duration {
	if hi < lo {
		hi = lo
	}
	if len(gaps) == 0 {
		return hi
	}
	gs := make([]float64, 0, len(gaps))
	total := 0.0
	for _, g := range gaps {
		if g > 0 {
			gs = append(gs, g.Seconds())
			total += g.Seconds()
		}
	}
	if total == 0 {
		return lo
	}
	sort.Float64s(gs)
	r := relaunch.Seconds()
	cost := func(t float64) float64 {
		c := 0.0
		for _, g := range gs {
			if t >= g {
				c += g * (g / 2) // min(R, T) = R, mean g/2; never relaunched
				continue
			}
			c += g * (t - t*t/(2*g) + r*(1-t/g))
		}
		return c / total
	}
	best, bestCost := lo.Seconds(), cost(lo.Seconds())
	try := func(t float64) {
		if c := cost(t); c < bestCost-1e-9 {
			best, bestCost = t, c
		}
	}
	for _, g := range gs {
		if g > lo.Seconds() && g < hi.Seconds() {
			try(g)
		}
	}
	try(hi.Seconds())
	return time.Duration(math.Round(best)) * time.Second
}

// Defaults of a Pools.
const (
	DefaultMin      = 30 * time.Second
	DefaultMax      = 30 * time.Minute
	DefaultWindow   = 6 * time.Hour
	DefaultMinGaps  = 20
	DefaultStopCost = 60 * time.Second
	maxGaps         = 4096
)

// Pools keeps each pool's recent gaps between task arrivals, as the provisioner's
// iterations see them, and chooses each pool's idle timeout from them. It is safe
// for concurrent use. Its history lives in the process: a new process (a cold
// Lambda) starts with none, and pools get Fallback until they have MinGaps gaps.
type Pools struct {
	// Fallback is the timeout of a pool with too little history.
	Fallback time.Duration
	// Min and Max bound the timeout chosen (DefaultMin, DefaultMax). Min is above
	// 0: generic-worker reads idleTimeoutSecs 0 as "never".
	Min, Max time.Duration
	// Window is how far back gaps count (DefaultWindow); MinGaps how many a choice
	// needs (DefaultMinGaps).
	Window  time.Duration
	MinGaps int
	// StopCost is the instance time a worker's shutting down is billed
	// (DefaultStopCost: the worker's own shutdown and EC2's until the instance
	// stops running); a relaunch costs it plus the pool's boot time.
	StopCost time.Duration

	mu    sync.Mutex
	pools map[string]*history
}

type history struct {
	gaps       []gap // oldest first
	lastDemand float64
	lastEvent  time.Time
	boot       time.Duration
}

type gap struct {
	end time.Time
	d   time.Duration
}

// Observe records what an iteration saw of a pool at now: its demand (pending
// tasks, plus claimed tasks where the demand source reports them) and, if known
// (above 0), how long its workers took from launch to registration. A rise in
// demand is a task arrival; the time since the previous one is a gap.
func (p *Pools) Observe(pool string, now time.Time, demand float64, boot time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pools == nil {
		p.pools = map[string]*history{}
	}
	h := p.pools[pool]
	if h == nil {
		h = &history{lastDemand: demand}
		p.pools[pool] = h
	}
	if boot > 0 {
		h.boot = boot
	}
	rose := demand > h.lastDemand
	h.lastDemand = demand
	if !rose {
		return
	}
	if !h.lastEvent.IsZero() && now.After(h.lastEvent) {
		h.gaps = append(h.gaps, gap{end: now, d: now.Sub(h.lastEvent)})
		if len(h.gaps) > maxGaps {
			h.gaps = h.gaps[len(h.gaps)-maxGaps:]
		}
	}
	h.lastEvent = now
}

// Timeout is the idle timeout for pool's workers launched at now.
func (p *Pools) Timeout(pool string, now time.Time) time.Duration {
	lo, hi, window, minGaps, stop := p.Min, p.Max, p.Window, p.MinGaps, p.StopCost
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi <= 0 {
		hi = DefaultMax
	}
	if window <= 0 {
		window = DefaultWindow
	}
	if minGaps <= 0 {
		minGaps = DefaultMinGaps
	}
	if stop <= 0 {
		stop = DefaultStopCost
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.pools[pool]
	if h == nil || h.boot <= 0 {
		return p.Fallback
	}
	var gaps []time.Duration
	for _, g := range h.gaps {
		if now.Sub(g.end) <= window {
			gaps = append(gaps, g.d)
		}
	}
	if len(gaps) < minGaps {
		return p.Fallback
	}
	// The gap still open counts as one that lasts at least until now.
	if !h.lastEvent.IsZero() && now.After(h.lastEvent) {
		gaps = append(gaps, now.Sub(h.lastEvent))
	}
	return Choose(gaps, h.boot+stop, lo, hi)
}
