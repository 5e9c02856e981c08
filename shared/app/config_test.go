package app

import (
	"strings"
	"testing"
	"time"
)

// TestEnvironIsStrict: every setting takes only what it says, a value it does not
// take is a problem naming the variable, and all the problems come at once.
func TestEnvironIsStrict(t *testing.T) {
	env := map[string]string{
		"DAYS": "3", "BAD_DAYS": "0", "DUR": "90s", "BAD_DUR": "soon",
		"OFF": "off", "ZERO": "0", "SHORT": "10ms", "YES": "true", "NO": "false", "MAYBE": "maybe",
		"ONE": "per-pool", "OTHER": "sometimes", "LIST": " a, ,b ",
	}
	e := environ{get: func(k string) string { return env[k] }}
	got := []any{
		e.days("DAYS"), e.days("UNSET"), e.duration("DUR"), e.duration("UNSET"),
		e.offDuration("OFF", time.Second, "x"), e.offDuration("ZERO", time.Second, "x"), e.offDuration("UNSET", time.Second, "x"),
		e.flag("YES", false), e.flag("NO", true), e.flag("UNSET", true),
		e.oneOf("ONE", "", "fleet", "per-pool"), e.oneOf("UNSET", "", "fleet"), strings.Join(e.list("LIST"), "|"),
	}
	want := []any{
		72 * time.Hour, time.Duration(0), 90 * time.Second, time.Duration(0),
		time.Duration(-1), time.Duration(-1), time.Duration(0),
		true, false, true,
		"per-pool", "", "a|b",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d: got %v, want %v", i, got[i], want[i])
		}
	}
	if err := e.err(); err != nil {
		t.Fatalf("good values: %v", err)
	}

	e.days("BAD_DAYS")
	e.duration("BAD_DUR")
	e.offDuration("SHORT", time.Second, "at least 1s")
	e.flag("MAYBE", true)
	e.oneOf("OTHER", "", "fleet", "per-pool")
	err := e.err()
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, name := range []string{`BAD_DAYS="0"`, `BAD_DUR="soon"`, `SHORT="10ms": at least 1s`, `MAYBE="maybe": want true or false`, `OTHER="sometimes": want fleet or per-pool`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the problems %q do not name %s", err, name)
		}
	}
}
