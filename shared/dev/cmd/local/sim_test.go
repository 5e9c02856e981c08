package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSimHelpPointsAtDocs: `sim -h` names the document that describes the
// simulator, and that document and its section exist (it used to point at a
// README the repository lacks).
func TestSimHelpPointsAtDocs(t *testing.T) {
	stderr := os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	os.Stderr = w
	err = simulate(context.Background(), []string{"-h"})
	w.Close()
	os.Stderr = stderr
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("sim -h: %v, want flag.ErrHelp", err)
	}
	buf := make([]byte, 1<<16)
	n, _ := r.Read(buf)
	if help := string(buf[:n]); !strings.Contains(help, simDocs) {
		t.Errorf("sim -h does not name %s:\n%s", simDocs, help)
	}
	file, anchor, _ := strings.Cut(simDocs, "#")
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "..", file))
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile(`(?m)^#+ (.*)$`)
	found := false
	for _, m := range heading.FindAllStringSubmatch(string(doc), -1) {
		slug := strings.ReplaceAll(strings.ToLower(strings.TrimRight(strings.Map(func(r rune) rune {
			if r == ',' || r == '.' || r == '(' || r == ')' || r == '`' {
				return -1
			}
			return r
		}, m[1]), " ")), " ", "-")
		found = found || slug == anchor
	}
	if !found {
		t.Errorf("%s has no section #%s", file, anchor)
	}
}

// TestMakeSimRunsFromAClone: `make sim` with no TRACE runs the trace shipped in
// the repository, and a whole pool definition (the walkthrough's pool file) is
// accepted as -pool.
func TestMakeSimRunsFromAClone(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TRACE \?= (\S+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile gives TRACE no default")
	}
	trace := filepath.Join("..", "..", "..", "..", string(m[1]))
	if _, err := os.Stat(trace); err != nil {
		t.Fatalf("make sim's default trace: %v", err)
	}
	pool := filepath.Join(t.TempDir(), "pool.json")
	whole := `{"providerId": "aws", "description": "ci", "owner": "me@example.com", "emailOnError": false, "config": {
  "minCapacity": 0, "maxCapacity": 4,
  "launchConfigs": [{"region": "us-east-1", "capacityPerInstance": 1,
    "launchConfig": {"ImageId": "ami-0123456789abcdef0", "InstanceType": "c5.large", "Placement": {"AvailabilityZone": "us-east-1a"}}}]}}`
	if err := os.WriteFile(pool, []byte(whole), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := simulate(ctx, []string{"-trace", trace, "-pool", pool, "-quiet", "-policies", "workerfleet", "-warmup", "1h", "-end", "2h"}); err != nil {
		t.Errorf("sim with a whole pool definition: %v", err)
	}
}
