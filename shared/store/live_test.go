package store_test

import (
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/store"
)

func liveIDs(t *testing.T, s *store.Store, pool string) []string {
	t.Helper()
	ws, err := s.LiveWorkers(ctx, pool)
	if err != nil {
		t.Fatalf("LiveWorkers: %v", err)
	}
	ids := []string{}
	for _, w := range ws {
		ids = append(ids, w.WorkerID)
		if w.LivePool != pool {
			t.Errorf("live worker %s has LivePool %q, want %q", w.WorkerID, w.LivePool, pool)
		}
	}
	sort.Strings(ids)
	return ids
}

// TestLiveWorkersReadsTheLiveIndex: LiveWorkers lists the records not stopped (and
// not expired) through the sparse index; a record leaves the index when it stops
// and stays in Workers.
func TestLiveWorkersReadsTheLiveIndex(t *testing.T) {
	clk := newClock()
	s := storetest.New(t, store.WithClock(clk.Now))
	const pool = "proj/live"
	for i, st := range []store.State{store.Requested, store.Running, store.Stopping, store.Running} {
		exp := clk.Now().Add(time.Hour)
		if i == 3 {
			exp = clk.Now().Add(time.Minute) // expires first
		}
		if _, err := s.CreateWorker(ctx, store.Worker{Pool: pool, WorkerGroup: "g", WorkerID: string(rune('a' + i)), State: st, Expires: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateWorker(ctx, store.Worker{Pool: "proj/other", WorkerGroup: "g", WorkerID: "x", Expires: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, liveIDs(t, s, pool)); diff != "" {
		t.Errorf("live workers (-want +got):\n%s", diff)
	}
	if _, err := s.UpdateWorker(ctx, pool, store.WorkerKey("g", "b"), func(w *store.Worker) error {
		w.MarkStopped(clk.Now(), "test")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if diff := cmp.Diff([]string{"a", "c"}, liveIDs(t, s, pool)); diff != "" {
		t.Errorf("live workers after one stopped and one expired (-want +got):\n%s", diff)
	}
	stopped, err := s.WorkerByKey(ctx, pool, store.WorkerKey("g", "b"))
	if err != nil || stopped.State != store.Stopped || stopped.LivePool != "" {
		t.Errorf("stopped record = %+v, %v; want stopped, without LivePool", stopped, err)
	}
	all, err := s.Workers(ctx, pool)
	if err != nil || len(all) != 3 {
		t.Errorf("Workers = %d records, %v; want 3 (the stopped one stays listed)", len(all), err)
	}
}

// TestIndexLiveWorkersAddsRecordsFromBeforeTheIndex: records written without
// livePool (by a version before the live index) are missing from LiveWorkers until
// IndexLiveWorkers writes the live ones back; stopped ones stay out.
func TestIndexLiveWorkersAddsRecordsFromBeforeTheIndex(t *testing.T) {
	clk := newClock()
	db, tables := storetest.DB(t), storetest.Tables(t)
	s := store.New(db, tables, storetest.Key(t), store.WithClock(clk.Now))
	const pool = "proj/old"
	if _, err := s.CreateWorker(ctx, store.Worker{Pool: pool, WorkerGroup: "g", WorkerID: "new", Expires: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	old := func(id string, st store.State) {
		w := store.Worker{Pool: pool, Key: store.WorkerKey("g", id), WorkerGroup: "g", WorkerID: id, State: st, Created: clk.Now(),
			Expires: clk.Now().Add(time.Hour), TTL: clk.Now().Add(time.Hour).Unix(), Version: 3}
		item, err := attributevalue.MarshalMap(w)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := item["livePool"]; ok {
			t.Fatal("a record from before the index carries livePool")
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tables.Workers), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	old("old-running", store.Running)
	old("old-stopped", store.Stopped)

	if diff := cmp.Diff([]string{"new"}, liveIDs(t, s, pool)); diff != "" {
		t.Errorf("before indexing (-want +got):\n%s", diff)
	}
	n, err := s.IndexLiveWorkers(ctx, pool)
	if err != nil || n != 1 {
		t.Fatalf("IndexLiveWorkers = %d, %v; want 1", n, err)
	}
	if diff := cmp.Diff([]string{"new", "old-running"}, liveIDs(t, s, pool)); diff != "" {
		t.Errorf("after indexing (-want +got):\n%s", diff)
	}
	w, err := s.WorkerByKey(ctx, pool, store.WorkerKey("g", "old-running"))
	if err != nil || w.State != store.Running || w.Version != 4 {
		t.Errorf("indexed record = %+v, %v; want it unchanged but for its index key and version 4", w, err)
	}
	if n, err := s.IndexLiveWorkers(ctx, pool); err != nil || n != 0 {
		t.Errorf("IndexLiveWorkers again = %d, %v; want 0", n, err)
	}
}
