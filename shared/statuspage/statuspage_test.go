package statuspage_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/workerfleet/workerfleet/shared/dev/storetest"
	"github.com/workerfleet/workerfleet/shared/statuspage"
	"github.com/workerfleet/workerfleet/shared/store"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var (
	ctx = context.Background()
	t0  = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
)

// fleet stores what two iterations left: a pool with history and an error, a
// worker type, and a pool whose figures have not changed for an hour (the
// provisioner writes figures only when they change).
func fleet(t *testing.T, now time.Time) *store.Store {
	t.Helper()
	st := storetest.New(t, store.WithClock(func() time.Time { return now }))
	if err := st.RecordCheckIn(ctx, store.CheckIn{Time: t0.Add(time.Minute), Iteration: "it-2", Outcome: "ok", DurationMS: 180,
		Pools: 2, Launched: 2, Terminated: 1, ErrorsCount: 1}); err != nil {
		t.Fatal(err)
	}
	err := st.PutPoolStatuses(ctx, []store.PoolStatus{
		{Pool: "proj-ci/linux", Updated: t0.Add(time.Minute), PendingTasks: 5, DesiredCapacity: 4, RunningCapacity: 2,
			RequestedCapacity: 2, MinCapacity: 0, MaxCapacity: 4, Interrupted: 1, LastError: `no <c5.xlarge> capacity in us-west-2b`,
			History: []store.PoolSample{{Time: t0, Pending: 5}, {Time: t0.Add(time.Minute), Running: 2, Requested: 2, Pending: 5}}},
		{Pool: store.WorkerTypePool("gecko-linux"), Updated: t0.Add(time.Minute), PendingTasks: 3, MaxCapacity: 6, RunningCapacity: 4,
			History: []store.PoolSample{{Time: t0.Add(time.Minute), Running: 4, Pending: 3}}},
		{Pool: "proj-ci/steady", Updated: t0.Add(-time.Hour), MaxCapacity: 2, RunningCapacity: 2,
			History: []store.PoolSample{{Time: t0.Add(-time.Hour), Running: 2}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestBuild(t *testing.T) {
	snap, err := statuspage.Build(ctx, fleet(t, t0.Add(90*time.Second)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p := snap.Provisioner
	if p == nil || p.ID != "it-2" || p.DurationMS != 180 || p.Status != "healthy" || p.Errors != 1 {
		t.Fatalf("provisioner %+v", p)
	}
	var names []string
	for _, p := range snap.Pools {
		names = append(names, p.Kind+" "+p.Name)
	}
	if got, want := strings.Join(names, ", "), "worker-pool proj-ci/linux, worker-pool proj-ci/steady, worker-type gecko-linux"; got != want {
		t.Errorf("pools %q, want %q", got, want)
	}
	// A sample holds until the next: the steady pool's reaches the last iteration.
	if h := snap.Pools[1].History; len(h) != 2 || !h[1].Time.Equal(t0.Add(time.Minute)) || h[1].Running != 2 {
		t.Errorf("proj-ci/steady history %+v, want its sample carried to the last iteration", h)
	}
	linux := snap.Pools[0]
	if linux.MaxCapacity != 4 || linux.Desired != 4 || linux.Running != 2 || linux.Requested != 2 || linux.Interrupted != 1 ||
		linux.PendingTasks != 5 || len(linux.History) != 2 || linux.LastError == "" {
		t.Errorf("proj-ci/linux %+v", linux)
	}

	late, err := statuspage.Build(ctx, fleet(t, t0.Add(10*time.Minute)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if late.Provisioner.Status != "missing" {
		t.Errorf("a check-in 9 minutes old at a 1-minute schedule: %s, want missing", late.Provisioner.Status)
	}

	empty, err := statuspage.Build(ctx, storetest.New(t), time.Minute)
	if err != nil || empty.Provisioner != nil || len(empty.Pools) != 0 {
		t.Errorf("a provisioner that never ran: %+v, %v", empty, err)
	}
}

func get(t *testing.T, p *statuspage.Page, method, accept, query string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/", Headers: map[string]string{"accept": accept}}
	ev.RequestContext.HTTP.Method = method
	if query != "" {
		ev.QueryStringParameters = map[string]string{"format": query}
	}
	resp, err := p.Serve(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestServe(t *testing.T) {
	p := &statuspage.Page{Store: fleet(t, t0.Add(90*time.Second)), Interval: time.Minute}

	html := get(t, p, "GET", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "")
	if html.StatusCode != 200 || !strings.HasPrefix(html.Headers["Content-Type"], "text/html") {
		t.Fatalf("page: %d %v", html.StatusCode, html.Headers)
	}
	for _, want := range []string{`data-pool="proj-ci/linux"`, `data-pool="gecko-linux"`, "it-2", "took 180 ms", "<svg", "0 / 4",
		"no &lt;c5.xlarge&gt; capacity"} {
		if !strings.Contains(html.Body, want) {
			t.Errorf("page lacks %q:\n%s", want, html.Body)
		}
	}
	if strings.Count(html.Body, "<svg") != 2 {
		t.Errorf("want two charts (the worker type's one sample is as old as the last iteration):\n%s", html.Body)
	}
	if strings.Contains(html.Body, "<script") || strings.Contains(html.Body, "http://") || strings.Contains(html.Body, "https://") {
		t.Error("the page loads scripts or outside resources")
	}
	if csp := html.Headers["Content-Security-Policy"]; !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}

	for _, r := range []events.APIGatewayV2HTTPResponse{get(t, p, "GET", "application/json", ""), get(t, p, "GET", "", "json")} {
		var snap statuspage.Snapshot
		if err := json.Unmarshal([]byte(r.Body), &snap); err != nil || r.StatusCode != 200 || len(snap.Pools) != 3 {
			t.Errorf("JSON: %d %v %s", r.StatusCode, err, r.Body)
		}
	}
	if r := get(t, p, "POST", "", ""); r.StatusCode != 405 || !strings.Contains(r.Body, "MethodNotAllowed") {
		t.Errorf("POST: %d %s", r.StatusCode, r.Body)
	}
}
