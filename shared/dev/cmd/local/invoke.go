package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2/launchspec"
	"github.com/workerfleet/workerfleet/shared/dev/dynamolocal"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
	"github.com/workerfleet/workerfleet/shared/ec2events"
	"github.com/workerfleet/workerfleet/shared/provision"
	"github.com/workerfleet/workerfleet/shared/store"
)

// invoke runs one function once on an event file, as `sam local invoke` would, against
// the running local stack's tables (or fresh ones, if none runs), and prints what the
// function returned: its built bootstrap under the Lambda Runtime Interface Emulator,
// or with -in-process its handler called here with the fake cloud.
func invoke(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fn := fs.String("function", "", "the function: its logical id (ProvisionerFunction) or folder (provisioner)")
	eventFile := fs.String("event", "", "the event file, e.g. events/provisioner.json")
	inProcess := fs.Bool("in-process", false, "call the handler in this process (the fake cloud) instead of running the built bootstrap under the Lambda Runtime Interface Emulator")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, err := samtemplate.Find()
	if err != nil {
		return err
	}
	tmpl, err := samtemplate.Load(path)
	if err != nil {
		return err
	}
	id, err := logicalID(tmpl, *fn)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*eventFile)
	if err != nil {
		return fmt.Errorf("read the event: %w", err)
	}
	if !*inProcess {
		return invokeEmulated(ctx, id, raw)
	}

	// One provisioning iteration per invoke, as the local stack runs them: no cadence.
	cfg := app.Config{InstanceSetID: "local", AllowedRegions: fakecloud.DefaultRegions, Cloud: fakecloud.Alias, ProvisionCadence: -1}
	st, err := readState()
	if err != nil && !errors.Is(err, errNoStack) {
		return err
	}
	if err == nil && ownsTables(id) {
		fmt.Fprintf(os.Stderr, "%s\n", ownTablesReason(id, st.RootURL))
		err = errNoStack
	}
	if err == nil {
		fmt.Fprintf(os.Stderr, "invoking %s against the running local stack's tables (%s)\n", id, st.RootURL)
		cfg.DynamoDBEndpoint, cfg.DynamoDBAccessKeyID = st.DynamoDBEndpoint, st.DynamoDBKeyID
		cfg.RootClientID, cfg.RootAccessToken, cfg.SigningKey = st.ClientID, st.AccessToken, []byte(st.SigningKey)
		cfg.RootURL, cfg.TaskclusterRootURL = st.RootURL, st.RootURL
		cfg.Tables = store.LogicalIDs
	} else {
		fmt.Fprintf(os.Stderr, "invoking %s against fresh tables in a DynamoDB Local of its own\n", id)
		srv, err := dynamolocal.Start(ctx)
		if err != nil {
			return err
		}
		defer srv.Stop()
		names, err := dynamolocal.CreateTables(ctx, srv.Client(), tmpl.Tables, func(id string) string { return id })
		if err != nil {
			return err
		}
		cfg.DynamoDBEndpoint, cfg.DynamoDBAccessKeyID, cfg.Tables = srv.Endpoint, srv.AccessKeyID, store.TablesFromLogical(names)
		cfg.RootClientID, cfg.RootAccessToken, cfg.SigningKey = "root", "invoke-root-token-not-used", []byte("invoke signing key, 32 bytes ok!")
	}
	fc, err := fakecloud.New(fakecloud.DefaultConfig(), fakecloud.WithLogger(logger()))
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, app.WithLogger(logger()), app.WithLaunchSpecValidator(launchspec.Validate),
		app.WithCloud(fc.InstanceSet(cloud.InstanceSetID(cfg.InstanceSetID))))
	if err != nil {
		return err
	}

	switch id {
	case "ProvisionerFunction", "Ec2EventsFunction":
		// Their handlers, called with what they did printed.
		var ev events.CloudWatchEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return fmt.Errorf("%s takes an EventBridge event: %w", id, err)
		}
		if id == "Ec2EventsFunction" {
			return invokeEC2Events(ctx, a, ev)
		}
		p, err := a.Provisioner(os.Stdout)
		if err != nil {
			return err
		}
		p.OnReport = func(r *provision.Report) {
			fmt.Printf("iteration %s: %d pools, launched %d, terminated %d (%s)\n", r.ID, len(r.Pools), r.Launched, r.Terminated, r.Outcome())
			for _, pr := range r.Pools {
				fmt.Println("  " + pr.Line())
			}
		}
		return p.HandleEvent(ctx, ev)
	}
	h, err := a.Handler(id)
	if err != nil {
		return err
	}
	serve, ok := h.(app.HTTPHandler)
	if !ok {
		return fmt.Errorf("function %s has no handler here", id)
	}
	return invokeHTTP(ctx, id, serve, raw)
}

// invokeEC2Events applies the event as the handler does and says what it did to
// which worker record.
func invokeEC2Events(ctx context.Context, a *app.App, ev events.CloudWatchEvent) error {
	e, err := ec2events.FromCloudWatchEvent(ev)
	if err != nil {
		return err
	}
	outcome, err := a.EC2Events().Apply(ctx, e)
	if err != nil {
		return err
	}
	switch outcome {
	case ec2events.Applied, ec2events.Unchanged:
		w, err := a.Store.WorkerByInstance(ctx, e.InstanceID)
		if err != nil {
			return err
		}
		fmt.Printf("%s: worker %s of %s is %s; EC2 takes its instance back at %s\n", outcome, w.WorkerID, w.Pool, w.State,
			w.InterruptionDeadline.Format(time.RFC3339))
	case ec2events.Unknown:
		fmt.Printf("unknown: no worker record for %s, so it is left alone (start make run with SEED=2 and follow the README's walkthrough for one)\n", e.InstanceID)
	default:
		fmt.Printf("%s: not an event this function uses (%s: see docs/provisioning.md, \"EC2's events\")\n", outcome, e.DetailType)
	}
	return nil
}

// ownsTables tells whether a function, invoked by make invoke, must have tables of
// its own even while a local stack runs. The provisioner does: invoked here it runs
// against a cloud of its own (moto, or a fresh fake cloud in-process), where none of
// the stack's instances exist, so on the stack's tables it would mark the stack's
// workers gone, terminate their instances through the stack's own provisioner and
// record launches the stack's cloud never made. The other functions read and write
// only the tables (ec2-events applies an event to the worker it names, which is what
// the walkthrough asks of it), so they use the running stack's.
func ownsTables(id string) bool { return id == "ProvisionerFunction" }

// ownTablesReason says why a function leaves the running stack's tables alone.
func ownTablesReason(id, rootURL string) string {
	return fmt.Sprintf("tables: fresh ones in a DynamoDB Local of its own, not the running stack's (%s): %s runs here against a cloud of its own, "+
		"where the stack's instances do not exist, and must not touch the stack's workers (the stack runs its own provisioner)", rootURL, id)
}

var kebab = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// logicalID accepts a function's logical id or its folder name.
func logicalID(t *samtemplate.Template, name string) (string, error) {
	var known []string
	for id := range t.Functions {
		folder := strings.ToLower(kebab.ReplaceAllString(strings.TrimSuffix(id, "Function"), "$1-$2"))
		if name == id || name == folder {
			return id, nil
		}
		known = append(known, id+" ("+folder+")")
	}
	sort.Strings(known)
	return "", errors.New("FN must name a function: " + strings.Join(known, ", "))
}

// invokeHTTP calls an API function's handler with an API Gateway event and prints
// its answer.
func invokeHTTP(ctx context.Context, id string, serve app.HTTPHandler, raw []byte) error {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		return fmt.Errorf("%s takes an API Gateway HTTP API event: %w", id, err)
	}
	resp, _ := serve(ctx, ev)
	var body any = resp.Body
	var parsed any
	if json.Unmarshal([]byte(resp.Body), &parsed) == nil {
		body = parsed
	}
	out, _ := json.MarshalIndent(map[string]any{"statusCode": resp.StatusCode, "headers": resp.Headers, "body": body}, "", "  ")
	fmt.Println(string(out))
	return nil
}
