package reaction

import (
	"sort"
	"sync"
	"time"
)

// Delta is what the signals since the last iteration say of one pool: tasks that
// became pending, and tasks that were claimed (their runs started).
type Delta struct {
	Pending int64 `json:"pending,omitempty"`
	Running int64 `json:"running,omitempty"`
}

// Signal is one event from a demand source: Pool is the pool's demand key
// ("provisionerId/workerType" for a Taskcluster queue).
type Signal struct {
	Pool    string
	Pending int64
	Running int64
}

// Batch is the signals an iteration takes: per pool, and when the oldest pending
// signal among them arrived (zero without one), for the latency it reports.
type Batch struct {
	Pools  map[string]Delta
	Oldest time.Time
}

// Pending is how many tasks the batch says became pending.
func (b Batch) Pending() int64 {
	var n int64
	for _, d := range b.Pools {
		n += d.Pending
	}
	return n
}

// Keys are the batch's pools, sorted.
func (b Batch) Keys() []string {
	out := make([]string, 0, len(b.Pools))
	for k := range b.Pools {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Signals collects signals until an iteration takes them. Only pending tasks wake
// the loop (Ready); claims ride along with the next iteration. Safe for concurrent
// use.
type Signals struct {
	// Now stamps arrivals (the Loop's clock; time.Now when nil).
	Now func() time.Time

	mu     sync.Mutex
	pools  map[string]Delta
	oldest time.Time
	ready  chan struct{}
	total  int64
}

// NewSignals returns an empty collection whose arrivals are stamped by now (nil:
// time.Now).
func NewSignals(now func() time.Time) *Signals {
	return &Signals{Now: now, pools: map[string]Delta{}, ready: make(chan struct{}, 1)}
}

func (s *Signals) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Add records a signal.
func (s *Signals) Add(sig Signal) {
	if sig.Pool == "" || (sig.Pending <= 0 && sig.Running <= 0) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.pools[sig.Pool]
	d.Pending += max(0, sig.Pending)
	d.Running += max(0, sig.Running)
	s.pools[sig.Pool] = d
	s.total++
	if sig.Pending > 0 {
		if s.oldest.IsZero() {
			s.oldest = s.now()
		}
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
}

// Ready receives when a pending signal has arrived since the last Take (it may
// also receive once after a Take that emptied it: check HasPending).
func (s *Signals) Ready() <-chan struct{} { return s.ready }

// HasPending reports whether a signal of a pending task waits to be taken.
func (s *Signals) HasPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.oldest.IsZero()
}

// Total is how many signals were added.
func (s *Signals) Total() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Take returns what was collected and empties the collection.
func (s *Signals) Take() Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := Batch{Pools: s.pools, Oldest: s.oldest}
	s.pools, s.oldest = map[string]Delta{}, time.Time{}
	return b
}

// Restore puts back a batch no iteration used (it was skipped or failed).
func (s *Signals) Restore(b Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, d := range b.Pools {
		cur := s.pools[k]
		cur.Pending += d.Pending
		cur.Running += d.Running
		s.pools[k] = cur
	}
	if !b.Oldest.IsZero() && (s.oldest.IsZero() || b.Oldest.Before(s.oldest)) {
		s.oldest = b.Oldest
	}
}
