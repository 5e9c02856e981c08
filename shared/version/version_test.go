package version

import (
	"runtime"
	"testing"
)

// TestGetReportsTheBuild: __version__ answers the release, the revision the build
// stamped, and the Go version; without a stamp, "unknown" rather than nothing.
func TestGetReportsTheBuild(t *testing.T) {
	for _, tt := range []struct {
		stamped, want string
	}{
		{"3f2a9c1e0b7d4a6f8e2c5b1a9d0e7f6c4b3a2d1e", "3f2a9c1e0b7d4a6f8e2c5b1a9d0e7f6c4b3a2d1e"},
		{"3f2a9c1e0b7d4a6f8e2c5b1a9d0e7f6c4b3a2d1e-dirty", "3f2a9c1e0b7d4a6f8e2c5b1a9d0e7f6c4b3a2d1e-dirty"},
		{"", "unknown"}, // go test stamps no VCS information
	} {
		revision = tt.stamped
		got := Get()
		if got.Commit != tt.want || got.Version != Release || got.Build != runtime.Version() {
			t.Errorf("stamped %q: %+v, want commit %q, version %s, build %s", tt.stamped, got, tt.want, Release, runtime.Version())
		}
	}
	revision = ""
}
