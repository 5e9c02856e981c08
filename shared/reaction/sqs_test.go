package reaction

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
)

func TestParseSQSSignal(t *testing.T) {
	const q = "https://sqs.us-east-1.amazonaws.com/123456789012/workerfleet-linux"
	cases := []struct {
		body string
		want Signal
		ok   bool
	}{
		{body: q, want: Signal{Pool: q, Pending: 1}, ok: true},
		{body: " " + q + "\n", want: Signal{Pool: q, Pending: 1}, ok: true},
		{body: `{"queueUrl": "` + q + `", "count": 3}`, want: Signal{Pool: q, Pending: 3}, ok: true},
		{body: `{"queueUrl": "` + q + `"}`, want: Signal{Pool: q, Pending: 1}, ok: true},
		{body: `{"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:tasks", "Message": "{\"queueUrl\": \"` + q + `\", \"count\": 2}"}`,
			want: Signal{Pool: q, Pending: 2}, ok: true},
		{body: `{"task": "build"}`},
		{body: `not json`},
		{body: q + " and more"},
	}
	for _, tc := range cases {
		got, ok := parseSQSSignal(tc.body)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseSQSSignal(%q) = %+v, %v; want %+v, %v", tc.body, got, ok, tc.want, tc.ok)
		}
	}
}

// The signal queue on moto's SQS: what producers send there becomes signals for
// the pools' queues, and is deleted; the workers' queue is never read.
func TestSignalQueueReadsProducersSignals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	moto, err := motoserver.Start(ctx)
	if err != nil {
		t.Skipf("moto: %v", err)
	}
	defer moto.Stop()
	client := sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(moto.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")})
	mk := func(name string) string {
		out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.QueueUrl)
	}
	work, signals := mk("workerfleet-linux"), mk("workerfleet-signals")
	for _, body := range []string{"task 1", "task 2", "task 3"} {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(work), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, body := range []string{work, `{"queueUrl": "` + work + `", "count": 2}`, `{"no": "queue"}`} {
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(signals), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	log, _ := newLogger(t)
	sig := NewSignals(nil)
	sq := &SignalQueue{Client: client, QueueURL: signals, Signals: sig, Log: log, Wait: time.Second}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = sq.Run(rctx); close(done) }()
	waitFor(t, "the signals", func() bool { return sig.Total() == 2 })
	stop()
	<-done
	if b := sig.Take(); b.Pools[work] != (Delta{Pending: 3}) || len(b.Pools) != 1 {
		t.Fatalf("signals %+v, want 3 pending tasks for the workers' queue", b.Pools)
	}
	depth := func(q string) map[string]string {
		out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes
	}
	if d := depth(signals); d["ApproximateNumberOfMessages"] != "0" || d["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("the signal queue still holds %v", d)
	}
	if d := depth(work); d["ApproximateNumberOfMessages"] != "3" || d["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Errorf("the workers' queue was touched: %v", d)
	}
}
