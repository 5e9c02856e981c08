package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/dev/localstack"
)

// TestREADMEWalkthroughAsWritten follows the README's walkthrough as a reader does,
// from the repository's folder: it writes the files the README shows (pool.json,
// wt.json), runs every command of its console blocks as written (through bash:
// curl, make api, make invoke, make status), and checks each command's output, and
// the stack's lines the README prints, against what the README shows. The stack is
// `SEED=2 make run`'s, started here on a free port: the commands reach it as
// written with 8080 read as that port (and PORT= for make), so that the test never
// touches a stack of the user's. Clock times, durations, request ids and other
// values of the moment are compared as placeholders; "..." and "…" in the README
// stand for anything. A step that shows the stack's lines waits for them, as a
// reader would, up to two minutes.
func TestREADMEWalkthroughAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's walkthrough, about three minutes")
	}
	for _, tool := range []string{"bash", "curl", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	root, err := filepath.Abs(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	walk, err := walkthrough(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range walk.files {
		path := filepath.Join(root, name)
		if old, err := os.ReadFile(path); err == nil {
			if string(old) != content {
				t.Skipf("%s exists and is not the README's; move it away to run this test", path)
			}
			continue
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(path) })
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	port := freePort(t)
	var out lockedBuffer
	s, err := localstack.Start(ctx, localstack.Options{Port: port, Seed: 2, SimulateWorkers: true, Out: &out,
		RootAccessToken: "readme-walkthrough-root-token-0000000000000"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := writeState(s, port); err != nil {
		t.Fatal(err)
	}
	defer removeState(port)
	env := append(os.Environ(), "PORT="+strconv.Itoa(port))
	local := func(s string) string { return strings.ReplaceAll(s, "127.0.0.1:8080", "127.0.0.1:"+strconv.Itoa(port)) }

	mark := 0 // the stack's output before the last command: what a step's lines are looked for after
	for _, b := range walk.blocks {
		if b.command == "" { // the stack's lines: wait for each
			for _, line := range b.want {
				deadline := time.Now().Add(2 * time.Minute)
				for !matches(out.String()[mark:], local(line)) {
					if time.Now().After(deadline) {
						t.Fatalf("step %s: the stack did not print\n  %s\nit printed:\n%s", b.step, line, out.String())
					}
					time.Sleep(250 * time.Millisecond)
				}
			}
			continue
		}
		mark = len(out.String())
		cmd := exec.CommandContext(ctx, "bash", "-c", local(b.command))
		cmd.Dir, cmd.Env = root, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		got := stdout.String() + stderr.String()
		// bash reports make's SIGPIPE (a non-2xx answer of make api) as 141.
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int(ws.Signal())
			} else {
				code = exit.ExitCode()
			}
		} else if err != nil {
			t.Fatalf("step %s: %s: %v", b.step, b.command, err)
		}
		if code != b.exit {
			t.Errorf("step %s: %s exited %d, want %d\n%s", b.step, b.command, code, b.exit, got)
		}
		for _, line := range b.want {
			if !matches(got, local(line)) {
				t.Errorf("step %s: %s: the output lacks\n  %s\nit is:\n%s", b.step, b.command, line, got)
			}
		}
	}
}

// walk is what the test takes from the README's walkthrough.
type walk struct {
	files  map[string]string // pool.json, wt.json
	blocks []block
}

// block is one command with the lines its output must hold, or (command "") lines
// of the stack's output.
type block struct {
	step, command string
	want          []string
	exit          int
}

var (
	stepHeading = regexp.MustCompile(`^\*\*(\d+)\. `)
	fileNamed   = regexp.MustCompile("`([a-z]+\\.json)`[:,]")
)

// walkthrough reads the section "A five-minute walkthrough": its JSON files (a
// json block after a sentence naming `x.json`), its console blocks (each "$ "
// line a command; the lines up to the next one its output), and its other blocks
// of the stack's lines (those of the provisioner and the workers).
func walkthrough(readme string) (walk, error) {
	start := strings.Index(readme, "## A five-minute walkthrough")
	if start < 0 {
		return walk{}, errors.New("the README has no walkthrough")
	}
	section := readme[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	w := walk{files: map[string]string{}}
	step, lastFile := "0", ""
	lines := strings.Split(section, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if m := stepHeading.FindStringSubmatch(line); m != nil {
			step = m[1]
		}
		if m := fileNamed.FindStringSubmatch(line); m != nil {
			lastFile = m[1]
		}
		if !strings.HasPrefix(line, "```") {
			continue
		}
		kind := strings.TrimPrefix(line, "```")
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		switch kind {
		case "json":
			if lastFile != "" {
				w.files[lastFile] = strings.Join(body, "\n") + "\n"
				lastFile = ""
			}
		case "console":
			var cur *block
			for _, l := range body {
				if cmd, ok := strings.CutPrefix(l, "$ "); ok {
					w.blocks = append(w.blocks, block{step: step, command: cmd})
					cur = &w.blocks[len(w.blocks)-1]
					continue
				}
				if cur == nil || strings.TrimSpace(l) == "" {
					continue
				}
				if strings.Contains(l, "-> 4") || strings.Contains(l, "-> 5") { // make api's non-2xx answer
					cur.exit = 141
				}
				cur.want = append(cur.want, l)
			}
		case "":
			var want []string
			for _, l := range body {
				if strings.Contains(l, "provisioner:") || strings.Contains(l, "  worker ") {
					want = append(want, l)
				}
			}
			if len(want) > 0 {
				w.blocks = append(w.blocks, block{step: step, want: want})
			}
		}
	}
	if len(w.blocks) == 0 {
		return walk{}, errors.New("the walkthrough has no commands")
	}
	return w, nil
}

// volatile are the values of the moment, which the README shows as they were in
// its run: each becomes a placeholder on both sides.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "<time>"},
	{regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`), "<clock>"},
	{regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), "<uuid>"},
	{regexp.MustCompile(`\bit-[0-9a-f]{16}\b`), "<iteration>"},
	{regexp.MustCompile(`\b\d+(\.\d+)? (ms|MB)\b`), "<figure>"},
	{regexp.MustCompile(`\b(\d+m)?\d+s ago\b`), "<ago>"},
	{regexp.MustCompile(`"durationMs":\d+`), `"durationMs":<ms>`},
	{regexp.MustCompile(`linux/(amd64|arm64)`), "linux/<arch>"},
}

func normalize(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// matches reports whether output holds the README's line: its pieces between
// ellipses, in order, on one line of the output, values of the moment aside.
// Columns may be spaced differently.
func matches(output, line string) bool {
	var pieces []string
	for _, p := range regexp.MustCompile(`\.\.\.|…`).Split(normalize(line), -1) {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			pieces = append(pieces, p)
		}
	}
	if len(pieces) == 0 {
		return true
	}
	for _, l := range strings.Split(normalize(output), "\n") {
		l = strings.Join(strings.Fields(l), " ")
		rest, ok := l, true
		for _, p := range pieces {
			i := strings.Index(rest, p)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(p):]
		}
		if ok {
			return true
		}
	}
	return false
}

// lockedBuffer is the stack's output, read while it writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
