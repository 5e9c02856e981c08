// Package demand reports how much work waits for a pool: the Taskcluster queue's
// pendingTasks (through the official tcqueue client, as any Taskcluster deployment is
// asked), or, for users without Taskcluster, an SQS queue's approximate depth.
package demand

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcqueue"
)

// Query names a pool's demand: a Taskcluster queue (ProvisionerID/WorkerType) or an
// SQS queue URL.
type Query struct {
	ProvisionerID string
	WorkerType    string
	SQSQueueURL   string
}

func (q Query) String() string {
	if q.SQSQueueURL != "" {
		return "sqs " + q.SQSQueueURL
	}
	return "queue pendingTasks(" + q.ProvisionerID + ", " + q.WorkerType + ")"
}

// Sources answers queries from the configured sources.
type Sources struct {
	// Taskcluster answers Taskcluster queries; nil when no Taskcluster is configured.
	Taskcluster *Taskcluster
	// SQS answers SQS queries; nil when SQS demand is not available.
	SQS *SQS
}

// ErrNoSource means the query names a source this deployment does not have.
var ErrNoSource = errors.New("no such demand source configured")

// Pending returns the number of tasks (or messages) waiting.
func (s *Sources) Pending(ctx context.Context, q Query) (int64, error) {
	switch {
	case q.SQSQueueURL != "":
		if s.SQS == nil {
			return 0, fmt.Errorf("%s: %w (SQS)", q, ErrNoSource)
		}
		return s.SQS.Pending(ctx, q.SQSQueueURL)
	default:
		if s.Taskcluster == nil {
			return 0, fmt.Errorf("%s: %w (set TASKCLUSTER_ROOT_URL, or give the pool an sqs demand source)", q, ErrNoSource)
		}
		return s.Taskcluster.Pending(ctx, q.ProvisionerID, q.WorkerType)
	}
}

// Taskcluster asks a Taskcluster deployment's queue for pending task counts.
type Taskcluster struct {
	RootURL string
	// Timeout bounds one question, retries included (default 10s).
	Timeout time.Duration
	// noCounts: the queue does not know taskQueueCounts (see Counts).
	noCounts atomic.Bool
}

// Pending returns pendingTasks(provisionerID, workerType) from the queue.
func (t *Taskcluster) Pending(ctx context.Context, provisionerID, workerType string) (int64, error) {
	timeout := t.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	q := tcqueue.New(nil, t.RootURL)
	q.Context = ctx
	type result struct {
		n   int64
		err error
	}
	// The client retries 5xx answers with sleeps that ignore the context; wait for it
	// only as long as the context allows (it gives up at its next attempt).
	done := make(chan result, 1)
	go func() {
		resp, err := q.PendingTasks(provisionerID, workerType)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{n: resp.PendingTasks}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return 0, fmt.Errorf("queue pendingTasks(%s, %s): %s", provisionerID, workerType, summarize(r.err))
		}
		if r.n < 0 {
			return 0, fmt.Errorf("queue pendingTasks(%s, %s): negative count %d", provisionerID, workerType, r.n)
		}
		return r.n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("queue pendingTasks(%s, %s): %w", provisionerID, workerType, ctx.Err())
	}
}

// summarize shortens the official client's multi-line call summaries to one line.
func summarize(err error) string {
	var apiErr *tcclient.APICallException
	if errors.As(err, &apiErr) {
		status := 0
		if apiErr.CallSummary != nil && apiErr.CallSummary.HTTPResponse != nil {
			status = apiErr.CallSummary.HTTPResponse.StatusCode
		}
		cause := strings.SplitN(strings.TrimSpace(fmt.Sprint(apiErr.RootCause)), "\n", 2)[0]
		if status != 0 {
			return fmt.Sprintf("HTTP %d: %s", status, cause)
		}
		return cause
	}
	return strings.SplitN(err.Error(), "\n", 2)[0]
}

// SQSAPI is the SQS call the SQS source makes; *sqs.Client satisfies it.
type SQSAPI interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// SQS reads queue depths, with one client per region.
type SQS struct {
	// NewClient returns the client for a region.
	NewClient func(region string) SQSAPI
	mu        sync.Mutex
	clients   map[string]SQSAPI
}

// Pending returns the queue's ApproximateNumberOfMessages: messages waiting, not
// those already received and in flight (their workers exist).
func (s *SQS) Pending(ctx context.Context, queueURL string) (int64, error) {
	region, err := SQSRegion(queueURL)
	if err != nil {
		return 0, err
	}
	out, err := s.client(region).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return 0, fmt.Errorf("sqs %s: %w", queueURL, err)
	}
	v := out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("sqs %s: ApproximateNumberOfMessages is %q", queueURL, v)
	}
	return n, nil
}

func (s *SQS) client(region string) SQSAPI {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients == nil {
		s.clients = map[string]SQSAPI{}
	}
	c, ok := s.clients[region]
	if !ok {
		c = s.NewClient(region)
		s.clients[region] = c
	}
	return c
}

// SQSRegion returns the region of an SQS queue URL
// (https://sqs.<region>.amazonaws.com/<account>/<name>); other hosts (an emulator)
// yield us-east-1.
func SQSRegion(queueURL string) (string, error) {
	u, err := url.Parse(queueURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("sqs queue url %q is not a URL", queueURL)
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 3 && parts[0] == "sqs" && strings.HasPrefix(strings.Join(parts[2:], "."), "amazonaws.com") {
		return parts[1], nil
	}
	return "us-east-1", nil
}

// Activity is what the queue knows of a worker's work: when it first claimed a
// task and when it was last active (claimed or reclaimed). Known is false when the
// queue cannot say (no record of the worker, or a queue too old to report it).
type Activity struct {
	FirstClaim, LastActive time.Time
	Known                  bool
}

// Activity asks the queue q names about a worker (today's queue.getWorker); SQS
// knows nothing of workers.
func (s *Sources) Activity(ctx context.Context, q Query, workerGroup, workerID string) (Activity, error) {
	if q.SQSQueueURL != "" || s.Taskcluster == nil {
		return Activity{}, nil
	}
	return s.Taskcluster.Activity(ctx, q.ProvisionerID, q.WorkerType, workerGroup, workerID)
}

// Activity reads queue.getWorker's firstClaim and lastDateActive. A worker the
// queue has no record of, or a queue that reports no lastDateActive (Taskcluster
// before it had it), is not Known: no worker is judged on a missing signal.
func (t *Taskcluster) Activity(ctx context.Context, provisionerID, workerType, workerGroup, workerID string) (Activity, error) {
	var w struct {
		FirstClaim     time.Time  `json:"firstClaim"`
		LastDateActive *time.Time `json:"lastDateActive"`
	}
	path := "/provisioners/" + url.PathEscape(provisionerID) + "/worker-types/" + url.PathEscape(workerType) + "/workers/" +
		url.PathEscape(workerGroup) + "/" + url.PathEscape(workerID)
	found, err := t.get(ctx, "getWorker("+workerGroup+"/"+workerID+")", path, &w)
	if err != nil || !found || w.LastDateActive == nil {
		return Activity{}, err
	}
	return Activity{FirstClaim: w.FirstClaim, LastActive: *w.LastDateActive, Known: true}, nil
}

// get reads a queue method's answer (path under /api/queue/v1) into v, within the
// Timeout; found is false for a 404.
func (t *Taskcluster) get(ctx context.Context, method, path string, v any) (found bool, err error) {
	timeout := t.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(t.RootURL, "/")+"/api/queue/v1"+path, nil)
	if err != nil {
		return false, fmt.Errorf("queue %s: %w", method, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("queue %s: %w", method, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("queue %s: HTTP %d", method, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return false, fmt.Errorf("queue %s: %w", method, err)
	}
	return true, nil
}

// Counts are a queue's pending tasks and, where the queue says, its claimed ones.
type Counts struct {
	Pending      int64
	Claimed      int64
	ClaimedKnown bool
}

// Counts answers both of a pool's counts with one question where the source can:
// today's queue (taskQueueCounts) says how many tasks are pending and claimed;
// an older queue (pendingTasks only) and SQS say only what waits.
func (s *Sources) Counts(ctx context.Context, q Query) (Counts, error) {
	if q.SQSQueueURL != "" || s.Taskcluster == nil {
		n, err := s.Pending(ctx, q)
		return Counts{Pending: n}, err
	}
	return s.Taskcluster.Counts(ctx, q.ProvisionerID, q.WorkerType)
}

// Counts asks today's taskQueueCounts; a queue that does not know it (404, or an
// answer without pendingTasks: Taskcluster before it had it) is asked pendingTasks
// from then on.
func (t *Taskcluster) Counts(ctx context.Context, provisionerID, workerType string) (Counts, error) {
	if t.noCounts.Load() {
		n, err := t.Pending(ctx, provisionerID, workerType)
		return Counts{Pending: n}, err
	}
	var c struct {
		PendingTasks *int64 `json:"pendingTasks"`
		ClaimedTasks *int64 `json:"claimedTasks"`
	}
	method := "taskQueueCounts(" + provisionerID + "/" + workerType + ")"
	found, err := t.get(ctx, method, "/task-queues/"+url.PathEscape(provisionerID+"/"+workerType)+"/counts", &c)
	switch {
	case err != nil:
		return Counts{}, err
	case !found, c.PendingTasks == nil || *c.PendingTasks < 0:
		// A queue without taskQueueCounts (older, or something in front of it that
		// answers for it): pendingTasks from now on.
		t.noCounts.Store(true)
		n, err := t.Pending(ctx, provisionerID, workerType)
		return Counts{Pending: n}, err
	}
	out := Counts{Pending: *c.PendingTasks}
	if c.ClaimedTasks != nil && *c.ClaimedTasks >= 0 {
		out.Claimed, out.ClaimedKnown = *c.ClaimedTasks, true
	}
	return out, nil
}
