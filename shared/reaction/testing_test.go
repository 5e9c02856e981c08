package reaction

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

var epoch = time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)

// recorder is a Loop's Iterate that records its triggers and answers outcome;
// with hold set, the call numbered hold (1-based) waits until release is closed.
type recorder struct {
	mu      sync.Mutex
	trigs   []Trigger
	outcome Outcome
	answers []Outcome // per call, before outcome
	hold    int
	release chan struct{}
}

func (r *recorder) iterate(ctx context.Context, tr Trigger) (Outcome, error) {
	r.mu.Lock()
	r.trigs = append(r.trigs, tr)
	n := len(r.trigs)
	out := r.outcome
	if n <= len(r.answers) {
		out = r.answers[n-1]
	}
	wait := r.hold == n
	r.mu.Unlock()
	if wait {
		select {
		case <-r.release:
		case <-ctx.Done():
		}
	}
	return out, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.trigs)
}

func (r *recorder) trigger(i int) Trigger {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.trigs[i]
}

// waitFor waits (in real time, for asynchronous deliveries; never to assert a
// timer) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf)
		}
	})
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// runLoop runs l until the test ends.
func runLoop(t *testing.T, l *Loop, also ...func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, f := range append([]func(context.Context) error{l.Run}, also...) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				t.Errorf("run: %v", err)
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}
