// Package announce publishes what happens to worker pools, workers and launch
// configs, as today's worker-manager announces it on its Pulse exchange
// (exchange/taskcluster-worker-manager/v1/): the same event names and message
// bodies, on an EventBridge bus, where users subscribe with rules (detail-type is
// the event's name, source "workerfleet.worker-manager", detail the message).
// Publishing is best-effort, as the state change it announces has already been
// made: a failure is logged, never an API error.
package announce

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/workerfleet/workerfleet/shared/store"
)

// Source is the events' EventBridge source.
const Source = "workerfleet.worker-manager"

// ExchangePrefix is today's worker-manager's Pulse exchange prefix.
const ExchangePrefix = "exchange/taskcluster-worker-manager/v1/"

// The events, by today's worker-manager's names.
const (
	WorkerPoolCreated    = "workerPoolCreated"
	WorkerPoolUpdated    = "workerPoolUpdated"
	WorkerPoolError      = "workerPoolError"
	WorkerRequested      = "workerRequested"
	WorkerRunning        = "workerRunning"
	WorkerStopped        = "workerStopped"
	WorkerRemoved        = "workerRemoved"
	LaunchConfigCreated  = "launchConfigCreated"
	LaunchConfigUpdated  = "launchConfigUpdated"
	LaunchConfigArchived = "launchConfigArchived"
)

// Event is one announcement: its name and message.
type Event struct {
	Name    string
	Message any
}

// Exchange is the Pulse exchange today's worker-manager announces the event on
// (workerPoolCreated: exchange/taskcluster-worker-manager/v1/worker-pool-created).
func (e Event) Exchange() string {
	var b strings.Builder
	for i, r := range e.Name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return ExchangePrefix + b.String()
}

// Publisher publishes events.
type Publisher interface {
	Publish(ctx context.Context, events ...Event) error
}

// Announce publishes events with p (nil: nothing), logging a failure.
func Announce(ctx context.Context, p Publisher, log *slog.Logger, events ...Event) {
	if p == nil || len(events) == 0 {
		return
	}
	if err := p.Publish(ctx, events...); err != nil {
		if log == nil {
			log = slog.Default()
		}
		log.WarnContext(ctx, "events not published", "event", events[0].Name, "count", len(events), "error", err.Error())
	}
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// PoolMessage is the message of workerPoolCreated and workerPoolUpdated.
type PoolMessage struct {
	WorkerPoolID       string `json:"workerPoolId"`
	ProviderID         string `json:"providerId"`
	PreviousProviderID string `json:"previousProviderId,omitempty"`
}

// Pool is a pool event.
func Pool(name, poolID, providerID, previousProviderID string) Event {
	return Event{Name: name, Message: PoolMessage{WorkerPoolID: poolID, ProviderID: providerID, PreviousProviderID: previousProviderID}}
}

// WorkerMessage is the message of workerRequested, workerRunning, workerStopped
// and (with Reason) workerRemoved.
type WorkerMessage struct {
	WorkerPoolID   string `json:"workerPoolId"`
	ProviderID     string `json:"providerId"`
	WorkerID       string `json:"workerId"`
	WorkerGroup    string `json:"workerGroup"`
	Capacity       int64  `json:"capacity"`
	LaunchConfigID string `json:"launchConfigId,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Timestamp      string `json:"timestamp"`
}

// Worker is a worker event about w at now.
func Worker(name string, w store.Worker, now time.Time) Event {
	return Event{Name: name, Message: WorkerMessage{WorkerPoolID: w.Pool, ProviderID: w.ProviderID, WorkerID: w.WorkerID,
		WorkerGroup: w.WorkerGroup, Capacity: int64(w.Capacity + 0.5), LaunchConfigID: w.LaunchConfigID, Timestamp: timestamp(now)}}
}

// Removed is workerRemoved: w is being removed, for reason.
func Removed(w store.Worker, reason string, now time.Time) Event {
	e := Worker(WorkerRemoved, w, now)
	m := e.Message.(WorkerMessage)
	m.Reason = reason
	e.Message = m
	return e
}

// LaunchConfigMessage is the message of the launch config events.
type LaunchConfigMessage struct {
	WorkerPoolID   string `json:"workerPoolId"`
	ProviderID     string `json:"providerId"`
	LaunchConfigID string `json:"launchConfigId"`
}

// LaunchConfigs are one event name's events for the launch configs ids of a pool.
func LaunchConfigs(name, poolID, providerID string, ids []string) []Event {
	out := make([]Event, 0, len(ids))
	for _, id := range ids {
		out = append(out, Event{Name: name, Message: LaunchConfigMessage{WorkerPoolID: poolID, ProviderID: providerID, LaunchConfigID: id}})
	}
	return out
}

// ErrorMessage is the message of workerPoolError.
type ErrorMessage struct {
	WorkerPoolID   string `json:"workerPoolId"`
	ProviderID     string `json:"providerId"`
	WorkerID       string `json:"workerId,omitempty"`
	WorkerGroup    string `json:"workerGroup,omitempty"`
	LaunchConfigID string `json:"launchConfigId,omitempty"`
	ErrorID        string `json:"errorId"`
	Kind           string `json:"kind"`
	Title          string `json:"title"`
	Timestamp      string `json:"timestamp"`
}

// PoolError is workerPoolError for e, recorded for a pool of providerID (and a
// worker, if workerGroup and workerID are set).
func PoolError(e store.PoolError, providerID, workerGroup, workerID string) Event {
	return Event{Name: WorkerPoolError, Message: ErrorMessage{WorkerPoolID: e.Pool, ProviderID: providerID, WorkerID: workerID,
		WorkerGroup: workerGroup, LaunchConfigID: e.LaunchConfigID, ErrorID: e.ErrorID, Kind: e.Kind, Title: e.Title,
		Timestamp: timestamp(e.Reported)}}
}

// PutEventsAPI is the EventBridge call EventBridge makes; *eventbridge.Client
// satisfies it.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge publishes to an EventBridge bus, ten events a call (PutEvents' limit).
type EventBridge struct {
	Client PutEventsAPI
	Bus    string
}

// Publish puts the events on the bus.
func (b *EventBridge) Publish(ctx context.Context, events ...Event) error {
	for start := 0; start < len(events); start += 10 {
		batch := events[start:min(start+10, len(events))]
		entries := make([]ebtypes.PutEventsRequestEntry, 0, len(batch))
		for _, e := range batch {
			detail, err := json.Marshal(e.Message)
			if err != nil {
				return fmt.Errorf("event %s: %w", e.Name, err)
			}
			entries = append(entries, ebtypes.PutEventsRequestEntry{EventBusName: aws.String(b.Bus), Source: aws.String(Source),
				DetailType: aws.String(e.Name), Detail: aws.String(string(detail))})
		}
		out, err := b.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			return fmt.Errorf("put %d events on %s: %w", len(entries), b.Bus, err)
		}
		if out.FailedEntryCount > 0 {
			return fmt.Errorf("put events on %s: %d of %d failed", b.Bus, out.FailedEntryCount, len(entries))
		}
	}
	return nil
}

// Recorder keeps the last events it is given, for the local stack (which shows
// them) and tests.
type Recorder struct {
	mu     sync.Mutex
	events []Recorded
	// Keep is how many it keeps (default 1000).
	Keep int
	// Log, if set, gets a line per event.
	Log *slog.Logger
}

// Recorded is an event as the Recorder kept it.
type Recorded struct {
	Name     string          `json:"name"`
	Exchange string          `json:"exchange"`
	Message  json.RawMessage `json:"message"`
}

// Publish keeps the events.
func (r *Recorder) Publish(ctx context.Context, events ...Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := r.Keep
	if keep <= 0 {
		keep = 1000
	}
	for _, e := range events {
		msg, err := json.Marshal(e.Message)
		if err != nil {
			return fmt.Errorf("event %s: %w", e.Name, err)
		}
		r.events = append(r.events, Recorded{Name: e.Name, Exchange: e.Exchange(), Message: msg})
		if r.Log != nil {
			r.Log.InfoContext(ctx, "event", "name", e.Name, "message", string(msg))
		}
	}
	if over := len(r.events) - keep; over > 0 {
		r.events = append([]Recorded(nil), r.events[over:]...)
	}
	return nil
}

// Events returns what it kept, oldest first.
func (r *Recorder) Events() []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Recorded{}, r.events...) // [] rather than null when none
}
