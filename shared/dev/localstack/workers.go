package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcworkermanager"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
	"github.com/workerfleet/workerfleet/shared/ec2events"
	"github.com/workerfleet/workerfleet/shared/pool"
)

// Machines are the instances the simulated workers run on, as a worker sees its
// own: the instance metadata service (user data, signed identity document: what
// /local/imds/ serves) and the power button. The fake cloud is one; moto's
// instances (CLOUD=ec2) are another.
type Machines interface {
	UserData(id string) ([]byte, error)
	IdentityDocument(id string) (document []byte, signature string, err error)
	// State is the instance's EC2 state, "" when it is unknown.
	State(id string) string
	// Shutdown is the instance shutting itself down.
	Shutdown(id string) error
}

// fakeMachines are the fake cloud's instances.
type fakeMachines struct{ *fakecloud.Cloud }

func (m fakeMachines) State(id string) string {
	inst, ok := m.Instance(id)
	if !ok {
		return ""
	}
	return inst.State
}

// Simulator plays the workers: when a fake instance starts running, a goroutine reads
// its user data and, as a real worker would, fetches and removes its secret
// (aws-provisioner worker types) or registers with its identity document
// (worker-manager pools); then it works off pending tasks from the queue, and shuts
// its instance down once idle. So the fleet grows and shrinks with demand.
type Simulator struct {
	Machines Machines
	// IMDS is the base URL of the instances' metadata: IMDS + <instanceId> +
	// "/latest/user-data", as the stack's /local/imds/ serves it.
	IMDS  string
	Queue *Queue
	// Tasks is where workers take their tasks; nil: the fake queue, Queue.
	Tasks TaskSource
	// TaskDuration is how long one task takes; IdleTimeout how long a worker waits
	// without work before shutting down.
	TaskDuration, IdleTimeout time.Duration
	// Say prints a line for people watching.
	Say func(format string, args ...any)
	Log *slog.Logger

	mu      sync.Mutex
	workers map[string]bool
	wg      sync.WaitGroup
}

// OnEvent takes each EventBridge event of the fake cloud; a "running" state change
// boots a worker on that instance.
func (s *Simulator) OnEvent(ctx context.Context, raw json.RawMessage) {
	ev, err := ec2events.Parse(raw)
	if err != nil || ev.DetailType != ec2events.StateChange || ev.State != cloud.StateRunning {
		return
	}
	s.Boot(ctx, ev.InstanceID)
}

// Boot starts the worker of instance id, once: the fake cloud's running event or
// the moto fleet's poll calls it.
func (s *Simulator) Boot(ctx context.Context, id string) {
	s.mu.Lock()
	if s.workers == nil {
		s.workers = map[string]bool{}
	}
	if s.workers[id] {
		s.mu.Unlock()
		return
	}
	s.workers[id] = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(ctx, id)
	}()
}

// Wait waits for every worker goroutine to end (after the context is cancelled).
func (s *Simulator) Wait() { s.wg.Wait() }

// run is one worker's life.
func (s *Simulator) run(ctx context.Context, id string) {
	raw, err := s.metadata(ctx, id, "user-data")
	if err != nil || len(raw) == 0 {
		return // not an instance we launched
	}
	var ud map[string]any
	if err := json.Unmarshal(raw, &ud); err != nil {
		s.Log.Warn("simulated worker: user data is not JSON", "instanceId", id)
		return
	}
	var name string
	w := SimulatedWorker{WorkerID: id}
	capacity := int64(1)
	switch {
	case ud["securityToken"] != nil:
		w.ProvisionerID, w.WorkerType = str(ud["provisionerId"]), str(ud["workerType"])
		w.WorkerGroup, w.RootURL = str(ud["region"]), str(ud["taskclusterRootUrl"])
		name = "worker type " + w.WorkerType
		if c, ok := ud["capacity"].(float64); ok && c >= 1 {
			capacity = int64(c)
		}
		if w.Credentials, err = s.fetchSecret(ctx, id, ud); err != nil {
			s.Say("  worker %s (%s): could not get its secret: %v; shutting down", id, name, err)
			_ = s.Machines.Shutdown(id)
			return
		}
		s.Say("  worker %s (%s): read and removed its one-time secret, reported instanceStarted", id, name)
	case ud["workerPoolId"] != nil:
		poolID := str(ud["workerPoolId"])
		w.ProvisionerID, w.WorkerType = pool.SplitWorkerPoolID(poolID)
		w.WorkerGroup, w.RootURL = str(ud["workerGroup"]), str(ud["rootUrl"])
		name = "pool " + poolID
		if wc, ok := ud["workerConfig"].(map[string]any); ok {
			if c, ok := wc["capacity"].(float64); ok && c >= 1 {
				capacity = int64(c)
			}
		}
		if w.Credentials, err = s.register(ctx, id, ud); err != nil {
			s.Say("  worker %s (%s): registration refused: %v; shutting down", id, name, err)
			_ = s.Machines.Shutdown(id)
			return
		}
		s.Say("  worker %s (%s): registered with its identity document, got credentials", id, name)
		if c := s.recordedCapacity(ctx, poolID, w); c >= 1 {
			capacity = c
		}
	default:
		return
	}

	s.work(ctx, w, name, capacity)
}

// work claims up to capacity tasks every TaskDuration, reports the finished ones done
// (a held queue's run on), gives back the unfinished ones if its instance goes,
// and shuts the instance down once idle for IdleTimeout.
func (s *Simulator) work(ctx context.Context, w SimulatedWorker, name string, capacity int64) {
	tasks := s.Tasks
	if tasks == nil {
		tasks = fakeQueueTasks{s.Queue}
	}
	id := w.WorkerID
	lastWork := time.Now()
	var running []ClaimedTask
	var lastErr string
	tick := time.NewTicker(s.TaskDuration)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var still []ClaimedTask
		for _, t := range running {
			err := tasks.Complete(ctx, w, t)
			switch {
			case errors.Is(err, ErrTaskRunning):
				still = append(still, t)
			case err != nil:
				s.Log.Warn("simulated worker: reporting a task done failed", "instanceId", id, "error", err.Error())
			}
		}
		running = still
		if s.Machines.State(id) != cloud.StateRunning {
			// Terminated by the provisioner (or shut down) with tasks unfinished.
			for _, t := range running {
				tasks.GiveBack(ctx, w, t)
			}
			return
		}
		var claimed []ClaimedTask
		var err error
		if free := capacity - int64(len(running)); free > 0 {
			claimed, err = tasks.Claim(ctx, w, free)
		}
		if err != nil && err.Error() != lastErr { // said once, not every tick
			s.Say("  worker %s (%s): %v", id, name, err)
		}
		if lastErr = ""; err != nil {
			lastErr = err.Error()
		}
		if running = append(running, claimed...); len(running) > 0 {
			lastWork = time.Now()
			continue
		}
		if time.Since(lastWork) >= s.IdleTimeout {
			s.Say("  worker %s (%s): idle for %s, shutting its instance down", id, name, s.IdleTimeout)
			_ = s.Machines.Shutdown(id)
			return
		}
	}
}

// fetchSecret does what an aws-provisioner worker does at boot: getSecret with the
// token from its user data, removeSecret, instanceStarted.
func (s *Simulator) fetchSecret(ctx context.Context, id string, ud map[string]any) (*tcclient.Credentials, error) {
	base, token := str(ud["provisionerBaseUrl"]), str(ud["securityToken"])
	if base == "" || token == "" {
		return nil, fmt.Errorf("user data lacks provisionerBaseUrl or securityToken")
	}
	var secret struct {
		Credentials tcclient.Credentials `json:"credentials"`
	}
	if err := call(ctx, "GET", base+"/secret/"+url.PathEscape(token), &secret); err != nil {
		return nil, fmt.Errorf("getSecret: %w", err)
	}
	if secret.Credentials.ClientID == "" {
		return nil, fmt.Errorf("getSecret gave no credentials")
	}
	if err := call(ctx, "DELETE", base+"/secret/"+url.PathEscape(token), nil); err != nil {
		return nil, fmt.Errorf("removeSecret: %w", err)
	}
	if err := call(ctx, "GET", base+"/instance-started/"+url.PathEscape(id)+"/"+url.PathEscape(token), nil); err != nil {
		return nil, err
	}
	return &secret.Credentials, nil
}

// register does what worker-runner does for an aws pool: registerWorker with the
// instance identity document and its signature, through the official client.
func (s *Simulator) register(ctx context.Context, id string, ud map[string]any) (*tcclient.Credentials, error) {
	doc, err := s.metadata(ctx, id, "dynamic/instance-identity/document")
	if err != nil {
		return nil, err
	}
	sig, err := s.metadata(ctx, id, "dynamic/instance-identity/signature")
	if err != nil {
		return nil, err
	}
	proof, _ := json.Marshal(map[string]string{"document": string(doc), "signature": string(sig)})
	wm := tcworkermanager.New(nil, str(ud["rootUrl"]))
	wm.Context = ctx
	reg, err := wm.RegisterWorker(&tcworkermanager.RegisterWorkerRequest{
		WorkerPoolID: str(ud["workerPoolId"]), ProviderID: str(ud["providerId"]), WorkerGroup: str(ud["workerGroup"]),
		WorkerID: id, WorkerIdentityProof: proof,
	})
	if err != nil {
		return nil, fmt.Errorf("%s", firstLine(err.Error()))
	}
	return &tcclient.Credentials{ClientID: reg.Credentials.ClientID, AccessToken: reg.Credentials.AccessToken, Certificate: reg.Credentials.Certificate}, nil
}

// recordedCapacity is the capacity worker-manager recorded for the worker (its launch
// config's capacityPerInstance), which a real worker is configured with: a c5.xlarge
// of capacity 2 runs two tasks at once. 0 when it cannot be read.
func (s *Simulator) recordedCapacity(ctx context.Context, poolID string, w SimulatedWorker) int64 {
	wm := tcworkermanager.New(nil, w.RootURL)
	wm.Context = ctx
	rec, err := wm.Worker(poolID, w.WorkerGroup, w.WorkerID)
	if err != nil {
		s.Log.Debug("simulated worker: reading its record", "instanceId", w.WorkerID, "error", err.Error())
		return 0
	}
	return rec.Capacity
}

// metadata reads one path of instance id's metadata (under latest/), as a worker
// reads its IMDS.
func (s *Simulator) metadata(ctx context.Context, id, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.IMDS+url.PathEscape(id)+"/latest/"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("instance metadata %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("instance metadata %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("instance metadata %s: %s", path, resp.Status)
	}
	return body, nil
}

func call(ctx context.Context, method, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
