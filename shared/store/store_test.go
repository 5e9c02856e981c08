package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/store"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// clock is a settable clock for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var ctx = context.Background()

func TestWorkerTypeLifecycle(t *testing.T) {
	clk := newClock()
	s := storetest.New(t, store.WithClock(clk.Now))
	def := json.RawMessage(`{"description":"a"}`)

	created, err := s.CreateWorkerType(ctx, "wt-1", def)
	if err != nil {
		t.Fatalf("CreateWorkerType: %v", err)
	}
	if !created.LastModified.Equal(clk.Now()) {
		t.Errorf("LastModified = %v, want %v", created.LastModified, clk.Now())
	}

	existing, err := s.CreateWorkerType(ctx, "wt-1", json.RawMessage(`{"description":"b"}`))
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second CreateWorkerType error = %v, want ErrExists", err)
	}
	if string(existing.Definition) != string(def) {
		t.Errorf("existing definition = %s, want the stored %s", existing.Definition, def)
	}

	// Same clock tick: lastModified must still move forward.
	updated, err := s.UpdateWorkerType(ctx, "wt-1", json.RawMessage(`{"description":"c"}`))
	if err != nil {
		t.Fatalf("UpdateWorkerType: %v", err)
	}
	if !updated.LastModified.After(created.LastModified) {
		t.Errorf("LastModified did not move forward: %v then %v", created.LastModified, updated.LastModified)
	}
	if _, err := s.UpdateWorkerType(ctx, "absent", def); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateWorkerType(absent) error = %v, want ErrNotFound", err)
	}

	got, err := s.WorkerType(ctx, "wt-1")
	if err != nil || string(got.Definition) != `{"description":"c"}` {
		t.Fatalf("WorkerType = %s, %v; want the updated definition", got.Definition, err)
	}
	removed, err := s.DeleteWorkerType(ctx, "wt-1")
	if err != nil || !removed {
		t.Fatalf("DeleteWorkerType = %v, %v; want true, nil", removed, err)
	}
	removed, err = s.DeleteWorkerType(ctx, "wt-1")
	if err != nil || removed {
		t.Fatalf("DeleteWorkerType again = %v, %v; want false, nil", removed, err)
	}
	if _, err := s.WorkerType(ctx, "wt-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("WorkerType after delete error = %v, want ErrNotFound", err)
	}
}

// TestConcurrentUpdatesAreNeverLost is the proof the store promises: N writers doing
// read-modify-write on one item through the store, every update accounted for.
func TestConcurrentUpdatesAreNeverLost(t *testing.T) {
	s := storetest.New(t)
	if _, err := s.CreateWorkerPool(ctx, store.WorkerPool{WorkerPoolID: "p/a", ProviderID: "aws", Config: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	w, err := s.CreateWorker(ctx, store.Worker{Pool: "p/a", WorkerGroup: "g", WorkerID: "w", ProviderID: "aws"})
	if err != nil {
		t.Fatal(err)
	}

	const writers = 24
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.UpdateWorkerPool(ctx, "p/a", func(p *store.WorkerPool) error {
				p.PreviousProviderIDs = append(p.PreviousProviderIDs, fmt.Sprintf("provider-%02d", i))
				return nil
			})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			_, err := s.UpdateWorker(ctx, w.Pool, w.Key, func(w *store.Worker) error {
				w.Capacity++
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent update failed: %v", err)
		}
	}

	pool, err := s.WorkerPool(ctx, "p/a")
	if err != nil {
		t.Fatal(err)
	}
	got := append([]string(nil), pool.PreviousProviderIDs...)
	sort.Strings(got)
	var want []string
	for i := range writers {
		want = append(want, fmt.Sprintf("provider-%02d", i))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pool updates lost (-want +got):\n%s", diff)
	}
	if pool.Version != 1+writers {
		t.Errorf("pool version = %d, want %d", pool.Version, 1+writers)
	}
	worker, err := s.Worker(ctx, "p/a", "g", "w")
	if err != nil {
		t.Fatal(err)
	}
	if worker.Capacity != writers {
		t.Errorf("worker capacity = %v after %d increments, want %d", worker.Capacity, writers, writers)
	}
}

func TestWorkerStateOnlyMovesForward(t *testing.T) {
	clk := newClock()
	s := storetest.New(t, store.WithClock(clk.Now))
	w, err := s.CreateWorker(ctx, store.Worker{Pool: "p/a", WorkerGroup: "g", WorkerID: "w", ProviderID: "aws", Capacity: 1, Expires: clk.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateWorker(ctx, w); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second CreateWorker error = %v, want ErrExists", err)
	}
	if w.State != store.Requested || w.TTL != clk.Now().Add(time.Hour).Unix() {
		t.Fatalf("created worker state %q ttl %d; want requested with ttl = expires", w.State, w.TTL)
	}

	clk.Advance(time.Minute)
	w2, err := s.UpdateWorker(ctx, w.Pool, w.Key, func(w *store.Worker) error { w.LastChecked = clk.Now(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !w2.LastModified.Equal(w.LastModified) {
		t.Errorf("LastModified moved without a state change: %v -> %v", w.LastModified, w2.LastModified)
	}

	clk.Advance(time.Minute)
	w3, err := s.UpdateWorker(ctx, w.Pool, w.Key, func(w *store.Worker) error {
		w.State = store.Stopped
		w.Expires = clk.Now().Add(24 * time.Hour)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !w3.LastModified.Equal(clk.Now()) || w3.TTL != clk.Now().Add(24*time.Hour).Unix() {
		t.Errorf("after stopping: lastModified %v ttl %d; want %v and the new expiry", w3.LastModified, w3.TTL, clk.Now())
	}

	for _, back := range []store.State{store.Requested, store.Running, store.Stopping} {
		_, err := s.UpdateWorker(ctx, w.Pool, w.Key, func(w *store.Worker) error { w.State = back; return nil })
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("moving stopped -> %s: error = %v, want ErrConflict", back, err)
		}
	}
	final, _ := s.Worker(ctx, w.Pool, "g", "w")
	if final.State != store.Stopped || final.Version != w3.Version {
		t.Errorf("worker changed by refused updates: state %s version %d", final.State, final.Version)
	}

	if _, err := s.UpdateWorker(ctx, w.Pool, w.Key, func(*store.Worker) error { return store.ErrNoChange }); err != nil {
		t.Errorf("ErrNoChange update returned %v", err)
	}
}

func TestWorkerByInstanceAndExpiry(t *testing.T) {
	clk := newClock()
	s := storetest.New(t, store.WithClock(clk.Now))
	w, err := s.CreateWorker(ctx, store.Worker{Pool: store.WorkerTypePool("wt"), WorkerGroup: "us-east-1", WorkerID: "i-0123", InstanceID: "i-0123", Expires: clk.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.WorkerByInstance(ctx, "i-0123")
	if err != nil || got.Key != w.Key || got.Pool != "wt:wt" {
		t.Fatalf("WorkerByInstance = %+v, %v; want the worker", got, err)
	}
	if _, err := s.WorkerByInstance(ctx, "i-absent"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("WorkerByInstance(absent) error = %v, want ErrNotFound", err)
	}
	if name, ok := store.WorkerTypeOf(got.Pool); !ok || name != "wt" {
		t.Errorf("WorkerTypeOf(%q) = %q, %v", got.Pool, name, ok)
	}

	clk.Advance(2 * time.Hour) // expired; DynamoDB has not deleted it yet
	if _, err := s.Worker(ctx, w.Pool, "us-east-1", "i-0123"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired Worker error = %v, want ErrNotFound", err)
	}
	all, err := s.Workers(ctx, w.Pool)
	if err != nil || len(all) != 0 {
		t.Errorf("Workers after expiry = %d items, %v; want none", len(all), err)
	}
}

// TestPagingVisitsEveryItemOnce pages one item at a time, passing each token through a
// URL query string as clients do, and checks every item is seen exactly once.
func TestPagingVisitsEveryItemOnce(t *testing.T) {
	s := storetest.New(t)
	var want []string
	for i := range 7 {
		group := []string{"g1", "g2"}[i%2]
		id := fmt.Sprintf("w%d", i)
		if _, err := s.CreateWorker(ctx, store.Worker{Pool: "p/a", WorkerGroup: group, WorkerID: id}); err != nil {
			t.Fatal(err)
		}
		want = append(want, group+"/"+id)
		if _, err := s.CreateWorkerPool(ctx, store.WorkerPool{WorkerPoolID: fmt.Sprintf("p/pool%d", i), Config: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddError(ctx, store.PoolError{Pool: "p/a", ErrorID: fmt.Sprintf("e%d", i), Title: "t"}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(want)

	collect := func(name string, page func(store.Page) ([]string, string, error)) []string {
		t.Helper()
		var seen []string
		tok := ""
		for calls := 0; ; calls++ {
			if calls > 50 {
				t.Fatalf("%s: paging did not end", name)
			}
			items, next, err := page(store.Page{Limit: 1, Token: tok})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			seen = append(seen, items...)
			if next == "" {
				return seen
			}
			q := url.Values{"continuationToken": {next}}.Encode()
			parsed, _ := url.ParseQuery(q)
			tok = parsed.Get("continuationToken")
		}
	}

	got := collect("workers", func(p store.Page) ([]string, string, error) {
		ws, next, err := s.ListWorkers(ctx, "p/a", "", p)
		var keys []string
		for _, w := range ws {
			keys = append(keys, w.Key)
		}
		return keys, next, err
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("workers paged (-want +got):\n%s", diff)
	}

	gotG1 := collect("group g1", func(p store.Page) ([]string, string, error) {
		ws, next, err := s.ListWorkers(ctx, "p/a", "g1", p)
		var keys []string
		for _, w := range ws {
			keys = append(keys, w.Key)
		}
		return keys, next, err
	})
	if diff := cmp.Diff([]string{"g1/w0", "g1/w2", "g1/w4", "g1/w6"}, gotG1); diff != "" {
		t.Errorf("group g1 paged (-want +got):\n%s", diff)
	}

	pools := collect("pools", func(p store.Page) ([]string, string, error) {
		ps, next, err := s.ListWorkerPools(ctx, p)
		var ids []string
		for _, p := range ps {
			ids = append(ids, p.WorkerPoolID)
		}
		return ids, next, err
	})
	sort.Strings(pools)
	if len(pools) != 7 || pools[0] != "p/pool0" || pools[6] != "p/pool6" {
		t.Errorf("pools paged = %v, want p/pool0..p/pool6 once each", pools)
	}

	errs := collect("errors", func(p store.Page) ([]string, string, error) {
		es, next, err := s.ListErrors(ctx, "p/a", p)
		var ids []string
		for _, e := range es {
			ids = append(ids, e.ErrorID)
		}
		return ids, next, err
	})
	if diff := cmp.Diff([]string{"e6", "e5", "e4", "e3", "e2", "e1", "e0"}, errs); diff != "" {
		t.Errorf("errors paged, newest first (-want +got):\n%s", diff)
	}
}

func TestTamperedTokensAreRejected(t *testing.T) {
	s := storetest.New(t)
	for i := range 3 {
		if _, err := s.CreateWorker(ctx, store.Worker{Pool: "p/a", WorkerGroup: "g", WorkerID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	_, tok, err := s.ListWorkers(ctx, "p/a", "", store.Page{Limit: 1})
	if err != nil || tok == "" {
		t.Fatalf("first page: token %q, %v", tok, err)
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	other := store.New(storetest.DB(t), s.Tables(), storetest.Key(t))
	cases := map[string]func() error{
		"payload byte flipped": func() error { _, _, err := s.ListWorkers(ctx, "p/a", "", store.Page{Token: flip(tok, 3)}); return err },
		"mac byte flipped": func() error {
			_, _, err := s.ListWorkers(ctx, "p/a", "", store.Page{Token: flip(tok, len(tok)-2)})
			return err
		},
		"garbage":              func() error { _, _, err := s.ListWorkers(ctx, "p/a", "", store.Page{Token: "not-a-token"}); return err },
		"other listing":        func() error { _, _, err := s.ListWorkers(ctx, "p/b", "", store.Page{Token: tok}); return err },
		"other group":          func() error { _, _, err := s.ListWorkers(ctx, "p/a", "g", store.Page{Token: tok}); return err },
		"pools listing":        func() error { _, _, err := s.ListWorkerPools(ctx, store.Page{Token: tok}); return err },
		"other deployment key": func() error { _, _, err := other.ListWorkers(ctx, "p/a", "", store.Page{Token: tok}); return err },
	}
	for name, call := range cases {
		if err := call(); !errors.Is(err, store.ErrBadToken) {
			t.Errorf("%s: error = %v, want ErrBadToken", name, err)
		}
	}
	if _, _, err := s.ListWorkers(ctx, "p/a", "", store.Page{Token: tok}); err != nil {
		t.Errorf("untampered token rejected: %v", err)
	}
}

func TestSecretsAreSingleUse(t *testing.T) {
	clk := newClock()
	s := storetest.New(t, store.WithClock(clk.Now))
	sec := store.Secret{Token: "tok", WorkerType: "wt", Secrets: json.RawMessage(`{"k":"v"}`), Scopes: []string{"a"}, Expiration: clk.Now().Add(time.Hour)}
	if err := s.CreateSecret(ctx, sec); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSecret(ctx, sec); err != nil {
		t.Errorf("repeating the same CreateSecret: %v, want nil", err)
	}
	changed := sec
	changed.Scopes = []string{"b"}
	if err := s.CreateSecret(ctx, changed); !errors.Is(err, store.ErrExists) {
		t.Errorf("different secret under the same token: %v, want ErrExists", err)
	}

	const readers = 16
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.Secret(ctx, "tok")
			if err == nil {
				err = s.ConsumeSecret(ctx, got)
			}
			switch {
			case err == nil:
				wins.Add(1)
				if string(got.Secrets) != `{"k":"v"}` {
					t.Errorf("consumed secret data = %s", got.Secrets)
				}
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("ConsumeSecret: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of %d concurrent readers got the secret, want exactly 1", wins.Load(), readers)
	}
	if _, err := s.Secret(ctx, "tok"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reading a consumed secret: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSecret(ctx, "tok"); err != nil {
		t.Errorf("DeleteSecret of a consumed secret: %v, want nil", err)
	}
	// The token can never be filled again, even with the very same secret.
	if err := s.CreateSecret(ctx, sec); !errors.Is(err, store.ErrSecretUsed) || !errors.Is(err, store.ErrExists) {
		t.Errorf("re-creating a consumed secret: %v, want ErrSecretUsed", err)
	}
	if err := s.DeleteSecret(ctx, "never-created"); err != nil {
		t.Errorf("DeleteSecret of a token never created: %v, want nil", err)
	}
	if err := s.CreateSecret(ctx, store.Secret{Token: "tok3", WorkerType: "wt", Secrets: json.RawMessage(`{"a":1}`), Expiration: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSecret(ctx, "tok3"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secret(ctx, "tok3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reading a removed secret: %v, want ErrNotFound", err)
	}

	expiring := store.Secret{Token: "tok2", WorkerType: "wt", Secrets: json.RawMessage(`{}`), Expiration: clk.Now().Add(time.Minute)}
	if err := s.CreateSecret(ctx, expiring); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if _, err := s.Secret(ctx, "tok2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired secret: %v, want ErrNotFound", err)
	}
}

func TestLease(t *testing.T) {
	clk := newClock()
	s := storetest.New(t, store.WithClock(clk.Now))
	l, err := s.AcquireLease(ctx, "provisioner", "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var held *store.LeaseHeldError
	if _, err := s.AcquireLease(ctx, "provisioner", "b", time.Minute); !errors.As(err, &held) || held.Owner != "a" {
		t.Fatalf("AcquireLease by b while a holds it: %v, want LeaseHeldError naming a", err)
	}
	if _, err := s.AcquireLease(ctx, "provisioner", "a", time.Minute); err != nil {
		t.Errorf("re-acquiring one's own lease: %v", err)
	}
	if l, err = s.RenewLease(ctx, l, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Minute)
	if _, err := s.AcquireLease(ctx, "provisioner", "b", time.Minute); err != nil {
		t.Fatalf("taking an expired lease: %v", err)
	}
	if _, err := s.RenewLease(ctx, l, time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("renewing a lost lease: %v, want ErrLeaseLost", err)
	}
	if err := s.ReleaseLease(ctx, l); err != nil {
		t.Errorf("releasing a lost lease: %v", err)
	}
	if _, err := s.AcquireLease(ctx, "provisioner", "c", time.Minute); !errors.As(err, &held) || held.Owner != "b" {
		t.Errorf("a's release must not free b's lease: %v", err)
	}
}

func TestBackoffsOnlyLengthen(t *testing.T) {
	clk := newClock()
	s := storetest.New(t, store.WithClock(clk.Now))
	long := store.Backoff{Scope: "capacity/us-east-1/us-east-1a/m5.large", Until: clk.Now().Add(3 * time.Minute), Reason: "InsufficientInstanceCapacity"}
	short := long
	short.Until = clk.Now().Add(time.Minute)
	for _, b := range []store.Backoff{long, short} {
		if err := s.PutBackoff(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Backoffs(ctx)
	if err != nil || len(got) != 1 || !got[0].Until.Equal(long.Until) {
		t.Fatalf("Backoffs = %+v, %v; want the longer one only", got, err)
	}
	clk.Advance(4 * time.Minute)
	if got, _ := s.Backoffs(ctx); len(got) != 0 {
		t.Errorf("Backoffs after expiry = %+v, want none", got)
	}
}

func TestCheckInStatusAndPrices(t *testing.T) {
	clk := newClock()
	s := storetest.New(t, store.WithClock(clk.Now))
	if _, err := s.LastCheckIn(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastCheckIn before any: %v, want ErrNotFound", err)
	}
	in := store.CheckIn{Time: clk.Now(), Iteration: "it-1", Outcome: "ok", DurationMS: 1200, Pools: 3, Launched: 2}
	if err := s.RecordCheckIn(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.LastCheckIn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("check-in round trip (-want +got):\n%s", diff)
	}

	var statuses []store.PoolStatus
	for i := range 30 { // more than one BatchWriteItem
		statuses = append(statuses, store.PoolStatus{Pool: fmt.Sprintf("p/%d", i), Updated: clk.Now(), PendingTasks: int64(i), DesiredCapacity: float64(i)})
	}
	if err := s.PutPoolStatuses(ctx, statuses); err != nil {
		t.Fatal(err)
	}
	ps, err := s.PoolStatus(ctx, "p/29")
	if err != nil || ps.PendingTasks != 29 {
		t.Errorf("PoolStatus(p/29) = %+v, %v", ps, err)
	}

	pl := store.PriceList{Region: "us-east-1", Fetched: clk.Now(), Prices: []store.Price{{AvailabilityZone: "us-east-1a", InstanceType: "m5.large", Price: 0.034}}}
	if err := s.PutPrices(ctx, pl, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Prices(ctx, "us-east-1", 5*time.Minute); err != nil || len(got.Prices) != 1 || got.Prices[0].Price != 0.034 {
		t.Errorf("Prices = %+v, %v", got, err)
	}
	clk.Advance(10 * time.Minute)
	if _, err := s.Prices(ctx, "us-east-1", 5*time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("stale Prices: %v, want ErrNotFound", err)
	}
}

func TestClients(t *testing.T) {
	s := storetest.New(t)
	c, err := s.CreateClient(ctx, store.Client{ClientID: "project/ci", SealedAccessToken: []byte{1, 2, 3}, Scopes: []string{"a:*"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateClient(ctx, c); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate CreateClient: %v, want ErrExists", err)
	}
	if _, err := s.UpdateClient(ctx, "project/ci", func(c *store.Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client(ctx, "project/ci")
	if err != nil || !got.Disabled || string(got.SealedAccessToken) != "\x01\x02\x03" {
		t.Errorf("Client = %+v, %v", got, err)
	}
	if err := s.DeleteClient(ctx, "project/ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client(ctx, "project/ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted client: %v, want ErrNotFound", err)
	}
}

func TestRemoveWorkerPoolOnlyAtVersion(t *testing.T) {
	s := storetest.New(t)
	p, err := s.CreateWorkerPool(ctx, store.WorkerPool{WorkerPoolID: "p/a", ProviderID: "null-provider", Config: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateWorkerPool(ctx, "p/a", func(p *store.WorkerPool) error { p.ProviderID = "aws"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveWorkerPool(ctx, "p/a", p.Version); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("removing a pool updated since it was read: %v, want ErrConflict", err)
	}
	if _, err := s.WorkerPool(ctx, "p/a"); err != nil {
		t.Fatalf("pool gone after a refused removal: %v", err)
	}
	if err := s.RemoveWorkerPool(ctx, "p/a", p.Version+1); err != nil {
		t.Fatalf("removing at the current version: %v", err)
	}
}

// TestItemsOverTheLimitAreNotWritten: an item DynamoDB would refuse is
// ErrTooLarge before any request, for creates and updates alike; one just under
// the limit is written.
func TestItemsOverTheLimitAreNotWritten(t *testing.T) {
	s := storetest.New(t)
	blob := func(n int) json.RawMessage { return json.RawMessage(`{"p":"` + strings.Repeat("x", n) + `"}`) }
	if _, err := s.CreateWorkerType(ctx, "big", blob(store.MaxItemBytes)); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("CreateWorkerType over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := s.WorkerType(ctx, "big"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused worker type was stored: %v", err)
	}
	if _, err := s.CreateWorkerType(ctx, "fits", blob(store.MaxItemBytes-200)); err != nil {
		t.Fatalf("CreateWorkerType just under the limit: %v", err)
	}
	if _, err := s.UpdateWorkerType(ctx, "fits", blob(store.MaxItemBytes)); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("UpdateWorkerType over the limit: %v, want ErrTooLarge", err)
	}
}
