package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// memoryGuard is a ReplayGuard in memory, for the authenticator's own tests (the
// product's is a conditional write to DynamoDB, tested in shared/app).
type memoryGuard struct {
	mu   sync.Mutex
	used map[string]time.Time
	fail error
}

func (g *memoryGuard) UseNonce(_ context.Context, clientID, nonce, ts string, expires time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return g.fail
	}
	k := clientID + "\n" + nonce + "\n" + ts
	if _, ok := g.used[k]; ok {
		return ErrReplayed
	}
	if g.used == nil {
		g.used = map[string]time.Time{}
	}
	g.used[k] = expires
	return nil
}

// TestReplaysOfWritesAreRefused: a header that changes state is accepted once, for
// local and remote clients alike, and recorded until its ts leaves the skew; reads
// and bewits are not recorded; a guard that cannot record fails the request.
func TestReplaysOfWritesAreRefused(t *testing.T) {
	g := &memoryGuard{}
	a, _ := remoteSetup(t)
	a.Replays = g
	for _, tt := range []struct {
		name      string
		req       Request
		wantTwice bool // a second use is accepted
	}{
		{"local POST", signed(t, perm("user", userToken), "POST", target, `{}`), false},
		{"local DELETE", signed(t, perm("user", userToken), "DELETE", target, ""), false},
		{"remote PUT", signed(t, perm("tc-user", tcToken), "PUT", target, `{"a":1}`), false},
		{"local GET", signed(t, perm("user", userToken), "GET", target, ""), true},
		{"signed URL", bewitURL(t, perm("user", userToken), time.Minute), true},
	} {
		if _, err := a.Authenticate(ctx, tt.req); err != nil {
			t.Fatalf("%s: first use: %v", tt.name, err)
		}
		_, err := a.Authenticate(ctx, tt.req)
		switch {
		case tt.wantTwice && err != nil:
			t.Errorf("%s: second use: %v, want it accepted (reads are not tracked)", tt.name, err)
		case !tt.wantTwice && (err == nil || !strings.Contains(err.Error(), "already served")):
			t.Errorf("%s: second use: %v, want it refused as already served", tt.name, err)
		}
	}
	if len(g.used) != 3 {
		t.Errorf("%d headers recorded, want the 3 writes", len(g.used))
	}
	for k, exp := range g.used {
		if d := time.Until(exp); d < DefaultSkew-time.Minute || d > DefaultSkew+time.Minute {
			t.Errorf("%q recorded until %s from now, want the skew window (%s)", k, d.Round(time.Second), DefaultSkew)
		}
	}
	g.fail = errors.New("table unavailable")
	if _, err := a.Authenticate(ctx, signed(t, perm("user", userToken), "POST", target, `{}`)); err == nil || errors.As(err, new(*Error)) {
		t.Errorf("with a guard that cannot record: %v, want an internal error (not a 401, not accepted)", err)
	}
}
