package reaction

import (
	"testing"
	"time"
)

func TestLoopTimings(t *testing.T) {
	busy, idle := Outcome{Moving: true}, Outcome{}
	skipped := Outcome{Skipped: true}
	type step struct {
		signal  string        // a pending task for this pool, before the advance
		advance time.Duration // then the clock moves by this much
		// what follows: the iterations so far, the last one's reason and start
		// (after the loop's start)
		want   int
		reason string
		at     time.Duration
	}
	cases := []struct {
		name    string
		idle    time.Duration
		answers []Outcome // per iteration; the last repeats
		steps   []step
	}{
		{name: "idle: the start iteration, then none without signals", answers: []Outcome{idle},
			steps: []step{{advance: 10 * time.Minute, want: 1, reason: "start"}}},
		{name: "busy: the backstop every 10s", answers: []Outcome{busy},
			steps: []step{
				{advance: 10 * time.Second, want: 2, reason: "backstop", at: 10 * time.Second},
				{advance: 10 * time.Second, want: 3, reason: "backstop", at: 20 * time.Second},
			}},
		{name: "busy, then idle: the backstop stops", answers: []Outcome{busy, idle},
			steps: []step{
				{advance: 10 * time.Second, want: 2, reason: "backstop", at: 10 * time.Second},
				{advance: 10 * time.Minute, want: 2, reason: "backstop", at: 10 * time.Second},
			}},
		{name: "an idle backstop when set", idle: time.Minute, answers: []Outcome{idle},
			steps: []step{{advance: time.Minute, want: 2, reason: "backstop", at: time.Minute}}},
		{name: "a signal at once when the last began a second ago or more", answers: []Outcome{busy},
			steps: []step{
				{advance: 3 * time.Second},
				{signal: "p/a", want: 2, reason: "signal", at: 3 * time.Second},
				// the backstop counts from the last iteration, whatever started it
				{advance: 10 * time.Second, want: 3, reason: "backstop", at: 13 * time.Second},
			}},
		{name: "a signal right after an iteration waits for the gap", answers: []Outcome{idle},
			steps: []step{
				{signal: "p/a", want: 1, reason: "start"},
				{advance: time.Second, want: 2, reason: "signal", at: time.Second},
			}},
		{name: "skipped iterations are retried, doubling, with their signals", answers: []Outcome{idle, skipped, skipped, idle},
			steps: []step{
				{advance: 5 * time.Second},
				{signal: "p/a", want: 2, reason: "signal", at: 5 * time.Second},
				// a retry carrying signals is theirs
				{advance: DefaultRetry, want: 3, reason: "signal", at: 5*time.Second + DefaultRetry},
				{advance: 2 * DefaultRetry, want: 4, reason: "signal", at: 5*time.Second + 3*DefaultRetry},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := newLogger(t)
			clock := NewManualClock(epoch)
			rec := &recorder{answers: tc.answers, outcome: tc.answers[len(tc.answers)-1]}
			sig := NewSignals(clock.Now)
			loop := &Loop{Signals: sig, Iterate: rec.iterate, Clock: clock, Log: log, Idle: tc.idle}
			runLoop(t, loop)
			waitFor(t, "the start iteration", func() bool { return rec.count() == 1 })
			for i, s := range tc.steps {
				before := rec.count()
				if s.signal != "" {
					sig.Add(Signal{Pool: s.signal, Pending: 1})
				}
				if s.advance > 0 {
					if s.want > before {
						waitFor(t, "the loop's timer", func() bool { return clock.Waiters() > 0 })
					}
					clock.Advance(s.advance)
				}
				if s.want == 0 {
					continue
				}
				waitFor(t, "the iterations", func() bool { return rec.count() >= s.want })
				if s.want == before && clock.Waiters() > 0 && !sig.HasPending() && rec.outcome.Moving {
					t.Fatalf("step %d: a timer is armed though nothing is due", i)
				}
				if n := rec.count(); n != s.want {
					t.Fatalf("step %d: %d iterations, want %d", i, n, s.want)
				}
				tr := rec.trigger(s.want - 1)
				if tr.Reason != s.reason || !tr.At.Equal(epoch.Add(s.at)) {
					t.Fatalf("step %d: iteration %d is %q at +%v, want %q at +%v", i, s.want, tr.Reason, tr.At.Sub(epoch), s.reason, s.at)
				}
				if tr.Reason == "signal" {
					if tr.Batch.Pools["p/a"].Pending != 1 {
						t.Fatalf("step %d: iteration %d carries %v, want the signal", i, s.want, tr.Batch.Pools)
					}
					if lat := tr.At.Sub(tr.Batch.Oldest); lat > time.Second {
						t.Fatalf("step %d: latency %v", i, lat)
					}
				}
			}
		})
	}
}

func TestLoopIdleArmsNoTimer(t *testing.T) {
	log, _ := newLogger(t)
	clock := NewManualClock(epoch)
	rec := &recorder{}
	runLoop(t, &Loop{Iterate: rec.iterate, Clock: clock, Log: log})
	waitFor(t, "the start iteration", func() bool { return rec.count() == 1 })
	// An idle deployment costs the loop nothing but its wait for a signal.
	time.Sleep(20 * time.Millisecond)
	if n := clock.Waiters(); n != 0 {
		t.Fatalf("%d timers armed while idle, want none", n)
	}
}
