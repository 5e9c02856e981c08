package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// WorkerTypePrefix starts the pool key of an aws-provisioner worker type's workers.
// ':' cannot occur in a workerPoolId, so the two namespaces never collide.
const WorkerTypePrefix = "wt:"

// WorkerTypePool is the pool key under which a worker type's instances are recorded.
func WorkerTypePool(workerType string) string { return WorkerTypePrefix + workerType }

// WorkerTypeOf returns the worker type a pool key names, if it names one.
func WorkerTypeOf(pool string) (string, bool) {
	return strings.CutPrefix(pool, WorkerTypePrefix)
}

// WorkerKey is the sort key of a worker within its pool.
func WorkerKey(workerGroup, workerID string) string { return workerGroup + "/" + workerID }

// Worker is one worker's record: a worker-manager worker, or an aws-provisioner
// worker type's instance (Pool = WorkerTypePool(name)).
type Worker struct {
	Pool         string    `dynamodbav:"pool"`
	Key          string    `dynamodbav:"worker"`
	WorkerGroup  string    `dynamodbav:"workerGroup"`
	WorkerID     string    `dynamodbav:"workerId"`
	ProviderID   string    `dynamodbav:"providerId"`
	State        State     `dynamodbav:"state"`
	Capacity     float64   `dynamodbav:"capacity"`
	Created      time.Time `dynamodbav:"created"`
	LastModified time.Time `dynamodbav:"lastModified"` // last state change
	LastChecked  time.Time `dynamodbav:"lastChecked"`  // last confirmation from the cloud
	Expires      time.Time `dynamodbav:"expires"`      // when the record is deleted (DynamoDB TTL)
	TTL          int64     `dynamodbav:"ttl,omitempty"`

	// The cloud instance behind the worker (aws provider and worker types).
	InstanceID       string  `dynamodbav:"instanceId,omitempty"`
	Region           string  `dynamodbav:"region,omitempty"`
	AvailabilityZone string  `dynamodbav:"availabilityZone,omitempty"`
	InstanceType     string  `dynamodbav:"instanceType,omitempty"`
	ImageID          string  `dynamodbav:"imageId,omitempty"`
	AccountID        string  `dynamodbav:"accountId,omitempty"`
	PrivateIP        string  `dynamodbav:"privateIp,omitempty"`
	Spot             bool    `dynamodbav:"spot,omitempty"`
	Price            float64 `dynamodbav:"price,omitempty"` // hourly price when launched
	OptionID         string  `dynamodbav:"optionId,omitempty"`
	// LaunchConfigID is the pool launch config the worker was launched from.
	LaunchConfigID string `dynamodbav:"launchConfigId,omitempty"`
	LaunchToken    string `dynamodbav:"launchToken,omitempty"`

	// EC2's own view of the instance, from its events and from reconciliation.
	EC2State             string    `dynamodbav:"ec2State,omitempty"`
	EC2StateTime         time.Time `dynamodbav:"ec2StateTime,omitempty"`
	LaunchTime           time.Time `dynamodbav:"launchTime,omitempty"`
	RunningTime          time.Time `dynamodbav:"runningTime,omitempty"`
	StoppingTime         time.Time `dynamodbav:"stoppingTime,omitempty"`
	TerminatedTime       time.Time `dynamodbav:"terminatedTime,omitempty"`
	InterruptionDeadline time.Time `dynamodbav:"interruptionDeadline,omitempty"`
	// RebalanceTime is when EC2 first recommended a rebalance, as releases before
	// 0.21 recorded it; nothing writes or acts on it now (ec2events.Used). The
	// changes index still projects it: dropping it there replaces the index.
	RebalanceTime time.Time `dynamodbav:"rebalanceTime,omitempty"`

	// Life cycle.
	RegistrationDeadline time.Time `dynamodbav:"registrationDeadline,omitempty"`
	Registered           time.Time `dynamodbav:"registered,omitempty"`
	TerminateAfter       time.Time `dynamodbav:"terminateAfter,omitempty"`
	StopReason           string    `dynamodbav:"stopReason,omitempty"`

	// Proofs, hashed: the DB never holds a usable secret.
	SecretTokenHash  []byte `dynamodbav:"secretTokenHash,omitempty"`
	StaticSecretHash []byte `dynamodbav:"staticSecretHash,omitempty"`
	// RegistrationSecretHash is the hash of the secret registerWorker (then each
	// reregisterWorker) gave the worker, which its next reregisterWorker must show.
	RegistrationSecretHash []byte `dynamodbav:"registrationSecretHash,omitempty"`

	// WorkerConfigHash names the workerConfig the worker was launched with (see
	// Store.PutWorkerConfig), which registerWorker hands it.
	WorkerConfigHash string `dynamodbav:"workerConfigHash,omitempty"`

	// ShouldTerminate is the provisioner's last word on whether the worker is still
	// needed (shouldWorkerTerminate), and TerminateReason why; both empty until the
	// provisioner has decided.
	ShouldTerminate bool   `dynamodbav:"shouldTerminate,omitempty"`
	TerminateReason string `dynamodbav:"terminateReason,omitempty"`
	// SurplusSince is when the provisioner first found the worker beyond what its
	// pool needs (zero while it is needed).
	SurplusSince time.Time `dynamodbav:"surplusSince,omitempty"`

	Version int64 `dynamodbav:"version"`

	// LivePool is Pool until the worker stops, then empty: the live index holds
	// only records that carry it. The store keeps it; callers never set it.
	LivePool string `dynamodbav:"livePool,omitempty"`

	// ChangeShard and ChangedAt place the record in the changes index (see
	// ChangedWorkers): one of ChangeShards partitions, and the time of the record's
	// last write in Unix milliseconds. The store keeps them; callers never set them.
	ChangeShard string `dynamodbav:"chgShard,omitempty"`
	ChangedAt   int64  `dynamodbav:"chgAt,omitempty"`

	// Partial says the record holds only the attributes the provisioner reads
	// (ProvisionerAttributes: LiveWorkers, ChangedWorkers). An update starting
	// from it (UpdateWorkerFrom) writes only the attributes its function changed
	// (one UpdateItem), so what the record lacks stays as stored; the function
	// must then decide from the provisioner's attributes alone. It is not stored.
	Partial bool `dynamodbav:"-" json:"-"`
}

// indexLive sets LivePool from the state.
func (w *Worker) indexLive() {
	w.LivePool = ""
	if w.State != Stopped {
		w.LivePool = w.Pool
	}
}

func (w *Worker) version() int64     { return w.Version }
func (w *Worker) setVersion(v int64) { w.Version = v }

// Interrupted reports whether the cloud announced it will take the instance away.
func (w Worker) Interrupted() bool { return !w.InterruptionDeadline.IsZero() }

func workerKey(pool, key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPool: str(pool), attrWorker: str(key)}
}

// CreateWorker records a new worker. Created, LastModified and LastChecked default to
// now. ErrExists if the worker is already recorded (a repeated launch is a no-op).
func (s *Store) CreateWorker(ctx context.Context, w Worker) (Worker, error) {
	now := s.Now()
	w.Key = WorkerKey(w.WorkerGroup, w.WorkerID)
	for _, t := range []*time.Time{&w.Created, &w.LastModified, &w.LastChecked} {
		if t.IsZero() {
			*t = now
		}
	}
	if w.State == "" {
		w.State = Requested
	}
	w.TTL = ttlOf(w.Expires)
	w.Version = 1
	w.indexLive()
	w.markChanged(now)
	item, err := marshal(&w)
	if err != nil {
		return Worker{}, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.tables.Workers),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#p)"),
		ExpressionAttributeNames: map[string]string{"#p": attrPool},
	})
	if isConditionFailed(err) {
		return Worker{}, ErrExists
	}
	if err != nil {
		return Worker{}, fmt.Errorf("create worker: %w", err)
	}
	return w, nil
}

// Worker reads one worker; ErrNotFound if absent or expired.
func (s *Store) Worker(ctx context.Context, pool, workerGroup, workerID string) (Worker, error) {
	return s.WorkerByKey(ctx, pool, WorkerKey(workerGroup, workerID))
}

// WorkerByKey reads one worker by its pool and sort key (WorkerKey), consistently;
// ErrNotFound if absent or expired.
func (s *Store) WorkerByKey(ctx context.Context, pool, key string) (Worker, error) {
	var w Worker
	if err := s.getItem(ctx, s.tables.Workers, workerKey(pool, key), &w); err != nil {
		return Worker{}, err
	}
	if w.TTL != 0 && w.TTL <= s.Now().Unix() {
		return Worker{}, ErrNotFound
	}
	return w, nil
}

// WorkerByInstance finds the worker recorded for a cloud instance id; ErrNotFound if
// none is (yet) recorded. The index is eventually consistent; the record returned is
// read consistently.
func (s *Store) WorkerByInstance(ctx context.Context, instanceID string) (Worker, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.Workers),
		IndexName:                 aws.String("byInstance"),
		KeyConditionExpression:    aws.String("instanceId = :i"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":i": str(instanceID)},
		Limit:                     aws.Int32(2),
	})
	if err != nil {
		return Worker{}, fmt.Errorf("find worker by instance: %w", err)
	}
	if len(out.Items) == 0 {
		return Worker{}, ErrNotFound
	}
	var keys struct {
		Pool string `dynamodbav:"pool"`
		Key  string `dynamodbav:"worker"`
	}
	if err := unmarshal(out.Items[0], &keys); err != nil {
		return Worker{}, err
	}
	var w Worker
	if err := s.getItem(ctx, s.tables.Workers, workerKey(keys.Pool, keys.Key), &w); err != nil {
		return Worker{}, err
	}
	return w, nil
}

// UpdateWorker applies fn to the current record and writes it back with optimistic
// concurrency. The store enforces the life cycle: a state never moves backwards (so a
// stopped worker stays stopped; fn's attempt is an error), LastModified moves only when
// the state changes, and the TTL follows Expires. fn may return ErrNoChange.
func (s *Store) UpdateWorker(ctx context.Context, pool, key string, fn func(*Worker) error) (Worker, error) {
	return s.updateWorker(ctx, pool, key, nil, fn)
}

// UpdateWorkerFrom is UpdateWorker starting from read, the record as the caller read
// it a moment ago: when nothing changed it since, the update costs one conditional
// write and no read.
func (s *Store) UpdateWorkerFrom(ctx context.Context, read Worker, fn func(*Worker) error) (Worker, error) {
	return s.updateWorker(ctx, read.Pool, read.Key, &read, fn)
}

func (s *Store) updateWorker(ctx context.Context, pool, key string, read *Worker, fn func(*Worker) error) (Worker, error) {
	apply := func(w *Worker) error {
		before := w.State
		if err := fn(w); err != nil {
			return err
		}
		if w.State.Rank() < before.Rank() {
			return fmt.Errorf("worker %s/%s: state may not move from %s back to %s: %w", pool, key, before, w.State, ErrConflict)
		}
		if w.State != before {
			w.LastModified = later(s.Now(), w.LastModified)
		}
		w.TTL = ttlOf(w.Expires)
		w.indexLive()
		w.markChanged(s.Now())
		return nil
	}
	if read != nil && read.Partial {
		w, done, err := s.updatePartial(ctx, *read, apply)
		if done {
			return w, err
		}
		read = nil // changed since it was read: read the whole record and try again
	}
	return updateFrom(ctx, s, s.tables.Workers, workerKey(pool, key), read, apply)
}

// updatePartial applies fn to a partial record (one holding the provisioner's
// attributes, ProvisionerAttributes) and writes what fn changed, and only that,
// with one UpdateItem conditional on the version read: the attributes the record
// lacks stay as stored. It reports done false, having written nothing, when the
// record changed since it was read.
func (s *Store) updatePartial(ctx context.Context, cur Worker, fn func(*Worker) error) (Worker, bool, error) {
	next := cur
	if err := fn(&next); err != nil {
		if errors.Is(err, ErrNoChange) {
			return cur, true, nil
		}
		return Worker{}, true, err
	}
	next.Version = cur.Version + 1
	before, err := marshal(&cur)
	if err != nil {
		return Worker{}, true, err
	}
	after, err := marshal(&next)
	if err != nil {
		return Worker{}, true, err
	}
	names := map[string]string{"#ver": "version"}
	values := map[string]types.AttributeValue{":ver": num(cur.Version)}
	var sets, removes []string
	attrs := make([]string, 0, len(after)+len(before))
	for k := range after {
		attrs = append(attrs, k)
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			attrs = append(attrs, k)
		}
	}
	sort.Strings(attrs)
	for i, k := range attrs {
		if k == attrPool || k == attrWorker {
			continue
		}
		name := fmt.Sprintf("#a%d", i)
		v, set := after[k]
		switch {
		case !set:
			names[name] = k
			removes = append(removes, name)
		case !reflect.DeepEqual(before[k], v):
			names[name] = k
			values[fmt.Sprintf(":a%d", i)] = v
			sets = append(sets, fmt.Sprintf("%s = :a%d", name, i))
		}
	}
	expr := "SET " + strings.Join(sets, ", ")
	if len(removes) > 0 {
		expr += " REMOVE " + strings.Join(removes, ", ")
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.tables.Workers),
		Key:                       workerKey(cur.Pool, cur.Key),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("#ver = :ver"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if isConditionFailed(err) {
		return Worker{}, false, nil
	}
	if err != nil {
		return Worker{}, true, fmt.Errorf("update worker %s/%s: %w", cur.Pool, cur.Key, err)
	}
	return next, true, nil
}

// DeleteWorker removes a worker's record if it is still at the given version.
func (s *Store) DeleteWorker(ctx context.Context, pool, key string, version int64) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.tables.Workers),
		Key:                       workerKey(pool, key),
		ConditionExpression:       aws.String("#v = :v"),
		ExpressionAttributeNames:  map[string]string{"#v": "version"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(version)},
	})
	if isConditionFailed(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("delete worker: %w", err)
	}
	return nil
}

// ListWorkers returns one page of a pool's workers, all of them or those of one
// worker group, in worker key order, leaving out expired records.
func (s *Store) ListWorkers(ctx context.Context, pool, workerGroup string, page Page) ([]Worker, string, error) {
	return s.ListWorkersWhere(ctx, pool, workerGroup, WorkerFilter{}, page)
}

// WorkerFilter narrows a listing of workers; its zero value lets every one through.
type WorkerFilter struct {
	State          State  // only workers in this state
	LaunchConfigID string // only workers launched from this launch config
}

// ListWorkersWhere is ListWorkers of the workers f lets through. As DynamoDB
// filters after it reads, a page may hold fewer than the limit while more follow.
func (s *Store) ListWorkersWhere(ctx context.Context, pool, workerGroup string, f WorkerFilter, page Page) ([]Worker, string, error) {
	in := workersQuery(s, pool, workerGroup)
	if f.State != "" {
		in.FilterExpression = aws.String("(" + *in.FilterExpression + ") AND #st = :st")
		in.ExpressionAttributeNames["#st"] = "state"
		in.ExpressionAttributeValues[":st"] = str(string(f.State))
	}
	if f.LaunchConfigID != "" {
		in.FilterExpression = aws.String("(" + *in.FilterExpression + ") AND #lc = :lc")
		in.ExpressionAttributeNames["#lc"] = "launchConfigId"
		in.ExpressionAttributeValues[":lc"] = str(f.LaunchConfigID)
	}
	list := "workers:" + pool + ":" + workerGroup + ":" + string(f.State) + ":" + f.LaunchConfigID
	return queryPage[Worker](ctx, s, in, list, page, "workers")
}

// Workers returns every (unexpired) worker of a pool.
func (s *Store) Workers(ctx context.Context, pool string) ([]Worker, error) {
	return queryAll[Worker](ctx, s, workersQuery(s, pool, ""), "workers of "+pool)
}

// LiveWorkers returns the pool's workers that have not stopped: what the
// provisioner works with. Stopped records stay listed (Workers, ListWorkers) for
// StoppedRetention, which in a busy pool is many times the live ones, so this reads
// the sparse live index, which holds only records that are not stopped: a read's
// cost follows the live workers, not the day's launches.
//
// The index is eventually consistent: a record written a moment ago may be missing
// or show its previous state. Callers that act on a record's absence (the
// provisioner terminating an instance no record knows) confirm it with a
// consistent read first. Records written before the index existed are missing
// until IndexLiveWorkers adds them.
//
// The records hold only what the provisioner reads (Worker.Partial): decoding the
// rest was most of the cost of reading them.
func (s *Store) LiveWorkers(ctx context.Context, pool string) ([]Worker, error) {
	filter, names, values := notExpired(s.Now())
	names["#lp"] = attrLivePool
	values[":p"] = str(pool)
	return queryPartialWorkers(ctx, s, &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.Workers),
		IndexName:                 aws.String(liveIndex),
		KeyConditionExpression:    aws.String("#lp = :p"),
		FilterExpression:          aws.String(filter),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}, "live workers of "+pool)
}

// liveIndex is the Workers table's sparse index of records not stopped.
const liveIndex = "live"

// IndexLiveWorkers adds to the live index the pool's records that are not stopped
// but lack LivePool (written before the index existed, or by an older version
// during an upgrade), by writing them back unchanged otherwise. It reads the pool's
// whole partition, consistently, so it is for once per process, not per iteration.
// It returns how many records it indexed.
func (s *Store) IndexLiveWorkers(ctx context.Context, pool string) (int, error) {
	in := workersQuery(s, pool, "")
	in.FilterExpression = aws.String("(" + *in.FilterExpression + ") AND #st <> :stopped AND attribute_not_exists(#lp)")
	in.ExpressionAttributeNames["#st"] = "state"
	in.ExpressionAttributeNames["#lp"] = attrLivePool
	in.ExpressionAttributeValues[":stopped"] = str(string(Stopped))
	missing, err := queryAll[Worker](ctx, s, in, "unindexed workers of "+pool)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, w := range missing {
		_, err := s.UpdateWorker(ctx, w.Pool, w.Key, func(*Worker) error { return nil })
		switch {
		case err == nil:
			n++
		case errors.Is(err, ErrNotFound):
			// Gone meanwhile (expired, or deleted).
		default:
			return n, fmt.Errorf("index worker %s/%s: %w", pool, w.Key, err)
		}
	}
	return n, nil
}

func workersQuery(s *Store, pool, workerGroup string) *dynamodb.QueryInput {
	filter, names, values := notExpired(s.Now())
	names["#p"] = attrPool
	values[":p"] = str(pool)
	cond := "#p = :p"
	if workerGroup != "" {
		names["#w"] = attrWorker
		values[":g"] = str(workerGroup + "/")
		cond += " AND begins_with(#w, :g)"
	}
	return &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.Workers),
		KeyConditionExpression:    aws.String(cond),
		FilterExpression:          aws.String(filter),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ConsistentRead:            aws.Bool(true),
	}
}

// IsNotFound reports whether err means "no such item".
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// workerConfigPool is the partition of pool's launch-time workerConfigs in the
// Workers table: no worker pool or worker type id has a '~', so no query of a
// pool's workers ever meets them, and they carry no livePool or instanceId, so
// neither index holds them.
func workerConfigPool(pool string) string { return "~workerConfig/" + pool }

// WorkerConfigHash names a workerConfig by its content.
func WorkerConfigHash(config []byte) string {
	sum := sha256.Sum256(config)
	return hex.EncodeToString(sum[:16])
}

// workerConfigItem is a workerConfig a pool's workers were launched with.
type workerConfigItem struct {
	Pool   string `dynamodbav:"pool"`
	Key    string `dynamodbav:"worker"`
	Config string `dynamodbav:"config"`
	TTL    int64  `dynamodbav:"ttl"`
}

// PutWorkerConfig keeps the workerConfig a launch gives pool's workers (in their
// user data) until at least until, so that registerWorker can hand each worker the
// configuration it was launched with, as today's worker-runner expects, whatever
// the pool's definition says by then. Workers record only its hash
// (WorkerConfigHash): one item serves every worker launched with the same
// configuration, and worker records, read every iteration, stay small. It returns
// the hash.
func (s *Store) PutWorkerConfig(ctx context.Context, pool string, config []byte, until time.Time) (string, error) {
	hash := WorkerConfigHash(config)
	item, err := marshal(&workerConfigItem{Pool: workerConfigPool(pool), Key: hash, Config: string(config), TTL: until.Unix()})
	if err != nil {
		return "", err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.tables.Workers), Item: item}); err != nil {
		return "", fmt.Errorf("keep the workerConfig of %s: %w", pool, err)
	}
	return hash, nil
}

// WorkerConfig reads a workerConfig PutWorkerConfig kept; ErrNotFound if it is
// unknown or has expired.
func (s *Store) WorkerConfig(ctx context.Context, pool, hash string) (json.RawMessage, error) {
	var it workerConfigItem
	if err := s.getItem(ctx, s.tables.Workers, workerKey(workerConfigPool(pool), hash), &it); err != nil {
		return nil, err
	}
	if it.TTL != 0 && it.TTL <= s.Now().Unix() {
		return nil, ErrNotFound
	}
	return json.RawMessage(it.Config), nil
}
