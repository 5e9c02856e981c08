package reaction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// FunctionConfig is the reaction function's configuration, from its environment.
type FunctionConfig struct {
	// ProvisionerFunction is the function each iteration invokes
	// (PROVISIONER_FUNCTION).
	ProvisionerFunction string
	// PulseURL is the deployment's Pulse, amqps://host[:port][/vhost] (PULSE_URL).
	PulseURL string
	// PulseCredentialsSecret names the Secrets Manager secret holding the Pulse
	// user, {"username": ..., "password": ...} (PULSE_CREDENTIALS_SECRET); "": the
	// URL's own.
	PulseCredentialsSecret string
	// PulseQueue names the queue after queue/<user>/ (PULSE_QUEUE;
	// DefaultPulseQueue).
	PulseQueue string
	// SignalQueueURL is workerfleet's own SQS queue producers tell of tasks sent
	// to SQS-demand pools (SIGNAL_QUEUE_URL; "": none; see SignalQueue).
	SignalQueueURL string
	// Window is how long one invocation listens (REACTION_WINDOW; DefaultWindow):
	// a little longer than the schedule's period, so one listener always runs.
	Window time.Duration
}

// DefaultWindow is how long one invocation of the reaction function listens: its
// schedule's minute and two seconds, so the next one is connected before it stops.
const DefaultWindow = 62 * time.Second

// ConfigFromEnv reads the reaction function's configuration.
func ConfigFromEnv() (FunctionConfig, error) {
	c := FunctionConfig{
		ProvisionerFunction:    os.Getenv("PROVISIONER_FUNCTION"),
		PulseURL:               os.Getenv("PULSE_URL"),
		PulseCredentialsSecret: os.Getenv("PULSE_CREDENTIALS_SECRET"),
		PulseQueue:             os.Getenv("PULSE_QUEUE"),
		SignalQueueURL:         os.Getenv("SIGNAL_QUEUE_URL"),
		Window:                 DefaultWindow,
	}
	if w := os.Getenv("REACTION_WINDOW"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("REACTION_WINDOW=%q is not a positive duration", w)
		}
		c.Window = d
	}
	if c.ProvisionerFunction == "" {
		return c, errors.New("PROVISIONER_FUNCTION is not set")
	}
	return c, nil
}

// Credentials are a Pulse user's.
type Credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// ParseCredentials reads a secret string {"username": ..., "password": ...}.
// Errors never quote the secret.
func ParseCredentials(secret string) (Credentials, error) {
	var c Credentials
	if err := json.Unmarshal([]byte(strings.TrimSpace(secret)), &c); err != nil || c.Username == "" || c.Password == "" {
		return Credentials{}, errors.New(`the Pulse credentials secret is not {"username": ..., "password": ...}`)
	}
	return c, nil
}

// Function is the reaction function: each invocation listens for Window, driving
// the provisioner's iterations with a Loop fed by a Pulse listener.
type Function struct {
	Config FunctionConfig
	Lambda LambdaAPI
	// SQS reads the signal queue (with Config.SignalQueueURL).
	SQS SQSAPI
	// Secret reads a Secrets Manager secret's string.
	Secret func(ctx context.Context, id string) (string, error)
	Log    *slog.Logger

	mu    sync.Mutex
	creds *Credentials
	at    time.Time
}

// credentialsTTL is how long a warm function believes the secret it read.
const credentialsTTL = 15 * time.Minute

func (f *Function) credentials(ctx context.Context) (Credentials, error) {
	if f.Config.PulseCredentialsSecret == "" {
		return Credentials{}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.creds != nil && time.Since(f.at) < credentialsTTL {
		return *f.creds, nil
	}
	s, err := f.Secret(ctx, f.Config.PulseCredentialsSecret)
	if err != nil {
		return Credentials{}, fmt.Errorf("read the Pulse credentials secret: %w", err)
	}
	c, err := ParseCredentials(s)
	if err != nil {
		return Credentials{}, err
	}
	f.creds, f.at = &c, time.Now()
	return c, nil
}

// Handle is one invocation: listen (to Pulse, and to the signal queue) and
// iterate for Window (less two seconds before the invocation's deadline), then run
// a last iteration for any signal still waiting. Without signals (no source, or it
// cannot be reached) the Loop still runs the busy backstop.
func (f *Function) Handle(ctx context.Context) error {
	log := f.Log
	if log == nil {
		log = slog.Default()
	}
	window, cancel := context.WithTimeout(ctx, f.Config.Window)
	defer cancel()
	if dl, ok := ctx.Deadline(); ok {
		var c2 context.CancelFunc
		window, c2 = context.WithDeadline(window, dl.Add(-2*time.Second))
		defer c2()
	}
	inv := &Invoker{Client: f.Lambda, Function: f.Config.ProvisionerFunction}
	sig := NewSignals(nil)
	loop := &Loop{Signals: sig, Log: log,
		// An iteration under way finishes even when the window closes.
		Iterate: func(_ context.Context, tr Trigger) (Outcome, error) { return inv.Iterate(ctx, tr) }}
	var pl *Pulse
	if f.Config.PulseURL != "" {
		creds, err := f.credentials(ctx)
		if err != nil {
			log.ErrorContext(ctx, "reaction: no Pulse this time; the backstop covers", "error", err.Error())
		} else {
			pl = &Pulse{URL: f.Config.PulseURL, Username: creds.Username, Password: creds.Password, Queue: f.Config.PulseQueue,
				Signals: sig, Log: log}
			loop.OnPools = pl.SetPools
		}
	}
	var wg sync.WaitGroup
	var pulseErr error
	if pl != nil {
		wg.Add(1)
		go func() { defer wg.Done(); pulseErr = pl.Run(window) }()
	}
	if f.Config.SignalQueueURL != "" && f.SQS != nil {
		sq := &SignalQueue{Client: f.SQS, QueueURL: f.Config.SignalQueueURL, Signals: sig, Log: log}
		wg.Add(1)
		go func() { defer wg.Done(); _ = sq.Run(window) }()
	}
	_ = loop.Run(window)
	wg.Wait()
	if sig.HasPending() && ctx.Err() == nil {
		b := sig.Take()
		if _, err := inv.Iterate(ctx, Trigger{Reason: "signal", Batch: b, At: time.Now()}); err != nil {
			log.WarnContext(ctx, "reaction: the last iteration failed", "error", err.Error())
		}
	}
	st := loop.Stats()
	attrs := []any{"iterations", st.Iterations, "bySignal", st.ByReason["signal"], "byBackstop", st.ByReason["backstop"],
		"skipped", st.Skipped, "failed", st.Failed, "signals", sig.Total(), "maxLatencyMs", st.MaxLatency.Milliseconds()}
	if pl != nil {
		ps := pl.Stats()
		attrs = append(attrs, "pulseConnects", ps.Connects, "pulseDrops", ps.Drops, "pulseMessages", ps.Deliveries)
	}
	log.InfoContext(ctx, "reaction: window done", attrs...)
	if pulseErr != nil {
		return pulseErr // a configuration that cannot work: the function's errors say so
	}
	return nil
}
