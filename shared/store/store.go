// Package store is the DynamoDB data layer: worker types, worker pools, workers,
// secrets, worker-pool errors, clients, the provisioner's status (lease, check-in,
// backoffs, prices, per-pool figures) and the Hawk nonces of requests served.
//
// Every read-modify-write is a conditional write. Whole-record updates go through
// optimistic concurrency: the record carries a version, an update writes only if the
// version it read is still current, and retries on conflict, so concurrent writers
// never lose an update. Listings return opaque continuation tokens, signed so that a
// tampered token is rejected (ErrBadToken) rather than interpreted.
package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DB is the part of the DynamoDB API the store uses; *dynamodb.Client satisfies it.
type DB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Tables names the DynamoDB tables, by role. The template's logical ids are in
// LogicalIDs; deployed names come from the environment (see FromEnv).
type Tables struct {
	WorkerTypes string
	WorkerPools string
	Workers     string
	Secrets     string
	Errors      string
	Clients     string
	Status      string
	Nonces      string
}

// LogicalIDs maps each role to its table's logical id in template.yaml.
var LogicalIDs = Tables{
	WorkerTypes: "WorkerTypesTable",
	WorkerPools: "WorkerPoolsTable",
	Workers:     "WorkersTable",
	Secrets:     "SecretsTable",
	Errors:      "WorkerPoolErrorsTable",
	Clients:     "ClientsTable",
	Status:      "ProvisionerStatusTable",
	Nonces:      "HawkNoncesTable",
}

// Schema is the key schema the code expects of each table (and index), by logical id:
// hash key, then range key ("" for none). The template tests check template.yaml
// against it.
var Schema = map[string][2]string{
	"WorkerTypesTable":           {"workerType", ""},
	"WorkerTypesTable/summaries": {"workerType", ""},
	"WorkerPoolsTable":           {"workerPoolId", ""},
	"WorkersTable":               {attrPool, attrWorker},
	"WorkersTable/byInstance":    {"instanceId", ""},
	"WorkersTable/live":          {attrLivePool, attrWorker},
	"WorkersTable/changes":       {attrChangeShard, attrChangedAt},
	"SecretsTable":               {"token", ""},
	"WorkerPoolErrorsTable":      {attrPool, "error"},
	"ClientsTable":               {"clientId", ""},
	"ProvisionerStatusTable":     {"pk", "sk"},
	"HawkNoncesTable":            {attrNonce, ""},
	"WorkersTable#ttl":           {"ttl", ""},
	"SecretsTable#ttl":           {"ttl", ""},
	"WorkerPoolErrorsTable#ttl":  {"ttl", ""},
	"ProvisionerStatusTable#ttl": {"ttl", ""},
	"HawkNoncesTable#ttl":        {"ttl", ""},
}

// ByLogicalID is TablesFromLogical's inverse: logical id -> table name.
func (t Tables) ByLogicalID() map[string]string {
	return map[string]string{
		LogicalIDs.WorkerTypes: t.WorkerTypes, LogicalIDs.WorkerPools: t.WorkerPools, LogicalIDs.Workers: t.Workers,
		LogicalIDs.Secrets: t.Secrets, LogicalIDs.Errors: t.Errors, LogicalIDs.Clients: t.Clients,
		LogicalIDs.Status: t.Status, LogicalIDs.Nonces: t.Nonces,
	}
}

// TablesFromLogical builds Tables from a logical id -> table name map.
func TablesFromLogical(names map[string]string) Tables {
	return Tables{
		WorkerTypes: names[LogicalIDs.WorkerTypes],
		WorkerPools: names[LogicalIDs.WorkerPools],
		Workers:     names[LogicalIDs.Workers],
		Secrets:     names[LogicalIDs.Secrets],
		Errors:      names[LogicalIDs.Errors],
		Clients:     names[LogicalIDs.Clients],
		Status:      names[LogicalIDs.Status],
		Nonces:      names[LogicalIDs.Nonces],
	}
}

const (
	attrPool   = "pool"
	attrWorker = "worker"
	// attrLivePool is the live index's hash key: a worker record's pool while the
	// worker has not stopped, absent after.
	attrLivePool = "livePool"
	attrTTL      = "ttl"
	attrNonce    = "nonce"
)

var (
	// ErrNotFound means the item does not exist (or has expired).
	ErrNotFound = errors.New("not found")
	// ErrExists means a create found the item already there.
	ErrExists = errors.New("already exists")
	// ErrConflict means a conditional write lost to a concurrent writer more times
	// than it retries, or a precondition on the current record did not hold.
	ErrConflict = errors.New("conflicting concurrent update")
	// ErrBadToken means a continuation token is malformed, tampered with, or belongs
	// to another listing.
	ErrBadToken = errors.New("invalid continuation token")
	// ErrNoChange, returned by an update function, ends the update without writing.
	ErrNoChange = errors.New("no change")
	// ErrTooLarge means an item would exceed MaxItemBytes: it is not written
	// (DynamoDB would refuse it with a ValidationException).
	ErrTooLarge = errors.New("item too large")
)

// MaxItemBytes is DynamoDB's item size limit (400 KB, attribute names included).
const MaxItemBytes = 400 * 1024

// Store is the data layer. It is safe for concurrent use.
type Store struct {
	db       DB
	tables   Tables
	tokenKey []byte
	now      func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the store's clock (tests, simulations).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a Store over db. tokenKey signs continuation tokens; it must be secret
// and stable across the deployment's functions.
func New(db DB, tables Tables, tokenKey []byte, opts ...Option) *Store {
	s := &Store{db: db, tables: tables, tokenKey: tokenKey, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now().UTC() }

// Tables returns the table names the store uses.
func (s *Store) Tables() Tables { return s.tables }

// Page asks for one page of a listing: at most Limit items (0 = the listing's
// default), continuing from Token (as returned by the previous page).
type Page struct {
	Limit int
	Token string
}

const (
	defaultLimit = 1000
	maxLimit     = 1000
)

func (p Page) limit() int32 {
	if p.Limit <= 0 || p.Limit > maxLimit {
		return defaultLimit
	}
	return int32(p.Limit)
}

func marshal(v any) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) {
		o.OmitEmptyTime = true
	})
	if err != nil {
		return nil, fmt.Errorf("marshal %T: %w", v, err)
	}
	if n := ItemSize(item); n > MaxItemBytes {
		return nil, fmt.Errorf("%T is %d bytes, over DynamoDB's %d: %w", v, n, MaxItemBytes, ErrTooLarge)
	}
	return item, nil
}

// ItemSize is an item's size as DynamoDB counts it against MaxItemBytes, or a
// little more: attribute names and values, strings and binaries by their bytes,
// numbers by their decimal text (DynamoDB stores them in about half that).
func ItemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return len(x.Value)
	case *types.AttributeValueMemberN:
		return len(x.Value) + 1
	case *types.AttributeValueMemberB:
		return len(x.Value)
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range x.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range x.Value {
			n += len(s) + 1
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range x.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range x.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		return 3 + ItemSize(x.Value) + len(x.Value)
	}
	return 1 // BOOL, NULL
}

func unmarshal(item map[string]types.AttributeValue, v any) error {
	if err := attributevalue.UnmarshalMap(item, v); err != nil {
		return fmt.Errorf("unmarshal %T: %w", v, err)
	}
	return nil
}

// decodeItems appends each item, decoded as a T, to into.
func decodeItems[T any](into []T, items []map[string]types.AttributeValue) ([]T, error) {
	for _, it := range items {
		var v T
		if err := unmarshal(it, &v); err != nil {
			return nil, err
		}
		into = append(into, v)
	}
	return into, nil
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// getItem reads one item with a strongly consistent read; ErrNotFound when absent.
func (s *Store) getItem(ctx context.Context, table string, key map[string]types.AttributeValue, v any) error {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("get from %s: %w", table, err)
	}
	if len(out.Item) == 0 {
		return ErrNotFound
	}
	return unmarshal(out.Item, v)
}

// versioned is a record updated by optimistic concurrency.
type versioned interface {
	version() int64
	setVersion(int64)
}

// maxAttempts bounds the optimistic-concurrency retries of one update.
const maxAttempts = 25

// update reads the record at key, applies fn, and writes the result only if the
// record's version is still the one read, retrying from a fresh read on conflict. fn
// may return ErrNoChange to stop without writing; any other error aborts. It returns
// the record as written (or as read, for ErrNoChange).
func update[T any, P interface {
	*T
	versioned
}](ctx context.Context, s *Store, table string, key map[string]types.AttributeValue, fn func(P) error) (T, error) {
	return updateFrom[T, P](ctx, s, table, key, nil, fn)
}

// updateFrom is update starting from read, a record the caller read a moment ago,
// instead of a fresh read (nil: read first). A stale one costs a conditional write
// that fails and a read; a current one saves the read.
func updateFrom[T any, P interface {
	*T
	versioned
}](ctx context.Context, s *Store, table string, key map[string]types.AttributeValue, read *T, fn func(P) error) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		var cur T
		if attempt == 0 && read != nil {
			cur = *read
		} else if err := s.getItem(ctx, table, key, P(&cur)); err != nil {
			return zero, err
		}
		next := cur
		p := P(&next)
		old := p.version()
		if err := fn(p); err != nil {
			if errors.Is(err, ErrNoChange) {
				return cur, nil
			}
			return zero, err
		}
		p.setVersion(old + 1)
		item, err := marshal(p)
		if err != nil {
			return zero, err
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(table),
			Item:                      item,
			ConditionExpression:       aws.String("#v = :v"),
			ExpressionAttributeNames:  map[string]string{"#v": "version"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": num(old)},
		})
		if err == nil {
			return next, nil
		}
		if !isConditionFailed(err) {
			return zero, fmt.Errorf("update %s: %w", table, err)
		}
		if attempt+1 >= maxAttempts {
			return zero, fmt.Errorf("update %s after %d attempts: %w", table, maxAttempts, ErrConflict)
		}
		// Back off a little, with jitter, before reading again.
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-time.After(time.Duration(rand.IntN(1+attempt*5)) * time.Millisecond):
		}
	}
}

// create writes a new record, failing with ErrExists if one is there.
func (s *Store) create(ctx context.Context, table, hashKey string, v any) error {
	item, err := marshal(v)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#k)"),
		ExpressionAttributeNames: map[string]string{"#k": hashKey},
	})
	if isConditionFailed(err) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("create in %s: %w", table, err)
	}
	return nil
}

// token is the signed content of a continuation token.
type token struct {
	List string            `json:"l"`
	Key  map[string]string `json:"k"`
}

// encodeToken turns a LastEvaluatedKey into an opaque, signed, URL-safe token; "" when
// the listing is complete. list names the listing, so a token is only valid for it.
func (s *Store) encodeToken(list string, last map[string]types.AttributeValue) (string, error) {
	if len(last) == 0 {
		return "", nil
	}
	t := token{List: list, Key: make(map[string]string, len(last))}
	for k, v := range last {
		sv, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("continuation key %s is not a string", k)
		}
		t.Key[k] = sv.Value
	}
	payload, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, s.tokenKey)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16]), nil
}

// decodeToken verifies and opens a token made by encodeToken for the same listing.
func (s *Store) decodeToken(list, tok string) (map[string]types.AttributeValue, error) {
	if tok == "" {
		return nil, nil
	}
	payloadPart, macPart, ok := cutLast(tok, '.')
	if !ok || len(tok) > 4096 {
		return nil, ErrBadToken
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(payloadPart)
	sum, err2 := base64.RawURLEncoding.DecodeString(macPart)
	if err1 != nil || err2 != nil {
		return nil, ErrBadToken
	}
	mac := hmac.New(sha256.New, s.tokenKey)
	mac.Write(payload)
	if !hmac.Equal(sum, mac.Sum(nil)[:16]) {
		return nil, ErrBadToken
	}
	var t token
	if err := json.Unmarshal(payload, &t); err != nil || t.List != list || len(t.Key) == 0 {
		return nil, ErrBadToken
	}
	key := make(map[string]types.AttributeValue, len(t.Key))
	for k, v := range t.Key {
		key[k] = str(v)
	}
	return key, nil
}

func cutLast(s string, sep byte) (before, after string, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// ttlOf is the DynamoDB TTL value (epoch seconds) for an expiry time; 0 for none.
func ttlOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// notExpired is a filter for items whose TTL has passed but that DynamoDB has not yet
// deleted (it can take a couple of days).
func notExpired(now time.Time) (expr string, names map[string]string, values map[string]types.AttributeValue) {
	return "attribute_not_exists(#ttl) OR #ttl = :zero OR #ttl > :now",
		map[string]string{"#ttl": attrTTL},
		map[string]types.AttributeValue{":now": num(now.Unix()), ":zero": num(0)}
}

// DB returns the DynamoDB client the store uses.
func (s *Store) DB() DB { return s.db }

// Check reads from the worker pools table, for a heartbeat: it reports whether the
// store answers.
func (s *Store) Check(ctx context.Context) error {
	_, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.tables.WorkerPools), Key: workerPoolKey("__heartbeat__")})
	if err != nil {
		return fmt.Errorf("worker pools table: %w", err)
	}
	return nil
}
