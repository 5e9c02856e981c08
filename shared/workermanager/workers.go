package workermanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/identity"
	"github.com/workerfleet/workerfleet/shared/notify"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/slugid"
	"github.com/workerfleet/workerfleet/shared/store"
)

// workerResponse is a WorkerFullDefinition.
type workerResponse struct {
	WorkerPoolID string `json:"workerPoolId"`
	WorkerGroup  string `json:"workerGroup"`
	WorkerID     string `json:"workerId"`
	ProviderID   string `json:"providerId"`
	Created      string `json:"created"`
	Expires      string `json:"expires"`
	LastChecked  string `json:"lastChecked"`
	LastModified string `json:"lastModified"`
	Capacity     int64  `json:"capacity"`
	State        string `json:"state"`
	// LaunchConfigID is the launch config an aws worker was launched from (today's
	// worker-manager; absent for static workers).
	LaunchConfigID string `json:"launchConfigId,omitempty"`
}

func workerOut(w store.Worker) workerResponse {
	return workerResponse{WorkerPoolID: w.Pool, WorkerGroup: w.WorkerGroup, WorkerID: w.WorkerID, ProviderID: w.ProviderID,
		Created: ts(w.Created), Expires: ts(w.Expires), LastChecked: ts(w.LastChecked), LastModified: ts(w.LastModified),
		Capacity: int64(math.Round(w.Capacity)), State: string(w.State), LaunchConfigID: w.LaunchConfigID}
}

// workerFilter reads the state and launchConfigId query filters of today's
// listWorkersForWorkerPool.
func workerFilter(r *httpapi.Request, stateParam string) (store.WorkerFilter, error) {
	f := store.WorkerFilter{State: store.State(r.Query.Get(stateParam)), LaunchConfigID: r.Query.Get("launchConfigId")}
	switch f.State {
	case "", store.Requested, store.Running, store.Stopping, store.Stopped:
	case "standalone": // today's queue's workers of no worker-manager: none here
	default:
		return f, httpapi.InputValidationError("%s must be one of requested, running, stopping, stopped, standalone", stateParam)
	}
	if f.LaunchConfigID != "" && !pool.ValidLaunchConfigID(f.LaunchConfigID) {
		return f, httpapi.InputValidationError("launchConfigId must be 1 to 38 of a-z A-Z 0-9 - _")
	}
	return f, nil
}

func (s *Service) listWorkers(ctx context.Context, r *httpapi.Request, group string) (*httpapi.Response, error) {
	poolID, _, _, err := ids(r)
	if err != nil {
		return nil, err
	}
	scope := listPoolWorkersScope
	if group != "" {
		scope = listGroupScope
	}
	if err := require(r, scope, nil); err != nil {
		return nil, err
	}
	limit, token, err := r.Paging(1000)
	if err != nil {
		return nil, err
	}
	var f store.WorkerFilter
	if group == "" {
		if f, err = workerFilter(r, "state"); err != nil {
			return nil, err
		}
		if s.Current {
			// Today's answers 404 for a pool that is gone; v25's lists its records.
			if _, err := s.Store.WorkerPool(ctx, poolID); err != nil {
				return nil, httpapi.StoreError(err, "worker pool "+poolID)
			}
		}
	}
	ws, next, err := s.Store.ListWorkersWhere(ctx, poolID, group, f, store.Page{Limit: limit, Token: token})
	if err != nil {
		return nil, httpapi.StoreError(err, "workers of "+poolID)
	}
	out := make([]workerResponse, 0, len(ws))
	for _, w := range ws {
		out = append(out, workerOut(w))
	}
	return httpapi.OK(page("workers", out, next)), nil
}

func (s *Service) listWorkersForWorkerPool(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	return s.listWorkers(ctx, r, "")
}

func (s *Service) listWorkersForWorkerGroup(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	if _, _, _, err := ids(r); err != nil {
		return nil, err
	}
	return s.listWorkers(ctx, r, r.Params["workerGroup"])
}

func (s *Service) worker(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, group, id, err := ids(r)
	if err != nil {
		return nil, err
	}
	if err := require(r, getWorkerScope, nil); err != nil {
		return nil, err
	}
	w, err := s.Store.Worker(ctx, poolID, group, id)
	if err != nil {
		return nil, httpapi.StoreError(err, fmt.Sprintf("worker %s/%s in pool %s", group, id, poolID))
	}
	return httpapi.OK(workerOut(w)), nil
}

// createWorkerRequest is createWorker's body.
type createWorkerRequest struct {
	Capacity     *int64           `json:"capacity"`
	Expires      *time.Time       `json:"expires"`
	ProviderInfo *json.RawMessage `json:"providerInfo"`
}

func (s *Service) createWorker(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, group, id, err := ids(r)
	if err != nil {
		return nil, err
	}
	if err := r.Require(createWorkerScope.Bind(map[string]string{"workerPoolId": poolID, "workerGroup": group, "workerId": id})); err != nil {
		return nil, err
	}
	var req createWorkerRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	now := s.Store.Now()
	var problems []string
	capacity := int64(1)
	if req.Capacity != nil {
		if capacity = *req.Capacity; capacity < 1 || capacity > pool.MaxCapacity {
			problems = append(problems, fmt.Sprintf("capacity must be a whole number from 1 to %d", pool.MaxCapacity))
		}
	}
	if req.Expires == nil || !req.Expires.After(now) {
		problems = append(problems, "expires is required and must be in the future")
	}
	var info struct {
		StaticSecret string `json:"staticSecret"`
	}
	if req.ProviderInfo != nil {
		dec := json.NewDecoder(strings.NewReader(string(*req.ProviderInfo)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&info); err != nil {
			problems = append(problems, "providerInfo must be {\"staticSecret\": <44 characters>}")
		}
	}
	if len(problems) > 0 {
		return nil, httpapi.InputValidationError("%s", strings.Join(problems, "\n"))
	}
	wp, err := s.Store.WorkerPool(ctx, poolID)
	if err != nil {
		return nil, httpapi.StoreError(err, "worker pool "+poolID)
	}
	if ptype, _ := s.Parse.Providers.Type(wp.ProviderID); ptype != pool.ProviderTypeStatic {
		return nil, httpapi.InputError("provider %s of worker pool %s does not support createWorker (only static providers do)", wp.ProviderID, poolID)
	}
	if !identity.ValidStaticSecret(info.StaticSecret) {
		return nil, httpapi.InputValidationError("providerInfo.staticSecret must be 44 of a-z A-Z 0-9 _ - (two slugids)")
	}
	w := store.Worker{Pool: poolID, WorkerGroup: group, WorkerID: id, ProviderID: wp.ProviderID, State: store.Running,
		Capacity: float64(capacity), Expires: req.Expires.UTC(), StaticSecretHash: identity.HashStaticSecret(info.StaticSecret)}
	created, err := s.Store.CreateWorker(ctx, w)
	if errors.Is(err, store.ErrExists) {
		// The same worker again (same provider and secret) is an idempotent repeat.
		existing, gerr := s.Store.Worker(ctx, poolID, group, id)
		if gerr == nil && existing.ProviderID == wp.ProviderID && identity.StaticSecretMatches(existing.StaticSecretHash, info.StaticSecret) {
			return httpapi.OK(workerOut(existing)), nil
		}
		// Another worker under that name: an InputError, as v25's static provider answers.
		return nil, httpapi.InputError("worker %s/%s already exists in pool %s", group, id, poolID)
	}
	if err != nil {
		return nil, httpapi.StoreError(err, "worker")
	}
	return httpapi.OK(workerOut(created)), nil
}

// updateWorker changes a static worker's capacity, expiry and (if given) secret, as
// today's static provider does; expires may be in the past, to expire it at once.
// Other providers' workers cannot be updated.
func (s *Service) updateWorker(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, group, id, err := ids(r)
	if err != nil {
		return nil, err
	}
	if err := r.Require(updateWorkerScope.Bind(map[string]string{"workerPoolId": poolID, "workerGroup": group, "workerId": id})); err != nil {
		return nil, err
	}
	var req createWorkerRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	capacity := int64(1)
	if req.Capacity != nil {
		capacity = *req.Capacity
	}
	var problems []string
	if capacity < 1 || capacity > pool.MaxCapacity {
		problems = append(problems, fmt.Sprintf("capacity must be a whole number from 1 to %d", pool.MaxCapacity))
	}
	if req.Expires == nil {
		problems = append(problems, "expires is required")
	}
	secret, err := staticSecretOf(req.ProviderInfo)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, httpapi.InputValidationError("%s", strings.Join(problems, "\n"))
	}
	w, err := s.Store.Worker(ctx, poolID, group, id)
	if err != nil {
		return nil, httpapi.StoreError(err, fmt.Sprintf("worker %s/%s in pool %s", group, id, poolID))
	}
	if len(w.StaticSecretHash) == 0 {
		return nil, httpapi.InputError("worker %s/%s of provider %s cannot be updated (only static workers can)", group, id, w.ProviderID)
	}
	updated, err := s.Store.UpdateWorkerFrom(ctx, w, func(fresh *store.Worker) error {
		fresh.Capacity, fresh.Expires = float64(capacity), req.Expires.UTC()
		if secret != "" {
			fresh.StaticSecretHash = identity.HashStaticSecret(secret)
		}
		return nil
	})
	if err != nil {
		return nil, httpapi.StoreError(err, "worker")
	}
	return httpapi.OK(workerOut(updated)), nil
}

// staticSecretOf reads providerInfo {"staticSecret": <44 characters>}; "" if there
// is no providerInfo.
func staticSecretOf(info *json.RawMessage) (string, error) {
	if info == nil || string(*info) == "null" {
		return "", nil
	}
	var p struct {
		StaticSecret string `json:"staticSecret"`
	}
	dec := json.NewDecoder(strings.NewReader(string(*info)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || !identity.ValidStaticSecret(p.StaticSecret) {
		return "", errors.New("providerInfo must be {\"staticSecret\": <44 of a-z A-Z 0-9 _ ->}")
	}
	return p.StaticSecret, nil
}

// removeWorker asks the worker's provider to remove it: an aws worker's instance is
// terminated (its record goes stopping, then stopped as EC2 confirms); a static
// worker's record is deleted.
func (s *Service) removeWorker(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, group, id, err := ids(r)
	if err != nil {
		return nil, err
	}
	if err := r.Require(removeWorkerScope.Bind(map[string]string{"workerPoolId": poolID, "workerGroup": group, "workerId": id})); err != nil {
		return nil, err
	}
	w, err := s.Store.Worker(ctx, poolID, group, id)
	if err != nil {
		return nil, httpapi.StoreError(err, fmt.Sprintf("worker %s/%s in pool %s", group, id, poolID))
	}
	switch {
	case w.InstanceID != "":
		if !w.State.Alive() {
			return httpapi.OK(nil), nil // already on its way out
		}
		reason := "removed through the API by " + r.Caller.ClientID
		if _, err := s.Store.UpdateWorker(ctx, w.Pool, w.Key, func(w *store.Worker) error {
			if !w.MarkStopping(reason) {
				return store.ErrNoChange
			}
			return nil
		}); err != nil {
			return nil, httpapi.StoreError(err, "worker")
		}
		announce.Announce(ctx, s.Events, s.log(), announce.Removed(w, reason, s.Store.Now()))
		cl, err := s.Cloud()
		if err == nil {
			err = cl.Terminate(ctx, w.Region, []string{w.InstanceID})
		}
		if err != nil {
			// The record says stopping; the provisioner terminates stopping workers whose
			// instances still run, so the removal completes anyway.
			s.log().WarnContext(ctx, "terminating a removed worker failed; the provisioner will", "worker", w.Key, "error", err.Error())
		}
	case s.Current:
		// Today's static provider stops the worker and keeps its record.
		now := s.Store.Now()
		if _, err := s.Store.UpdateWorkerFrom(ctx, w, func(fresh *store.Worker) error {
			if !fresh.MarkStopped(now, "removed through the API by "+r.Caller.ClientID) {
				return store.ErrNoChange
			}
			return nil
		}); err != nil {
			return nil, httpapi.StoreError(err, "worker")
		}
		announce.Announce(ctx, s.Events, s.log(), announce.Removed(w, "removed through the API by "+r.Caller.ClientID, now))
	default:
		// v25's deletes it.
		if err := s.Store.DeleteWorker(ctx, w.Pool, w.Key, w.Version); err != nil {
			return nil, httpapi.StoreError(err, "worker")
		}
		announce.Announce(ctx, s.Events, s.log(), announce.Removed(w, "removed through the API by "+r.Caller.ClientID, s.Store.Now()))
	}
	s.log().InfoContext(ctx, "worker removed", "pool", poolID, "worker", w.Key, "clientId", r.Caller.ClientID)
	return httpapi.OK(nil), nil
}

// errorRequest is reportWorkerError's body.
type errorRequest struct {
	Kind        string          `json:"kind"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Extra       json.RawMessage `json:"extra"`
	WorkerGroup string          `json:"workerGroup"`
	WorkerID    string          `json:"workerId"`
}

var kindRE = regexp.MustCompile(`^[-a-z0-9]+$`)

// errorResponse is a WorkerPoolError.
type errorResponse struct {
	ErrorID      string          `json:"errorId"`
	WorkerPoolID string          `json:"workerPoolId"`
	Reported     string          `json:"reported"`
	Kind         string          `json:"kind"`
	Title        string          `json:"title"`
	Description  string          `json:"description"`
	Extra        json.RawMessage `json:"extra"`
	// LaunchConfigID is the launch config the error concerns (today's worker-manager).
	LaunchConfigID string `json:"launchConfigId,omitempty"`
}

func errorOut(e store.PoolError) errorResponse {
	return errorResponse{ErrorID: e.ErrorID, WorkerPoolID: e.Pool, Reported: ts(e.Reported), Kind: e.Kind, Title: e.Title,
		Description: e.Description, Extra: e.Extra, LaunchConfigID: e.LaunchConfigID}
}

func (s *Service) reportWorkerError(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, _, _, err := ids(r)
	if err != nil {
		return nil, err
	}
	var req errorRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	var problems []string
	if !pool.ValidWorkerGroup(req.WorkerGroup) || !pool.ValidWorkerID(req.WorkerID) {
		problems = append(problems, "workerGroup and workerId must each be 1 to 38 of a-z A-Z 0-9 - _")
	}
	if !kindRE.MatchString(req.Kind) || len(req.Kind) > 128 {
		problems = append(problems, "kind must match [-a-z0-9]+ and be at most 128 characters")
	}
	if req.Title == "" || len(req.Title) > 128 {
		problems = append(problems, "title must be 1 to 128 characters")
	}
	if len(req.Description) > 10240 {
		problems = append(problems, "description must be at most 10240 characters")
	}
	extra := map[string]any{}
	if len(req.Extra) > 0 && string(req.Extra) != "null" {
		if err := json.Unmarshal(req.Extra, &extra); err != nil {
			problems = append(problems, "extra must be an object")
		}
	}
	if len(problems) > 0 {
		return nil, httpapi.InputValidationError("%s", strings.Join(problems, "\n"))
	}
	if err := r.Require(reportErrorScopes.Bind(map[string]string{"workerPoolId": poolID, "workerGroup": req.WorkerGroup, "workerId": req.WorkerID})); err != nil {
		return nil, err
	}
	wp, err := s.Store.WorkerPool(ctx, poolID)
	if err != nil {
		return nil, httpapi.StoreError(err, "worker pool "+poolID)
	}
	extra["workerGroup"], extra["workerId"] = req.WorkerGroup, req.WorkerID
	raw, _ := json.Marshal(extra)
	launchConfigID := "" // the reporting worker's, as today's worker-manager records it
	if w, err := s.Store.Worker(ctx, poolID, req.WorkerGroup, req.WorkerID); err == nil {
		launchConfigID = w.LaunchConfigID
	}
	e, err := s.Store.AddError(ctx, store.PoolError{Pool: poolID, ErrorID: slugid.Nice(), Kind: req.Kind, Title: req.Title,
		Description: req.Description, Extra: raw, LaunchConfigID: launchConfigID}, s.retention())
	if err != nil {
		return nil, httpapi.StoreError(err, "worker pool error")
	}
	announce.Announce(ctx, s.Events, s.log(), announce.PoolError(e, wp.ProviderID, req.WorkerGroup, req.WorkerID))
	s.mailError(ctx, wp, e, extra)
	return httpapi.OK(errorOut(e)), nil
}

func (s *Service) listWorkerPoolErrors(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, _, _, err := ids(r)
	if err != nil {
		return nil, err
	}
	if err := require(r, listErrorsScope, nil); err != nil {
		return nil, err
	}
	limit, token, err := r.Paging(1000)
	if err != nil {
		return nil, err
	}
	f := store.ErrorFilter{ErrorID: r.Query.Get("errorId"), LaunchConfigID: r.Query.Get("launchConfigId")}
	if (f.ErrorID != "" && !pool.ValidLaunchConfigID(f.ErrorID)) || (f.LaunchConfigID != "" && !pool.ValidLaunchConfigID(f.LaunchConfigID)) {
		return nil, httpapi.InputValidationError("errorId and launchConfigId must each be 1 to 38 of a-z A-Z 0-9 - _")
	}
	es, next, err := s.Store.ListErrorsWhere(ctx, poolID, f, store.Page{Limit: limit, Token: token})
	if err != nil {
		return nil, httpapi.StoreError(err, "errors of "+poolID)
	}
	out := make([]errorResponse, 0, len(es))
	for _, e := range es {
		out = append(out, errorOut(e))
	}
	return httpapi.OK(page("workerPoolErrors", out, next)), nil
}

// mailError mails a reported error to the pool's owner when the pool asks for it
// (emailOnError) and a mailer is configured. As in worker-manager, the error is
// recorded whether or not the email goes out; a failure is logged.
func (s *Service) mailError(ctx context.Context, wp store.WorkerPool, e store.PoolError, extra map[string]any) {
	if !wp.EmailOnError || s.Mailer == nil {
		return
	}
	err := notify.Send(ctx, s.Mailer, wp.Owner, notify.PoolError{WorkerPoolID: wp.WorkerPoolID, ErrorID: e.ErrorID, Title: e.Title,
		Description: e.Description, Extra: extra})
	if err != nil {
		s.log().WarnContext(ctx, "emailOnError: the error was recorded but not mailed", "pool", wp.WorkerPoolID, "errorId", e.ErrorID, "error", err.Error())
	}
}

// Reasons shouldWorkerTerminate gives.
const (
	TerminateReasonNone        = "none" // the provisioner has not decided yet
	TerminateReasonPoolDeleted = "worker pool deleted"
	TerminateReasonProvider    = "worker pool moved to another provider"
	TerminateReasonNotRunning  = "worker is not running"
)

// shouldTerminateResponse is shouldWorkerTerminate's answer.
type shouldTerminateResponse struct {
	Terminate bool   `json:"terminate"`
	Reason    string `json:"reason"`
}

// shouldWorkerTerminate tells a worker whether it is still needed, as today's
// generic-worker asks between tasks and when its idle timeout comes: no once its
// pool is deleted or moved to another provider, or once it is stopping; otherwise
// what the provisioner last decided (it marks the surplus of running workers over
// what the pool's demand needs, oldest first). Static workers are never told to
// stop this way: their owners run them.
func (s *Service) shouldWorkerTerminate(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	poolID, group, id, err := ids(r)
	if err != nil {
		return nil, err
	}
	if err := r.Require(shouldTerminateScope.Bind(map[string]string{"workerPoolId": poolID, "workerGroup": group, "workerId": id})); err != nil {
		return nil, err
	}
	w, err := s.Store.Worker(ctx, poolID, group, id)
	if err != nil {
		return nil, httpapi.StoreError(err, fmt.Sprintf("worker %s/%s in pool %s", group, id, poolID))
	}
	if w.InstanceID == "" {
		return httpapi.OK(shouldTerminateResponse{Reason: TerminateReasonNone}), nil
	}
	if !w.State.Alive() {
		return httpapi.OK(shouldTerminateResponse{Terminate: true, Reason: TerminateReasonNotRunning}), nil
	}
	wp, err := s.Store.WorkerPool(ctx, poolID)
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && wp.ProviderID == pool.NullProviderID:
		return httpapi.OK(shouldTerminateResponse{Terminate: true, Reason: TerminateReasonPoolDeleted}), nil
	case err != nil:
		return nil, httpapi.StoreError(err, "worker pool "+poolID)
	case wp.ProviderID != w.ProviderID:
		return httpapi.OK(shouldTerminateResponse{Terminate: true, Reason: TerminateReasonProvider}), nil
	}
	reason := w.TerminateReason
	if reason == "" {
		reason = TerminateReasonNone
	}
	return httpapi.OK(shouldTerminateResponse{Terminate: w.ShouldTerminate, Reason: reason}), nil
}
