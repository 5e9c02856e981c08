package reaction

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/demand"
)

// fakeQueue answers taskQueueCounts as today's queue does, counting questions.
type fakeQueue struct {
	mu               sync.Mutex
	pending, claimed int64
	asked            int
}

func (q *fakeQueue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/queue/v1/task-queues/") || !strings.HasSuffix(r.URL.Path, "/counts") {
		http.NotFound(w, r)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.asked++
	_ = json.NewEncoder(w).Encode(map[string]int64{"pendingTasks": q.pending, "claimedTasks": q.claimed})
}

func (q *fakeQueue) set(pending, claimed int64) {
	q.mu.Lock()
	q.pending, q.claimed = pending, claimed
	q.mu.Unlock()
}

func TestDemandAsksOncePerPoolPerInterval(t *testing.T) {
	type step struct {
		advance  time.Duration
		queue    [2]int64         // the queue's pending and claimed now
		signals  map[string]Delta // applied before asking
		want     demand.Counts
		wantAsks int // questions so far
	}
	lin := "proj/linux"
	cases := []struct {
		name  string
		steps []step
	}{
		{name: "a second question within 10 s is answered from the first", steps: []step{
			{queue: [2]int64{3, 1}, want: demand.Counts{Pending: 3, Claimed: 1, ClaimedKnown: true}, wantAsks: 1},
			{advance: time.Second, queue: [2]int64{9, 1}, want: demand.Counts{Pending: 3, Claimed: 1, ClaimedKnown: true}, wantAsks: 1},
			{advance: 9 * time.Second, queue: [2]int64{9, 1}, want: demand.Counts{Pending: 9, Claimed: 1, ClaimedKnown: true}, wantAsks: 2},
		}},
		{name: "signals move the kept count until the next question", steps: []step{
			{queue: [2]int64{0, 0}, want: demand.Counts{ClaimedKnown: true}, wantAsks: 1},
			{advance: time.Second, signals: map[string]Delta{lin: {Pending: 5}, "proj/other": {Pending: 7}},
				want: demand.Counts{Pending: 5, ClaimedKnown: true}, wantAsks: 1},
			{advance: time.Second, signals: map[string]Delta{lin: {Running: 2}},
				want: demand.Counts{Pending: 3, Claimed: 2, ClaimedKnown: true}, wantAsks: 1},
			{advance: 8 * time.Second, queue: [2]int64{2, 3}, signals: map[string]Delta{lin: {Pending: 1}},
				want: demand.Counts{Pending: 2, Claimed: 3, ClaimedKnown: true}, wantAsks: 2},
		}},
		{name: "more claims than pending tasks never go below zero", steps: []step{
			{queue: [2]int64{1, 0}, want: demand.Counts{Pending: 1, ClaimedKnown: true}, wantAsks: 1},
			{signals: map[string]Delta{lin: {Running: 4}}, want: demand.Counts{Pending: 0, Claimed: 4, ClaimedKnown: true}, wantAsks: 1},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeQueue{}
			srv := httptest.NewServer(q)
			defer srv.Close()
			clock := NewManualClock(epoch)
			d := &Demand{Sources: &demand.Sources{Taskcluster: &demand.Taskcluster{RootURL: srv.URL}}, Now: clock.Now}
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				q.set(s.queue[0], s.queue[1])
				d.Apply(Batch{Pools: s.signals})
				got, err := d.Counts(context.Background(), Query(lin))
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got != s.want {
					t.Fatalf("step %d: counts %+v, want %+v", i, got, s.want)
				}
				if q.asked != s.wantAsks || d.Asked() != int64(s.wantAsks) {
					t.Fatalf("step %d: the queue was asked %d times (Asked says %d), want %d", i, q.asked, d.Asked(), s.wantAsks)
				}
			}
		})
	}
}

func TestQuery(t *testing.T) {
	for key, want := range map[string]demand.Query{
		"proj/linux": {ProvisionerID: "proj", WorkerType: "linux"},
		"https://sqs.eu-west-1.amazonaws.com/1/q": {SQSQueueURL: "https://sqs.eu-west-1.amazonaws.com/1/q"},
	} {
		if got := Query(key); got != want {
			t.Errorf("Query(%q) = %+v, want %+v", key, got, want)
		}
	}
}
