package traces_test

import (
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/dev/sim"
)

// TestShippedTrace: the trace `make sim` runs by default is in the repository,
// whole: the README's task count and span.
func TestShippedTrace(t *testing.T) {
	tasks, err := sim.LoadTrace("gecko-t-t-linux-metal.dat")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 24649 {
		t.Errorf("%d tasks, want 24,649", len(tasks))
	}
	if span := tasks[len(tasks)-1].Pending; span < 111*time.Hour || span > 111*time.Hour+15*time.Minute {
		t.Errorf("the trace spans %v, want 111.1 h", span)
	}
}
