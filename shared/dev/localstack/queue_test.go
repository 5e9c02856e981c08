package localstack

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestQueueHoldKeepsTasksRunningUntilReleased: a held queue's claimed tasks do not
// complete; a PUT without "hold" releases them; tasks whose worker disappears are
// pending again; bad bodies are a 400 naming the shape.
func TestQueueHoldKeepsTasksRunningUntilReleased(t *testing.T) {
	q := NewQueue()
	put := func(body string) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		q.ServeControl(rec, httptest.NewRequest("PUT", "/local/queue/pending/proj-ci/linux", strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	if code, body := put(`{"pendingTasks": 5, "hold": true}`); code != http.StatusOK || !strings.Contains(body, `"hold":true`) {
		t.Fatalf("hold: %d %s", code, body)
	}
	if got := q.Claim("proj-ci", "linux", 2); got != 2 {
		t.Fatalf("claimed %d, want 2", got)
	}
	if q.Complete("proj-ci", "linux") {
		t.Error("a held queue's task completed")
	}
	q.GiveBack("proj-ci", "linux", 1) // its worker's instance went away
	want := []QueueCount{{ProvisionerID: "proj-ci", WorkerType: "linux", PendingTasks: 4, RunningTasks: 1, Hold: true}}
	if diff := cmp.Diff(want, q.List()); diff != "" {
		t.Errorf("held queue (-want +got):\n%s", diff)
	}
	if code, body := put(`{"pendingTasks": 0}`); code != http.StatusOK || strings.Contains(body, "hold") {
		t.Fatalf("release: %d %s", code, body)
	}
	if !q.Complete("proj-ci", "linux") {
		t.Error("a released queue's task runs on")
	}
	want = []QueueCount{{ProvisionerID: "proj-ci", WorkerType: "linux"}}
	if diff := cmp.Diff(want, q.List()); diff != "" {
		t.Errorf("released queue (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"pendingTasks": -1}`, `{"hold": true}`, `{"pendingTasks": 1, "hold": "yes"}`, `{"pendingTasks": 1, "held": true}`, `[`} {
		if code, body := put(bad); code != http.StatusBadRequest || !strings.Contains(body, `\"hold\": true`) {
			t.Errorf("PUT %s: %d %s, want 400 naming the body's shape", bad, code, body)
		}
	}
}
