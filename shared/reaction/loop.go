package reaction

import (
	"context"
	"log/slog"
	"time"
)

// The deployed timings (see Loop).
const (
	// DefaultMinGap: signals within a second coalesce into one iteration.
	DefaultMinGap = time.Second
	// DefaultBusy is the backstop while a pool has work: worker-manager's loop.
	DefaultBusy = 10 * time.Second
	// DefaultRetry is the first pause after a skipped or failed iteration; it
	// doubles up to DefaultMaxRetry.
	DefaultRetry    = 250 * time.Millisecond
	DefaultMaxRetry = 4 * time.Second
)

// Trigger is why the Loop starts an iteration, and the signals it carries.
type Trigger struct {
	// Reason is "start" (the loop's first), "signal", "backstop" or "retry".
	Reason string
	Batch  Batch
	// At is when the iteration starts, by the Loop's clock.
	At time.Time
}

// Outcome is what the Loop needs to know of an iteration.
type Outcome struct {
	// Skipped: another iteration held the lease, so this one did nothing.
	Skipped bool
	// Moving: some pool has work (provision.Report.Moving), so the busy backstop
	// applies.
	Moving bool
	// Pools are the pools' demand keys ("provisionerId/workerType"), for the
	// subscriptions; nil when unknown.
	Pools []string
}

// Loop decides when iterations start:
//
//   - a pending-task signal starts one at once, unless one started less than
//     MinGap ago: then one starts MinGap after it (or as soon as it ends), taking
//     every signal that arrived meanwhile;
//   - without signals, one starts Busy after the last while its outcome was Moving,
//     and Idle after it otherwise (0: none; the provisioner's schedule is then the
//     idle backstop);
//   - the loop's first iteration starts at once (it learns whether pools move,
//     and which pools to listen for);
//   - a skipped (lease held) or failed iteration gives its signals back and is
//     retried after Retry, doubling to MaxRetry.
//
// Iterations run one at a time, in the Loop's goroutine.
type Loop struct {
	Signals *Signals
	Iterate func(ctx context.Context, tr Trigger) (Outcome, error)
	// OnPools, if set, receives each iteration's pools (Outcome.Pools, when known).
	OnPools func(pools []string)
	Clock   Clock
	Log     *slog.Logger

	MinGap, Busy, Idle, Retry, MaxRetry time.Duration

	stats Stats
}

// Stats are what a Loop did, for its closing log line and for tests.
type Stats struct {
	Iterations int
	Skipped    int
	Failed     int
	ByReason   map[string]int
	// MaxLatency is the longest time from a pending signal's arrival to the start
	// of the iteration that took it, by the Loop's clock.
	MaxLatency time.Duration
}

func (l *Loop) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&l.MinGap, DefaultMinGap)
	def(&l.Busy, DefaultBusy)
	def(&l.Retry, DefaultRetry)
	def(&l.MaxRetry, DefaultMaxRetry)
	if l.Clock == nil {
		l.Clock = RealClock{}
	}
	if l.Log == nil {
		l.Log = slog.Default()
	}
	if l.Signals == nil {
		l.Signals = NewSignals(l.Clock.Now)
	}
	if l.stats.ByReason == nil {
		l.stats.ByReason = map[string]int{}
	}
}

// Stats returns what the loop did so far; call it after Run returns.
func (l *Loop) Stats() Stats { return l.stats }

// Run iterates until ctx ends, then returns nil.
func (l *Loop) Run(ctx context.Context) error {
	l.defaults()
	st := &loopState{due: l.Clock.Now(), why: "start", retry: l.Retry}
	for {
		st.arm(l.Clock)
		select {
		case <-ctx.Done():
			return nil
		case <-l.Signals.Ready():
			st.signalled(l)
			continue
		case <-st.timer:
		}
		st.timer, st.timerDue = nil, time.Time{}
		if stop := l.iterate(ctx, st); stop {
			return nil
		}
	}
}

// loopState is when the loop iterates next and why.
type loopState struct {
	last  time.Time // the last iteration's start (zero: none yet)
	due   time.Time // the next iteration (zero: none until a signal)
	why   string
	retry time.Duration

	timer    <-chan time.Time
	timerDue time.Time
}

// arm sets the timer for due, if it moved.
func (st *loopState) arm(clock Clock) {
	if st.due.Equal(st.timerDue) {
		return
	}
	st.timer, st.timerDue = nil, st.due
	if !st.due.IsZero() {
		st.timer = clock.After(st.due.Sub(clock.Now()))
	}
}

// signalled brings the next iteration forward for pending signals: at once, or
// MinGap after the last one.
func (st *loopState) signalled(l *Loop) {
	if !l.Signals.HasPending() {
		return
	}
	at := l.Clock.Now()
	if !st.last.IsZero() && st.last.Add(l.MinGap).After(at) {
		at = st.last.Add(l.MinGap)
	}
	if st.due.IsZero() || at.Before(st.due) {
		st.due, st.why = at, "signal"
	}
}

// iterate runs one iteration with the signals taken so far, and schedules the
// next: a retry (backing off) if it failed or found the lease held, else sooner
// for signals left, the busy backstop while pools move, the idle one otherwise. It
// reports whether the loop must stop (the context ended).
func (l *Loop) iterate(ctx context.Context, st *loopState) bool {
	b := l.Signals.Take()
	if b.Pending() > 0 && st.why != "start" {
		st.why = "signal"
	}
	start := l.Clock.Now()
	out, err := l.Iterate(ctx, Trigger{Reason: st.why, Batch: b, At: start})
	if ctx.Err() != nil && err != nil {
		l.Signals.Restore(b)
		return true
	}
	if err != nil || out.Skipped {
		l.Signals.Restore(b)
		if err != nil {
			l.stats.Failed++
			l.Log.WarnContext(ctx, "reaction: iteration failed; retrying", "reason", st.why, "retryIn", st.retry.String(), "error", err.Error())
		} else {
			l.stats.Skipped++
			l.Log.DebugContext(ctx, "reaction: iteration skipped (another holds the lease); retrying", "retryIn", st.retry.String())
		}
		st.due, st.why = l.Clock.Now().Add(st.retry), "retry"
		st.retry = min(2*st.retry, l.MaxRetry)
		return false
	}
	st.retry = l.Retry
	l.stats.Iterations++
	l.stats.ByReason[st.why]++
	if !b.Oldest.IsZero() {
		l.stats.MaxLatency = max(l.stats.MaxLatency, start.Sub(b.Oldest))
	}
	l.Log.DebugContext(ctx, "reaction: iteration", "reason", st.why, "pools", b.Keys(), "pendingSignals", b.Pending(),
		"latencyMs", latencyMs(b, start), "moving", out.Moving)
	if l.OnPools != nil && out.Pools != nil {
		l.OnPools(out.Pools)
	}
	st.last = start
	switch {
	case l.Signals.HasPending():
		st.due, st.why = st.last.Add(l.MinGap), "signal"
	case out.Moving:
		st.due, st.why = st.last.Add(l.Busy), "backstop"
	case l.Idle > 0:
		st.due, st.why = st.last.Add(l.Idle), "backstop"
	default:
		st.due = time.Time{}
	}
	return false
}

func latencyMs(b Batch, start time.Time) int64 {
	if b.Oldest.IsZero() {
		return 0
	}
	return start.Sub(b.Oldest).Milliseconds()
}
