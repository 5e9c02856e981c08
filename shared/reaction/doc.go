// Package reaction makes the provisioner react to demand as it happens rather than
// on its schedule: signals that a task became pending in a pool (a Taskcluster
// deployment's Pulse task-pending messages) start an iteration within a second,
// and a backstop keeps iterating while no signal comes.
//
// The pieces, each usable on its own:
//
//   - Signals collects what the sources report, pool by pool, and coalesces it:
//     however many signals arrive, the next iteration takes them all at once.
//   - Loop drives iterations: one as soon as a signal arrives (at most one per
//     MinGap, 1 s), one every Busy (10 s) while a pool has work, none otherwise
//     (the provisioner's schedule is the idle backstop).
//   - Pulse holds a subscription to the queue's task-pending and task-running
//     exchanges, bound to the pools' routing keys, reconnecting when it drops.
//   - Demand limits what the iterations ask the demand source to one count per
//     pool per MinInterval (10 s, worker-manager's loop); between counts a pool's
//     figures are the last count moved by the signals seen since.
//   - Handler is the provisioner function's handler when reaction is on: one
//     iteration per invocation, the signals it was woken with applied to Demand,
//     and a Result saying whether demand moves and which pools to listen for.
//
// Deployed (template.yaml ReactionFunction), a 128 MB function holds the Pulse
// subscription and runs the Loop, invoking the provisioner function synchronously
// for each iteration; see docs/provisioning.md for why this shape and what it costs.
package reaction
