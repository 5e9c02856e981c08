package workermanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// poolResponse is a WorkerPoolFullDefinition: v25's members, and today's worker
// figures (see stats.go).
type poolResponse struct {
	WorkerPoolID string          `json:"workerPoolId"`
	ProviderID   string          `json:"providerId"`
	Description  string          `json:"description"`
	Owner        string          `json:"owner"`
	EmailOnError bool            `json:"emailOnError"`
	Config       json.RawMessage `json:"config"`
	Created      string          `json:"created"`
	LastModified string          `json:"lastModified"`
	poolCounts
}

func (s *Service) poolOut(p store.WorkerPool, counts store.WorkerCounts) poolResponse {
	cfg := p.Config
	if s.Current {
		cfg = pool.TodaysView(cfg, p.ProviderID == pool.NullProviderID)
	}
	return poolResponse{WorkerPoolID: p.WorkerPoolID, ProviderID: p.ProviderID, Description: p.Description, Owner: p.Owner,
		EmailOnError: p.EmailOnError, Config: cfg, Created: ts(p.Created), LastModified: ts(p.LastModified), poolCounts: countsOut(counts)}
}

// poolAnswer is p as one pool's answer, with its figures.
func (s *Service) poolAnswer(ctx context.Context, p store.WorkerPool) (*httpapi.Response, error) {
	counts, err := s.poolStatus(ctx, p.WorkerPoolID)
	if err != nil {
		return nil, err
	}
	return httpapi.OK(s.poolOut(p, counts)), nil
}

// poolRequest is the body of createWorkerPool and updateWorkerPool. workerPoolId,
// created, lastModified and the worker figures are allowed so the body of a
// previous GET can be sent back; the id must be right, the rest is ignored.
type poolRequest struct {
	ProviderID   *string          `json:"providerId"`
	Description  *string          `json:"description"`
	Owner        *string          `json:"owner"`
	EmailOnError *bool            `json:"emailOnError"`
	Config       *json.RawMessage `json:"config"`
	WorkerPoolID string           `json:"workerPoolId"`
	Created      json.RawMessage  `json:"created"`
	LastModified json.RawMessage  `json:"lastModified"`
	// A GET body's worker figures, ignored.
	CurrentCapacity   json.RawMessage `json:"currentCapacity"`
	RequestedCount    json.RawMessage `json:"requestedCount"`
	RunningCount      json.RawMessage `json:"runningCount"`
	StoppingCount     json.RawMessage `json:"stoppingCount"`
	StoppedCount      json.RawMessage `json:"stoppedCount"`
	RequestedCapacity json.RawMessage `json:"requestedCapacity"`
	RunningCapacity   json.RawMessage `json:"runningCapacity"`
	StoppingCapacity  json.RawMessage `json:"stoppingCapacity"`
	StoppedCapacity   json.RawMessage `json:"stoppedCapacity"`
}

// decodePool validates a pool request; the scopes are checked before the config (a
// caller without them learns nothing about what a config may hold).
func (s *Service) decodePool(r *httpapi.Request, id string) (store.WorkerPool, pool.Config, error) {
	var req poolRequest
	if err := r.Decode(&req); err != nil {
		return store.WorkerPool{}, pool.Config{}, err
	}
	var problems []string
	if req.WorkerPoolID != "" && req.WorkerPoolID != id {
		problems = append(problems, fmt.Sprintf("workerPoolId %q in the body differs from %q in the URL", req.WorkerPoolID, id))
	}
	if req.ProviderID == nil || !pool.ValidProviderID(*req.ProviderID) {
		problems = append(problems, "providerId is required: 1 to 38 of a-z A-Z 0-9 - _")
	}
	if req.Description == nil {
		problems = append(problems, "description is required")
	} else if len(*req.Description) > 10240 {
		problems = append(problems, "description must be at most 10240 characters")
	}
	if req.Owner == nil {
		problems = append(problems, "owner is required (an email address)")
	} else if _, err := mail.ParseAddress(*req.Owner); err != nil {
		problems = append(problems, fmt.Sprintf("owner %q is not an email address", *req.Owner))
	}
	if req.EmailOnError == nil {
		problems = append(problems, "emailOnError is required")
	}
	if req.Config == nil {
		problems = append(problems, "config is required")
	}
	if len(problems) > 0 {
		return store.WorkerPool{}, pool.Config{}, httpapi.InputValidationError("%s", strings.Join(problems, "\n"))
	}
	params := map[string]string{"workerPoolId": id, "providerId": *req.ProviderID}
	if err := r.Require(manageScope.Bind(params)); err != nil {
		return store.WorkerPool{}, pool.Config{}, err
	}
	if err := r.Require(providerScope.Bind(params)); err != nil {
		return store.WorkerPool{}, pool.Config{}, err
	}
	cfg, err := pool.ParseConfig(*req.ProviderID, *req.Config, s.Parse)
	if err != nil {
		var inv *pool.InvalidError
		if errors.As(err, &inv) {
			return store.WorkerPool{}, pool.Config{}, httpapi.InputValidationError("%s", strings.Join(inv.Problems, "\n"))
		}
		return store.WorkerPool{}, pool.Config{}, err
	}
	return store.WorkerPool{WorkerPoolID: id, ProviderID: *req.ProviderID, Description: *req.Description, Owner: *req.Owner,
		EmailOnError: *req.EmailOnError, Config: cfg.JSON()}, cfg, nil
}

// launchConfigIdentities are an aws pool's launch configs as the store keeps them.
func launchConfigIdentities(cfg pool.Config) []store.LaunchConfigIdentity {
	if cfg.AWS == nil {
		return nil
	}
	lcs := make([]store.LaunchConfigIdentity, 0, len(cfg.AWS.LaunchConfigs))
	for _, lc := range cfg.AWS.LaunchConfigs {
		lcs = append(lcs, store.LaunchConfigIdentity{ID: lc.ID, Written: lc.Written, Content: pool.LaunchConfigContent(lc.Written)})
	}
	return lcs
}

// checkLaunchConfigs refuses, before anything is written, a definition that gives
// a launch config id the pool has had other content under: an id names one launch
// config forever (409, as today's worker-manager answers).
func (s *Service) checkLaunchConfigs(ctx context.Context, id string, cfg pool.Config) error {
	if cfg.AWS == nil {
		return nil
	}
	_, err := s.Store.CheckLaunchConfigs(ctx, id, launchConfigIdentities(cfg))
	if errors.Is(err, store.ErrLaunchConfigTaken) {
		return httpapi.Conflict("%v: a launchConfigId names one launch config forever; give the changed launch config a new id", err)
	}
	if err != nil {
		return httpapi.StoreError(err, "launch configs of "+id)
	}
	return nil
}

// recordLaunchConfigs remembers the launch configs of a pool's definition once it
// is written. A concurrent writer that took one of its ids with other content
// first is logged: the definition stands, and its next update is refused until
// the id is changed.
func (s *Service) recordLaunchConfigs(ctx context.Context, id string, cfg pool.Config) []string {
	if cfg.AWS == nil {
		return nil
	}
	created, err := s.Store.RecordLaunchConfigs(ctx, id, launchConfigIdentities(cfg))
	if err != nil {
		s.log().WarnContext(ctx, "launch configs not recorded", "pool", id, "error", err.Error())
	}
	if len(created) > 0 {
		s.log().InfoContext(ctx, "launch configs created", "pool", id, "launchConfigIds", created)
	}
	return created
}

// announcePool announces a pool's creation or update (name), with its launch
// configs' changes between the ids it had (before) and has (after): those new to
// it created, those it keeps updated, those it dropped archived.
func (s *Service) announcePool(ctx context.Context, name string, p store.WorkerPool, previousProvider string, created, before []string) {
	after := pool.LaunchConfigIDsOf(p.Config)
	if p.ProviderID == pool.NullProviderID {
		after = nil
	}
	var updated, archived []string
	for _, id := range after {
		if slices.Contains(before, id) && !slices.Contains(created, id) {
			updated = append(updated, id)
		}
	}
	for _, id := range before {
		if !slices.Contains(after, id) {
			archived = append(archived, id)
		}
	}
	events := []announce.Event{announce.Pool(name, p.WorkerPoolID, p.ProviderID, previousProvider)}
	events = append(events, announce.LaunchConfigs(announce.LaunchConfigCreated, p.WorkerPoolID, p.ProviderID, created)...)
	events = append(events, announce.LaunchConfigs(announce.LaunchConfigUpdated, p.WorkerPoolID, p.ProviderID, updated)...)
	events = append(events, announce.LaunchConfigs(announce.LaunchConfigArchived, p.WorkerPoolID, p.ProviderID, archived)...)
	announce.Announce(ctx, s.Events, s.log(), events...)
}

func (s *Service) createWorkerPool(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	id, _, _, err := ids(r)
	if err != nil {
		return nil, err
	}
	p, cfg, err := s.decodePool(r, id)
	if err != nil {
		return nil, err
	}
	if p.ProviderID == pool.NullProviderID {
		return nil, httpapi.InputError("a worker pool cannot be created with provider %s", pool.NullProviderID)
	}
	if err := s.checkLaunchConfigs(ctx, id, cfg); err != nil {
		return nil, err
	}
	created, err := s.Store.CreateWorkerPool(ctx, p)
	if errors.Is(err, store.ErrExists) {
		// The same definition again (say, the body of a GET sent back) changes nothing.
		if cur, gerr := s.Store.WorkerPool(ctx, id); gerr == nil && sameDefinition(cur, p) {
			return s.poolAnswer(ctx, cur)
		}
		return nil, httpapi.Conflict("worker pool %s already exists", id)
	}
	if err != nil {
		return nil, httpapi.StoreError(err, "worker pool "+id)
	}
	s.announcePool(ctx, announce.WorkerPoolCreated, created, "", s.recordLaunchConfigs(ctx, id, cfg), nil)
	return s.poolAnswer(ctx, created)
}

func (s *Service) updateWorkerPool(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	id, _, _, err := ids(r)
	if err != nil {
		return nil, err
	}
	p, cfg, err := s.decodePool(r, id)
	if err != nil {
		return nil, err
	}
	if err := s.checkLaunchConfigs(ctx, id, cfg); err != nil {
		return nil, err
	}
	var before store.WorkerPool
	changed := false
	updated, err := s.Store.UpdateWorkerPool(ctx, id, func(cur *store.WorkerPool) error {
		before, changed = *cur, false
		if sameDefinition(*cur, p) {
			return store.ErrNoChange // nothing written: lastModified stays
		}
		changed = true
		setProvider(cur, p.ProviderID)
		cur.Description, cur.Owner, cur.EmailOnError, cur.Config = p.Description, p.Owner, p.EmailOnError, p.Config
		return nil
	})
	if err != nil {
		return nil, httpapi.StoreError(err, "worker pool "+id)
	}
	created := s.recordLaunchConfigs(ctx, id, cfg)
	if changed {
		s.announcePool(ctx, announce.WorkerPoolUpdated, updated, previousProvider(before, updated), created, launchConfigsOf(before))
	}
	return s.poolAnswer(ctx, updated)
}

// previousProvider is the provider a pool had before an update, if the update
// changed it.
func previousProvider(before, after store.WorkerPool) string {
	if before.ProviderID != after.ProviderID {
		return before.ProviderID
	}
	return ""
}

// launchConfigsOf are the ids of the launch configs a pool launches from (none once
// it is deleted).
func launchConfigsOf(p store.WorkerPool) []string {
	if p.ProviderID == pool.NullProviderID {
		return nil
	}
	return pool.LaunchConfigIDsOf(p.Config)
}

// sameDefinition reports whether b defines pool a as it is: the same provider,
// description, owner, emailOnError and config (pool.SameConfig: member order and
// number spelling aside, and launch configs' launchConfigIds the same whether
// written or made from their content, so that today's read-back sent back is no
// change). The stored config then stays as it was first written.
func sameDefinition(a, b store.WorkerPool) bool {
	return a.ProviderID == b.ProviderID && a.Description == b.Description && a.Owner == b.Owner &&
		a.EmailOnError == b.EmailOnError &&
		(pool.SameConfig(a.Config, b.Config) || pool.SameConfig(pool.TodaysView(a.Config, false), pool.TodaysView(b.Config, false)))
}

// setProvider changes a pool's provider, remembering the old one: its workers are
// still managed (and removed) by the provisioner.
func setProvider(p *store.WorkerPool, provider string) {
	if p.ProviderID != provider && p.ProviderID != "" && !slices.Contains(p.PreviousProviderIDs, p.ProviderID) {
		p.PreviousProviderIDs = append(p.PreviousProviderIDs, p.ProviderID)
	}
	p.ProviderID = provider
}

func (s *Service) deleteWorkerPool(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	id, _, _, err := ids(r)
	if err != nil {
		return nil, err
	}
	if err := r.Require(manageScope.Bind(map[string]string{"workerPoolId": id})); err != nil {
		return nil, err
	}
	var before store.WorkerPool
	deleted := false
	updated, err := s.Store.UpdateWorkerPool(ctx, id, func(cur *store.WorkerPool) error {
		before, deleted = *cur, false
		if cur.ProviderID == pool.NullProviderID {
			return store.ErrNoChange
		}
		deleted = true
		setProvider(cur, pool.NullProviderID)
		return nil
	})
	if err != nil {
		return nil, httpapi.StoreError(err, "worker pool "+id)
	}
	s.log().InfoContext(ctx, "worker pool deleted; it is removed once its workers are gone", "pool", id, "clientId", r.Caller.ClientID)
	if deleted {
		s.announcePool(ctx, announce.WorkerPoolUpdated, updated, previousProvider(before, updated), nil, launchConfigsOf(before))
	}
	return s.poolAnswer(ctx, updated)
}

func (s *Service) workerPool(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	id, _, _, err := ids(r)
	if err != nil {
		return nil, err
	}
	if err := require(r, getPoolScope, nil); err != nil {
		return nil, err
	}
	p, err := s.Store.WorkerPool(ctx, id)
	if err != nil {
		return nil, httpapi.StoreError(err, "worker pool "+id)
	}
	return s.poolAnswer(ctx, p)
}

func (s *Service) listWorkerPools(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	ps, counts, next, err := s.poolsPage(ctx, r)
	if err != nil {
		return nil, err
	}
	out := make([]poolResponse, 0, len(ps))
	for _, p := range ps {
		out = append(out, s.poolOut(p, counts[p.WorkerPoolID]))
	}
	return httpapi.OK(page("workerPools", out, next)), nil
}

// page is a listing's response: its items, and a continuationToken only when more
// may follow.
func page(key string, items any, next string) map[string]any {
	m := map[string]any{key: items}
	if next != "" {
		m["continuationToken"] = next
	}
	return m
}

func (s *Service) listProviders(_ context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	if err := require(r, listProvidersScope, nil); err != nil {
		return nil, err
	}
	limit, token, err := r.Paging(1000)
	if err != nil {
		return nil, err
	}
	all := s.Parse.Providers.List()
	start := 0
	if token != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(token, "providers:"))
		if !strings.HasPrefix(token, "providers:") || err != nil || n < 0 || n > len(all) {
			return nil, httpapi.InputValidationError("continuationToken is invalid")
		}
		start = n
	}
	end := len(all)
	if limit > 0 && start+limit < end {
		end = start + limit
	}
	resp := map[string]any{"providers": all[start:end]}
	if end < len(all) {
		resp["continuationToken"] = fmt.Sprintf("providers:%d", end)
	}
	return httpapi.OK(resp), nil
}
