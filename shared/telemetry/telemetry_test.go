package telemetry

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMetricsFlushEMF(t *testing.T) {
	m := NewMetrics("workerfleet")
	m.now = func() time.Time { return time.UnixMilli(1700000000000) }
	m.Put("PendingTasks", 3, Count, "Pool", "proj/a")
	m.Put("RunningCapacity", 2, Count, "Pool", "proj/a")
	m.Put("PendingTasks", 5, Count, "Pool", "proj/a") // replaces
	m.Put("IterationTime", 1234, Milliseconds)

	var buf bytes.Buffer
	if err := m.Flush(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"Pool": "proj/a", "PendingTasks": 5.0, "RunningCapacity": 2.0,
		"_aws": map[string]any{
			"Timestamp": 1700000000000.0,
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  "workerfleet",
				"Dimensions": []any{[]any{"Pool"}},
				"Metrics": []any{
					map[string]any{"Name": "PendingTasks", "Unit": "Count"},
					map[string]any{"Name": "RunningCapacity", "Unit": "Count"},
				},
			}},
		},
	}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("EMF line (-want +got):\n%s", diff)
	}
	buf.Reset()
	if err := m.Flush(&buf); err != nil || buf.Len() != 0 {
		t.Errorf("second Flush wrote %q, %v; want nothing", buf.String(), err)
	}
}

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name, gomemlimit, mb string
		want                 int64
		ok                   bool
	}{
		{"1024 MB function", "", "1024", 1024 * 1 << 20 * 85 / 100, true},
		{"256 MB function", "", "256", 256 * 1 << 20 * 85 / 100, true},
		{"GOMEMLIMIT wins", "900MiB", "1024", 0, false},
		{"outside Lambda", "", "", 0, false},
		{"nonsense", "", "lots", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := memoryLimit(tc.gomemlimit, tc.mb)
			if ok != tc.ok || (ok && (got < tc.want-1 || got > tc.want+1)) {
				t.Errorf("memoryLimit(%q, %q) = %d, %v; want %d, %v", tc.gomemlimit, tc.mb, got, ok, tc.want, tc.ok)
			}
		})
	}
}
