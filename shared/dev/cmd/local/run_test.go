package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunStartupMistakes: each start-up mistake of `make run` prints one line that
// says what is wrong, exits non-zero, does not panic, and leaves no process behind.
func TestRunStartupMistakes(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "workerfleet-local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	// A port that was free a moment ago, for the cases that must fail before
	// listening (never the default 8080, which may be someone's).
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := strconv.Itoa(free.Addr().(*net.TCPAddr).Port)
	free.Close()
	noMoto := t.TempDir() // a PATH with go's and java's folders but no moto_server
	for _, tool := range []string{"java", "npm", "node"} {
		if p, err := exec.LookPath(tool); err == nil {
			_ = os.Symlink(p, filepath.Join(noMoto, tool))
		}
	}
	for _, tt := range []struct {
		name string
		env  []string
		want string
	}{
		{"port in use", []string{"PORT=" + busyPort}, "address already in use"},
		{"unknown CLOUD", []string{"CLOUD=azure"}, `CLOUD="azure": use fake or ec2`},
		{"CLOUD=ec2 without moto", []string{"CLOUD=ec2", "PATH=" + noMoto}, "moto_server is not installed"},
		{"bad FAKE_CLOUD", []string{"FAKE_CLOUD={\"capacityErrorRate\": 7}"}, "FAKE_CLOUD"},
		{"FAKE_CLOUD not JSON", []string{"FAKE_CLOUD=fast"}, "FAKE_CLOUD"},
		{"PORT not a number", []string{"PORT=eighty"}, `PORT="eighty" is not a number`},
		{"LOG_LEVEL unknown", []string{"LOG_LEVEL=loud"}, `LOG_LEVEL="loud": use debug, info, warn or error`},
		{"SIMULATE_WORKERS not on or off", []string{"SIMULATE_WORKERS=maybe"}, `SIMULATE_WORKERS="maybe": use 1 or 0`},
		{"PERSIST not on or off", []string{"PERSIST=yes"}, `PERSIST="yes": use 1 or 0`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			marker := randomMarker(t)
			cmd := exec.Command(bin, "run")
			cmd.Env = append(append(os.Environ(), "PORT="+freePort, "WORKERFLEET_TEST_MARKER="+marker), tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("still running after 60s; stderr:\n%s", stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if err == nil || cmd.ProcessState.ExitCode() <= 0 {
				t.Errorf("exit: %v, want a non-zero exit code", err)
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], tt.want) || strings.Contains(stderr.String(), "panic") {
				t.Errorf("stderr:\n%s\nwant one line 'error: ...' containing %q", stderr.String(), tt.want)
			}
			if left := processesWith(t, marker); len(left) > 0 {
				t.Errorf("processes left behind: %v", left)
			}
		})
	}
}

func randomMarker(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// processesWith lists the processes whose environment holds the marker.
func processesWith(t *testing.T, marker string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc to look for processes left behind")
	}
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(env, []byte("WORKERFLEET_TEST_MARKER="+marker)) {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

// TestMakeTargetMistakesAreOneLine: through make, as the README runs them, a mistake
// prints the command's one line and nothing of make's ("make: *** [...] Error 1"),
// and the exit status is the one the README gives (141; the command itself exits 1).
func TestMakeTargetMistakesAreOneLine(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	root := filepath.Join("..", "..", "..", "..")
	bin := filepath.Join(t.TempDir(), "workerfleet-local")
	for _, tt := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"run with a bad setting", []string{"run"}, []string{"LOG_LEVEL=loud"}, `error: LOG_LEVEL="loud": use debug, info, warn or error`},
		{"invoke without FN", []string{"invoke"}, nil, "usage: make invoke FN=<function>"},
		{"invoke of no function", []string{"invoke", "FN=nothing", "EVENT=events/provisioner.json"}, nil, "error: FN must name a function"},
		{"api without ARGS", []string{"api"}, []string{"ARGS="}, "usage: make api"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("make", append([]string{"--no-print-directory", "-C", root, "LOCAL_BIN=" + bin}, tt.args...)...)
			cmd.Env = append(os.Environ(), tt.env...)
			var stderr, stdout bytes.Buffer
			cmd.Stderr, cmd.Stdout = &stderr, &stdout
			err := cmd.Run()
			// A shell reports a process ended by SIGPIPE as status 141.
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGPIPE {
				t.Errorf("make ended with %v, want SIGPIPE (status 141 in a shell)", err)
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tt.want) {
				t.Errorf("stderr:\n%s\nwant one line starting %q", stderr.String(), tt.want)
			}
			if strings.Contains(stderr.String()+stdout.String(), "make: ***") {
				t.Errorf("make's own error line is there:\n%s%s", stdout.String(), stderr.String())
			}
		})
	}
}
