package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/workerfleet/workerfleet/shared/dev/dynamolocal"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
	"github.com/workerfleet/workerfleet/shared/dev/rie"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

// unreachable is where every AWS SDK call goes that the local stack does not serve:
// a loopback port nothing listens on, so no call ever leaves this machine.
const unreachable = "http://127.0.0.1:9"

// emulation is what running bootstraps under the emulator needs: the emulator, the
// template, the local tables and the root credentials, and the EC2 emulator for the
// functions that launch or terminate instances.
type emulation struct {
	templatePath string
	tmpl         *samtemplate.Template
	doc          map[string]any // the template as plain values, for the functions' environments
	emulator     string
	binDir       string
	log          io.Writer // what the emulation says it does (building, which tables)
	tables       map[string]string
	dynamo       string
	dynamoKeyID  string
	rootURL      string
	clientID     string
	accessToken  string
	signingKey   string
	ec2Endpoint  string
	// secretARNs, when set, are the root credentials and signing key secrets in
	// moto's Secrets Manager (at ec2Endpoint): the functions read them at start as
	// deployed, instead of being given the values.
	secretARNs [2]string
	closers    []func()
}

// newEmulation builds the emulator (once, into the cache) and finds the tables: the
// running local stack's, or fresh ones in a DynamoDB Local of its own.
func newEmulation(ctx context.Context, useRunningStack bool, log io.Writer) (*emulation, error) {
	e := &emulation{log: log}
	var err error
	if e.templatePath, err = samtemplate.Find(); err != nil {
		return nil, err
	}
	if e.tmpl, err = samtemplate.Load(e.templatePath); err != nil {
		return nil, err
	}
	if e.doc, err = readTemplateDocument(e.templatePath); err != nil {
		return nil, err
	}
	cache, err := dynamolocal.CacheDir()
	if err != nil {
		return nil, err
	}
	e.binDir = filepath.Join(cache, "bin")
	if err := os.MkdirAll(e.binDir, 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(e.binDir, "aws-lambda-rie-"+rie.Version)); err != nil {
		fmt.Fprintf(log, "building the Lambda Runtime Interface Emulator (%s@%s) into %s, once ...\n", rie.Module, rie.Version, e.binDir)
	}
	if e.emulator, err = rie.Install(ctx, e.binDir); err != nil {
		return nil, err
	}
	if useRunningStack {
		st, err := readState()
		if err != nil && !errors.Is(err, errNoStack) {
			return nil, err
		}
		if err == nil {
			fmt.Fprintf(log, "tables: the running local stack's (%s)\n", st.RootURL)
			e.tables = map[string]string{}
			for id := range e.tmpl.Tables {
				e.tables[id] = id
			}
			e.dynamo, e.dynamoKeyID = st.DynamoDBEndpoint, st.DynamoDBKeyID
			e.rootURL, e.clientID, e.accessToken, e.signingKey = st.RootURL, st.ClientID, st.AccessToken, st.SigningKey
			return e, nil
		}
		fmt.Fprintln(log, "tables: fresh ones in a DynamoDB Local of its own (no local stack is running)")
	}
	srv, err := dynamolocal.Start(ctx)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, srv.Stop)
	names, err := dynamolocal.CreateTables(ctx, srv.Client(), e.tmpl.Tables, func(id string) string { return id })
	if err != nil {
		e.Close()
		return nil, err
	}
	e.tables, e.dynamo, e.dynamoKeyID = names, srv.Endpoint, srv.AccessKeyID
	e.clientID, e.accessToken, e.signingKey = "root", "emulated-root-token-not-used", "emulated signing key, 32 bytes!!"
	return e, nil
}

// Close stops what the emulation started.
func (e *emulation) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// useSecretsManager starts moto and stores the root credentials and the signing key
// in its Secrets Manager, so that the functions start as deployed: reading both.
func (e *emulation) useSecretsManager(ctx context.Context) error {
	if err := e.startMoto(ctx, "reading the secrets as deployed"); err != nil {
		return err
	}
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.ec2Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	root, _ := json.Marshal(map[string]string{"clientId": e.clientID, "accessToken": e.accessToken})
	for i, s := range []struct{ name, value string }{{"workerfleet-root", string(root)}, {"workerfleet-signing-key", e.signingKey}} {
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(s.name), SecretString: aws.String(s.value)})
		if err != nil {
			return fmt.Errorf("store %s in moto's Secrets Manager: %w", s.name, err)
		}
		e.secretARNs[i] = aws.ToString(out.ARN)
	}
	return nil
}

// needsEC2 tells whether a function's invocation calls EC2 (the provisioner does on
// every iteration); it then runs against a moto server of its own.
func needsEC2(id string) bool { return id == "ProvisionerFunction" }

// ensureEC2 starts moto for the functions that call EC2.
func (e *emulation) ensureEC2(ctx context.Context, id string) error {
	if !needsEC2(id) {
		return nil
	}
	return e.startMoto(ctx, id+"'s bootstrap links the EC2 driver, which runs here against moto (or: make invoke IN_PROCESS=1 uses the fake cloud)")
}

func (e *emulation) startMoto(ctx context.Context, why string) error {
	if e.ec2Endpoint != "" {
		return nil
	}
	srv, err := motoserver.Start(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", why, err)
	}
	e.closers = append(e.closers, srv.Stop)
	e.ec2Endpoint = srv.Endpoint()
	return nil
}

// bootstrap builds a function's bootstrap for this machine.
func (e *emulation) bootstrap(ctx context.Context, id string) (string, error) {
	repo := filepath.Dir(e.templatePath)
	if err := buildBootstraps(ctx, repo, []string{id}, runtime.GOARCH, e.log); err != nil {
		return "", err
	}
	return bootstrapPath(repo, runtime.GOARCH, id), nil
}

// bootstrapPath is where make invoke and make coldstart keep a function's bootstrap
// built for linux/goarch: in the repository's .aws-sam folder, beside make build's,
// so that two clones (or worktrees) never run each other's.
func bootstrapPath(repo, goarch, id string) string {
	return filepath.Join(repo, ".aws-sam", "emulated-linux-"+goarch, folderOf(id), "bootstrap")
}

// stillBuilding is how often buildBootstraps says it is still at it.
var stillBuilding = 20 * time.Second

// buildBootstraps builds functions' bootstraps for linux/goarch with the SAM build's
// flags, in one go build, saying what it does: on a fresh Go build cache the first
// build compiles the AWS SDK for that platform and takes minutes, which without a
// word looks like a hang; later builds reuse the cache and take seconds.
func buildBootstraps(ctx context.Context, repo string, ids []string, goarch string, log io.Writer) error {
	outs := make(map[string]string, len(ids))
	for _, id := range ids {
		outs["./functions/"+folderOf(id)] = bootstrapPath(repo, goarch, id)
	}
	what := ids[0] + "'s bootstrap"
	if len(ids) > 1 {
		what = fmt.Sprintf("%d bootstraps", len(ids))
	}
	fmt.Fprintf(log, "building %s for linux/%s (the SAM build's flags) ...\n", what, goarch)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(stillBuilding)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				ahead := ""
				if goarch == runtime.GOARCH { // what install builds
					ahead = " (go run ./shared/dev/cmd/local install does it ahead)"
				}
				fmt.Fprintf(log, "  still compiling, %s so far: the first build for linux/%s compiles the AWS SDK and every dependency, "+
					"minutes on a fresh Go build cache%s; later builds take seconds\n", time.Since(start).Round(time.Second), goarch, ahead)
			}
		}
	}()
	err := rie.BuildAll(ctx, repo, outs, goarch)
	close(done)
	if err != nil {
		return err
	}
	if d := time.Since(start); d >= stillBuilding {
		fmt.Fprintf(log, "built %s in %s\n", what, d.Round(time.Second))
	}
	return nil
}

// env is a function's whole environment under the emulator: the template's
// variables resolved for this machine, the root credentials and signing key given
// directly (no Secrets Manager), DynamoDB Local, the EC2 endpoint, and what Lambda
// itself sets.
func (e *emulation) env(id string) (map[string]string, error) {
	f, err := lambdaFunctionOf(e.doc, id)
	if err != nil {
		return nil, err
	}
	ec2 := e.ec2Endpoint
	if ec2 == "" {
		ec2 = unreachable
	}
	regions := strings.Join(fakecloud.DefaultRegions, ",")
	cloudConfig, _ := json.Marshal(map[string]any{"regions": fakecloud.DefaultRegions, "endpoint": ec2})
	d := localDeployment{
		Tables: e.tables,
		Overrides: map[string]string{
			"ROOT_URL": e.rootURL, "TASKCLUSTER_ROOT_URL": e.rootURL, "ALLOWED_REGIONS": regions, "INSTANCE_SET_ID": "local",
			// No front door here: X-Forwarded-Host is never believed.
			"FRONT_DOOR_SECRET": "",
		},
	}
	if e.secretARNs[0] != "" {
		d.Overrides["ROOT_CREDENTIALS_SECRET"], d.Overrides["SIGNING_KEY_SECRET"] = e.secretARNs[0], e.secretARNs[1]
	}
	vars, err := d.environment(f, e.doc)
	if err != nil {
		return nil, err
	}
	if e.secretARNs[0] != "" {
		vars["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = e.ec2Endpoint
	} else {
		vars["ROOT_ACCESS_TOKEN"], vars["SIGNING_KEY"] = e.accessToken, e.signingKey
	}
	level := strings.ToUpper(env("LOG_LEVEL", "INFO"))
	for k, v := range map[string]string{
		"DYNAMODB_ENDPOINT": e.dynamo, "DYNAMODB_ACCESS_KEY_ID": e.dynamoKeyID, "ROOT_CLIENT_ID": e.clientID,
		"CLOUD": "ec2", "CLOUD_CONFIG": string(cloudConfig),
		// What Lambda sets (the template's LoggingConfig included).
		"AWS_LAMBDA_FUNCTION_NAME": id, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(f.MemoryMB), "AWS_LAMBDA_FUNCTION_TIMEOUT": strconv.Itoa(f.TimeoutS),
		"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": level,
		"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
		"AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000", "TZ": ":UTC",
		// Every other SDK call (Secrets Manager, SQS, STS) stays on this machine.
		"AWS_ENDPOINT_URL": unreachable, "AWS_ENDPOINT_URL_EC2": ec2,
	} {
		vars[k] = v
	}
	if id == "ReactionFunction" {
		vars["REACTION_WINDOW"] = "2s" // not a minute per invocation under the emulator (make coldstart)
	}
	return vars, nil
}

// start builds a function's bootstrap and starts it under the emulator.
func (e *emulation) start(ctx context.Context, id string, output io.Writer) (*rie.Emulator, string, error) {
	if err := e.ensureEC2(ctx, id); err != nil {
		return nil, "", err
	}
	bin, err := e.bootstrap(ctx, id)
	if err != nil {
		return nil, "", err
	}
	em, err := e.startBuilt(ctx, id, bin, output)
	return em, bin, err
}

// startBuilt is start with the function's bootstrap already built (bin) and
// ensureEC2 done.
func (e *emulation) startBuilt(ctx context.Context, id, bin string, output io.Writer) (*rie.Emulator, error) {
	vars, err := e.env(id)
	if err != nil {
		return nil, err
	}
	return rie.Start(ctx, rie.Options{Emulator: e.emulator, Bootstrap: bin, Env: vars, Output: output})
}

// invokeEmulated is `make invoke`: the function's real bootstrap, once, under the
// emulator, against the local tables; it prints what the function returned and the
// invocation's init and invoke durations and peak memory.
func invokeEmulated(ctx context.Context, id string, event []byte) error {
	fmt.Fprintf(os.Stderr, "invoking %s's bootstrap under the Lambda Runtime Interface Emulator\n", id)
	useStack := true
	if ownsTables(id) {
		useStack = false
		if st, err := readState(); err == nil {
			fmt.Fprintln(os.Stderr, ownTablesReason(id, st.RootURL))
		} else {
			fmt.Fprintln(os.Stderr, "tables: fresh ones in a DynamoDB Local of its own")
		}
	}
	e, err := newEmulation(ctx, useStack, os.Stderr)
	if err != nil {
		return err
	}
	defer e.Close()
	em, bin, err := e.start(ctx, id, os.Stderr)
	if err != nil {
		return err
	}
	defer em.Stop()
	r, err := em.Invoke(ctx, event)
	if err != nil {
		return err
	}
	printResult(os.Stdout, r.Payload)
	size := int64(0)
	if fi, err := os.Stat(bin); err == nil {
		size = fi.Size()
	}
	fmt.Fprintf(os.Stderr, "%s: init %s, invoke %s, max memory %s (bootstrap %s, linux/%s)\n",
		id, ms(r.Init), ms(r.Duration), mb(r.MaxMemory), mb(size), runtime.GOARCH)
	if r.Failed {
		return fmt.Errorf("%s returned an error", id)
	}
	return nil
}

// printResult prints an API Gateway response with its body decoded, or any other
// result as indented JSON.
func printResult(w io.Writer, payload []byte) {
	var resp struct {
		StatusCode *int              `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	var out any
	if json.Unmarshal(payload, &resp) == nil && resp.StatusCode != nil {
		var body any = resp.Body
		var parsed any
		if json.Unmarshal([]byte(resp.Body), &parsed) == nil {
			body = parsed
		}
		out = map[string]any{"statusCode": *resp.StatusCode, "headers": resp.Headers, "body": body}
	} else if json.Unmarshal(payload, &out) != nil {
		fmt.Fprintln(w, string(payload))
		return
	}
	data, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintln(w, string(data))
}

// folderOf is a function's folder under functions/ (ProvisionerFunction -> provisioner).
func folderOf(id string) string {
	return strings.ToLower(kebab.ReplaceAllString(strings.TrimSuffix(id, "Function"), "$1-$2"))
}
