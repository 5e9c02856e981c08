package reaction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/taskcluster/taskcluster/v25/clients/client-go/tcqueueevents"
)

// The queue's exchanges Pulse listens on: a task became pending (a pool has work),
// a task's run started (a worker claimed it).
var (
	ExchangePending = tcqueueevents.TaskPending{}.ExchangeName()
	ExchangeRunning = tcqueueevents.TaskRunning{}.ExchangeName()
)

// Pulse holds a subscription to a Taskcluster deployment's Pulse (its RabbitMQ):
// one queue, queue/<user>/<Queue>, bound to the task-pending and task-running
// exchanges for each pool's routing key, feeding Signals. The queue outlives a
// connection for QueueExpires, so messages published while no listener is
// connected (between two invocations, or while reconnecting) wait for the next;
// it holds at most MaxLength messages, dropping the oldest.
type Pulse struct {
	// URL is amqps://host[:port][/vhost] (amqp:// only for a local broker); its
	// user and password, if any, are overridden by Username and Password.
	URL                string
	Username, Password string
	// Queue names the queue after queue/<user>/ ("workerfleet-reaction").
	Queue   string
	Signals *Signals
	Log     *slog.Logger

	// MinBackoff and MaxBackoff bound the pause before reconnecting (1s, 30s);
	// it doubles after each failed attempt.
	MinBackoff, MaxBackoff time.Duration
	// Heartbeat is the AMQP heartbeat (10s): a silent broker is noticed within
	// about twice that.
	Heartbeat time.Duration
	// QueueExpires is how long the queue outlives its last consumer (10m).
	QueueExpires time.Duration
	// MaxLength bounds the messages the queue holds (10000).
	MaxLength int

	mu      sync.Mutex
	pools   map[string]bool // nil: not known yet, every delivery counts
	changed chan struct{}
	up      bool
	stats   PulseStats
	recent  recentSet
}

// PulseStats are what a Pulse listener saw.
type PulseStats struct {
	Connects   int // sessions that reached consuming
	Drops      int // sessions that ended other than by the context
	Deliveries int // messages received
	Signals    int // of them, those that became signals
	Bound      int // pools bound in the current session
}

// DefaultPulseQueue is Pulse.Queue's default.
const DefaultPulseQueue = "workerfleet-reaction"

func (p *Pulse) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.MinBackoff, time.Second)
	def(&p.MaxBackoff, 30*time.Second)
	def(&p.Heartbeat, 10*time.Second)
	def(&p.QueueExpires, 10*time.Minute)
	if p.MaxLength <= 0 {
		p.MaxLength = 10000
	}
	if p.Queue == "" {
		p.Queue = DefaultPulseQueue
	}
	if p.Log == nil {
		p.Log = slog.Default()
	}
	p.mu.Lock()
	if p.changed == nil {
		p.changed = make(chan struct{}, 1)
	}
	p.mu.Unlock()
}

// SetPools sets the pools to listen for, by demand key ("provisionerId/workerType";
// other keys are ignored). Until it is first called every delivery counts.
func (p *Pulse) SetPools(keys []string) {
	want := map[string]bool{}
	for _, k := range keys {
		if prov, wt, ok := strings.Cut(k, "/"); ok && validWord(prov) && validWord(wt) {
			want[k] = true
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pools != nil && sameSet(p.pools, want) {
		return
	}
	p.pools = want
	if p.changed == nil {
		p.changed = make(chan struct{}, 1)
	}
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// validWord: a routing-key word (Taskcluster identifiers never hold dots or the
// wildcards).
func validWord(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*# ")
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// Connected reports whether the listener is consuming now.
func (p *Pulse) Connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up
}

// Stats returns what the listener saw so far.
func (p *Pulse) Stats() PulseStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// user is the Pulse user: Username, or the URL's.
func (p *Pulse) dialURL() (dial string, user string, host string, err error) {
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "amqps" && u.Scheme != "amqp") || u.Host == "" {
		return "", "", "", errors.New("the Pulse URL is not amqps://host[:port][/vhost]") // the URL may hold a password: not repeated
	}
	user = u.User.Username()
	pass, _ := u.User.Password()
	if p.Username != "" {
		user, pass = p.Username, p.Password
	}
	if user == "" {
		return "", "", "", errors.New("no Pulse user: give one in the credentials")
	}
	u.User = url.UserPassword(user, pass)
	return u.String(), user, u.Host, nil
}

// QueueName is the queue's full name for a Pulse user.
func (p *Pulse) QueueName(user string) string { return "queue/" + user + "/" + p.Queue }

// Run listens until ctx ends, reconnecting after each drop; it returns nil then,
// or an error at once if the configuration cannot work (a malformed URL).
func (p *Pulse) Run(ctx context.Context) error {
	p.defaults()
	dial, user, host, err := p.dialURL()
	if err != nil {
		return fmt.Errorf("pulse: %w", err)
	}
	backoff := p.MinBackoff
	for attempt := 1; ; attempt++ {
		began := time.Now()
		err := p.session(ctx, dial, user, host)
		if ctx.Err() != nil {
			return nil
		}
		p.mu.Lock()
		consumed := p.up
		p.up = false
		if consumed {
			p.stats.Drops++
		}
		p.mu.Unlock()
		if consumed {
			p.Log.WarnContext(ctx, "pulse: connection dropped; the backstop covers until it is back", "host", host, "error", err.Error())
			if time.Since(began) > p.MaxBackoff {
				backoff, attempt = p.MinBackoff, 1
			}
		} else {
			p.Log.WarnContext(ctx, "pulse: cannot connect", "host", host, "attempt", attempt, "error", err.Error())
		}
		p.Log.InfoContext(ctx, "pulse: reconnecting", "host", host, "in", backoff.String(), "attempt", attempt+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, p.MaxBackoff)
	}
}

// session is one connection: declare, bind, consume until it drops or ctx ends.
func (p *Pulse) session(ctx context.Context, dial, user, host string) error {
	conn, err := amqp.DialConfig(dial, amqp.Config{
		Heartbeat:  p.Heartbeat,
		Properties: amqp.Table{"connection_name": "workerfleet reaction", "product": "workerfleet"},
		Dial:       amqp.DefaultDial(15 * time.Second),
	})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	if err := ch.Qos(500, 0, false); err != nil {
		return fmt.Errorf("qos: %w", err)
	}
	queue := p.QueueName(user)
	if _, err := ch.QueueDeclare(queue, false, false, false, false, amqp.Table{
		"x-expires":    int32(p.QueueExpires / time.Millisecond),
		"x-max-length": int32(p.MaxLength),
		"x-overflow":   "drop-head",
	}); err != nil {
		return fmt.Errorf("declare %s: %w", queue, err)
	}
	bound := map[string]bool{}
	if err := p.bind(ch, queue, bound); err != nil {
		return err
	}
	deliveries, err := ch.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", queue, err)
	}
	p.mu.Lock()
	p.up = true
	p.stats.Connects++
	p.mu.Unlock()
	p.Log.InfoContext(ctx, "pulse: connected", "host", host, "queue", queue, "pools", len(bound))
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-closed:
			if e == nil {
				return errors.New("the connection closed")
			}
			return fmt.Errorf("the connection closed: %w", e)
		case <-p.changedC():
			if err := p.bind(ch, queue, bound); err != nil {
				return err
			}
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("the broker ended the subscription")
			}
			p.deliver(d)
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		}
	}
}

func (p *Pulse) changedC() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// bind brings the queue's bindings in line with the pools: binds those not bound
// in this session, unbinds those no longer wanted.
func (p *Pulse) bind(ch *amqp.Channel, queue string, bound map[string]bool) error {
	p.mu.Lock()
	var want map[string]bool
	if p.pools != nil {
		want = make(map[string]bool, len(p.pools))
		for k := range p.pools {
			want[k] = true
		}
	}
	p.mu.Unlock()
	if want == nil {
		return nil // not known yet: the queue keeps the bindings it has
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if bound[k] {
			continue
		}
		for _, ex := range []string{ExchangePending, ExchangeRunning} {
			if err := ch.QueueBind(queue, routingKey(k), ex, false, nil); err != nil {
				return fmt.Errorf("bind %s to %s for %s: %w", queue, ex, k, err)
			}
		}
		bound[k] = true
	}
	for k := range bound {
		if want[k] {
			continue
		}
		for _, ex := range []string{ExchangePending, ExchangeRunning} {
			if err := ch.QueueUnbind(queue, routingKey(k), ex, nil); err != nil {
				return fmt.Errorf("unbind %s from %s for %s: %w", queue, ex, k, err)
			}
		}
		delete(bound, k)
	}
	p.mu.Lock()
	p.stats.Bound = len(bound)
	p.mu.Unlock()
	return nil
}

// routingKey is the binding pattern for a pool's messages: the queue's primary
// routing key with its provisionerId and workerType.
func routingKey(key string) string {
	prov, wt, _ := strings.Cut(key, "/")
	return tcqueueevents.TaskPending{RoutingKeyKind: "primary", ProvisionerID: prov, WorkerType: wt}.RoutingKey()
}

// deliver turns a message into a signal: its pool from the routing key
// (primary.taskId.runId.workerGroup.workerId.provisionerId.workerType.schedulerId.taskGroupId...),
// once per task run and exchange (the queue may send a message again).
func (p *Pulse) deliver(d amqp.Delivery) {
	w := strings.Split(d.RoutingKey, ".")
	p.mu.Lock()
	p.stats.Deliveries++
	if len(w) < 9 || w[0] != "primary" {
		p.mu.Unlock()
		return
	}
	key := w[5] + "/" + w[6]
	if p.pools != nil && !p.pools[key] {
		p.mu.Unlock()
		return
	}
	sig := Signal{Pool: key}
	switch d.Exchange {
	case ExchangePending:
		sig.Pending = 1
	case ExchangeRunning:
		sig.Running = 1
	default:
		p.mu.Unlock()
		return
	}
	if !p.recent.add(d.Exchange + " " + w[1] + "/" + w[2]) {
		p.mu.Unlock()
		return
	}
	p.stats.Signals++
	p.mu.Unlock()
	p.Signals.Add(sig)
}

// recentSet remembers the last recentSize keys.
type recentSet struct {
	keys map[string]bool
	ring []string
	next int
}

const recentSize = 8192

// add reports whether k is new, remembering it.
func (r *recentSet) add(k string) bool {
	if r.keys == nil {
		r.keys, r.ring = map[string]bool{}, make([]string, recentSize)
	}
	if r.keys[k] {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.keys, old)
	}
	r.ring[r.next] = k
	r.next = (r.next + 1) % recentSize
	r.keys[k] = true
	return true
}
