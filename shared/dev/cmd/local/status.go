package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/workerfleet/workerfleet/shared/statuspage"
)

// status prints the fleet at a glance, from the status page's JSON at the running
// stack's root URL (or TASKCLUSTER_ROOT_URL's: a deployment's), and in a terminal
// refreshes it every interval until Ctrl-C.
func status(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	once := fs.Bool("once", false, "print once and exit (the default when the output is not a terminal)")
	every := fs.Duration("interval", 2*time.Second, "time between refreshes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root := os.Getenv("TASKCLUSTER_ROOT_URL")
	if root == "" {
		st, err := readState()
		if err != nil {
			return fmt.Errorf("%w, and TASKCLUSTER_ROOT_URL is not set", err)
		}
		root = st.RootURL
	}
	root = strings.TrimSuffix(root, "/")
	refresh := !*once && isTerminal(os.Stdout)
	for {
		snap, err := fetchStatus(ctx, root)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		if refresh {
			fmt.Print("\033[H\033[2J") // home, clear
		}
		if err != nil {
			if !refresh {
				return err
			}
			fmt.Printf("workerfleet at %s: %v\n", root, err)
		} else {
			printStatus(os.Stdout, root, snap, refresh, *every)
		}
		if !refresh {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func fetchStatus(ctx context.Context, root string) (statuspage.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", root+"/", nil)
	if err != nil {
		return statuspage.Snapshot{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return statuspage.Snapshot{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return statuspage.Snapshot{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return statuspage.Snapshot{}, fmt.Errorf("GET %s/: %s %s", root, resp.Status, strings.TrimSpace(string(body)))
	}
	var snap statuspage.Snapshot
	if err := json.Unmarshal(body, &snap); err != nil {
		return statuspage.Snapshot{}, fmt.Errorf("GET %s/: %w", root, err)
	}
	return snap, nil
}

// printStatus writes the snapshot as a header and one table row per pool.
func printStatus(w io.Writer, root string, snap statuspage.Snapshot, refreshing bool, every time.Duration) {
	now := snap.Generated
	fmt.Fprintf(w, "workerfleet at %s, %s UTC", root, now.Format("15:04:05"))
	if refreshing {
		fmt.Fprintf(w, " (every %s; Ctrl-C stops)", every)
	}
	fmt.Fprintln(w)
	if p := snap.Provisioner; p != nil {
		fmt.Fprintf(w, "provisioner: last iteration %s %s ago, took %d ms: %s; %d pools, launched %d, terminated %d, %d errors",
			p.ID, now.Sub(p.Time).Round(time.Second), p.DurationMS, p.Outcome, p.Pools, p.Launched, p.Terminated, p.Errors)
		if p.Status == "missing" {
			fmt.Fprint(w, "  MISSING: no check-in for over three intervals")
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "provisioner: has not run yet")
	}
	fmt.Fprintln(w)
	if len(snap.Pools) == 0 {
		fmt.Fprintln(w, "no worker pools or worker types yet")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POOL\tKIND\tMIN/MAX\tDESIRED\tRUNNING\tREQUESTED\tINTERRUPTED\tPENDING TASKS\tCOST\tUPDATED\tLAST ERROR")
	for _, p := range snap.Pools {
		kind := "pool"
		if p.Kind == "worker-type" {
			kind = "worker type"
		}
		requested := fmt.Sprintf("%g", p.Requested)
		if p.RequestedPastTimeout > 0 {
			requested += fmt.Sprintf(" (%d past registration timeout)", p.RequestedPastTimeout)
		}
		lastError := p.LastError
		if e := p.Error; e != nil {
			lastError = fmt.Sprintf("%s: %s (%s ago, %d kept)", e.Title, e.Description, now.Sub(e.Time).Round(time.Second), e.Count)
		}
		fmt.Fprintf(tw, "%s\t%s\t%g/%g\t%g\t%g\t%s\t%g\t%d\t$%.2f/h\t%s ago\t%s\n", p.Name, kind, p.MinCapacity, p.MaxCapacity, p.Desired,
			p.Running, requested, p.Interrupted, p.PendingTasks, p.CostPerHour, now.Sub(p.Updated).Round(time.Second), lastError)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nfleet: $%.2f/h at launch prices\n", snap.CostPerHour)
}
