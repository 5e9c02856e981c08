// Package motoserver starts and stops moto's standalone server (moto_server), an
// emulator of AWS APIs that the EC2 driver's tests and the local stack
// (CLOUD=ec2 make run) point the AWS SDK at.
//
// Each Start runs its own server on a free loopback port in its own process group;
// Stop ends the whole group, and on Linux the kernel ends the server if this
// process dies first, so no server is ever left behind.
package motoserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/workerfleet/workerfleet/shared/dev/childproc"
)

// Command is the moto server executable looked up on PATH.
const Command = "moto_server"

// ErrNotInstalled is returned by Start when moto_server is not on PATH.
var ErrNotInstalled = errors.New("moto_server is not installed (pip install 'moto[server]')")

// StartTimeout bounds how long Start waits for the server to answer.
const StartTimeout = 60 * time.Second

// Server is one running moto server.
type Server struct {
	endpoint string
	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// Start runs moto_server on a free port of 127.0.0.1 and returns once it answers
// HTTP requests. It returns ErrNotInstalled when moto_server is not on PATH, and
// an error with the server's last output when it exits or does not answer within
// StartTimeout. Cancelling ctx while waiting stops the server.
func Start(ctx context.Context) (*Server, error) {
	path, err := exec.LookPath(Command)
	if err != nil {
		return nil, ErrNotInstalled
	}
	port, err := childproc.FreePort()
	if err != nil {
		return nil, fmt.Errorf("start moto: %w", err)
	}
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = childproc.Attrs()
	logs := childproc.NewTail(8 << 10)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto: %w", err)
	}
	s := &Server{endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(StartTimeout)
	for {
		if err := s.ping(ctx, client); err == nil {
			return s, nil
		} else if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("start moto: not answering after %s: %w: %s", StartTimeout, err, logs.String())
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("start moto: exited early (%v): %s", s.waitErr, logs.String())
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("start moto: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ping asks moto's own API for its data; any HTTP answer means it is serving.
func (s *Server) ping(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/moto-api/data.json", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto answered %s", resp.Status)
	}
	return nil
}

// Endpoint returns the server's URL, http://127.0.0.1:<port>, for the SDK's
// BaseEndpoint.
func (s *Server) Endpoint() string { return s.endpoint }

// Reset drops everything the server holds (moto's POST /moto-api/reset).
func (s *Server) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint+"/moto-api/reset", nil)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: answered %s", resp.Status)
	}
	return nil
}

// Stop ends the server's process group (SIGTERM, then SIGKILL after 5 seconds)
// and waits for the server to exit. It is safe to call more than once.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.stopOnce.Do(func() {
		pgid := s.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.done
		}
		// Children that outlived the leader still belong to the group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	})
}

// PID returns the server's process id, which is also its process group id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }
