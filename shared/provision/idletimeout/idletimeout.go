// Package idletimeout chooses how long a pool's idle workers wait for work before
// they shut down, from the pool's own recent demand and the cost of a relaunch.
//
// A pool whose workers idle for at most T holds, at any moment, about the most
// capacity its demand (pending plus claimed tasks) needed in the last T: a worker
// freed by a task stays until T passes without another, and demand above that
// launches new workers. Over the pool's recent demand D(t), idle timeout T costs
//
//	C(T) = ∫ max(D over [t-T, t]) dt + relaunch × (capacity launched)
//
// in instance time, where the capacity launched is each rise of demand above what
// the last T held, and a relaunch costs a worker's boot and its stop. The
// pool's timeout is the candidate T (Candidates, within [Min, Max]) with the
// lowest C over the last Window of demand, replayed as it was observed.
package idletimeout

import (
	"sync"
	"time"
)

// Sample is a pool's demand observed at a time.
type Sample struct {
	At     time.Time
	Demand float64
}

// Candidates are the idle timeouts tried.
var Candidates = []time.Duration{
	30 * time.Second, time.Minute, 90 * time.Second, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute,
	7 * time.Minute, 10 * time.Minute, 15 * time.Minute, 20 * time.Minute, 30 * time.Minute,
}

// Cost is C(T) for demand samples (oldest first; each holds until the next) and
// a relaunch costing relaunch of instance time, in instance-seconds. Capacity a
// sample's demand needed is held until T after the demand ended (the next
// sample).
func Cost(samples []Sample, t, relaunch time.Duration) float64 {
	type held struct {
		until  time.Time // when the demand ended: it is held for t more
		demand float64
	}
	var window []held // decreasing demand, increasing time: the front is the most held
	cost := 0.0
	for i, s := range samples {
		if i > 0 {
			prev := samples[i-1].Demand
			for len(window) > 0 && window[len(window)-1].demand <= prev {
				window = window[:len(window)-1]
			}
			window = append(window, held{until: s.At, demand: prev})
		}
		for len(window) > 0 && s.At.Sub(window[0].until) > t {
			window = window[1:]
		}
		capacity := 0.0
		if len(window) > 0 {
			capacity = window[0].demand
		}
		if s.Demand > capacity {
			cost += (s.Demand - capacity) * relaunch.Seconds()
			capacity = s.Demand
		}
		if i+1 < len(samples) {
			cost += capacity * samples[i+1].At.Sub(s.At).Seconds()
		}
	}
	return cost
}

// Choose is the candidate idle timeout within [lo, hi] with the lowest Cost for
// samples; ties go to the shorter. Without samples it returns hi.
func Choose(samples []Sample, relaunch, lo, hi time.Duration) time.Duration {
	if len(samples) < 2 {
		return hi
	}
	best, bestCost := time.Duration(0), 0.0
	for _, c := range Candidates {
		if c < lo || c > hi {
			continue
		}
		if cost := Cost(samples, c, relaunch); best == 0 || cost < bestCost-1e-9 {
			best, bestCost = c, cost
		}
	}
	if best == 0 {
		return hi
	}
	return best
}

// Defaults of a Pools.
const (
	DefaultMin      = 30 * time.Second
	DefaultMax      = 30 * time.Minute
	DefaultWindow   = 6 * time.Hour
	DefaultMinSpan  = time.Hour
	DefaultStopCost = 60 * time.Second
	// DefaultRechoose is how long a pool's choice stands before it is made again.
	DefaultRechoose = 5 * time.Minute
	maxSamples      = 20000
)

// Pools keeps each pool's recent demand, as the provisioner's iterations see it,
// and chooses each pool's idle timeout from it. It is safe for concurrent use.
// Its history lives in the process: a new process (a cold Lambda) starts with
// none, and pools get Fallback until it spans MinSpan.
type Pools struct {
	// Fallback is the timeout of a pool with too little history.
	Fallback time.Duration
	// Min and Max bound the timeout chosen (DefaultMin, DefaultMax). Min is above
	// 0: generic-worker reads idleTimeoutSecs 0 as "never".
	Min, Max time.Duration
	// Window is how far back demand counts (DefaultWindow); MinSpan how much of
	// it a choice needs (DefaultMinSpan).
	Window, MinSpan time.Duration
	// StopCost is the instance time a worker's shutting down is billed
	// (DefaultStopCost: the worker's own shutdown and EC2's until the instance
	// stops running); a relaunch costs it plus the pool's boot time.
	StopCost time.Duration

	mu    sync.Mutex
	pools map[string]*history
}

type history struct {
	samples []Sample // oldest first
	boot    time.Duration
	chosen  time.Duration
	at      time.Time // when chosen was
}

// Observe records what an iteration saw of a pool at now: its demand (pending
// tasks, plus claimed tasks where the demand source reports them) and, if known
// (above 0), how long its workers took from launch to registration.
func (p *Pools) Observe(pool string, now time.Time, demand float64, boot time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pools == nil {
		p.pools = map[string]*history{}
	}
	h := p.pools[pool]
	if h == nil {
		h = &history{}
		p.pools[pool] = h
	}
	if boot > 0 {
		h.boot = boot
	}
	if n := len(h.samples); n > 0 && !now.After(h.samples[n-1].At) {
		h.samples[n-1].Demand = demand
		return
	}
	h.samples = append(h.samples, Sample{At: now, Demand: demand})
	window := p.Window
	if window <= 0 {
		window = DefaultWindow
	}
	drop := 0
	for drop < len(h.samples) && now.Sub(h.samples[drop].At) > window {
		drop++
	}
	if len(h.samples)-drop > maxSamples {
		drop = len(h.samples) - maxSamples
	}
	if drop > 0 {
		h.samples = append(h.samples[:0], h.samples[drop:]...)
	}
}

// Timeout is the idle timeout for pool's workers launched at now.
func (p *Pools) Timeout(pool string, now time.Time) time.Duration {
	lo, hi, minSpan, stop := p.Min, p.Max, p.MinSpan, p.StopCost
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi <= 0 {
		hi = DefaultMax
	}
	if minSpan <= 0 {
		minSpan = DefaultMinSpan
	}
	if stop <= 0 {
		stop = DefaultStopCost
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.pools[pool]
	if h == nil || h.boot <= 0 || len(h.samples) < 2 || now.Sub(h.samples[0].At) < minSpan {
		return p.Fallback
	}
	if h.chosen > 0 && now.Sub(h.at) < DefaultRechoose {
		return h.chosen
	}
	h.chosen, h.at = Choose(h.samples, h.boot+stop, lo, hi), now
	return h.chosen
}
