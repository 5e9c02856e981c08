//go:build tools

package compattest

// The Taskcluster programs the tests build and run, unmodified: listed here so that
// go.mod and go.sum keep what building them needs.
import (
	_ "github.com/taskcluster/taskcluster/v25/clients/client-shell"
	_ "github.com/taskcluster/taskcluster/v25/tools/taskcluster-worker-runner/cmd/start-worker"
)
