package motoserver_test

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/dev/motoserver"
)

func TestStartStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := motoserver.Start(ctx)
	if errors.Is(err, motoserver.ErrNotInstalled) {
		t.Skip("moto_server is not installed (pip install 'moto[server]'); nothing to test")
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer srv.Stop()

	resp, err := http.Get(srv.Endpoint() + "/moto-api/data.json")
	if err != nil {
		t.Fatalf("GET %s: %v", srv.Endpoint(), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("moto answered %s, want 200", resp.Status)
	}
	if err := srv.Reset(ctx); err != nil {
		t.Errorf("Reset: %v", err)
	}

	pid := srv.PID()
	srv.Stop()
	select {
	case <-srv.Done():
	default:
		t.Fatalf("Stop returned before the server exited")
	}
	// Neither the server nor anything in its process group is left.
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d still exists after Stop (kill 0: %v)", pid, err)
	}
	if _, err := http.Get(srv.Endpoint() + "/moto-api/data.json"); err == nil {
		t.Errorf("the server still answers after Stop")
	}
	srv.Stop() // a second Stop is harmless
}

func TestStartCancelled(t *testing.T) {
	if _, err := exec.LookPath(motoserver.Command); err != nil {
		t.Skip("moto_server is not installed; nothing to test")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv, err := motoserver.Start(ctx)
	if err == nil {
		srv.Stop()
		t.Fatalf("Start with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Start(cancelled) = %v, want context.Canceled", err)
	}
}
