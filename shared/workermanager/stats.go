package workermanager

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// Today's worker-manager reports, with every pool, how many of its workers are in
// each state and their capacity. workerfleet's figures come from the provisioner's
// last iteration (its status record of the pool: one read per answer, never a read
// of the workers), for live workers; stopped workers are not counted (their records
// stay listed for a day, but nothing reads them to count), so the stopped figures
// are 0.

// poolCounts are a pool's (or launch config's) worker figures in today's shape.
type poolCounts struct {
	CurrentCapacity   int64 `json:"currentCapacity"`
	RequestedCount    int64 `json:"requestedCount"`
	RunningCount      int64 `json:"runningCount"`
	StoppingCount     int64 `json:"stoppingCount"`
	StoppedCount      int64 `json:"stoppedCount"`
	RequestedCapacity int64 `json:"requestedCapacity"`
	RunningCapacity   int64 `json:"runningCapacity"`
	StoppingCapacity  int64 `json:"stoppingCapacity"`
	StoppedCapacity   int64 `json:"stoppedCapacity"`
}

func countsOut(c store.WorkerCounts) poolCounts {
	round := func(f float64) int64 { return int64(math.Round(f)) }
	return poolCounts{
		CurrentCapacity: round(c.RequestedCapacity + c.RunningCapacity + c.StoppingCapacity),
		RequestedCount:  int64(c.Requested), RunningCount: int64(c.Running), StoppingCount: int64(c.Stopping),
		RequestedCapacity: round(c.RequestedCapacity), RunningCapacity: round(c.RunningCapacity), StoppingCapacity: round(c.StoppingCapacity),
	}
}

// poolStatus is a pool's figures from the provisioner's last iteration (zero if it
// has not seen the pool yet).
func (s *Service) poolStatus(ctx context.Context, id string) (store.WorkerCounts, error) {
	st, err := s.Store.PoolStatus(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.WorkerCounts{}, nil
	}
	if err != nil {
		return store.WorkerCounts{}, httpapi.StoreError(err, "the status of "+id)
	}
	return st.Workers, nil
}

// poolsPage is the page of pools a listing asks for, with every pool's figures.
func (s *Service) poolsPage(ctx context.Context, r *httpapi.Request) ([]store.WorkerPool, map[string]store.WorkerCounts, string, error) {
	if err := require(r, listPoolsScope, nil); err != nil {
		return nil, nil, "", err
	}
	limit, token, err := r.Paging(1000)
	if err != nil {
		return nil, nil, "", err
	}
	ps, next, err := s.Store.ListWorkerPools(ctx, store.Page{Limit: limit, Token: token})
	if err != nil {
		return nil, nil, "", httpapi.StoreError(err, "worker pools")
	}
	counts, err := s.allPoolStatuses(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	return ps, counts, next, nil
}

// allPoolStatuses are every pool's figures, by pool.
func (s *Service) allPoolStatuses(ctx context.Context) (map[string]store.WorkerCounts, error) {
	sts, err := s.Store.PoolStatuses(ctx)
	if err != nil {
		return nil, httpapi.StoreError(err, "pool statuses")
	}
	out := make(map[string]store.WorkerCounts, len(sts))
	for _, st := range sts {
		out[st.Pool] = st.Workers
	}
	return out, nil
}

type launchConfigStats struct {
	WorkerPoolID   string `json:"workerPoolId"`
	LaunchConfigID string `json:"launchConfigId"`
	poolCounts
}

// workerPoolStats is a pool's figures by launch config: its live workers, read from
// the live index (one query, as long as the pool's live workers), grouped by the
// launch config they were launched from; the pool's launch configs without workers
// are listed at 0.
func (s *Service) workerPoolStats(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, _, _, err := ids(r)
	if err != nil {
		return nil, err
	}
	if err := require(r, getPoolScope, nil); err != nil {
		return nil, err
	}
	wp, err := s.Store.WorkerPool(ctx, poolID)
	if err != nil {
		return nil, httpapi.StoreError(err, "worker pool "+poolID)
	}
	ws, err := s.Store.LiveWorkers(ctx, poolID)
	if err != nil {
		return nil, httpapi.StoreError(err, "workers of "+poolID)
	}
	var order []string
	byLC := map[string]*store.WorkerCounts{}
	add := func(id string) *store.WorkerCounts {
		if c, ok := byLC[id]; ok {
			return c
		}
		byLC[id] = &store.WorkerCounts{}
		order = append(order, id)
		return byLC[id]
	}
	for _, id := range pool.LaunchConfigIDsOf(wp.Config) {
		add(id)
	}
	for _, w := range ws {
		if w.LaunchConfigID != "" {
			add(w.LaunchConfigID).Add(w)
		}
	}
	out := make([]launchConfigStats, 0, len(order))
	for _, id := range order {
		out = append(out, launchConfigStats{WorkerPoolID: poolID, LaunchConfigID: id, poolCounts: countsOut(*byLC[id])})
	}
	return httpapi.OK(map[string]any{"launchConfigStats": out}), nil
}

type poolStats struct {
	WorkerPoolID string `json:"workerPoolId"`
	poolCounts
}

// listWorkerPoolsStats is every pool's figures, a page of pools at a time.
func (s *Service) listWorkerPoolsStats(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	ps, counts, next, err := s.poolsPage(ctx, r)
	if err != nil {
		return nil, err
	}
	out := make([]poolStats, 0, len(ps))
	for _, p := range ps {
		out = append(out, poolStats{WorkerPoolID: p.WorkerPoolID, poolCounts: countsOut(counts[p.WorkerPoolID])})
	}
	return httpapi.OK(page("workerPoolsStats", out, next)), nil
}

// errorTotals are workerPoolErrorStats' figures.
type errorTotals struct {
	Total        int            `json:"total"`
	Daily        map[string]int `json:"daily"`
	Hourly       map[string]int `json:"hourly"`
	Title        map[string]int `json:"title"`
	Code         map[string]int `json:"code"`
	WorkerPool   map[string]int `json:"workerPool"`
	LaunchConfig map[string]int `json:"launchConfig"`
}

// workerPoolErrorStats counts the errors of one pool (workerPoolId) or of all, as
// today's worker-manager does: in all, by day over the last 7 days, by hour over the
// last 24, by title, by kind (code), by pool, and for one pool by launch config.
func (s *Service) workerPoolErrorStats(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID := r.Query.Get("workerPoolId")
	scopeOf := poolID
	if poolID == "" {
		scopeOf = "*" // every pool's errors, as today's worker-manager asks
	}
	if err := require(r, listErrorsScope, map[string]string{"workerPoolId": scopeOf}); err != nil {
		return nil, err
	}
	if poolID != "" {
		if !pool.ValidWorkerPoolID(poolID) {
			return nil, httpapi.InputValidationError("workerPoolId %q is not a worker pool id", poolID)
		}
		if _, err := s.Store.WorkerPool(ctx, poolID); err != nil {
			return nil, httpapi.StoreError(err, "worker pool "+poolID)
		}
	}
	es, err := s.Store.PoolErrors(ctx, poolID)
	if err != nil {
		return nil, httpapi.StoreError(err, "errors")
	}
	now := s.Store.Now().UTC()
	t := errorTotals{Daily: map[string]int{}, Hourly: map[string]int{}, Title: map[string]int{}, Code: map[string]int{},
		WorkerPool: map[string]int{}, LaunchConfig: map[string]int{}}
	for _, e := range es {
		at := e.Reported.UTC()
		if now.Sub(at) <= 7*24*time.Hour {
			t.Total++
			t.Daily[ts(at.Truncate(24*time.Hour))]++
		}
		if now.Sub(at) <= 24*time.Hour {
			t.Hourly[ts(at.Truncate(time.Hour))]++
		}
		t.Title[e.Title]++
		t.Code[e.Kind]++
		t.WorkerPool[e.Pool]++
		if poolID != "" {
			lc := e.LaunchConfigID
			if lc == "" {
				lc = "unknown"
			}
			t.LaunchConfig[lc]++
		}
	}
	return httpapi.OK(map[string]any{"workerPoolId": poolID, "totals": t}), nil
}
