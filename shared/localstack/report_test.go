package localstack

import (
	"bytes"
	"strings"
	"testing"

	"github.com/workerfleet/workerfleet/shared/provision"
)

// TestPrintReportCountsOrphansApart: the report's Terminated is the iteration's total;
// the "no known pool" line shows only what no pool accounts for.
func TestPrintReportCountsOrphansApart(t *testing.T) {
	tests := []struct {
		name       string
		total      int
		perPool    int
		wantOrphan string // "" = no orphan line
	}{
		{"a deleted pool's instances only", 2, 2, ""},
		{"orphans beside a pool's", 5, 2, "terminated 3 instances of no known pool"},
		{"orphans only", 1, 0, "terminated 1 instances of no known pool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := &Stack{Options: Options{Out: &out}}
			s.printReport(&provision.Report{Terminated: tt.total,
				Pools: []provision.PoolReport{{Key: "p", Name: "proj/pool", Terminated: tt.perPool}}})
			got := out.String()
			if !strings.Contains(got, "proj/pool") {
				t.Errorf("no line for the pool:\n%s", got)
			}
			if has := strings.Contains(got, "no known pool"); has != (tt.wantOrphan != "") || !strings.Contains(got, tt.wantOrphan) {
				t.Errorf("output:\n%swant orphan line %q", got, tt.wantOrphan)
			}
		})
	}
}
