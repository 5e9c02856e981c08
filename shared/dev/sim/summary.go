package sim

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/jedib0t/go-pretty/v6/table"
	"github.com/jedib0t/go-pretty/v6/text"
)

// Summary is what a simulation measured, over trace time [Warmup, End): tasks
// that became pending in it, worker time clipped to it. Its JSON is summary.json.
type Summary struct {
	Trace    string          `json:"trace"`
	Seed     int64           `json:"seed"`
	Market   string          `json:"market"`
	Policies []PolicySummary `json:"policies"`
	// Warmup and End bound the measured window (not in summary.json).
	Warmup, End time.Duration `json:"-"`
}

// PolicySummary is one policy's figures.
type PolicySummary struct {
	Policy  Policy  `json:"policy"`
	Tasks   int     `json:"tasks"`
	WaitP50 float64 `json:"waitP50Seconds"`
	WaitP95 float64 `json:"waitP95Seconds"`
	WaitP99 float64 `json:"waitP99Seconds"`
	WaitMax float64 `json:"waitMaxSeconds"`
	// WorkerHrs are instance-hours; CapacityHrs the same weighted by each
	// worker's capacity (what utilisation divides by); TaskHrs what tasks ran.
	WorkerHrs   float64 `json:"workerHours"`
	CapacityHrs float64 `json:"capacityHours"`
	TaskHrs     float64 `json:"taskHours"`
	Util        float64 `json:"utilisation"`
	// CostUSD is the fleet's (EC2) cost; ControlUSD the control plane's (see
	// ControlPlane); TotalUSD their sum.
	CostUSD    float64      `json:"costUSD"`
	ControlUSD float64      `json:"controlPlaneUSD"`
	TotalUSD   float64      `json:"totalUSD"`
	Control    ControlPlane `json:"controlPlane"`
	// IdleTimeout is the median idle timeout of the workers launched in the
	// measured window, in seconds.
	IdleTimeout float64 `json:"idleTimeoutMedianSeconds"`
	Launched    int     `json:"workersLaunched"`
	NeverClaim  int     `json:"workersNeverClaimed"`
	Interrupted int     `json:"tasksRequeued"`
}

// ControlPlane is what the deployment's own AWS services did and cost in the
// measured window, as a workerfleet stack running the policy would bill them.
type ControlPlane struct {
	Iterations    int     `json:"iterations"`
	Invocations   int     `json:"invocations"`
	BilledSeconds float64 `json:"lambdaBilledSeconds"`
	Events        int     `json:"ec2Events"`
	Registrations int     `json:"registrations"`
	DynamoReads   int     `json:"dynamoReads"`
	DynamoWrites  int     `json:"dynamoWrites"`
	LambdaUSD     float64 `json:"lambdaUSD"`
	DynamoUSD     float64 `json:"dynamoUSD"`
	CloudWatchUSD float64 `json:"cloudWatchUSD"`
	APIUSD        float64 `json:"apiUSD"`
}

// controlPlane is a run's count of the control plane's work in the measured
// window.
type controlPlane struct {
	iterations, invocations, events, registrations int
	billed                                         time.Duration
	dynamo                                         map[string]int
}

// AWS list prices, us-east-1 (docs/deploying.md's "What it costs"), and the
// sizes the control plane's other functions are taken to have there.
const (
	lambdaUSDPerGBSecond = 0.0000133334 // arm64
	lambdaUSDPerRequest  = 0.20 / 1e6
	apiUSDPerRequest     = 1.00 / 1e6 // API Gateway HTTP API
	dynamoUSDPerWrite    = 0.625 / 1e6
	dynamoUSDPerRead     = 0.125 / 1e6
	// CloudWatch: the provisioner's 9 fleet-wide EMF metrics at $0.30 a
	// metric-month; logs at $0.50 per GB ingested, about 1 KB per iteration.
	cloudWatchMetrics           = 9
	cloudWatchUSDPerMetricMonth = 0.30
	logsUSDPerGB                = 0.50
	logBytesPerIteration        = 1024
	// ec2-events and the API's functions: 256 MB, 20 ms and 30 ms an invocation.
	eventSeconds, apiSeconds, smallFunctionGB = 0.02, 0.03, 0.25
)

// cost prices the control plane's work. Each DynamoDB request is priced as one
// request unit (items under 1 KB written, 4 KB read, and no index entries): a
// lower bound, since a worker record written with its index entries takes a
// few units.
func (c controlPlane) cost(o Options) ControlPlane {
	out := ControlPlane{Iterations: c.iterations, Invocations: c.invocations, BilledSeconds: c.billed.Seconds(),
		Events: c.events, Registrations: c.registrations}
	for op, n := range c.dynamo {
		switch op {
		case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem":
			out.DynamoWrites += n
		default:
			out.DynamoReads += n
		}
	}
	gb := float64(o.LambdaMemoryMB) / 1024
	out.LambdaUSD = c.billed.Seconds()*gb*lambdaUSDPerGBSecond + float64(c.invocations)*lambdaUSDPerRequest +
		float64(c.events)*(lambdaUSDPerRequest+eventSeconds*smallFunctionGB*lambdaUSDPerGBSecond)
	out.APIUSD = float64(c.registrations) * (apiUSDPerRequest + lambdaUSDPerRequest + apiSeconds*smallFunctionGB*lambdaUSDPerGBSecond)
	out.DynamoUSD = float64(out.DynamoWrites)*dynamoUSDPerWrite + float64(out.DynamoReads)*dynamoUSDPerRead
	months := (o.End - o.Warmup).Hours() / (30 * 24)
	out.CloudWatchUSD = cloudWatchMetrics*cloudWatchUSDPerMetricMonth*months + float64(c.iterations)*logBytesPerIteration/1e9*logsUSDPerGB
	return out
}

func (c ControlPlane) total() float64 { return c.LambdaUSD + c.DynamoUSD + c.CloudWatchUSD + c.APIUSD }

// summary measures the run, and returns the measured tasks' waits, sorted.
func (r *run) summary() (PolicySummary, []float64) {
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
		s.Interrupted += ts.requeued
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
	var idles []float64
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
			idles = append(idles, w.idleTimeout.Seconds())
			s.Launched++
			if w.claimedTasks == 0 {
				s.NeverClaim++
			}
		}
	}
	sort.Float64s(idles)
	s.IdleTimeout = percentile(idles, 0.5)
	s.WorkerHrs, s.CapacityHrs, s.TaskHrs = round(workerTime.Hours(), 1), round(capacityTime.Hours(), 1), round(taskTime.Hours(), 1)
	if capacityTime > 0 {
		s.Util = round(taskTime.Hours()/capacityTime.Hours(), 4)
	}
	s.Control = r.cp.cost(o)
	s.CostUSD = round(s.CostUSD, 2)
	s.ControlUSD = round(s.Control.total(), 2)
	s.TotalUSD = round(s.CostUSD+s.ControlUSD, 2)
	return s, waits
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

// Policy returns the figures of policy p, if it ran.
func (s *Summary) Policy(p Policy) (PolicySummary, bool) {
	for _, ps := range s.Policies {
		if ps.Policy == p {
			return ps, true
		}
	}
	return PolicySummary{}, false
}

// Comparison is workerfleet against one baseline.
type Comparison struct {
	Baseline Policy
	// P95 is workerfleet's p95 wait less the baseline's, in seconds; Total and
	// Fleet are workerfleet's total and fleet cost relative to the baseline's
	// (-0.2: 20 % less).
	P95, Total, Fleet float64
}

// Comparisons are workerfleet against every baseline that ran.
func (s *Summary) Comparisons() []Comparison {
	wf, ok := s.Policy(PolicyWorkerfleet)
	if !ok {
		return nil
	}
	var out []Comparison
	for _, b := range s.Policies {
		if b.Policy == PolicyWorkerfleet || b.TotalUSD == 0 {
			continue
		}
		out = append(out, Comparison{Baseline: b.Policy, P95: round(wf.WaitP95-b.WaitP95, 1),
			Total: (wf.TotalUSD - b.TotalUSD) / b.TotalUSD, Fleet: (wf.CostUSD - b.CostUSD) / b.CostUSD})
	}
	return out
}

// Lever is what one step from worker-manager as deployed towards workerfleet
// changes.
type Lever struct {
	Name     string
	From, To Policy
	P95      float64 // seconds
	Total    float64 // relative to From's total cost
}

// Levers are the steps wm-v25 → +reaction → +idle timeout → workerfleet, those
// whose both ends ran.
func (s *Summary) Levers() []Lever {
	steps := []Lever{
		{Name: "reaction (1 s signals, 10 s backstop, for an 11 s loop)", From: PolicyWMv25, To: PolicyWMv25Reaction},
		{Name: "idle timeout (each pool's own, for the workers' 15 min)", From: PolicyWMv25Reaction, To: PolicyWMv25Same},
		{Name: "policy (estimator and price-aware choice, for v25's)", From: PolicyWMv25Same, To: PolicyWorkerfleet},
	}
	var out []Lever
	for _, l := range steps {
		a, okA := s.Policy(l.From)
		b, okB := s.Policy(l.To)
		if !okA || !okB || a.TotalUSD == 0 {
			continue
		}
		l.P95, l.Total = round(b.WaitP95-a.WaitP95, 1), (b.TotalUSD-a.TotalUSD)/a.TotalUSD
		out = append(out, l)
	}
	return out
}

// WriteTable writes the summary as tables for people: the policies' figures,
// workerfleet against each baseline, what each lever contributes, and the control
// plane.
func (s *Summary) WriteTable(w io.Writer) {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetTitle("%s, seed %d, %s prices: measured over trace time [%s, %s)", s.Trace, s.Seed, s.Market, hours(s.Warmup), hours(s.End))
	t.AppendHeader(table.Row{"policy", "tasks", "wait p50", "wait p95", "wait p99", "worker-hours", "capacity-hours", "task-hours",
		"utilisation", "fleet cost", "control plane", "total", "workers", "idle timeout", "requeued"})
	for _, p := range s.Policies {
		t.AppendRow(table.Row{p.Policy, p.Tasks, secs(p.WaitP50), secs(p.WaitP95), secs(p.WaitP99),
			fmt.Sprintf("%.0f", p.WorkerHrs), fmt.Sprintf("%.0f", p.CapacityHrs), fmt.Sprintf("%.0f", p.TaskHrs), fmt.Sprintf("%.1f %%", 100*p.Util),
			fmt.Sprintf("$%.2f", p.CostUSD), fmt.Sprintf("$%.2f", p.ControlUSD), fmt.Sprintf("$%.2f", p.TotalUSD), p.Launched, secs(p.IdleTimeout), p.Interrupted})
	}
	cols := make([]table.ColumnConfig, 0, 13)
	for i := 2; i <= 15; i++ {
		cols = append(cols, table.ColumnConfig{Number: i, Align: text.AlignRight})
	}
	t.SetColumnConfigs(cols)
	t.Render()

	if cs := s.Comparisons(); len(cs) > 0 {
		ct := table.NewWriter()
		ct.SetOutputMirror(w)
		ct.SetTitle("workerfleet against each baseline")
		ct.AppendHeader(table.Row{"baseline", "p95 wait", "fleet cost", "total cost"})
		for _, c := range cs {
			ct.AppendRow(table.Row{c.Baseline, fmt.Sprintf("%+.1f s", c.P95), fmt.Sprintf("%+.1f %%", 100*c.Fleet), fmt.Sprintf("%+.1f %%", 100*c.Total)})
		}
		ct.Render()
	}
	if ls := s.Levers(); len(ls) > 0 {
		lt := table.NewWriter()
		lt.SetOutputMirror(w)
		lt.SetTitle("what each lever contributes, from worker-manager v25 as deployed")
		lt.AppendHeader(table.Row{"lever", "from", "to", "p95 wait", "total cost"})
		for _, l := range ls {
			lt.AppendRow(table.Row{l.Name, l.From, l.To, fmt.Sprintf("%+.1f s", l.P95), fmt.Sprintf("%+.1f %%", 100*l.Total)})
		}
		lt.Render()
	}
	cp := table.NewWriter()
	cp.SetOutputMirror(w)
	cp.SetTitle("control plane in the measured window (a workerfleet stack running the policy)")
	cp.AppendHeader(table.Row{"policy", "iterations", "invocations", "Lambda s", "EC2 events", "DynamoDB reads", "writes",
		"Lambda", "DynamoDB", "CloudWatch", "API", "total"})
	for _, p := range s.Policies {
		c := p.Control
		cp.AppendRow(table.Row{p.Policy, c.Iterations, c.Invocations, fmt.Sprintf("%.0f", c.BilledSeconds), c.Events, c.DynamoReads, c.DynamoWrites,
			fmt.Sprintf("$%.2f", c.LambdaUSD), fmt.Sprintf("$%.2f", c.DynamoUSD), fmt.Sprintf("$%.2f", c.CloudWatchUSD),
			fmt.Sprintf("$%.2f", c.APIUSD), fmt.Sprintf("$%.2f", p.ControlUSD)})
	}
	cp.Render()
}

// Goals are issue 26's: workerfleet's p95 wait within 2 s of the anchor
// simulator's (20.8 s on linux-metal, 20.9 s on linux-large; see
// shared/dev/sim/traces/README.md), its total cost at least 20 % below worker-manager
// v25 as deployed and at least 10 % below the same-settings baseline.
var anchorP95 = map[string]float64{"gecko-t-t-linux-metal": 20.8, "gecko-t-t-linux-large": 20.9}

// WriteSeeds writes one row per summary (a trace and a seed): workerfleet's
// figures, its ratios to the baselines and whether it meets the goals.
func WriteSeeds(w io.Writer, sums []*Summary) {
	t := table.NewWriter()
	t.SetOutputMirror(w)
	t.SetTitle("workerfleet, every seed")
	t.AppendHeader(table.Row{"trace", "seed", "p50", "p95", "p99", "total cost", "vs wm-v25", "vs wm-today", "vs same settings", "goals"})
	for _, s := range sums {
		wf, ok := s.Policy(PolicyWorkerfleet)
		if !ok {
			continue
		}
		vs := map[Policy]Comparison{}
		for _, c := range s.Comparisons() {
			vs[c.Baseline] = c
		}
		cell := func(p Policy) string {
			c, ok := vs[p]
			if !ok {
				return ""
			}
			return fmt.Sprintf("%+.1f %% / %+.1f s", 100*c.Total, c.P95)
		}
		var misses []string
		if a, ok := anchorP95[s.Trace]; ok && wf.WaitP95 > a+2 {
			misses = append(misses, fmt.Sprintf("p95 %.1f s over %.1f s", wf.WaitP95-(a+2), a+2))
		}
		if c, ok := vs[PolicyWMv25]; ok && c.Total > -0.20 {
			misses = append(misses, fmt.Sprintf("vs wm-v25 %.1f points short", 100*(c.Total+0.20)))
		}
		if c, ok := vs[PolicyWMv25Same]; ok && c.Total > -0.10 {
			misses = append(misses, fmt.Sprintf("vs same settings %.1f points short", 100*(c.Total+0.10)))
		}
		goals := "met"
		if len(misses) > 0 {
			goals = strings.Join(misses, "; ")
		}
		t.AppendRow(table.Row{s.Trace, s.Seed, secs(wf.WaitP50), secs(wf.WaitP95), secs(wf.WaitP99), fmt.Sprintf("$%.2f", wf.TotalUSD),
			cell(PolicyWMv25), cell(PolicyWMToday), cell(PolicyWMv25Same), goals})
	}
	t.Render()
}

func hours(d time.Duration) string { return fmt.Sprintf("%gh", d.Hours()) }

func secs(s float64) string { return fmt.Sprintf("%.1f s", s) }
