package workermanager

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// launchConfigResponse is an entry of listWorkerPoolLaunchConfigs.
type launchConfigResponse struct {
	LaunchConfigID string          `json:"launchConfigId"`
	WorkerPoolID   string          `json:"workerPoolId"`
	IsArchived     bool            `json:"isArchived"`
	Configuration  json.RawMessage `json:"configuration"`
	Created        string          `json:"created"`
	LastModified   string          `json:"lastModified"`
}

// listWorkerPoolLaunchConfigs lists the launch configs a pool has had (today's
// worker-manager): those of its definition, and with includeArchived=true also
// those it has dropped (archived). Each launch config is as first written under
// its id, with that id.
func (s *Service) listWorkerPoolLaunchConfigs(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, _, _, err := ids(r)
	if err != nil {
		return nil, err
	}
	if err := require(r, getPoolScope, nil); err != nil {
		return nil, err
	}
	includeArchived := false
	switch q := r.Query.Get("includeArchived"); q {
	case "", "false":
	case "true":
		includeArchived = true
	default:
		return nil, httpapi.InputValidationError("includeArchived must be true or false")
	}
	limit, token, err := r.Paging(1000)
	if err != nil {
		return nil, err
	}
	wp, err := s.Store.WorkerPool(ctx, poolID)
	if err != nil {
		return nil, httpapi.StoreError(err, "worker pool "+poolID)
	}
	current := pool.LaunchConfigIDsOf(wp.Config)
	if wp.ProviderID == pool.NullProviderID {
		current = nil // a deleted pool launches nothing
	}
	lcs, next, err := s.Store.LaunchConfigs(ctx, poolID, store.Page{Limit: limit, Token: token})
	if err != nil {
		return nil, httpapi.StoreError(err, "launch configs of "+poolID)
	}
	out := make([]launchConfigResponse, 0, len(lcs))
	for _, lc := range lcs {
		archived := !slices.Contains(current, lc.LaunchConfigID)
		if archived && !includeArchived {
			continue
		}
		out = append(out, launchConfigResponse{LaunchConfigID: lc.LaunchConfigID, WorkerPoolID: poolID, IsArchived: archived,
			Configuration: withLaunchConfigID(json.RawMessage(lc.Configuration), lc.LaunchConfigID),
			Created:       ts(lc.Created), LastModified: ts(lc.LastModified)})
	}
	return httpapi.OK(page("workerPoolLaunchConfigs", out, next)), nil
}

// withLaunchConfigID is a launch config with its id in workerManager.launchConfigId.
func withLaunchConfigID(lc json.RawMessage, id string) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(lc, &m); err != nil {
		return lc
	}
	wm := map[string]json.RawMessage{}
	_ = json.Unmarshal(m["workerManager"], &wm)
	wm["launchConfigId"], _ = json.Marshal(id)
	m["workerManager"], _ = json.Marshal(wm)
	out, err := json.Marshal(m)
	if err != nil {
		return lc
	}
	return out
}
