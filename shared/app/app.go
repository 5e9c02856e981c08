// Package app wires the product's components from configuration. The Lambda
// functions build themselves with FromEnv and New; the local stack builds the very
// same handlers with a Config of its own (DynamoDB Local, the fake cloud), so both run
// the same code.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcauth"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/awsprovisioner"
	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ratelimit"
	"github.com/workerfleet/workerfleet/shared/demand"
	"github.com/workerfleet/workerfleet/shared/ec2events"
	"github.com/workerfleet/workerfleet/shared/httpapi"
	"github.com/workerfleet/workerfleet/shared/identity"
	"github.com/workerfleet/workerfleet/shared/notify"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/provision"
	"github.com/workerfleet/workerfleet/shared/reaction"
	"github.com/workerfleet/workerfleet/shared/statuspage"
	"github.com/workerfleet/workerfleet/shared/store"
	"github.com/workerfleet/workerfleet/shared/telemetry"
	"github.com/workerfleet/workerfleet/shared/workermanager"
)

// App is the wired product.
type App struct {
	Config Config
	Store  *store.Store
	Sealer *auth.Sealer
	Auth   *auth.Authenticator
	// Issuer mints worker credentials: the root standalone, the Taskcluster client
	// in Taskcluster mode.
	Issuer   auth.Issuer
	Verifier *identity.Verifier
	// Mailer mails errors of pools with emailOnError (Taskcluster mode); nil: none.
	Mailer notify.Mailer
	// Events announces what changes (Config.EventBus; nil: nothing).
	Events announce.Publisher
	Log    *slog.Logger

	awsCfg       func() (aws.Config, error)
	validateSpec func(json.RawMessage) error
	resources    func() (awsprovisioner.ResourceChecker, error) // see WithResourceChecks
	cloudOnce    sync.Once
	cloud        cloud.InstanceSet
	cloudErr     error
	// wrapIssuer, if set, wraps the worker-manager's issuer (WithIssuerWrapper).
	wrapIssuer func(workermanager.Issuer) workermanager.Issuer
	// anonymous caches the deployment's anonymous scopes (Taskcluster mode).
	anonymous struct {
		mu     sync.Mutex
		scopes []string
		at     time.Time
	}
}

// Option adjusts New (the local stack and tests use them).
type Option func(*App)

// WithDB makes the store use db (DynamoDB Local, or a wrapper that counts or
// guards), keeping the store's clock.
func WithDB(db store.DB) Option {
	return func(a *App) {
		var opts []store.Option
		if a.Store != nil {
			opts = append(opts, store.WithClock(a.Store.Now))
		}
		a.Store = store.New(db, a.Config.Tables, a.Config.SigningKey, opts...)
	}
}

// WithCloud makes the app use an instance set (the fake cloud) instead of the driver.
func WithCloud(set cloud.InstanceSet) Option {
	return func(a *App) { a.cloud = set; a.cloudOnce.Do(func() {}) }
}

// WithVerifier replaces the identity verifier (the local stack trusts its fake cloud).
func WithVerifier(v *identity.Verifier) Option { return func(a *App) { a.Verifier = v } }

// WithLaunchSpecValidator checks launch specs strictly (the EC2 driver's decoding,
// launchspec.Validate: unknown RunInstances fields are refused with a 400).
func WithLaunchSpecValidator(fn func(json.RawMessage) error) Option {
	return func(a *App) { a.validateSpec = fn }
}

// WithResourceChecks makes createWorkerType and updateWorkerType check with EC2,
// through a checker newChecker builds (exists.New), that the AMIs and security groups
// a worker type names exist, as the aws-provisioner did. Only with the ec2 driver:
// the fake cloud has no image catalog. The aws-provisioner-api function sets it.
func WithResourceChecks(newChecker func(cfg aws.Config, endpoint string) awsprovisioner.ResourceChecker) Option {
	return func(a *App) {
		// Built on first use, against the ec2 driver's endpoint when its
		// configuration names one (moto in the local stack).
		a.resources = sync.OnceValues(func() (awsprovisioner.ResourceChecker, error) {
			var cc struct {
				Endpoint string `json:"endpoint"`
			}
			if len(a.Config.CloudConfig) > 0 {
				_ = json.Unmarshal(a.Config.CloudConfig, &cc)
			}
			cfg, err := a.awsCfg()
			if err != nil {
				return nil, err
			}
			return newChecker(cfg, cc.Endpoint), nil
		})
	}
}

// WithCompatibility sets Config.Compatibility (tests; deployments set
// WORKER_MANAGER_COMPATIBILITY).
func WithCompatibility(c string) Option { return func(a *App) { a.Config.Compatibility = c } }

// WithAnonymousScopes sets Config.AnonymousScopes (tests; deployments set
// ANONYMOUS_SCOPES).
func WithAnonymousScopes(scopes ...string) Option {
	return func(a *App) { a.Config.AnonymousScopes = append([]string{}, scopes...) }
}

// WithIssuerWrapper wraps the issuer of worker credentials (tests: an issuer that
// refuses).
func WithIssuerWrapper(wrap func(workermanager.Issuer) workermanager.Issuer) Option {
	return func(a *App) { a.wrapIssuer = wrap }
}

// WithEvents makes the app announce its events with p (the local stack's recorder,
// tests).
func WithEvents(p announce.Publisher) Option { return func(a *App) { a.Events = p } }

// WithMailer replaces the mailer of emailOnError errors.
func WithMailer(m notify.Mailer) Option { return func(a *App) { a.Mailer = m } }

// WithFrontDoorSecret sets Config.FrontDoorSecret.
func WithFrontDoorSecret(secret string) Option {
	return func(a *App) { a.Config.FrontDoorSecret = secret }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(a *App) { a.Log = l } }

// WithClock sets the store's clock.
func WithClock(now func() time.Time) Option {
	return func(a *App) {
		a.Store = store.New(storeDB(a.Store), a.Config.Tables, a.Config.SigningKey, store.WithClock(now))
	}
}

// New builds the app. AWS clients are made on first use, so a function pays only for
// what it calls.
func New(ctx context.Context, cfg Config, opts ...Option) (*App, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.AnonymousScopes == nil {
		cfg.AnonymousScopes = workermanager.DefaultAnonymousScopes
	}
	a := &App{Config: cfg, Log: slog.Default(), Verifier: identity.NewAWSVerifier()}
	if cfg.TaskclusterMode() {
		a.Mailer = &notify.Taskcluster{RootURL: cfg.TaskclusterRootURL, Credentials: a.TaskclusterCredentials()}
	}
	var once sync.Once
	var awsCfg aws.Config
	var awsErr error
	a.awsCfg = func() (aws.Config, error) {
		once.Do(func() { awsCfg, awsErr = telemetry.AWSConfig(ctx) })
		return awsCfg, awsErr
	}
	if cfg.EventBus != "" {
		a.Events = &eventBridge{a: a}
	}
	if cfg.DynamoDBEndpoint != "" {
		key := cfg.DynamoDBAccessKeyID
		if key == "" {
			key = "local"
		}
		a.Store = store.New(dynamodb.New(dynamodb.Options{
			Region: "us-east-1", BaseEndpoint: aws.String(cfg.DynamoDBEndpoint),
			Credentials: credentials.NewStaticCredentialsProvider(key, "unchecked", ""),
		}), cfg.Tables, cfg.SigningKey)
	}
	for _, o := range opts {
		o(a)
	}
	if a.Store == nil {
		c, err := a.awsCfg()
		if err != nil {
			return nil, err
		}
		a.Store = store.New(dynamodb.NewFromConfig(c), cfg.Tables, cfg.SigningKey)
	}
	var err error
	if a.Sealer, err = auth.NewSealer(cfg.SigningKey); err != nil {
		return nil, err
	}
	root := auth.Client{ClientID: cfg.RootClientID, AccessToken: cfg.RootAccessToken, Scopes: []string{"*"}}
	a.Auth = &auth.Authenticator{Clients: auth.Chain{auth.StaticClients{root.ClientID: root}, storeClients{a.Store, a.Sealer}},
		Replays: storeNonces{a.Store}, Now: a.Store.Now}
	if cfg.DelegateAuth && cfg.TaskclusterRootURL != "" {
		a.Auth.Remote = &auth.TaskclusterAuth{RootURL: cfg.TaskclusterRootURL}
	}
	a.Issuer = auth.Issuer{ClientID: root.ClientID, AccessToken: root.AccessToken, Scopes: root.Scopes, Now: a.Store.Now}
	if cfg.TaskclusterMode() {
		// The deployment's auth service is the authority on its client's scopes: it
		// checks them when a worker uses the credentials (CheckTaskclusterClient
		// says ahead which ones the client lacks).
		a.Issuer = auth.Issuer{ClientID: cfg.TaskclusterClientID, AccessToken: cfg.TaskclusterAccessToken, Scopes: []string{"*"}, Now: a.Store.Now}
	}
	return a, nil
}

// TaskclusterCredentials are the Taskcluster client's credentials (Taskcluster
// mode), or nil.
func (a *App) TaskclusterCredentials() *tcclient.Credentials {
	if !a.Config.TaskclusterMode() {
		return nil
	}
	return &tcclient.Credentials{ClientID: a.Config.TaskclusterClientID, AccessToken: a.Config.TaskclusterAccessToken}
}

// parseOptions validates definitions for this deployment.
func (a *App) parseOptions() pool.ParseOptions {
	return pool.ParseOptions{Providers: a.Config.Providers, AllowedRegions: a.Config.AllowedRegions, ValidateLaunchSpec: a.validateSpec}
}

// Cloud returns the deployment's instance set, built on first use through the cloud
// driver registry: a function links a driver (and its SDK) only if it imports it.
func (a *App) Cloud() (cloud.InstanceSet, error) {
	a.cloudOnce.Do(func() {
		config := a.Config.CloudConfig
		if len(config) == 0 && a.Config.Cloud == "ec2" {
			config, _ = json.Marshal(map[string]any{"regions": a.Config.AllowedRegions})
		}
		a.cloud, a.cloudErr = cloud.New(a.Config.Cloud, config, cloud.InstanceSetID(a.Config.InstanceSetID))
	})
	return a.cloud, a.cloudErr
}

// AWSProvisioner is the aws-provisioner APIs' service.
func (a *App) AWSProvisioner() *awsprovisioner.Service {
	svc := &awsprovisioner.Service{Store: a.Store, Authn: a.HTTPAuth(), Issuer: a.Issuer, Parse: a.parseOptions(),
		RootURL: a.Config.RootURL, CheckInInterval: a.Config.ProvisionInterval, Log: a.Log}
	if a.resources != nil && (a.Config.Cloud == "" || a.Config.Cloud == "ec2") {
		svc.Resources = a.resources
	}
	return svc
}

// WorkerManager is the worker-manager APIs' service.
func (a *App) WorkerManager() *workermanager.Service {
	var issuer workermanager.Issuer = a.Issuer
	if a.wrapIssuer != nil {
		issuer = a.wrapIssuer(issuer)
	}
	return &workermanager.Service{Store: a.Store, Authn: a.HTTPAuth(), Issuer: issuer, Verifier: a.Verifier, Mailer: a.Mailer,
		Parse: a.parseOptions(), ErrorRetention: a.Config.ErrorRetention, Log: a.Log, Current: a.Config.Compatibility == CompatibilityCurrent,
		AnonymousScopes: a.anonymousScopes, Events: a.Events,
		Cloud: func() (workermanager.Terminator, error) { return a.Cloud() }}
}

// anonymousScopeTTL is how long the deployment's anonymous scopes are believed
// before they are asked again.
const anonymousScopeTTL = 5 * time.Minute

// anonymousScopes are what every caller of the worker-manager API holds: standalone,
// Config.AnonymousScopes; in Taskcluster mode, what the deployment's auth service
// expands assume:anonymous to (asked at most every anonymousScopeTTL; while it
// cannot answer, Config.AnonymousScopes).
func (a *App) anonymousScopes(ctx context.Context) []string {
	if !a.Config.TaskclusterMode() {
		return a.Config.AnonymousScopes
	}
	a.anonymous.mu.Lock()
	defer a.anonymous.mu.Unlock()
	if a.anonymous.scopes != nil && time.Since(a.anonymous.at) < anonymousScopeTTL {
		return a.anonymous.scopes
	}
	c := tcauth.New(nil, a.Config.TaskclusterRootURL)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c.Context = ctx
	got, err := c.ExpandScopes(&tcauth.SetOfScopes{Scopes: []string{auth.AnonymousScope}})
	if err == nil && got.Scopes == nil {
		err = errors.New("the answer holds no scopes")
	}
	if err != nil {
		a.Log.WarnContext(ctx, "the deployment's anonymous scopes are unknown; using ANONYMOUS_SCOPES", "error", err.Error())
		if a.anonymous.scopes != nil {
			return a.anonymous.scopes
		}
		return a.Config.AnonymousScopes
	}
	a.anonymous.scopes, a.anonymous.at = got.Scopes, time.Now()
	return got.Scopes
}

// EC2Events is the ec2-events handler.
func (a *App) EC2Events() *ec2events.Handler {
	return &ec2events.Handler{Store: a.Store, Log: a.Log}
}

// Provisioner is the provisioning iteration, its EC2 calls rate limited. metrics
// receives CloudWatch EMF lines (os.Stdout in Lambda).
func (a *App) Provisioner(metrics io.Writer) (*provision.Provisioner, error) {
	set, err := a.Cloud()
	if err != nil {
		return nil, err
	}
	sources := &demand.Sources{SQS: &demand.SQS{NewClient: a.sqsClient}}
	if a.Config.TaskclusterRootURL != "" {
		sources.Taskcluster = &demand.Taskcluster{RootURL: a.Config.TaskclusterRootURL}
	}
	var src provision.Demand = sources
	if a.Config.Reaction == ReactionOn {
		// Iterations come as often as a second apart: one count per pool per 10 s.
		src = &reaction.Demand{Sources: sources}
	}
	return &provision.Provisioner{
		Store: a.Store, Cloud: ratelimit.Wrap(set, ratelimit.EC2), Demand: src, Log: a.Log, Metrics: metrics, Mailer: a.Mailer, Events: a.Events,
		Config: provision.Config{RootURL: a.Config.RootURL, Providers: a.Config.Providers, Regions: a.Config.AllowedRegions, TokenKey: a.Config.SigningKey,
			ErrorRetention: a.Config.ErrorRetention, Cadence: a.cadence(), WorkerIdleTimeout: a.workerIdleTimeout(), IdleTimeouts: a.idleTimeouts(),
			CurrentWorkerManager: a.Config.Compatibility == CompatibilityCurrent, PoolMetrics: a.Config.PoolMetrics},
	}, nil
}

// workerIdleTimeout is the idle timeout the provisioner gives pools' workers.
func (a *App) workerIdleTimeout() time.Duration {
	switch d := a.Config.WorkerIdleTimeout; {
	case d < 0:
		return 0
	case d == 0:
		return provision.DefaultWorkerIdleTimeout
	default:
		return d
	}
}

// idleTimeouts chooses each pool's idle timeout from its own demand unless
// WORKER_IDLE_TIMEOUT sets one for all (or off); pools the process knows too
// little of get provision.DefaultWorkerIdleTimeout.
func (a *App) idleTimeouts() *provision.IdleTimeouts {
	if a.Config.WorkerIdleTimeout != 0 {
		return nil
	}
	return &provision.IdleTimeouts{Fallback: provision.DefaultWorkerIdleTimeout}
}

// cadence is the provisioner's cadence inside an invocation.
func (a *App) cadence() provision.Cadence {
	c := provision.DefaultCadence(a.Config.ProvisionInterval)
	switch {
	case a.Config.Reaction == ReactionOn:
		return provision.Cadence{} // the reaction function drives the iterations, one per invocation
	case a.Config.ProvisionCadence < 0:
		return provision.Cadence{}
	case a.Config.ProvisionCadence > 0 && c.Window > 0:
		c.Interval = a.Config.ProvisionCadence
	}
	return c
}

// eventBridge is the publisher on Config.EventBus, its client made at first use.
type eventBridge struct {
	a    *App
	once sync.Once
	bus  *announce.EventBridge
	err  error
}

func (e *eventBridge) Publish(ctx context.Context, events ...announce.Event) error {
	e.once.Do(func() {
		c, err := e.a.awsCfg()
		if err != nil {
			e.err = fmt.Errorf("event bus %s: %w", e.a.Config.EventBus, err)
			return
		}
		e.bus = &announce.EventBridge{Client: eventbridge.NewFromConfig(c), Bus: e.a.Config.EventBus}
	})
	if e.err != nil {
		return e.err
	}
	return e.bus.Publish(ctx, events...)
}

func (a *App) sqsClient(region string) demand.SQSAPI {
	c, err := a.awsCfg()
	if err != nil {
		return failingSQS{err}
	}
	return sqs.NewFromConfig(c, func(o *sqs.Options) { o.Region = region })
}

type failingSQS struct{ err error }

func (f failingSQS) GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return nil, f.err
}

// MustLoad is how a Lambda function starts: JSON logs, configuration from the
// environment, the app; on failure it logs why and exits (Lambda reports the init
// error).
func MustLoad(opts ...Option) *App { return mustLoad(true, opts...) }

// MustLoadWithoutSecrets is MustLoad for a function that needs none of the secrets
// (ec2-events, which only updates worker records): it reads neither, so its init
// makes no Secrets Manager call and its role needs no access to them.
func MustLoadWithoutSecrets(opts ...Option) *App { return mustLoad(false, opts...) }

func mustLoad(secrets bool, opts ...Option) *App {
	log := telemetry.Setup()
	ctx := context.Background()
	cfg, err := fromEnv(ctx, secrets)
	if err == nil {
		var a *App
		if a, err = New(ctx, cfg, append([]Option{WithLogger(log)}, opts...)...); err == nil {
			return a
		}
	}
	log.Error("cannot start", "error", err.Error())
	os.Exit(1)
	return nil
}

// HTTPFunctions are the APIs of the functions API Gateway routes to, by logical id in
// template.yaml. The local stack serves them; the tests hold them to the template.
//
// DefaultRouteFunction's API also answers every request no route matches (API
// Gateway's $default route): a Taskcluster-shaped 404, or a 405 naming the methods
// the path allows.
func (a *App) HTTPFunctions() map[string]*httpapi.API {
	ap, wm := a.AWSProvisioner(), a.WorkerManager()
	apis := map[string]*httpapi.API{
		"AwsProvisionerApiFunction": ap.WorkerTypesAPI(),
		"SecretsApiFunction":        ap.SecretsAPI(),
		"WorkerManagerApiFunction":  wm.API(),
		"RegistrationFunction":      wm.RegistrationAPI(),
	}
	var all []httpapi.RouteInfo
	for _, api := range apis {
		all = append(all, api.Routes()...)
	}
	apis[DefaultRouteFunction].AnswerUnrouted(all)
	return apis
}

// DefaultRouteFunction is the function template.yaml gives API Gateway's $default
// route.
const DefaultRouteFunction = "AwsProvisionerApiFunction"

// StatusPage is the StatusPageFunction's handler: the fleet at a glance.
func (a *App) StatusPage() *statuspage.Page {
	return &statuspage.Page{Store: a.Store, Interval: a.Config.ProvisionInterval, Log: a.Log}
}
