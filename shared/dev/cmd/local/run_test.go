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
