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

// Get returns the running binary's version: the release, and the VCS revision and
// Go version it was built from when the build recorded them.
func Get() Info {
	info := Info{Source: "https://github.com/workerfleet/workerfleet", Version: Release, Commit: "unknown", Build: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		info.Build = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				info.Commit = s.Value
			}
		}
	}
	return info
}
