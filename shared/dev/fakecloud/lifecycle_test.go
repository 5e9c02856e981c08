package fakecloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/workerfleet/workerfleet/shared/cloud"
	"github.com/workerfleet/workerfleet/shared/dev/fakecloud"
)

// recorder is an event sink keeping every event.
type recorder struct {
	mu     sync.Mutex
	events []json.RawMessage
}

func (r *recorder) sink(_ context.Context, e json.RawMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, append(json.RawMessage(nil), e...))
}

// take returns the events since the last take.
func (r *recorder) take() []json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// decode turns an event into a map, checking and removing its id (random).
func decode(t *testing.T, e json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e, &m); err != nil {
		t.Fatalf("event %s is not JSON: %v", e, err)
	}
	id, _ := m["id"].(string)
	if !uuidPattern.MatchString(id) {
		t.Errorf("event id %q is not a version 4 UUID", id)
	}
	delete(m, "id")
	return m
}

func stateEvent(id, state string, at time.Time) map[string]any {
	return map[string]any{
		"version":     "0",
		"detail-type": "EC2 Instance State-change Notification",
		"source":      "aws.ec2",
		"account":     "123456789012",
		"time":        at.UTC().Format("2006-01-02T15:04:05Z"),
		"region":      "us-east-1",
		"resources":   []any{"arn:aws:ec2:us-east-1:123456789012:instance/" + id},
		"detail":      map[string]any{"instance-id": id, "state": state},
	}
}

func launchOne(t *testing.T, set *fakecloud.InstanceSet, change func(*cloud.LaunchRequest)) cloud.Instance {
	t.Helper()
	req := cloud.LaunchRequest{
		Region: "us-east-1", InstanceType: "m5.large", ImageID: "ami-0abc", Count: 1,
		Tags: map[string]string{cloud.TagPool: "pool-1"},
	}
	if change != nil {
		change(&req)
	}
	got, err := set.Launch(context.Background(), req)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("Launch returned %d instances, want 1", len(got))
	}
	return got[0]
}

func TestLifecycleAndEvents(t *testing.T) {
	rec := &recorder{}
	c, clock := newCloud(t, func(cfg *fakecloud.Config) {
		cfg.BootDelay = fakecloud.Duration(30 * time.Second)
		cfg.ShutdownDelay = fakecloud.Duration(20 * time.Second)
		cfg.TerminatedRetention = fakecloud.Duration(time.Hour)
	}, fakecloud.WithEventSink(rec.sink))
	set := c.InstanceSet("set-1")
	inst := launchOne(t, set, nil)
	if inst.State != cloud.StatePending {
		t.Fatalf("launched instance is %s, want pending", inst.State)
	}

	type step struct {
		advance time.Duration
		do      func()
		state   string
		events  []map[string]any
	}
	t0 := epoch
	steps := []step{
		{0, nil, cloud.StatePending, []map[string]any{stateEvent(inst.ID, "pending", t0)}},
		{29 * time.Second, nil, cloud.StatePending, nil},
		{time.Second, nil, cloud.StateRunning, []map[string]any{stateEvent(inst.ID, "running", t0.Add(30*time.Second))}},
		{10 * time.Minute, func() {
			if err := c.Shutdown(inst.ID); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		}, cloud.StateShuttingDown, []map[string]any{stateEvent(inst.ID, "shutting-down", t0.Add(30*time.Second+10*time.Minute))}},
		{19 * time.Second, nil, cloud.StateShuttingDown, nil},
		{time.Second, nil, cloud.StateTerminated, []map[string]any{stateEvent(inst.ID, "terminated", t0.Add(50*time.Second+10*time.Minute))}},
		{59 * time.Minute, nil, cloud.StateTerminated, nil},
		{time.Minute, nil, "", nil}, // retention over: no longer listed
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		if s.do != nil {
			s.do()
		}
		c.Step()
		var got []map[string]any
		for _, e := range rec.take() {
			got = append(got, decode(t, e))
		}
		if diff := cmp.Diff(got, s.events); diff != "" {
			t.Errorf("step %d: events (-got +want):\n%s", i, diff)
		}
		listed, err := set.Instances(context.Background(), "us-east-1", nil)
		if err != nil {
			t.Fatalf("step %d: Instances: %v", i, err)
		}
		gotState := ""
		if len(listed) == 1 {
			gotState = listed[0].State
		}
		if gotState != s.state || len(listed) > 1 {
			t.Errorf("step %d: listed %+v, want one instance %q (none for \"\")", i, listed, s.state)
		}
	}
	if _, ok := c.Instance(inst.ID); ok {
		t.Errorf("instance still known after its retention")
	}
	if err := c.Shutdown(inst.ID); !errors.Is(err, fakecloud.ErrNotFound) {
		t.Errorf("Shutdown(forgotten) = %v, want ErrNotFound", err)
	}
}

func TestEventsFitAWSLambdaGoTypes(t *testing.T) {
	rec := &recorder{}
	c, clock := newCloud(t, nil, fakecloud.WithEventSink(rec.sink))
	set := c.InstanceSet("set-1")
	inst := launchOne(t, set, func(r *cloud.LaunchRequest) { r.Spot = true })
	clock.Advance(time.Minute)
	c.Step()
	if err := c.Interrupt(inst.ID); err != nil {
		t.Fatalf("Interrupt: %v", err)
	}
	got := rec.take()
	if len(got) != 4 {
		t.Fatalf("got %d events, want pending, running, rebalance, warning", len(got))
	}
	for i, want := range []struct {
		detailType, resource string
		detail               map[string]string
	}{
		{"EC2 Instance State-change Notification", "arn:aws:ec2:us-east-1:123456789012:instance/" + inst.ID, map[string]string{"instance-id": inst.ID, "state": "pending"}},
		{"EC2 Instance State-change Notification", "arn:aws:ec2:us-east-1:123456789012:instance/" + inst.ID, map[string]string{"instance-id": inst.ID, "state": "running"}},
		{"EC2 Instance Rebalance Recommendation", "arn:aws:ec2:" + inst.AvailabilityZone + ":instance/" + inst.ID, map[string]string{"instance-id": inst.ID}},
		{"EC2 Spot Instance Interruption Warning", "arn:aws:ec2:" + inst.AvailabilityZone + ":instance/" + inst.ID, map[string]string{"instance-id": inst.ID, "instance-action": "terminate"}},
	} {
		var e events.CloudWatchEvent
		if err := json.Unmarshal(got[i], &e); err != nil {
			t.Fatalf("event %d into events.CloudWatchEvent: %v", i, err)
		}
		var detail map[string]string
		if err := json.Unmarshal(e.Detail, &detail); err != nil {
			t.Fatalf("event %d detail: %v", i, err)
		}
		if e.Version != "0" || e.Source != "aws.ec2" || e.AccountID != "123456789012" || e.Region != "us-east-1" ||
			e.DetailType != want.detailType || e.Time.IsZero() || len(e.Resources) != 1 || e.Resources[0] != want.resource {
			t.Errorf("event %d = %+v, want %s about %s", i, e, want.detailType, want.resource)
		}
		if diff := cmp.Diff(detail, want.detail); diff != "" {
			t.Errorf("event %d detail (-got +want):\n%s", i, diff)
		}
	}
}

func TestSpotInterruptionWarning(t *testing.T) {
	rec := &recorder{}
	c, clock := newCloud(t, nil, fakecloud.WithEventSink(rec.sink))
	set := c.InstanceSet("set-1")
	spot := launchOne(t, set, func(r *cloud.LaunchRequest) { r.Spot = true })
	onDemand := launchOne(t, set, nil)
	clock.Advance(time.Minute)
	c.Step()
	rec.take()

	if err := c.Interrupt(onDemand.ID); err == nil {
		t.Errorf("Interrupt(on-demand) = nil, want an error")
	}
	if err := c.Interrupt("i-0000000000000000"); !errors.Is(err, fakecloud.ErrNotFound) {
		t.Errorf("Interrupt(unknown) = %v, want ErrNotFound", err)
	}
	warnedAt := clock.Now()
	if err := c.Interrupt(spot.ID); err != nil {
		t.Fatalf("Interrupt: %v", err)
	}
	if err := c.Interrupt(spot.ID); err != nil {
		t.Fatalf("second Interrupt: %v", err)
	}
	var types []string
	for _, e := range rec.take() {
		m := decode(t, e)
		types = append(types, m["detail-type"].(string))
		if m["time"] != warnedAt.Format("2006-01-02T15:04:05Z") {
			t.Errorf("%s at %v, want %v", m["detail-type"], m["time"], warnedAt)
		}
	}
	if diff := cmp.Diff(types, []string{"EC2 Instance Rebalance Recommendation", "EC2 Spot Instance Interruption Warning"}); diff != "" {
		t.Errorf("events of two Interrupts (-got +want):\n%s", diff)
	}

	clock.Advance(fakecloud.SpotInterruptionNotice - time.Second)
	c.Step()
	if got, _ := c.Instance(spot.ID); got.State != cloud.StateRunning {
		t.Errorf("%v after the warning the instance is %s, want running", fakecloud.SpotInterruptionNotice-time.Second, got.State)
	}
	clock.Advance(time.Second)
	c.Step()
	if got, _ := c.Instance(spot.ID); got.State != cloud.StateShuttingDown {
		t.Errorf("%v after the warning the instance is %s, want shutting-down", fakecloud.SpotInterruptionNotice, got.State)
	}
	evs := rec.take()
	if len(evs) != 1 {
		t.Fatalf("got %d events at the interruption, want 1", len(evs))
	}
	if diff := cmp.Diff(decode(t, evs[0]), stateEvent(spot.ID, "shutting-down", warnedAt.Add(fakecloud.SpotInterruptionNotice))); diff != "" {
		t.Errorf("interruption event (-got +want):\n%s", diff)
	}
	if got, _ := c.Instance(onDemand.ID); got.State != cloud.StateRunning {
		t.Errorf("the on-demand instance is %s, want running", got.State)
	}
}

func TestRandomSpotInterruptions(t *testing.T) {
	rec := &recorder{}
	c, clock := newCloud(t, func(cfg *fakecloud.Config) { cfg.SpotInterruptionRate = 2 }, fakecloud.WithEventSink(rec.sink))
	set := c.InstanceSet("set-1")
	_, err := set.Launch(context.Background(), cloud.LaunchRequest{
		Region: "us-east-1", InstanceType: "c5.large", ImageID: "ami-1", Count: 50, Spot: true,
		Tags: map[string]string{cloud.TagPool: "spot-pool"},
	})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	onDemand := launchOne(t, set, nil)
	// Three simulated hours, a Step a minute.
	for range 180 {
		clock.Advance(time.Minute)
		c.Step()
	}
	warnings := map[string]time.Time{}
	shutdowns := map[string]time.Time{}
	for _, e := range rec.take() {
		var ev events.CloudWatchEvent
		if err := json.Unmarshal(e, &ev); err != nil {
			t.Fatal(err)
		}
		var d map[string]string
		_ = json.Unmarshal(ev.Detail, &d)
		switch {
		case ev.DetailType == "EC2 Spot Instance Interruption Warning":
			warnings[d["instance-id"]] = ev.Time
		case d["state"] == "shutting-down":
			shutdowns[d["instance-id"]] = ev.Time
		}
	}
	// At 2 per hour over (nearly) 3 hours, nearly all 50 are interrupted.
	if len(warnings) < 40 {
		t.Errorf("%d of 50 spot instances interrupted in 3 hours at 2 per hour, want at least 40", len(warnings))
	}
	if _, ok := warnings[onDemand.ID]; ok {
		t.Errorf("the on-demand instance was interrupted")
	}
	for id, at := range warnings {
		down, ok := shutdowns[id]
		if !ok && at.Before(clock.Now().Add(-fakecloud.SpotInterruptionNotice)) {
			t.Errorf("%s warned at %v never shut down", id, at)
		}
		if ok && !down.Equal(at.Add(fakecloud.SpotInterruptionNotice)) {
			t.Errorf("%s warned at %v shut down at %v, want exactly %v later", id, at, down, fakecloud.SpotInterruptionNotice)
		}
	}
	if len(shutdowns) != len(warnings) && len(shutdowns) != len(warnings)-1 {
		t.Errorf("%d shutdowns for %d warnings", len(shutdowns), len(warnings))
	}
}

func TestTerminateOnlyOwnAndRegional(t *testing.T) {
	c, clock := newCloud(t, nil)
	a, b := c.InstanceSet("set-a"), c.InstanceSet("set-b")
	mine := launchOne(t, a, nil)
	theirs := launchOne(t, b, nil)
	west := launchOne(t, a, func(r *cloud.LaunchRequest) { r.Region = "us-west-2" })
	clock.Advance(time.Minute)
	c.Step()
	c.ResetCalls()

	// Terminating in us-east-1 names an instance of another set and one of another region.
	if err := a.Terminate(context.Background(), "us-east-1", []string{mine.ID, theirs.ID, west.ID, mine.ID, ""}); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	for _, tc := range []struct {
		id, want string
	}{
		{mine.ID, cloud.StateShuttingDown},
		{theirs.ID, cloud.StateRunning},
		{west.ID, cloud.StateRunning},
	} {
		if got, _ := c.Instance(tc.id); got.State != tc.want {
			t.Errorf("%s is %s, want %s", tc.id, got.State, tc.want)
		}
	}
	if diff := cmp.Diff(c.Calls(), map[string]int{"DescribeInstances": 1, "TerminateInstances": 1}); diff != "" {
		t.Errorf("calls of one Terminate (-got +want):\n%s", diff)
	}
}

func TestCallsMirrorTheEC2Driver(t *testing.T) {
	c, _ := newCloud(t, nil)
	set := c.InstanceSet("set-1")
	ctx := context.Background()
	var ids []string
	for range 3 {
		got, err := set.Launch(ctx, cloud.LaunchRequest{Region: "us-east-1", InstanceType: "t3.micro", ImageID: "ami-1", Count: 900,
			Tags: map[string]string{cloud.TagPool: "big"}})
		if err != nil {
			t.Fatalf("Launch: %v", err)
		}
		for _, inst := range got {
			ids = append(ids, inst.ID)
		}
	}
	c.ResetCalls()
	if _, err := set.Instances(ctx, "us-east-1", map[string]string{cloud.TagPool: "big"}); err != nil {
		t.Fatal(err)
	}
	if got := c.Calls()["DescribeInstances"]; got != 3 {
		t.Errorf("listing 2700 instances counted %d DescribeInstances, want 3 pages of 1000", got)
	}
	c.ResetCalls()
	if err := set.Terminate(ctx, "us-east-1", ids); err != nil {
		t.Fatal(err)
	}
	// 2700 ids: 14 filtered describes of at most 199 ids, 3 terminates of at most 1000.
	if diff := cmp.Diff(c.Calls(), map[string]int{"DescribeInstances": 14, "TerminateInstances": 3}); diff != "" {
		t.Errorf("calls of terminating 2700 instances (-got +want):\n%s", diff)
	}
}

func TestRunSteps(t *testing.T) {
	c, clock := newCloud(t, nil)
	inst := launchOne(t, c.InstanceSet("set-1"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx, time.Millisecond)
		close(done)
	}()
	clock.Advance(time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := c.Instance(inst.ID)
		if got.State == cloud.StateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run did not step the instance to running within 10s; it is %s", got.State)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return after its context was cancelled")
	}
}

// A seed gives the same instances whatever number of price steps and events ran
// between the launches (the local stack steps the prices as the wall clock ticks,
// and events come as instances boot and stop).
func TestSeedGivesTheSameInstancesWhateverThePriceStepsAndEvents(t *testing.T) {
	launchAll := func(steps int) []string {
		c, clock := newCloud(t, func(cfg *fakecloud.Config) { cfg.PriceVolatility = 0.05 })
		set := c.InstanceSet("s")
		var ids []string
		for i := range 3 {
			for range steps * (i + 1) {
				clock.Advance(time.Minute) // boots the earlier instances: events
				c.Step()
			}
			if steps > 0 && i == 1 { // more events: the first instance stops
				first, _, _ := strings.Cut(ids[0], " ")
				if err := c.Shutdown(first); err != nil {
					t.Fatal(err)
				}
			}
			inst := launchOne(t, set, func(r *cloud.LaunchRequest) { r.ClientToken = fmt.Sprint("t", i) })
			ids = append(ids, inst.ID+" "+inst.AvailabilityZone)
		}
		return ids
	}
	still, stepped := launchAll(0), launchAll(7)
	if !reflect.DeepEqual(still, stepped) {
		t.Errorf("instances without price steps or events %v, with them %v", still, stepped)
	}
}
