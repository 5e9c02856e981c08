package provision

import (
	"slices"
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/store"
)

// An iteration adds a sample to the pool's stored history when its figures
// changed, and writes the pool's status only then: a steady pool's status keeps
// the time it was last written. The status carries the pool's bounds for the
// status page.
func TestPoolStatusKeepsHistory(t *testing.T) {
	e := newEnv(t)
	e.awsPool("proj/hist", 1, 3)
	for range 3 {
		e.iterate()
		e.advance(time.Minute)
	}
	st, err := e.store.PoolStatus(ctx, "proj/hist")
	if err != nil {
		t.Fatal(err)
	}
	// 1st iteration: nothing live yet (it launches one); 2nd: one requested; 3rd: the same.
	if len(st.History) != 2 || st.MinCapacity != 1 || st.MaxCapacity != 3 {
		t.Fatalf("status after 3 iterations: history %v, min %v, max %v", st.History, st.MinCapacity, st.MaxCapacity)
	}
	if h := st.History; !h[0].Time.Before(h[1].Time) || h[1].Requested+h[1].Running != 1 {
		t.Errorf("history not oldest first, or the last sample is not the last change's: %v", h)
	}
	if want := t0.Add(time.Minute); !st.Updated.Equal(want) {
		t.Errorf("status written at %v, want %v (the third iteration changed nothing)", st.Updated, want)
	}

	e.demand.set("proj/hist", 2)
	e.iterate()
	if st, err = e.store.PoolStatus(ctx, "proj/hist"); err != nil || len(st.History) != 3 || st.History[2].Pending != 2 || !st.Updated.Equal(e.clock.Now()) {
		t.Errorf("after demand came: %+v, %v; want a third sample with 2 pending, written now", st, err)
	}

	full := make([]store.PoolSample, store.PoolHistoryLength)
	for i := range full {
		full[i] = store.PoolSample{Time: t0.Add(time.Duration(i) * time.Minute)}
	}
	now := t0.Add(time.Duration(len(full)) * time.Minute)
	got := PoolReport{Key: "p", Running: 2}.status(now, full).History
	if len(got) != store.PoolHistoryLength || !got[len(got)-1].Time.Equal(now) || got[len(got)-1].Running != 2 || !got[0].Time.Equal(full[1].Time) {
		t.Errorf("a full history: %d samples, first %v, last %+v", len(got), got[0].Time, got[len(got)-1])
	}
}

// TestCheckInsKeepTheirHistory: each check-in carries the times of those before
// it, across a cold start (the stored check-in seeds a fresh provisioner's), so
// the status page can tell an outage from figures that held.
func TestCheckInsKeepTheirHistory(t *testing.T) {
	e := newEnv(t)
	var want []int64
	for i := range 3 {
		if i == 2 {
			old := e.p // a cold start, 25 minutes later: the gap the page draws
			e.p = &Provisioner{Store: old.Store, Cloud: old.Cloud, Demand: old.Demand, Config: old.Config, Log: old.Log}
			e.advance(25 * time.Minute)
		}
		e.iterate()
		c, err := e.store.LastCheckIn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Recent, want) {
			t.Fatalf("check-in %d: recent %v, want %v", i, c.Recent, want)
		}
		want = append(want, c.Time.Unix())
		e.advance(time.Minute)
	}
}
