package localstack

import (
	"context"
	"strings"

	"github.com/workerfleet/workerfleet/shared/provision"
	"github.com/workerfleet/workerfleet/shared/reaction"
)

// react drives the provisioner as the deployed ReactionFunction does (see
// shared/reaction): an iteration within a second of a task becoming pending,
// every 10 s while pools have work, and every ProvisionInterval otherwise (the
// deployed schedule's part). The signals come from the fake queue, which tells of
// tasks becoming pending and claimed as Pulse does; in Taskcluster mode with
// PulseURL, from that deployment's Pulse.
func (s *Stack) react(ctx context.Context, p *provision.Provisioner) {
	d, _ := p.Demand.(*reaction.Demand)
	handle := reaction.Handler(p, d)
	sig := reaction.NewSignals(nil)
	loop := &reaction.Loop{Signals: sig, Idle: s.ProvisionInterval, Log: s.Log,
		Iterate: func(ctx context.Context, tr reaction.Trigger) (reaction.Outcome, error) {
			ev, err := reaction.WakeEvent(tr)
			if err != nil {
				return reaction.Outcome{}, err
			}
			res, err := handle(ctx, ev)
			if err == nil && tr.Batch.Pending() > 0 {
				s.say("reaction: iteration for %s, %d ms after its task became pending", strings.Join(tr.Batch.Keys(), ", "),
					tr.At.Sub(tr.Batch.Oldest).Milliseconds())
			}
			return res.Outcome(), err
		}}
	switch {
	case !s.TaskclusterMode():
		s.Queue.OnSignal(func(key string, pending, claimed int64) {
			sig.Add(reaction.Signal{Pool: key, Pending: pending, Running: claimed})
		})
	case s.PulseURL != "":
		pl := &reaction.Pulse{URL: s.PulseURL, Signals: sig, Log: s.Log}
		loop.OnPools = pl.SetPools
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := pl.Run(ctx); err != nil {
				s.say("reaction: %v; the provisioner iterates every %s instead", err, s.ProvisionInterval)
			}
		}()
	default:
		s.say("reaction: no PULSE_URL in Taskcluster mode; the provisioner iterates every %s", s.ProvisionInterval)
	}
	_ = loop.Run(ctx)
}
