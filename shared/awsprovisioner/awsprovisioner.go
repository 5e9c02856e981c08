// Package awsprovisioner serves Taskcluster's aws-provisioner v1 API: worker type
// definitions with their state, summaries and launch-spec previews, the provisioner's
// backend status (WorkerTypesAPI), and the secrets booting instances trade their
// token for (SecretsAPI). The official tcawsprovisioner client works against it.
package awsprovisioner

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/slugid"
)

// Base is the API's base path.
const Base = "/api/aws-provisioner/v1"

// Issuer mints temporary credentials.
type Issuer interface {
	Temporary(name string, scopes []string, start, expiry time.Time) (auth.Credentials, error)
}

// Service holds what both APIs need.
type Service struct {
	Store  Store
	Authn  httpapi.Authenticator
	Issuer Issuer
	// Parse validates definitions for this deployment (allowed regions, the EC2
	// driver's launch spec check).
	Parse pool.ParseOptions
	// RootURL is the deployment's root URL, shown in launch spec previews; empty
	// takes it from the request (the host the caller used).
	RootURL string
	// CheckInInterval is how often the provisioner is expected to check in; three
	// missed ones make backendStatus report "missing" (default 1 minute).
	CheckInInterval time.Duration
	// Resources, if set, checks at createWorkerType and updateWorkerType that the
	// AMIs and security groups (by name) a worker type names exist, as the
	// aws-provisioner did; built on first use. Nil checks nothing (the fake cloud).
	Resources func() (ResourceChecker, error)
	Log       *slog.Logger
	started   time.Time
}

// ResourceChecker tells which of the images and security groups named are missing
// in a region.
type ResourceChecker interface {
	MissingImages(ctx context.Context, region string, ids []string) ([]string, error)
	MissingSecurityGroups(ctx context.Context, region string, names []string) ([]string, error)
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// WorkerTypesAPI is the aws-provisioner API's worker type half (the
// AwsProvisionerApiFunction).
func (s *Service) WorkerTypesAPI() *httpapi.API {
	s.started = time.Now()
	a := httpapi.New(Base, s.Authn, []string{"workerType"}, httpapi.WithLogger(s.log()))
	for _, r := range []httpapi.Route{
		{Name: "ping", Method: "GET", Pattern: "/ping", Handler: s.ping, NoScopes: true},
		{Name: "backendStatus", Method: "GET", Pattern: "/backend-status", Handler: s.backendStatus, NoScopes: true},
		{Name: "listWorkerTypeSummaries", Method: "GET", Pattern: "/list-worker-type-summaries", Handler: s.listWorkerTypeSummaries, NoScopes: true},
		{Name: "createWorkerType", Method: "PUT", Pattern: "/worker-type/<workerType>", Handler: s.createWorkerType, Check: checkWorkerType, MaxBody: pool.MaxDefinitionBytes},
		{Name: "updateWorkerType", Method: "POST", Pattern: "/worker-type/<workerType>/update", Handler: s.updateWorkerType, Check: checkWorkerType, MaxBody: pool.MaxDefinitionBytes},
		{Name: "workerTypeLastModified", Method: "GET", Pattern: "/worker-type-last-modified/<workerType>", Handler: s.workerTypeLastModified, NoScopes: true},
		{Name: "workerType", Method: "GET", Pattern: "/worker-type/<workerType>", Handler: s.workerType, Check: checkWorkerType},
		{Name: "removeWorkerType", Method: "DELETE", Pattern: "/worker-type/<workerType>", Handler: s.removeWorkerType, Check: checkWorkerType},
		{Name: "listWorkerTypes", Method: "GET", Pattern: "/list-worker-types", Handler: s.listWorkerTypes, NoScopes: true},
		{Name: "getLaunchSpecs", Method: "GET", Pattern: "/worker-type/<workerType>/launch-specifications", Handler: s.getLaunchSpecs, Check: checkWorkerType},
		{Name: "state", Method: "GET", Pattern: "/state/<workerType>", Handler: s.state, NoScopes: true},
	} {
		a.Handle(r)
	}
	return a
}

// SecretsAPI is the aws-provisioner API's secrets half (the SecretsApiFunction).
func (s *Service) SecretsAPI() *httpapi.API {
	a := httpapi.New(Base, s.Authn, nil, httpapi.WithLogger(s.log()))
	token := []string{"token"} // a secret's token is its credential: never logged
	for _, r := range []httpapi.Route{
		{Name: "createSecret", Method: "PUT", Pattern: "/secret/<token>", Handler: s.createSecret, Credentials: token, Check: checkToken, MaxBody: pool.MaxDefinitionBytes},
		{Name: "getSecret", Method: "GET", Pattern: "/secret/<token>", Handler: s.getSecret, Credentials: token, NoScopes: true},
		{Name: "removeSecret", Method: "DELETE", Pattern: "/secret/<token>", Handler: s.removeSecret, Credentials: token, NoScopes: true},
		{Name: "instanceStarted", Method: "GET", Pattern: "/instance-started/<instanceId>/<token>", Handler: s.instanceStarted, Credentials: token, NoScopes: true},
	} {
		a.Handle(r)
	}
	return a
}

// Scope expressions of the API, as the seed lists them.
var (
	manageScope = auth.Scope("aws-provisioner:manage-worker-type:<workerType>")
	viewScopes  = auth.AnyOf("aws-provisioner:view-worker-type:<workerType>", "aws-provisioner:manage-worker-type:<workerType>")
	secretScope = auth.Scope("aws-provisioner:create-secret:<workerType>")
)

func ts(t time.Time) string { return httpapi.Timestamp(t) }

// workerTypeName reads and validates the workerType path parameter.
func workerTypeName(r *httpapi.Request) (string, error) {
	name := r.Params["workerType"]
	if !pool.ValidWorkerTypeName(name) {
		return "", httpapi.InputValidationError("workerType %q must match ^[A-Za-z0-9+/=_-]{1,22}$", name)
	}
	return name, nil
}

// checkWorkerType refuses a malformed workerType path parameter (before the caller
// is authenticated).
func checkWorkerType(r *httpapi.Request) error {
	_, err := workerTypeName(r)
	return err
}

// checkToken refuses a token path parameter that is no slugid.
func checkToken(r *httpapi.Request) error {
	if !slugid.Valid(r.Params["token"]) {
		return httpapi.InputValidationError("token must be a slugid")
	}
	return nil
}

func invalid(err error) error {
	var inv *pool.InvalidError
	if errors.As(err, &inv) {
		return httpapi.InputValidationError("%s", strings.Join(inv.Problems, "\n"))
	}
	return err
}

func (s *Service) ping(context.Context, *httpapi.Request) (*httpapi.Response, error) {
	return httpapi.OK(map[string]any{"alive": true, "uptime": time.Since(s.started).Seconds()}), nil
}
