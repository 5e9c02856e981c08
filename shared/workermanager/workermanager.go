// Package workermanager serves Taskcluster's worker-manager v1 API: providers, worker
// pools, workers and worker-pool errors (API), and worker registration
// (RegistrationAPI), the front door through which a booting worker proves who it is
// and gets its credentials. The official tcworkermanager client works against it.
package workermanager

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/identity"
	"github.com/workerfleet/workerfleet/shared/notify"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
)

// Base is the API's base path.
const Base = "/api/worker-manager/v1"

// Issuer mints temporary credentials.
type Issuer interface {
	Temporary(name string, scopes []string, start, expiry time.Time) (auth.Credentials, error)
}

// Terminator ends cloud instances (removeWorker of an aws worker).
type Terminator interface {
	Terminate(ctx context.Context, region string, ids []string) error
}

// Service holds what the APIs need.
type Service struct {
	Store  Store
	Authn  httpapi.Authenticator
	Issuer Issuer
	// Cloud terminates aws workers on removeWorker; built lazily, as most calls need none.
	Cloud func() (Terminator, error)
	// Verifier checks EC2 instance identity documents.
	Verifier *identity.Verifier
	// Parse validates pool configs for this deployment.
	Parse pool.ParseOptions
	// Mailer, if set, mails reported errors to the owners of pools with
	// emailOnError (a Taskcluster deployment's notify service).
	Mailer notify.Mailer
	// ErrorRetention is how long reported errors stay listed (default 7 days).
	ErrorRetention time.Duration
	// Events, if set, announces what changes (today's worker-manager's events).
	Events announce.Publisher
	// AnonymousScopes returns what every caller holds besides its own scopes (see
	// DefaultAnonymousScopes); nil: nothing.
	AnonymousScopes func(context.Context) []string
	// Current serves today's worker-manager where it and v25 differ: a pool's
	// config reads back with each launch config's launchConfigId (v25: exactly as
	// written). See docs/migrating.md's differences table.
	Current bool
	Log     *slog.Logger
	started time.Time
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func (s *Service) retention() time.Duration {
	if s.ErrorRetention > 0 {
		return s.ErrorRetention
	}
	return store.DefaultErrorRetention
}

// API is the worker-manager API without registration (the WorkerManagerApiFunction):
// every method of today's reference (taskcluster-client 87.1.3, and v106's
// shouldWorkerTerminate) but the two RegistrationAPI serves. The methods whose v25
// routes had a stray ':' after the pool id answer at both forms, as today's
// worker-manager does.
func (s *Service) API() *httpapi.API {
	s.started = time.Now()
	opts := []httpapi.Option{httpapi.WithLogger(s.log())}
	if s.AnonymousScopes != nil {
		opts = append(opts, httpapi.WithAnonymousScopes(s.AnonymousScopes))
	}
	a := httpapi.New(Base, s.Authn, []string{"workerPoolId"}, opts...)
	routes := []httpapi.Route{
		{Name: "ping", Method: "GET", Pattern: "/ping", Handler: s.ping, NoScopes: true},
		{Name: "lbheartbeat", Method: "GET", Pattern: "/__lbheartbeat__", Handler: s.lbheartbeat, NoScopes: true},
		{Name: "version", Method: "GET", Pattern: "/__version__", Handler: s.version, NoScopes: true},
		{Name: "heartbeat", Method: "GET", Pattern: "/__heartbeat__", Handler: s.heartbeat, NoScopes: true},
		{Name: "listProviders", Method: "GET", Pattern: "/providers", Handler: s.listProviders, AnonymousOnFailure: true},
		{Name: "createWorkerPool", Method: "PUT", Pattern: "/worker-pool/<workerPoolId>", Handler: s.createWorkerPool, Check: checkIDs, MaxBody: pool.MaxDefinitionBytes},
		{Name: "updateWorkerPool", Method: "POST", Pattern: "/worker-pool/<workerPoolId>", Handler: s.updateWorkerPool, Check: checkIDs, MaxBody: pool.MaxDefinitionBytes},
		{Name: "deleteWorkerPool", Method: "DELETE", Pattern: "/worker-pool/<workerPoolId>", Handler: s.deleteWorkerPool, Check: checkIDs},
		{Name: "workerPool", Method: "GET", Pattern: "/worker-pool/<workerPoolId>", Handler: s.workerPool, AnonymousOnFailure: true},
		{Name: "workerPoolStats", Method: "GET", Pattern: "/worker-pool/<workerPoolId>/stats", Handler: s.workerPoolStats, SlashPatterns: onePoolID, AnonymousOnFailure: true},
		{Name: "listWorkerPoolsStats", Method: "GET", Pattern: "/worker-pools/stats", Handler: s.listWorkerPoolsStats, AnonymousOnFailure: true},
		{Name: "workerPoolErrorStats", Method: "GET", Pattern: "/worker-pool-errors/stats", Handler: s.workerPoolErrorStats, AnonymousOnFailure: true},
		{Name: "listWorkerPoolLaunchConfigs", Method: "GET", Pattern: "/worker-pool/<workerPoolId>/launch-configs", Handler: s.listWorkerPoolLaunchConfigs, SlashPatterns: onePoolID, AnonymousOnFailure: true},
		{Name: "listWorkerPools", Method: "GET", Pattern: "/worker-pools", Handler: s.listWorkerPools, AnonymousOnFailure: true},
		{Name: "reportWorkerError", Method: "POST", Pattern: "/worker-pool-errors/<workerPoolId>", Handler: s.reportWorkerError, Check: checkIDs, MaxBody: pool.MaxReportBytes},
		{Name: "listWorkerPoolErrors", Method: "GET", Pattern: "/worker-pool-errors/<workerPoolId>", Handler: s.listWorkerPoolErrors, AnonymousOnFailure: true},
		{Name: "removeWorker", Method: "DELETE", Pattern: "/workers/<workerPoolId>/<workerGroup>/<workerId>", Handler: s.removeWorker, SlashPatterns: onePoolID, Check: checkIDs},
		{Name: "shouldWorkerTerminate", Method: "GET", Pattern: "/workers/<workerPoolId>/<workerGroup>/<workerId>/should-terminate", Handler: s.shouldWorkerTerminate, SlashPatterns: onePoolID, Check: checkIDs},
		{Name: "listWorkersForWorkerPool", Method: "GET", Pattern: "/workers/<workerPoolId>", Handler: s.listWorkersForWorkerPool, AnonymousOnFailure: true},
		{Name: "listWorkers", Method: "GET", Pattern: "/provisioners/<provisionerId>/worker-types/<workerType>/workers", Handler: s.listWorkersByWorkerType, AnonymousOnFailure: true},
		{Name: "getWorker", Method: "GET", Pattern: "/provisioners/<provisionerId>/worker-types/<workerType>/workers/<workerGroup>/<workerId>", Handler: s.getWorker, AnonymousOnFailure: true},
	}
	// v25 declared these with a ':' after the pool id; today's clients call them
	// without. Both forms answer.
	for _, r := range []httpapi.Route{
		{Name: "listWorkersForWorkerGroup", Method: "GET", Pattern: "/workers/<workerPoolId>/<workerGroup>", Handler: s.listWorkersForWorkerGroup, SlashPatterns: onePoolID, AnonymousOnFailure: true},
		{Name: "worker", Method: "GET", Pattern: "/workers/<workerPoolId>/<workerGroup>/<workerId>", Handler: s.worker, SlashPatterns: onePoolID, AnonymousOnFailure: true},
		{Name: "createWorker", Method: "PUT", Pattern: "/workers/<workerPoolId>/<workerGroup>/<workerId>", Handler: s.createWorker, SlashPatterns: onePoolID, Check: checkIDs, MaxBody: pool.MaxReportBytes},
		{Name: "updateWorker", Method: "POST", Pattern: "/workers/<workerPoolId>/<workerGroup>/<workerId>", Handler: s.updateWorker, SlashPatterns: onePoolID, Check: checkIDs, MaxBody: pool.MaxReportBytes},
	} {
		withColon := r
		withColon.Pattern = strings.Replace(r.Pattern, "<workerPoolId>/", "<workerPoolId>:/", 1)
		routes = append(routes, r, withColon)
	}
	for _, r := range routes {
		a.Handle(r)
	}
	return a
}

// DefaultAnonymousScopes are what anyone may read when the deployment says
// nothing (ANONYMOUS_SCOPES): every read, as before today's worker-manager asked
// scopes of them, and as Taskcluster deployments' anonymous role commonly grants.
var DefaultAnonymousScopes = []string{
	"worker-manager:list-providers",
	"worker-manager:list-worker-pools",
	"worker-manager:get-worker-pool:*",
	"worker-manager:list-worker-pool-errors:*",
	"worker-manager:list-workers:*",
	"worker-manager:get-worker:*",
}

// require checks that r's caller holds e bound to params (the path's ids unless
// given).
func require(r *httpapi.Request, e auth.Expr, params map[string]string) error {
	if params == nil {
		params = r.Params
	}
	return r.Require(e.Bind(params))
}

// onePoolID routes a worker pool id only where it has its one '/': under /workers/
// the id is followed by more segments, which it must not swallow.
var onePoolID = map[string]string{"workerPoolId": "[^/]+/[^/]+"}

// RegistrationAPI is the worker interface that issues credentials (the
// RegistrationFunction): registerWorker, and reregisterWorker, through which a
// registered worker renews them.
func (s *Service) RegistrationAPI() *httpapi.API {
	a := httpapi.New(Base, s.Authn, nil, httpapi.WithLogger(s.log()))
	a.Handle(httpapi.Route{Name: "registerWorker", Method: "POST", Pattern: "/worker/register", Handler: s.registerWorker, NoScopes: true})
	a.Handle(httpapi.Route{Name: "reregisterWorker", Method: "POST", Pattern: "/worker/reregister", Handler: s.reregisterWorker, MaxBody: pool.MaxReportBytes})
	return a
}

// Scope expressions, as the seed lists them.
var (
	manageScope       = auth.Scope("worker-manager:manage-worker-pool:<workerPoolId>")
	providerScope     = auth.Scope("worker-manager:provider:<providerId>")
	createWorkerScope = auth.Scope("worker-manager:create-worker:<workerPoolId>/<workerGroup>/<workerId>")
	removeWorkerScope = auth.Scope("worker-manager:remove-worker:<workerPoolId>/<workerGroup>/<workerId>")
	updateWorkerScope = auth.Scope("worker-manager:update-worker:<workerPoolId>/<workerGroup>/<workerId>")

	// What today's worker-manager asks of reads.
	listProvidersScope   = auth.Scope("worker-manager:list-providers")
	getPoolScope         = auth.Scope("worker-manager:get-worker-pool:<workerPoolId>")
	listPoolsScope       = auth.Scope("worker-manager:list-worker-pools")
	listErrorsScope      = auth.Scope("worker-manager:list-worker-pool-errors:<workerPoolId>")
	listPoolWorkersScope = auth.Scope("worker-manager:list-workers:<workerPoolId>")
	listGroupScope       = auth.Scope("worker-manager:list-workers:<workerPoolId>/<workerGroup>")
	getWorkerScope       = auth.Scope("worker-manager:get-worker:<workerPoolId>/<workerGroup>/<workerId>")
	reportErrorScopes    = auth.AllOf("assume:worker-pool:<workerPoolId>", "assume:worker-id:<workerGroup>/<workerId>")
)

func ts(t time.Time) string { return httpapi.Timestamp(t) }

// checkIDs refuses malformed path identifiers (before the caller is authenticated).
func checkIDs(r *httpapi.Request) error {
	_, _, _, err := ids(r)
	return err
}

// ids reads and validates the path's identifiers.
func ids(r *httpapi.Request) (poolID, group, id string, err error) {
	poolID, group, id = r.Params["workerPoolId"], r.Params["workerGroup"], r.Params["workerId"]
	var problems []string
	if !pool.ValidWorkerPoolID(poolID) {
		problems = append(problems, fmt.Sprintf("workerPoolId %q must match ^[a-zA-Z0-9-_]{1,38}/[a-z]([-a-z0-9]{0,36}[a-z0-9])?$", poolID))
	}
	if _, ok := r.Params["workerGroup"]; ok && !pool.ValidWorkerGroup(group) {
		problems = append(problems, fmt.Sprintf("workerGroup %q must be 1 to 38 of a-z A-Z 0-9 - _", group))
	}
	if _, ok := r.Params["workerId"]; ok && !pool.ValidWorkerID(id) {
		problems = append(problems, fmt.Sprintf("workerId %q must be 1 to 38 of a-z A-Z 0-9 - _", id))
	}
	if len(problems) > 0 {
		return "", "", "", httpapi.InputValidationError("%s", strings.Join(problems, "\n"))
	}
	return poolID, group, id, nil
}

func (s *Service) ping(context.Context, *httpapi.Request) (*httpapi.Response, error) {
	return httpapi.OK(map[string]any{"alive": true, "uptime": time.Since(s.started).Seconds()}), nil
}
