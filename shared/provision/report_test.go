package provision

import "testing"

func TestPoolReportLine(t *testing.T) {
	tests := []struct {
		name string
		r    PoolReport
		want string
	}{
		{"steady", PoolReport{Name: "proj/pool", PendingTasks: 0, Running: 4},
			"proj/pool: pending tasks 0, running 4, requested 0"},
		{"launch in a zone", PoolReport{Name: "proj/pool", PendingTasks: 5, Change: 4,
			Launches: []LaunchReport{{InstanceType: "c5.xlarge", Region: "us-west-2", AvailabilityZone: "us-west-2b", Spot: true, Price: 0.0518, Count: 2}}},
			"proj/pool: pending tasks 5, running 0, requested 0 -> want +4; launched 2 x c5.xlarge in us-west-2b (spot $0.0518/h)"},
		{"on-demand, no price known", PoolReport{Name: "wt", PendingTasks: 1, Change: 1, Interrupted: 2, Terminated: 1, Note: "n",
			Launches: []LaunchReport{{InstanceType: "m5.large", Region: "us-east-1", Count: 1}}, Errors: []string{"quota"}},
			"wt: pending tasks 1, running 0, requested 0, interrupted 2 -> want +1; launched 1 x m5.large in us-east-1 (on-demand price unknown); terminated 1; n; error: quota"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Line(); got != tt.want {
				t.Errorf("Line() =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}
