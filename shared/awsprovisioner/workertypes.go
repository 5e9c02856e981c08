package awsprovisioner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// workerTypeResponse is the stored definition, as it was written, with workerType
// and lastModified added after its members (the seed's WorkerTypeResponse).
func workerTypeResponse(wt store.WorkerType) (*httpapi.Response, error) {
	def := bytes.TrimSpace(wt.Definition)
	if len(def) < 2 || def[0] != '{' || def[len(def)-1] != '}' {
		return nil, fmt.Errorf("stored definition of %s is not a JSON object", wt.Name)
	}
	name, _ := json.Marshal(wt.Name)
	var b bytes.Buffer
	b.Write(def[:len(def)-1])
	if len(bytes.TrimSpace(def[1:len(def)-1])) > 0 {
		b.WriteByte(',')
	}
	fmt.Fprintf(&b, `"workerType":%s,"lastModified":%q}`, name, ts(wt.LastModified))
	return httpapi.OK(json.RawMessage(b.Bytes())), nil
}

// definitionScopes are all the scopes a definition grants its instances; whoever
// writes the definition must hold them, as Taskcluster requires of whoever grants
// scopes to a client or role (else a manage-worker-type scope would mint any scopes).
func definitionScopes(wt pool.WorkerType) []string {
	set := map[string]bool{}
	for _, s := range wt.Scopes {
		set[s] = true
	}
	for _, r := range wt.Regions {
		for _, s := range r.Scopes {
			set[s] = true
		}
	}
	for _, it := range wt.InstanceTypes {
		for _, s := range it.Scopes {
			set[s] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// requireWrite checks the manage scope and that the caller holds every scope the
// definition's instances will carry: those it grants, and those the secrets the
// provisioner makes for them add (SecretScopes: the worker-type role and
// assume:worker-id:*), else a manage-worker-type scope would mint them.
func requireWrite(r *httpapi.Request, name string, def pool.WorkerType) error {
	params := map[string]string{"workerType": name}
	if err := r.Require(manageScope.Bind(params)); err != nil {
		return err
	}
	if err := requireAll(r, SecretScopes(name, definitionScopes(def))); err != nil {
		return httpapi.InsufficientScopes("the definition grants its instances scopes the caller does not hold: %s", err.Message)
	}
	return nil
}

func (s *Service) parse(r *httpapi.Request) (string, pool.WorkerType, error) {
	name, err := workerTypeName(r)
	if err != nil {
		return "", pool.WorkerType{}, err
	}
	// Scopes first, so that callers without them learn nothing of the definition.
	if err := r.Require(manageScope.Bind(map[string]string{"workerType": name})); err != nil {
		return "", pool.WorkerType{}, err
	}
	if len(r.Body) == 0 {
		return "", pool.WorkerType{}, httpapi.InputValidationError("request body is empty; a worker type definition is required")
	}
	def, err := pool.ParseWorkerType(r.Body, s.Parse)
	if err != nil {
		return "", pool.WorkerType{}, invalid(err)
	}
	if n := def.NamedAs(); n != "" && n != name {
		return "", pool.WorkerType{}, httpapi.InputValidationError("workerType %q in the body differs from %q in the URL", n, name)
	}
	if err := requireWrite(r, name, def); err != nil {
		return "", pool.WorkerType{}, err
	}
	return name, def, nil
}

func (s *Service) createWorkerType(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	name, def, err := s.parse(r)
	if err != nil {
		return nil, err
	}
	if err := routableName(name); err != nil {
		return nil, err
	}
	if err := s.checkResources(ctx, def); err != nil {
		return nil, err
	}
	wt, err := s.Store.CreateWorkerType(ctx, name, def.Written())
	if errors.Is(err, store.ErrExists) {
		existing, perr := pool.ParseWorkerType(wt.Definition, pool.ParseOptions{Stored: true})
		if perr != nil || !pool.Equal(existing, def) {
			return nil, httpapi.Conflict("worker type %s already exists with a different definition; use updateWorkerType to change it", name)
		}
		err = nil // the same definition again: idempotent
	}
	if err != nil {
		return nil, httpapi.StoreError(err, "worker type "+name)
	}
	return workerTypeResponse(wt)
}

// routableName refuses new worker type names whose last '/' segment is "update", the
// worker type's own sub-route ("/launch-specifications" cannot fit in 22
// characters). API Gateway hands us the path decoded, so
// "PUT /worker-type/gecko/update" (a wrong method for updateWorkerType) and a name
// "gecko/update" arrive alike; creating it would make a stray worker type that
// updateWorkerType and getLaunchSpecs could not address unambiguously.
func routableName(name string) error {
	if strings.HasSuffix(name, "/update") {
		return httpapi.InputValidationError("workerType %q ends in /update, which is a route of its own: to update a worker type, POST /worker-type/<workerType>/update", name)
	}
	return nil
}

func (s *Service) updateWorkerType(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	name, def, err := s.parse(r)
	if err != nil {
		return nil, err
	}
	if err := s.checkResources(ctx, def); err != nil {
		return nil, err
	}
	wt, err := s.Store.UpdateWorkerType(ctx, name, def.Written())
	if err != nil {
		return nil, httpapi.StoreError(err, "worker type "+name)
	}
	return workerTypeResponse(wt)
}

func (s *Service) workerType(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	name, err := workerTypeName(r)
	if err != nil {
		return nil, err
	}
	if err := r.Require(viewScopes.Bind(map[string]string{"workerType": name})); err != nil {
		return nil, err
	}
	wt, err := s.Store.WorkerType(ctx, name)
	if err != nil {
		return nil, httpapi.StoreError(err, "worker type "+name)
	}
	return workerTypeResponse(wt)
}

func (s *Service) workerTypeLastModified(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	name, err := workerTypeName(r)
	if err != nil {
		return nil, err
	}
	wt, err := s.Store.WorkerType(ctx, name)
	if err != nil {
		return nil, httpapi.StoreError(err, "worker type "+name)
	}
	return httpapi.OK(map[string]string{"workerType": name, "lastModified": ts(wt.LastModified)}), nil
}

func (s *Service) removeWorkerType(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	name, err := workerTypeName(r)
	if err != nil {
		return nil, err
	}
	if err := r.Require(manageScope.Bind(map[string]string{"workerType": name})); err != nil {
		return nil, err
	}
	removed, err := s.Store.DeleteWorkerType(ctx, name)
	if err != nil {
		return nil, httpapi.StoreError(err, "worker type "+name)
	}
	// As the aws-provisioner: 204 whether or not it existed, so "ensure deleted"
	// scripts pass; its instances are terminated at once (next iteration), not drained.
	if removed {
		s.log().InfoContext(ctx, "worker type removed; the provisioner terminates its instances", "workerType", name, "clientId", r.Caller.ClientID)
	}
	return httpapi.NoContent(), nil
}

func (s *Service) listWorkerTypes(ctx context.Context, _ *httpapi.Request) (*httpapi.Response, error) {
	wts, err := s.Store.WorkerTypeListing(ctx)
	if err != nil {
		return nil, fmt.Errorf("list worker types: %w", err)
	}
	names := make([]string, 0, len(wts))
	for _, wt := range wts {
		names = append(names, wt.Name)
	}
	sort.Strings(names)
	return httpapi.OK(names), nil
}

func (s *Service) getLaunchSpecs(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	name, err := workerTypeName(r)
	if err != nil {
		return nil, err
	}
	if err := r.Require(viewScopes.Bind(map[string]string{"workerType": name})); err != nil {
		return nil, err
	}
	wt, err := s.Store.WorkerType(ctx, name)
	if err != nil {
		return nil, httpapi.StoreError(err, "worker type "+name)
	}
	def, err := pool.ParseWorkerType(wt.Definition, pool.ParseOptions{Stored: true})
	if err != nil {
		return nil, fmt.Errorf("stored definition of %s: %w", name, err)
	}
	specs := def.LaunchSpecs(name, wt.LastModified, pool.UserDataContext{RootURL: s.rootURL(r), Generated: s.Store.Now()})
	return httpapi.OK(specs), nil
}

// rootURL is the deployment's root URL: configured, or the one the caller used.
func (s *Service) rootURL(r *httpapi.Request) string {
	if s.RootURL != "" {
		return s.RootURL
	}
	proto := r.Header.Get("X-Forwarded-Proto")
	if proto == "" {
		proto = "https"
	}
	return proto + "://" + r.Header.Get("Host")
}

// Summary is a worker type's capacity, as listWorkerTypeSummaries reports it.
type Summary struct {
	WorkerType        string `json:"workerType"`
	MinCapacity       int64  `json:"minCapacity"`
	MaxCapacity       int64  `json:"maxCapacity"`
	RequestedCapacity int64  `json:"requestedCapacity"`
	PendingCapacity   int64  `json:"pendingCapacity"`
	RunningCapacity   int64  `json:"runningCapacity"`
}

// summarize counts the capacity of live workers: requested (launched, not yet seen
// by EC2), pending (EC2 is starting it) and running (EC2 runs it, or it checked in).
func summarize(name string, def pool.WorkerType, workers []store.Worker) Summary {
	sum := Summary{WorkerType: name, MinCapacity: int64(def.MinCapacity), MaxCapacity: int64(def.MaxCapacity)}
	for _, w := range workers {
		if !w.State.Alive() {
			continue
		}
		c := int64(w.Capacity)
		switch {
		case w.State == store.Running || w.EC2State == "running":
			sum.RunningCapacity += c
		case w.EC2State == "pending":
			sum.PendingCapacity += c
		default:
			sum.RequestedCapacity += c
		}
	}
	return sum
}

// listWorkerTypeSummaries reads the worker types' names and capacity bounds (not
// their definitions) and each one's live workers (not the stopped ones kept
// listed): what the answer needs.
func (s *Service) listWorkerTypeSummaries(ctx context.Context, _ *httpapi.Request) (*httpapi.Response, error) {
	wts, err := s.Store.WorkerTypeListing(ctx)
	if err != nil {
		return nil, fmt.Errorf("list worker types: %w", err)
	}
	sort.Slice(wts, func(i, j int) bool { return wts[i].Name < wts[j].Name })
	out := make([]Summary, len(wts))
	var g errgroup.Group
	g.SetLimit(16)
	for i, wt := range wts {
		g.Go(func() error {
			bounds, err := s.capacityBounds(ctx, wt)
			if errors.Is(err, store.ErrNotFound) {
				return nil // removed since it was listed
			}
			if err != nil {
				return err
			}
			workers, err := s.Store.LiveWorkers(ctx, store.WorkerTypePool(wt.Name))
			if err != nil {
				return err
			}
			out[i] = summarize(wt.Name, bounds, workers)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	listed := out[:0]
	for _, sum := range out {
		if sum.WorkerType != "" {
			listed = append(listed, sum)
		}
	}
	return httpapi.OK(listed), nil
}

// capacityBounds are a listed worker type's minCapacity and maxCapacity: from the
// listing, or, for a record written before the listing kept them, from its
// definition.
func (s *Service) capacityBounds(ctx context.Context, wt store.WorkerType) (pool.WorkerType, error) {
	if wt.MaxCapacity != nil {
		b := pool.WorkerType{MaxCapacity: *wt.MaxCapacity}
		if wt.MinCapacity != nil {
			b.MinCapacity = *wt.MinCapacity
		}
		return b, nil
	}
	full, err := s.Store.WorkerType(ctx, wt.Name)
	if err != nil {
		return pool.WorkerType{}, err
	}
	def, err := pool.ParseWorkerType(full.Definition, pool.ParseOptions{Stored: true})
	if err != nil {
		return pool.WorkerType{}, fmt.Errorf("stored definition of %s: %w", wt.Name, err)
	}
	return def, nil
}

// instanceState is one instance in the state response.
type instanceState struct {
	ID              string  `json:"id"`
	Type            string  `json:"type"`
	Region          string  `json:"region"`
	Zone            string  `json:"zone"`
	AMI             string  `json:"ami"`
	State           string  `json:"state"`       // EC2's state
	WorkerState     string  `json:"workerState"` // requested, running, stopping, stopped
	Launch          string  `json:"launch"`
	Capacity        float64 `json:"capacity"`
	Spot            bool    `json:"spot"`
	Price           float64 `json:"price"`
	InstanceStarted string  `json:"instanceStarted,omitempty"`
	InterruptionDue string  `json:"interruptionDeadline,omitempty"`
	TerminateAfter  string  `json:"terminateAfter,omitempty"`
	StopReason      string  `json:"stopReason,omitempty"`
}

func (s *Service) state(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	name, err := workerTypeName(r)
	if err != nil {
		return nil, err
	}
	wt, err := s.Store.WorkerType(ctx, name)
	defined := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, httpapi.StoreError(err, "worker type "+name)
	}
	// The live workers only: state shows what runs, as the aws-provisioner's did,
	// and stopped records, kept listed for a day, would make its cost follow the
	// day's launches.
	workers, err := s.Store.LiveWorkers(ctx, store.WorkerTypePool(name))
	if err != nil {
		return nil, fmt.Errorf("workers of %s: %w", name, err)
	}
	if !defined && len(workers) == 0 {
		return nil, httpapi.NotFound("worker type %s not found", name)
	}
	var def pool.WorkerType
	if defined {
		if def, err = pool.ParseWorkerType(wt.Definition, pool.ParseOptions{Stored: true}); err != nil {
			return nil, fmt.Errorf("stored definition of %s: %w", name, err)
		}
	}
	instances := make([]instanceState, 0, len(workers))
	for _, w := range workers {
		is := instanceState{ID: w.InstanceID, Type: w.InstanceType, Region: w.Region, Zone: w.AvailabilityZone, AMI: w.ImageID,
			State: w.EC2State, WorkerState: string(w.State), Launch: ts(w.Created), Capacity: w.Capacity, Spot: w.Spot,
			Price: w.Price, StopReason: w.StopReason}
		if is.State == "" {
			is.State = "requested"
		}
		if !w.Registered.IsZero() {
			is.InstanceStarted = ts(w.Registered)
		}
		if !w.InterruptionDeadline.IsZero() {
			is.InterruptionDue = ts(w.InterruptionDeadline)
		}
		if !w.TerminateAfter.IsZero() {
			is.TerminateAfter = ts(w.TerminateAfter)
		}
		instances = append(instances, is)
	}
	errs, _, err := s.Store.ListErrors(ctx, store.WorkerTypePool(name), store.Page{Limit: 20})
	if err != nil {
		return nil, fmt.Errorf("errors of %s: %w", name, err)
	}
	recent := make([]map[string]string, 0, len(errs))
	for _, e := range errs {
		recent = append(recent, map[string]string{"kind": e.Kind, "title": e.Title, "description": e.Description, "reported": ts(e.Reported)})
	}
	resp := map[string]any{
		"workerType": name,
		"defined":    defined,
		"instances":  instances,
		"requests":   []any{}, // instances are launched directly; there are no spot requests to wait on
		"summary":    summarize(name, def, workers),
		"errors":     recent,
	}
	if st, err := s.Store.PoolStatus(ctx, store.WorkerTypePool(name)); err == nil {
		resp["provisioner"] = map[string]any{"updated": ts(st.Updated), "pendingTasks": st.PendingTasks, "decision": st.Decision}
	}
	return httpapi.OK(resp), nil
}

func (s *Service) backendStatus(ctx context.Context, _ *httpapi.Request) (*httpapi.Response, error) {
	c, err := s.Store.LastCheckIn(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return httpapi.OK(map[string]string{"status": "pending", "lastCheckedIn": ts(time.Time{})}), nil
	}
	if err != nil {
		return nil, fmt.Errorf("last check-in: %w", err)
	}
	interval := s.CheckInInterval
	if interval == 0 {
		interval = time.Minute
	}
	status := "healthy"
	if s.Store.Now().Sub(c.Time) > 3*interval {
		status = "missing"
	}
	return httpapi.OK(map[string]any{"status": status, "lastCheckedIn": ts(c.Time), "outcome": c.Outcome, "iteration": c.Iteration}), nil
}
