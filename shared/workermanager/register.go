package workermanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/identity"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/slugid"
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
	if cfg, err := pool.ParseConfig(wp.ProviderID, wp.Config, pool.ParseOptions{Providers: s.Parse.Providers, Stored: true}); err == nil && cfg.Sizing().ReregistrationTimeout > 0 {
		return cfg.Sizing().ReregistrationTimeout
	}
	return DefaultReregistrationTimeout
}

// CredentialsStartSkew is how far before registration worker credentials start, as
// worker-manager v25 starts them (15 minutes), so that a worker or auth service
// whose clock runs behind still accepts them.
const CredentialsStartSkew = 15 * time.Minute

// credentialsExpiry is when credentials issued at now for a worker whose pool gives
// it timeout expire: after timeout, but never past what temporary credentials may
// live from their (back-dated) start. Every reregistrationTimeout the schema allows
// (up to 68 years) can so be issued; a worker whose timeout is longer renews
// (reregisterWorker) before the 31 days end.
func credentialsExpiry(now time.Time, timeout time.Duration) time.Time {
	return earliest(now.Add(timeout), now.Add(-CredentialsStartSkew).Add(auth.MaxTemporaryLifetime-time.Minute))
}

// WorkerScopes are the scopes a registered worker's credentials carry, as today's
// worker-manager grants them: v25's set (the seed's five, and the deprecated
// worker-type role and secret names that deployments' roles and secrets still use),
// and the three a worker needs for itself since: renewing its credentials
// (reregisterWorker), asking whether it is still needed (shouldWorkerTerminate) and
// removing itself at exit (removeWorker).
func WorkerScopes(poolID, workerGroup, workerID string) []string {
	self := poolID + "/" + workerGroup + "/" + workerID
	return []string{
		"assume:worker-type:" + poolID,
		"assume:worker-pool:" + poolID,
		"assume:worker-id:" + workerGroup + "/" + workerID,
		"queue:worker-id:" + workerGroup + "/" + workerID,
		"secrets:get:worker-type:" + poolID,
		"secrets:get:worker-pool:" + poolID,
		"queue:claim-work:" + poolID,
		"worker-manager:remove-worker:" + self,
		"worker-manager:reregister-worker:" + self,
		"worker-manager:should-worker-terminate:" + self,
	}
}

// WorkerClientID is the client id of a registered worker's credentials.
func WorkerClientID(providerID, poolID, workerGroup, workerID string) string {
	return "worker/" + providerID + "/" + poolID + "/" + workerGroup + "/" + workerID
}

// newWorkerSecret is a secret for a worker's next reregisterWorker: 44 characters,
// as today's worker-manager makes them. The store keeps only its hash.
func newWorkerSecret() string { return slugid.Nice() + slugid.Nice() }

type registerRequest struct {
	WorkerPoolID        string          `json:"workerPoolId"`
	ProviderID          string          `json:"providerId"`
	WorkerGroup         string          `json:"workerGroup"`
	WorkerID            string          `json:"workerId"`
	WorkerIdentityProof json.RawMessage `json:"workerIdentityProof"`
	// SystemBootTime is when the worker's machine booted (worker-runner v87+).
	SystemBootTime *time.Time `json:"systemBootTime"`
}

// registerResponse is what registerWorker answers: today's shape (v25's clients
// read the first two and ignore the rest).
type registerResponse struct {
	Expires      string           `json:"expires"`
	Credentials  auth.Credentials `json:"credentials"`
	WorkerConfig json.RawMessage  `json:"workerConfig"`
	Secret       string           `json:"secret"`
}

// registration is a proof that checked out: when the credentials expire, and the
// change to the worker's record that registers it (or errAlreadyRegistered).
type registration struct {
	expires time.Time
	mark    func(fresh *store.Worker, secretHash []byte) error
}

// registerWorker: a worker proves who it is and gets credentials, the workerConfig
// it was launched with and a secret for renewing them. Failures are 400 InputErrors
// (404 for what does not exist) that say what did not match, never why a signature
// failed in detail.
//
// Everything that can fail happens before the one conditional write that registers
// the worker: a failure (credentials refused, the table unreachable, a timeout)
// leaves the record as it was, so the worker can try again.
func (s *Service) registerWorker(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	var req registerRequest
	// Tolerant: a worker newer than this service may send fields added since.
	if err := r.DecodeTolerant(&req); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	wp, w, err := s.registrant(ctx, req)
	if err != nil {
		return nil, err
	}
	now := s.Store.Now()
	reg, err := s.prove(ctx, wp, w, req.WorkerIdentityProof, now)
	if err != nil {
		s.log().WarnContext(ctx, "registration refused", "pool", req.WorkerPoolID, "workerGroup", req.WorkerGroup, "workerId", req.WorkerID, "reason", err.Error())
		return nil, err
	}
	workerConfig, err := s.launchedWorkerConfig(ctx, wp, w)
	if err != nil {
		return nil, err
	}
	creds, err := s.credentials(w, now, reg.expires)
	if err != nil {
		return nil, err
	}
	secret := newWorkerSecret()
	if _, err := s.Store.UpdateWorkerFrom(ctx, w, func(fresh *store.Worker) error {
		return reg.mark(fresh, identity.HashStaticSecret(secret))
	}); err != nil {
		if errors.Is(err, errAlreadyRegistered) {
			return nil, httpapi.InputError("worker %s/%s has registered already", w.WorkerGroup, w.WorkerID)
		}
		return nil, httpapi.StoreError(err, "worker")
	}
	s.logRegistered(ctx, w, reg.expires, req.SystemBootTime, now)
	if w.InstanceID != "" {
		announce.Announce(ctx, s.Events, s.log(), announce.Worker(announce.WorkerRunning, w, now))
	}
	return httpapi.OK(registerResponse{Expires: ts(reg.expires), Credentials: creds, WorkerConfig: workerConfig, Secret: secret}), nil
}

func (req registerRequest) validate() error {
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
		return httpapi.InputValidationError("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// registrant reads the pool and the worker a registration names, and checks that
// they belong to the provider it names.
func (s *Service) registrant(ctx context.Context, req registerRequest) (store.WorkerPool, store.Worker, error) {
	wp, err := s.Store.WorkerPool(ctx, req.WorkerPoolID)
	if err != nil {
		return store.WorkerPool{}, store.Worker{}, httpapi.StoreError(err, "worker pool "+req.WorkerPoolID)
	}
	if wp.ProviderID != req.ProviderID && !slices.Contains(wp.PreviousProviderIDs, req.ProviderID) {
		return store.WorkerPool{}, store.Worker{}, httpapi.InputError("worker pool %s is not associated with provider %s", req.WorkerPoolID, req.ProviderID)
	}
	w, err := s.Store.Worker(ctx, req.WorkerPoolID, req.WorkerGroup, req.WorkerID)
	if err != nil {
		return store.WorkerPool{}, store.Worker{}, httpapi.StoreError(err, fmt.Sprintf("worker %s/%s in pool %s", req.WorkerGroup, req.WorkerID, req.WorkerPoolID))
	}
	if w.ProviderID != req.ProviderID {
		return store.WorkerPool{}, store.Worker{}, httpapi.InputError("worker %s/%s does not have provider %s", req.WorkerGroup, req.WorkerID, req.ProviderID)
	}
	return wp, w, nil
}

// prove checks the worker's identity proof by its kind.
func (s *Service) prove(ctx context.Context, wp store.WorkerPool, w store.Worker, proof json.RawMessage, now time.Time) (registration, error) {
	switch {
	case w.InstanceID != "":
		return s.proveAWS(ctx, wp, w, proof, now)
	case len(w.StaticSecretHash) > 0:
		return s.proveStatic(wp, w, proof, now)
	}
	return registration{}, httpapi.InputError("worker %s/%s cannot register", w.WorkerGroup, w.WorkerID)
}

// credentials issues a worker's credentials, from CredentialsStartSkew before now
// until expires.
func (s *Service) credentials(w store.Worker, now, expires time.Time) (auth.Credentials, error) {
	name := WorkerClientID(w.ProviderID, w.Pool, w.WorkerGroup, w.WorkerID)
	creds, err := s.Issuer.Temporary(name, WorkerScopes(w.Pool, w.WorkerGroup, w.WorkerID), now.Add(-CredentialsStartSkew), expires)
	if err != nil {
		return auth.Credentials{}, fmt.Errorf("issue worker credentials: %w", err)
	}
	return creds, nil
}

// launchedWorkerConfig is the workerConfig w was launched with (the provisioner
// kept it at launch); a static worker's pool's workerConfig; or {} for a worker
// launched before workerfleet kept them.
func (s *Service) launchedWorkerConfig(ctx context.Context, wp store.WorkerPool, w store.Worker) (json.RawMessage, error) {
	if len(w.StaticSecretHash) > 0 {
		if cfg, err := pool.ParseConfig(wp.ProviderID, wp.Config, pool.ParseOptions{Providers: s.Parse.Providers, Stored: true}); err == nil && cfg.Static != nil {
			return cfg.Static.WorkerConfig, nil
		}
		return json.RawMessage(`{}`), nil
	}
	if w.WorkerConfigHash == "" {
		return json.RawMessage(`{}`), nil
	}
	cfg, err := s.Store.WorkerConfig(ctx, w.Pool, w.WorkerConfigHash)
	if errors.Is(err, store.ErrNotFound) {
		s.log().WarnContext(ctx, "the workerConfig the worker was launched with is gone; it gets {}", "pool", w.Pool, "workerId", w.WorkerID)
		return json.RawMessage(`{}`), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the worker's workerConfig: %w", err)
	}
	return cfg, nil
}

// logRegistered logs a registration with, when the worker says when its machine
// booted, how long the cloud took to start it and how long it took to start itself.
func (s *Service) logRegistered(ctx context.Context, w store.Worker, expires time.Time, boot *time.Time, now time.Time) {
	attrs := []any{"workerPoolId", w.Pool, "workerGroup", w.WorkerGroup, "workerId", w.WorkerID, "expires", expires}
	if boot != nil && !boot.IsZero() {
		if d := boot.Sub(w.Created); d >= 0 && w.InstanceID != "" {
			attrs = append(attrs, "provisionSeconds", d.Seconds())
		}
		if d := now.Sub(*boot); d >= 0 {
			attrs = append(attrs, "startupSeconds", d.Seconds())
		}
	}
	s.log().InfoContext(ctx, "worker registered", attrs...)
}

// proveStatic checks a static worker's secret. Static workers may register again
// (to renew their credentials), until their record expires.
func (s *Service) proveStatic(wp store.WorkerPool, w store.Worker, proof json.RawMessage, now time.Time) (registration, error) {
	var p struct {
		StaticSecret string `json:"staticSecret"`
	}
	if err := strictDecode(proof, &p); err != nil || !identity.ValidStaticSecret(p.StaticSecret) {
		return registration{}, httpapi.InputValidationError("workerIdentityProof must be {\"staticSecret\": <44 characters>}")
	}
	if !identity.StaticSecretMatches(w.StaticSecretHash, p.StaticSecret) {
		return registration{}, httpapi.InputError("bad staticSecret")
	}
	if !w.State.Alive() {
		return registration{}, httpapi.InputError("worker %s/%s is %s", w.WorkerGroup, w.WorkerID, w.State)
	}
	expires := earliest(w.Expires, credentialsExpiry(now, s.reregistrationTimeout(wp)))
	return registration{expires: expires, mark: func(fresh *store.Worker, secretHash []byte) error {
		if !fresh.State.Alive() {
			return fmt.Errorf("worker %s/%s is %s: %w", fresh.WorkerGroup, fresh.WorkerID, fresh.State, store.ErrConflict)
		}
		fresh.Registered, fresh.LastChecked = now, now
		fresh.RegistrationSecretHash = secretHash
		return nil
	}}, nil
}

// proveAWS checks an EC2 instance identity document: AWS's signature, every field
// that identifies the instance against the record the provisioner wrote, that the
// instance has not registered yet, and that it booted within the registration
// timeout. The registration is a conditional write from requested to running, so a
// replayed proof is refused.
func (s *Service) proveAWS(ctx context.Context, wp store.WorkerPool, w store.Worker, proof json.RawMessage, now time.Time) (registration, error) {
	var p struct {
		Document  string `json:"document"`
		Signature string `json:"signature"`
	}
	if err := strictDecode(proof, &p); err != nil || p.Document == "" || p.Signature == "" {
		return registration{}, httpapi.InputValidationError("workerIdentityProof must be {\"document\": <string>, \"signature\": <string>}")
	}
	if w.State != store.Requested {
		return registration{}, httpapi.InputError("worker %s/%s is %s: it has registered already, or is stopping", w.WorkerGroup, w.WorkerID, w.State)
	}
	doc, err := s.Verifier.Verify([]byte(p.Document), p.Signature)
	if err != nil {
		return registration{}, httpapi.InputError("instance identity document validation error")
	}
	if mismatch := documentMismatch(doc, w); len(mismatch) > 0 {
		return registration{}, httpapi.InputError("instance identity document does not match the worker record (%s)", strings.Join(mismatch, ", "))
	}
	if doc.PendingTime.Before(w.Created.Add(-PendingTimeSkew)) {
		return registration{}, httpapi.InputError("instance identity document's pendingTime precedes the worker's launch")
	}
	if !w.RegistrationDeadline.IsZero() && (now.After(w.RegistrationDeadline) || doc.PendingTime.After(w.RegistrationDeadline)) {
		return registration{}, httpapi.InputError("worker did not register within its registrationTimeout")
	}
	expires := credentialsExpiry(now, s.reregistrationTimeout(wp))
	return registration{expires: expires, mark: func(fresh *store.Worker, secretHash []byte) error {
		if !fresh.MarkRegistered(now, expires, secretHash) {
			return errAlreadyRegistered
		}
		return nil
	}}, nil
}

// documentMismatch names the identity document's fields that disagree with the
// worker's record.
func documentMismatch(doc identity.Document, w store.Worker) []string {
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
	return slices.Compact(mismatch)
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
