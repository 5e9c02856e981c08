// Package storetest gives tests a real DynamoDB Local and fresh tables built from
// template.yaml. A test package calls Main from its TestMain; each test then calls New
// for a Store over tables of its own, so tests never see each other's items.
package storetest

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/workerfleet/workerfleet/shared/dynamolocal"
	"github.com/workerfleet/workerfleet/shared/store"
	"github.com/workerfleet/workerfleet/shared/template"
)

var (
	server *dynamolocal.Server
	tmpl   *template.Template
	seq    atomic.Int64
)

// Main starts DynamoDB Local, runs the package's tests, and stops it.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	path, err := template.Find()
	if err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		return 1
	}
	if tmpl, err = template.Load(path); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		return 1
	}
	if server, err = dynamolocal.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "storetest:", err)
		return 1
	}
	defer server.Stop()
	return m.Run()
}

// DB returns a client of the package's DynamoDB Local.
func DB(t testing.TB) *dynamodb.Client {
	t.Helper()
	if server == nil {
		t.Fatal("storetest: DynamoDB Local is not running; call storetest.Main(m) from TestMain")
	}
	return server.Client()
}

// Tables creates a fresh set of the template's tables and returns their names. Their
// TTL sweeper is off (dynamolocal.WithoutTTL): tests' clocks are simulated.
func Tables(t testing.TB) store.Tables {
	t.Helper()
	db := DB(t)
	prefix := fmt.Sprintf("t%d_", seq.Add(1))
	names, err := dynamolocal.CreateTables(context.Background(), db, tmpl.Tables, func(id string) string { return prefix + id }, dynamolocal.WithoutTTL())
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
func Template() *template.Template { return tmpl }
