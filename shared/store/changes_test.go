package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/store"
)

// TestChangedWorkersReadsWhatWasWritten: ChangedWorkers returns the records
// written at or after a time, every pool's, stopped ones included, and nothing
// else of the table (a pool's workerConfigs).
func TestChangedWorkersReadsWhatWasWritten(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	s := storetest.New(t, store.WithClock(func() time.Time { return now }))
	for _, id := range []string{"i-1", "i-2", "i-3"} {
		if _, err := s.CreateWorker(ctx, store.Worker{Pool: "p/" + id, WorkerGroup: "g", WorkerID: id, InstanceID: id, Capacity: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutWorkerConfig(ctx, "p/i-1", []byte(`{}`), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, err := s.UpdateWorker(ctx, "p/i-2", "g/i-2", func(w *store.Worker) error {
		w.MarkStopped(now, "gone")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ChangedWorkers(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].WorkerID != "i-2" || got[0].State != store.Stopped || !got[0].Partial {
		t.Errorf("changed since the update: %+v; want i-2, stopped, partial", got)
	}
	if all, err := s.ChangedWorkers(ctx, now.Add(-time.Hour)); err != nil || len(all) != 3 {
		t.Errorf("changed in the last hour: %d records, %v; want 3 (no workerConfig)", len(all), err)
	}
}

// TestPartialUpdateKeepsWhatItLacks: an update from a partial record writes what
// its function changed and keeps the attributes the record lacks; from a stale
// partial record it starts again from the whole, current one.
func TestPartialUpdateKeepsWhatItLacks(t *testing.T) {
	s := storetest.New(t)
	full, err := s.CreateWorker(ctx, store.Worker{Pool: "p/q", WorkerGroup: "g", WorkerID: "i-1", InstanceID: "i-1", Capacity: 1,
		LivePool: "p/q", LaunchToken: "tok", ImageID: "ami-1", SecretTokenHash: []byte{1, 2}, WorkerConfigHash: "cfg", Price: 0.03})
	if err != nil {
		t.Fatal(err)
	}
	live, err := s.LiveWorkers(ctx, "p/q")
	if err != nil || len(live) != 1 || !live[0].Partial || live[0].LaunchToken != "" {
		t.Fatalf("LiveWorkers = %+v, %v; want one partial record", live, err)
	}
	updated, err := s.UpdateWorkerFrom(ctx, live[0], func(w *store.Worker) error {
		w.MarkStopping("surplus")
		return nil
	})
	if err != nil || updated.State != store.Stopping || updated.Version != full.Version+1 {
		t.Fatalf("update = %+v, %v", updated, err)
	}
	got, err := s.WorkerByKey(ctx, "p/q", "g/i-1")
	if err != nil {
		t.Fatal(err)
	}
	want := full
	want.State, want.StopReason, want.Version = store.Stopping, "surplus", full.Version+1
	ignore := cmpopts.IgnoreFields(store.Worker{}, "LastModified", "ChangedAt")
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("stored record (-want +got):\n%s", diff)
	}

	// live[0] is stale now (version 1): the update reads the current record.
	again, err := s.UpdateWorkerFrom(ctx, live[0], func(w *store.Worker) error {
		w.MarkStopped(w.LastModified, "gone")
		return nil
	})
	if err != nil || again.State != store.Stopped || again.Version != full.Version+2 || again.StopReason != "surplus" || again.LaunchToken != "tok" {
		t.Errorf("update from a stale record = %+v, %v; want stopped from the current one, version %d", again, err, full.Version+2)
	}
}
