package reaction

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSAPI is what SignalQueue calls; *sqs.Client satisfies it.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// SignalQueue is the signal source for pools whose demand is an SQS queue: SQS
// tells nobody when a message arrives, and reading the workers' queue would hide
// their messages and count receives against their redrive policy. So the producer
// side tells: besides sending a task to a pool's queue, it (or an SNS topic both
// subscribe to, or an EventBridge rule) sends a message to workerfleet's own signal
// queue naming that pool's queue. SignalQueue long-polls it, and deletes what it
// read (the messages are its own).
//
// A message's body is the pool's queue URL, or {"queueUrl": URL, "count": N} for N
// tasks at once; an SNS notification (not raw delivery) carrying either is read
// through its Message.
type SignalQueue struct {
	Client   SQSAPI
	QueueURL string
	Signals  *Signals
	Log      *slog.Logger
	// Wait is the long poll (20s, SQS's longest).
	Wait time.Duration
}

// Run reads signals until ctx ends.
func (q *SignalQueue) Run(ctx context.Context) error {
	log := q.Log
	if log == nil {
		log = slog.Default()
	}
	wait := q.Wait
	if wait <= 0 {
		wait = 20 * time.Second
	}
	backoff := time.Second
	for ctx.Err() == nil {
		out, err := q.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(q.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: int32(wait / time.Second),
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.WarnContext(ctx, "signal queue: receive failed; the backstop covers", "queue", q.QueueURL, "retryIn", backoff.String(), "error", err.Error())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		var del []sqstypes.DeleteMessageBatchRequestEntry
		for i, m := range out.Messages {
			if sig, ok := parseSQSSignal(aws.ToString(m.Body)); ok {
				q.Signals.Add(sig)
			} else {
				log.WarnContext(ctx, "signal queue: a message that names no queue; deleted", "queue", q.QueueURL, "messageId", aws.ToString(m.MessageId))
			}
			del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if len(del) > 0 {
			// Not cancelled with the window: what was read is deleted.
			if _, err := q.Client.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.QueueURL), Entries: del}); err != nil {
				log.WarnContext(ctx, "signal queue: delete failed (the signals come again)", "queue", q.QueueURL, "error", err.Error())
			}
		}
	}
	return nil
}

// parseSQSSignal reads a signal message's body.
func parseSQSSignal(body string) (Signal, bool) {
	body = strings.TrimSpace(body)
	if strings.HasPrefix(body, "https://") || strings.HasPrefix(body, "http://") {
		return Signal{Pool: body, Pending: 1}, !strings.ContainsAny(body, " \n\t")
	}
	var v struct {
		QueueURL string `json:"queueUrl"`
		Count    int64  `json:"count"`
		// An SNS notification's
		Type    string `json:"Type"`
		Message string `json:"Message"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return Signal{}, false
	}
	if v.Type == "Notification" && v.Message != "" {
		return parseSQSSignal(v.Message)
	}
	if !strings.Contains(v.QueueURL, "://") {
		return Signal{}, false
	}
	n := v.Count
	if n <= 0 {
		n = 1
	}
	return Signal{Pool: v.QueueURL, Pending: n}, true
}
