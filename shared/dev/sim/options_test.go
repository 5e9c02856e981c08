package sim

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/provision"
)

// burst is a trace of quiet, then a burst of n tasks into an empty pool at at,
// then quiet until the end.
func burst(at time.Duration, n int, d time.Duration) []Task {
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = Task{Pending: at + time.Duration(i)*10*time.Millisecond, Duration: d}
	}
	return tasks
}

// firstLaunch is when r's first worker was launched.
func firstLaunch(r *run) time.Duration {
	first := time.Duration(-1)
	for _, w := range r.all {
		if first < 0 || w.requested < first {
			first = w.requested
		}
	}
	return first
}

// TestReaction: a burst into an empty pool is provisioned for within the
// reaction (1 s) by the policies that react, as the deployed signals do, and only
// at the next schedule or loop otherwise. Before reaction was modelled, the empty
// pool waited for the next scheduled invocation.
func TestReaction(t *testing.T) {
	at := 2*time.Hour + 17*time.Second + 300*time.Millisecond
	for _, tc := range []struct {
		name     string
		reaction time.Duration
		policy   Policy
		lo, hi   time.Duration // the first launch, after the burst
	}{
		{"workerfleet reacts within 1 s", 0, PolicyWorkerfleet, 0, time.Second},
		{"within 5 s when told so", 5 * time.Second, PolicyWorkerfleet, 4 * time.Second, 5 * time.Second},
		{"without reaction, the next schedule", -1, PolicyWorkerfleet, 42 * time.Second, 43 * time.Second},
		{"worker-manager: its loop", 0, PolicyWMv25, 0, 11 * time.Second},
		{"worker-manager given the reaction", 0, PolicyWMv25Same, 0, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs, _ := simulate(t, burst(at, 12, 10*time.Minute), func(o *Options) {
				o.Policies, o.Reaction, o.Warmup = []Policy{tc.policy}, tc.reaction, time.Hour
			})
			if got := firstLaunch(runs[0]) - at; got < tc.lo || got > tc.hi {
				t.Errorf("first launch %v after the burst, want within [%v, %v]", got, tc.lo, tc.hi)
			}
		})
	}
}

// TestCadenceOption: -cadence X sets the pause between iterations while demand
// moves; it used to turn the fast loop off (a cadence without a window allows no
// second iteration in an invocation).
func TestCadenceOption(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reaction time.Duration
		cadence  provision.Cadence
		backstop time.Duration
		per      float64 // iterations per invocation, at least
	}{
		{"without reaction: 20 s inside each invocation", -1, provision.Cadence{Interval: 20 * time.Second}, 0, 1.5},
		{"without reaction: none", -1, provision.Cadence{Interval: -1}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs, _ := simulate(t, synthetic(5), func(o *Options) {
				o.Policies, o.Reaction, o.Cadence, o.Backstop = []Policy{PolicyWorkerfleet}, tc.reaction, tc.cadence, tc.backstop
			})
			r := runs[0]
			per := float64(r.iterations) / float64(r.invocations)
			if per < tc.per || (tc.per == 1 && per != 1) {
				t.Errorf("%d iterations in %d invocations (%.2f each), want at least %v", r.iterations, r.invocations, per, tc.per)
			}
		})
	}
	// With reaction, the backstop is the cadence: every 10 s while work, else
	// the schedule.
	runs, _ := simulate(t, synthetic(5), func(o *Options) { o.Policies, o.Backstop = []Policy{PolicyWorkerfleet}, 30*time.Second })
	fast, _ := simulate(t, synthetic(5), func(o *Options) { o.Policies = []Policy{PolicyWorkerfleet} })
	if slow, quick := runs[0].iterations, fast[0].iterations; float64(slow) > 0.6*float64(quick) {
		t.Errorf("a 30 s backstop ran %d iterations, the 10 s one %d: the option does not reach the backstop", slow, quick)
	}
}

// TestIdleTimeoutOptions: WorkerIdleTimeout is what workerfleet's provisioner
// writes into every worker's user data (it used to reach only workers whose user
// data set none, so only the baseline); IdleTimeout is the workers' own, which
// worker-manager's workers keep.
func TestIdleTimeoutOptions(t *testing.T) {
	for _, tc := range []struct {
		name           string
		wf, own        time.Duration
		wantWF, wantWM time.Duration // 0: chosen per pool, not one value
	}{
		{"fixed", 2 * time.Minute, 7 * time.Minute, 2 * time.Minute, 7 * time.Minute},
		{"off: workerfleet's keep their own too", -1, 7 * time.Minute, 7 * time.Minute, 7 * time.Minute},
		{"auto: each pool's own", 0, 7 * time.Minute, 0, 7 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs, _ := simulate(t, synthetic(6), func(o *Options) { o.WorkerIdleTimeout, o.IdleTimeout = tc.wf, tc.own })
			for _, r := range runs {
				seen := map[time.Duration]int{}
				for _, w := range r.all {
					seen[w.idleTimeout]++
				}
				want := tc.wantWM
				if r.policy == PolicyWorkerfleet {
					want = tc.wantWF
				}
				switch {
				case want > 0 && (len(seen) != 1 || seen[want] == 0):
					t.Errorf("%s: workers' idle timeouts %v, want all %v", r.policy, seen, want)
				case want == 0 && len(seen) < 2:
					t.Errorf("%s: workers' idle timeouts %v, want the pool's choice to move from the fallback", r.policy, seen)
				}
			}
		})
	}
}

// TestBaselineLoop: worker-manager iterates every 10 s plus its iteration time.
func TestBaselineLoop(t *testing.T) {
	runs, _ := simulate(t, synthetic(7), func(o *Options) { o.Policies = []Policy{PolicyWMv25, PolicyWMToday} })
	for _, r := range runs {
		want := int(r.o.End/(11*time.Second)) + 1
		if r.iterations != want {
			t.Errorf("%s: %d iterations in %v, want %d (every 11 s)", r.policy, r.iterations, r.o.End, want)
		}
	}
}

// TestCapacityPerInstance: with capacityPerInstance 2, capacity-hours are twice
// the instance-hours, task-hours never exceed capacity-hours, and utilisation
// is task-hours over capacity-hours (it used to print more task-hours than
// worker-hours and utilisation 100 %).
func TestCapacityPerInstance(t *testing.T) {
	two := strings.ReplaceAll(DefaultPool, `"capacityPerInstance": 1`, `"capacityPerInstance": 2`)
	_, res := simulate(t, synthetic(8), func(o *Options) { o.Pool = json.RawMessage(two) })
	for _, p := range res.Summary.Policies {
		if math.Abs(p.CapacityHrs-2*p.WorkerHrs) > 0.2 {
			t.Errorf("%s: %v capacity-hours for %v worker-hours, want twice", p.Policy, p.CapacityHrs, p.WorkerHrs)
		}
		if p.TaskHrs > p.CapacityHrs {
			t.Errorf("%s: %v task-hours exceed %v capacity-hours", p.Policy, p.TaskHrs, p.CapacityHrs)
		}
		if want := round(p.TaskHrs/p.CapacityHrs, 4); math.Abs(p.Util-want) > 0.002 || p.Util >= 0.999 {
			t.Errorf("%s: utilisation %v, want task-hours over capacity-hours %v", p.Policy, p.Util, want)
		}
	}
}

// TestWholePoolDefinition: the simulator takes a whole pool definition, as the
// walkthrough's pool file and createWorkerPool have it, as well as its config.
func TestWholePoolDefinition(t *testing.T) {
	whole := `{"providerId": "aws", "description": "a pool", "owner": "me@example.com", "emailOnError": false, "config": ` +
		strings.Replace(DefaultPool, `"maxCapacity": 1000`, `"maxCapacity": 7`, 1) + `}`
	runs, _ := simulate(t, synthetic(9), func(o *Options) { o.Pool, o.Policies = json.RawMessage(whole), []Policy{PolicyWMv25} })
	peak := 0.0
	for _, s := range runs[0].samples {
		peak = max(peak, s.RunningCapacity+s.Requested)
	}
	if peak != 7 {
		t.Errorf("capacity peaked at %v, want the definition's maxCapacity 7", peak)
	}
	if _, err := poolConfig(json.RawMessage(`[1]`)); err == nil {
		t.Error("a pool that is not an object was accepted")
	}
}

// TestControlPlaneCost: each policy's total includes the control plane's cost,
// from its own iterations, events and DynamoDB requests in the measured window.
func TestControlPlaneCost(t *testing.T) {
	runs, res := simulate(t, synthetic(10), nil)
	for i, p := range res.Summary.Policies {
		c := p.Control
		if c.Iterations == 0 || c.Invocations == 0 || c.Events == 0 || c.DynamoReads == 0 || c.DynamoWrites == 0 {
			t.Errorf("%s: control plane %+v: something was not counted", p.Policy, c)
		}
		if c.Iterations > runs[i].iterations {
			t.Errorf("%s: %d iterations measured of %d in all", p.Policy, c.Iterations, runs[i].iterations)
		}
		if p.ControlUSD <= 0 || math.Abs(p.TotalUSD-(p.CostUSD+p.ControlUSD)) > 0.011 {
			t.Errorf("%s: total $%v is not fleet $%v plus control plane $%v", p.Policy, p.TotalUSD, p.CostUSD, p.ControlUSD)
		}
	}
}
