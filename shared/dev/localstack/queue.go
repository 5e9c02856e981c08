package localstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
)

// Queue is a Taskcluster-compatible fake queue: it answers pendingTasks as the real
// queue does (GET /api/queue/v1/pending/<provisionerId>/<workerType>), its counts are
// set through PUT /local/queue/pending/<provisionerId>/<workerType>, and simulated
// workers claim tasks from it.
//
// A queue may be held: its claimed tasks then run until it is released (a PUT
// without "hold"), however long that takes, so that demand waits for a person
// following the walkthrough rather than finishing in a minute.
type Queue struct {
	mu      sync.Mutex
	pending map[string]int64 // "provisionerId/workerType" -> tasks
	running map[string]int64 // claimed and not yet completed or given back
	held    map[string]bool
	// signal, if set, hears of tasks becoming pending and being claimed, as a
	// Pulse listener hears the real queue's task-pending and task-running messages.
	signal func(key string, pending, claimed int64)
}

// OnSignal sets what hears of tasks becoming pending (a count raised) and being
// claimed, by "provisionerId/workerType".
func (q *Queue) OnSignal(f func(key string, pending, claimed int64)) {
	q.mu.Lock()
	q.signal = f
	q.mu.Unlock()
}

// NewQueue returns an empty queue.
func NewQueue() *Queue {
	return &Queue{pending: map[string]int64{}, running: map[string]int64{}, held: map[string]bool{}}
}

func queueKey(provisionerID, workerType string) string { return provisionerID + "/" + workerType }

// Set sets the number of pending tasks of a queue, and releases its tasks.
func (q *Queue) Set(provisionerID, workerType string, n int64) {
	q.SetHeld(provisionerID, workerType, n, false)
}

// SetHeld sets the number of pending tasks of a queue and whether its claimed tasks
// run until it is released (held) or finish as usual.
func (q *Queue) SetHeld(provisionerID, workerType string, n int64, held bool) {
	k := queueKey(provisionerID, workerType)
	q.mu.Lock()
	added, signal := n-q.pending[k], q.signal
	q.pending[k] = n
	if held {
		q.held[k] = true
	} else {
		delete(q.held, k)
	}
	q.mu.Unlock()
	if added > 0 && signal != nil {
		signal(k, added, 0)
	}
}

// Pending returns the number of pending tasks of a queue.
func (q *Queue) Pending(provisionerID, workerType string) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending[queueKey(provisionerID, workerType)]
}

// Claim takes up to n pending tasks and returns how many it took; they run until
// Complete or GiveBack.
func (q *Queue) Claim(provisionerID, workerType string, n int64) int64 {
	k := queueKey(provisionerID, workerType)
	q.mu.Lock()
	got := max(0, min(n, q.pending[k]))
	q.pending[k] -= got
	q.running[k] += got
	signal := q.signal
	q.mu.Unlock()
	if got > 0 && signal != nil {
		signal(k, 0, got)
	}
	return got
}

// Complete ends one claimed task, unless the queue is held: it reports false then,
// and the task keeps running.
func (q *Queue) Complete(provisionerID, workerType string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := queueKey(provisionerID, workerType)
	if q.held[k] {
		return false
	}
	if q.running[k] > 0 {
		q.running[k]--
	}
	return true
}

// GiveBack returns n claimed tasks to pending, as Taskcluster's queue does when a
// task's worker disappears and its claim expires (here at once).
func (q *Queue) GiveBack(provisionerID, workerType string, n int64) {
	k := queueKey(provisionerID, workerType)
	q.mu.Lock()
	n = min(n, q.running[k])
	q.running[k] -= n
	q.pending[k] += n
	signal := q.signal
	q.mu.Unlock()
	if n > 0 && signal != nil {
		signal(k, n, 0) // pending again, as the real queue announces a task's new run
	}
}

// Counts returns every queue's pending tasks.
func (q *Queue) Counts() map[string]int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[string]int64, len(q.pending))
	for k, v := range q.pending {
		out[k] = v
	}
	return out
}

// QueueCount is one queue's figures, as GET /local/queue/pending lists them and
// a kept stack saves them.
type QueueCount struct {
	ProvisionerID string `json:"provisionerId"`
	WorkerType    string `json:"workerType"`
	PendingTasks  int64  `json:"pendingTasks"`
	RunningTasks  int64  `json:"runningTasks"`
	Hold          bool   `json:"hold"`
}

// List returns every queue's figures, sorted.
func (q *Queue) List() []QueueCount {
	q.mu.Lock()
	defer q.mu.Unlock()
	keys := map[string]bool{}
	for k := range q.pending {
		keys[k] = true
	}
	for k := range q.running {
		keys[k] = true
	}
	out := make([]QueueCount, 0, len(keys))
	for k := range keys {
		p, wt, _ := strings.Cut(k, "/")
		out = append(out, QueueCount{ProvisionerID: p, WorkerType: wt, PendingTasks: q.pending[k], RunningTasks: q.running[k], Hold: q.held[k]})
	}
	sort.Slice(out, func(i, j int) bool {
		return queueKey(out[i].ProvisionerID, out[i].WorkerType) < queueKey(out[j].ProvisionerID, out[j].WorkerType)
	})
	return out
}

// Save writes the queue's counts to path, every running task counted as pending
// again (its worker goes with the stack, and its claim would expire), so that a kept
// stack (PERSIST) starts again with the demand it stopped with.
func (q *Queue) Save(path string) error {
	counts := q.List()
	for i := range counts {
		counts[i].PendingTasks += counts[i].RunningTasks
		counts[i].RunningTasks = 0
	}
	data, err := json.MarshalIndent(counts, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("keep the fake queue's pending tasks: %w", err)
	}
	return nil
}

// Load reads what Save wrote; a missing file is an empty queue.
func (q *Queue) Load(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the fake queue's kept pending tasks: %w", err)
	}
	var counts []QueueCount
	if err := json.Unmarshal(data, &counts); err != nil {
		return fmt.Errorf("read the fake queue's kept pending tasks (%s): %w", path, err)
	}
	for _, c := range counts {
		q.SetHeld(c.ProvisionerID, c.WorkerType, c.PendingTasks+c.RunningTasks, c.Hold)
	}
	return nil
}

// splitQueue reads <provisionerId>/<workerType> from an escaped path (a workerType
// may hold an escaped '/').
func splitQueue(escaped string) (string, string, bool) {
	parts := strings.Split(strings.Trim(escaped, "/"), "/")
	if len(parts) != 2 {
		return "", "", false
	}
	p, err1 := url.PathUnescape(parts[0])
	w, err2 := url.PathUnescape(parts[1])
	return p, w, err1 == nil && err2 == nil && p != "" && w != ""
}

// ServeTaskcluster answers the queue API's pendingTasks and ping.
func (q *Queue) ServeTaskcluster(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/api/queue/v1")
	switch {
	case r.Method == "GET" && rest == "/ping":
		writeJSON(w, 200, map[string]any{"alive": true})
	case r.Method == "GET" && strings.HasPrefix(rest, "/pending/"):
		p, wt, ok := splitQueue(strings.TrimPrefix(rest, "/pending/"))
		if !ok {
			writeJSON(w, 404, map[string]string{"code": "ResourceNotFound", "message": "no such queue endpoint"})
			return
		}
		writeJSON(w, 200, map[string]any{"provisionerId": p, "workerType": wt, "pendingTasks": q.Pending(p, wt)})
	default:
		writeJSON(w, 404, map[string]string{"code": "ResourceNotFound", "message": "the local queue serves only pendingTasks and ping"})
	}
}

// ServeControl handles PUT /local/queue/pending/<provisionerId>/<workerType> with
// {"pendingTasks": N}, and GET /local/queue/pending (every count).
func (q *Queue) ServeControl(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/local/queue/pending")
	if r.Method == "GET" && (rest == "" || rest == "/") {
		writeJSON(w, 200, q.List())
		return
	}
	p, wt, ok := splitQueue(rest)
	if r.Method != "PUT" || !ok {
		writeJSON(w, 404, map[string]string{"code": "ResourceNotFound", "message": "use PUT /local/queue/pending/<provisionerId>/<workerType>"})
		return
	}
	var body struct {
		PendingTasks *int64 `json:"pendingTasks"`
		Hold         bool   `json:"hold"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.PendingTasks == nil || *body.PendingTasks < 0 {
		writeJSON(w, 400, map[string]string{"code": "InputValidationError", "message": `body must be {"pendingTasks": <integer >= 0>} or {"pendingTasks": <integer >= 0>, "hold": true}`})
		return
	}
	q.SetHeld(p, wt, *body.PendingTasks, body.Hold)
	out := map[string]any{"provisionerId": p, "workerType": wt, "pendingTasks": *body.PendingTasks}
	if body.Hold {
		out["hold"] = true
	}
	writeJSON(w, 200, out)
}

// writeJSON answers v as JSON, without HTML escaping ("<" stays "<" in what people read).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a client that went away is not our error
}
