package localstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/workerfleet/workerfleet/shared/announce"
	"github.com/workerfleet/workerfleet/shared/app"
	"github.com/workerfleet/workerfleet/shared/awsprovisioner"
	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2/exists"
	"github.com/workerfleet/workerfleet/shared/cloud/ec2/launchspec"
	"github.com/workerfleet/workerfleet/shared/dev/dynamolocal"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
	"github.com/workerfleet/workerfleet/shared/identity"
	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/provision"
	"github.com/workerfleet/workerfleet/shared/store"
)

// Options configures the local stack.
type Options struct {
	Port                          int
	RootClientID, RootAccessToken string
	// ProvisionInterval is how often the provisioner is invoked.
	ProvisionInterval time.Duration
	// Cloud is "fake" (the simulated EC2) or "ec2" (the real EC2 driver against moto).
	Cloud string
	// SimulateWorkers boots a simulated worker on every instance the provisioner
	// launches, on the fake cloud or on moto.
	SimulateWorkers bool
	// Seed makes the fake cloud deterministic (0: random). A given seed also holds
	// the spot prices still (unless FakeCloud sets priceVolatility), so that a run
	// repeats whatever the pace of the person typing: same instance ids, zones and
	// prices.
	Seed int64
	// BootDelay and ShutdownDelay are the fake instances'.
	BootDelay, ShutdownDelay time.Duration
	// FakeCloud is the fake cloud's options as JSON (the fake driver's, as
	// `workerfleet-local docs` lists them): injected errors, capacity, quotas, spot
	// interruptions, prices. Its seed, bootDelay and shutdownDelay, where it sets
	// them, win over Seed, BootDelay and ShutdownDelay.
	FakeCloud json.RawMessage
	// Providers are the worker-manager providers, as Taskcluster's PROVIDERS setting
	// writes them ("" is aws, static and null-provider).
	Providers string
	// Compatibility is app.Config.Compatibility (WORKER_MANAGER_COMPATIBILITY):
	// which worker-manager, v25's or today's, the stack follows where they differ.
	Compatibility string
	// TaskDuration and IdleTimeout are the simulated workers'.
	TaskDuration, IdleTimeout time.Duration
	// DataDir, when set, keeps the tables (DynamoDB Local's -dbPath) and the key
	// that seals client tokens there, so that both survive a restart; "" keeps the
	// tables in memory, gone when the stack stops.
	DataDir string
	// TaskclusterRootURL, TaskclusterClientID and TaskclusterAccessToken put the
	// stack in Taskcluster mode against that deployment (TC_ROOT_URL, TC_CLIENT_ID,
	// TC_ACCESS_TOKEN of make run): worker credentials are issued as that client,
	// pending counts come from its queue, unknown Hawk credentials are checked with
	// its auth service, and the stack's URL is the workers' one root URL: it serves
	// the two APIs and passes every other path to the deployment (FrontDoor). The
	// fake queue is not served then. Empty: standalone, with the fake queue.
	TaskclusterRootURL, TaskclusterClientID, TaskclusterAccessToken string
	// Reaction drives the provisioner as the deployed ReactionFunction does
	// (REACTION=on of make run): an iteration within a second of a task
	// becoming pending in the fake queue (or, in Taskcluster mode, of a Pulse
	// task-pending message from PulseURL), instead of every ProvisionInterval.
	Reaction bool
	// PulseURL is the Taskcluster deployment's Pulse, with its user's credentials
	// (PULSE_URL), for Reaction in Taskcluster mode.
	PulseURL string
	// Template is the path of template.yaml ("" finds it).
	Template string
	// Out receives the lines for people; Log the components' logs.
	Out io.Writer
	Log *slog.Logger
}

// DefaultPort is the local stack's port unless PORT says otherwise.
const DefaultPort = 8080

// TaskclusterMode reports whether the stack runs against an upstream Taskcluster
// deployment.
func (o *Options) TaskclusterMode() bool { return o.TaskclusterRootURL != "" }

// checkTaskcluster refuses half a Taskcluster configuration.
func (o *Options) checkTaskcluster() error {
	switch {
	case o.TaskclusterRootURL == "" && (o.TaskclusterClientID != "" || o.TaskclusterAccessToken != ""):
		return errors.New("TC_CLIENT_ID and TC_ACCESS_TOKEN need TC_ROOT_URL, the Taskcluster deployment they belong to")
	case o.TaskclusterRootURL != "" && (o.TaskclusterClientID == "" || o.TaskclusterAccessToken == ""):
		return errors.New("TC_ROOT_URL needs TC_CLIENT_ID and TC_ACCESS_TOKEN: the client workerfleet acts as there (see docs/taskcluster.md)")
	}
	return nil
}

func (o *Options) defaults() {
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.RootClientID == "" {
		o.RootClientID = "root"
	}
	if o.ProvisionInterval == 0 {
		o.ProvisionInterval = 10 * time.Second
	}
	if o.Cloud == "" {
		o.Cloud = "fake"
	}
	if o.BootDelay == 0 {
		o.BootDelay = 5 * time.Second
	}
	if o.ShutdownDelay == 0 {
		o.ShutdownDelay = 5 * time.Second
	}
	if o.TaskDuration == 0 {
		o.TaskDuration = 3 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 20 * time.Second
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
}

// Stack is the running system.
type Stack struct {
	Options
	// URL is the root URL, http://127.0.0.1:<port>.
	URL   string
	App   *app.App
	Fake  *fakecloud.Cloud // nil with the ec2 driver
	Queue *Queue
	// Events are the worker-manager events the stack's functions announced (as
	// today's worker-manager does on Pulse; deployed, on EventBridge), served at
	// GET /local/events.
	Events *announce.Recorder
	Sim    *Simulator

	ddb      *dynamolocal.Server
	moto     *motoserver.Server
	fleet    *motoFleet // the moto instances' metadata and workers (CLOUD=ec2)
	machines Machines
	srv      *http.Server
	ln       net.Listener
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	outMu    sync.Mutex
	once     sync.Once
	lastLine map[string]printed
}

type printed struct {
	line string
	at   time.Time
}

// Start brings the stack up: DynamoDB Local and the template's tables, the cloud,
// the APIs behind the local API Gateway, the fake queue, the control endpoints, the
// provisioner on its schedule, simulated workers on the instances (the fake cloud's,
// or moto's through the moto fleet), and with the fake cloud its EC2 events. Close
// stops all of it.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	o.defaults()
	fakeCloud, err := checkOptions(o) // before anything starts: every mistake fails fast
	if err != nil {
		return nil, err
	}
	if err := o.checkTaskcluster(); err != nil {
		return nil, err
	}
	s := &Stack{Options: o, Queue: NewQueue(), Fake: fakeCloud}
	defer func() {
		if err != nil {
			s.Close() // whatever did start
		}
	}()
	if s.ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.Port)); err != nil {
		return nil, fmt.Errorf("listen on port %d (set PORT to use another): %w", o.Port, err)
	}
	s.URL = "http://" + s.ln.Addr().String()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel

	tmplPath := o.Template
	if tmplPath == "" {
		if tmplPath, err = samtemplate.Find(); err != nil {
			return nil, err
		}
	}
	tmpl, err := samtemplate.Load(tmplPath)
	if err != nil {
		return nil, err
	}
	names, signingKey, err := s.startTables(ctx, tmpl)
	if err != nil {
		return nil, err
	}

	cfg := app.Config{
		Tables: store.TablesFromLogical(names), DynamoDBEndpoint: s.ddb.Endpoint, DynamoDBAccessKeyID: s.ddb.AccessKeyID,
		RootClientID: o.RootClientID, RootAccessToken: o.RootAccessToken, SigningKey: signingKey,
		InstanceSetID: "local", RootURL: s.URL, TaskclusterRootURL: s.URL, ProvisionInterval: o.ProvisionInterval,
		Compatibility: o.Compatibility,
	}
	if o.Reaction {
		cfg.Reaction = app.ReactionOn
	}
	if cfg.Providers, err = pool.ParseProviders(o.Providers); err != nil {
		return nil, err
	}
	if o.TaskclusterMode() {
		cfg.TaskclusterRootURL = strings.TrimSuffix(o.TaskclusterRootURL, "/")
		cfg.TaskclusterClientID, cfg.TaskclusterAccessToken = o.TaskclusterClientID, o.TaskclusterAccessToken
		cfg.DelegateAuth = true
	}
	s.Events = &announce.Recorder{Log: o.Log}
	opts := []app.Option{app.WithLogger(o.Log), app.WithLaunchSpecValidator(launchspec.Validate), app.WithEvents(s.Events),
		app.WithResourceChecks(func(cfg aws.Config, endpoint string) awsprovisioner.ResourceChecker { return exists.New(cfg, endpoint) })}
	switch o.Cloud {
	case "fake":
		cfg.Cloud, cfg.AllowedRegions = fakecloud.Alias, s.Fake.Regions()
		v := identity.NewAWSVerifier()
		if err := v.Trust("*", s.Fake.CertificatePEM()); err != nil {
			return nil, fmt.Errorf("trust the fake cloud's identity key: %w", err)
		}
		opts = append(opts, app.WithCloud(s.Fake.InstanceSet(cloud.InstanceSetID(cfg.InstanceSetID))), app.WithVerifier(v))
		s.machines = fakeMachines{s.Fake}
	case "ec2":
		if s.moto, err = motoserver.Start(ctx); err != nil {
			return nil, fmt.Errorf("CLOUD=ec2 runs the EC2 driver against moto: %w", err)
		}
		for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"} {
			if os.Getenv(k) == "" {
				os.Setenv(k, v)
			}
		}
		cfg.Cloud, cfg.AllowedRegions = ec2.Alias, []string{"us-east-1", "us-west-2"}
		cfg.CloudConfig, _ = json.Marshal(map[string]any{"regions": cfg.AllowedRegions, "endpoint": s.moto.Endpoint()})
		if s.fleet, err = newMotoFleet(s.moto.Endpoint(), cfg.AllowedRegions, cloud.InstanceSetID(cfg.InstanceSetID), o.BootDelay, o.Log); err != nil {
			return nil, err
		}
		v := identity.NewAWSVerifier()
		if err := v.Trust("*", s.fleet.signer.CertificatePEM()); err != nil {
			return nil, fmt.Errorf("trust the moto instances' identity key: %w", err)
		}
		opts = append(opts, app.WithVerifier(v))
		s.machines = s.fleet
	}
	if s.App, err = app.New(ctx, cfg, opts...); err != nil {
		return nil, err
	}
	// Each function as deployed: its own app, its DynamoDB calls held to its role.
	fns, err := FunctionApps(ctx, tmpl, cfg, s.App.Store.DB(), opts...)
	if err != nil {
		return nil, err
	}
	gw, err := APIGateway(fns, tmpl, o.Log)
	if err != nil {
		return nil, err
	}
	prov, err := fns["ProvisionerFunction"].Provisioner(io.Discard)
	if err != nil {
		return nil, err
	}
	prov.OnReport = s.printReport

	s.Sim = &Simulator{Machines: s.machines, IMDS: s.URL + "/local/imds/", Queue: s.Queue, TaskDuration: o.TaskDuration,
		IdleTimeout: o.IdleTimeout, Say: s.say, Log: o.Log}
	if s.fleet != nil && o.SimulateWorkers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.fleet.Run(runCtx, time.Second, func(id string) { s.Sim.Boot(runCtx, id) })
		}()
	}
	if o.DataDir != "" {
		// The cloud (fake or moto) starts empty: every instance the kept records name
		// went with the last run. Say so now rather than after the provisioner's
		// grace for unlisted instances (10 minutes of ghost workers).
		n, err := s.forgetLostWorkers(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			s.say("kept tables: %d workers of the last run are now stopped (%s)", n, ReasonRestarted)
		}
		if !o.TaskclusterMode() {
			if err := s.Queue.Load(s.queueFile()); err != nil {
				return nil, err
			}
		}
	}
	if s.Fake != nil && o.DataDir != "" {
		// Kept tables name the instances of earlier runs; a fresh fake cloud with the
		// same seed would issue those ids again, and their old records would claim
		// the new instances.
		st := s.App.Store
		s.Fake.AvoidIDs(func(id string) bool {
			_, err := st.WorkerByInstance(runCtx, id)
			return err == nil // found (a failing read issues the id rather than spin)
		})
	}
	if s.Fake != nil {
		handler := fns["Ec2EventsFunction"].EC2Events()
		if o.TaskclusterMode() {
			s.Sim.Tasks = QueueTasks{} // the upstream queue, through the front door, with each worker's credentials
		}
		s.Fake.SetEventSink(func(_ context.Context, raw json.RawMessage) {
			// As EventBridge does: asynchronously, each event on its own.
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := handler.HandleRaw(runCtx, raw); err != nil && runCtx.Err() == nil {
					o.Log.Warn("ec2-events handler failed", "error", err.Error())
				}
			}()
			if o.SimulateWorkers {
				s.Sim.OnEvent(runCtx, raw)
			}
		})
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.Fake.Run(runCtx, 500*time.Millisecond) }()
	}

	handler, err := s.handler(gw)
	if err != nil {
		return nil, err
	}
	s.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Log.Error("http server", "error", err.Error())
		}
	}()

	if o.TaskclusterMode() {
		missing, err := s.App.CheckTaskclusterClient(ctx)
		switch {
		case err != nil:
			s.say("warning: %v", err)
		case len(missing) > 0:
			s.say("warning: %s lacks scopes workers' credentials and emailOnError need: %s", o.TaskclusterClientID, strings.Join(missing, ", "))
		}
	}
	s.wg.Add(1)
	if o.Reaction {
		go func() { defer s.wg.Done(); s.react(runCtx, prov) }()
	} else {
		go func() { defer s.wg.Done(); s.schedule(runCtx, prov) }()
	}
	return s, nil
}

// handler serves the stack's port: the fake queue, the control endpoints, and
// everything else through the API gateway.
func (s *Stack) handler(gw http.Handler) (http.Handler, error) {
	mux := &prefixMux{fallback: gw}
	mux.HandleFunc("/local/events", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"events": s.Events.Events()})
	})
	if s.Fake != nil {
		mux.HandleFunc("/local/cloud/instances", serveInstances(s.Fake))
		mux.HandleFunc("/local/cloud/instances/", serveInstances(s.Fake))
		mux.HandleFunc("/local/imds/", newMetadataService(s.Fake).ServeHTTP)
	} else {
		mux.HandleFunc("/local/imds/", serveIMDS(s.machines))
	}
	if !s.TaskclusterMode() {
		mux.HandleFunc("/api/queue/v1/", s.Queue.ServeTaskcluster)
		mux.HandleFunc("/local/queue/pending", s.Queue.ServeControl)
		mux.HandleFunc("/local/queue/pending/", s.Queue.ServeControl)
		return mux, nil
	}
	// Taskcluster mode: the front door, and no fake queue.
	upstream := strings.TrimSuffix(s.TaskclusterRootURL, "/")
	fd, err := NewFrontDoor(gw, upstream, s.Log)
	if err != nil {
		return nil, err
	}
	mux.fallback = fd
	mux.HandleFunc("/local/queue/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "ResourceNotFound",
			"message": "in Taskcluster mode pending tasks come from " + upstream + "'s queue: create tasks there"})
	})
	mux.HandleFunc("/local/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "ResourceNotFound", "message": "no such local endpoint " + r.URL.Path})
	})
	return mux, nil
}

// schedule invokes the provisioner with a scheduled event every interval, as
// EventBridge Scheduler does (detail "{}", a fresh event id each time).
func (s *Stack) schedule(ctx context.Context, p *provision.Provisioner) {
	t := time.NewTicker(s.ProvisionInterval)
	defer t.Stop()
	for {
		ev := events.CloudWatchEvent{Version: "0", ID: provision.NewIterationID(), DetailType: "Scheduled Event", Source: "aws.scheduler",
			AccountID: "000000000000", Time: time.Now().UTC(), Region: "us-east-1", Detail: json.RawMessage(`"{}"`)}
		ictx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		if err := p.HandleEvent(ictx, ev); err != nil && ctx.Err() == nil {
			s.say("provisioner: iteration failed: %v", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// due reports whether a line should be printed for key: new, or a minute old.
func (s *Stack) due(key, line string, now time.Time) bool {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	last, ok := s.lastLine[key]
	if ok && last.line == line && now.Sub(last.at) < time.Minute {
		return false
	}
	s.lastLine[key] = printed{line: line, at: now}
	return true
}

func (s *Stack) say(format string, args ...any) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintf(s.Out, time.Now().Format("15:04:05")+" "+format+"\n", args...)
}

// printReport prints one line per worker type or pool, when it differs from the last
// one printed for it, and at least once a minute.
func (s *Stack) printReport(r *provision.Report) {
	if r.Skipped {
		return
	}
	s.outMu.Lock()
	if s.lastLine == nil {
		s.lastLine = map[string]printed{}
	}
	s.outMu.Unlock()
	now := time.Now()
	if len(r.Pools) == 0 && s.due("", "none", now) {
		s.say("provisioner: no worker types or pools yet")
	}
	pools := append([]provision.PoolReport(nil), r.Pools...)
	sort.Slice(pools, func(i, j int) bool { return pools[i].Name < pools[j].Name })
	for _, p := range pools {
		if line := p.Line(); s.due(p.Key, line, now) {
			s.say("provisioner: %s", line)
		}
	}
	if r.Orphans > 0 {
		s.say("provisioner: terminated %d instances of no known pool", r.Orphans)
	}
	for _, p := range r.Problems {
		s.say("provisioner: problem: %s", p)
	}
}

// Close stops everything the stack started, DynamoDB Local and moto included, and
// waits for it.
func (s *Stack) Close() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		if s.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.srv.Shutdown(ctx)
			cancel()
		} else if s.ln != nil {
			s.ln.Close()
		}
		s.wg.Wait()
		if s.Sim != nil {
			s.Sim.Wait()
		}
		if s.DataDir != "" && s.App != nil && !s.TaskclusterMode() {
			// The workers are gone; what they ran is pending again next time.
			if err := s.Queue.Save(s.queueFile()); err != nil {
				s.Log.Warn("local stack", "error", err.Error())
			}
		}
		s.ddb.Stop()
		if s.moto != nil {
			s.moto.Stop()
		}
	})
}

// ReasonRestarted is the stop reason of the workers a kept stack (PERSIST) finds
// at start: its cloud starts empty, so their instances are gone.
const ReasonRestarted = "the local stack restarted, and its cloud starts empty"

// queueFile is where a kept stack keeps the fake queue's counts.
func (s *Stack) queueFile() string { return filepath.Join(s.DataDir, "queue.json") }

// forgetLostWorkers marks stopped every live worker record of every worker pool and
// worker type, and returns how many it marked: at the start of a kept stack no
// instance of the last run exists any more.
func (s *Stack) forgetLostWorkers(ctx context.Context) (int, error) {
	st := s.App.Store
	var pools []string
	for page := (store.Page{}); ; {
		ps, next, err := st.ListWorkerPools(ctx, page)
		if err != nil {
			return 0, fmt.Errorf("kept tables: list worker pools: %w", err)
		}
		for _, p := range ps {
			pools = append(pools, p.WorkerPoolID)
		}
		if next == "" {
			break
		}
		page.Token = next
	}
	wts, err := st.WorkerTypes(ctx)
	if err != nil {
		return 0, fmt.Errorf("kept tables: list worker types: %w", err)
	}
	for _, wt := range wts {
		pools = append(pools, store.WorkerTypePool(wt.Name))
	}
	n := 0
	for _, p := range pools {
		ws, err := st.LiveWorkers(ctx, p)
		if err != nil {
			return n, fmt.Errorf("kept tables: %w", err)
		}
		for _, w := range ws {
			marked := false
			_, err := st.UpdateWorkerFrom(ctx, w, func(w *store.Worker) error {
				if marked = w.MarkStopped(st.Now(), ReasonRestarted); !marked {
					return store.ErrNoChange
				}
				return nil
			})
			if err != nil {
				return n, fmt.Errorf("kept tables: worker %s of %s: %w", w.WorkerID, p, err)
			}
			if marked {
				n++
			}
		}
	}
	return n, nil
}

// Banner is what `make run` prints once the stack is ready: where everything is,
// the credentials, and the walkthrough's first commands for this cloud.
func (s *Stack) Banner() string {
	var b strings.Builder
	switch {
	case s.Fake != nil:
		b.WriteString("\nworkerfleet is running on the fake cloud")
	case s.moto != nil:
		fmt.Fprintf(&b, "\nworkerfleet is running on the EC2 driver against moto (%s)", s.moto.Endpoint())
	default:
		b.WriteString("\nworkerfleet is running")
	}
	if s.SimulateWorkers {
		b.WriteString(", with simulated workers")
	}
	b.WriteString(".")
	queueLine := "fake queue          %[1]s/api/queue/v1/pending/<provisionerId>/<workerType>"
	pendingHint := `curl -X PUT %[1]s/local/queue/pending/proj-ci/linux -d '{"pendingTasks": 5}'`
	if s.TaskclusterMode() {
		fmt.Fprintf(&b, "\nTaskcluster mode: acting as %s of %s; every path but the two APIs below goes there,\nand pending tasks come from its queue.", s.TaskclusterClientID, s.TaskclusterRootURL)
		upstream := strings.ReplaceAll(s.TaskclusterRootURL, "%", "%%") // goes into the format
		queueLine = "everything else     " + upstream + " (through %[1]s)"
		pendingHint = "# create tasks for proj-ci/linux in " + upstream + "'s queue"
	}
	var where strings.Builder
	if s.Fake != nil {
		where.WriteString("  fake cloud          %[1]s/local/cloud/instances\n")
		if s.Seed != 0 {
			fmt.Fprintf(&where, "  seed                %d (from SEED; spot prices held still, so the run repeats)\n", s.Fake.Seed())
		} else {
			fmt.Fprintf(&where, "  seed                %d (random; spot prices move. SEED=<n> make run repeats a run)\n", s.Fake.Seed())
		}
	} else if s.moto != nil {
		m := s.moto.Endpoint()
		fmt.Fprintf(&where, "  moto (EC2)          %s   (aws --endpoint-url %s --region us-east-1 ec2 describe-instances;\n"+
			"                      credentials testing/testing)\n", m, m)
	}
	if s.DataDir != "" {
		fmt.Fprintf(&where, "  tables              kept in %s (PERSIST)\n", strings.ReplaceAll(s.DataDir, "%", "%%"))
	} else {
		where.WriteString("  tables              in memory, gone at Ctrl-C (PERSIST=1 keeps them)\n")
	}
	// make api, make status and make client find the stack on 8080 by themselves (or
	// the only one running); on another port, PORT= picks it whatever else runs.
	makeEnv := ""
	if s.Port != 0 && s.Port != DefaultPort {
		makeEnv = fmt.Sprintf("PORT=%d ", s.Port)
	}
	fmt.Fprintf(&b, strings.NewReplacer("<queue line>", queueLine, "<pending hint>", pendingHint, "<where>\n", where.String(),
		"<make env>", makeEnv).Replace(`

  root URL            %[1]s
  status page         %[1]s/   (<make env>make status in a terminal)
  aws-provisioner     %[1]s/api/aws-provisioner/v1   (BaseURL of the v19 client)
  worker-manager      %[1]s/api/worker-manager/v1
  <queue line>
<where>

  export TASKCLUSTER_ROOT_URL=%[1]s
  export TASKCLUSTER_CLIENT_ID=%[2]s
  export TASKCLUSTER_ACCESS_TOKEN=%[3]s

Try it (the README walks through it, and writes pool.json first):
  curl %[1]s/api/worker-manager/v1/providers
  <make env>make api ARGS='PUT /api/worker-manager/v1/worker-pool/proj-ci%%2Flinux @pool.json'
  <pending hint>
  curl %[1]s/api/worker-manager/v1/workers/proj-ci%%2Flinux

The provisioner runs every %[4]s. Ctrl-C stops everything.
`), s.URL, s.RootClientID, s.RootAccessToken, s.ProvisionInterval)
	return b.String()
}

// DynamoDBEndpoint is where the stack's DynamoDB Local listens.
func (s *Stack) DynamoDBEndpoint() string { return s.ddb.Endpoint }

// DynamoDBAccessKeyID is the access key id the stack's tables live under in its
// DynamoDB Local.
func (s *Stack) DynamoDBAccessKeyID() string { return s.ddb.AccessKeyID }

// startTables starts DynamoDB Local with the template's tables, in memory or kept
// in DataDir, and returns their names and the key that seals client tokens: kept in
// DataDir too, or else fresh, since sealed tokens are only as durable as the key.
func (s *Stack) startTables(ctx context.Context, tmpl *samtemplate.Template) (map[string]string, []byte, error) {
	var opts []dynamolocal.StartOption
	var tableOpts []dynamolocal.TableOption
	if s.DataDir != "" {
		opts = append(opts, dynamolocal.WithDBPath(filepath.Join(s.DataDir, "dynamodb")))
		tableOpts = append(tableOpts, dynamolocal.KeepExisting())
	}
	var err error
	if s.ddb, err = dynamolocal.Start(ctx, opts...); err != nil {
		return nil, nil, err
	}
	names, err := dynamolocal.CreateTables(ctx, s.ddb.Client(), tmpl.Tables, func(id string) string { return id }, tableOpts...)
	if err != nil {
		return nil, nil, err
	}
	if s.DataDir == "" {
		return names, randomKey(), nil
	}
	key, err := keptKey(filepath.Join(s.DataDir, "signing-key"))
	return names, key, err
}

// keptKey reads the key in path, or writes a fresh one there (0600) first.
func keptKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil && len(key) >= 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read the kept signing key: %w", err)
	}
	key = randomKey()
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("keep the signing key: %w", err)
	}
	return key, nil
}

func randomKey() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

// checkOptions finds the mistakes that need nothing started to be found: an
// unknown CLOUD, CLOUD=ec2 without moto, a bad FAKE_CLOUD, a port out of range. With
// CLOUD=fake it returns the fake cloud (not yet running).
func checkOptions(o Options) (*fakecloud.Cloud, error) {
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("PORT=%d is not a port (1 to 65535)", o.Port)
	}
	switch o.Cloud {
	case "fake":
		fc, err := fakeConfig(o)
		if err != nil {
			return nil, err
		}
		c, err := fakecloud.New(fc, fakecloud.WithLogger(o.Log))
		if err != nil {
			return nil, fmt.Errorf("FAKE_CLOUD: %w", err)
		}
		return c, nil
	case "ec2":
		if _, err := exec.LookPath(motoserver.Command); err != nil {
			return nil, fmt.Errorf("CLOUD=ec2 runs the EC2 driver against moto: %w", motoserver.ErrNotInstalled)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("CLOUD=%q: use fake or ec2", o.Cloud)
}

// fakeConfig is the fake cloud's configuration: o.FakeCloud over the driver's
// defaults, with o's seed and delays where o.FakeCloud does not set them, and still
// prices when o has a seed and o.FakeCloud sets no priceVolatility.
func fakeConfig(o Options) (fakecloud.Config, error) {
	fc, err := fakecloud.ParseConfig(o.FakeCloud)
	if err != nil {
		return fakecloud.Config{}, fmt.Errorf("FAKE_CLOUD: %w", err)
	}
	var set map[string]json.RawMessage
	_ = json.Unmarshal(o.FakeCloud, &set) // empty (set stays nil), or an object ParseConfig accepted
	if _, ok := set["seed"]; !ok {
		fc.Seed = o.Seed
	}
	if _, ok := set["priceVolatility"]; !ok && o.Seed != 0 {
		fc.PriceVolatility = 0
	}
	if _, ok := set["bootDelay"]; !ok {
		fc.BootDelay = fakecloud.Duration(o.BootDelay)
	}
	if _, ok := set["shutdownDelay"]; !ok {
		fc.ShutdownDelay = fakecloud.Duration(o.ShutdownDelay)
	}
	return fc, nil
}
