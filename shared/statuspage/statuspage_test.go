package statuspage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

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

// withInstancesAndErrors adds to fleet's store what the pools' own pages list:
// proj-ci/linux's live instances (one c5.xlarge running, one m5.large still
// requested 10 minutes past its registration deadline, one stopped, which is not
// live) and its two kept errors.
func withInstancesAndErrors(t *testing.T, st *store.Store) {
	t.Helper()
	for _, w := range []store.Worker{
		{Pool: "proj-ci/linux", WorkerGroup: "aws", WorkerID: "i-0running", InstanceID: "i-0running", State: store.Running, Capacity: 2,
			InstanceType: "c5.xlarge", Region: "us-west-2", AvailabilityZone: "us-west-2b", Spot: true, Price: 0.0488, Created: t0.Add(-5 * time.Minute)},
		{Pool: "proj-ci/linux", WorkerGroup: "aws", WorkerID: "i-0stuck", InstanceID: "i-0stuck", State: store.Requested, Capacity: 1,
			InstanceType: "m5.large", Region: "us-east-1", Price: 0.096, Created: t0.Add(-30 * time.Minute), RegistrationDeadline: t0.Add(-10 * time.Minute)},
		{Pool: "proj-ci/linux", WorkerGroup: "aws", WorkerID: "i-0gone", InstanceID: "i-0gone", State: store.Stopped, Capacity: 2,
			InstanceType: "c5.xlarge", Price: 0.0488, Created: t0.Add(-time.Hour)},
		{Pool: store.WorkerTypePool("gecko-linux"), WorkerGroup: "us-east-1", WorkerID: "i-0builder", InstanceID: "i-0builder", State: store.Running,
			Capacity: 4, InstanceType: "c5.4xlarge", AvailabilityZone: "us-east-1a", Spot: true, Price: 0.25, Created: t0},
	} {
		w.Expires = t0.Add(24 * time.Hour)
		if _, err := st.CreateWorker(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	for i, e := range []store.PoolError{
		{Title: "Instance capacity", Description: "InsufficientInstanceCapacity: no c5.xlarge in us-west-2b", Reported: t0.Add(-10 * time.Minute)},
		{Title: "Instance capacity", Description: "InsufficientInstanceCapacity: no <c5.xlarge> in us-west-2b, again", Reported: t0.Add(time.Minute)},
	} {
		e.Pool, e.ErrorID, e.Kind = "proj-ci/linux", fmt.Sprintf("err-%d", i), "launch-error"
		if _, err := st.AddError(ctx, e, 7*24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBuildShowsCostWaitErrorsAndStuckCapacity: what an operator wants at a glance
// (issue 23): each pool's cost per hour from its live instances' prices, the
// fleet's; how long pending tasks have waited; the last error's description, time
// and count; capacity still requested past its registration timeout.
func TestBuildShowsCostWaitErrorsAndStuckCapacity(t *testing.T) {
	st := fleet(t, t0.Add(90*time.Second))
	withInstancesAndErrors(t, st)
	snap, err := statuspage.Build(ctx, st, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]statuspage.Pool{}
	for _, p := range snap.Pools {
		byName[p.Name] = p
	}
	for _, tt := range []struct {
		pool      string
		instances int
		cost      float64
		stuck     int
	}{
		{"proj-ci/linux", 2, 0.0488 + 0.096, 1}, // the stopped one is not live
		{"gecko-linux", 1, 0.25, 0},
		{"proj-ci/steady", 0, 0, 0}, // its figures say running 2, but it has no records here
	} {
		p := byName[tt.pool]
		if p.Instances != tt.instances || math.Abs(p.CostPerHour-tt.cost) > 1e-9 || p.RequestedPastTimeout != tt.stuck {
			t.Errorf("%s: %d instances at $%g/h, %d past registration timeout; want %d at $%g/h, %d", tt.pool,
				p.Instances, p.CostPerHour, p.RequestedPastTimeout, tt.instances, tt.cost, tt.stuck)
		}
	}
	if want := 0.0488 + 0.096 + 0.25; math.Abs(snap.CostPerHour-want) > 1e-9 {
		t.Errorf("fleet cost $%g/h, want $%g/h", snap.CostPerHour, want)
	}
	linux := byName["proj-ci/linux"]
	want := &statuspage.ErrorInfo{Title: "Instance capacity", Description: "InsufficientInstanceCapacity: no <c5.xlarge> in us-west-2b, again",
		Time: t0.Add(time.Minute), Count: 2}
	if diff := cmp.Diff(want, linux.Error); diff != "" {
		t.Errorf("proj-ci/linux's last error (-want +got):\n%s", diff)
	}
	// Pending 5 since its first sample: at least since then.
	if linux.PendingSince == nil || !linux.PendingSince.Equal(t0) || !linux.PendingSinceAtLeast {
		t.Errorf("proj-ci/linux pending since %v (at least %v), want at least %s", linux.PendingSince, linux.PendingSinceAtLeast, t0)
	}
	if steady := byName["proj-ci/steady"]; steady.PendingSince != nil || steady.Error != nil {
		t.Errorf("proj-ci/steady has nothing pending and no error: %+v", steady)
	}
	if len(snap.Problems) != 0 {
		t.Errorf("problems: %v", snap.Problems)
	}
}

func getPool(t *testing.T, p *statuspage.Page, pool, format string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{RawPath: "/", QueryStringParameters: map[string]string{"pool": pool}}
	if format != "" {
		ev.QueryStringParameters["format"] = format
	}
	ev.RequestContext.HTTP.Method = "GET"
	resp, err := p.Serve(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestPoolPageListsInstancesAndErrors: a pool's page (?pool=<key>) lists its live
// instances with type, zone, market, price, state and age, flags the one past its
// registration timeout, and lists its errors newest first; unknown or empty pools
// are a 404 and a 400 naming what to give.
func TestPoolPageListsInstancesAndErrors(t *testing.T) {
	st := fleet(t, t0.Add(90*time.Second))
	withInstancesAndErrors(t, st)
	p := &statuspage.Page{Store: st, Interval: time.Minute}

	html := getPool(t, p, "proj-ci/linux", "")
	if html.StatusCode != 200 || !strings.HasPrefix(html.Headers["Content-Type"], "text/html") {
		t.Fatalf("pool page: %d %s", html.StatusCode, html.Body)
	}
	for _, want := range []string{`data-worker="i-0running"`, "c5.xlarge", "us-west-2b", "spot", "$0.0488/h", "6m30s",
		`data-worker="i-0stuck"`, "m5.large", "us-east-1", "on-demand", "$0.0960/h", "past its registration timeout",
		"$0.14/h", `id="errors"`, "no &lt;c5.xlarge&gt; in us-west-2b, again", "2026-11-22 10:01:00 UTC", "time (UTC)", "capacity"} {
		if !strings.Contains(html.Body, want) {
			t.Errorf("pool page lacks %q:\n%s", want, html.Body)
		}
	}
	if strings.Contains(html.Body, "i-0gone") {
		t.Error("the pool page lists a stopped worker")
	}
	if i, j := strings.Index(html.Body, "again"), strings.Index(html.Body, "no c5.xlarge in us-west-2b"); i < 0 || j < 0 || i > j {
		t.Error("errors are not newest first")
	}

	var d statuspage.PoolDetail
	if r := getPool(t, p, "proj-ci/linux", "json"); r.StatusCode != 200 || json.Unmarshal([]byte(r.Body), &d) != nil {
		t.Fatalf("pool JSON: %d %s", r.StatusCode, r.Body)
	}
	if len(d.Instances) != 2 || d.Instances[0].WorkerID != "i-0stuck" || !d.Instances[0].PastRegistrationTimeout || len(d.Errors) != 2 {
		t.Errorf("pool JSON: %+v", d)
	}
	if r := getPool(t, p, "wt:gecko-linux", ""); r.StatusCode != 200 || !strings.Contains(r.Body, "c5.4xlarge") {
		t.Errorf("worker type page: %d %s", r.StatusCode, r.Body)
	}

	for _, tt := range []struct {
		pool   string
		status int
		code   string
	}{
		{"proj-ci/nothing", 404, "ResourceNotFound"},
		{"", 400, "InputValidationError"},
		{strings.Repeat("x", 300), 400, "InputValidationError"},
	} {
		if r := getPool(t, p, tt.pool, ""); r.StatusCode != tt.status || !strings.Contains(r.Body, tt.code) {
			t.Errorf("pool %.20q: %d %s, want %d %s", tt.pool, r.StatusCode, r.Body, tt.status, tt.code)
		}
	}

	// The main page links each pool's page and its errors, and shows the cost.
	main := get(t, p, "GET", "text/html", "")
	for _, want := range []string{`href="?pool=proj-ci%2flinux"`, `href="?pool=proj-ci%2flinux#errors"`, "$0.39/h", "1 past registration timeout",
		"waiting at least 1m30s", "InsufficientInstanceCapacity: no &lt;c5.xlarge&gt; in us-west-2b, again", "2 kept"} {
		if !strings.Contains(main.Body, want) {
			t.Errorf("main page lacks %q:\n%s", want, main.Body)
		}
	}
}

// TestChartAxesAndGaps: the chart labels its axes (capacity; time in UTC, with
// ticks) and, when the provisioner has stopped checking in, runs its time axis on
// to now with the stretch it has not seen drawn as a gap, not as figures that held.
func TestChartAxesAndGaps(t *testing.T) {
	for _, tt := range []struct {
		name string
		now  time.Time
		gap  bool
	}{
		{"checking in", t0.Add(90 * time.Second), false},
		{"missing for 9 minutes", t0.Add(10 * time.Minute), true},
	} {
		p := &statuspage.Page{Store: fleet(t, tt.now), Interval: time.Minute}
		body := get(t, p, "GET", "text/html", "").Body
		for _, want := range []string{`class="axis x-title"`, "time (UTC)", `class="axis y-title"`, ">capacity<", `class="axis x-tick"`, ">10:00"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: page lacks %q", tt.name, want)
			}
		}
		if got := strings.Contains(body, "no iterations</text>"); got != tt.gap {
			t.Errorf("%s: gap drawn %v, want %v", tt.name, got, tt.gap)
		}
		if tt.gap && !strings.Contains(body, ">10:10<") {
			t.Errorf("%s: the time axis does not run on to now (10:10)", tt.name)
		}
	}
}

// TestChartShowsOutages: a stretch in the check-ins' history with no iteration for
// over three intervals is drawn as a gap where it falls in a pool's chart, not as
// figures that held; the chart of a pool whose history lies elsewhere has none.
func TestChartShowsOutages(t *testing.T) {
	now := t0.Add(90 * time.Second)
	st := storetest.New(t, store.WithClock(func() time.Time { return now }))
	var recent []int64
	for m := -60; m <= 0; m++ {
		if m > -40 && m < -20 { // no iteration from -40 to -20 minutes
			continue
		}
		recent = append(recent, t0.Add(time.Duration(m)*time.Minute).Unix())
	}
	if err := st.RecordCheckIn(ctx, store.CheckIn{Time: t0.Add(time.Minute), Iteration: "it", Outcome: "ok", Recent: recent}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutPoolStatuses(ctx, []store.PoolStatus{
		{Pool: "proj-ci/long", Updated: t0.Add(time.Minute), MaxCapacity: 4, RunningCapacity: 2,
			History: []store.PoolSample{{Time: t0.Add(-time.Hour), Running: 1}, {Time: t0.Add(time.Minute), Running: 2}}},
		{Pool: "proj-ci/short", Updated: t0.Add(time.Minute), MaxCapacity: 4, RunningCapacity: 2,
			History: []store.PoolSample{{Time: t0, Running: 1}, {Time: t0.Add(time.Minute), Running: 2}}},
	}); err != nil {
		t.Fatal(err)
	}
	snap, err := statuspage.Build(ctx, st, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if o := snap.Provisioner.Outages; len(o) != 1 || !o[0].From.Equal(t0.Add(-40*time.Minute)) || !o[0].To.Equal(t0.Add(-20*time.Minute)) {
		t.Fatalf("outages %+v; want one, from -40 to -20 minutes", o)
	}
	body := get(t, &statuspage.Page{Store: st, Interval: time.Minute}, "GET", "text/html", "").Body
	if n := strings.Count(body, `class="gap outage"`); n != 1 {
		t.Errorf("%d outages drawn; want 1 (in proj-ci/long's chart only)", n)
	}
	if !strings.Contains(body, "no iterations from 09:20 to 09:40 UTC") {
		t.Errorf("the outage's title is missing")
	}
}
