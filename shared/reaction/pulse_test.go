package reaction

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// pulseSetup starts a Loop and a Pulse listener (on url) feeding it, with rec as
// the iteration; the pools are proj/linux and proj/win. It returns once the first
// iteration ran and both pools are bound.
func pulseSetup(t *testing.T, url string, rec *recorder) (*ManualClock, *Signals, *Pulse, *logBuffer) {
	t.Helper()
	log, buf := newLogger(t)
	clock := NewManualClock(epoch)
	sig := NewSignals(clock.Now)
	pl := &Pulse{URL: url, Queue: "test-" + t.Name(), Signals: sig, Log: log, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	rec.outcome.Pools = []string{"proj/linux", "proj/win"}
	for i := range rec.answers {
		rec.answers[i].Pools = rec.outcome.Pools
	}
	loop := &Loop{Signals: sig, Iterate: rec.iterate, OnPools: pl.SetPools, Clock: clock, Log: log}
	runLoop(t, loop, pl.Run)
	waitFor(t, "the first iteration and the bindings", func() bool { return rec.count() == 1 && pl.Stats().Bound == 2 })
	if tr := rec.trigger(0); tr.Reason != "start" || !tr.At.Equal(epoch) {
		t.Fatalf("first iteration: %+v, want reason start at the loop's start", tr)
	}
	return clock, sig, pl, buf
}

func TestPulseSignalStartsIterationWithinASecond(t *testing.T) {
	url := rabbitServer(t)
	pub := newPublisher(t, url)
	rec := &recorder{}
	clock, sig, pl, _ := pulseSetup(t, url, rec)

	// An idle deployment: no iteration until something happens.
	clock.Advance(30 * time.Second)
	// A task for a pool this deployment does not have, then one for proj/linux.
	pub.publish(ExchangePending, "proj/other", "taskOther")
	pub.publish(ExchangePending, "proj/linux", "task1")
	waitFor(t, "an iteration for the pending task", func() bool { return rec.count() == 2 })
	tr := rec.trigger(1)
	if tr.Reason != "signal" || len(tr.Batch.Pools) != 1 || tr.Batch.Pools["proj/linux"] != (Delta{Pending: 1}) {
		t.Fatalf("iteration 2: reason %q, pools %v; want a signal for proj/linux alone", tr.Reason, tr.Batch.Pools)
	}
	if lat := tr.At.Sub(tr.Batch.Oldest); lat != 0 || !tr.At.Equal(epoch.Add(30*time.Second)) {
		t.Fatalf("iteration 2 started %v after its signal (at %v); want at once", lat, tr.At)
	}
	if st := pl.Stats(); st.Deliveries != 1 {
		t.Fatalf("deliveries %d: the other pool's message reached the listener", st.Deliveries)
	}

	// Another pool's task right after: the next iteration waits out the second
	// since the last began, and takes it then.
	pub.publish(ExchangePending, "proj/win", "task2")
	waitFor(t, "the signal", sig.HasPending)
	waitFor(t, "the loop to wait for the gap", func() bool { return clock.Waiters() > 0 })
	if n := rec.count(); n != 2 {
		t.Fatalf("%d iterations before the gap passed, want 2", n)
	}
	clock.Advance(time.Second)
	waitFor(t, "the iteration after the gap", func() bool { return rec.count() == 3 })
	tr = rec.trigger(2)
	if tr.Reason != "signal" || tr.Batch.Pools["proj/win"] != (Delta{Pending: 1}) || len(tr.Batch.Pools) != 1 {
		t.Fatalf("iteration 3: reason %q, pools %v; want a signal for proj/win", tr.Reason, tr.Batch.Pools)
	}
	if lat := tr.At.Sub(tr.Batch.Oldest); lat > time.Second {
		t.Fatalf("iteration 3 started %v after its signal, want at most 1s", lat)
	}

	// A claim rides along with the next iteration but does not start one.
	pub.publish(ExchangeRunning, "proj/win", "task2")
	waitFor(t, "the claim", func() bool { return pl.Stats().Signals == 3 })
	pub.publish(ExchangePending, "proj/win", "task3")
	waitFor(t, "the next signal", sig.HasPending)
	waitFor(t, "the loop to wait for the gap", func() bool { return clock.Waiters() > 0 })
	clock.Advance(time.Second)
	waitFor(t, "the iteration for task3", func() bool { return rec.count() == 4 })
	if got := rec.trigger(3).Batch.Pools["proj/win"]; got != (Delta{Pending: 1, Running: 1}) {
		t.Fatalf("iteration 4 carries %+v for proj/win, want a pending task and a claim", got)
	}
}

func TestPulseBurstCoalesces(t *testing.T) {
	url := rabbitServer(t)
	pub := newPublisher(t, url)
	rec := &recorder{hold: 2, release: make(chan struct{})}
	clock, sig, pl, _ := pulseSetup(t, url, rec)

	clock.Advance(time.Minute)
	for i := range 100 {
		pub.publish(ExchangePending, "proj/linux", fmt.Sprintf("burst%03d", i))
	}
	for i := range 10 { // the queue may send a message again
		pub.publish(ExchangePending, "proj/linux", fmt.Sprintf("burst%03d", i))
	}
	waitFor(t, "the burst's first iteration", func() bool { return rec.count() == 2 })
	waitFor(t, "the whole burst", func() bool { return pl.Stats().Deliveries == 110 })
	close(rec.release) // the first iteration ends after the burst arrived
	if sig.HasPending() {
		waitFor(t, "the loop to wait for the gap", func() bool { return clock.Waiters() > 0 })
		clock.Advance(time.Second)
		waitFor(t, "the burst's second iteration", func() bool { return rec.count() == 3 })
	}
	var pending int64
	n := rec.count()
	for i := 1; i < n; i++ {
		tr := rec.trigger(i)
		pending += tr.Batch.Pending()
		if lat := tr.At.Sub(tr.Batch.Oldest); tr.Reason != "signal" || lat > time.Second {
			t.Errorf("iteration %d: reason %q, %v after its first signal", i+1, tr.Reason, lat)
		}
	}
	if n-1 > 2 || pending != 100 {
		t.Fatalf("the burst of 100 (and 10 repeats) took %d iterations carrying %d pending tasks; want at most 2 carrying 100", n-1, pending)
	}
	t.Logf("a burst of 100 task-pending messages: %d iterations", n-1)
}

func TestPulseReconnectsAndBackstopCovers(t *testing.T) {
	url := rabbitServer(t)
	pub := newPublisher(t, url)
	px := newProxy(t, strings.TrimSuffix(strings.TrimPrefix(url, "amqp://guest:guest@"), "/"))
	rec := &recorder{outcome: Outcome{Moving: true}} // pools have work: the 10 s backstop
	clock, sig, pl, logs := pulseSetup(t, "amqp://guest:guest@"+px.Addr()+"/", rec)
	waitFor(t, "the listener", pl.Connected)

	px.Down() // Pulse is unreachable
	waitFor(t, "the drop", func() bool { return !pl.Connected() && pl.Stats().Drops == 1 })
	waitFor(t, "the backstop's timer", func() bool { return clock.Waiters() > 0 })
	clock.Advance(10 * time.Second)
	waitFor(t, "the backstop iteration", func() bool { return rec.count() == 2 })
	if tr := rec.trigger(1); tr.Reason != "backstop" || !tr.At.Equal(epoch.Add(10*time.Second)) {
		t.Fatalf("iteration 2: %q at %v, want the backstop 10s after the first", tr.Reason, tr.At)
	}
	// A task becomes pending while the listener is away: the queue keeps it.
	pub.publish(ExchangePending, "proj/linux", "whileAway")
	px.Up()
	waitFor(t, "the reconnection", func() bool { return pl.Stats().Connects == 2 })
	waitFor(t, "the kept message", sig.HasPending)
	waitFor(t, "the loop to wait for the gap", func() bool { return clock.Waiters() > 0 })
	clock.Advance(time.Second)
	waitFor(t, "the iteration for it", func() bool { return rec.count() == 3 })
	if tr := rec.trigger(2); tr.Reason != "signal" || tr.Batch.Pools["proj/linux"].Pending != 1 {
		t.Fatalf("iteration 3: %q, pools %v; want the kept signal", tr.Reason, tr.Batch.Pools)
	}
	out := logs.String()
	for _, want := range []string{`"msg":"pulse: connected"`, `"msg":"pulse: connection dropped; the backstop covers until it is back"`, `"msg":"pulse: reconnecting"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	if strings.Contains(out, "guest:guest") {
		t.Errorf("the log holds the credentials:\n%s", out)
	}
}
