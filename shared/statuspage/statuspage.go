// Package statuspage is the fleet at a glance: a read-only HTML page served at the
// API's root URL (by the StatusPageFunction, and by the local stack's gateway), and
// the same figures as JSON for `make status`.
//
// It shows only what the public APIs already show (listWorkerPools,
// listWorkerTypeSummaries, a worker type's state, the backend status): each pool's
// and worker type's bounds, capacities, pending tasks, last error and capacity over
// the last iterations, and the provisioner's last iteration. It reads the
// provisioner's status table alone, with two requests per view, and the page is
// plain HTML with inline SVG charts: no script, no external resource.
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
}

// Pool is one worker pool's or worker type's figures at the last iteration.
type Pool struct {
	Name string `json:"name"`
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
}

// Build reads the snapshot: the last check-in and every pool's figures. interval
// is the provisioner's schedule (0: one minute), by which a check-in is missing.
func Build(ctx context.Context, st *store.Store, interval time.Duration) (Snapshot, error) {
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
			Pools: c.Pools, Launched: c.Launched, Terminated: c.Terminated, Errors: c.ErrorsCount, Status: status}
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
		p := Pool{Name: s.Pool, Kind: "worker-pool", MinCapacity: s.MinCapacity, MaxCapacity: s.MaxCapacity,
			Desired: s.DesiredCapacity, Running: s.RunningCapacity, Requested: s.RequestedCapacity, Interrupted: s.Interrupted,
			PendingTasks: s.PendingTasks, LastError: s.LastError, Decision: s.Decision, Updated: s.Updated, History: s.History}
		if wt, ok := store.WorkerTypeOf(s.Pool); ok {
			p.Name, p.Kind = wt, "worker-type"
		}
		if p.History == nil {
			p.History = []store.PoolSample{}
		}
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
