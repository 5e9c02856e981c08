// Package rie runs a function's built bootstrap under the AWS Lambda Runtime Interface
// Emulator (the runtime API `sam local invoke` gives its container), without Docker:
// the emulator starts the bootstrap as Lambda would, serves it the runtime API, and
// reports each invocation's init and invoke durations.
//
// The emulator is built from the Go module proxy into a cache folder on first use
// (Install); none of its code is part of this repository.
package rie

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Module and Version pin the emulator that Install builds.
const (
	Module  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	Version = "v0.0.0-20261030222936-bef5c4ba774d"
)

// Install returns the emulator's executable in binDir, building it with `go install`
// from the module proxy if it is not there yet.
func Install(ctx context.Context, binDir string) (string, error) {
	path := filepath.Join(binDir, "aws-lambda-rie-"+Version)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp, err := os.MkdirTemp(binDir, ".rie-build-")
	if err != nil {
		return "", fmt.Errorf("install the runtime interface emulator: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "install", Module+"/cmd/aws-lambda-rie@"+Version)
	// Outside this module (its go.mod and -mod flags do not apply to `go install x@v`).
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", Module+"/cmd/aws-lambda-rie", Version, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "aws-lambda-rie"), path); err != nil {
		return "", fmt.Errorf("install the runtime interface emulator: %w", err)
	}
	return path, nil
}

// VersionVariable is the variable the Lambda builds set to the source's revision
// (-X), which the APIs' __version__ reports.
const VersionVariable = "github.com/workerfleet/workerfleet/shared/version.revision"

// LambdaBuildFlags are the flags the Makefile's SAM build targets use (LAMBDA_FLAGS,
// with $(REVISION) as revision; a test holds the two equal).
func LambdaBuildFlags(revision string) []string {
	return []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w -buildid= -X " + VersionVariable + "=" + revision}
}

// Revision is the git revision of the source in dir, with "-dirty" when it has
// changes not committed, as the Makefile's REVISION computes it; "" outside git.
func Revision(ctx context.Context, dir string) string {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "HEAD")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	diff := exec.CommandContext(ctx, "git", "diff", "--quiet", "HEAD")
	diff.Dir = dir
	if diff.Run() != nil {
		rev += "-dirty"
	}
	return rev
}

// Build builds the Go package pkg (./functions/x) of the module in dir as a Lambda
// bootstrap for goarch ("" is this machine's), as the Makefile does for SAM.
func Build(ctx context.Context, dir, pkg, goarch, out string) error {
	return BuildAll(ctx, dir, map[string]string{pkg: out}, goarch)
}

// BuildAll builds several packages (pkg -> output path) as Build does, in one go
// build, which compiles what they share once and in parallel.
func BuildAll(ctx context.Context, dir string, outs map[string]string, goarch string) error {
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	if len(outs) == 0 {
		return nil
	}
	tmp, err := os.MkdirTemp("", "workerfleet-bootstraps-")
	if err != nil {
		return fmt.Errorf("build the bootstraps: %w", err)
	}
	defer os.RemoveAll(tmp)
	pkgs := make([]string, 0, len(outs))
	for pkg := range outs {
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	args := append([]string{"build"}, LambdaBuildFlags(Revision(ctx, dir))...)
	target := filepath.Join(tmp, "bootstrap")
	if len(pkgs) > 1 {
		target = tmp + string(filepath.Separator) // a folder: one executable per package, named for it
	}
	cmd := exec.CommandContext(ctx, "go", append(append(args, "-o", target), pkgs...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s for %s: %w\n%s", strings.Join(pkgs, " "), goarch, err, output)
	}
	for _, pkg := range pkgs {
		built := target
		if len(pkgs) > 1 {
			built = filepath.Join(tmp, filepath.Base(pkg))
		}
		out := outs[pkg]
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return fmt.Errorf("build the bootstraps: %w", err)
		}
		if err := moveFile(built, out); err != nil {
			return fmt.Errorf("build the bootstraps: %w", err)
		}
	}
	return nil
}

// moveFile renames from to to, copying when they are on different file systems.
func moveFile(from, to string) error {
	if err := os.Rename(from, to); err == nil {
		return nil
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, to)
}

// Options describe one emulated function.
type Options struct {
	// Emulator is the aws-lambda-rie executable (from Install).
	Emulator string
	// Bootstrap is the function's executable, built for this machine.
	Bootstrap string
	// Env is the function's whole environment (the template's variables and Lambda's
	// own, AWS_LAMBDA_FUNCTION_NAME and so on); nothing else of this process's is
	// passed on except PATH.
	Env map[string]string
	// Output receives the emulator's and the function's output (START, END and
	// REPORT lines, the function's logs). Nil discards it.
	Output io.Writer
}

// Emulator is one running emulator with its function.
type Emulator struct {
	url     string
	cmd     *exec.Cmd
	done    chan struct{}
	out     *reportWriter
	stopped sync.Once
}

// StartTimeout bounds how long Start waits for the emulator to listen.
const StartTimeout = 10 * time.Second

// Start runs the emulator on free loopback ports. The function itself starts (its
// init) on the first Invoke, as in Lambda.
func Start(ctx context.Context, o Options) (*Emulator, error) {
	if _, err := os.Stat(o.Bootstrap); err != nil {
		return nil, fmt.Errorf("the function's bootstrap: %w", err)
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("start the emulator: %w", err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := exec.Command(o.Emulator, "--log-level", "info",
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(ports[1]), o.Bootstrap)
	cmd.Dir = filepath.Dir(o.Bootstrap)
	cmd.Env = environ(o.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	output := o.Output
	if output == nil {
		output = io.Discard
	}
	e := &Emulator{url: "http://" + addr, cmd: cmd, done: make(chan struct{}), out: newReportWriter(output)}
	cmd.Stdout, cmd.Stderr = e.out, e.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the emulator: %w", err)
	}
	go func() { _ = cmd.Wait(); close(e.done) }()
	if err := e.awaitListening(ctx, addr); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

func (e *Emulator) awaitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(StartTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-e.done:
			return fmt.Errorf("the emulator exited at start: %s", e.out.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the emulator did not listen on %s within %s", addr, StartTimeout)
		}
	}
}

// Result is one invocation.
type Result struct {
	// Payload is what the function returned (or its error, as Lambda shapes it).
	Payload []byte
	// Failed is set when the function returned an error or crashed.
	Failed bool
	// Init is the cold start (from starting the bootstrap to its first request for
	// work, as Lambda's Init Duration); zero for a warm invocation.
	Init time.Duration
	// Duration is the invocation's, the init not included.
	Duration time.Duration
	// MaxMemory is the bootstrap's peak resident memory so far (VmHWM), in bytes;
	// the emulator's own REPORT line only repeats the configured memory size.
	MaxMemory int64
}

// Invoke sends one event to the function and waits for its result.
func (e *Emulator) Invoke(ctx context.Context, event []byte) (*Result, error) {
	id := requestID()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Amzn-RequestId", id)
	reports := e.out.subscribe(id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w (emulator output: %s)", err, e.out.tail())
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read the result: %w", err)
	}
	r := &Result{Payload: payload, Failed: resp.StatusCode != http.StatusOK || isErrorPayload(payload)}
	select {
	case rep := <-reports:
		r.Init, r.Duration = rep.init, rep.duration
		r.Failed = r.Failed || (rep.status != "" && rep.status != "success")
	case <-time.After(5 * time.Second):
		return nil, fmt.Errorf("invoke: the emulator printed no REPORT line for request %s (output: %s)", id, e.out.tail())
	}
	r.MaxMemory = e.peakMemory()
	if resp.StatusCode >= 500 && len(payload) == 0 {
		return r, fmt.Errorf("invoke: the emulator answered %s (output: %s)", resp.Status, e.out.tail())
	}
	return r, nil
}

// isErrorPayload recognises the runtime's error response, {"errorMessage", "errorType"}
// (the emulator passes it on with a 200 and without Lambda's X-Amz-Function-Error).
func isErrorPayload(p []byte) bool {
	var e map[string]json.RawMessage
	if json.Unmarshal(p, &e) != nil {
		return false
	}
	_, msg := e["errorMessage"]
	_, typ := e["errorType"]
	return msg && typ && len(e) <= 3
}

// Stop ends the emulator and the function (the whole process group).
func (e *Emulator) Stop() {
	e.stopped.Do(func() {
		e.out.silence()
		pgid := e.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(3 * time.Second):
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-e.done
	})
}

// peakMemory is the largest VmHWM among the emulator's child processes (the
// bootstrap), or 0 where /proc cannot tell.
func (e *Emulator) peakMemory() int64 {
	var peak int64
	for _, pid := range children(e.cmd.Process.Pid) {
		if hwm := vmHWM(pid); hwm > peak {
			peak = hwm
		}
	}
	return peak
}

func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func vmHWM(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

var (
	initReportRe = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	rtDoneRe     = regexp.MustCompile(`INVOKE RTDONE\(.*duration: ([0-9.]+)ms\)`)
	rtStatusRe   = regexp.MustCompile(`INVOKE RTDONE\(status: ([a-z]+)`)
	reportRe     = regexp.MustCompile(`\tDuration: ([0-9.]+) ms`)
)

// millis reads the first group of re in line as milliseconds.
func millis(re *regexp.Regexp, line string) (time.Duration, bool) {
	m := re.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(f * float64(time.Millisecond)), true
}

func requestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 16)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// reportWriter passes output on line by line (without the emulator's own
// informational lines), hands each invocation's figures to whoever waits for its
// request id, and keeps the last lines for error messages.
//
// The emulator's REPORT line cannot be taken as it is: its Init Duration only times
// handing the init to the sandbox, and its Duration includes the init. The figures
// come from the emulator's lifecycle log lines instead: INIT REPORT (from the init's
// start to the runtime's first request for work, as Lambda measures it) and INVOKE
// RTDONE (the invocation, from handing the event to the runtime to its response).
type reportWriter struct {
	mu      sync.Mutex
	w       io.Writer
	partial []byte
	waiting map[string]chan report
	last    []string
	init    time.Duration
	invoke  time.Duration
	status  string
	quiet   bool
}

// report is one invocation's figures, and the runtime's status for it ("success",
// or why not; "" if the emulator did not say).
type report struct {
	init, duration time.Duration
	status         string
}

func newReportWriter(w io.Writer) *reportWriter {
	return &reportWriter{w: w, waiting: map[string]chan report{}}
}

func (r *reportWriter) subscribe(id string) <-chan report {
	ch := make(chan report, 1)
	r.mu.Lock()
	r.waiting[id] = ch
	r.mu.Unlock()
	return ch
}

func (r *reportWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.partial = append(r.partial, p...)
	for {
		i := bytes.IndexByte(r.partial, '\n')
		if i < 0 {
			break
		}
		line := string(r.partial[:i+1])
		r.partial = r.partial[i+1:]
		// The emulator's REPORT line is misleading (see above): Invoke's caller
		// prints the figures.
		if !r.quiet && !strings.Contains(line, "[INFO] (rapid)") && !strings.HasPrefix(line, "REPORT ") {
			_, _ = io.WriteString(r.w, line)
		}
		r.note(strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

func (r *reportWriter) note(line string) {
	r.last = append(r.last, line)
	if len(r.last) > 20 {
		r.last = r.last[len(r.last)-20:]
	}
	if d, ok := millis(initReportRe, line); ok {
		r.init = d
		return
	}
	if d, ok := millis(rtDoneRe, line); ok {
		r.invoke = d
		if m := rtStatusRe.FindStringSubmatch(line); m != nil {
			r.status = m[1]
		}
		return
	}
	rest, ok := strings.CutPrefix(line, "REPORT RequestId: ")
	if !ok {
		return
	}
	id, _, _ := strings.Cut(rest, "\t")
	rep := report{init: r.init, duration: r.invoke, status: r.status}
	if rep.duration == 0 {
		total, _ := millis(reportRe, line)
		rep.duration = total - rep.init
	}
	r.init, r.invoke, r.status = 0, 0, ""
	if ch, ok := r.waiting[id]; ok {
		ch <- rep
		delete(r.waiting, id)
	}
}

// silence stops passing output on (the emulator's shutdown messages).
func (r *reportWriter) silence() {
	r.mu.Lock()
	r.quiet = true
	r.mu.Unlock()
}

func (r *reportWriter) tail() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.last, "\n")
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
