// Package memdb is an in-process DynamoDB for the simulator only: it serves the
// store's calls (store.DB) from memory, with the semantics the store relies on
// (conditional writes, key conditions, filters, paging by Limit, a keys-only or
// full global secondary index, TTL sweeps on demand), so a replay of days of
// demand through the real provisioning code takes minutes.
//
// DynamoDB Local stays the store of every test and of the local stack; the
// provisioner's iteration tests run on both and must agree (see
// shared/provision). An expression outside the subset the store speaks (see
// expr.go) is a ValidationException, never a silent misreading. Not modelled:
// the 1 MB page limit, capacity, throttling, eventual consistency of indexes.
//
// minidyn (github.com/truora/minidyn, v0.8.2) was considered first and read, not
// benchmarked: it sorts a table's keys on every insert and evaluates a query's key
// condition against every item of the table (its core.Table.SearchData), so at
// the simulator's tens of thousands of worker records and hundreds of thousands of
// queries each call would cost O(table); here a query reads its partition only.
package memdb

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/workerfleet/workerfleet/shared/dev/samtemplate"
)

type item = map[string]types.AttributeValue

// Items are copied on the way in and never changed in place (an update writes a
// copy), so reads hand out the stored maps themselves: callers must not modify
// what they read, as the store, which only decodes it, does not.

// DB is an in-memory set of tables. It is safe for concurrent use.
type DB struct {
	mu     sync.Mutex
	tables map[string]*table
	exprs  map[string]node
	upds   map[string]*update
}

type table struct {
	def        *samtemplate.Table
	partitions map[string]*partition
	indexes    map[string]*index
}

// partition holds one hash key's items in range key order.
type partition struct {
	keys  []string // range keys, sorted as their type orders them
	items map[string]item
}

// project is what the index holds of it: the table's and the index's keys, and
// for an INCLUDE projection its non-key attributes; everything for ALL.
func (idx *index) project(t *table, it item) item {
	switch idx.def.Projection {
	case string(types.ProjectionTypeKeysOnly), string(types.ProjectionTypeInclude):
	default:
		return it
	}
	keys := item{t.def.HashKey: it[t.def.HashKey], idx.def.HashKey: it[idx.def.HashKey]}
	for _, k := range []string{t.def.RangeKey, idx.def.RangeKey} {
		if v, ok := it[k]; ok && k != "" {
			keys[k] = v
		}
	}
	if idx.def.Projection == string(types.ProjectionTypeInclude) {
		for _, a := range idx.def.NonKeyAttributes {
			if v, ok := it[a]; ok {
				keys[a] = v
			}
		}
	}
	return keys
}

type index struct {
	def *samtemplate.Index
	// by index hash key -> set of table primary keys
	entries map[string]map[string]struct{}
	// by index hash key -> its entries in range key order (indexes with a range
	// key), so that a query of a range reads only that range
	sorted map[string][]rangeEntry
}

// rangeEntry is an index entry: the item's range key value and primary key.
type rangeEntry struct {
	rng types.AttributeValue
	pk  string
}

// less orders entries by range key value, then primary key.
func (a rangeEntry) less(b rangeEntry) bool {
	if c, ok := compare(a.rng, b.rng); ok && c != 0 {
		return c < 0
	}
	return a.pk < b.pk
}

// add and drop keep an index partition's sorted entries.
func (idx *index) add(k string, en rangeEntry) {
	list := idx.sorted[k]
	i := sort.Search(len(list), func(i int) bool { return !list[i].less(en) })
	list = append(list, rangeEntry{})
	copy(list[i+1:], list[i:])
	list[i] = en
	idx.sorted[k] = list
}

func (idx *index) drop(k string, en rangeEntry) {
	list := idx.sorted[k]
	i := sort.Search(len(list), func(i int) bool { return !list[i].less(en) })
	for ; i < len(list); i++ {
		if list[i].pk == en.pk {
			idx.sorted[k] = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(idx.sorted[k]) == 0 {
		delete(idx.sorted, k)
	}
}

// New returns a DB without tables.
func New() *DB {
	return &DB{tables: map[string]*table{}, exprs: map[string]node{}, upds: map[string]*update{}}
}

// CreateTables creates the template's tables (as dynamolocal.CreateTables does)
// under the names name gives their logical ids, and returns those names (logical
// id -> name). A name already taken is an error.
func (db *DB) CreateTables(tables map[string]*samtemplate.Table, name func(logicalID string) string) (map[string]string, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	names := map[string]string{}
	for id, def := range tables {
		n := name(id)
		if _, taken := db.tables[n]; taken {
			return nil, &types.ResourceInUseException{Message: aws.String("Table already exists: " + n)}
		}
		t := &table{def: def, partitions: map[string]*partition{}, indexes: map[string]*index{}}
		for i := range def.Indexes {
			t.indexes[def.Indexes[i].Name] = &index{def: &def.Indexes[i], entries: map[string]map[string]struct{}{}, sorted: map[string][]rangeEntry{}}
		}
		db.tables[n] = t
		names[id] = n
	}
	return names, nil
}

func validation(format string, args ...any) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: fmt.Sprintf(format, args...)}
}

func conditionFailed() error {
	return &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
}

func (db *DB) table(name *string) (*table, error) {
	t, ok := db.tables[aws.ToString(name)]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("Cannot do operations on a non-existent table")}
	}
	return t, nil
}

// filter parses an optional filter expression (nil: none).
func (db *DB) filter(expr *string) (node, error) {
	if aws.ToString(expr) == "" {
		return nil, nil
	}
	return db.cond(*expr)
}

func (db *DB) cond(expr string) (node, error) {
	if n, ok := db.exprs[expr]; ok {
		return n, nil
	}
	n, err := parseCondition(expr)
	if err != nil {
		return nil, validation("invalid expression %q: %v", expr, err)
	}
	db.exprs[expr] = n
	return n, nil
}

// check evaluates an optional condition against an item (nil: absent).
func (db *DB) check(expr *string, it item, names map[string]string, values map[string]types.AttributeValue) (bool, error) {
	if aws.ToString(expr) == "" {
		return true, nil
	}
	n, err := db.cond(*expr)
	if err != nil {
		return false, err
	}
	if it == nil {
		it = item{}
	}
	ok, err := n.eval(it, &env{names: names, values: values})
	if err != nil {
		return false, validation("%v", err)
	}
	return ok, nil
}

// keyString renders a key attribute as a sortable string: S as is, N padded so
// that numeric order is string order for the integers the store writes, B as is.
func keyString(v types.AttributeValue) (string, error) {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return x.Value, nil
	case *types.AttributeValueMemberN:
		return fmt.Sprintf("%020s", x.Value), nil
	case *types.AttributeValueMemberB:
		return string(x.Value), nil
	}
	return "", validation("key attribute of unsupported type %T", v)
}

func (t *table) keyOf(it item) (hash, rng string, err error) {
	hv, ok := it[t.def.HashKey]
	if !ok {
		return "", "", validation("missing key attribute %s", t.def.HashKey)
	}
	if hash, err = keyString(hv); err != nil {
		return "", "", err
	}
	if t.def.RangeKey != "" {
		rv, ok := it[t.def.RangeKey]
		if !ok {
			return "", "", validation("missing key attribute %s", t.def.RangeKey)
		}
		if rng, err = keyString(rv); err != nil {
			return "", "", err
		}
	}
	return hash, rng, nil
}

func (t *table) get(hash, rng string) item {
	p := t.partitions[hash]
	if p == nil {
		return nil
	}
	return p.items[rng]
}

func primary(hash, rng string) string { return hash + "\x00" + rng }

func (t *table) put(it item) error {
	hash, rng, err := t.keyOf(it)
	if err != nil {
		return err
	}
	t.remove(hash, rng)
	p := t.partitions[hash]
	if p == nil {
		p = &partition{items: map[string]item{}}
		t.partitions[hash] = p
	}
	i := sort.SearchStrings(p.keys, rng)
	p.keys = append(p.keys, "")
	copy(p.keys[i+1:], p.keys[i:])
	p.keys[i] = rng
	p.items[rng] = it
	for _, idx := range t.indexes {
		if v, ok := it[idx.def.HashKey]; ok {
			k, err := keyString(v)
			if err != nil {
				continue
			}
			set := idx.entries[k]
			if set == nil {
				set = map[string]struct{}{}
				idx.entries[k] = set
			}
			set[primary(hash, rng)] = struct{}{}
			if r, ok := it[idx.def.RangeKey]; ok && idx.def.RangeKey != "" {
				idx.add(k, rangeEntry{rng: r, pk: primary(hash, rng)})
			}
		}
	}
	return nil
}

func (t *table) remove(hash, rng string) item {
	p := t.partitions[hash]
	if p == nil {
		return nil
	}
	old, ok := p.items[rng]
	if !ok {
		return nil
	}
	delete(p.items, rng)
	i := sort.SearchStrings(p.keys, rng)
	p.keys = append(p.keys[:i], p.keys[i+1:]...)
	if len(p.keys) == 0 {
		delete(t.partitions, hash)
	}
	for _, idx := range t.indexes {
		if v, ok := old[idx.def.HashKey]; ok {
			if k, err := keyString(v); err == nil {
				delete(idx.entries[k], primary(hash, rng))
				if len(idx.entries[k]) == 0 {
					delete(idx.entries, k)
				}
				if r, ok := old[idx.def.RangeKey]; ok && idx.def.RangeKey != "" {
					idx.drop(k, rangeEntry{rng: r, pk: primary(hash, rng)})
				}
			}
		}
	}
	return old
}

func clone(it item) item {
	if it == nil {
		return nil
	}
	out := make(item, len(it))
	for k, v := range it {
		out[k] = v
	}
	return out
}

// GetItem reads one item (always consistently).
func (db *DB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	hash, rng, err := t.keyOf(in.Key)
	if err != nil {
		return nil, err
	}
	return &dynamodb.GetItemOutput{Item: t.get(hash, rng)}, nil
}

// PutItem writes an item if its condition holds.
func (db *DB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, _, _, old, err := db.conditional(in.TableName, in.Item, in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if err != nil {
		return nil, err
	}
	if err := t.put(clone(in.Item)); err != nil {
		return nil, err
	}
	out := &dynamodb.PutItemOutput{}
	if in.ReturnValues == types.ReturnValueAllOld {
		out.Attributes = clone(old)
	}
	return out, nil
}

// conditional finds the item a write addresses and checks the write's condition on
// it: the table, the item's key, and the item as it was (nil when absent). A false
// condition is DynamoDB's ConditionalCheckFailedException.
func (db *DB) conditional(table *string, key item, cond *string, names map[string]string, values map[string]types.AttributeValue) (*table, string, string, item, error) {
	t, err := db.table(table)
	if err != nil {
		return nil, "", "", nil, err
	}
	hash, rng, err := t.keyOf(key)
	if err != nil {
		return nil, "", "", nil, err
	}
	old := t.get(hash, rng)
	ok, err := db.check(cond, old, names, values)
	if err != nil {
		return nil, "", "", nil, err
	}
	if !ok {
		return nil, "", "", nil, conditionFailed()
	}
	return t, hash, rng, old, nil
}

// UpdateItem applies an update expression (SET, REMOVE) if its condition holds;
// it creates the item when absent, as DynamoDB does.
func (db *DB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, _, _, old, err := db.conditional(in.TableName, in.Key, in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if err != nil {
		return nil, err
	}
	expr := aws.ToString(in.UpdateExpression)
	u, ok := db.upds[expr]
	if !ok {
		if u, err = parseUpdate(expr); err != nil {
			return nil, validation("invalid update expression %q: %v", expr, err)
		}
		db.upds[expr] = u
	}
	next := clone(old)
	if next == nil {
		next = clone(in.Key)
	}
	if err := u.apply(next, &env{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues}); err != nil {
		return nil, validation("%v", err)
	}
	if err := t.put(next); err != nil {
		return nil, err
	}
	out := &dynamodb.UpdateItemOutput{}
	switch in.ReturnValues {
	case types.ReturnValueAllOld:
		out.Attributes = clone(old)
	case types.ReturnValueAllNew:
		out.Attributes = clone(next)
	case types.ReturnValueNone, "":
	default:
		return nil, validation("ReturnValues %s is not supported", in.ReturnValues)
	}
	return out, nil
}

// DeleteItem removes an item if its condition holds.
func (db *DB) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, hash, rng, old, err := db.conditional(in.TableName, in.Key, in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if err != nil {
		return nil, err
	}
	t.remove(hash, rng)
	out := &dynamodb.DeleteItemOutput{}
	if in.ReturnValues == types.ReturnValueAllOld {
		out.Attributes = clone(old)
	}
	return out, nil
}

// BatchWriteItem applies puts and deletes, without conditions; nothing is left
// unprocessed.
func (db *DB) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	// Everything is checked before anything is written, as DynamoDB refuses a
	// malformed batch whole.
	type write struct {
		t         *table
		put       item
		hash, rng string
	}
	var writes []write
	seen := map[*table]map[string]bool{}
	for name, reqs := range in.RequestItems {
		t, err := db.table(aws.String(name))
		if err != nil {
			return nil, err
		}
		if seen[t] == nil {
			seen[t] = map[string]bool{}
		}
		for _, r := range reqs {
			w := write{t: t}
			key := item(nil)
			switch {
			case r.PutRequest != nil && r.DeleteRequest == nil:
				w.put, key = r.PutRequest.Item, r.PutRequest.Item
			case r.DeleteRequest != nil && r.PutRequest == nil:
				key = r.DeleteRequest.Key
			default:
				return nil, validation("a write request must hold exactly one of PutRequest and DeleteRequest")
			}
			if w.hash, w.rng, err = t.keyOf(key); err != nil {
				return nil, err
			}
			if pk := primary(w.hash, w.rng); seen[t][pk] {
				return nil, validation("Provided list of item keys contains duplicates")
			} else {
				seen[t][pk] = true
			}
			writes = append(writes, w)
		}
	}
	if len(writes) == 0 || len(writes) > 25 {
		return nil, validation("a BatchWriteItem holds 1 to 25 write requests, not %d", len(writes))
	}
	for _, w := range writes {
		if w.put != nil {
			if err := w.t.put(clone(w.put)); err != nil {
				return nil, err
			}
			continue
		}
		w.t.remove(w.hash, w.rng)
	}
	return &dynamodb.BatchWriteItemOutput{}, nil
}

// hashOf finds the hash key value a key condition fixes: the operand compared with
// "=" to the key attribute, at the top level of its ANDs.
func hashOf(n node, key string, e *env) (types.AttributeValue, bool) {
	switch x := n.(type) {
	case andNode:
		if v, ok := hashOf(x.a, key, e); ok {
			return v, ok
		}
		return hashOf(x.b, key, e)
	case cmpNode:
		if x.op != "=" {
			return nil, false
		}
		for _, pair := range [][2]operand{{x.a, x.b}, {x.b, x.a}} {
			if name, err := e.name(string(pair[0])); err == nil && !strings.HasPrefix(string(pair[0]), ":") && name == key {
				if v, err := pair[1].resolve(nil, e); err == nil && v != nil {
					return v, true
				}
			}
		}
	}
	return nil, false
}

// lowerBound is the least range key value a key condition lets through, from a
// ">" or ">=" comparison of the range key attribute key at the top level of its
// ANDs; nil if it sets none. (The key condition is still applied in full.)
func lowerBound(n node, key string, e *env) types.AttributeValue {
	switch x := n.(type) {
	case andNode:
		if v := lowerBound(x.a, key, e); v != nil {
			return v
		}
		return lowerBound(x.b, key, e)
	case cmpNode:
		attr, val, op := x.a, x.b, x.op
		if strings.HasPrefix(string(attr), ":") {
			attr, val = val, attr
			op = map[string]string{"<": ">", "<=": ">="}[op]
		}
		if name, err := e.name(string(attr)); err != nil || name != key || (op != ">" && op != ">=") {
			return nil
		}
		if v, err := val.resolve(nil, e); err == nil {
			return v
		}
	}
	return nil
}

// partitionOf is the partition (keyString) of the hash key attribute key that a
// key condition fixes.
func partitionOf(keyCond node, key string, e *env) (string, error) {
	hv, ok := hashOf(keyCond, key, e)
	if !ok {
		return "", validation("the key condition must fix %s", key)
	}
	return keyString(hv)
}

// Query reads one partition of a table or index, in range key order, applying
// the key condition, then the filter; Limit bounds the items read. Index queries
// ignore ScanIndexForward and ExclusiveStartKey (the store pages no index).
func (db *DB) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	e := &env{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues}
	keyCond, err := db.cond(aws.ToString(in.KeyConditionExpression))
	if err != nil {
		return nil, err
	}
	filter, err := db.filter(in.FilterExpression)
	if err != nil {
		return nil, err
	}
	// The candidate items, in order.
	var cands []item
	if name := aws.ToString(in.IndexName); name != "" {
		idx, ok := t.indexes[name]
		if !ok {
			return nil, validation("the table has no index %s", name)
		}
		k, err := partitionOf(keyCond, idx.def.HashKey, e)
		if err != nil {
			return nil, err
		}
		// In range key order, as DynamoDB returns them: from the sorted entries of
		// an index with a range key, starting at the key condition's lower bound (most
		// of a busy index's partition is old, and not read); without one, the
		// partition's entries sorted here.
		if idx.def.RangeKey != "" {
			list := idx.sorted[k]
			if lo := lowerBound(keyCond, idx.def.RangeKey, e); lo != nil {
				list = list[sort.Search(len(list), func(i int) bool {
					c, ok := compare(list[i].rng, lo)
					return ok && c >= 0
				}):]
			}
			for _, en := range list {
				hash, rng, _ := strings.Cut(en.pk, "\x00")
				cands = append(cands, t.get(hash, rng))
			}
		} else {
			pks := make([]string, 0, len(idx.entries[k]))
			for pk := range idx.entries[k] {
				pks = append(pks, pk)
			}
			sort.Strings(pks)
			for _, pk := range pks {
				hash, rng, _ := strings.Cut(pk, "\x00")
				cands = append(cands, t.get(hash, rng))
			}
		}
	} else {
		k, err := partitionOf(keyCond, t.def.HashKey, e)
		if err != nil {
			return nil, err
		}
		forward := in.ScanIndexForward == nil || *in.ScanIndexForward
		if p := t.partitions[k]; p != nil {
			keys := p.keys
			if in.ExclusiveStartKey != nil {
				_, rng, err := t.keyOf(in.ExclusiveStartKey)
				if err != nil {
					return nil, err
				}
				if forward {
					keys = keys[sort.Search(len(keys), func(i int) bool { return keys[i] > rng }):]
				} else {
					keys = keys[:sort.SearchStrings(keys, rng)]
				}
			}
			for i := range keys {
				if !forward {
					i = len(keys) - 1 - i
				}
				cands = append(cands, p.items[keys[i]])
			}
		}
	}
	out, err := db.page(t, cands, keyCond, filter, e, in.Limit)
	if err == nil && aws.ToString(in.IndexName) != "" {
		// What the index holds of each item, projected once it is chosen.
		idx := t.indexes[aws.ToString(in.IndexName)]
		for i, it := range out.Items {
			out.Items[i] = idx.project(t, it)
		}
	}
	return out, err
}

// page applies conditions and the limit to candidates, in order.
func (db *DB) page(t *table, cands []item, keyNode, filterNode node, e *env, limit *int32) (*dynamodb.QueryOutput, error) {
	var keyCond, filter pred
	var err error
	if keyNode != nil {
		if keyCond, err = bind(keyNode, e); err != nil {
			return nil, validation("%v", err)
		}
	}
	if filterNode != nil {
		if filter, err = bind(filterNode, e); err != nil {
			return nil, validation("%v", err)
		}
	}
	out := &dynamodb.QueryOutput{}
	for i, it := range cands {
		if limit != nil && int32(i) >= *limit {
			last := item{t.def.HashKey: cands[i-1][t.def.HashKey]}
			if t.def.RangeKey != "" {
				last[t.def.RangeKey] = cands[i-1][t.def.RangeKey]
			}
			out.LastEvaluatedKey = last
			break
		}
		out.ScannedCount++
		if (keyCond != nil && !keyCond(it)) || (filter != nil && !filter(it)) {
			continue
		}
		out.Items = append(out.Items, it)
		out.Count++
	}
	return out, nil
}

// Scan reads a whole table, in (hash, range) key order, applying the filter.
func (db *DB) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	t, err := db.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if in.IndexName != nil {
		return nil, validation("scans of an index are not supported")
	}
	e := &env{names: in.ExpressionAttributeNames, values: in.ExpressionAttributeValues}
	filter, err := db.filter(in.FilterExpression)
	if err != nil {
		return nil, err
	}
	hashes := make([]string, 0, len(t.partitions))
	for h := range t.partitions {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes)
	after := ""
	if in.ExclusiveStartKey != nil {
		h, r, err := t.keyOf(in.ExclusiveStartKey)
		if err != nil {
			return nil, err
		}
		after = primary(h, r)
	}
	var cands []item
	for _, h := range hashes {
		p := t.partitions[h]
		for _, r := range p.keys {
			if after != "" && primary(h, r) <= after {
				continue
			}
			cands = append(cands, p.items[r])
		}
	}
	q, err := db.page(t, cands, nil, filter, e, in.Limit)
	if err != nil {
		return nil, err
	}
	return &dynamodb.ScanOutput{Items: q.Items, Count: q.Count, ScannedCount: q.ScannedCount, LastEvaluatedKey: q.LastEvaluatedKey}, nil
}

// Sweep deletes every item whose TTL attribute (as template.yaml names it) is a
// time at or before now, as DynamoDB's TTL sweeper eventually does. It returns how
// many it deleted.
func (db *DB) Sweep(now time.Time) int {
	db.mu.Lock()
	defer db.mu.Unlock()
	n, nowUnix := 0, fmt.Sprint(now.Unix())
	for _, t := range db.tables {
		attr := t.def.TTLAttribute
		if attr == "" {
			continue
		}
		var doomed [][2]string
		for h, p := range t.partitions {
			for _, r := range p.keys {
				v, ok := p.items[r][attr].(*types.AttributeValueMemberN)
				if !ok {
					continue
				}
				if c := compareNumbers(v.Value, nowUnix); c <= 0 && v.Value != "0" {
					doomed = append(doomed, [2]string{h, r})
				}
			}
		}
		for _, d := range doomed {
			t.remove(d[0], d[1])
		}
		n += len(doomed)
	}
	return n
}
