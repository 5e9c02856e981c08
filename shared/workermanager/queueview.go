package workermanager

import (
	"context"
	"fmt"
	"math"

	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// The queue's view of workers, which today's worker-manager serves
// (/provisioners/<provisionerId>/worker-types/<workerType>/workers): listWorkers and
// getWorker. workerfleet knows a worker from its own records, not from the queue's
// claims: firstClaim is when it registered (or was created), recentTasks and
// lastDateActive are the queue's and not known here, and no worker is quarantined
// (quarantine is the queue's).

// queueWorker is an entry of listWorkers.
type queueWorker struct {
	WorkerGroup    string `json:"workerGroup"`
	WorkerID       string `json:"workerId"`
	WorkerPoolID   string `json:"workerPoolId"`
	FirstClaim     string `json:"firstClaim,omitempty"`
	State          string `json:"state"`
	Capacity       int64  `json:"capacity"`
	ProviderID     string `json:"providerId"`
	LaunchConfigID string `json:"launchConfigId,omitempty"`
}

func firstClaim(w store.Worker) string {
	if !w.Registered.IsZero() {
		return ts(w.Registered)
	}
	return ts(w.Created)
}

func queueWorkerOut(w store.Worker) queueWorker {
	return queueWorker{WorkerGroup: w.WorkerGroup, WorkerID: w.WorkerID, WorkerPoolID: w.Pool, FirstClaim: firstClaim(w),
		State: string(w.State), Capacity: int64(math.Round(w.Capacity)), ProviderID: w.ProviderID, LaunchConfigID: w.LaunchConfigID}
}

// workerTypePool reads provisionerId and workerType from the path as the worker
// pool id they make.
func workerTypePool(r *httpapi.Request) (string, error) {
	id := r.Params["provisionerId"] + "/" + r.Params["workerType"]
	if !pool.ValidWorkerPoolID(id) {
		return "", httpapi.InputValidationError("provisionerId/workerType %q is not a worker pool id", id)
	}
	return id, nil
}

// listWorkersByWorkerType is today's listWorkers: a worker type's workers, filtered
// by workerState, launchConfigId and quarantined (none is).
func (s *Service) listWorkersByWorkerType(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, err := workerTypePool(r)
	if err != nil {
		return nil, err
	}
	if err := require(r, listPoolWorkersScope, map[string]string{"workerPoolId": poolID}); err != nil {
		return nil, err
	}
	f, err := workerFilter(r, "workerState")
	if err != nil {
		return nil, err
	}
	limit, token, err := r.Paging(1000)
	if err != nil {
		return nil, err
	}
	switch q := r.Query.Get("quarantined"); q {
	case "", "false":
	case "true":
		return httpapi.OK(map[string]any{"workers": []queueWorker{}}), nil
	default:
		return nil, httpapi.InputValidationError("quarantined must be true or false")
	}
	ws, next, err := s.Store.ListWorkersWhere(ctx, poolID, "", f, store.Page{Limit: limit, Token: token})
	if err != nil {
		return nil, httpapi.StoreError(err, "workers of "+poolID)
	}
	out := make([]queueWorker, 0, len(ws))
	for _, w := range ws {
		out = append(out, queueWorkerOut(w))
	}
	return httpapi.OK(page("workers", out, next)), nil
}

// getWorker is today's getWorker: one worker as the queue's worker view shows it.
func (s *Service) getWorker(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, err := workerTypePool(r)
	if err != nil {
		return nil, err
	}
	group, id := r.Params["workerGroup"], r.Params["workerId"]
	if !pool.ValidWorkerGroup(group) || !pool.ValidWorkerID(id) {
		return nil, httpapi.InputValidationError("workerGroup and workerId must each be 1 to 38 of a-z A-Z 0-9 - _")
	}
	if err := require(r, getWorkerScope, map[string]string{"workerPoolId": poolID, "workerGroup": group, "workerId": id}); err != nil {
		return nil, err
	}
	w, err := s.Store.Worker(ctx, poolID, group, id)
	if err != nil {
		return nil, httpapi.StoreError(err, fmt.Sprintf("worker %s/%s of %s", group, id, poolID))
	}
	out := map[string]any{
		"provisionerId": r.Params["provisionerId"], "workerType": r.Params["workerType"], "workerPoolId": poolID,
		"workerGroup": group, "workerId": id, "recentTasks": []any{}, "expires": ts(w.Expires), "firstClaim": firstClaim(w),
		"state": string(w.State), "capacity": int64(math.Round(w.Capacity)), "providerId": w.ProviderID,
	}
	if w.LaunchConfigID != "" {
		out["launchConfigId"] = w.LaunchConfigID
	}
	return httpapi.OK(out), nil
}
