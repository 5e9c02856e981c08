// Package localstack runs the whole system on one machine, for `make run`, demos and
// end-to-end tests: DynamoDB Local with the template's tables, a gateway that plays API
// Gateway in front of the same handlers the Lambdas run, the provisioner on a schedule,
// the fake cloud feeding EC2 events to the ec2-events handler, a Taskcluster-compatible
// fake queue, and simulated workers that boot, register or fetch their secret, work
// and shut down.
package localstack
