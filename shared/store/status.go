package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Partition keys of the provisioner status table.
const (
	pkLease   = "lease"
	pkCheckIn = "checkin"
	pkBackoff = "backoff"
	pkPrices  = "prices"
)

func statusKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(pk), "sk": str(sk)}
}

// Lease is a time-limited exclusive right, such as running the provisioning iteration.
type Lease struct {
	Name     string    `dynamodbav:"sk"`
	Owner    string    `dynamodbav:"owner"`
	Acquired time.Time `dynamodbav:"acquired"`
	Expires  time.Time `dynamodbav:"expires"`
}

// LeaseHeldError says who holds a lease and until when.
type LeaseHeldError struct {
	Owner   string
	Expires time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("lease held by %s until %s", e.Owner, e.Expires.Format(time.RFC3339))
}

// ErrLeaseLost means the lease expired and was taken by another owner.
var ErrLeaseLost = errors.New("lease lost")

// AcquireLease takes the named lease for owner until now+ttl, if it is free, expired,
// or already owner's (so a retried invocation with the same owner id resumes). When
// someone else holds it, the error is a *LeaseHeldError.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration) (Lease, error) {
	now := s.Now()
	l := Lease{Name: name, Owner: owner, Acquired: now, Expires: now.Add(ttl)}
	item, err := marshal(&l)
	if err != nil {
		return Lease{}, err
	}
	item["pk"] = str(pkLease)
	item["expiresAt"] = num(l.Expires.UnixMilli())
	item[attrTTL] = num(l.Expires.Add(time.Hour).Unix())
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.tables.Status),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR expiresAt < :now OR #o = :owner"),
		ExpressionAttributeNames: map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": num(now.UnixMilli()), ":owner": str(owner),
		},
	})
	if isConditionFailed(err) {
		var held Lease
		if gerr := s.getItem(ctx, s.tables.Status, statusKey(pkLease, name), &held); gerr != nil {
			return Lease{}, fmt.Errorf("acquire lease %s: %w", name, gerr)
		}
		return Lease{}, &LeaseHeldError{Owner: held.Owner, Expires: held.Expires}
	}
	if err != nil {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return l, nil
}

// RenewLease extends a lease the caller still holds; ErrLeaseLost if it does not.
func (s *Store) RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	l.Expires = s.Now().Add(ttl)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.tables.Status),
		Key:                      statusKey(pkLease, l.Name),
		UpdateExpression:         aws.String("SET expiresAt = :e, expires = :et, #ttl = :ttl"),
		ConditionExpression:      aws.String("#o = :owner"),
		ExpressionAttributeNames: map[string]string{"#o": "owner", "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":e": num(l.Expires.UnixMilli()), ":et": str(l.Expires.Format(time.RFC3339Nano)),
			":ttl": num(l.Expires.Add(time.Hour).Unix()), ":owner": str(l.Owner),
		},
	})
	if isConditionFailed(err) {
		return Lease{}, ErrLeaseLost
	}
	if err != nil {
		return Lease{}, fmt.Errorf("renew lease %s: %w", l.Name, err)
	}
	return l, nil
}

// ReleaseLease gives a lease up if the caller still holds it.
func (s *Store) ReleaseLease(ctx context.Context, l Lease) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.tables.Status),
		Key:                       statusKey(pkLease, l.Name),
		ConditionExpression:       aws.String("#o = :owner"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": str(l.Owner)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("release lease %s: %w", l.Name, err)
	}
	return nil
}

// CheckIn is the record of a completed provisioning iteration.
type CheckIn struct {
	Time        time.Time `dynamodbav:"time"`
	Iteration   string    `dynamodbav:"iteration"`
	Outcome     string    `dynamodbav:"outcome"` // "ok", or a short description of what failed
	DurationMS  int64     `dynamodbav:"durationMs"`
	Pools       int       `dynamodbav:"pools"`
	Launched    int       `dynamodbav:"launched"`
	Terminated  int       `dynamodbav:"terminated"`
	ErrorsCount int       `dynamodbav:"errors"`
	// Recent are the times (Unix seconds) of the check-ins before this one, oldest
	// first, at most CheckInHistory: where they are far apart, the provisioner did
	// not run (the status page draws those stretches as gaps).
	Recent []int64 `dynamodbav:"recent,omitempty"`
}

// CheckInHistory is how many earlier check-in times a check-in keeps: three hours
// at one check-in a minute, about 2 KB.
const CheckInHistory = 180

// RecordCheckIn stores the latest check-in.
func (s *Store) RecordCheckIn(ctx context.Context, c CheckIn) error {
	item, err := marshal(&c)
	if err != nil {
		return err
	}
	item["pk"], item["sk"] = str(pkCheckIn), str("provisioner")
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.tables.Status), Item: item}); err != nil {
		return fmt.Errorf("record check-in: %w", err)
	}
	return nil
}

// LastCheckIn returns the latest check-in; ErrNotFound if the provisioner never ran.
func (s *Store) LastCheckIn(ctx context.Context) (CheckIn, error) {
	var c CheckIn
	err := s.getItem(ctx, s.tables.Status, statusKey(pkCheckIn, "provisioner"), &c)
	return c, err
}

// PoolStatus is what the last iteration saw and decided for one pool. Each pool's
// is an item of its own partition (pk "pool/<pool key>"), so the writes of many
// pools in one iteration never meet in one partition, and the provisioner writes
// it only when a figure changes (Updated is when it last did).
type PoolStatus struct {
	Pool              string    `dynamodbav:"pool"`
	Updated           time.Time `dynamodbav:"updated"`
	PendingTasks      int64     `dynamodbav:"pendingTasks"`
	DesiredCapacity   float64   `dynamodbav:"desiredCapacity"`
	RequestedCapacity float64   `dynamodbav:"requestedCapacity"`
	RunningCapacity   float64   `dynamodbav:"runningCapacity"`
	StoppingCapacity  float64   `dynamodbav:"stoppingCapacity"`
	Launched          int       `dynamodbav:"launched"`
	Terminated        int       `dynamodbav:"terminated"`
	Decision          string    `dynamodbav:"decision"`
	LastError         string    `dynamodbav:"lastError,omitempty"`
	// MinCapacity and MaxCapacity are the pool's bounds; Interrupted the capacity
	// of workers that got a spot interruption warning.
	MinCapacity float64 `dynamodbav:"minCapacity"`
	MaxCapacity float64 `dynamodbav:"maxCapacity"`
	Interrupted float64 `dynamodbav:"interrupted"`
	// History is the pool's figures at the last iterations, oldest first, at most
	// PoolHistoryLength of them: the status page's capacity over time.
	History PoolHistory `dynamodbav:"history,omitempty"`
	// Workers counts the pool's live workers by state, as the worker-manager API's
	// pool answers report them.
	Workers WorkerCounts `dynamodbav:"workers"`
}

// WorkerCounts are a pool's (or a launch config's) live workers by state: how
// many, and their capacity.
type WorkerCounts struct {
	Requested         int     `dynamodbav:"requested" json:"requestedCount"`
	Running           int     `dynamodbav:"running" json:"runningCount"`
	Stopping          int     `dynamodbav:"stopping" json:"stoppingCount"`
	RequestedCapacity float64 `dynamodbav:"requestedCapacity" json:"requestedCapacity"`
	RunningCapacity   float64 `dynamodbav:"runningCapacity" json:"runningCapacity"`
	StoppingCapacity  float64 `dynamodbav:"stoppingCapacity" json:"stoppingCapacity"`
}

// Add counts w (live workers only).
func (c *WorkerCounts) Add(w Worker) {
	switch w.State {
	case Requested:
		c.Requested++
		c.RequestedCapacity += w.Capacity
	case Running:
		c.Running++
		c.RunningCapacity += w.Capacity
	case Stopping:
		c.Stopping++
		c.StoppingCapacity += w.Capacity
	}
}

// PoolHistoryLength is how many samples a PoolStatus keeps. The provisioner adds
// one when a pool's figures change (each holds until the next), so a steady pool's
// history reaches back as far as its last changes.
const PoolHistoryLength = 60

// PoolSample is a pool's figures from one iteration on (its time to the second).
type PoolSample struct {
	Time      time.Time `json:"time"`
	Running   float64   `json:"running"`
	Requested float64   `json:"requested"`
	Pending   int64     `json:"pendingTasks"`
}

// PoolHistory is stored as one string, "unix:running:requested:pending" for the
// first sample and "seconds-since-the-previous:running:requested:pending" for
// each next one, space-separated: about 10 bytes a sample, so that a status item
// with its 60 samples stays near one 1 KB write unit (as a list of maps, it would
// be about 2.8 KB more: four units a pool per iteration).
type PoolHistory []PoolSample

// MarshalDynamoDBAttributeValue writes the compact string.
func (h PoolHistory) MarshalDynamoDBAttributeValue() (types.AttributeValue, error) {
	var b strings.Builder
	var prev int64
	for i, s := range h {
		t := s.Time.Unix()
		if i > 0 {
			b.WriteByte(' ')
			t, prev = t-prev, t
		} else {
			prev = t
		}
		fmt.Fprintf(&b, "%d:%s:%s:%d", t, strconv.FormatFloat(s.Running, 'g', -1, 64), strconv.FormatFloat(s.Requested, 'g', -1, 64), s.Pending)
	}
	return str(b.String()), nil
}

// UnmarshalDynamoDBAttributeValue reads the compact string.
func (h *PoolHistory) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	v, ok := av.(*types.AttributeValueMemberS)
	if !ok {
		return fmt.Errorf("pool history: %T is not a string", av)
	}
	*h = nil
	var t int64
	for i, f := range strings.Fields(v.Value) {
		parts := strings.Split(f, ":")
		if len(parts) != 4 {
			return fmt.Errorf("pool history: sample %q", f)
		}
		d, err1 := strconv.ParseInt(parts[0], 10, 64)
		r, err2 := strconv.ParseFloat(parts[1], 64)
		q, err3 := strconv.ParseFloat(parts[2], 64)
		p, err4 := strconv.ParseInt(parts[3], 10, 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return fmt.Errorf("pool history: sample %q: %w", f, err)
		}
		if i == 0 {
			t = d
		} else {
			t += d
		}
		*h = append(*h, PoolSample{Time: time.Unix(t, 0).UTC(), Running: r, Requested: q, Pending: p})
	}
	return nil
}

// pkPoolStatus prefixes the partition key of a pool's status; skPoolStatus is its
// sort key.
const (
	pkPoolStatus = "pool/"
	skPoolStatus = "status"
)

// PoolStatusRetention is how long a pool's figures stay after they were last
// written; the provisioner writes them again well before (PoolStatusRefresh).
const PoolStatusRetention = 7 * 24 * time.Hour

// PutPoolStatuses stores per-pool figures, in batches (of items of different
// partitions).
func (s *Store) PutPoolStatuses(ctx context.Context, statuses []PoolStatus) error {
	reqs := make([]types.WriteRequest, 0, len(statuses))
	for i := range statuses {
		item, err := marshal(&statuses[i])
		if err != nil {
			return err
		}
		item["pk"], item["sk"] = str(pkPoolStatus+statuses[i].Pool), str(skPoolStatus)
		item[attrTTL] = num(statuses[i].Updated.Add(PoolStatusRetention).Unix())
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	return s.batchWrite(ctx, s.tables.Status, reqs)
}

// DeletePoolStatuses removes the figures of pools that are gone.
func (s *Store) DeletePoolStatuses(ctx context.Context, pools []string) error {
	reqs := make([]types.WriteRequest, 0, len(pools))
	for _, p := range pools {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: statusKey(pkPoolStatus+p, skPoolStatus)}})
	}
	return s.batchWrite(ctx, s.tables.Status, reqs)
}

// PoolStatuses returns every pool's latest figures, in pool key order. It scans
// the status table (each pool's figures are a partition of their own): for the
// status page and a provisioner's first iteration, not for every iteration.
func (s *Store) PoolStatuses(ctx context.Context) ([]PoolStatus, error) {
	filter, names, values := notExpired(s.Now())
	names["#pk"], names["#sk"] = "pk", "sk"
	values[":pk"], values[":sk"] = str(pkPoolStatus), str(skPoolStatus)
	var out []PoolStatus
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName:                 aws.String(s.tables.Status),
		FilterExpression:          aws.String("begins_with(#pk, :pk) AND #sk = :sk AND (" + filter + ")"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan pool statuses: %w", err)
		}
		if out, err = decodeItems(out, page.Items); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pool < out[j].Pool })
	return out, nil
}

// PoolStatus returns one pool's latest figures; ErrNotFound if none.
func (s *Store) PoolStatus(ctx context.Context, pool string) (PoolStatus, error) {
	var p PoolStatus
	err := s.getItem(ctx, s.tables.Status, statusKey(pkPoolStatus+pool, skPoolStatus), &p)
	return p, err
}

// Backoff keeps the provisioner away from something that just failed (an instance type
// in an AZ, a quota group in a region, a whole region) until a time.
type Backoff struct {
	Scope  string    `dynamodbav:"sk"`
	Until  time.Time `dynamodbav:"until"`
	Reason string    `dynamodbav:"reason"`
}

// PutBackoff records a backoff; an existing backoff for the same scope that lasts
// longer is kept (conditional write), so concurrent writers can only lengthen it.
func (s *Store) PutBackoff(ctx context.Context, b Backoff) error {
	item, err := marshal(&b)
	if err != nil {
		return err
	}
	item["pk"] = str(pkBackoff)
	item["untilMs"] = num(b.Until.UnixMilli())
	item[attrTTL] = num(b.Until.Add(time.Hour).Unix())
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.tables.Status),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(untilMs) OR untilMs < :u"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": num(b.Until.UnixMilli())},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("put backoff %s: %w", b.Scope, err)
	}
	return nil
}

// Backoffs returns the backoffs still in force.
func (s *Store) Backoffs(ctx context.Context) ([]Backoff, error) {
	now := s.Now()
	return queryAll[Backoff](ctx, s, &dynamodb.QueryInput{
		TableName:                 aws.String(s.tables.Status),
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("untilMs > :now"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkBackoff), ":now": num(now.UnixMilli())},
		ConsistentRead:            aws.Bool(true),
	}, "backoffs")
}

// Price is a cached hourly price of an instance type in an availability zone.
type Price struct {
	AvailabilityZone string  `dynamodbav:"az"`
	InstanceType     string  `dynamodbav:"type"`
	Price            float64 `dynamodbav:"price"`
}

// PriceList is a region's cached spot prices.
type PriceList struct {
	Region  string    `dynamodbav:"sk"`
	Fetched time.Time `dynamodbav:"fetched"`
	Prices  []Price   `dynamodbav:"prices"`
}

// PutPrices caches a region's spot prices for ttl.
func (s *Store) PutPrices(ctx context.Context, pl PriceList, ttl time.Duration) error {
	item, err := marshal(&pl)
	if err != nil {
		return err
	}
	item["pk"] = str(pkPrices)
	item[attrTTL] = num(pl.Fetched.Add(ttl).Unix())
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.tables.Status), Item: item}); err != nil {
		return fmt.Errorf("put prices for %s: %w", pl.Region, err)
	}
	return nil
}

// Prices returns a region's cached prices if they are younger than maxAge;
// ErrNotFound otherwise.
func (s *Store) Prices(ctx context.Context, region string, maxAge time.Duration) (PriceList, error) {
	var pl PriceList
	if err := s.getItem(ctx, s.tables.Status, statusKey(pkPrices, region), &pl); err != nil {
		return PriceList{}, err
	}
	if s.Now().Sub(pl.Fetched) > maxAge {
		return PriceList{}, ErrNotFound
	}
	return pl, nil
}

// batchWrite writes requests 25 at a time (BatchWriteItem's limit), resending what
// DynamoDB returns unprocessed.
func (s *Store) batchWrite(ctx context.Context, table string, reqs []types.WriteRequest) error {
	for len(reqs) > 0 {
		n := min(25, len(reqs))
		batch := map[string][]types.WriteRequest{table: reqs[:n]}
		reqs = reqs[n:]
		for attempt := 0; len(batch[table]) > 0; attempt++ {
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: batch})
			if err != nil {
				return fmt.Errorf("batch write %s: %w", table, err)
			}
			batch = out.UnprocessedItems
			if attempt > 8 {
				return fmt.Errorf("batch write %s: %d items still unprocessed", table, len(batch[table]))
			}
			if len(batch[table]) > 0 {
				time.Sleep(time.Duration(10<<attempt) * time.Millisecond)
			}
		}
	}
	return nil
}
