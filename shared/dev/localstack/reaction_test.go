package localstack

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/store"
)

// With Reaction, a task becoming pending in the fake queue launches a worker for
// an empty pool at once: the backstop is an hour away, so only the queue's signal
// can have started the iteration.
func TestReactionLaunchesForAnEmptyPoolOnItsSignal(t *testing.T) {
	out := &syncBuffer{}
	o := Options{Port: freePort(t), Out: out, RootAccessToken: "e2e-root-access-token-0123456789", Reaction: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), ProvisionInterval: time.Hour, BootDelay: time.Second}
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	// The loop's first iteration, at the start, finds no pool; nothing happens
	// after it until a task comes.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "no worker types or pools yet") {
		if time.Now().After(deadline) {
			t.Fatalf("no first iteration:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	createPool(t, s, "proj/linux")
	time.Sleep(300 * time.Millisecond)
	if ws, _ := s.App.Store.Workers(context.Background(), "proj/linux"); len(ws) != 0 {
		t.Fatalf("workers %v before any task", ws)
	}
	s.Queue.Set("proj", "linux", 1)
	deadline = time.Now().Add(30 * time.Second)
	for {
		ws, err := s.App.Store.Workers(context.Background(), "proj/linux")
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) == 1 && ws[0].State != store.Stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker launched for the pending task; workers %+v\noutput:\n%s", ws, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer func() { t.Log(grepLine(out.String(), "reaction: iteration")) }()
	// The worker is recorded during the iteration; the line comes at its end.
	for !strings.Contains(out.String(), "reaction: iteration for proj/linux") {
		if time.Now().After(deadline) {
			t.Fatalf("the output does not say the signal started the iteration:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func grepLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
