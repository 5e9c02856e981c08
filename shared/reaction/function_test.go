package reaction

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	amqp "github.com/rabbitmq/amqp091-go"
)

// fakeLambda answers Invoke as the provisioner function does, recording the wake
// events.
type fakeLambda struct {
	mu      sync.Mutex
	wakes   []events.CloudWatchEvent
	answer  []byte
	fnError string
	err     error
}

func (f *fakeLambda) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(in.Payload, &ev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wakes = append(f.wakes, ev)
	if f.err != nil {
		return nil, f.err
	}
	out := &lambda.InvokeOutput{StatusCode: 200, Payload: f.answer}
	if f.fnError != "" {
		out.FunctionError = aws.String(f.fnError)
	}
	return out, nil
}

func (f *fakeLambda) calls() []events.CloudWatchEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.CloudWatchEvent(nil), f.wakes...)
}

func TestInvoker(t *testing.T) {
	ok, _ := json.Marshal(Result{Iteration: "rx-1", Moving: true, Pools: []string{"proj/linux"}})
	cases := []struct {
		name    string
		lambda  *fakeLambda
		want    Outcome
		wantErr string
	}{
		{name: "a result", lambda: &fakeLambda{answer: ok}, want: Outcome{Moving: true, Pools: []string{"proj/linux"}}},
		{name: "skipped", lambda: &fakeLambda{answer: []byte(`{"iteration":"rx-1","skipped":true,"moving":false,"pools":null}`)}, want: Outcome{Skipped: true}},
		{name: "the function failed", lambda: &fakeLambda{fnError: "Unhandled", answer: []byte(`{"errorMessage":"iteration rx-1: boom"}`)},
			wantErr: `invoke prov: Unhandled: {"errorMessage":"iteration rx-1: boom"}`},
		{name: "the call failed", lambda: &fakeLambda{err: errors.New("throttled")}, wantErr: "invoke prov: throttled"},
		{name: "not a result", lambda: &fakeLambda{answer: []byte(`null x`)}, wantErr: "its answer is not a result"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			iv := &Invoker{Client: tc.lambda, Function: "prov"}
			tr := Trigger{Reason: "signal", At: epoch, Batch: Batch{Pools: map[string]Delta{"proj/linux": {Pending: 3, Running: 1}}}}
			got, err := iv.Iterate(context.Background(), tr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
			} else if err != nil || got.Moving != tc.want.Moving || got.Skipped != tc.want.Skipped || len(got.Pools) != len(tc.want.Pools) {
				t.Fatalf("outcome %+v, %v; want %+v", got, err, tc.want)
			}
			// What the provisioner receives: a wake event with the signals.
			ev := tc.lambda.calls()[0]
			var w Wake
			if err := json.Unmarshal(ev.Detail, &w); err != nil {
				t.Fatal(err)
			}
			if ev.Source != WakeSource || !strings.HasPrefix(ev.ID, "rx-") || w.Reason != "signal" || w.Pools["proj/linux"] != (Delta{Pending: 3, Running: 1}) {
				t.Fatalf("wake event %+v, detail %+v", ev, w)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    FunctionConfig
		wantErr string
	}{
		{name: "the template's", env: map[string]string{"PROVISIONER_FUNCTION": "wf-Provisioner", "PULSE_URL": "amqps://pulse.example.com/",
			"PULSE_CREDENTIALS_SECRET": "arn:aws:secretsmanager:us-east-1:123456789012:secret:pulse-AbCdEf", "PULSE_QUEUE": "workerfleet-prod"},
			want: FunctionConfig{ProvisionerFunction: "wf-Provisioner", PulseURL: "amqps://pulse.example.com/",
				PulseCredentialsSecret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:pulse-AbCdEf", PulseQueue: "workerfleet-prod", Window: DefaultWindow}},
		{name: "a window", env: map[string]string{"PROVISIONER_FUNCTION": "p", "REACTION_WINDOW": "5s"}, want: FunctionConfig{ProvisionerFunction: "p", Window: 5 * time.Second}},
		{name: "a bad window", env: map[string]string{"PROVISIONER_FUNCTION": "p", "REACTION_WINDOW": "soon"}, wantErr: "REACTION_WINDOW"},
		{name: "no provisioner", env: map[string]string{}, wantErr: "PROVISIONER_FUNCTION is not set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"PROVISIONER_FUNCTION", "PULSE_URL", "PULSE_CREDENTIALS_SECRET", "PULSE_QUEUE", "REACTION_WINDOW"} {
				t.Setenv(k, tc.env[k])
			}
			got, err := ConfigFromEnv()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("config %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseCredentialsNeverQuotesTheSecret(t *testing.T) {
	for _, secret := range []string{`hunter2`, `{"username": "wf"}`, `{"password": "hunter2"}`} {
		_, err := ParseCredentials(secret)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseCredentials(%q): %v", secret, err)
		}
	}
	if c, err := ParseCredentials(`{"username": "wf", "password": "hunter2"}`); err != nil || c != (Credentials{"wf", "hunter2"}) {
		t.Errorf("credentials %+v, %v", c, err)
	}
}

// The reaction function as deployed, but for Lambda: its window's listening on a
// real RabbitMQ, the Pulse user from "Secrets Manager", and the provisioner's
// invocations. The queue and its binding are left by an earlier invocation, as
// they are deployed; a task-pending message reaches the provisioner as a wake
// event naming its pool.
func TestFunctionWakesTheProvisionerForAPendingTask(t *testing.T) {
	url := rabbitServer(t)
	pub := newPublisher(t, url)
	// What the last invocation left: the queue, bound for proj/linux.
	queue := "queue/guest/fn-test"
	if _, err := pub.ch.QueueDeclare(queue, false, false, false, false, amqp.Table{
		"x-expires": int32(10 * time.Minute / time.Millisecond), "x-max-length": int32(10000), "x-overflow": "drop-head"}); err != nil {
		t.Fatal(err)
	}
	if err := pub.ch.QueueBind(queue, routingKey("proj/linux"), ExchangePending, false, nil); err != nil {
		t.Fatal(err)
	}
	answer, _ := json.Marshal(Result{Iteration: "x", Pools: []string{"proj/linux"}})
	lam := &fakeLambda{answer: answer}
	log, logs := newLogger(t)
	f := &Function{
		Config: FunctionConfig{ProvisionerFunction: "prov", PulseURL: strings.Replace(url, "guest:guest@", "", 1),
			PulseCredentialsSecret: "arn:aws:secretsmanager:us-east-1:123456789012:secret:pulse", PulseQueue: "fn-test", Window: 3 * time.Second},
		Lambda: lam, Log: log,
		Secret: func(_ context.Context, id string) (string, error) {
			return `{"username": "guest", "password": "guest"}`, nil
		},
	}
	done := make(chan error, 1)
	go func() { done <- f.Handle(context.Background()) }()
	waitFor(t, "the listener", func() bool { return strings.Contains(logs.String(), `"msg":"pulse: connected"`) })
	pub.publish(ExchangePending, "proj/linux", "fnTask")
	waitFor(t, "a wake for proj/linux", func() bool {
		for _, ev := range lam.calls() {
			var w Wake
			_ = json.Unmarshal(ev.Detail, &w)
			if w.Pools["proj/linux"].Pending == 1 {
				return true
			}
		}
		return false
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if first := lam.calls()[0]; !strings.Contains(string(first.Detail), `"reason":"start"`) {
		t.Errorf("the first invocation is %s, want the window's start", first.Detail)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"reaction: window done"`) || !strings.Contains(out, `"pulseConnects":1`) {
		t.Errorf("no closing line with the Pulse connection:\n%s", out)
	}
	if strings.Contains(out, "guest:guest") || strings.Contains(out, `"password"`) {
		t.Errorf("the log holds the credentials:\n%s", out)
	}
}
