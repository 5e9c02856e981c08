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

	"github.com/workerfleet/workerfleet/shared/motoserver"
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
