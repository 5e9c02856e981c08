package demand

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
)

// fakeQueue plays the Taskcluster queue's pendingTasks endpoint.
func fakeQueue(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

func TestTaskclusterPending(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := fakeQueue(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		mu.Unlock()
		fmt.Fprint(w, `{"pendingTasks": 7, "provisionerId": "aws-provisioner-v1", "workerType": "x"}`)
	})
	s := &Sources{Taskcluster: &Taskcluster{RootURL: srv.URL}}
	n, err := s.Pending(context.Background(), Query{ProvisionerID: "aws-provisioner-v1", WorkerType: "gecko/b+c="})
	if err != nil || n != 7 {
		t.Fatalf("Pending = %d, %v; want 7", n, err)
	}
	if want := "/api/queue/v1/pending/aws-provisioner-v1/gecko%2Fb%2Bc%3D"; paths[0] != want {
		t.Errorf("queue asked at %s, want %s (the official client's escaping)", paths[0], want)
	}
}

func TestTaskclusterFailuresAreErrorsNotHangs(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"not found", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"code":"ResourceNotFound","message":"no such thing"}`)
		}, "HTTP 404"},
		{"bad json", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"pendingTasks": "many"}`) }, "pendingTasks"},
		{"server errors until the deadline", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, "deadline"},
		{"negative", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"pendingTasks": -1}`) }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeQueue(t, tt.handler)
			tc := &Taskcluster{RootURL: srv.URL, Timeout: 500 * time.Millisecond}
			start := time.Now()
			_, err := tc.Pending(context.Background(), "p", "w")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tt.want)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v; the timeout is 500ms", d)
			}
		})
	}
}

func TestNoSourceConfigured(t *testing.T) {
	s := &Sources{}
	if _, err := s.Pending(context.Background(), Query{ProvisionerID: "p", WorkerType: "w"}); !errors.Is(err, ErrNoSource) {
		t.Errorf("taskcluster without a root URL: %v, want ErrNoSource", err)
	}
	if _, err := s.Pending(context.Background(), Query{SQSQueueURL: "https://sqs.us-east-1.amazonaws.com/1/q"}); !errors.Is(err, ErrNoSource) {
		t.Errorf("sqs without a client: %v, want ErrNoSource", err)
	}
}

func TestSQSRegion(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://sqs.eu-central-1.amazonaws.com/123456789012/workerfleet-jobs", "eu-central-1"},
		{"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", "cn-north-1"},
		{"http://127.0.0.1:5000/123456789012/q", "us-east-1"},
	}
	for _, tt := range tests {
		if got, err := SQSRegion(tt.url); err != nil || got != tt.want {
			t.Errorf("SQSRegion(%s) = %s, %v; want %s", tt.url, got, err, tt.want)
		}
	}
	if _, err := SQSRegion("not a url"); err == nil {
		t.Error("SQSRegion accepted a non-URL")
	}
}

// TestSQSPendingAgainstMoto counts messages in a real SQS emulator.
func TestSQSPendingAgainstMoto(t *testing.T) {
	ctx := context.Background()
	srv, err := motoserver.Start(ctx)
	if errors.Is(err, motoserver.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	newClient := func(region string) *sqs.Client {
		return sqs.New(sqs.Options{Region: region, BaseEndpoint: aws.String(srv.Endpoint()),
			Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	}
	c := newClient("us-east-1")
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("workerfleet-jobs")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	s := &Sources{SQS: &SQS{NewClient: func(region string) SQSAPI { return newClient(region) }}}
	n, err := s.Pending(ctx, Query{SQSQueueURL: *q.QueueUrl})
	if err != nil || n != 3 {
		t.Fatalf("Pending = %d, %v; want 3", n, err)
	}
	if _, err := s.Pending(ctx, Query{SQSQueueURL: strings.Replace(*q.QueueUrl, "workerfleet-jobs", "absent", 1)}); err == nil {
		t.Error("a missing queue was not an error")
	}
}

// TestTaskclusterCounts: today's queue answers pending and claimed tasks with one
// question (taskQueueCounts); a queue without it (404) is asked pendingTasks, and
// not asked taskQueueCounts again.
func TestTaskclusterCounts(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	counts := true
	srv := fakeQueue(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		withCounts := counts
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/counts") && withCounts:
			fmt.Fprint(w, `{"taskQueueId": "proj/linux", "provisionerId": "proj", "workerType": "linux", "pendingTasks": 5, "claimedTasks": 3}`)
		case strings.HasPrefix(r.URL.Path, "/api/queue/v1/pending/"):
			fmt.Fprint(w, `{"pendingTasks": 4, "provisionerId": "proj", "workerType": "linux"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code": "ResourceNotFound"}`)
		}
	})
	s := &Sources{Taskcluster: &Taskcluster{RootURL: srv.URL}}
	q := Query{ProvisionerID: "proj", WorkerType: "linux"}
	c, err := s.Counts(context.Background(), q)
	if err != nil || c != (Counts{Pending: 5, Claimed: 3, ClaimedKnown: true}) {
		t.Fatalf("Counts = %+v, %v", c, err)
	}
	if want := "/api/queue/v1/task-queues/proj%2Flinux/counts"; paths[0] != want {
		t.Errorf("asked %s, want %s", paths[0], want)
	}

	old := &Sources{Taskcluster: &Taskcluster{RootURL: srv.URL}}
	mu.Lock()
	counts, paths = false, nil
	mu.Unlock()
	for range 2 {
		if c, err := old.Counts(context.Background(), q); err != nil || c != (Counts{Pending: 4}) {
			t.Fatalf("an older queue: Counts = %+v, %v", c, err)
		}
	}
	if strings.Join(paths, " ") != "/api/queue/v1/task-queues/proj%2Flinux/counts /api/queue/v1/pending/proj/linux /api/queue/v1/pending/proj/linux" {
		t.Errorf("an older queue was asked %v", paths)
	}
}

// TestTaskclusterActivity: today's queue.getWorker's firstClaim and lastDateActive;
// a worker it does not know, or a queue that reports no lastDateActive, is unknown.
func TestTaskclusterActivity(t *testing.T) {
	srv := fakeQueue(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/queue/v1/provisioners/proj/worker-types/linux/workers/us-east-1/i-1":
			fmt.Fprint(w, `{"firstClaim": "2026-12-01T10:00:00.000Z", "lastDateActive": "2026-12-01T11:00:00.000Z", "recentTasks": []}`)
		case "/api/queue/v1/provisioners/proj/worker-types/linux/workers/us-east-1/i-old":
			fmt.Fprint(w, `{"firstClaim": "2026-12-01T10:00:00.000Z", "recentTasks": []}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	tc := &Taskcluster{RootURL: srv.URL}
	a, err := tc.Activity(context.Background(), "proj", "linux", "us-east-1", "i-1")
	if err != nil || !a.Known || a.LastActive.Hour() != 11 || a.FirstClaim.Hour() != 10 {
		t.Errorf("Activity = %+v, %v", a, err)
	}
	for _, id := range []string{"i-old", "i-unknown"} {
		if a, err := tc.Activity(context.Background(), "proj", "linux", "us-east-1", id); err != nil || a.Known {
			t.Errorf("%s: Activity = %+v, %v; want unknown", id, a, err)
		}
	}
}
