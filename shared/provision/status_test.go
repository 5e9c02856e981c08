package provision

import (
	"testing"
	"time"

	"github.com/workerfleet/workerfleet/shared/store"
)

// Each iteration adds its figures to the pool's stored history, which keeps the
// last store.PoolHistoryLength, and stores the pool's bounds for the status page.
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
	if len(st.History) != 3 || st.MinCapacity != 1 || st.MaxCapacity != 3 {
		t.Fatalf("status after 3 iterations: history %v, min %v, max %v", st.History, st.MinCapacity, st.MaxCapacity)
	}
	if h := st.History; !h[0].Time.Before(h[1].Time) || !h[1].Time.Before(h[2].Time) || h[2].Requested+h[2].Running != 1 {
		t.Errorf("history not oldest first, or the last sample is not the iteration's: %v", h)
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
