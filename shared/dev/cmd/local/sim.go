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
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/workerfleet/workerfleet/shared/dev/sim"
	"github.com/workerfleet/workerfleet/shared/provision"
)

// simulate is `local sim`: a trace replayed against a pool, both policies; the
// table on stdout, summary.json and chart.svg in -out.
func simulate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: local sim -trace FILE [-pool pool.json] [-out DIR] [options]\n\n"+
			"Replays a demand trace against one aws worker pool on a simulated clock, through the\n"+
			"provisioner, with workerfleet's policy and worker-manager's as the baseline. Options:")
		fs.PrintDefaults()
	}
	var (
		o        sim.Options
		trace    = fs.String("trace", "", "the demand trace (8-byte records, see shared/data/firefox-ci/README.md)")
		poolPath = fs.String("pool", "", "the aws worker pool config (JSON) to provision; default: two types x three zones, spot, maxCapacity 1000")
		out      = fs.String("out", "", "directory for summary.json and chart.svg (none: only the table)")
		policies = fs.String("policies", "workerfleet,worker-manager", "policies to run, comma-separated")
		cadence  = fs.Duration("cadence", 0, "workerfleet's pause between iterations inside an invocation while demand moves (0: the deployed default; negative: off)")
		quiet    = fs.Bool("quiet", false, "no progress bar")
		cpuprof  = fs.String("cpuprofile", "", "write a CPU profile of the simulation to this file (go tool pprof reads it)")
	)
	fs.Int64Var(&o.Seed, "seed", 1, "seed of spot prices, interruptions and workers that never claim")
	fs.DurationVar(&o.StartupDelay, "startup-delay", 20*time.Second, "time from launch until a worker claims")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", 15*time.Minute, "idle time after which a worker shuts down (unless its workerConfig sets idleTimeoutSecs)")
	fs.DurationVar(&o.StoppingDelay, "stopping-delay", 200*time.Second, "time from shutdown until the instance is terminated")
	fs.Float64Var(&o.NeverClaim, "never-claim", 0.0002, "share of workers that boot but never claim")
	fs.Float64Var(&o.PriceVolatility, "price-volatility", 0.02, "spot price walk step, per simulated second (negative: still)")
	fs.Float64Var(&o.SpotInterruptionRate, "interruption-rate", 0, "spot interruptions per running instance-hour")
	fs.DurationVar(&o.Schedule, "schedule", 0, "the EventBridge schedule's period (0: template.yaml's)")
	fs.DurationVar(&o.BaselineInterval, "baseline-interval", 0, "run the worker-manager baseline on a loop of this period instead of the schedule (the anchor's: 1s)")
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
		switch pol := provision.Policy(strings.TrimSpace(p)); pol {
		case provision.PolicyWorkerfleet, provision.PolicyWorkerManager:
			o.Policies = append(o.Policies, pol)
		default:
			return fmt.Errorf("-policies: unknown policy %q (workerfleet, worker-manager)", p)
		}
	}
	switch {
	case *cadence < 0:
		o.Cadence = provision.Cadence{Interval: -1}
	case *cadence > 0:
		o.Cadence = provision.Cadence{Interval: *cadence}
	}
	if !*quiet {
		var mu sync.Mutex
		var bar *progressbar.ProgressBar
		o.Progress = func(done, total int64) {
			mu.Lock()
			defer mu.Unlock()
			if bar == nil {
				bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("simulating "+o.Trace), progressbar.OptionShowElapsedTimeOnFinish(),
					progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(200*time.Millisecond))
			}
			_ = bar.Add64(done)
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
	start := time.Now()
	res, err := sim.Run(ctx, o)
	if err != nil {
		return err
	}
	res.Summary.WriteTable(os.Stdout)
	fmt.Printf("simulated in %s\n", time.Since(start).Round(time.Second))
	if *out == "" {
		return nil
	}
	return writeOutputs(*out, res)
}

func writeOutputs(dir string, res *sim.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(res.Summary, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the summary: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write summary.json: %w", err)
	}
	var svg bytes.Buffer
	if err := res.WriteChart(&svg); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "chart.svg"), svg.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write chart.svg: %w", err)
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(dir, "summary.json"), filepath.Join(dir, "chart.svg"))
	return nil
}
