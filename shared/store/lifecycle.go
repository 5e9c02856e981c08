package store

import (
	"bytes"
	"time"
)

// A worker's life, in one place: the states of a worker record and every
// transition between them, whoever makes it (registration, renewal, the
// provisioner, EC2's events and listing). Each transition is a method that reports
// whether it changed the record, so callers write only what changed; the store's
// updates refuse any write that moves the state backwards.

// State is a worker's state as worker-manager knows it. States only move forward:
// requested -> running -> stopping -> stopped (any of them may be skipped).
type State string

// Worker states.
const (
	Requested State = "requested"
	Running   State = "running"
	Stopping  State = "stopping"
	Stopped   State = "stopped"
)

// Rank orders states along the life cycle.
func (s State) Rank() int {
	switch s {
	case Requested:
		return 0
	case Running:
		return 1
	case Stopping:
		return 2
	case Stopped:
		return 3
	}
	return -1
}

// Alive reports whether the worker is requested or running.
func (s State) Alive() bool { return s == Requested || s == Running }

// StoppedRetention is how long a stopped worker's record stays listed before
// DynamoDB's TTL removes it.
const StoppedRetention = 24 * time.Hour

// MarkRegistered records a requested worker's registration at now: it runs, and
// lives until until (its credentials' expiry), its record StoppedRetention longer.
// secretHash is the hash of the secret its first reregisterWorker must show. It
// reports false, changing nothing, if the worker is not requested or has registered
// already.
func (w *Worker) MarkRegistered(now, until time.Time, secretHash []byte) bool {
	if w.State != Requested || !w.Registered.IsZero() {
		return false
	}
	w.State, w.Registered, w.LastChecked = Running, now, now
	w.RegistrationSecretHash = secretHash
	w.extendLife(until)
	return true
}

// MarkReregistered records a running worker's renewal: it lives until until (its new
// credentials' expiry), and secretHash is what its next renewal must show. It
// reports false, changing nothing, unless the worker runs and shows oldHash's secret
// (so of two renewals with the same secret, one wins).
func (w *Worker) MarkReregistered(until time.Time, oldHash, secretHash []byte) bool {
	if w.State != Running || len(w.RegistrationSecretHash) == 0 || !bytes.Equal(w.RegistrationSecretHash, oldHash) {
		return false
	}
	w.RegistrationSecretHash = secretHash
	if len(w.StaticSecretHash) == 0 {
		// A static worker's record lives as long as createWorker said.
		w.extendLife(until)
	}
	return true
}

// extendLife moves the worker's end of life to until, and its record's expiry
// StoppedRetention past that.
func (w *Worker) extendLife(until time.Time) {
	w.TerminateAfter = until
	w.Expires = until.Add(StoppedRetention)
}

// DecideTermination records the provisioner's answer to shouldWorkerTerminate and
// since when the worker has been surplus (zero: it is needed). It reports whether
// anything changed.
func (w *Worker) DecideTermination(terminate bool, reason string, surplusSince time.Time) bool {
	if w.ShouldTerminate == terminate && w.TerminateReason == reason && w.SurplusSince.Equal(surplusSince) {
		return false
	}
	w.ShouldTerminate, w.TerminateReason, w.SurplusSince = terminate, reason, surplusSince
	return true
}

// MarkStopping moves a requested or running worker to stopping, recording why. It
// reports whether anything changed.
func (w *Worker) MarkStopping(reason string) bool {
	if w.State.Rank() >= Stopping.Rank() {
		return false
	}
	w.State = Stopping
	if w.StopReason == "" {
		w.StopReason = reason
	}
	return true
}

// MarkStopped moves a worker to stopped as of at, recording why, and schedules its
// record's removal StoppedRetention later. It reports whether anything changed.
func (w *Worker) MarkStopped(at time.Time, reason string) bool {
	if w.State == Stopped {
		return false
	}
	w.State = Stopped
	if w.StopReason == "" {
		w.StopReason = reason
	}
	w.Expires = at.Add(StoppedRetention)
	return true
}

// ec2StateOrder ranks EC2 instance states for reports with equal timestamps.
var ec2StateOrder = map[string]int{
	"pending": 0, "running": 1, "stopping": 2, "stopped": 3, "shutting-down": 4, "terminated": 5,
}

// KnownEC2State reports whether state is an EC2 instance state.
func KnownEC2State(state string) bool {
	_, ok := ec2StateOrder[state]
	return ok
}

// Stop reasons EC2's reports record (deterministic, whatever their order).
const (
	ReasonShuttingDown = "EC2 is stopping or terminating the instance"
	ReasonGone         = "EC2 stopped or terminated the instance"
)

// ObserveEC2State folds EC2's report (an event, or its listing) that the
// instance was in state at at. The recorded EC2 state is the newest report's (by
// time, then by EC2's state order); each state's time is the earliest reported;
// stopping or shutting-down makes a requested or running worker stopping, stopped
// or terminated makes it stopped. EC2 never makes a worker running: only its
// registration does. The result depends only on the set of reports folded, never
// on their order or repetition. It reports whether anything changed.
func (w *Worker) ObserveEC2State(state string, at time.Time) bool {
	rank, ok := ec2StateOrder[state]
	if !ok {
		return false
	}
	changed := false
	if w.EC2State == "" || at.After(w.EC2StateTime) || at.Equal(w.EC2StateTime) && rank > ec2StateOrder[w.EC2State] {
		if w.EC2State != state || !w.EC2StateTime.Equal(at) {
			w.EC2State, w.EC2StateTime = state, at
			changed = true
		}
	}
	switch state {
	case "pending":
		changed = earliest(&w.LaunchTime, at) || changed
	case "running":
		changed = earliest(&w.RunningTime, at) || changed
	case "stopping", "shutting-down":
		changed = earliest(&w.StoppingTime, at) || changed
		changed = w.MarkStopping(ReasonShuttingDown) || changed
	case "stopped", "terminated":
		changed = earliest(&w.TerminatedTime, at) || changed
		changed = w.MarkStopped(w.TerminatedTime, ReasonGone) || changed
		// The reason follows the furthest state reported, whatever came first.
		if w.StopReason == ReasonShuttingDown {
			w.StopReason = ReasonGone
			changed = true
		}
	}
	return w.observed(at) || changed
}

// ObserveInterruption folds a spot interruption warning, sent at at, for an
// instance EC2 takes back at deadline. It reports whether anything changed.
func (w *Worker) ObserveInterruption(deadline, at time.Time) bool {
	changed := earliest(&w.InterruptionDeadline, deadline)
	return w.observed(at) || changed
}

// observed is what every report of EC2's changes: a stopped worker's record lives
// StoppedRetention past the instance's end, however the end was learned, and
// lastChecked is the newest report's time.
func (w *Worker) observed(at time.Time) bool {
	changed := false
	if w.State == Stopped && !w.TerminatedTime.IsZero() {
		if exp := w.TerminatedTime.Add(StoppedRetention); !w.Expires.Equal(exp) {
			w.Expires = exp
			changed = true
		}
	}
	if at.After(w.LastChecked) {
		w.LastChecked = at
		changed = true
	}
	return changed
}

// earliest sets *field to t if it is unset or later, and reports whether it did.
func earliest(field *time.Time, t time.Time) bool {
	if field.IsZero() || t.Before(*field) {
		*field = t
		return true
	}
	return false
}
