package compattest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tcclient "github.com/taskcluster/taskcluster/v25/clients/client-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcworkermanager"
)

// buildTool builds a main package of the Taskcluster v25 module, unmodified, once per
// test binary, and returns the path of the binary.
var (
	toolsMu sync.Mutex
	tools   = map[string]string{}
	toolDir string
)

func buildTool(t *testing.T, pkg string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Taskcluster tool")
	}
	toolsMu.Lock()
	defer toolsMu.Unlock()
	if bin, ok := tools[pkg]; ok {
		return bin
	}
	if toolDir == "" {
		dir, err := os.MkdirTemp("", "compattest-tools-")
		if err != nil {
			t.Fatal(err)
		}
		toolDir = dir // removed by TestMain
	}
	bin := filepath.Join(toolDir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "GONOSUMDB=github.com/taskcluster", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	tools[pkg] = bin
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if toolDir != "" {
		os.RemoveAll(toolDir)
	}
	os.Exit(code)
}

// temporaryCredentials makes temporary credentials the way Taskcluster's clients do
// (certificate version 1, a 44-character seed, start and expiry in ms, the issuer's
// HMAC-SHA256 signature, the access token derived from the seed), for any start and
// expiry, including ones already past: an expired certificate is what a long-running
// JavaScript client keeps sending once its credentials lapse.
func temporaryCredentials(issuer, issuerToken string, start, expiry time.Time, scopes ...string) *tcclient.Credentials {
	seed := strings.Repeat("s", 22) + strings.Repeat("e", 22)
	startMs, expiryMs := start.UnixMilli(), expiry.UnixMilli()
	text := "version:1\nseed:" + seed + "\nstart:" + strconv.FormatInt(startMs, 10) +
		"\nexpiry:" + strconv.FormatInt(expiryMs, 10) + "\nscopes:\n" + strings.Join(scopes, "\n")
	sig := hmac.New(sha256.New, []byte(issuerToken))
	sig.Write([]byte(text))
	key := hmac.New(sha256.New, []byte(issuerToken))
	key.Write([]byte(seed))
	cert, _ := json.Marshal(map[string]any{"version": 1, "scopes": scopes, "start": startMs, "expiry": expiryMs,
		"seed": seed, "signature": base64.StdEncoding.EncodeToString(sig.Sum(nil))})
	return &tcclient.Credentials{ClientID: issuer, AccessToken: base64.RawURLEncoding.EncodeToString(key.Sum(nil)), Certificate: string(cert)}
}

// TestNoScopeMethodsIgnoreCredentials: as in Taskcluster, a method that requires no
// scopes answers whatever credentials come with it: the taskcluster CLI v25 with no
// credentials configured (it signs with an empty client id), temporary credentials
// that expired, an unknown client. Methods with scopes still refuse them.
func TestNoScopeMethodsIgnoreCredentials(t *testing.T) {
	cli := buildTool(t, "github.com/taskcluster/taskcluster/v25/clients/client-shell")
	s := startStack(t)
	root := tcworkermanager.New(&tcclient.Credentials{ClientID: "root", AccessToken: rootToken}, s.URL)
	const poolID = "proj-ci/cli"
	if _, err := root.CreateWorkerPool(poolID, &tcworkermanager.WorkerPoolDefinition{ProviderID: "static", Config: json.RawMessage(`{}`),
		Description: "cli", Owner: "ci@example.com"}); err != nil {
		t.Fatalf("CreateWorkerPool: %v", err)
	}

	// The CLI, as a new user runs it: a root URL and nothing else (a fresh HOME
	// holds no configuration file).
	home := t.TempDir()
	for _, args := range [][]string{
		{"api", "workerManager", "ping"},
		{"api", "workerManager", "listWorkerPools"},
		{"api", "workerManager", "workerPool", poolID},
		{"api", "workerManager", "listProviders"},
	} {
		cmd := exec.Command(cli, args...)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "TASKCLUSTER_ROOT_URL=" + s.URL}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("taskcluster %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		var v any
		if err := json.Unmarshal(out, &v); err != nil || strings.Contains(string(out), `"code"`) {
			t.Errorf("taskcluster %s answered %s", strings.Join(args, " "), out)
		}
	}

	expired := temporaryCredentials("root", rootToken, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour), "worker-manager:*")
	for name, creds := range map[string]*tcclient.Credentials{
		"empty client id (the CLI without credentials)": {ClientID: "", AccessToken: ""},
		"expired temporary credentials":                 expired,
		"unknown client":                                {ClientID: "nobody", AccessToken: "whatever"},
	} {
		wm := tcworkermanager.New(creds, s.URL)
		if err := wm.Ping(); err != nil {
			t.Errorf("%s: Ping: %v", name, err)
		}
		if l, err := wm.ListWorkerPools("", ""); err != nil || len(l.WorkerPools) != 1 {
			t.Errorf("%s: ListWorkerPools: %+v, %v", name, l, err)
		}
		if p, err := wm.WorkerPool(poolID); err != nil || p.WorkerPoolID != poolID {
			t.Errorf("%s: WorkerPool: %+v, %v", name, p, err)
		}
		if err := wm.RemoveWorker(poolID, "g", "w"); status(err) != 401 {
			t.Errorf("%s: RemoveWorker (requires scopes): %v, want 401", name, err)
		}
	}

	// The same certificate within its validity works for scoped methods: the 401s
	// above are about the credentials, not the way they were made.
	valid := temporaryCredentials("root", rootToken, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), "worker-manager:*")
	if _, err := tcworkermanager.New(valid, s.URL).UpdateWorkerPool(poolID, &tcworkermanager.WorkerPoolDefinition1{ProviderID: "static",
		Config: json.RawMessage(`{}`), Description: "cli, updated", Owner: "ci@example.com", WorkerPoolID: poolID}); err != nil {
		t.Errorf("UpdateWorkerPool with valid temporary credentials: %v", err)
	}
}
