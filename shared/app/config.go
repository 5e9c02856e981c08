package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/workerfleet/workerfleet/shared/auth"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/store"
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
	// Reaction is how the provisioner learns of demand between its scheduled
	// iterations (REACTION): ReactionOff (the default: the schedule, and the
	// cadence inside an invocation), or ReactionOn (the reaction function invokes
	// it within a second of a task becoming pending; see shared/reaction). "pulse"
	// is read as ReactionOn.
	Reaction string
}

// Values of Config.Reaction.
const (
	ReactionOff = "off"
	ReactionOn  = "on"
)

// Values of Config.Compatibility.
const (
	CompatibilityV25     = "v25"
	CompatibilityCurrent = "current"
)

// FromEnv reads the configuration the template gives the functions: table names,
// secrets (from Secrets Manager, unless given directly), and settings.
func FromEnv(ctx context.Context) (Config, error) { return fromEnv(ctx, true) }

func fromEnv(ctx context.Context, secrets bool) (Config, error) {
	e := environ{get: os.Getenv}
	cfg := Config{
		Tables: store.Tables{
			WorkerTypes: e.str("WORKER_TYPES_TABLE"), WorkerPools: e.str("WORKER_POOLS_TABLE"), Workers: e.str("WORKERS_TABLE"),
			Secrets: e.str("SECRETS_TABLE"), Errors: e.str("ERRORS_TABLE"), Clients: e.str("CLIENTS_TABLE"), Status: e.str("STATUS_TABLE"),
			Nonces: e.str("NONCES_TABLE"),
		},
		DynamoDBEndpoint:    e.str("DYNAMODB_ENDPOINT"),
		DynamoDBAccessKeyID: e.str("DYNAMODB_ACCESS_KEY_ID"),
		RootClientID:        e.str("ROOT_CLIENT_ID"),
		RootAccessToken:     e.str("ROOT_ACCESS_TOKEN"),
		SigningKey:          []byte(e.str("SIGNING_KEY")),
		InstanceSetID:       e.str("INSTANCE_SET_ID"),
		RootURL:             strings.TrimSuffix(e.str("ROOT_URL"), "/"),
		TaskclusterRootURL:  strings.TrimSuffix(e.str("TASKCLUSTER_ROOT_URL"), "/"),
		TaskclusterClientID: e.str("TASKCLUSTER_CLIENT_ID"),
		FrontDoorSecret:     e.str("FRONT_DOOR_SECRET"),
		Cloud:               e.str("CLOUD"),
		CloudConfig:         json.RawMessage(e.str("CLOUD_CONFIG")),
		AllowedRegions:      e.list("ALLOWED_REGIONS"),
		ErrorRetention:      e.days("ERROR_RETENTION_DAYS"),
		ProvisionInterval:   e.duration("PROVISION_INTERVAL"),
		ProvisionCadence:    e.offDuration("PROVISION_CADENCE", time.Nanosecond, "a positive duration such as 15s, or off"),
		WorkerIdleTimeout:   e.offDuration("WORKER_IDLE_TIMEOUT", time.Second, "a duration of at least 1s such as 5m, or off"),
		Compatibility:       e.oneOf("WORKER_MANAGER_COMPATIBILITY", "", CompatibilityV25, CompatibilityCurrent),
		PoolMetrics:         e.oneOf("POOL_METRICS", "", "fleet", "per-pool") == "per-pool",
	}
	if r := e.oneOf("REACTION", "", ReactionOff, ReactionOn, "pulse"); r == ReactionOn || r == "pulse" {
		cfg.Reaction = ReactionOn
	}
	cfg.DelegateAuth = cfg.TaskclusterRootURL != "" && e.flag("TASKCLUSTER_AUTH_DELEGATION", true)
	if cfg.EventBus = e.str("EVENT_BUS_NAME"); cfg.EventBus == "none" {
		cfg.EventBus = ""
	}
	var err error
	if cfg.Providers, err = pool.ParseProviders(e.str("PROVIDERS")); err != nil {
		e.problem("PROVIDERS: %v", err)
	}
	if cfg.AnonymousScopes, err = anonymousScopes(e.str("ANONYMOUS_SCOPES")); err != nil {
		e.problem("%v", err)
	}
	if err := e.err(); err != nil {
		return Config{}, err
	}
	if !secrets {
		if err := withoutSecrets(&cfg); err != nil {
			return Config{}, err
		}
	}
	withRoot := secrets && (cfg.RootAccessToken == "" || len(cfg.SigningKey) == 0)
	if err := cfg.loadSecrets(ctx, withRoot, e.str("ROOT_CREDENTIALS_SECRET"), e.str("SIGNING_KEY_SECRET"), e.str("TASKCLUSTER_ACCESS_TOKEN_SECRET")); err != nil {
		return Config{}, err
	}
	return cfg, cfg.validate()
}

// environ reads settings from the environment, strictly: a value that is not one
// a setting takes is a problem, and every problem is reported at once.
type environ struct {
	get      func(string) string
	problems []string
}

func (e *environ) problem(format string, args ...any) {
	e.problems = append(e.problems, fmt.Sprintf(format, args...))
}

// err is every problem found, or nil.
func (e *environ) err() error {
	if len(e.problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(e.problems, "; "))
}

func (e *environ) str(name string) string { return e.get(name) }

// list reads a comma-separated list, its items trimmed, empty ones left out.
func (e *environ) list(name string) []string {
	var out []string
	for _, v := range strings.Split(e.get(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// days reads a whole number of days, at least 1; unset is 0 (the default).
func (e *environ) days(name string) time.Duration {
	v := e.get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		e.problem("%s=%q is not a positive number", name, v)
		return 0
	}
	return time.Duration(n) * 24 * time.Hour
}

// duration reads a Go duration (1m, 15s); unset is 0 (the default).
func (e *environ) duration(name string) time.Duration {
	v := e.get(name)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.problem("%s=%q: %v", name, v, err)
	}
	return d
}

// offDuration reads a duration setting that can be turned off: "" is 0 (the
// default), "off" or "0" is -1 (off), anything else a duration no shorter than
// least, or a problem saying what is wanted.
func (e *environ) offDuration(name string, least time.Duration, want string) time.Duration {
	switch v := e.get(name); v {
	case "":
		return 0
	case "off", "0":
		return -1
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d < least {
			e.problem("%s=%q: %s", name, v, want)
			return 0
		}
		return d
	}
}

// flag reads true or false; unset is def.
func (e *environ) flag(name string, def bool) bool {
	switch v := e.get(name); v {
	case "":
		return def
	case "true":
		return true
	case "false":
		return false
	default:
		e.problem("%s=%q: want true or false", name, v)
		return def
	}
}

// oneOf reads a setting that takes one of allowed ("" among them if unset is
// allowed).
func (e *environ) oneOf(name string, allowed ...string) string {
	v := e.get(name)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	var want []string
	for _, a := range allowed {
		if a != "" {
			want = append(want, a)
		}
	}
	e.problem("%s=%q: want %s", name, v, strings.Join(want, " or "))
	return ""
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
		c.ErrorRetention = store.DefaultErrorRetention
	}
	if c.ProvisionInterval == 0 {
		c.ProvisionInterval = time.Minute
	}
	return nil
}
