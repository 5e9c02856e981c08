package provision

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer a logger may write to from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the JSON log lines whose msg is msg.
func (l *lockedBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, raw := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		if len(raw) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func ids(lines []map[string]any) []string {
	var out []string
	for _, l := range lines {
		id, _ := l["instanceId"].(string)
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// At info level the provisioner logs exactly one line per launched instance and
// one per terminated instance, naming it, its pool and (for terminations) why.
func TestOneInfoLinePerLaunchAndTermination(t *testing.T) {
	e := newEnv(t)
	var buf lockedBuffer
	e.p.Log = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e.awsPool("proj/logged", 3, 5)
	e.iterate()
	var launched []string
	for _, w := range e.workers("proj/logged") {
		launched = append(launched, w.InstanceID)
	}
	sort.Strings(launched)
	got := buf.lines(t, "launched instance")
	if len(launched) != 3 || !slices.Equal(ids(got), launched) {
		t.Fatalf("launch lines for %v, want one for each of %v", ids(got), launched)
	}
	if got[0]["pool"] != "proj/logged" || got[0]["instanceType"] == nil || got[0]["availabilityZone"] == nil {
		t.Errorf("launch line lacks pool, type or zone: %v", got[0])
	}
	if n := len(buf.lines(t, "terminated instance")); n != 0 {
		t.Fatalf("%d termination lines before anything was terminated", n)
	}

	// Never registered: past the registration timeout (600 s) they are reaped.
	e.advance(11 * time.Minute)
	e.iterate()
	e.iterate() // nothing left to terminate: no second line for the same instances
	term := buf.lines(t, "terminated instance")
	if !slices.Equal(ids(term), launched) { // the replacements launched meanwhile live on
		t.Fatalf("termination lines for %v, want one for each of %v", ids(term), launched)
	}
	for _, l := range term {
		if l["pool"] != "proj/logged" || l["reason"] == "" || l["reason"] == nil {
			t.Errorf("termination line lacks pool or reason: %v", l)
		}
	}
}
