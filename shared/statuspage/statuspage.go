// Package statuspage is the fleet at a glance: a read-only HTML page served at the
// API's root URL (by the StatusPageFunction, and by the local stack's gateway), and
// the same figures as JSON for `make status`.
//
// It shows only what the public APIs already show (listWorkerPools,
// listWorkerTypeSummaries, a worker type's state, listWorkers, listWorkerPoolErrors,
// the backend status): each pool's and worker type's bounds, capacities, pending
// tasks and how long they have waited, cost per hour, last error, capacity over the
// last iterations, and the provisioner's last iteration; a pool's own page lists its
// instances and errors. A view reads the provisioner's status table (two requests),
// plus one query of the workers' live index per pool with live workers and one of
// the errors per pool whose last iteration had an error. The page is plain HTML
// with inline SVG charts: no script, no external resource.
package statuspage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/store"
)

// Snapshot is the fleet as the provisioner last saw it.
type Snapshot struct {
	Generated time.Time `json:"generated"`
	// Provisioner is the last iteration; nil when the provisioner never ran.
	Provisioner *Iteration `json:"provisioner,omitempty"`
	Pools       []Pool     `json:"pools"`
	// CostPerHour is the fleet's: every pool's live instances at the prices they
	// were launched at.
	CostPerHour float64 `json:"costPerHour"`
	// Problems are what could not be read (the page shows the rest).
	Problems []string `json:"problems,omitempty"`
}

// Iteration is the provisioner's last iteration.
type Iteration struct {
	ID         string    `json:"iteration"`
	Time       time.Time `json:"time"`
	DurationMS int64     `json:"durationMs"`
	Outcome    string    `json:"outcome"`
	Pools      int       `json:"pools"`
	Launched   int       `json:"launched"`
	Terminated int       `json:"terminated"`
	Errors     int       `json:"errors"`
	// Status is "healthy", or "missing" when it is more than three intervals old.
	Status string `json:"status"`
	// Outages are the stretches of the last check-ins' history with no iteration
	// for over three intervals.
	Outages []Outage `json:"outages,omitempty"`
}

// Outage is a stretch without iterations, between two check-ins.
type Outage struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// outages are the stretches between consecutive check-ins (the kept history, then
// the last one) longer than three intervals.
func outages(c store.CheckIn, interval time.Duration) []Outage {
	times := make([]time.Time, 0, len(c.Recent)+1)
	for _, sec := range c.Recent {
		times = append(times, time.Unix(sec, 0).UTC())
	}
	times = append(times, c.Time)
	var out []Outage
	for i := 1; i < len(times); i++ {
		if times[i].Sub(times[i-1]) > 3*interval {
			out = append(out, Outage{From: times[i-1], To: times[i]})
		}
	}
	return out
}

// Pool is one worker pool's or worker type's figures at the last iteration.
type Pool struct {
	Name string `json:"name"`
	// Key is the pool's key in the tables: the workerPoolId, or "wt:" and the worker
	// type's name; the pool's page is ?pool=<key>.
	Key string `json:"key"`
	// Kind is "worker-pool" or "worker-type".
	Kind         string    `json:"kind"`
	MinCapacity  float64   `json:"minCapacity"`
	MaxCapacity  float64   `json:"maxCapacity"`
	Desired      float64   `json:"desiredCapacity"`
	Running      float64   `json:"runningCapacity"`
	Requested    float64   `json:"requestedCapacity"`
	Interrupted  float64   `json:"interruptedCapacity"`
	PendingTasks int64     `json:"pendingTasks"`
	LastError    string    `json:"lastError,omitempty"`
	Decision     string    `json:"decision"`
	Updated      time.Time `json:"updated"`
	// History is the capacity over the last iterations, oldest first.
	History []store.PoolSample `json:"history"`
	// PendingSince is when the pending tasks last rose from none (nil: none
	// pending); PendingSinceAtLeast says it is the history's first sample, so the
	// wait may be longer. The queue does not tell the age of its oldest task.
	PendingSince        *time.Time `json:"pendingSince,omitempty"`
	PendingSinceAtLeast bool       `json:"pendingSinceAtLeast,omitempty"`
	// Instances counts the live workers (requested, running, stopping), and
	// CostPerHour is their hourly price as launched.
	Instances   int     `json:"instances"`
	CostPerHour float64 `json:"costPerHour"`
	// RequestedPastTimeout counts the workers still requested after their
	// registration deadline: capacity that will not come.
	RequestedPastTimeout int `json:"requestedPastRegistrationTimeout"`
	// Error is the last error kept for the pool, when its last iteration had one.
	Error *ErrorInfo `json:"error,omitempty"`
}

// PoolDetail is one pool's page: its figures, its instances and its errors.
type PoolDetail struct {
	Generated   time.Time   `json:"generated"`
	Provisioner *Iteration  `json:"provisioner,omitempty"`
	Pool        Pool        `json:"pool"`
	Instances   []Instance  `json:"instances"`
	Errors      []PoolError `json:"errors"`
	// ErrorsAtLeast says more errors are kept than listed.
	ErrorsAtLeast bool     `json:"errorsAtLeast,omitempty"`
	Problems      []string `json:"problems,omitempty"`
}

// Build reads the snapshot: the last check-in and every pool's figures. interval
// is the provisioner's schedule (0: one minute), by which a check-in is missing.
func Build(ctx context.Context, st *store.Store, interval time.Duration) (Snapshot, error) {
	return build(ctx, st, interval, "")
}

// build is Build; with only set, it reads the instances and errors of that pool
// alone (its page), and leaves the other pools' out.
func build(ctx context.Context, st *store.Store, interval time.Duration, only string) (Snapshot, error) {
	if interval <= 0 {
		interval = time.Minute
	}
	snap := Snapshot{Generated: st.Now(), Pools: []Pool{}}
	c, err := st.LastCheckIn(ctx)
	switch {
	case err == nil:
		status := "healthy"
		if snap.Generated.Sub(c.Time) > 3*interval {
			status = "missing"
		}
		snap.Provisioner = &Iteration{ID: c.Iteration, Time: c.Time, DurationMS: c.DurationMS, Outcome: c.Outcome,
			Pools: c.Pools, Launched: c.Launched, Terminated: c.Terminated, Errors: c.ErrorsCount, Status: status,
			Outages: outages(c, interval)}
	case !errors.Is(err, store.ErrNotFound):
		return Snapshot{}, fmt.Errorf("status: last check-in: %w", err)
	}
	statuses, err := st.PoolStatuses(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("status: %w", err)
	}
	for _, s := range statuses {
		// The provisioner writes a pool's figures when they change and removes them
		// when the pool is gone: each sample holds until the next, the last one until
		// the last iteration.
		if n := len(s.History); n > 0 && snap.Provisioner != nil && c.Time.Truncate(time.Second).After(s.History[n-1].Time) {
			last := s.History[n-1]
			last.Time = c.Time.Truncate(time.Second)
			s.History = append(s.History[:n:n], last)
		}
		p := Pool{Name: s.Pool, Key: s.Pool, Kind: "worker-pool", MinCapacity: s.MinCapacity, MaxCapacity: s.MaxCapacity,
			Desired: s.DesiredCapacity, Running: s.RunningCapacity, Requested: s.RequestedCapacity, Interrupted: s.Interrupted,
			PendingTasks: s.PendingTasks, LastError: s.LastError, Decision: s.Decision, Updated: s.Updated, History: s.History}
		if wt, ok := store.WorkerTypeOf(s.Pool); ok {
			p.Name, p.Kind = wt, "worker-type"
		}
		if p.History == nil {
			p.History = []store.PoolSample{}
		}
		if only != "" && s.Pool != only {
			continue
		}
		if since, atLeast, ok := pendingSince(p.History); ok {
			p.PendingSince, p.PendingSinceAtLeast = &since, atLeast
		}
		if s.Workers.Requested+s.Workers.Running+s.Workers.Stopping > 0 || s.RequestedCapacity+s.RunningCapacity > 0 {
			if ws, err := liveWorkers(ctx, st, s.Pool); err != nil {
				snap.Problems = append(snap.Problems, err.Error())
			} else {
				p.addInstances(instancesOf(ws, snap.Generated))
			}
		}
		if s.LastError != "" {
			if errs, more, err := errorsOf(ctx, st, s.Pool); err != nil {
				snap.Problems = append(snap.Problems, err.Error())
			} else {
				p.Error = lastError(errs, more)
			}
		}
		snap.CostPerHour += p.CostPerHour
		snap.Pools = append(snap.Pools, p)
	}
	sort.Slice(snap.Pools, func(i, j int) bool {
		if snap.Pools[i].Kind != snap.Pools[j].Kind {
			return snap.Pools[i].Kind < snap.Pools[j].Kind
		}
		return strings.ToLower(snap.Pools[i].Name) < strings.ToLower(snap.Pools[j].Name)
	})
	return snap, nil
}

// addInstances counts the pool's live instances, their cost and those past their
// registration deadline.
func (p *Pool) addInstances(ins []Instance) {
	for _, in := range ins {
		p.Instances++
		p.CostPerHour += in.Price
		if in.PastRegistrationTimeout {
			p.RequestedPastTimeout++
		}
	}
}

// lastError is the newest of errs (newest first), with their count.
func lastError(errs []store.PoolError, more bool) *ErrorInfo {
	if len(errs) == 0 {
		return nil
	}
	e := errs[0]
	return &ErrorInfo{Title: e.Title, Description: e.Description, Time: e.Reported, Count: len(errs), CountAtLeast: more}
}

// BuildPool reads one pool's page: its figures as Build reads them, all its live
// instances and its kept errors; store.ErrNotFound when the provisioner has no
// figures for key.
func BuildPool(ctx context.Context, st *store.Store, interval time.Duration, key string) (PoolDetail, error) {
	snap, err := build(ctx, st, interval, key)
	if err != nil {
		return PoolDetail{}, err
	}
	d := PoolDetail{Generated: snap.Generated, Provisioner: snap.Provisioner, Instances: []Instance{}, Errors: []PoolError{}}
	found := false
	for _, p := range snap.Pools {
		if p.Key == key {
			d.Pool, found = p, true
		}
	}
	if !found {
		return PoolDetail{}, store.ErrNotFound
	}
	if ws, err := liveWorkers(ctx, st, key); err != nil {
		d.Problems = append(d.Problems, err.Error())
	} else {
		d.Instances = instancesOf(ws, snap.Generated)
		if d.Pool.Instances == 0 { // Build reads instances only of pools its figures show capacity for
			d.Pool.addInstances(d.Instances)
		}
	}
	errs, more, err := errorsOf(ctx, st, key)
	if err != nil {
		d.Problems = append(d.Problems, err.Error())
	}
	for _, e := range errs {
		d.Errors = append(d.Errors, PoolError{Time: e.Reported, Kind: e.Kind, Title: e.Title, Description: e.Description})
	}
	d.ErrorsAtLeast = more
	if d.Pool.Error == nil {
		d.Pool.Error = lastError(errs, more)
	}
	return d, nil
}
