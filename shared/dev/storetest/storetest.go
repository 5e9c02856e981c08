// Package storetest gives tests a real DynamoDB Local and fresh tables built from
// template.yaml. A test package calls Main from its TestMain; each test then calls New
// for a Store over tables of its own, so tests never see each other's items.
//
// With WORKERFLEET_TEST_STORE=memdb, the same tests run on the simulator's
// in-memory DynamoDB (store/memdb) instead: `make test` runs the store's and the
// provisioner's tests both ways, so the simulator's store cannot drift from the
// real one unnoticed.
package storetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/workerfleet/workerfleet/shared/dev/dynamolocal"
	"github.com/workerfleet/workerfleet/shared/dev/memdb"
	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
	"github.com/workerfleet/workerfleet/shared/store"
)

var (
	server *dynamolocal.Server
	mem    *memdb.DB // in memdb mode
	tmpl   *samtemplate.Template
	seq    atomic.Int64
)

// StoreEnv names the environment variable choosing the store tests run on:
// "memdb", or DynamoDB Local otherwise.
const StoreEnv = "WORKERFLEET_TEST_STORE"

// InMemory reports whether tests run on the in-memory DynamoDB.
func InMemory() bool { return os.Getenv(StoreEnv) == "memdb" }

// Main starts DynamoDB Local, runs the package's tests, and stops it.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	path, err := samtemplate.Find()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		return 1
	}
	if tmpl, err = samtemplate.Load(path); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		return 1
	}
	if InMemory() {
		mem = memdb.New()
		return m.Run()
	}
	if server, err = dynamolocal.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		return 1
	}
	defer server.Stop()
	return m.Run()
}

// DB returns a client of the package's DynamoDB Local (or, in memdb mode, the
// in-memory DynamoDB).
func DB(t testing.TB) store.DB {
	t.Helper()
	if mem != nil {
		return mem
	}
	if server == nil {
		t.Fatal("storetest: DynamoDB Local is not running; call storetest.Main(m) from TestMain")
	}
	return server.Client()
}

// Tables creates a fresh set of the template's tables and returns their names. Their
// TTL sweeper is off (dynamolocal.WithoutTTL): tests' clocks are simulated.
func Tables(t testing.TB) store.Tables {
	t.Helper()
	prefix := fmt.Sprintf("t%d_", seq.Add(1))
	name := func(id string) string { return prefix + id }
	if mem != nil {
		names, err := mem.CreateTables(tmpl.Tables, name)
		if err != nil {
			t.Fatalf("storetest: %v", err)
		}
		return store.TablesFromLogical(names)
	}
	DB(t)
	names, err := dynamolocal.CreateTables(context.Background(), server.Client(), tmpl.Tables, name, dynamolocal.WithoutTTL())
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	return store.TablesFromLogical(names)
}

// New returns a Store over fresh tables, with a random continuation-token key.
func New(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	return store.New(DB(t), Tables(t), Key(t), opts...)
}

// Key returns a random 32-byte key.
func Key(t testing.TB) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// Template returns the parsed template.yaml.
func Template() *samtemplate.Template { return tmpl }
