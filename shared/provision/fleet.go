package provision

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/workerfleet/workerfleet/shared/store"
)

// changesOverlap is how far before its last read the iteration reads the changes
// index again: the index is eventually consistent and writers' clocks differ a
// little, so a record written just before the last read may show up only now.
// A record read twice is taken once (by its version).
const changesOverlap = 30 * time.Second

// fleet is what a Provisioner knows of the live worker records between its
// iterations (a warm Lambda's, and the cadence's within one invocation): every
// pool's live records, as the last iteration left them. An iteration starts from
// it and reads only the records written since (store.ChangedWorkers) instead of
// every pool's; every FullLoad, at a process's first iteration, and after any
// failure it reads them all again, so nothing a missed change would hide (a lagging
// index, a deleted record) outlives FullLoad. EC2 is listed every iteration
// regardless: lost EC2 events are found as soon as before.
type fleet struct {
	mu     sync.Mutex
	valid  bool
	loaded time.Time // the last full load
	cursor time.Time // the next read of the changes index starts changesOverlap before it
	// pools are the live records by pool key, in worker key order.
	pools map[string][]store.Worker
}

// due reports whether an iteration starting at now reads every record (and every
// definition) again.
func (f *fleet) due(now time.Time, every time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.valid || now.Sub(f.loaded) >= every || now.Before(f.loaded)
}

// reset forgets everything: the next iteration reads every record.
func (f *fleet) reset() {
	f.mu.Lock()
	f.valid, f.pools = false, nil
	f.mu.Unlock()
}

// loadWorkers gives every target its live workers: from what the last iteration
// left and the records changed since, or all of them from the live index when a
// full load is due. It returns whether it read them all.
func (it *iteration) loadWorkers(ctx context.Context, targets []*target) (bool, error) {
	f := &it.p.fleet
	full := f.due(it.now, it.p.Config.FullLoad)
	f.mu.Lock()
	cursor, pools := f.cursor, f.pools
	f.mu.Unlock()
	if !full {
		changed, err := it.p.Store.ChangedWorkers(ctx, cursor.Add(-changesOverlap))
		if err != nil {
			it.p.log().WarnContext(ctx, "reading the changed workers failed: reading them all", "iteration", it.id, "error", err.Error())
			full = true
		} else {
			pools = applyChanges(pools, changed, it.now)
		}
	}
	if full {
		pools = nil
	}
	var g errgroup.Group
	g.SetLimit(it.p.Config.Concurrency)
	for _, t := range targets {
		if ws, ok := pools[t.key]; ok {
			t.workers = ws
			continue
		}
		g.Go(func() error {
			it.indexLive(ctx, t.key)
			ws, err := it.p.Store.LiveWorkers(ctx, t.key)
			if err != nil {
				return fmt.Errorf("load workers of %s: %w", t.key, err)
			}
			t.workers = ws
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return full, err
	}
	return full, nil
}

// applyChanges returns pools with the changed records in: a record newer than the
// one held replaces it, a stopped or expired one leaves. Records of pools not held
// are left out (a pool not held is read whole). Only the pools that changed are
// copied; the others' slices are shared.
func applyChanges(pools map[string][]store.Worker, changed []store.Worker, now time.Time) map[string][]store.Worker {
	byPool := map[string][]store.Worker{}
	for _, w := range changed {
		if _, held := pools[w.Pool]; held {
			byPool[w.Pool] = append(byPool[w.Pool], w)
		}
	}
	if len(byPool) == 0 {
		return pools
	}
	out := make(map[string][]store.Worker, len(pools))
	for k, v := range pools {
		out[k] = v
	}
	for key, ws := range byPool {
		cur := out[key]
		idx := make(map[string]int, len(cur))
		next := append(make([]store.Worker, 0, len(cur)+len(ws)), cur...)
		for i, w := range next {
			idx[w.Key] = i
		}
		gone := map[string]bool{}
		for _, w := range ws {
			i, ok := idx[w.Key]
			switch {
			case ok && w.Version == next[i].Version && w.LivePool == "" && w.State != store.Stopped && next[i].LivePool != "":
				// The record as held, but out of the live index (rewritten by a
				// writer that does not keep livePool): drop it here, so the
				// orphan check's consistent read finds it and puts it back.
				next[i] = w
				gone[w.Key] = true
			case ok && w.Version <= next[i].Version:
				// Already held (the overlap, or the provisioner's own write).
			case ok:
				next[i] = w
				gone[w.Key] = !liveRecord(w, now)
			case liveRecord(w, now):
				idx[w.Key] = len(next)
				next = append(next, w)
			}
		}
		kept := next[:0]
		for _, w := range next {
			if !gone[w.Key] {
				kept = append(kept, w)
			}
		}
		sort.Slice(kept, func(i, j int) bool { return kept[i].Key < kept[j].Key })
		out[key] = kept
	}
	return out
}

// liveRecord reports whether a record belongs among the live ones as the live
// index and LiveWorkers' expiry filter have them: one outside the index (no
// LivePool: written by an older version) is left to the orphan check, which adds
// it to the index (recorded).
func liveRecord(w store.Worker, now time.Time) bool {
	return w.State != store.Stopped && w.LivePool != "" && (w.TTL == 0 || w.TTL > now.Unix())
}

// keepWorkers remembers the targets' live records as this iteration leaves them,
// for the next iteration (nothing, if a pool's step panicked); the next read of
// the changes index starts from the iteration's start.
func (it *iteration) keepWorkers(full bool) {
	it.mu.Lock()
	tainted := it.tainted
	it.mu.Unlock()
	if tainted {
		it.p.fleet.reset()
		return
	}
	pools := make(map[string][]store.Worker, len(it.targets))
	for _, t := range it.targets {
		t.mu.Lock()
		ws := t.workers
		t.mu.Unlock()
		keep := true // every record live and in order: keep the slice itself
		for i := range ws {
			if !liveRecord(ws[i], it.now) || i > 0 && ws[i-1].Key >= ws[i].Key {
				keep = false
				break
			}
		}
		if keep {
			pools[t.key] = ws
			continue
		}
		live := make([]store.Worker, 0, len(ws))
		for _, w := range ws {
			if liveRecord(w, it.now) {
				live = append(live, w)
			}
		}
		sort.Slice(live, func(i, j int) bool { return live[i].Key < live[j].Key })
		pools[t.key] = live
	}
	f := &it.p.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid, f.pools, f.cursor = true, pools, it.now
	if full {
		f.loaded = it.now
	}
}
