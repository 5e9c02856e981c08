package reaction

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/workerfleet/workerfleet/shared/pool"
	"github.com/workerfleet/workerfleet/shared/provision"
	"github.com/workerfleet/workerfleet/shared/store"
)

// WakeSource is the source of the events the reaction function wakes the
// provisioner with; their detail is a Wake.
const WakeSource = "workerfleet.reaction"

// Wake is a wake event's detail: why, and the signals since the last iteration.
type Wake struct {
	Reason string           `json:"reason"`
	Pools  map[string]Delta `json:"pools,omitempty"`
}

// Result is the provisioner's answer to an invocation when reaction is on.
type Result struct {
	Iteration  string   `json:"iteration"`
	Skipped    bool     `json:"skipped,omitempty"`
	Moving     bool     `json:"moving"`
	Pools      []string `json:"pools"`
	DurationMs int64    `json:"durationMs"`
}

// Outcome is what the Loop reads of the Result.
func (r Result) Outcome() Outcome {
	return Outcome{Skipped: r.Skipped, Moving: r.Moving, Pools: r.Pools}
}

// WakeEvent is the event that wakes the provisioner for a trigger.
func WakeEvent(tr Trigger) (events.CloudWatchEvent, error) {
	detail, err := json.Marshal(Wake{Reason: tr.Reason, Pools: tr.Batch.Pools})
	if err != nil {
		return events.CloudWatchEvent{}, fmt.Errorf("wake event: %w", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return events.CloudWatchEvent{Version: "0", ID: "rx-" + hex.EncodeToString(b), DetailType: "Reaction", Source: WakeSource,
		Time: tr.At.UTC(), Detail: detail}, nil
}

// Handler is the provisioner function's handler when reaction is on: it runs
// p.HandleEvent (with p's Cadence off, one iteration per invocation), after
// applying a wake event's signals to d, and answers a Result. Scheduled events
// (the idle backstop) run the same way. p's OnReport still receives each report.
func Handler(p *provision.Provisioner, d *Demand) func(ctx context.Context, ev events.CloudWatchEvent) (Result, error) {
	var mu sync.Mutex // one invocation at a time per process: Lambda's model, and the local stack's
	return func(ctx context.Context, ev events.CloudWatchEvent) (Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Source == WakeSource && d != nil {
			var w Wake
			if len(ev.Detail) > 0 {
				if err := json.Unmarshal(ev.Detail, &w); err != nil {
					return Result{}, fmt.Errorf("wake event %s: %w", ev.ID, err)
				}
			}
			d.Apply(Batch{Pools: w.Pools})
		}
		var last *provision.Report
		prev := p.OnReport
		p.OnReport = func(r *provision.Report) {
			last = r
			if prev != nil {
				prev(r)
			}
		}
		defer func() { p.OnReport = prev }()
		if err := p.HandleEvent(ctx, ev); err != nil {
			return Result{}, err
		}
		if last == nil {
			return Result{Iteration: ev.ID, Skipped: true}, nil
		}
		return ResultOf(last), nil
	}
}

// ResultOf summarises a report.
func ResultOf(r *provision.Report) Result {
	res := Result{Iteration: r.ID, Skipped: r.Skipped, Moving: r.Moving(), DurationMs: r.Duration.Milliseconds(), Pools: []string{}}
	if r.Skipped {
		res.Pools = nil
	}
	for _, pr := range r.Pools {
		res.Pools = append(res.Pools, DemandKey(pr.Key))
	}
	sort.Strings(res.Pools)
	return res
}

// DemandKey is the Taskcluster demand key ("provisionerId/workerType") of a
// provisioner pool key: a worker pool's id, or an aws-provisioner worker type's.
func DemandKey(poolKey string) string {
	if wt, ok := store.WorkerTypeOf(poolKey); ok {
		return pool.ProvisionerID + "/" + wt
	}
	return poolKey
}

// InvokeTimeout bounds one synchronous invocation of the provisioner.
const InvokeTimeout = 5 * time.Minute
