package sim

import (
	"fmt"
	"io"
	"math"
	"sort"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"

	"github.com/workerfleet/workerfleet/shared/provision"
)

// Summary is what a simulation measured, over trace time [Warmup, End): tasks
// that became pending in it, worker time clipped to it. Its JSON is summary.json.
type Summary struct {
	Trace    string          `json:"trace"`
	Policies []PolicySummary `json:"policies"`
	// Lambda is what the provisioner function would cost (not in summary.json).
	Lambda []LambdaCost `json:"-"`
	// Warmup and End bound the measured window (not in summary.json).
	Warmup, End time.Duration `json:"-"`
}

// PolicySummary is one policy's figures.
type PolicySummary struct {
	Policy     provision.Policy `json:"policy"`
	Tasks      int              `json:"tasks"`
	WaitP50    float64          `json:"waitP50Seconds"`
	WaitP95    float64          `json:"waitP95Seconds"`
	WaitP99    float64          `json:"waitP99Seconds"`
	WaitMax    float64          `json:"waitMaxSeconds"`
	WorkerHrs  float64          `json:"workerHours"`
	TaskHrs    float64          `json:"taskHours"`
	Util       float64          `json:"utilisation"`
	CostUSD    float64          `json:"costUSD"`
	Launched   int              `json:"workersLaunched"`
	NeverClaim int              `json:"workersNeverClaimed"`
}

// LambdaCost is the provisioner function's cost under one policy's cadence.
type LambdaCost struct {
	Policy          provision.Policy
	Invocations     int
	Iterations      int
	BilledSeconds   float64 // over the simulated span
	USDPerMonth     float64 // scaled to 30 days
	AddedUSDPerMont float64 // over one iteration per scheduled invocation
}

// Lambda prices (arm64, us-east-1) and the time one iteration is assumed to take
// against the real AWS APIs.
const (
	lambdaUSDPerGBSecond = 0.0000133334
	lambdaUSDPerRequest  = 0.20 / 1e6
	iterationSeconds     = 1.0
)

// summary measures the run.
func (r *run) summary() PolicySummary {
	o := r.o
	in := func(t time.Duration) bool { return t >= o.Warmup && t < o.End }
	clip := func(from, to time.Duration) time.Duration {
		from, to = max(from, o.Warmup), min(to, o.End)
		return max(0, to-from)
	}
	s := PolicySummary{Policy: r.policy}
	var waits []float64
	var taskTime time.Duration
	for i, t := range o.Tasks {
		ts := r.tasks[i]
		if ts.claimedAt >= 0 {
			taskTime += clip(ts.claimedAt, ts.claimedAt+t.Duration)
		}
		if !in(t.Pending) {
			continue
		}
		s.Tasks++
		claimed := ts.claimedAt
		if claimed < 0 {
			claimed = o.End // still waiting at the end
		}
		waits = append(waits, (claimed - t.Pending).Seconds())
	}
	sort.Float64s(waits)
	s.WaitP50, s.WaitP95, s.WaitP99 = percentile(waits, 0.50), percentile(waits, 0.95), percentile(waits, 0.99)
	if len(waits) > 0 {
		s.WaitMax = round(waits[len(waits)-1], 1)
	}
	var workerTime, capacityTime time.Duration
	for _, w := range r.all {
		end := w.ended
		if end < 0 {
			end = o.End
		}
		d := clip(w.requested, end)
		workerTime += d
		capacityTime += d * time.Duration(w.capacity)
		s.CostUSD += w.cost
		if in(w.requested) {
			s.Launched++
			if w.claimedTasks == 0 {
				s.NeverClaim++
			}
		}
	}
	s.WorkerHrs, s.TaskHrs = round(workerTime.Hours(), 1), round(taskTime.Hours(), 1)
	if capacityTime > 0 {
		s.Util = round(taskTime.Hours()/capacityTime.Hours(), 4)
	}
	s.CostUSD = round(s.CostUSD, 2)
	return s
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return round(sorted[max(0, min(i, len(sorted)-1))], 1)
}

func round(x float64, digits int) float64 {
	f := math.Pow(10, float64(digits))
	return math.Round(x*f) / f
}

// lambdaCost prices each policy's invocations: every invocation is billed from its
// first iteration to the end of its last, each iteration taking iterationSeconds.
func lambdaCost(o Options, runs []*run) []LambdaCost {
	months := o.End.Hours() / (30 * 24)
	var out []LambdaCost
	for _, r := range runs {
		billed := r.invocationSum.Seconds() + float64(r.iterations)*iterationSeconds
		usd := billed*float64(o.LambdaMemoryMB)/1024*lambdaUSDPerGBSecond + float64(r.invocations)*lambdaUSDPerRequest
		// One iteration per scheduled invocation, for comparison.
		scheduled := float64(o.End / o.Schedule)
		base := scheduled*iterationSeconds*float64(o.LambdaMemoryMB)/1024*lambdaUSDPerGBSecond + scheduled*lambdaUSDPerRequest
		out = append(out, LambdaCost{Policy: r.policy, Invocations: r.invocations, Iterations: r.iterations, BilledSeconds: billed,
			USDPerMonth: round(usd/months, 2), AddedUSDPerMont: round((usd-base)/months, 2)})
	}
	return out
}

// WriteTable writes the summary as a table for people.
func (s *Summary) WriteTable(w io.Writer) {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetTitle("%s: measured over trace time [%s, %s)", s.Trace, hours(s.Warmup), hours(s.End))
	t.AppendHeader(table.Row{"policy", "tasks", "wait p50", "wait p95", "wait p99", "wait max", "worker-hours", "task-hours", "utilisation", "cost", "workers", "never claimed"})
	for _, p := range s.Policies {
		t.AppendRow(table.Row{p.Policy, p.Tasks, secs(p.WaitP50), secs(p.WaitP95), secs(p.WaitP99), secs(p.WaitMax),
			fmt.Sprintf("%.0f", p.WorkerHrs), fmt.Sprintf("%.0f", p.TaskHrs), fmt.Sprintf("%.1f %%", 100*p.Util),
			fmt.Sprintf("$%.2f", p.CostUSD), p.Launched, p.NeverClaim})
	}
	if wf, wm, ok := s.pair(); ok && wm.CostUSD > 0 {
		t.AppendFooter(table.Row{"workerfleet vs worker-manager", "", "", fmt.Sprintf("%+.1f s", wf.WaitP95-wm.WaitP95), "", "",
			pct(wf.WorkerHrs, wm.WorkerHrs), "", "", pct(wf.CostUSD, wm.CostUSD), "", ""})
	}
	t.SetColumnConfigs([]table.ColumnConfig{
		{Number: 2, Align: text.AlignRight}, {Number: 3, Align: text.AlignRight}, {Number: 4, Align: text.AlignRight},
		{Number: 5, Align: text.AlignRight}, {Number: 6, Align: text.AlignRight}, {Number: 7, Align: text.AlignRight},
		{Number: 8, Align: text.AlignRight}, {Number: 9, Align: text.AlignRight}, {Number: 10, Align: text.AlignRight},
		{Number: 11, Align: text.AlignRight}, {Number: 12, Align: text.AlignRight},
	})
	t.Render()
	if len(s.Lambda) > 0 {
		lt := table.NewWriter()
		lt.SetOutputMirror(w)
		lt.SetTitle("provisioner Lambda")
		lt.AppendHeader(table.Row{"policy", "invocations", "iterations", "billed seconds", "USD / month", "added USD / month"})
		for _, l := range s.Lambda {
			lt.AppendRow(table.Row{l.Policy, l.Invocations, l.Iterations, fmt.Sprintf("%.0f", l.BilledSeconds),
				fmt.Sprintf("$%.2f", l.USDPerMonth), fmt.Sprintf("$%.2f", l.AddedUSDPerMont)})
		}
		lt.Render()
	}
}

// pair returns the workerfleet and worker-manager figures, if both ran.
func (s *Summary) pair() (wf, wm PolicySummary, ok bool) {
	var okf, okm bool
	for _, p := range s.Policies {
		switch p.Policy {
		case provision.PolicyWorkerfleet:
			wf, okf = p, true
		case provision.PolicyWorkerManager:
			wm, okm = p, true
		}
	}
	return wf, wm, okf && okm
}

func hours(d time.Duration) string { return fmt.Sprintf("%gh", d.Hours()) }

func secs(s float64) string { return fmt.Sprintf("%.1f s", s) }

func pct(a, b float64) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf("%+.1f %%", 100*(a-b)/b)
}
