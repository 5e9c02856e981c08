package provision

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/workerfleet/workerfleet/shared/store"
)

// Backoff scopes. A Lambda keeps nothing between invocations, so they live in
// DynamoDB; a later iteration honours what an earlier one learned.
func regionScope(region string) string { return "region/" + region }

func quotaScope(region, group string) string { return "quota/" + region + "/" + group }

func capacityScope(region, az, instanceType string) string {
	if az == "" {
		az = "*"
	}
	return "capacity/" + region + "/" + az + "/" + instanceType
}

func optionScope(poolKey, optionID string) string { return "option/" + poolKey + "/" + optionID }

// probationScope marks a pool whose launches failed in an iteration without one
// succeeding: its launches take only spare tokens of the shared launch budget.
func probationScope(poolKey string) string { return "probation/" + poolKey }

// noticeScope dedupes a pool error that would otherwise repeat every iteration.
func noticeScope(poolKey, kind string) string { return "notice/" + poolKey + "/" + kind }

// backoffs are the backoffs in force, as loaded and as added during the iteration.
type backoffs struct {
	mu sync.Mutex
	m  map[string]store.Backoff
}

func loadBackoffs(ctx context.Context, s Store, now time.Time) (*backoffs, error) {
	list, err := s.Backoffs(ctx)
	if err != nil {
		return nil, fmt.Errorf("load backoffs: %w", err)
	}
	b := &backoffs{m: map[string]store.Backoff{}}
	for _, bo := range list {
		if bo.Until.After(now) {
			b.m[bo.Scope] = bo
		}
	}
	return b, nil
}

func (b *backoffs) active(scope string) (store.Backoff, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bo, ok := b.m[scope]
	return bo, ok
}

func (b *backoffs) set(bo store.Backoff) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cur, ok := b.m[bo.Scope]; !ok || bo.Until.After(cur.Until) {
		b.m[bo.Scope] = bo
	}
}

// backOff records a backoff until a time, for this iteration and the next ones.
func (it *iteration) backOff(ctx context.Context, scope string, until time.Time, reason string) {
	bo := store.Backoff{Scope: scope, Until: until, Reason: reason}
	it.backoffs.set(bo)
	if err := it.p.Store.PutBackoff(context.WithoutCancel(ctx), bo); err != nil {
		it.problem("recording backoff %s: %v", scope, err)
	}
}

// Scopes returns the scopes in force, sorted (for reports and tests).
func (b *backoffs) Scopes() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.m))
	for s := range b.m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
