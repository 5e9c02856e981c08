// Package compattest holds the compatibility tests: the official Taskcluster Go
// clients (tcawsprovisioner v19, tcworkermanager v25), unmodified, against the local
// stack, and the end-to-end test that starts `make run` as a user would. It is a
// module of its own so the product's go.mod stays free of the old v19 client.
package compattest
