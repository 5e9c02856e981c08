// Package dynamolocal runs Amazon's DynamoDB Local for tests and for the local stack,
// and creates tables from template.yaml's own definitions.
//
// DynamoDB Local (Amazon's jar) ships inside the npm package amplify-dynamodb-simulator.
// The first Start fetches just that package's tarball with `npm pack`, keeps its
// emulator/ folder in a cache directory, and every later Start reuses it. Each Start
// runs its own in-memory server on a free port; Stop (or the death of the parent
// process) ends it.
//
// Nothing of it is reachable from elsewhere. DynamoDB Local has no option for the
// address it listens on and would listen on every interface, so it is started
// through a small launcher (loopback/LoopbackDynamoDBLocal.java, compiled once into
// the cache with the JDK's javac) that binds its server to 127.0.0.1. And DynamoDB
// Local keeps a separate database per access key id: each server gets a random one,
// so a client with other credentials, even on this machine, sees none of its tables.
// Its telemetry is off.
package dynamolocal

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed" // the launcher's source
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/workerfleet/workerfleet/shared/dev/childproc"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

// Package is the npm package (and pinned version) that carries DynamoDB Local.
const Package = "amplify-dynamodb-simulator@2.9.30"

// CacheDir is where DynamoDB Local is kept: $WORKERFLEET_CACHE, else
// $XDG_CACHE_HOME/workerfleet, else ~/.cache/workerfleet.
func CacheDir() (string, error) {
	if d := os.Getenv("WORKERFLEET_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "workerfleet"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cache dir: %w", err)
	}
	return filepath.Join(home, ".cache", "workerfleet"), nil
}

// Install makes sure DynamoDB Local is in the cache and returns its folder (the one
// holding DynamoDBLocal.jar). Concurrent installs from several processes are safe:
// each unpacks into its own temporary folder and the first rename wins.
func Install(ctx context.Context) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "dynamodb-local")
	if _, err := os.Stat(filepath.Join(dir, "DynamoDBLocal.jar")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("install dynamodb local: %w", err)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", errors.New("install dynamodb local: npm is not installed (it fetches " + Package + ")")
	}
	tmp, err := os.MkdirTemp(cache, "dynamodb-local-*")
	if err != nil {
		return "", fmt.Errorf("install dynamodb local: %w", err)
	}
	defer os.RemoveAll(tmp)
	// Progress for people, whatever the log level: the first run waits on npm.
	fmt.Fprintf(os.Stderr, "installing DynamoDB Local (npm package %s) into %s; this happens once\n", Package, dir)
	cmd := exec.CommandContext(ctx, "npm", "pack", Package, "--silent", "--pack-destination", tmp)
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("install dynamodb local: npm pack %s: %w: %s", Package, err, strings.TrimSpace(string(out)))
	}
	tarballs, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if len(tarballs) != 1 {
		return "", fmt.Errorf("install dynamodb local: npm pack left %d tarballs", len(tarballs))
	}
	unpacked := filepath.Join(tmp, "emulator")
	if err := extractEmulator(tarballs[0], unpacked); err != nil {
		return "", fmt.Errorf("install dynamodb local: %w", err)
	}
	if _, err := os.Stat(filepath.Join(unpacked, "DynamoDBLocal.jar")); err != nil {
		return "", errors.New("install dynamodb local: the package has no emulator/DynamoDBLocal.jar")
	}
	if err := os.Rename(unpacked, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "DynamoDBLocal.jar")); statErr == nil {
			return dir, nil // another process won the race
		}
		return "", fmt.Errorf("install dynamodb local: %w", err)
	}
	return dir, nil
}

// extractEmulator unpacks package/emulator/** of an npm tarball into dst.
func extractEmulator(tarball, dst string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", tarball, err)
	}
	tr := tar.NewReader(gz)
	const prefix = "package/emulator/"
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", tarball, err)
		}
		if !strings.HasPrefix(h.Name, prefix) || h.Typeflag != tar.TypeReg {
			continue
		}
		rel := filepath.FromSlash(strings.TrimPrefix(h.Name, prefix))
		if rel == "" || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
			return fmt.Errorf("unsafe path %q in %s", h.Name, tarball)
		}
		p := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
	}
}

// Server is one running DynamoDB Local.
type Server struct {
	// Endpoint is its URL, http://127.0.0.1:<port>.
	Endpoint string
	// AccessKeyID is the access key id its tables live under (random): DynamoDB
	// Local keeps a database per access key id, and checks no secret key.
	AccessKeyID string
	cmd         *exec.Cmd
	done        chan error
}

//go:embed loopback/LoopbackDynamoDBLocal.java
var launcherSource []byte

const launcherClass = "LoopbackDynamoDBLocal"

// launcher compiles the loopback launcher against DynamoDB Local in dir, once per
// version of its source, and returns the folder holding its class.
func launcher(ctx context.Context, dir string) (string, error) {
	sum := sha256.Sum256(launcherSource)
	out := filepath.Join(filepath.Dir(dir), "dynamodb-local-loopback-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(out, launcherClass+".class")); err == nil {
		return out, nil
	}
	if _, err := exec.LookPath("javac"); err != nil {
		return "", errors.New("javac is not installed: a JDK (e.g. openjdk-17-jdk-headless) compiles the launcher that binds DynamoDB Local to 127.0.0.1")
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "dynamodb-local-loopback-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, launcherClass+".java")
	if err := os.WriteFile(src, launcherSource, 0o644); err != nil {
		return "", err
	}
	classes := filepath.Join(tmp, "classes")
	cmd := exec.CommandContext(ctx, "javac", "-nowarn", "-d", classes, "-cp", classPath(dir), src)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("compile the loopback launcher: %w: %s", err, strings.TrimSpace(string(msg)))
	}
	if err := os.Rename(classes, out); err != nil {
		if _, statErr := os.Stat(filepath.Join(out, launcherClass+".class")); statErr == nil {
			return out, nil // another process compiled it first
		}
		return "", err
	}
	return out, nil
}

// classPath is DynamoDB Local's class path in dir, after extra folders.
func classPath(dir string, extra ...string) string {
	return strings.Join(append(extra, filepath.Join(dir, "DynamoDBLocal.jar"), filepath.Join(dir, "DynamoDBLocal_lib", "*")), string(os.PathListSeparator))
}

// StartOption adjusts Start.
type StartOption func(*startOptions)

type startOptions struct{ dbPath string }

// WithDBPath keeps the tables in a database file in dir (DynamoDB Local's -dbPath),
// under an access key id kept there too, so that they survive a restart; dir is
// created. Without it the server keeps them in memory, under a fresh key id.
func WithDBPath(dir string) StartOption { return func(o *startOptions) { o.dbPath = dir } }

// Start installs DynamoDB Local if needed and starts a server on a free port of
// 127.0.0.1, in memory unless WithDBPath says otherwise, returning once it answers
// requests.
func Start(ctx context.Context, opts ...StartOption) (*Server, error) {
	var o startOptions
	for _, opt := range opts {
		opt(&o)
	}
	storage := []string{"-inMemory"}
	if o.dbPath != "" {
		abs, err := filepath.Abs(o.dbPath)
		if err != nil {
			return nil, fmt.Errorf("start dynamodb local: %w", err)
		}
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, fmt.Errorf("start dynamodb local: %w", err)
		}
		o.dbPath, storage = abs, []string{"-dbPath", abs}
	}
	dir, err := Install(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, errors.New("start dynamodb local: java is not installed")
	}
	classes, err := launcher(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("start dynamodb local: %w", err)
	}
	port, err := childproc.FreePort()
	if err != nil {
		return nil, fmt.Errorf("start dynamodb local: %w", err)
	}
	key, err := accessKey(o.dbPath)
	if err != nil {
		return nil, fmt.Errorf("start dynamodb local: %w", err)
	}
	args := []string{
		"-Djava.library.path=" + filepath.Join(dir, "DynamoDBLocal_lib"),
		"-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", classPath(dir, classes), launcherClass,
	}
	cmd := exec.Command("java", append(append(args, storage...), "-disableTelemetry", "-port", strconv.Itoa(port))...)
	cmd.Dir = dir
	cmd.SysProcAttr = childproc.Attrs()
	logs := childproc.NewTail(8 << 10)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynamodb local: %w", err)
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), AccessKeyID: key, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()

	client := s.Client()
	deadline := time.Now().Add(60 * time.Second)
	for {
		callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.ListTables(callCtx, &dynamodb.ListTablesInput{})
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case werr := <-s.done:
			return nil, fmt.Errorf("start dynamodb local: exited early (%v): %s", werr, logs.String())
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("start dynamodb local: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("start dynamodb local: not answering after 60s: %v: %s", err, logs.String())
		}
	}
}

// accessKey is a fresh random access key id, or with a database folder the one kept
// in it (written 0600 the first time), whose tables the database holds.
func accessKey(dbPath string) (string, error) {
	if dbPath != "" {
		if b, err := os.ReadFile(filepath.Join(dbPath, "access-key-id")); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	key := "wf" + hex.EncodeToString(b)
	if dbPath != "" {
		if err := os.WriteFile(filepath.Join(dbPath, "access-key-id"), []byte(key+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	return key, nil
}

// Client returns a DynamoDB client for the server, with its access key id.
func (s *Server) Client() *dynamodb.Client { return NewClient(s.Endpoint, s.AccessKeyID) }

// NewClient returns a DynamoDB client for a DynamoDB Local at endpoint, whose
// tables live under accessKeyID (its secret key is not checked).
func NewClient(endpoint, accessKeyID string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, "unchecked", ""),
	})
}

// Stop ends the server and waits for it to exit.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	// The server runs in its own process group; end the whole group.
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// TableOption adjusts CreateTables.
type TableOption func(*tableOptions)

type tableOptions struct{ noTTL, keepExisting bool }

// KeepExisting leaves a table that already exists as it is (a database kept by
// WithDBPath) instead of failing.
func KeepExisting() TableOption { return func(o *tableOptions) { o.keepExisting = true } }

// WithoutTTL leaves DynamoDB's TTL sweeper off. Tests run on simulated clocks, often
// days from the real one, and DynamoDB Local deletes items whose ttl is past by the
// real clock, at moments of its own: items would vanish mid-test. The store hides
// expired items by its own clock, which is what the tests exercise.
func WithoutTTL() TableOption { return func(o *tableOptions) { o.noTTL = true } }

// CreateTables creates every table of the template on db, named by name(logicalID),
// with the template's key schema, indexes and TTL. It returns logical id -> table name.
func CreateTables(ctx context.Context, db *dynamodb.Client, tables map[string]*samtemplate.Table, name func(logicalID string) string, opts ...TableOption) (map[string]string, error) {
	var o tableOptions
	for _, opt := range opts {
		opt(&o)
	}
	names := make(map[string]string, len(tables))
	for id, t := range tables {
		tableName := name(id)
		in := &dynamodb.CreateTableInput{
			TableName:   aws.String(tableName),
			BillingMode: types.BillingModePayPerRequest,
			KeySchema:   keySchema(t.HashKey, t.RangeKey),
		}
		for attr, typ := range t.Attributes {
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
				AttributeName: aws.String(attr), AttributeType: types.ScalarAttributeType(typ),
			})
		}
		for _, idx := range t.Indexes {
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
				IndexName:  aws.String(idx.Name),
				KeySchema:  keySchema(idx.HashKey, idx.RangeKey),
				Projection: projection(idx),
			})
		}
		if _, err := db.CreateTable(ctx, in); err != nil {
			var inUse *types.ResourceInUseException
			if o.keepExisting && errors.As(err, &inUse) {
				names[id] = tableName
				continue
			}
			return nil, fmt.Errorf("create table %s (%s): %w", tableName, id, err)
		}
		if t.TTLAttribute != "" && !o.noTTL {
			if _, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName: aws.String(tableName),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{
					AttributeName: aws.String(t.TTLAttribute), Enabled: aws.Bool(true),
				},
			}); err != nil {
				return nil, fmt.Errorf("enable ttl on %s: %w", tableName, err)
			}
		}
		names[id] = tableName
	}
	return names, nil
}

func keySchema(hash, rng string) []types.KeySchemaElement {
	ks := []types.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash}}
	if rng != "" {
		ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange})
	}
	return ks
}

// projection is an index's projection as CreateTable takes it.
func projection(idx samtemplate.Index) *types.Projection {
	p := &types.Projection{ProjectionType: types.ProjectionType(idx.Projection)}
	if len(idx.NonKeyAttributes) > 0 {
		p.NonKeyAttributes = idx.NonKeyAttributes
	}
	return p
}
