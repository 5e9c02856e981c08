package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/dev/dynamolocal"
	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
	"github.com/workerfleet/workerfleet/shared/store"
)

// TestInvokeRunsTheBootstrapUnderTheEmulator: make invoke's path end to end. The
// aws-provisioner-api function's real bootstrap, built for this machine, runs under
// the Lambda Runtime Interface Emulator with the environment the template gives it,
// and lists the worker type the test put into the local tables; the emulator's
// figures come back. Then the same with the secrets read from Secrets Manager
// (moto's) at start, as deployed (what make coldstart measures).
func TestInvokeRunsTheBootstrapUnderTheEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the emulator and a bootstrap")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	e, err := newEmulation(ctx, false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	db := dynamolocal.NewClient(e.dynamo, e.dynamoKeyID)
	st := store.New(db, store.TablesFromLogical(e.tables), []byte(e.signingKey))
	if _, err := st.CreateWorkerType(ctx, "emulated-type", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	event, err := os.ReadFile(filepath.Join(filepath.Dir(e.templatePath), "events", "aws-provisioner-api.json"))
	if err != nil {
		t.Fatal(err)
	}

	listsTheWorkerType := func(t *testing.T) {
		var out strings.Builder
		em, bin, err := e.start(ctx, "AwsProvisionerApiFunction", &out)
		if err != nil {
			t.Fatal(err)
		}
		defer em.Stop()
		if !strings.HasSuffix(bin, filepath.Join("aws-provisioner-api", "bootstrap")) {
			t.Errorf("bootstrap %s is not the function's", bin)
		}
		cold, err := em.Invoke(ctx, event)
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		if err := json.Unmarshal(cold.Payload, &resp); err != nil || cold.Failed {
			t.Fatalf("result %s (failed %v): %v", cold.Payload, cold.Failed, err)
		}
		if resp.StatusCode != 200 || resp.Body != `["emulated-type"]` {
			t.Errorf("listWorkerTypes answered %d %s, want 200 [\"emulated-type\"]", resp.StatusCode, resp.Body)
		}
		if cold.Init <= 0 || cold.Duration <= 0 || cold.MaxMemory <= 0 {
			t.Errorf("cold invocation: init %s, duration %s, memory %d: each should be measured", cold.Init, cold.Duration, cold.MaxMemory)
		}
		warm, err := em.Invoke(ctx, event)
		if err != nil {
			t.Fatal(err)
		}
		if warm.Init != 0 || warm.Duration <= 0 {
			t.Errorf("warm invocation: init %s (want none), duration %s", warm.Init, warm.Duration)
		}
		// The function's own JSON log line went through, with Lambda's request id.
		if !strings.Contains(out.String(), `"route":"listWorkerTypes"`) || !strings.Contains(out.String(), "AwsProvisionerApiFunction") {
			t.Errorf("the function's log lines are missing from the output:\n%s", out.String())
		}
	}
	t.Run("secrets given", listsTheWorkerType)
	t.Run("secrets from Secrets Manager", func(t *testing.T) {
		if err := e.useSecretsManager(ctx); errors.Is(err, motoserver.ErrNotInstalled) {
			t.Skip(err)
		} else if err != nil {
			t.Fatal(err)
		}
		listsTheWorkerType(t)
	})
	t.Run("ec2-events reads no secrets", func(t *testing.T) {
		if e.secretARNs[0] == "" {
			t.Skip("needs moto's Secrets Manager")
		}
		good := e.secretARNs
		defer func() { e.secretARNs = good }()
		e.secretARNs = [2]string{good[0] + "-gone", good[1] + "-gone"}
		ec2Event, err := os.ReadFile(filepath.Join(filepath.Dir(e.templatePath), "events", "ec2-events.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			id        string
			event     []byte
			wantStart bool
		}{{"Ec2EventsFunction", ec2Event, true}, {"AwsProvisionerApiFunction", event, false}} {
			em, _, err := e.start(ctx, c.id, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			r, err := em.Invoke(ctx, c.event)
			em.Stop()
			started := err == nil && !r.Failed
			if started != c.wantStart {
				t.Errorf("%s with its secrets missing: started %v, want %v (%v)", c.id, started, c.wantStart, err)
			}
		}
	})
}

// TestEveryFunctionGetsItsTemplateEnvironment: each function's template variables
// all get a local value (a table's local name, a parameter's default ...), and the
// function is told its own name, memory and timeout as Lambda would.
func TestEveryFunctionGetsItsTemplateEnvironment(t *testing.T) {
	e := &emulation{tables: map[string]string{}}
	var err error
	if e.templatePath, err = samtemplate.Find(); err != nil {
		t.Fatal(err)
	}
	if e.doc, err = readTemplateDocument(e.templatePath); err != nil {
		t.Fatal(err)
	}
	doc := e.doc
	f, err := lambdaFunctionOf(doc, "ProvisionerFunction")
	if err != nil {
		t.Fatal(err)
	}
	for id, r := range asMap(doc["Resources"]) {
		if asMap(r)["Type"] == "AWS::DynamoDB::Table" {
			e.tables[id] = "local-" + id
		}
	}
	for id, r := range asMap(doc["Resources"]) {
		if asMap(r)["Type"] != "AWS::Serverless::Function" {
			continue
		}
		if f, err = lambdaFunctionOf(doc, id); err != nil {
			t.Fatal(err)
		}
		vars, err := e.env(id)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		for name := range f.Env {
			if _, ok := vars[name]; !ok {
				t.Errorf("%s: template variable %s is not set", id, name)
			}
		}
		if vars["WORKERS_TABLE"] != "local-WorkersTable" {
			t.Errorf("%s: WORKERS_TABLE=%q, want the local table", id, vars["WORKERS_TABLE"])
		}
		if vars["AWS_LAMBDA_FUNCTION_NAME"] != id || vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "" {
			t.Errorf("%s: Lambda's own variables: %v", id, vars)
		}
	}
	// A function's own settings override the globals.
	props := asMap(asMap(asMap(doc["Resources"])["ProvisionerFunction"])["Properties"])
	// Its memory is a parameter's default.
	memory := asMap(asMap(doc["Parameters"])[asMap(props["MemorySize"])["Ref"].(string)])["Default"]
	if f, _ = lambdaFunctionOf(doc, "ProvisionerFunction"); f.MemoryMB != memory || f.TimeoutS != props["Timeout"] {
		t.Errorf("ProvisionerFunction: memory %d MB, timeout %d s; the template says %v and %v", f.MemoryMB, f.TimeoutS, memory, props["Timeout"])
	}
}

// TestBuildBootstrapsSaysWhatItDoes: a build that lasts says what it builds and,
// while it compiles, that it is still compiling and why (the first make invoke
// compiled for minutes without a word, and looked hung).
func TestBuildBootstrapsSaysWhatItDoes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a bootstrap")
	}
	defer func(d time.Duration) { stillBuilding = d }(stillBuilding)
	stillBuilding = time.Millisecond
	repo := filepath.Join("..", "..", "..", "..")
	var out syncWriter
	if err := buildBootstraps(context.Background(), repo, []string{"Ec2EventsFunction"}, runtime.GOARCH, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"building Ec2EventsFunction's bootstrap for linux/" + runtime.GOARCH, "still compiling", "install does it ahead", "built Ec2EventsFunction's bootstrap in"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if _, err := os.Stat(bootstrapPath(repo, runtime.GOARCH, "Ec2EventsFunction")); err != nil {
		t.Error(err)
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
