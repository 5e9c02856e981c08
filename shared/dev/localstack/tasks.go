package localstack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcqueue"
)

// SimulatedWorker is who a simulated worker is once it has its credentials.
type SimulatedWorker struct {
	ProvisionerID, WorkerType string
	WorkerGroup, WorkerID     string
	// RootURL is the root URL from its user data, and Credentials what
	// registerWorker or getSecret gave it.
	RootURL     string
	Credentials *tcclient.Credentials
}

// ClaimedTask is a task a simulated worker claimed. Credentials, when the queue gave
// some, are the claim's own (for reporting the run's result).
type ClaimedTask struct {
	TaskID      string
	RunID       int64
	Credentials *tcclient.Credentials
}

// TaskSource is where simulated workers take their work: the fake queue standalone,
// the upstream deployment's queue in Taskcluster mode.
type TaskSource interface {
	// Claim takes up to capacity tasks for w.
	Claim(ctx context.Context, w SimulatedWorker, capacity int64) ([]ClaimedTask, error)
	// Complete reports a claimed task's run as done; ErrTaskRunning means the task
	// is not done yet (a held fake queue), and the worker keeps running it.
	Complete(ctx context.Context, w SimulatedWorker, t ClaimedTask) error
	// GiveBack is a worker's instance gone with the task unfinished.
	GiveBack(ctx context.Context, w SimulatedWorker, t ClaimedTask)
}

// ErrTaskRunning is Complete's answer for a task that runs on.
var ErrTaskRunning = errors.New("the task is still running")

// fakeQueueTasks takes work from the fake queue's pending counts.
type fakeQueueTasks struct{ q *Queue }

func (f fakeQueueTasks) Claim(_ context.Context, w SimulatedWorker, capacity int64) ([]ClaimedTask, error) {
	return make([]ClaimedTask, f.q.Claim(w.ProvisionerID, w.WorkerType, capacity)), nil
}

func (f fakeQueueTasks) Complete(_ context.Context, w SimulatedWorker, _ ClaimedTask) error {
	if !f.q.Complete(w.ProvisionerID, w.WorkerType) {
		return ErrTaskRunning
	}
	return nil
}

// GiveBack makes the task pending again, as the real queue does once its claim
// expires.
func (f fakeQueueTasks) GiveBack(_ context.Context, w SimulatedWorker, _ ClaimedTask) {
	f.q.GiveBack(w.ProvisionerID, w.WorkerType, 1)
}

// QueueTasks takes work from a Taskcluster queue, as a worker does: claimWork at the
// worker's root URL with the worker's own credentials (which the deployment checks
// like any worker's), and reportCompleted with each claim's credentials. The tasks
// are not run: point simulated workers only at queues whose tasks may be completed
// unrun.
type QueueTasks struct{}

// Claim calls queue.claimWork.
func (QueueTasks) Claim(ctx context.Context, w SimulatedWorker, capacity int64) ([]ClaimedTask, error) {
	q := tcqueue.New(w.Credentials, w.RootURL)
	q.Context = ctx
	resp, err := q.ClaimWork(w.ProvisionerID, w.WorkerType, &tcqueue.ClaimWorkRequest{Tasks: capacity, WorkerGroup: w.WorkerGroup, WorkerID: w.WorkerID})
	if err != nil {
		return nil, fmt.Errorf("claimWork: %s", firstLine(err.Error()))
	}
	out := make([]ClaimedTask, 0, len(resp.Tasks))
	for _, c := range resp.Tasks {
		t := ClaimedTask{TaskID: c.Status.TaskID, RunID: c.RunID}
		if c.Credentials.ClientID != "" {
			t.Credentials = &tcclient.Credentials{ClientID: c.Credentials.ClientID, AccessToken: c.Credentials.AccessToken, Certificate: c.Credentials.Certificate}
		}
		out = append(out, t)
	}
	return out, nil
}

// Complete calls queue.reportCompleted with the claim's credentials; a claim
// without credentials is left to expire.
func (QueueTasks) Complete(ctx context.Context, w SimulatedWorker, t ClaimedTask) error {
	if t.Credentials == nil || t.TaskID == "" {
		return nil
	}
	q := tcqueue.New(t.Credentials, w.RootURL)
	q.Context = ctx
	if _, err := q.ReportCompleted(t.TaskID, strconv.FormatInt(t.RunID, 10)); err != nil {
		return fmt.Errorf("reportCompleted %s/%d: %s", t.TaskID, t.RunID, firstLine(err.Error()))
	}
	return nil
}

// GiveBack does nothing: the deployment's queue resolves the run once its claim
// expires.
func (QueueTasks) GiveBack(context.Context, SimulatedWorker, ClaimedTask) {}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
