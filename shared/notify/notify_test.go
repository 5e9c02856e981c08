package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
)

func TestMessage(t *testing.T) {
	subject, content := PoolError{WorkerPoolID: "proj/pool", ErrorID: "abc", Title: "No capacity",
		Description: "InsufficientInstanceCapacity in us-east-1a", Extra: map[string]any{"region": "us-east-1", "count": 2}}.Message()
	if subject != "Taskcluster Worker Manager Error: No capacity" {
		t.Errorf("subject %q", subject)
	}
	want := "Worker Manager has encountered an error while trying to provision the worker pool proj/pool:\n\n" +
		strings.Repeat("~", 39) + "\n\nInsufficientInstanceCapacity in us-east-1a\n\n" + strings.Repeat("~", 39) +
		"\n\nErrorId: abc\n\nIt includes the extra information:\n\n```\ncount: 2\nregion: us-east-1\n```"
	if content != want {
		t.Errorf("content:\n%s\nwant:\n%s", content, want)
	}
	if _, c := (PoolError{WorkerPoolID: "p", ErrorID: "e", Title: "t", Description: "d"}).Message(); strings.Contains(c, "extra information") {
		t.Errorf("no extra, yet: %s", c)
	}
}

// TestTaskclusterEmail: the official client calls notify.email, signed with the
// configured credentials; failures say the status and nothing of the request.
func TestTaskclusterEmail(t *testing.T) {
	var got struct {
		path, auth string
		body       map[string]string
	}
	status := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.path, got.auth = r.URL.Path, r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got.body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	m := &Taskcluster{RootURL: srv.URL, Credentials: &tcclient.Credentials{ClientID: "static/workerfleet", AccessToken: "secret-token"}}
	if err := Send(context.Background(), m, "owner@example.com", PoolError{WorkerPoolID: "p", ErrorID: "e", Title: "t", Description: "d"}); err != nil {
		t.Fatal(err)
	}
	if got.path != "/api/notify/v1/email" || !strings.Contains(got.auth, `id="static/workerfleet"`) ||
		got.body["address"] != "owner@example.com" || got.body["subject"] != "Taskcluster Worker Manager Error: t" {
		t.Errorf("request: %s %s %v", got.path, got.auth, got.body)
	}
	status = 403
	err := m.Email(context.Background(), "a@example.com", "s", "c")
	if err == nil || !strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "Hawk") || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("refused email: %v", err)
	}
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Second) }))
	defer stalled.Close()
	err = (&Taskcluster{RootURL: stalled.URL, Timeout: 200 * time.Millisecond}).Email(context.Background(), "a@example.com", "s", "c")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a stalled notify service: %v, want the deadline", err)
	}
}
