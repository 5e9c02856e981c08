package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/dev/localstack"
	"github.com/workerfleet/workerfleet/shared/store"
)

// TestInvokeProvisionerLeavesARunningStackAlone: make invoke FN=provisioner, while a
// stack runs with workers, must not write into the stack's tables: invoked here the
// provisioner has a cloud of its own where none of the stack's instances exist, and
// on the stack's tables it marked the stack's workers gone and recorded launches the
// stack's cloud never made (issue 23). Both ways of invoking it (in-process, and the
// real bootstrap under the emulator) must leave the stack's workers as they were.
func TestInvokeProvisionerLeavesARunningStackAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local stack")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	port := freePort(t)
	t.Setenv("PORT", strconv.Itoa(port))
	s, err := localstack.Start(ctx, localstack.Options{Port: port, RootAccessToken: "invoke-test-root-token-000000000000000000",
		Seed: 2, ProvisionInterval: time.Second, BootDelay: 500 * time.Millisecond, Out: discard{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := writeState(s, port); err != nil {
		t.Fatal(err)
	}
	defer removeState(port)

	config := json.RawMessage(`{"minCapacity": 0, "maxCapacity": 2, "lifecycle": {"registrationTimeout": 86400}, "launchConfigs": [{"region": "us-east-1", "capacityPerInstance": 1,
		"launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}}]}`)
	if _, err := s.App.Store.CreateWorkerPool(ctx, store.WorkerPool{WorkerPoolID: "proj-ci/invoke", ProviderID: "aws",
		Owner: "ci@example.com", Description: "d", Config: config}); err != nil {
		t.Fatal(err)
	}
	s.Queue.Set("proj-ci", "invoke", 2)
	// The stack's workers: two instances launched on its fake cloud, seen running.
	var before []string
	for deadline := time.Now().Add(time.Minute); ; {
		before = stackWorkers(ctx, t, s)
		if len(before) == 2 && s.Fake != nil {
			if inst, ok := s.Fake.Instance(lastField(before[0])); ok && inst.State == "running" {
				if inst, ok := s.Fake.Instance(lastField(before[1])); ok && inst.State == "running" {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stack's provisioner did not launch its two workers: %v", before)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Past the provisioner's grace for records whose instance the cloud does not list.
	ws, _, err := s.App.Store.ListWorkers(ctx, "proj-ci/invoke", "", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if _, err := s.App.Store.UpdateWorker(ctx, w.Pool, w.Key, func(w *store.Worker) error {
			w.Created = w.Created.Add(-time.Hour)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	event := filepath.Join(repoRoot(t), "events", "provisioner.json")
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"in-process", []string{"-function", "provisioner", "-event", event, "-in-process"}},
		{"emulated", []string{"-function", "provisioner", "-event", event}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := invoke(ctx, tt.args); err != nil {
				t.Fatalf("invoke: %v", err)
			}
			time.Sleep(2 * time.Second) // two of the stack's iterations, which would act on what the invoke wrote
			if diff := cmp.Diff(before, stackWorkers(ctx, t, s)); diff != "" {
				t.Errorf("the stack's workers changed (-before +after):\n%s", diff)
			}
		})
	}
}

// stackWorkers lists the stack's worker records as "pool state workerId".
func stackWorkers(ctx context.Context, t *testing.T, s *localstack.Stack) []string {
	t.Helper()
	ws, _, err := s.App.Store.ListWorkers(ctx, "proj-ci/invoke", "", store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, w := range ws {
		state := w.State
		if state == store.Requested {
			state = store.Running // registration is not what this test is about
		}
		out = append(out, w.Pool+" "+string(state)+" "+w.WorkerID)
	}
	sort.Strings(out)
	return out
}

func lastField(s string) string {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ' ' {
			return s[i+1:]
		}
	}
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// repoRoot is the repository's folder (this package is shared/dev/cmd/local).
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..", "..", "..")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
