package workermanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/identity"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// PendingTimeSkew is how far an instance's pendingTime may precede its record's
// creation (the record is written just after the launch returns).
const PendingTimeSkew = 5 * time.Minute

// DefaultReregistrationTimeout is how long credentials last when the pool says nothing.
const DefaultReregistrationTimeout = 96 * time.Hour

// reregistrationTimeout is how long a worker of wp's credentials last: the pool's
// reregistrationTimeout, or DefaultReregistrationTimeout.
func (s *Service) reregistrationTimeout(wp store.WorkerPool) time.Duration {
	if cfg, err := pool.ParseConfig(wp.ProviderID, wp.Config, pool.Options{Providers: s.Parse.Providers}); err == nil && cfg.Sizing().ReregistrationTimeout > 0 {
		return cfg.Sizing().ReregistrationTimeout
	}
	return DefaultReregistrationTimeout
}

// maxCredentials is the longest temporary credentials may live.
const maxCredentials = 31*24*time.Hour - time.Minute

type registerRequest struct {
	WorkerPoolID        string          `json:"workerPoolId"`
	ProviderID          string          `json:"providerId"`
	WorkerGroup         string          `json:"workerGroup"`
	WorkerID            string          `json:"workerId"`
	WorkerIdentityProof json.RawMessage `json:"workerIdentityProof"`
}

// CredentialsStartSkew is how far before registration worker credentials start, as
// worker-manager v25 starts them (15 minutes), so that a worker or auth service
// whose clock runs behind still accepts them.
const CredentialsStartSkew = 15 * time.Minute

// WorkerScopes are the scopes a registered worker's credentials carry, as
// worker-manager v25 grants them: the seed's five, and the deprecated worker-type
// role and secret names that deployments' roles and secrets still use.
func WorkerScopes(poolID, workerGroup, workerID string) []string {
	return []string{
		"assume:worker-type:" + poolID,
		"assume:worker-pool:" + poolID,
		"assume:worker-id:" + workerGroup + "/" + workerID,
		"queue:worker-id:" + workerGroup + "/" + workerID,
		"secrets:get:worker-type:" + poolID,
		"secrets:get:worker-pool:" + poolID,
		"queue:claim-work:" + poolID,
	}
}

// WorkerClientID is the client id of a registered worker's credentials.
func WorkerClientID(providerID, poolID, workerGroup, workerID string) string {
	return "worker/" + providerID + "/" + poolID + "/" + workerGroup + "/" + workerID
}

// registerWorker: a worker proves who it is and gets credentials. Failures are 400
// InputErrors (404 for what does not exist) that say what did not match, never why a
// signature failed in detail.
func (s *Service) registerWorker(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	var req registerRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	var problems []string
	if !pool.ValidWorkerPoolID(req.WorkerPoolID) {
		problems = append(problems, "workerPoolId is not a valid worker pool id")
	}
	if !pool.ValidProviderID(req.ProviderID) {
		problems = append(problems, "providerId is not a valid provider id")
	}
	if !pool.ValidWorkerGroup(req.WorkerGroup) || !pool.ValidWorkerID(req.WorkerID) {
		problems = append(problems, "workerGroup and workerId must each be 1 to 38 of a-z A-Z 0-9 - _")
	}
	if len(req.WorkerIdentityProof) == 0 || req.WorkerIdentityProof[0] != '{' {
		problems = append(problems, "workerIdentityProof must be an object")
	}
	if len(problems) > 0 {
		return nil, httpapi.InputValidationError("%s", strings.Join(problems, "\n"))
	}
	wp, err := s.Store.WorkerPool(ctx, req.WorkerPoolID)
	if err != nil {
		return nil, storeError(err, "worker pool "+req.WorkerPoolID)
	}
	if wp.ProviderID != req.ProviderID && !slices.Contains(wp.PreviousProviderIDs, req.ProviderID) {
		return nil, httpapi.InputError("worker pool %s is not associated with provider %s", req.WorkerPoolID, req.ProviderID)
	}
	w, err := s.Store.Worker(ctx, req.WorkerPoolID, req.WorkerGroup, req.WorkerID)
	if err != nil {
		return nil, storeError(err, fmt.Sprintf("worker %s/%s in pool %s", req.WorkerGroup, req.WorkerID, req.WorkerPoolID))
	}
	if w.ProviderID != req.ProviderID {
		return nil, httpapi.InputError("worker %s/%s does not have provider %s", req.WorkerGroup, req.WorkerID, req.ProviderID)
	}
	now := s.Store.Now()
	var expires time.Time
	switch {
	case w.InstanceID != "":
		expires, err = s.registerAWS(ctx, wp, w, req.WorkerIdentityProof, now)
	case len(w.StaticSecretHash) > 0:
		expires, err = s.registerStatic(ctx, wp, w, req.WorkerIdentityProof, now)
	default:
		err = httpapi.InputError("worker %s/%s cannot register", req.WorkerGroup, req.WorkerID)
	}
	if err != nil {
		s.log().WarnContext(ctx, "registration refused", "workerPoolId", req.WorkerPoolID, "workerGroup", req.WorkerGroup, "workerId", req.WorkerID, "reason", err.Error())
		return nil, err
	}
	name := WorkerClientID(w.ProviderID, w.Pool, w.WorkerGroup, w.WorkerID)
	creds, err := s.Issuer.Temporary(name, WorkerScopes(w.Pool, w.WorkerGroup, w.WorkerID), now.Add(-CredentialsStartSkew), expires)
	if err != nil {
		return nil, fmt.Errorf("issue worker credentials: %w", err)
	}
	s.log().InfoContext(ctx, "worker registered", "workerPoolId", w.Pool, "workerGroup", w.WorkerGroup, "workerId", w.WorkerID, "expires", expires)
	return httpapi.OK(map[string]any{"credentials": creds, "expires": ts(expires)}), nil
}

// registerStatic checks a static worker's secret. Static workers may register again
// (to renew their credentials), until their record expires.
func (s *Service) registerStatic(ctx context.Context, wp store.WorkerPool, w store.Worker, proof json.RawMessage, now time.Time) (time.Time, error) {
	var p struct {
		StaticSecret string `json:"staticSecret"`
	}
	if err := strictDecode(proof, &p); err != nil || !identity.ValidStaticSecret(p.StaticSecret) {
		return time.Time{}, httpapi.InputValidationError("workerIdentityProof must be {\"staticSecret\": <44 characters>}")
	}
	if !identity.StaticSecretMatches(w.StaticSecretHash, p.StaticSecret) {
		return time.Time{}, httpapi.InputError("bad staticSecret")
	}
	if !w.State.Alive() {
		return time.Time{}, httpapi.InputError("worker %s/%s is %s", w.WorkerGroup, w.WorkerID, w.State)
	}
	timeout := s.reregistrationTimeout(wp)
	expires := earliest(w.Expires, now.Add(timeout), now.Add(maxCredentials))
	if _, err := s.Store.UpdateWorker(ctx, w.Pool, w.Key, func(fresh *store.Worker) error {
		fresh.Registered, fresh.LastChecked = now, now
		return nil
	}); err != nil {
		return time.Time{}, storeError(err, "worker")
	}
	return expires, nil
}

// registerAWS checks an EC2 instance identity document: AWS's signature, every field
// that identifies the instance against the record the provisioner wrote, that the
// instance has not registered yet, and that it booted within the registration timeout.
// The registration is a conditional write from requested to running, so a replayed
// proof is refused.
func (s *Service) registerAWS(ctx context.Context, wp store.WorkerPool, w store.Worker, proof json.RawMessage, now time.Time) (time.Time, error) {
	var p struct {
		Document  string `json:"document"`
		Signature string `json:"signature"`
	}
	if err := strictDecode(proof, &p); err != nil || p.Document == "" || p.Signature == "" {
		return time.Time{}, httpapi.InputValidationError("workerIdentityProof must be {\"document\": <string>, \"signature\": <string>}")
	}
	if w.State != store.Requested {
		return time.Time{}, httpapi.InputError("worker %s/%s is %s: it has registered already, or is stopping", w.WorkerGroup, w.WorkerID, w.State)
	}
	doc, err := s.Verifier.Verify([]byte(p.Document), p.Signature)
	if err != nil {
		return time.Time{}, httpapi.InputError("instance identity document validation error")
	}
	var mismatch []string
	check := func(field, got, want string, required bool) {
		if (required || want != "") && got != want {
			mismatch = append(mismatch, field)
		}
	}
	check("instanceId", doc.InstanceID, w.InstanceID, true)
	check("instanceId", doc.InstanceID, w.WorkerID, true)
	check("region", doc.Region, w.Region, true)
	check("availabilityZone", doc.AvailabilityZone, w.AvailabilityZone, false)
	check("instanceType", doc.InstanceType, w.InstanceType, true)
	check("imageId", doc.ImageID, w.ImageID, true)
	check("accountId", doc.AccountID, w.AccountID, false)
	check("privateIp", doc.PrivateIP, w.PrivateIP, false)
	if len(mismatch) > 0 {
		return time.Time{}, httpapi.InputError("instance identity document does not match the worker record (%s)", strings.Join(slices.Compact(mismatch), ", "))
	}
	if doc.PendingTime.Before(w.Created.Add(-PendingTimeSkew)) {
		return time.Time{}, httpapi.InputError("instance identity document's pendingTime precedes the worker's launch")
	}
	if !w.RegistrationDeadline.IsZero() && (now.After(w.RegistrationDeadline) || doc.PendingTime.After(w.RegistrationDeadline)) {
		return time.Time{}, httpapi.InputError("worker did not register within its registrationTimeout")
	}
	timeout := s.reregistrationTimeout(wp)
	expires := earliest(now.Add(timeout), now.Add(maxCredentials))
	_, err = s.Store.UpdateWorker(ctx, w.Pool, w.Key, func(fresh *store.Worker) error {
		if !fresh.MarkRegistered(now, expires) {
			return errAlreadyRegistered
		}
		return nil
	})
	if errors.Is(err, errAlreadyRegistered) {
		return time.Time{}, httpapi.InputError("worker %s/%s has registered already", w.WorkerGroup, w.WorkerID)
	}
	if err != nil {
		return time.Time{}, storeError(err, "worker")
	}
	return expires, nil
}

var errAlreadyRegistered = errors.New("already registered")

func strictDecode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}
