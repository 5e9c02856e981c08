package compattest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tcv19 "github.com/taskcluster/taskcluster/clients/client-go/v19"
	"github.com/taskcluster/taskcluster/clients/client-go/v19/tcawsprovisioner"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcworkermanager"

	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
)

// makeRun starts `make run` as a user would, in its own process group, and returns
// once it says it is running. Its output is kept for failure messages.
type makeRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func startMakeRun(t *testing.T, env ...string) *makeRun {
	t.Helper()
	if testing.Short() {
		t.Skip("starts make run")
	}
	port := freePort(t)
	m := &makeRun{t: t, url: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan error, 1)}
	m.cmd = exec.Command("make", "--no-print-directory", "run")
	m.cmd.Dir = "../../.."
	m.cmd.Env = append(os.Environ(), append([]string{fmt.Sprintf("PORT=%d", port), "ROOT_ACCESS_TOKEN=" + rootToken,
		"PROVISION_INTERVAL=2s", "BOOT_DELAY=1s", "SIMULATE_WORKERS=false"}, env...)...)
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	m.cmd.Stdout, m.cmd.Stderr = pw, pw
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			m.mu.Lock()
			m.out.WriteString(sc.Text() + "\n")
			m.mu.Unlock()
			if strings.Contains(sc.Text(), "workerfleet is running") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { err := m.cmd.Wait(); pw.Close(); m.done <- err }()
	t.Cleanup(func() { m.stop() })
	select {
	case <-ready:
	case err := <-m.done:
		t.Fatalf("make run exited before it was ready (%v):\n%s", err, m.output())
	case <-time.After(4 * time.Minute):
		t.Fatalf("make run was not ready after 4 minutes:\n%s", m.output())
	}
	return m
}

func (m *makeRun) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.String()
}

// stop sends SIGINT to the whole process group, as Ctrl-C does, and checks that every
// process of it is gone (DynamoDB Local and moto included).
func (m *makeRun) stop() {
	if m.cmd.Process == nil {
		return
	}
	pgid := m.cmd.Process.Pid
	if syscall.Kill(-pgid, 0) != nil {
		return // already stopped
	}
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		m.t.Errorf("make run did not stop within 30s of SIGINT:\n%s", m.output())
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			out, _ := exec.Command("ps", "-o", "pid,pgid,args", "-g", fmt.Sprint(pgid)).CombinedOutput()
			m.t.Errorf("processes left behind after SIGINT:\n%s", out)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type localInstance struct {
	InstanceID, Region, State string
	Tags                      map[string]string
}

func (m *makeRun) instances(pool string) []localInstance {
	m.t.Helper()
	resp, err := http.Get(m.url + "/local/cloud/instances")
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	var all []localInstance
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		m.t.Fatal(err)
	}
	var out []localInstance
	for _, i := range all {
		if i.Tags["workerfleet:pool"] == pool {
			out = append(out, i)
		}
	}
	return out
}

func (m *makeRun) setPending(provisionerID, workerType string, n int) {
	m.t.Helper()
	req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/local/queue/pending/%s/%s", m.url, provisionerID, workerType), strings.NewReader(fmt.Sprintf(`{"pendingTasks": %d}`, n)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		m.t.Fatalf("set pending: %v %v", resp, err)
	}
	resp.Body.Close()
}

func (m *makeRun) get(path string) string {
	m.t.Helper()
	resp, err := http.Get(m.url + path)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		m.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

func alive(is []localInstance) int {
	n := 0
	for _, i := range is {
		if i.State == "pending" || i.State == "running" {
			n++
		}
	}
	return n
}

// TestMakeRunEndToEnd is a user's session with make run: an aws pool grows with
// demand (never past maxCapacity), its workers register with their identity documents
// (a replay is refused), then demand drops, the pool is deleted, its workers keep
// running until they are removed, and then the pool goes;
// and an aws-provisioner worker type boots with its securityToken secret. Ctrl-C stops
// it all.
func TestMakeRunEndToEnd(t *testing.T) {
	m := startMakeRun(t)
	wm := tcworkermanager.New(&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}, m.url)
	const pool = "proj-e2e/linux"
	cfg := `{"minCapacity": 0, "maxCapacity": 3, "lifecycle": {"registrationTimeout": 600},
	  "launchConfigs": [
	    {"region": "us-east-1", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}},
	    {"region": "us-west-2", "capacityPerInstance": 1, "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "c5.large"}}]}`
	if _, err := wm.CreateWorkerPool(pool, &tcworkermanager.WorkerPoolDefinition{ProviderID: "aws", Config: json.RawMessage(cfg), Description: "e2e", Owner: "e2e@example.com"}); err != nil {
		t.Fatalf("CreateWorkerPool: %v\n%s", err, m.output())
	}
	m.setPending("proj-e2e", "linux", 10)
	most := 0
	waitFor(t, "3 running instances", 60*time.Second, func() bool {
		is := m.instances(pool)
		most = max(most, alive(is))
		running := 0
		for _, i := range is {
			if i.State == "running" {
				running++
			}
		}
		return running == 3
	})
	for range 10 { // a few more iterations: still never above maxCapacity
		most = max(most, alive(m.instances(pool)))
		time.Sleep(300 * time.Millisecond)
	}
	if most > 3 {
		t.Errorf("%d instances at once, above maxCapacity 3", most)
	}

	for n, inst := range m.instances(pool) {
		doc := m.get("/local/imds/" + inst.InstanceID + "/latest/dynamic/instance-identity/document")
		sig := m.get("/local/imds/" + inst.InstanceID + "/latest/dynamic/instance-identity/signature")
		proof, _ := json.Marshal(map[string]string{"document": doc, "signature": sig})
		req := &tcworkermanager.RegisterWorkerRequest{WorkerPoolID: pool, ProviderID: "aws", WorkerGroup: "aws", WorkerID: inst.InstanceID, WorkerIdentityProof: proof}
		if _, err := tcworkermanager.New(nil, m.url).RegisterWorker(req); err != nil {
			t.Fatalf("RegisterWorker %s: %v", inst.InstanceID, err)
		}
		if n == 0 {
			if _, err := tcworkermanager.New(nil, m.url).RegisterWorker(req); status(err) != 400 {
				t.Errorf("a replayed proof: %v, want 400", err)
			}
		}
	}
	ws, err := wm.ListWorkersForWorkerPool(pool, "", "")
	if err != nil || len(ws.Workers) != 3 {
		t.Fatalf("workers: %+v, %v", ws, err)
	}
	for _, w := range ws.Workers {
		if w.State != "running" {
			t.Errorf("worker %s is %s after registering", w.WorkerID, w.State)
		}
	}

	m.setPending("proj-e2e", "linux", 0)
	if _, err := wm.DeleteWorkerPool(pool); err != nil {
		t.Fatalf("DeleteWorkerPool: %v", err)
	}
	// As in v25, the deleted pool's workers are left to finish: a few iterations later
	// they still run, and the pool is still there.
	time.Sleep(5 * time.Second)
	if ws, err := wm.ListWorkersForWorkerPool(pool, "", ""); err != nil || len(ws.Workers) != 3 {
		t.Fatalf("workers after the deletion: %+v, %v", ws, err)
	} else {
		for _, w := range ws.Workers {
			if w.State != "running" {
				t.Errorf("worker %s is %s a few iterations after its pool's deletion; it should run until it exits", w.WorkerID, w.State)
			}
		}
	}
	// The workers finish: here, removeWorker ends each one.
	for _, inst := range m.instances(pool) {
		if err := wm.RemoveWorker(pool, "aws", inst.InstanceID); err != nil {
			t.Fatalf("RemoveWorker %s: %v", inst.InstanceID, err)
		}
	}
	waitFor(t, "every instance terminated, every worker stopped and the pool gone", 60*time.Second, func() bool {
		if _, err := wm.WorkerPool(pool); status(err) != 404 {
			return false
		}
		for _, i := range m.instances(pool) {
			if i.State != "terminated" {
				return false
			}
		}
		ws, err := wm.ListWorkersForWorkerPool(pool, "", "")
		if err != nil {
			return false
		}
		for _, w := range ws.Workers {
			if w.State != "stopped" {
				return false
			}
		}
		return len(ws.Workers) == 3
	})

	// An aws-provisioner worker type, its instance booting with its securityToken.
	ap := tcawsprovisioner.New(&tcv19.Credentials{ClientID: "root", AccessToken: rootToken})
	ap.BaseURL = m.url + "/api/aws-provisioner/v1"
	const wt = "e2e-builder"
	if _, err := ap.CreateWorkerType(wt, workerTypeRequest()); err != nil {
		t.Fatalf("CreateWorkerType: %v", err)
	}
	m.setPending("aws-provisioner-v1", wt, 1)
	var inst localInstance
	waitFor(t, "the worker type's instance", 60*time.Second, func() bool {
		for _, i := range m.instances("wt:" + wt) {
			if i.State == "running" {
				inst = i
				return true
			}
		}
		return false
	})
	var ud struct{ SecurityToken string }
	_ = json.Unmarshal([]byte(m.get("/local/imds/"+inst.InstanceID+"/latest/user-data")), &ud)
	anon := tcawsprovisioner.New(nil)
	anon.BaseURL = ap.BaseURL
	sec, err := anon.GetSecret(ud.SecurityToken)
	if err != nil || string(sec.Data) != `{"password":"hunter2"}` {
		t.Fatalf("GetSecret with the instance's securityToken: %+v, %v", sec, err)
	}
	if err := anon.RemoveSecret(ud.SecurityToken); err != nil {
		t.Errorf("RemoveSecret: %v", err)
	}
	if err := anon.InstanceStarted(inst.InstanceID, ud.SecurityToken); err != nil {
		t.Errorf("InstanceStarted: %v", err)
	}
	if _, err := anon.GetSecret(ud.SecurityToken); status(err) != 404 {
		t.Errorf("the token read again: %v, want 404", err)
	}
	if err := ap.RemoveWorkerType(wt); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removed worker type's instance to go", 60*time.Second, func() bool { return alive(m.instances("wt:"+wt)) == 0 })
	m.stop()
	if !strings.Contains(m.output(), "provisioner: proj-e2e/linux: pending tasks 10") {
		t.Errorf("make run did not print the iteration lines:\n%s", m.output())
	}
}

// TestMakeRunOnMoto runs the stack with the real EC2 driver against moto, which sends
// no EC2 events: the worker records are kept true by the provisioner's reconciliation
// alone, from launch to stopped.
func TestMakeRunOnMoto(t *testing.T) {
	if _, err := exec.LookPath(motoserver.Command); err != nil {
		t.Skip("moto_server is not installed")
	}
	m := startMakeRun(t, "CLOUD=ec2")
	wm := tcworkermanager.New(&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}, m.url)
	const pool = "proj-moto/linux"
	// Nothing registers under moto: the registration timeout stops the deleted pool's
	// workers, and then the pool goes.
	cfg := `{"minCapacity": 0, "maxCapacity": 2, "lifecycle": {"registrationTimeout": 20}, "launchConfigs": [{"region": "us-east-1", "capacityPerInstance": 1,
	  "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "m5.large"}}]}`
	if _, err := wm.CreateWorkerPool(pool, &tcworkermanager.WorkerPoolDefinition{ProviderID: "aws", Config: json.RawMessage(cfg), Description: "moto", Owner: "e2e@example.com"}); err != nil {
		t.Fatalf("CreateWorkerPool: %v\n%s", err, m.output())
	}
	m.setPending("proj-moto", "linux", 2)
	waitFor(t, "2 workers launched in moto, their EC2 state read back", 60*time.Second, func() bool {
		ws, err := wm.ListWorkersForWorkerPool(pool, "", "")
		return err == nil && len(ws.Workers) == 2
	})
	m.setPending("proj-moto", "linux", 0)
	if _, err := wm.DeleteWorkerPool(pool); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted pool's workers stopped at their registration timeout and the pool gone, without any EC2 event", 90*time.Second, func() bool {
		ws, err := wm.ListWorkersForWorkerPool(pool, "", "")
		if err != nil || len(ws.Workers) != 2 {
			return false
		}
		for _, w := range ws.Workers {
			if w.State != "stopped" {
				return false
			}
		}
		_, err = wm.WorkerPool(pool)
		return status(err) == 404
	})
}
