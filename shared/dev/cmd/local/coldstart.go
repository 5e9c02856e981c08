package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"text/tabwriter"
	"time"
)

// coldstart is `make coldstart`: for every function (or one), several cold starts
// of its bootstrap under the emulator, each in a fresh emulator, on the function's
// sample event in events/, each reading its secrets from Secrets Manager (moto's) at
// start as deployed; it reports the median init duration and the sizes of
// the bootstrap as deployed (linux/arm64) and as run here.
func coldstart(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("coldstart", flag.ContinueOnError)
	n := fs.Int("n", 7, "cold starts per function")
	only := fs.String("function", "", "only this function (logical id or folder)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("-n must be at least 1")
	}
	e, err := newEmulation(ctx, false, os.Stderr)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.useSecretsManager(ctx); err != nil {
		return err
	}
	ids, err := coldstartFunctions(e, *only)
	if err != nil {
		return err
	}
	// Every bootstrap for both platforms at once: one go build each compiles what the
	// functions share once.
	repo := filepath.Dir(e.templatePath)
	for _, arch := range []string{runtime.GOARCH, "arm64"} {
		if err := buildBootstraps(ctx, repo, ids, arch, os.Stderr); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "function\tinit median\tinit min\tinit max\tfirst invoke\tmax memory\tbootstrap arm64\tbootstrap %s\t\n", runtime.GOARCH)
	for _, id := range ids {
		fmt.Fprintf(os.Stderr, "%s: %d cold starts ...\n", id, *n)
		m, err := measureColdStarts(ctx, e, id, *n)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", id, ms(m.median()), ms(m.inits[0]), ms(m.inits[len(m.inits)-1]),
			ms(m.firstInvoke), mb(m.memory), mb(m.armSize), mb(m.size))
	}
	return tw.Flush()
}

func coldstartFunctions(e *emulation, only string) ([]string, error) {
	if only != "" {
		id, err := logicalID(e.tmpl, only)
		return []string{id}, err
	}
	var ids []string
	for id := range e.tmpl.Functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

type coldStarts struct {
	inits       []time.Duration // sorted
	firstInvoke time.Duration   // median of the first invocations' durations
	memory      int64           // largest peak
	size        int64
	armSize     int64
}

func (c coldStarts) median() time.Duration { return c.inits[len(c.inits)/2] }

// measureColdStarts runs n fresh emulators of one function on its sample event.
func measureColdStarts(ctx context.Context, e *emulation, id string, n int) (coldStarts, error) {
	var c coldStarts
	event, err := os.ReadFile(filepath.Join(filepath.Dir(e.templatePath), "events", folderOf(id)+".json"))
	if err != nil {
		return c, fmt.Errorf("%s's sample event: %w", id, err)
	}
	repo := filepath.Dir(e.templatePath)
	c.armSize = fileSize(bootstrapPath(repo, "arm64", id))
	if err := e.ensureEC2(ctx, id); err != nil {
		return c, err
	}
	bin := bootstrapPath(repo, runtime.GOARCH, id) // built by coldstart: every cold start runs the same executable, as in Lambda
	c.size = fileSize(bin)
	var invokes []time.Duration
	for i := 0; i < n; i++ {
		em, err := e.startBuilt(ctx, id, bin, io.Discard)
		if err != nil {
			return c, err
		}
		r, err := em.Invoke(ctx, event)
		em.Stop()
		if err != nil {
			return c, fmt.Errorf("%s: %w", id, err)
		}
		if r.Failed {
			return c, fmt.Errorf("%s failed on its sample event: %s", id, r.Payload)
		}
		c.inits = append(c.inits, r.Init)
		invokes = append(invokes, r.Duration)
		c.memory = max(c.memory, r.MaxMemory)
	}
	sort.Slice(c.inits, func(i, j int) bool { return c.inits[i] < c.inits[j] })
	sort.Slice(invokes, func(i, j int) bool { return invokes[i] < invokes[j] })
	c.firstInvoke = invokes[len(invokes)/2]
	return c, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }
