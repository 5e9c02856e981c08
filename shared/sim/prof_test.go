package sim

import (
	"context"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/provision"
)

func TestProfBaseline1s(t *testing.T) {
	tasks, err := LoadTrace("/work/shared/data/firefox-ci/gecko-t-t-linux-metal.dat")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Run(context.Background(), Options{Trace: "metal", Tasks: tasks, Warmup: time.Hour, End: 4 * time.Hour,
		Policies: []provision.Policy{provision.PolicyWorkerManager}, BaselineInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("took %v", time.Since(start))
}
