package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/workerfleet/workerfleet/shared/dev/sim"
)

// simDocs is where the simulator is documented, from the repository's root.
const simDocs = "docs/provisioning.md#how-well-it-provisions"

// simulate is `local sim`: a trace replayed against a pool, every policy, for
// each seed; the tables on stdout, summary and chart per seed in -out.
func simulate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: local sim -trace FILE [-pool pool.json] [-out DIR] [-seeds 1,2,3] [options]\n\n"+
			"Replays a demand trace against one aws worker pool on a simulated clock, through the\n"+
			"provisioner, with workerfleet's policy and Taskcluster worker-manager's as baselines.\n"+
			"The trace format, the policies and the figures are described in %s. Options:\n", simDocs)
		fs.PrintDefaults()
	}
	var (
		o         sim.Options
		trace     = fs.String("trace", "", "the demand trace (8-byte records; shared/dev/sim/traces/ ships one, see its README.md)")
		poolPath  = fs.String("pool", "", "the aws worker pool to provision: its config, or a whole pool definition with the config under \"config\"; default: two types x three zones, spot, maxCapacity 1000")
		out       = fs.String("out", "", "directory for summary-seedN.json and chart-seedN.svg (none: only the tables)")
		policies  = fs.String("policies", joinPolicies(sim.DefaultPolicies), "policies to run, comma-separated, of "+joinPolicies(sim.Policies))
		seeds     = fs.String("seeds", "", "seeds to run, comma-separated, one run each (default: -seed's)")
		cadence   = fs.Duration("cadence", 0, "the pause between iterations while a pool has work: the backstop with reaction (10s), the cadence inside a scheduled invocation without (15s); negative: none")
		quiet     = fs.Bool("quiet", false, "no progress bar")
		cpuprof   = fs.String("cpuprofile", "", "write a CPU profile of the simulation to this file (go tool pprof reads it)")
		reaction  = fs.Duration("reaction", time.Second, "how soon after a task becomes pending an iteration starts, for the policies that react; 0: they iterate on the schedule and cadence only")
		wfIdle    = idleFlag{}
		iteration = fs.Duration("iteration-time", time.Second, "how long an iteration is taken to last (worker-manager's loop waits it out; Lambda bills it)")
	)
	fs.Int64Var(&o.Seed, "seed", 1, "seed of spot prices, interruptions, capacity errors and workers that never claim")
	fs.DurationVar(&o.StartupDelay, "startup-delay", 20*time.Second, "time from launch until a worker claims")
	fs.Var(&wfIdle, "idle-timeout", "the idle timeout workerfleet's provisioner writes into workers' user data (workerConfig.idleTimeoutSecs) where the pool sets none: auto (each pool's own, chosen from its demand, as deployed), a duration, or off (default auto)")
	fs.DurationVar(&o.IdleTimeout, "worker-idle-timeout", 15*time.Minute, "the workers' own idle timeout, when their user data sets none (worker-manager's pools)")
	fs.DurationVar(&o.StoppingDelay, "stopping-delay", 200*time.Second, "time from shutdown until the instance is terminated")
	fs.Float64Var(&o.NeverClaim, "never-claim", 0.0002, "share of workers that boot but never claim")
	fs.StringVar(&o.Market, "market", sim.MarketSpot, "price model: spot (drifting spreads, capacity and interruptions rising with price) or walk (the fake cloud's fixed spreads)")
	fs.Float64Var(&o.PriceVolatility, "price-volatility", 0.02, "-market walk: spot price walk step, per simulated second (negative: still)")
	fs.Float64Var(&o.SpotInterruptionRate, "interruption-rate", 0, "-market walk: spot interruptions per running instance-hour")
	fs.DurationVar(&o.Schedule, "schedule", 0, "the EventBridge schedule's period (0: template.yaml's)")
	fs.DurationVar(&o.BaselineInterval, "baseline-interval", 0, "worker-manager's loop period (0: its 10s wait plus -iteration-time; the anchor simulator's: 1s)")
	fs.DurationVar(&o.Warmup, "warmup", 24*time.Hour, "warm-up: measures cover [warmup, end)")
	fs.DurationVar(&o.End, "end", 144*time.Hour, "when the simulation ends")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *trace == "" {
		fs.Usage()
		return fmt.Errorf("-trace is required")
	}
	tasks, err := sim.LoadTrace(*trace)
	if err != nil {
		return err
	}
	o.Trace, o.Tasks = strings.TrimSuffix(filepath.Base(*trace), filepath.Ext(*trace)), tasks
	if *poolPath != "" {
		if o.Pool, err = os.ReadFile(*poolPath); err != nil {
			return fmt.Errorf("read the pool: %w", err)
		}
	}
	for _, p := range strings.Split(*policies, ",") {
		pol, err := sim.ParsePolicy(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("-policies: %w", err)
		}
		o.Policies = append(o.Policies, pol)
	}
	o.Reaction, o.IterationTime, o.WorkerIdleTimeout = *reaction, *iteration, wfIdle.d
	if *reaction == 0 {
		o.Reaction = -1
	}
	if *iteration <= 0 {
		o.IterationTime = time.Millisecond // as good as none
	}
	switch {
	case *cadence < 0:
		o.Cadence.Interval, o.Backstop = -1, -1
	case *cadence > 0:
		o.Cadence.Interval, o.Backstop = *cadence, *cadence
	}
	runSeeds := []int64{o.Seed}
	if *seeds != "" {
		runSeeds = nil
		for _, f := range strings.Split(*seeds, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || n == 0 {
				return fmt.Errorf("-seeds: %q is not a seed (a non-zero integer)", f)
			}
			runSeeds = append(runSeeds, n)
		}
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var sums []*sim.Summary
	for _, seed := range runSeeds {
		o := o
		o.Seed = seed
		if !*quiet {
			o.Progress = progress(fmt.Sprintf("simulating %s, seed %d", o.Trace, seed))
		}
		start := time.Now()
		res, err := sim.Run(ctx, o)
		if err != nil {
			return fmt.Errorf("seed %d: %w", seed, err)
		}
		res.Summary.WriteTable(os.Stdout)
		fmt.Printf("simulated in %s\n\n", time.Since(start).Round(time.Second))
		sums = append(sums, &res.Summary)
		if *out != "" {
			if err := writeOutputs(*out, res); err != nil {
				return err
			}
		}
	}
	sim.WriteSeeds(os.Stdout, sums)
	return nil
}

// idleFlag is -idle-timeout: auto (0), off (-1) or a duration.
type idleFlag struct{ d time.Duration }

func (f *idleFlag) String() string {
	switch {
	case f == nil || f.d == 0:
		return "auto"
	case f.d < 0:
		return "off"
	}
	return f.d.String()
}

func (f *idleFlag) Set(s string) error {
	switch s {
	case "auto", "":
		f.d = 0
	case "off":
		f.d = -1
	default:
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			return fmt.Errorf("auto, off or a duration of at least 1s, not %q", s)
		}
		f.d = d
	}
	return nil
}

func joinPolicies(ps []sim.Policy) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = string(p)
	}
	return strings.Join(names, ",")
}

// progress returns a sim.Options.Progress drawing a progress bar on stderr.
func progress(what string) func(done, total int64) {
	var mu sync.Mutex
	var bar *progressbar.ProgressBar
	return func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if bar == nil {
			bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription(what), progressbar.OptionShowElapsedTimeOnFinish(),
				progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(200*time.Millisecond))
		}
		_ = bar.Add64(done)
	}
}

func writeOutputs(dir string, res *sim.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(res.Summary, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the summary: %w", err)
	}
	name := func(base, ext string) string {
		return filepath.Join(dir, fmt.Sprintf("%s-seed%d.%s", base, res.Summary.Seed, ext))
	}
	if err := os.WriteFile(name("summary", "json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write the summary: %w", err)
	}
	var svg bytes.Buffer
	if err := res.WriteChart(&svg); err != nil {
		return err
	}
	if err := os.WriteFile(name("chart", "svg"), svg.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write the chart: %w", err)
	}
	fmt.Printf("wrote %s and %s\n\n", name("summary", "json"), name("chart", "svg"))
	return nil
}
