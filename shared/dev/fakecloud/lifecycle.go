package fakecloud

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/workerfleet/workerfleet/shared/cloud"
)

// SpotInterruptionNotice is how long before a spot interruption its warning is
// sent, as in EC2.
const SpotInterruptionNotice = 2 * time.Minute

// instance is a simulated instance and what the cloud keeps about it.
type instance struct {
	seq         uint64
	inst        cloud.Instance
	set         cloud.InstanceSetID
	pool        string
	arch        string
	userData    []byte
	request     []byte // the RunInstances input it was launched with, as JSON
	record      *launchRecord
	interrupted bool
	interruptAt time.Time // when an announced interruption stops the instance
}

// launchRecord remembers a ClientToken's launch, for idempotency.
type launchRecord struct {
	key         string
	fingerprint [32]byte
	instances   []*instance
	listed      int // how many of instances the cloud still lists
}

func (i *instance) snapshot() cloud.Instance {
	out := i.inst
	out.Tags = make(map[string]string, len(i.inst.Tags))
	for k, v := range i.inst.Tags {
		out.Tags[k] = v
	}
	return out
}

// snapshot copies instances out, in launch order.
func snapshot(list []*instance) []cloud.Instance {
	sort.Slice(list, func(a, b int) bool { return list[a].seq < list[b].seq })
	out := make([]cloud.Instance, len(list))
	for i, inst := range list {
		out[i] = inst.snapshot()
	}
	return out
}

type timerKind int

const (
	timerBoot              timerKind = iota // pending -> running
	timerInterrupt                          // a random spot interruption is announced
	timerInterruptShutdown                  // the announced interruption happens
	timerTerminated                         // shutting-down -> terminated
	timerForget                             // a terminated instance stops being listed
)

type timer struct {
	at   time.Time
	seq  uint64
	kind timerKind
	id   string
}

// timerHeap orders timers by time, then by the order they were set.
type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

func (c *Cloud) schedule(at time.Time, kind timerKind, id string) {
	c.timerSeq++
	heap.Push(&c.timers, timer{at: at, seq: c.timerSeq, kind: kind, id: id})
}

// Step applies every transition due by the clock's current time, in time order
// (pending instances whose boot delay has passed start running, announced
// interruptions happen, shutting-down instances whose shutdown delay has passed
// are terminated, terminated ones past their retention are no longer listed),
// emitting their events, and then moves the spot prices one step of their random
// walk.
func (c *Cloud) Step() { c.step(context.Background()) }

func (c *Cloud) step(ctx context.Context) {
	c.mu.Lock()
	defer c.unlockAndEmit(ctx)
	now := c.now().UTC()
	for len(c.timers) > 0 && !c.timers[0].at.After(now) {
		c.fire(heap.Pop(&c.timers).(timer))
	}
	c.walkPrices(now)
}

// Run calls Step every interval until ctx is done; the local stack runs it in a
// goroutine.
func (c *Cloud) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.step(ctx)
		}
	}
}

func (c *Cloud) fire(t timer) {
	inst, ok := c.byID[t.id]
	if !ok {
		return
	}
	switch t.kind {
	case timerBoot:
		if inst.inst.State != cloud.StatePending {
			return
		}
		c.setState(inst, cloud.StateRunning, t.at)
		if inst.inst.Spot && c.cfg.SpotInterruptionRate > 0 {
			hours := c.rng.ExpFloat64() / c.cfg.SpotInterruptionRate
			after := time.Duration(math.Min(hours*float64(time.Hour), float64(100*365*24*time.Hour)))
			c.schedule(t.at.Add(after), timerInterrupt, inst.inst.ID)
		}
	case timerInterrupt:
		if inst.inst.State == cloud.StateRunning && !inst.interrupted {
			c.interrupt(inst, t.at)
		}
	case timerInterruptShutdown:
		c.beginShutdown(inst, t.at)
	case timerTerminated:
		if inst.inst.State != cloud.StateShuttingDown {
			return
		}
		c.setState(inst, cloud.StateTerminated, t.at)
		r := c.regions[inst.inst.Region]
		r.live--
		c.capUsed[inst.inst.AvailabilityZone+"/"+inst.inst.InstanceType]--
		c.schedule(t.at.Add(time.Duration(c.cfg.TerminatedRetention)), timerForget, inst.inst.ID)
	case timerForget:
		c.forget(inst)
	}
}

func (c *Cloud) setState(inst *instance, state string, at time.Time) {
	inst.inst.State = state
	c.emitLocked(inst, "EC2 Instance State-change Notification", stateDetail{InstanceID: inst.inst.ID, State: state}, at)
}

// beginShutdown moves a pending or running instance to shutting-down.
func (c *Cloud) beginShutdown(inst *instance, at time.Time) {
	if inst.inst.State != cloud.StatePending && inst.inst.State != cloud.StateRunning {
		return
	}
	c.setState(inst, cloud.StateShuttingDown, at)
	c.schedule(at.Add(time.Duration(c.cfg.ShutdownDelay)), timerTerminated, inst.inst.ID)
}

// interrupt announces a spot interruption: a rebalance recommendation and the
// interruption warning now, the shutdown SpotInterruptionNotice later.
func (c *Cloud) interrupt(inst *instance, at time.Time) {
	inst.interrupted, inst.interruptAt = true, at.Add(SpotInterruptionNotice)
	c.emitLocked(inst, "EC2 Instance Rebalance Recommendation", rebalanceDetail{InstanceID: inst.inst.ID}, at)
	c.emitLocked(inst, "EC2 Spot Instance Interruption Warning", interruptionDetail{InstanceID: inst.inst.ID, InstanceAction: "terminate"}, at)
	c.schedule(at.Add(SpotInterruptionNotice), timerInterruptShutdown, inst.inst.ID)
}

// forget stops listing a terminated instance.
func (c *Cloud) forget(inst *instance) {
	delete(c.byID, inst.inst.ID)
	if idx := c.regions[inst.inst.Region].sets[inst.set]; idx != nil {
		delete(idx.all, inst.inst.ID)
		if pool := idx.byPool[inst.pool]; pool != nil {
			delete(pool, inst.inst.ID)
			if len(pool) == 0 {
				delete(idx.byPool, inst.pool)
			}
		}
	}
	if rec := inst.record; rec != nil {
		rec.listed--
		if rec.listed == 0 {
			delete(c.tokens, rec.key)
		}
	}
}

// Interrupt interrupts spot instance id as EC2 does: it sends an "EC2 Instance
// Rebalance Recommendation" and an "EC2 Spot Instance Interruption Warning" now,
// and the instance shuts down SpotInterruptionNotice later (on the Step at or
// after that time). Interrupting an instance already interrupted, shutting down
// or terminated does nothing; an on-demand or unknown instance is an error.
func (c *Cloud) Interrupt(id string) error {
	c.mu.Lock()
	defer c.unlockAndEmit(context.Background())
	inst, ok := c.byID[id]
	if !ok {
		return notFound(id)
	}
	if !inst.inst.Spot {
		return fmt.Errorf("instance %s is not a spot instance", id)
	}
	if inst.interrupted || (inst.inst.State != cloud.StatePending && inst.inst.State != cloud.StateRunning) {
		return nil
	}
	c.interrupt(inst, c.now().UTC())
	return nil
}

// Rebalance sends an "EC2 Instance Rebalance Recommendation" for instance id (a
// spot instance at elevated risk of interruption) and nothing else.
func (c *Cloud) Rebalance(id string) error {
	c.mu.Lock()
	defer c.unlockAndEmit(context.Background())
	inst, ok := c.byID[id]
	if !ok {
		return notFound(id)
	}
	if !inst.inst.Spot {
		return fmt.Errorf("instance %s is not a spot instance", id)
	}
	c.emitLocked(inst, "EC2 Instance Rebalance Recommendation", rebalanceDetail{InstanceID: id}, c.now().UTC())
	return nil
}

// Shutdown is the simulated worker shutting its own instance down (`shutdown -h
// now` with terminate-on-shutdown): a pending or running instance moves to
// shutting-down now and is terminated after the shutdown delay. An instance
// already shutting down or terminated is left as it is; an unknown one is an
// error wrapping ErrNotFound.
func (c *Cloud) Shutdown(id string) error {
	c.mu.Lock()
	defer c.unlockAndEmit(context.Background())
	inst, ok := c.byID[id]
	if !ok {
		return notFound(id)
	}
	c.beginShutdown(inst, c.now().UTC())
	return nil
}

// The events EC2 sends to EventBridge.

type event struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     any      `json:"detail"`
}

type stateDetail struct {
	InstanceID string `json:"instance-id"`
	State      string `json:"state"`
}

type interruptionDetail struct {
	InstanceID     string `json:"instance-id"`
	InstanceAction string `json:"instance-action"`
}

type rebalanceDetail struct {
	InstanceID string `json:"instance-id"`
}

// emitLocked queues an event for delivery when the lock is released. State
// changes name the instance by its full ARN; spot interruption warnings and
// rebalance recommendations name it as EC2 does for those,
// arn:aws:ec2:<az>:instance/<id>.
func (c *Cloud) emitLocked(inst *instance, detailType string, detail any, at time.Time) {
	resource := fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", inst.inst.Region, c.cfg.AccountID, inst.inst.ID)
	if detailType != "EC2 Instance State-change Notification" {
		resource = fmt.Sprintf("arn:aws:ec2:%s:instance/%s", inst.inst.AvailabilityZone, inst.inst.ID)
	}
	e := event{
		Version:    "0",
		ID:         c.uuid(),
		DetailType: detailType,
		Source:     "aws.ec2",
		Account:    c.cfg.AccountID,
		Time:       at.UTC().Format("2006-01-02T15:04:05Z"),
		Region:     inst.inst.Region,
		Resources:  []string{resource},
		Detail:     detail,
	}
	b, err := json.Marshal(e)
	if err != nil { // cannot happen: every field is a string or a struct of strings
		c.log.Error("fake cloud: encode event", "error", err)
		return
	}
	c.outbox = append(c.outbox, b)
}

// unlockAndEmit releases the lock and delivers the queued events. Events are
// delivered one at a time, in the order the cloud produced them, whatever the
// number of goroutines: the first caller to find no delivery under way delivers
// every queued event, including those other calls (or a sink calling back into
// the cloud) queue meanwhile, and the others return at once. Without concurrent
// calls, a call's events are thus delivered before it returns.
func (c *Cloud) unlockAndEmit(ctx context.Context) {
	if c.delivering || len(c.outbox) == 0 {
		c.mu.Unlock()
		return
	}
	c.delivering = true
	defer func() {
		if r := recover(); r != nil { // a sink panicked: let the next call deliver
			c.mu.Lock()
			c.delivering = false
			c.mu.Unlock()
			panic(r)
		}
	}()
	for {
		events := c.outbox
		c.outbox = nil
		if len(events) == 0 {
			c.delivering = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.sinkMu.RLock()
		sink := c.sink
		c.sinkMu.RUnlock()
		if sink != nil {
			for _, e := range events {
				sink(ctx, e)
			}
		}
		c.mu.Lock()
	}
}
