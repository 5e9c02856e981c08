package localstack

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Queue is a Taskcluster-compatible fake queue: it answers pendingTasks as the real
// queue does (GET /api/queue/v1/pending/<provisionerId>/<workerType>), its counts are
// set through PUT /local/queue/pending/<provisionerId>/<workerType>, and simulated
// workers claim tasks from it.
type Queue struct {
	mu      sync.Mutex
	pending map[string]int64 // "provisionerId/workerType" -> tasks
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
func NewQueue() *Queue { return &Queue{pending: map[string]int64{}} }

func queueKey(provisionerID, workerType string) string { return provisionerID + "/" + workerType }

// Set sets the number of pending tasks of a queue.
func (q *Queue) Set(provisionerID, workerType string, n int64) {
	k := queueKey(provisionerID, workerType)
	q.mu.Lock()
	added, signal := n-q.pending[k], q.signal
	q.pending[k] = n
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

// Claim takes up to n pending tasks and returns how many it took.
func (q *Queue) Claim(provisionerID, workerType string, n int64) int64 {
	k := queueKey(provisionerID, workerType)
	q.mu.Lock()
	got := min(n, q.pending[k])
	q.pending[k] -= got
	signal := q.signal
	q.mu.Unlock()
	if got > 0 && signal != nil {
		signal(k, 0, got)
	}
	return got
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
		counts := q.Counts()
		keys := make([]string, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([]map[string]any, 0, len(keys))
		for _, k := range keys {
			p, wt, _ := strings.Cut(k, "/")
			out = append(out, map[string]any{"provisionerId": p, "workerType": wt, "pendingTasks": counts[k]})
		}
		writeJSON(w, 200, out)
		return
	}
	p, wt, ok := splitQueue(rest)
	if r.Method != "PUT" || !ok {
		writeJSON(w, 404, map[string]string{"code": "ResourceNotFound", "message": "use PUT /local/queue/pending/<provisionerId>/<workerType>"})
		return
	}
	var body struct {
		PendingTasks *int64 `json:"pendingTasks"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.PendingTasks == nil || *body.PendingTasks < 0 {
		writeJSON(w, 400, map[string]string{"code": "InputValidationError", "message": `body must be {"pendingTasks": <integer >= 0>}`})
		return
	}
	q.Set(p, wt, *body.PendingTasks)
	writeJSON(w, 200, map[string]any{"provisionerId": p, "workerType": wt, "pendingTasks": *body.PendingTasks})
}

// writeJSON answers v as JSON, without HTML escaping ("<" stays "<" in what people read).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a client that went away is not our error
}
