package awsprovisioner

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/slugid"
	"github.com/workerfleet/workerfleet/shared/store"
)

// MaxSecretLifetime bounds createSecret's expiration.
const MaxSecretLifetime = 31 * 24 * time.Hour

// CredentialLifetime is how long the credentials getSecret hands out last: an
// aws-provisioner instance's whole life.
const CredentialLifetime = pool.WorkerTypeLifetime

// secretRequest is createSecret's body.
type secretRequest struct {
	Expiration *time.Time       `json:"expiration"`
	Scopes     []string         `json:"scopes"`
	Secrets    *json.RawMessage `json:"secrets"`
	Token      string           `json:"token"`
	WorkerType string           `json:"workerType"`
}

func (s *Service) createSecret(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	var req secretRequest
	if err := r.Decode(&req); err != nil {
		return nil, err
	}
	var problems []string
	if !pool.ValidWorkerTypeName(req.WorkerType) {
		problems = append(problems, fmt.Sprintf("workerType %q must match ^[A-Za-z0-9+/=_-]{1,22}$", req.WorkerType))
	}
	token := r.Params["token"]
	if !slugid.Valid(token) {
		problems = append(problems, "token must be a slugid")
	}
	if req.Token != token {
		problems = append(problems, "token in the body must be the token in the URL")
	}
	if req.Expiration == nil {
		problems = append(problems, "expiration is required")
	} else if now := s.Store.Now(); !req.Expiration.After(now) || req.Expiration.Sub(now) > MaxSecretLifetime {
		problems = append(problems, "expiration must be in the future and at most 31 days away")
	}
	if req.Secrets == nil || len(*req.Secrets) == 0 || (*req.Secrets)[0] != '{' {
		problems = append(problems, "secrets must be an object")
	}
	if req.Scopes == nil {
		problems = append(problems, "scopes is required")
	}
	for i, sc := range req.Scopes {
		if !auth.ValidScope(sc) {
			problems = append(problems, fmt.Sprintf("scopes[%d] must be printable ASCII", i))
		}
	}
	if len(problems) > 0 {
		return nil, httpapi.InputValidationError("%s", joinLines(problems))
	}
	// The create-secret scope, and every scope the secret's credentials will carry:
	// those of the body and those getSecret adds (SecretScopes).
	if err := r.Require(secretScope.Bind(map[string]string{"workerType": req.WorkerType})); err != nil {
		return nil, err
	}
	if err := requireAll(r, SecretScopes(req.WorkerType, req.Scopes)); err != nil {
		return nil, httpapi.InsufficientScopes("a secret can only carry scopes its creator holds: %s", err.Message)
	}
	err := s.Store.CreateSecret(ctx, store.Secret{Token: token, WorkerType: req.WorkerType, Secrets: *req.Secrets, Scopes: req.Scopes, Expiration: req.Expiration.UTC()})
	switch {
	case errors.Is(err, store.ErrSecretUsed):
		return nil, httpapi.Conflict("token %s was already used; secrets are single-use", token)
	case errors.Is(err, store.ErrExists):
		return nil, httpapi.Conflict("a different secret is stored under token %s", token)
	case err != nil:
		return nil, fmt.Errorf("create secret: %w", err)
	}
	return httpapi.OK(nil), nil
}

// SecretScopes are the scopes of the credentials getSecret hands out for a secret of
// workerType: what the aws-provisioner gave its instances (its worker-type role,
// assume:worker-type:aws-provisioner-v1/<workerType>, and assume:worker-id:*), and
// the scopes the secret carries (the worker type's, merged for the instance's region
// and instance type), without repeats.
func SecretScopes(workerType string, scopes []string) []string {
	out := []string{"assume:worker-type:" + pool.ProvisionerID + "/" + workerType, "assume:worker-id:*"}
	for _, s := range scopes {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// requireAll fails with the caller's 403 unless it holds every one of scopes.
func requireAll(r *httpapi.Request, scopes []string) *httpapi.Error {
	items := make([]any, len(scopes))
	for i, sc := range scopes {
		items[i] = sc
	}
	var e *httpapi.Error
	if err := r.Require(auth.AllOf(items...)); errors.As(err, &e) {
		return e
	}
	return nil
}

// getSecret trades a token for its secret, once: the secret's data is erased as it
// is read, so the token, still readable in the instance's user data, yields nothing
// to whatever reads it later. The secret is consumed last, once everything that can
// fail (reading it, issuing its credentials) has succeeded, and only if it is still
// the record read: a getSecret that fails leaves the secret for the worker's retry.
func (s *Service) getSecret(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	token := r.Params["token"]
	notFound := httpapi.NotFound("no secret for this token: it never existed, was already read or removed, or expired")
	if !slugid.Valid(token) {
		return nil, httpapi.NotFound("no secret for this token")
	}
	sec, err := s.Store.Secret(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	now := s.Store.Now()
	creds, err := s.Issuer.Temporary(CredentialsClientID(sec.WorkerType), SecretScopes(sec.WorkerType, sec.Scopes), now.Add(-5*time.Minute), now.Add(CredentialLifetime))
	if err != nil {
		return nil, fmt.Errorf("issue credentials for worker type %s: %w", sec.WorkerType, err)
	}
	if err := s.Store.ConsumeSecret(ctx, sec); errors.Is(err, store.ErrNotFound) {
		return nil, notFound // another reader was first
	} else if err != nil {
		return nil, fmt.Errorf("consume secret: %w", err)
	}
	s.log().InfoContext(ctx, "secret read", "workerType", sec.WorkerType, "scopes", len(sec.Scopes))
	return httpapi.OK(map[string]any{
		"credentials": creds,
		"data":        sec.Secrets,
		"scopes":      sec.Scopes,
	}), nil
}

// CredentialsClientID is the client id of the credentials getSecret issues for a
// worker type: aws-provisioner/<workerType>, with each '=' (which worker type names
// allow and client ids do not) written as '.' (which worker type names do not
// allow, so no two worker types share a client id).
func CredentialsClientID(workerType string) string {
	return "aws-provisioner/" + strings.ReplaceAll(workerType, "=", ".")
}

func (s *Service) removeSecret(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	token := r.Params["token"]
	if !slugid.Valid(token) {
		return httpapi.OK(nil), nil // nothing can be stored under it: already gone
	}
	if err := s.Store.DeleteSecret(ctx, token); err != nil {
		return nil, fmt.Errorf("remove secret: %w", err)
	}
	return httpapi.OK(nil), nil
}

// instanceStarted records that an aws-provisioner instance booted, if the token is
// that instance's own secret token. Both an unknown instance and a wrong token are
// answered 404, so the call reveals nothing about which instances exist.
func (s *Service) instanceStarted(ctx context.Context, r *httpapi.Request) (*httpapi.Response, error) {
	instanceID, token := r.Params["instanceId"], r.Params["token"]
	notFound := httpapi.NotFound("no instance %s started with this token", instanceID)
	if len(instanceID) > maxInstanceID || !slugid.Valid(token) {
		return nil, notFound // no instance is recorded under such an id or token
	}
	w, err := s.Store.WorkerByInstance(ctx, instanceID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("find instance: %w", err)
	}
	if _, ok := store.WorkerTypeOf(w.Pool); !ok || len(w.SecretTokenHash) == 0 {
		return nil, notFound
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], w.SecretTokenHash) != 1 {
		return nil, notFound
	}
	_, err = s.Store.UpdateWorker(ctx, w.Pool, w.Key, func(w *store.Worker) error {
		if w.State != store.Requested {
			return store.ErrNoChange // already started, or on its way out
		}
		w.State, w.Registered = store.Running, s.Store.Now()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record instance started: %w", err)
	}
	return httpapi.OK(nil), nil
}

// maxInstanceID bounds the instance ids instanceStarted looks up (EC2's are 19
// characters).
const maxInstanceID = 64

func joinLines(lines []string) string {
	out := ""
	for i, l := range lines {
		if i > 0 {
			out += "\n"
		}
		out += l
	}
	return out
}
