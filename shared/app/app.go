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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
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
	"github.com/workerfleet/workerfleet/shared/statuspage"
	"github.com/workerfleet/workerfleet/shared/store"
	"github.com/workerfleet/workerfleet/shared/telemetry"
	"github.com/workerfleet/workerfleet/shared/workermanager"
)

// Config is everything an operator (or the local stack) sets.
type Config struct {
	Tables store.Tables
	// DynamoDBEndpoint points the store at DynamoDB Local; "" is AWS's.
	// DynamoDBAccessKeyID is the access key id its tables live under there
	// (DynamoDB Local keeps a database per access key id; default "local").
	DynamoDBEndpoint, DynamoDBAccessKeyID string
	// RootClientID and RootAccessToken are the root client (all scopes). The service
	// issues temporary credentials from them.
	RootClientID, RootAccessToken string
	// SigningKey seals client access tokens at rest, signs continuation tokens and
	// derives worker secret tokens.
	SigningKey []byte
	// InstanceSetID tags every instance this deployment launches.
	InstanceSetID string
	// RootURL is where workers and users reach this deployment.
	RootURL string
	// TaskclusterRootURL: pending tasks come from its queue, and unknown clients are
	// checked with its auth service. "" means no Taskcluster.
	TaskclusterRootURL string
	// TaskclusterClientID and TaskclusterAccessToken are the Taskcluster client
	// workerfleet acts as in Taskcluster mode (as worker-manager runs as
	// static/taskcluster/worker-manager): worker credentials are issued by it, so
	// the deployment's auth service accepts them, and emailOnError mails go through
	// its notify service. Both empty: standalone, credentials issued by the root.
	TaskclusterClientID, TaskclusterAccessToken string
	// DelegateAuth checks clients unknown here with TaskclusterRootURL's auth service.
	DelegateAuth bool
	// FrontDoorSecret is the value of httpapi.FrontDoorHeader by which the front
	// door (the template's CloudFront distribution) proves a request came through
	// it; only then is its X-Forwarded-Host the host Hawk signatures are checked
	// against (FRONT_DOOR_SECRET). "": X-Forwarded-Host is never believed.
	FrontDoorSecret string
	// AllowedRegions are the EC2 regions definitions may use.
	AllowedRegions []string
	// Providers are the deployment's worker-manager providers (PROVIDERS, in
	// Taskcluster's format); the zero value is aws, static and null-provider.
	Providers pool.Providers
	// ErrorRetention is how long pool errors stay listed.
	ErrorRetention time.Duration
	// Cloud is the cloud driver's alias ("ec2"), CloudConfig its configuration.
	Cloud       string
	CloudConfig json.RawMessage
	// ProvisionInterval is the schedule's period (for backendStatus; default 1m).
	ProvisionInterval time.Duration
	// ProvisionCadence is the pause between iterations inside one invocation while
	// demand moves (PROVISION_CADENCE; 0 = provision.DefaultCadenceInterval when the
	// schedule's period leaves room, "off" or a negative value = one iteration per
	// invocation).
	ProvisionCadence time.Duration
	// WorkerIdleTimeout is what pools' workers are told to idle at most where their
	// workerConfig says nothing (WORKER_IDLE_TIMEOUT; 0 = each pool's own, chosen
	// from its demand, provision.DefaultWorkerIdleTimeout until the process knows
	// enough of it; "off" or negative = nothing is added).
	WorkerIdleTimeout time.Duration
	// AnonymousScopes are what every caller of the worker-manager API holds
	// (ANONYMOUS_SCOPES, space- or comma-separated; unset:
	// workermanager.DefaultAnonymousScopes, "none": nothing). In Taskcluster mode
	// the deployment's anonymous role decides instead; these are the fallback while
	// its auth service cannot say.
	AnonymousScopes []string
	// EventBus is the EventBridge bus events are announced on (EVENT_BUS_NAME;
	// "none" or "": none).
	EventBus string
	// Compatibility is which worker-manager the API and the provisioner follow
	// where v25's and today's differ (WORKER_MANAGER_COMPATIBILITY: CompatibilityV25,
	// the default, or CompatibilityCurrent).
	Compatibility string
	// PoolMetrics adds per-pool CloudWatch metrics to the fleet's (POOL_METRICS:
	// "per-pool"; "fleet", the default, leaves them out: see provision.Config).
	PoolMetrics bool
}

// Values of Config.Compatibility.
const (
	CompatibilityV25     = "v25"
	CompatibilityCurrent = "current"
)

// FromEnv reads the configuration the template gives the functions: table names,
// secrets (from Secrets Manager, unless given directly), and settings.
func FromEnv(ctx context.Context) (Config, error) { return fromEnv(ctx, true) }

func fromEnv(ctx context.Context, secrets bool) (Config, error) {
	env := os.Getenv
	cfg := Config{
		Tables: store.Tables{
			WorkerTypes: env("WORKER_TYPES_TABLE"), WorkerPools: env("WORKER_POOLS_TABLE"), Workers: env("WORKERS_TABLE"),
			Secrets: env("SECRETS_TABLE"), Errors: env("ERRORS_TABLE"), Clients: env("CLIENTS_TABLE"), Status: env("STATUS_TABLE"),
			Nonces: env("NONCES_TABLE"),
		},
		DynamoDBEndpoint:    env("DYNAMODB_ENDPOINT"),
		DynamoDBAccessKeyID: env("DYNAMODB_ACCESS_KEY_ID"),
		RootClientID:        env("ROOT_CLIENT_ID"),
		RootAccessToken:     env("ROOT_ACCESS_TOKEN"),
		SigningKey:          []byte(env("SIGNING_KEY")),
		InstanceSetID:       env("INSTANCE_SET_ID"),
		RootURL:             strings.TrimSuffix(env("ROOT_URL"), "/"),
		TaskclusterRootURL:  strings.TrimSuffix(env("TASKCLUSTER_ROOT_URL"), "/"),
		Cloud:               env("CLOUD"),
		CloudConfig:         json.RawMessage(env("CLOUD_CONFIG")),
	}
	cfg.DelegateAuth = cfg.TaskclusterRootURL != "" && env("TASKCLUSTER_AUTH_DELEGATION") != "false"
	cfg.TaskclusterClientID = env("TASKCLUSTER_CLIENT_ID")
	cfg.FrontDoorSecret = env("FRONT_DOOR_SECRET")
	for _, r := range strings.Split(env("ALLOWED_REGIONS"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.AllowedRegions = append(cfg.AllowedRegions, r)
		}
	}
	providers, err := pool.ParseProviders(env("PROVIDERS"))
	if err != nil {
		return Config{}, err
	}
	cfg.Providers = providers
	if d := env("ERROR_RETENTION_DAYS"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			return Config{}, fmt.Errorf("ERROR_RETENTION_DAYS=%q is not a positive number", d)
		}
		cfg.ErrorRetention = time.Duration(n) * 24 * time.Hour
	}
	if d := env("PROVISION_INTERVAL"); d != "" {
		iv, err := time.ParseDuration(d)
		if err != nil {
			return Config{}, fmt.Errorf("PROVISION_INTERVAL=%q: %w", d, err)
		}
		cfg.ProvisionInterval = iv
	}
	if cfg.ProvisionCadence, err = offDuration("PROVISION_CADENCE", time.Nanosecond, "a positive duration such as 15s, or off"); err != nil {
		return Config{}, err
	}
	if cfg.WorkerIdleTimeout, err = offDuration("WORKER_IDLE_TIMEOUT", time.Second, "a duration of at least 1s such as 5m, or off"); err != nil {
		return Config{}, err
	}
	if cfg.EventBus = env("EVENT_BUS_NAME"); cfg.EventBus == "none" {
		cfg.EventBus = ""
	}
	if cfg.AnonymousScopes, err = anonymousScopes(env("ANONYMOUS_SCOPES")); err != nil {
		return Config{}, err
	}
	switch c := env("WORKER_MANAGER_COMPATIBILITY"); c {
	case "", CompatibilityV25, CompatibilityCurrent:
		cfg.Compatibility = c
	default:
		return Config{}, fmt.Errorf("WORKER_MANAGER_COMPATIBILITY=%q: want %s or %s", c, CompatibilityV25, CompatibilityCurrent)
	}
	switch m := env("POOL_METRICS"); m {
	case "", "fleet":
	case "per-pool":
		cfg.PoolMetrics = true
	default:
		return Config{}, fmt.Errorf("POOL_METRICS=%q: want fleet or per-pool", m)
	}
	if !secrets {
		if err := withoutSecrets(&cfg); err != nil {
			return Config{}, err
		}
	}
	withRoot := secrets && (cfg.RootAccessToken == "" || len(cfg.SigningKey) == 0)
	if err := cfg.loadSecrets(ctx, withRoot, env("ROOT_CREDENTIALS_SECRET"), env("SIGNING_KEY_SECRET"), env("TASKCLUSTER_ACCESS_TOKEN_SECRET")); err != nil {
		return Config{}, err
	}
	return cfg, cfg.validate()
}

// anonymousScopes reads ANONYMOUS_SCOPES.
func anonymousScopes(v string) ([]string, error) {
	switch strings.TrimSpace(v) {
	case "":
		return workermanager.DefaultAnonymousScopes, nil
	case "none":
		return []string{}, nil
	}
	scopes := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' })
	for _, s := range scopes {
		if !auth.ValidScope(s) {
			return nil, fmt.Errorf("ANONYMOUS_SCOPES: %q is not a scope", s)
		}
	}
	return scopes, nil
}

// offDuration reads the duration setting name: "" is 0 (the default), "off" or
// "0" is -1 (off), anything else a duration no shorter than least, or an error saying
// what is wanted.
func offDuration(name string, least time.Duration, want string) (time.Duration, error) {
	switch d := os.Getenv(name); d {
	case "":
		return 0, nil
	case "off", "0":
		return -1, nil
	default:
		iv, err := time.ParseDuration(d)
		if err != nil || iv < least {
			return 0, fmt.Errorf("%s=%q: %s", name, d, want)
		}
		return iv, nil
	}
}

// withoutSecrets is for a function that authenticates no one, issues nothing and
// seals nothing (ec2-events): it reads no secrets, which its role may not, and
// ephemeral random values stand in for the root token and the signing key.
func withoutSecrets(cfg *Config) error {
	token, err := auth.NewAccessToken()
	if err != nil {
		return err
	}
	key, err := auth.NewAccessToken()
	if err != nil {
		return err
	}
	if cfg.RootClientID == "" {
		cfg.RootClientID = "root"
	}
	cfg.RootAccessToken, cfg.SigningKey = token, []byte(key)
	return nil
}

// loadSecrets reads from Secrets Manager the secrets the function needs and was not
// given: the root credentials and the signing key when withRoot, and in Taskcluster
// mode the Taskcluster client's access token. It reads them all at once through one
// client: a function's init waits for one round trip, not one per secret.
func (c *Config) loadSecrets(ctx context.Context, withRoot bool, rootARN, keyARN, tcARN string) error {
	withTC := c.TaskclusterMode()
	if withRoot && (rootARN == "" || keyARN == "") {
		return errors.New("set ROOT_ACCESS_TOKEN and SIGNING_KEY, or ROOT_CREDENTIALS_SECRET and SIGNING_KEY_SECRET")
	}
	errNoTCSecret := errors.New("TASKCLUSTER_CLIENT_ID is set: set TASKCLUSTER_ACCESS_TOKEN_SECRET to the Secrets Manager secret holding its access token")
	switch {
	case !withRoot && !withTC:
		return nil
	case !withRoot && tcARN == "":
		return errNoTCSecret // nothing to read
	}
	awsCfg, err := telemetry.AWSConfig(ctx)
	if err != nil {
		return err
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	var root, key, tc string
	var rootErr, keyErr, tcErr error
	var wg sync.WaitGroup
	if withRoot {
		wg.Go(func() { root, rootErr = secretString(ctx, sm, rootARN) })
		wg.Go(func() { key, keyErr = secretString(ctx, sm, keyARN) })
	}
	if withTC && tcARN != "" {
		wg.Go(func() { tc, tcErr = secretString(ctx, sm, tcARN) })
	}
	wg.Wait()
	if withRoot {
		if rootErr != nil {
			return fmt.Errorf("read root credentials secret: %w", rootErr)
		}
		if keyErr != nil {
			return fmt.Errorf("read signing key secret: %w", keyErr)
		}
		var creds struct {
			ClientID    string `json:"clientId"`
			AccessToken string `json:"accessToken"`
		}
		if err := json.Unmarshal([]byte(root), &creds); err != nil {
			return fmt.Errorf("root credentials secret is not {clientId, accessToken}: %w", err)
		}
		c.RootClientID, c.RootAccessToken, c.SigningKey = creds.ClientID, creds.AccessToken, []byte(key)
	}
	if !withTC {
		return nil
	}
	switch {
	case tcARN == "":
		return errNoTCSecret
	case tcErr != nil:
		return fmt.Errorf("read the Taskcluster access token secret: %w", tcErr)
	}
	token, err := parseTaskclusterToken(tc, c.TaskclusterClientID)
	if err != nil {
		return fmt.Errorf("the Taskcluster access token secret: %w", err)
	}
	c.TaskclusterAccessToken = token
	return nil
}

func secretString(ctx context.Context, sm *secretsmanager.Client, arn string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.SecretString), nil
}

// parseTaskclusterToken reads a secret string that is an access token, or
// {"clientId": ..., "accessToken": ...}. Errors never quote the secret.
func parseTaskclusterToken(secret, clientID string) (string, error) {
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, "{") {
		return secret, nil
	}
	var v struct {
		ClientID    string `json:"clientId"`
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal([]byte(secret), &v); err != nil || v.AccessToken == "" {
		return "", errors.New("it is JSON but not {\"accessToken\": ...}")
	}
	if v.ClientID != "" && v.ClientID != clientID {
		return "", fmt.Errorf("it is for client %q, not TASKCLUSTER_CLIENT_ID %q", v.ClientID, clientID)
	}
	return v.AccessToken, nil
}

// TaskclusterMode reports whether workerfleet acts as a client of a Taskcluster
// deployment (issuing worker credentials as that client), rather than standalone.
func (c *Config) TaskclusterMode() bool { return c.TaskclusterClientID != "" }

func (c *Config) validate() error {
	var missing []string
	for name, v := range map[string]string{
		"worker types table": c.Tables.WorkerTypes, "worker pools table": c.Tables.WorkerPools, "workers table": c.Tables.Workers,
		"secrets table": c.Tables.Secrets, "errors table": c.Tables.Errors, "clients table": c.Tables.Clients, "status table": c.Tables.Status,
		"nonces table":   c.Tables.Nonces,
		"root client id": c.RootClientID, "root access token": c.RootAccessToken, "instance set id": c.InstanceSetID,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("configuration lacks: %s", strings.Join(missing, ", "))
	}
	if c.TaskclusterClientID != "" || c.TaskclusterAccessToken != "" {
		switch {
		case c.TaskclusterRootURL == "":
			return errors.New("a Taskcluster client is configured without a Taskcluster root URL")
		case c.TaskclusterClientID == "" || c.TaskclusterAccessToken == "":
			return errors.New("the Taskcluster client needs both a client id and an access token")
		case c.TaskclusterClientID == c.RootClientID:
			return fmt.Errorf("the Taskcluster client id %q is the root client's: give the root another id", c.RootClientID)
		}
	}
	if len(c.SigningKey) < 16 {
		return errors.New("the signing key must be at least 16 bytes")
	}
	if c.Cloud == "" {
		c.Cloud = "ec2"
	}
	if c.ErrorRetention == 0 {
		c.ErrorRetention = 7 * 24 * time.Hour
	}
	if c.ProvisionInterval == 0 {
		c.ProvisionInterval = time.Minute
	}
	return nil
}

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

func storeDB(s *store.Store) store.DB {
	if s == nil {
		return nil
	}
	return s.DB()
}

// storeClients finds API clients in the clients table, opening their sealed tokens.
type storeClients struct {
	s      *store.Store
	sealer *auth.Sealer
}

func (c storeClients) LookupClient(ctx context.Context, id string) (auth.Client, error) {
	cl, err := c.s.Client(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return auth.Client{}, auth.ErrUnknownClient
	}
	if err != nil {
		return auth.Client{}, err
	}
	token, err := c.sealer.Open(id, cl.SealedAccessToken)
	if err != nil {
		return auth.Client{}, fmt.Errorf("client %s: %w", id, err)
	}
	return auth.Client{ClientID: id, AccessToken: token, Scopes: cl.Scopes, Expires: cl.Expires, Disabled: cl.Disabled}, nil
}

// storeNonces is the replay guard over the nonces table.
type storeNonces struct{ s *store.Store }

func (n storeNonces) UseNonce(ctx context.Context, clientID, nonce, ts string, expires time.Time) error {
	err := n.s.UseNonce(ctx, clientID, nonce, ts, expires)
	if errors.Is(err, store.ErrReplayed) {
		return fmt.Errorf("%w: %w", auth.ErrReplayed, err)
	}
	return err
}

// HTTPAuth adapts the authenticator to the HTTP layer.
func (a *App) HTTPAuth() httpapi.Authenticator {
	return httpAuth{a: a.Auth, frontDoorSecret: a.Config.FrontDoorSecret}
}

type httpAuth struct {
	a               *auth.Authenticator
	frontDoorSecret string
}

func (h httpAuth) Authenticate(ctx context.Context, r httpapi.AuthRequest) (httpapi.Caller, error) {
	host, port := r.Addressed(h.frontDoorSecret)
	c, err := h.a.Authenticate(ctx, auth.Request{Method: r.Method, Host: host, Port: port, Resources: r.Resources, Encoded: r.Encoded,
		Authorization: r.Authorization, ContentType: r.ContentType, Payload: r.Payload})
	var ae *auth.Error
	if errors.As(err, &ae) {
		return httpapi.Caller{}, httpapi.AuthenticationFailed("%s", ae.Message)
	}
	if err != nil {
		return httpapi.Caller{}, err
	}
	return httpapi.Caller{ClientID: c.ClientID, Scopes: c.Scopes, Authenticated: c.Authenticated}, nil
}

// parseOptions validates definitions for this deployment.
func (a *App) parseOptions() pool.Options {
	return pool.Options{Providers: a.Config.Providers, AllowedRegions: a.Config.AllowedRegions, ValidateLaunchSpec: a.validateSpec}
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
	return &ec2events.Handler{Store: a.Store, Log: a.Log, Events: a.Events}
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
	return &provision.Provisioner{
		Store: a.Store, Cloud: ratelimit.Wrap(set, ratelimit.EC2), Demand: sources, Log: a.Log, Metrics: metrics, Mailer: a.Mailer, Events: a.Events,
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

// CreateClient adds an API client with its own scopes and returns its access token,
// which is shown only now: the table keeps it sealed.
func (a *App) CreateClient(ctx context.Context, clientID, description string, scopes []string, expires time.Time) (string, error) {
	if clientID == a.Config.RootClientID {
		return "", fmt.Errorf("client id %q is the root client's", clientID)
	}
	return CreateClient(ctx, a.Store, a.Sealer, clientID, description, scopes, expires)
}

// CreateClient adds an API client to a clients table, its access token sealed.
func CreateClient(ctx context.Context, st *store.Store, sealer *auth.Sealer, clientID, description string, scopes []string, expires time.Time) (string, error) {
	if !auth.ValidClientID(clientID) {
		// A longer id could never authenticate: requests naming one are refused.
		return "", fmt.Errorf("client id %q is not allowed (1 to %d of A-Z a-z 0-9 ! @ / : . + | _ -)", clientID, auth.MaxClientIDLength)
	}
	for _, s := range scopes {
		if !auth.ValidScope(s) {
			return "", fmt.Errorf("scope %q is not printable ASCII", s)
		}
	}
	token, err := auth.NewAccessToken()
	if err != nil {
		return "", err
	}
	sealed, err := sealer.Seal(clientID, token)
	if err != nil {
		return "", err
	}
	if _, err := st.CreateClient(ctx, store.Client{ClientID: clientID, SealedAccessToken: sealed, Scopes: scopes,
		Description: description, Expires: expires}); err != nil {
		return "", fmt.Errorf("create client %s: %w", clientID, err)
	}
	return token, nil
}

// TaskclusterClientScopes are the scopes the Taskcluster client needs in Taskcluster
// mode: to name worker credentials (auth:create-client), to grant what
// registerWorker and getSecret grant, and to mail emailOnError errors. The scopes
// worker types give their instances (their scopes fields) come on top.
var TaskclusterClientScopes = []string{
	"auth:create-client:worker/*",
	"auth:create-client:aws-provisioner/*",
	"assume:worker-type:*",
	"assume:worker-pool:*",
	"assume:worker-id:*",
	"queue:worker-id:*",
	"queue:claim-work:*",
	"secrets:get:worker-type:*",
	"secrets:get:worker-pool:*",
	"worker-manager:remove-worker:*",
	"worker-manager:reregister-worker:*",
	"worker-manager:should-worker-terminate:*",
	"notify:email:*",
}

// CheckTaskclusterClient asks the deployment's auth service for the Taskcluster
// client's scopes (auth.currentScopes) and returns those of TaskclusterClientScopes
// it lacks. Standalone, it returns nothing.
func (a *App) CheckTaskclusterClient(ctx context.Context) ([]string, error) {
	if !a.Config.TaskclusterMode() {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := tcauth.New(a.TaskclusterCredentials(), a.Config.TaskclusterRootURL)
	c.Context = ctx
	type result struct {
		scopes *tcauth.SetOfScopes
		err    error
	}
	done := make(chan result, 1)
	go func() { s, err := c.CurrentScopes(); done <- result{s, err} }()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("ask %s for the scopes of %s: %w", a.Config.TaskclusterRootURL, a.Config.TaskclusterClientID, ctx.Err())
	}
	if r.err != nil {
		var apiErr *tcclient.APICallException
		if errors.As(r.err, &apiErr) && apiErr.CallSummary != nil && apiErr.CallSummary.HTTPResponse != nil {
			return nil, fmt.Errorf("ask %s for the scopes of %s: answered %s (are TASKCLUSTER_CLIENT_ID and its access token right?)",
				a.Config.TaskclusterRootURL, a.Config.TaskclusterClientID, apiErr.CallSummary.HTTPResponse.Status)
		}
		return nil, fmt.Errorf("ask %s for the scopes of %s: the auth service could not be reached", a.Config.TaskclusterRootURL, a.Config.TaskclusterClientID)
	}
	var missing []string
	for _, s := range TaskclusterClientScopes {
		if !auth.Satisfies(r.scopes.Scopes, s) {
			missing = append(missing, s)
		}
	}
	return missing, nil
}

// LogTaskclusterClientCheck logs what CheckTaskclusterClient finds, as an error when
// the client lacks scopes: workers would get credentials the deployment refuses.
func (a *App) LogTaskclusterClientCheck(ctx context.Context) {
	missing, err := a.CheckTaskclusterClient(ctx)
	switch {
	case err != nil:
		a.Log.WarnContext(ctx, "cannot check the Taskcluster client's scopes", "error", err.Error())
	case len(missing) > 0:
		a.Log.ErrorContext(ctx, "the Taskcluster client lacks scopes: the deployment will refuse the credentials workers get, or the mails of emailOnError",
			"clientId", a.Config.TaskclusterClientID, "missing", missing)
	}
}
