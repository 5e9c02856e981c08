package store_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/store"
)

var lifeT0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func requestedWorker(instance string) store.Worker {
	return store.Worker{
		Pool: "proj/pool", WorkerGroup: "us-east-1", WorkerID: instance, InstanceID: instance,
		ProviderID: "aws", State: store.Requested, Capacity: 1, Created: lifeT0, LastModified: lifeT0, LastChecked: lifeT0,
		Expires: lifeT0.Add(100 * time.Hour),
	}
}

// TestObserveEC2State: what each EC2 state, as the provisioner lists it, does to a
// worker's record; and that reporting it again changes nothing.
func TestObserveEC2State(t *testing.T) {
	at := lifeT0.Add(time.Minute)
	tests := []struct {
		name  string
		start store.State
		state string
		check func(t *testing.T, w store.Worker)
	}{
		{"pending records the launch time only", store.Requested, "pending", func(t *testing.T, w store.Worker) {
			if w.State != store.Requested || w.EC2State != "pending" || !w.LaunchTime.Equal(at) {
				t.Errorf("state %s ec2 %s launch %v", w.State, w.EC2State, w.LaunchTime)
			}
		}},
		{"running never makes a worker running", store.Requested, "running", func(t *testing.T, w store.Worker) {
			if w.State != store.Requested || w.EC2State != "running" || !w.RunningTime.Equal(at) {
				t.Errorf("state %s ec2 %s running %v", w.State, w.EC2State, w.RunningTime)
			}
		}},
		{"shutting-down makes a running worker stopping", store.Running, "shutting-down", func(t *testing.T, w store.Worker) {
			if w.State != store.Stopping || !w.StoppingTime.Equal(at) || w.StopReason != store.ReasonShuttingDown {
				t.Errorf("state %s stopping %v reason %q", w.State, w.StoppingTime, w.StopReason)
			}
		}},
		{"stopping makes a requested worker stopping", store.Requested, "stopping", func(t *testing.T, w store.Worker) {
			if w.State != store.Stopping {
				t.Errorf("state %s", w.State)
			}
		}},
		{"terminated makes a worker stopped and schedules its record's removal", store.Running, "terminated", func(t *testing.T, w store.Worker) {
			if w.State != store.Stopped || !w.TerminatedTime.Equal(at) || !w.Expires.Equal(at.Add(store.StoppedRetention)) {
				t.Errorf("state %s terminated %v expires %v", w.State, w.TerminatedTime, w.Expires)
			}
		}},
		{"stopped makes a worker stopped", store.Stopping, "stopped", func(t *testing.T, w store.Worker) {
			if w.State != store.Stopped || w.EC2State != "stopped" {
				t.Errorf("state %s ec2 %s", w.State, w.EC2State)
			}
		}},
		{"nothing leaves stopped", store.Stopped, "running", func(t *testing.T, w store.Worker) {
			if w.State != store.Stopped || w.EC2State != "running" {
				t.Errorf("state %s ec2 %s; want stopped, with EC2's state still recorded", w.State, w.EC2State)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := requestedWorker("i-1")
			w.State = tt.start
			if !w.ObserveEC2State(tt.state, at) {
				t.Fatal("ObserveEC2State reported no change")
			}
			tt.check(t, w)
			again := w
			if again.ObserveEC2State(tt.state, at) {
				t.Errorf("the same report twice changed the record: %s", cmp.Diff(w, again))
			}
		})
	}
	if w := requestedWorker("i-1"); w.ObserveEC2State("exploded", at) || w.EC2State != "" {
		t.Errorf("an unknown state changed the record: %q", w.EC2State)
	}
}

func TestOlderEC2StatesDoNotRewind(t *testing.T) {
	w := requestedWorker("i-1")
	w.ObserveEC2State("terminated", lifeT0.Add(3*time.Minute))
	w.ObserveEC2State("running", lifeT0.Add(time.Minute))
	if w.EC2State != "terminated" || w.State != store.Stopped || !w.RunningTime.Equal(lifeT0.Add(time.Minute)) {
		t.Errorf("ec2 %s state %s running %v; want terminated, stopped, with the running time recorded", w.EC2State, w.State, w.RunningTime)
	}
	// Same timestamp: EC2's state order decides.
	v := requestedWorker("i-2")
	v.ObserveEC2State("terminated", lifeT0)
	v.ObserveEC2State("shutting-down", lifeT0)
	if v.EC2State != "terminated" {
		t.Errorf("equal times: ec2 state %s, want terminated", v.EC2State)
	}
}

// TestEC2ReportsFoldInAnyOrder: for random life cycles, EC2's reports (states and
// spot interruption warnings) shuffled and repeated end
// in the record the reports in order give, in the state the last transition
// implies.
func TestEC2ReportsFoldInAnyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	implied := map[string]store.State{
		"pending": store.Requested, "running": store.Requested,
		"stopping": store.Stopping, "shutting-down": store.Stopping,
		"stopped": store.Stopped, "terminated": store.Stopped,
	}
	paths := [][]string{
		{"pending"},
		{"pending", "running"},
		{"pending", "running", "stopping"},
		{"pending", "running", "stopping", "stopped"},
		{"pending", "running", "shutting-down"},
		{"pending", "running", "shutting-down", "terminated"},
		{"pending", "shutting-down", "terminated"},
		{"pending", "running", "stopping", "stopped", "terminated"},
	}
	type report struct {
		state string // "" for an interruption warning
		at    time.Time
	}
	fold := func(w *store.Worker, r report) {
		switch r.state {
		case "":
			w.ObserveInterruption(r.at.Add(2*time.Minute), r.at)
		default:
			w.ObserveEC2State(r.state, r.at)
		}
	}
	for iter := range 2000 {
		path := paths[rng.IntN(len(paths))]
		var reports []report
		at := lifeT0
		for _, st := range path {
			// Sometimes two transitions share a timestamp (EC2's clock is per second).
			if rng.IntN(4) > 0 {
				at = at.Add(time.Duration(1+rng.IntN(600)) * time.Second)
			}
			reports = append(reports, report{st, at})
		}
		if rng.IntN(2) == 0 {
			reports = append(reports, report{"", lifeT0.Add(time.Duration(rng.IntN(3600)) * time.Second)})
		}
		delivered := append([]report(nil), reports...)
		for range rng.IntN(len(reports) + 1) {
			delivered = append(delivered, reports[rng.IntN(len(reports))])
		}
		rng.Shuffle(len(delivered), func(i, j int) { delivered[i], delivered[j] = delivered[j], delivered[i] })

		w := requestedWorker("i-prop")
		for _, r := range delivered {
			fold(&w, r)
		}
		inOrder := requestedWorker("i-prop")
		for _, r := range reports {
			fold(&inOrder, r)
		}
		last := path[len(path)-1]
		if w.EC2State != last || w.State != implied[last] {
			t.Fatalf("iteration %d: path %v delivered as %v: ec2 %s state %s; want %s %s",
				iter, path, delivered, w.EC2State, w.State, last, implied[last])
		}
		if diff := cmp.Diff(inOrder, w); diff != "" {
			t.Fatalf("iteration %d: shuffled delivery differs from in-order delivery:\n%s", iter, diff)
		}
	}
}
