package workermanager

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/identity"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

var (
	reregisterScope      = auth.Scope("worker-manager:reregister-worker:<workerPoolId>/<workerGroup>/<workerId>")
	shouldTerminateScope = auth.Scope("worker-manager:should-worker-terminate:<workerPoolId>/<workerGroup>/<workerId>")
)

type reregisterRequest struct {
	WorkerPoolID string `json:"workerPoolId"`
	WorkerGroup  string `json:"workerGroup"`
	WorkerID     string `json:"workerId"`
	Secret       string `json:"secret"`
}

// reregisterResponse is reregisterWorker's answer.
type reregisterResponse struct {
	Expires     string           `json:"expires"`
	Credentials auth.Credentials `json:"credentials"`
	Secret      string           `json:"secret"`
}

// errSecretUsed: the secret shown was rotated by a renewal that won the race.
var errSecretUsed = errors.New("secret already used")

// badSecret is the one answer for a worker that does not exist, has no secret or
// shows the wrong one, as today's worker-manager gives it: it says nothing about
// which.
func badSecret() error { return httpapi.InputError("Could not generate credentials for this secret") }

// reregisterWorker renews a running worker's credentials, as today's worker-runner
// asks 30 minutes before they expire: the worker shows the secret its last
// registerWorker or reregisterWorker gave it and gets fresh credentials, lasting
// its pool's reregistrationTimeout from now, and the next secret. The worker's end
// of life moves with its credentials, so the provisioner does not stop it. The
// rotation is one conditional write: of two renewals with the same secret one
// wins, and a refused call changes nothing.
func (s *Service) reregisterWorker(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	var req reregisterRequest
	if err := r.DecodeTolerant(&req); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	if err := r.Require(reregisterScope.Bind(map[string]string{"workerPoolId": req.WorkerPoolID, "workerGroup": req.WorkerGroup, "workerId": req.WorkerID})); err != nil {
		return nil, err
	}
	w, err := s.Store.Worker(ctx, req.WorkerPoolID, req.WorkerGroup, req.WorkerID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, badSecret()
	}
	if err != nil {
		return nil, httpapi.StoreError(err, "worker")
	}
	if !identity.StaticSecretMatches(w.RegistrationSecretHash, req.Secret) {
		return nil, badSecret()
	}
	if w.State != store.Running {
		return nil, httpapi.InputError("worker %s/%s is not running (it is %s)", w.WorkerGroup, w.WorkerID, w.State)
	}
	now := s.Store.Now()
	expires, err := s.renewedExpiry(ctx, w, now)
	if err != nil {
		return nil, err
	}
	creds, err := s.credentials(w, now, expires)
	if err != nil {
		return nil, err
	}
	secret := newWorkerSecret()
	_, err = s.Store.UpdateWorkerFrom(ctx, w, func(fresh *store.Worker) error {
		if !fresh.MarkReregistered(expires, identity.HashStaticSecret(req.Secret), identity.HashStaticSecret(secret)) {
			return errSecretUsed
		}
		return nil
	})
	if errors.Is(err, errSecretUsed) {
		return nil, badSecret()
	}
	if err != nil {
		return nil, httpapi.StoreError(err, "worker")
	}
	s.log().InfoContext(ctx, "worker reregistered", "pool", w.Pool, "workerGroup", w.WorkerGroup, "workerId", w.WorkerID, "expires", expires)
	return httpapi.OK(reregisterResponse{Expires: ts(expires), Credentials: creds, Secret: secret}), nil
}

func (req reregisterRequest) validate() error {
	var problems []string
	if !pool.ValidWorkerPoolID(req.WorkerPoolID) {
		problems = append(problems, "workerPoolId is not a valid worker pool id")
	}
	if !pool.ValidWorkerGroup(req.WorkerGroup) || !pool.ValidWorkerID(req.WorkerID) {
		problems = append(problems, "workerGroup and workerId must each be 1 to 38 of a-z A-Z 0-9 - _")
	}
	if !identity.ValidStaticSecret(req.Secret) {
		problems = append(problems, "secret must be 44 of a-z A-Z 0-9 _ -")
	}
	if len(problems) > 0 {
		return httpapi.InputValidationError("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// renewedExpiry is when a renewal's credentials expire: the pool's
// reregistrationTimeout from now (the default once the pool is gone), and for a
// static worker never past its record's expiry.
func (s *Service) renewedExpiry(ctx context.Context, w store.Worker, now time.Time) (time.Time, error) {
	timeout := DefaultReregistrationTimeout
	wp, err := s.Store.WorkerPool(ctx, w.Pool)
	switch {
	case err == nil:
		timeout = s.reregistrationTimeout(wp)
	case !errors.Is(err, store.ErrNotFound):
		return time.Time{}, fmt.Errorf("read the worker's pool: %w", err)
	}
	expires := credentialsExpiry(now, timeout)
	if len(w.StaticSecretHash) > 0 {
		expires = earliest(expires, w.Expires)
	}
	if !expires.After(now) {
		return time.Time{}, httpapi.InputError("worker %s/%s has expired", w.WorkerGroup, w.WorkerID)
	}
	return expires, nil
}
