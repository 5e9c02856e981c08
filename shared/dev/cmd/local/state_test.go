package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadStateFindsTheRightStack: make api and make client talk to the stack on
// $PORT, or to the only one running; a stack that exited does not count, and two
// running stacks without PORT is an error that names them.
func TestReadStateFindsTheRightStack(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("WORKERFLEET_CACHE", dir)
	t.Setenv("PORT", "")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	put := func(port string, pid int) {
		data, _ := json.Marshal(state{PID: pid, RootURL: "http://127.0.0.1:" + port})
		if err := os.WriteFile(filepath.Join(dir, "local-stack-"+port+".json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := readState(); !errors.Is(err, errNoStack) {
		t.Fatalf("no stack: %v, want errNoStack", err)
	}
	put("9001", dead.Process.Pid)
	if _, err := readState(); !errors.Is(err, errNoStack) {
		t.Fatalf("only an exited stack: %v, want errNoStack", err)
	}
	put("9002", os.Getpid())
	if st, err := readState(); err != nil || st.RootURL != "http://127.0.0.1:9002" {
		t.Fatalf("one running stack: %+v, %v", st, err)
	}
	put("9003", os.Getpid())
	if _, err := readState(); err == nil || !strings.Contains(err.Error(), "set PORT") || !strings.Contains(err.Error(), ":9003") {
		t.Fatalf("two running stacks: %v, want an error naming both", err)
	}
	t.Setenv("PORT", "9003")
	if st, err := readState(); err != nil || st.RootURL != "http://127.0.0.1:9003" {
		t.Fatalf("PORT=9003: %+v, %v", st, err)
	}
	t.Setenv("PORT", "9001")
	if _, err := readState(); err == nil || !strings.Contains(err.Error(), "port 9001") {
		t.Fatalf("PORT of an exited stack: %v", err)
	}

	// removeState leaves another process's file alone and removes its own.
	put("9004", dead.Process.Pid)
	removeState(9004)
	if _, err := os.Stat(filepath.Join(dir, "local-stack-9004.json")); err != nil {
		t.Errorf("removeState removed a file that is not this process's: %v", err)
	}
	removeState(9002)
	if _, err := os.Stat(filepath.Join(dir, "local-stack-9002.json")); !os.IsNotExist(err) {
		t.Errorf("removeState kept this process's file: %v", err)
	}
}
