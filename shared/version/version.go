// Package version says which release of workerfleet a binary is, for the APIs'
// __version__ methods and the logs.
package version

import "runtime/debug"

// Release is this source tree's release; CHANGELOG.md says what each one changed.
const Release = "0.20.0"

// Info is what __version__ answers, in the shape of the dockerflow version.json
// Taskcluster's services answer with.
type Info struct {
	Source  string `json:"source"`
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Build   string `json:"build"`
}

// revision is the git revision the binary was built from, set by the Lambda builds
// (the Makefile's LAMBDA_FLAGS: -X ...version.revision=...); "-dirty" ends it when
// the source had uncommitted changes.
var revision string

// Get returns the running binary's version: the release, the git revision it was
// built from (the build's -X, else what Go's VCS stamping recorded, else
// "unknown") and the Go version.
func Get() Info {
	info := Info{Source: "https://github.com/workerfleet/workerfleet", Version: Release, Commit: "unknown", Build: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.Build = bi.GoVersion
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && info.Commit != "unknown" {
			info.Commit += "-dirty"
		}
	}
	if revision != "" {
		info.Commit = revision
	}
	return info
}
