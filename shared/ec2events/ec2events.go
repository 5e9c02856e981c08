// Package ec2events tells worker records what only EC2's events tell: spot
// interruption warnings. Instance state changes are the provisioner's to take from
// EC2's listing, every iteration; rebalance recommendations nothing acts on (Used).
//
// EventBridge delivers each event at least once and in no particular order, so Apply
// is a fold whose result depends only on the set of events applied, never on their
// order or repetition:
//   - a spot interruption warning records the deadline (two minutes after the
//     warning, the earliest if several come), which the provisioner counts as
//     capacity leaving.
//
// A repeated or older event changes nothing and writes nothing. Every write is an
// optimistic-concurrency conditional write through the store.
package ec2events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/workerfleet/workerfleet/shared/store"
)

// EventBridge detail types: the one applied here, and two more EC2 sends for its
// instances, which are parsed (make invoke shows them ignored) but not applied.
const (
	StateChange      = "EC2 Instance State-change Notification"
	SpotInterruption = "EC2 Spot Instance Interruption Warning"
	Rebalance        = "EC2 Instance Rebalance Recommendation"
)

// InterruptionNotice is how long before a spot interruption EC2 sends its warning.
const InterruptionNotice = 2 * time.Minute

// Event is what matters of an EC2 EventBridge event.
type Event struct {
	ID         string
	DetailType string
	Time       time.Time
	Region     string
	InstanceID string
	State      string // state changes: the new state
	Action     string // spot interruptions: terminate, stop or hibernate
}

// FromCloudWatchEvent extracts an Event from an EventBridge event.
func FromCloudWatchEvent(ev events.CloudWatchEvent) (Event, error) {
	var detail struct {
		InstanceID string `json:"instance-id"`
		State      string `json:"state"`
		Action     string `json:"instance-action"`
	}
	if len(ev.Detail) > 0 {
		if err := json.Unmarshal(ev.Detail, &detail); err != nil {
			return Event{}, fmt.Errorf("event %s: detail: %w", ev.ID, err)
		}
	}
	e := Event{ID: ev.ID, DetailType: ev.DetailType, Time: ev.Time.UTC(), Region: ev.Region,
		InstanceID: detail.InstanceID, State: detail.State, Action: detail.Action}
	switch {
	case e.InstanceID == "":
		return Event{}, fmt.Errorf("event %s (%s): no instance-id", ev.ID, ev.DetailType)
	case e.Time.IsZero():
		return Event{}, fmt.Errorf("event %s: no time", ev.ID)
	case e.DetailType == StateChange:
		if !store.KnownEC2State(e.State) {
			return Event{}, fmt.Errorf("event %s: unknown instance state %q", ev.ID, e.State)
		}
	}
	return e, nil
}

// Parse reads one EventBridge event, as EventBridge delivers it, into an Event.
func Parse(raw json.RawMessage) (Event, error) {
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	return FromCloudWatchEvent(ev)
}

// Apply folds a used event into a worker record (store.Worker's Observe methods,
// where the worker's life is) and reports whether the record changed. Any other
// event changes nothing.
func Apply(w *store.Worker, e Event) bool {
	return Used(e) && w.ObserveInterruption(e.Time.Add(InterruptionNotice), e.Time)
}

// Used reports whether an event is one this handler applies: a spot interruption
// warning, which nothing but the event tells and the provisioner acts on (it
// replaces the capacity before it goes). Instance state changes are not: the
// provisioner lists EC2 every iteration (that listing is what finds a lost event)
// and takes every state it lists into the records, so applying them here too cost
// three requests an event, two events a worker's end, for records a few seconds
// fresher. Rebalance recommendations are not either: nothing acts on them.
// template.yaml's rule routes only the events used (docs/provisioning.md, "EC2's
// events").
func Used(e Event) bool {
	return e.DetailType == SpotInterruption
}

// Handler applies EC2 events to the worker records in the store.
type Handler struct {
	Store *store.Store
	Log   *slog.Logger
}

// Outcome says what an event did.
type Outcome string

// Outcomes.
const (
	Applied   Outcome = "applied"   // the record changed
	Unchanged Outcome = "unchanged" // a duplicate or an older event
	Unknown   Outcome = "unknown"   // no record for the instance: not ours, or not yet recorded
	Ignored   Outcome = "ignored"   // not an event this handler uses
)

// Apply applies one event. An instance with no worker record is not an error: it is
// another deployment's or account user's instance (no record will ever exist), or one
// of ours launched a moment before its record was written, which the provisioner's
// reconciliation adopts or sweeps. EC2 events carry no tags, and asking EC2 for them
// on every foreign event would spend the provisioner's API budget, so both are left
// alone here.
func (h *Handler) Apply(ctx context.Context, e Event) (Outcome, error) {
	if !Used(e) {
		return Ignored, nil
	}
	w, err := h.Store.WorkerByInstance(ctx, e.InstanceID)
	if errors.Is(err, store.ErrNotFound) {
		h.log().DebugContext(ctx, "no worker record for instance", "instanceId", e.InstanceID, "event", e.DetailType, "state", e.State)
		return Unknown, nil
	}
	if err != nil {
		return "", fmt.Errorf("event %s for %s: %w", e.ID, e.InstanceID, err)
	}
	changed := false
	// From the record just read (consistently): one conditional write, no second
	// read, unless another writer came in between.
	updated, err := h.Store.UpdateWorkerFrom(ctx, w, func(w *store.Worker) error {
		if changed = Apply(w, e); !changed {
			return store.ErrNoChange
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("event %s for %s: %w", e.ID, e.InstanceID, err)
	}
	if !changed {
		return Unchanged, nil
	}
	h.log().InfoContext(ctx, "ec2 event applied", "event", e.DetailType, "eventId", e.ID, "instanceId", e.InstanceID,
		"state", updated.State, "pool", updated.Pool, "worker", updated.Key, "interruptionDeadline", updated.InterruptionDeadline)
	return Applied, nil
}

// HandleEvent is the Lambda handler for one EventBridge event. An error makes Lambda
// (and EventBridge) deliver the event again, which is safe: applying it twice is the
// same as once.
func (h *Handler) HandleEvent(ctx context.Context, ev events.CloudWatchEvent) error {
	e, err := FromCloudWatchEvent(ev)
	if err != nil {
		// A malformed event will not improve on redelivery.
		h.log().WarnContext(ctx, "malformed EC2 event ignored", "error", err.Error(), "eventId", ev.ID)
		return nil
	}
	_, err = h.Apply(ctx, e)
	return err
}

// HandleRaw handles one event, or a JSON array of events, as JSON. Each event is
// applied on its own: a failure on one does not stop the others, and the errors are
// returned together, so a redelivery re-applies only harmlessly.
func (h *Handler) HandleRaw(ctx context.Context, raw json.RawMessage) error {
	var batch []events.CloudWatchEvent
	if strings.HasPrefix(strings.TrimSpace(string(raw)), "[") {
		if err := json.Unmarshal(raw, &batch); err != nil {
			return fmt.Errorf("decode events: %w", err)
		}
	} else {
		var one events.CloudWatchEvent
		if err := json.Unmarshal(raw, &one); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		batch = []events.CloudWatchEvent{one}
	}
	var errs []error
	for _, ev := range batch {
		if err := h.HandleEvent(ctx, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
