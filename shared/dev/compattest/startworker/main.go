// Command startworker is worker-runner v25's start-worker, unmodified, with one
// addition for the tests: EC2_METADATA_BASE_URL, when set, replaces the aws
// provider's metadata base URL (http://169.254.169.254/latest) through the exported
// package variable aws.EC2MetadataBaseURL, so that the worker reads the local
// stack's fake metadata endpoint for its instance.
//
// Usage: EC2_METADATA_BASE_URL=<root URL>/local/imds/<instanceId>/latest startworker <runnerConfig>
package main

import (
	"fmt"
	"log"
	"os"

	"github.com/taskcluster/taskcluster/v25/tools/taskcluster-worker-runner/provider/aws"
	"github.com/taskcluster/taskcluster/v25/tools/taskcluster-worker-runner/runner"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: startworker <runnerConfig>")
		os.Exit(2)
	}
	if u := os.Getenv("EC2_METADATA_BASE_URL"); u != "" {
		aws.EC2MetadataBaseURL = u
	}
	if _, err := runner.Run(os.Args[1]); err != nil {
		log.Printf("%s", err)
		os.Exit(1)
	}
}
