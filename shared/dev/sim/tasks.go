package sim

import (
	"container/heap"
	"time"
)

// completion is a running task's end.
type completion struct {
	at   time.Duration
	task int
	w    *worker
}

// completions is a min-heap of completions by time (then task, for determinism).
type completions []completion

func (h completions) Len() int { return len(h) }
func (h completions) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].task < h[j].task
}
func (h completions) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *completions) Push(x any)   { *h = append(*h, x.(completion)) }
func (h *completions) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// runTasks plays the queue and the workers up to t, at the exact time of each
// arrival and completion: an arriving task goes to the worker that has waited
// longest for work, a worker whose task ends takes the oldest pending task (the
// anchor simulator's queue), and workers that started running in this step join.
func (r *run) runTasks(t time.Duration) {
	for {
		arrival, completionDue := time.Duration(-1), time.Duration(-1)
		if r.next < len(r.o.Tasks) && r.o.Tasks[r.next].Pending <= t {
			arrival = r.o.Tasks[r.next].Pending
		}
		if len(r.done) > 0 && r.done[0].at <= t {
			completionDue = r.done[0].at
		}
		switch {
		case arrival < 0 && completionDue < 0:
			for _, w := range r.bootedNow {
				if !w.shutdown {
					r.addFree(w)
				}
			}
			r.bootedNow = r.bootedNow[:0]
			r.match(t)
			return
		case completionDue >= 0 && (arrival < 0 || completionDue <= arrival):
			c := heap.Pop(&r.done).(completion)
			r.finish(c)
			r.match(c.at)
		default:
			r.queue = append(r.queue, r.next)
			r.next++
			r.signal(arrival)
			r.match(arrival)
		}
	}
}

// finish ends a task on its worker (unless the worker vanished under it, when the
// task went back to the queue).
func (r *run) finish(c completion) {
	w := c.w
	if _, ok := w.runningTasks[c.task]; !ok {
		return
	}
	delete(w.runningTasks, c.task)
	w.busy--
	r.claimed--
	if w.shutdown {
		return
	}
	if w.busy == 0 {
		w.idleSince = c.at
	}
	r.addFree(w)
}

// match gives pending tasks, oldest first, to waiting workers, longest waiting
// first, at time at.
func (r *run) match(at time.Duration) {
	for len(r.queue) > 0 && len(r.free) > 0 {
		w := r.free[0]
		i := r.queue[0]
		r.queue = r.queue[1:]
		r.claim(w, i, at)
		if w.busy >= w.capacity {
			r.removeFree(w)
		} else { // it asks again, behind the others
			r.removeFree(w)
			r.addFree(w)
		}
	}
}

func (r *run) claim(w *worker, i int, at time.Duration) {
	ts := &r.tasks[i]
	if ts.claims == 0 {
		ts.claimedAt = at
	}
	ts.claims++
	w.busy++
	w.claimedTasks++
	r.claimed++
	end := at + r.o.Tasks[i].Duration
	w.runningTasks[i] = end
	heap.Push(&r.done, completion{at: end, task: i, w: w})
}

func (r *run) addFree(w *worker) {
	if w.inFree || w.busy >= w.capacity {
		return
	}
	w.inFree = true
	r.free = append(r.free, w)
}

// idleShutdowns shuts down, as a worker does itself, every worker idle for its idle
// timeout.
func (r *run) idleShutdowns(t time.Duration) {
	var due []*worker
	for _, w := range r.free {
		if w.busy == 0 && t-w.idleSince >= w.idleTimeout {
			due = append(due, w)
		}
	}
	keep := r.silent[:0]
	for _, w := range r.silent {
		switch {
		case w.shutdown:
		case t-w.idleSince >= w.idleTimeout:
			due = append(due, w)
		default:
			keep = append(keep, w)
		}
	}
	r.silent = keep
	for _, w := range due {
		r.stopWorker(w)
		if err := r.cloud.Shutdown(w.id); err != nil && r.failed == nil {
			r.failed = err
		}
	}
}

// sample records the queue and the fleet, and accrues the fleet's cost up to t.
func (r *run) sample(t time.Duration) {
	s := Sample{At: t, Pending: max(r.peakPending, len(r.queue))}
	r.peakPending = 0
	for _, w := range r.alive {
		switch {
		case w.shutdown:
		case w.started >= 0:
			s.RunningCapacity += float64(w.capacity)
			s.Idle += float64(w.capacity - w.busy)
		case w.neverClaims:
			s.Idle += float64(w.capacity)
		default:
			s.Requested += float64(w.capacity)
		}
	}
	r.accrue(t)
	s.CostUSD = r.costTotal
	r.samples = append(r.samples, s)
	r.refreshPrices()
}

// accrue adds each worker's cost since its last accrual, at the prices of the last
// sample, for the part of that time inside the measured window.
func (r *run) accrue(t time.Duration) {
	add := func(w *worker) {
		until := t
		if w.ended >= 0 && w.ended < until {
			until = w.ended
		}
		from, to := max(w.costUntil, r.o.Warmup), min(until, r.o.End)
		if to > from {
			c := (to - from).Hours() * r.price(w)
			w.cost += c
			r.costTotal += c
		}
		w.costUntil = until
	}
	for _, w := range r.alive {
		add(w)
	}
	for _, w := range r.ended {
		add(w)
	}
	r.ended = r.ended[:0]
}

func (r *run) price(w *worker) float64 {
	if !w.spot {
		p, _ := r.set.OnDemandPrice(w.region, w.instanceType)
		return p
	}
	if p, ok := r.prices[w.az+"/"+w.instanceType]; ok {
		return p
	}
	r.refreshPrices()
	return r.prices[w.az+"/"+w.instanceType]
}

func (r *run) refreshPrices() {
	for _, region := range r.regions {
		ps, err := r.set.SpotPrices(r.ctx, region, r.types)
		if err != nil {
			if r.failed == nil {
				r.failed = err
			}
			return
		}
		for _, p := range ps {
			r.prices[p.AvailabilityZone+"/"+p.InstanceType] = p.Price
		}
	}
}
