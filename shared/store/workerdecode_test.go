package store

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/google/go-cmp/cmp"
)

// reflected is Worker without its hand-written decoder.
type reflected Worker

func TestWorkerDecoderMatchesReflection(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)
	full := Worker{Pool: "p/q", Key: "g/i-1", WorkerGroup: "g", WorkerID: "i-1", ProviderID: "aws", State: Running, Capacity: 2.5,
		Created: at, LastModified: at.Add(time.Second), LastChecked: at.Add(2 * time.Second), Expires: at.Add(time.Hour), TTL: 12345,
		InstanceID: "i-1", Region: "us-east-1", AvailabilityZone: "us-east-1a", InstanceType: "m5.large", ImageID: "ami-1",
		AccountID: "123456789012", PrivateIP: "10.0.0.1", Spot: true, Price: 0.031, OptionID: "opt", LaunchConfigID: "lc-1", LaunchToken: "tok",
		EC2State: "running", EC2StateTime: at.Add(3 * time.Second), LaunchTime: at.Add(4 * time.Second), RunningTime: at.Add(5 * time.Second),
		StoppingTime: at.Add(6 * time.Second), TerminatedTime: at.Add(7 * time.Second), InterruptionDeadline: at.Add(8 * time.Second),
		RebalanceTime: at.Add(9 * time.Second), RegistrationDeadline: at.Add(10 * time.Second), Registered: at.Add(11 * time.Second),
		TerminateAfter: at.Add(12 * time.Second), StopReason: "why", SecretTokenHash: []byte{1, 2}, StaticSecretHash: []byte{3}, Version: 7, LivePool: "p/q",
		RegistrationSecretHash: []byte{4}, WorkerConfigHash: "cfg", ShouldTerminate: true, TerminateReason: "over capacity", SurplusSince: at.Add(13 * time.Second),
		ChangeShard: "7", ChangedAt: 1764000000123}

	// Every field is set, so a field added to Worker without a decoder shows here.
	v := reflect.ValueOf(full)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("dynamodbav"), ",")
		if name == "-" {
			continue // not stored (Partial)
		}
		if v.Field(i).IsZero() {
			t.Errorf("the test sets no %s", f.Name)
		}
		if _, ok := workerFields[name]; !ok {
			t.Errorf("field %s (attribute %q) has no decoder", f.Name, name)
		}
	}
	for _, w := range []Worker{full, {Pool: "p", Key: "k", State: Requested, Version: 1}} {
		item, err := marshal(&w)
		if err != nil {
			t.Fatal(err)
		}
		var want reflected
		if err := attributevalue.UnmarshalMap(item, &want); err != nil {
			t.Fatal(err)
		}
		var got Worker
		if err := unmarshal(item, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(Worker(want), got); diff != "" {
			t.Errorf("hand decoder differs from attributevalue's (-reflection +hand):\n%s", diff)
		}
	}
}

// TestPartialDecodeKeepsTheProvisionersAttributes: a record decoded for the
// provisioner holds every attribute it reads, as the full decoder has them, and
// none of the others; it says it is partial.
func TestPartialDecodeKeepsTheProvisionersAttributes(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	full := Worker{Pool: "p/q", Key: "g/i-1", WorkerGroup: "g", WorkerID: "i-1", State: Running, Capacity: 2, Created: at,
		InstanceID: "i-1", Region: "us-east-1", OptionID: "opt", EC2State: "running", TerminateAfter: at.Add(time.Hour),
		ShouldTerminate: true, SurplusSince: at, Version: 3, LivePool: "p/q", ChangeShard: "3", ChangedAt: 99,
		LaunchToken: "tok", ImageID: "ami-1", SecretTokenHash: []byte{1}, WorkerConfigHash: "cfg"}
	item, err := marshal(&full)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodePartialWorker(item)
	if err != nil {
		t.Fatal(err)
	}
	want := full
	want.LaunchToken, want.ImageID, want.SecretTokenHash, want.WorkerConfigHash = "", "", nil, ""
	want.Partial = true
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("partial decode (-want +got):\n%s", diff)
	}
}
