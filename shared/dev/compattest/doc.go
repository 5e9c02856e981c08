// Package compattest holds the compatibility tests: the official Taskcluster Go
// clients (tcawsprovisioner v19, tcworkermanager v25), unmodified, against the local
// stack; Taskcluster's own programs built from the v25 module (the taskcluster CLI,
// worker-runner's start-worker with the aws and static providers); and the
// end-to-end test that starts `make run` as a user would. It is a module of its own
// so the product's go.mod stays free of the old v19 client and Taskcluster's tools.
package compattest
