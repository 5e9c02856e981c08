package store

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// UnmarshalDynamoDBAttributeValue decodes a worker record by hand: the provisioner
// reads every live worker of every pool on every iteration, and the reflective
// decoder spent most of an iteration's time on it. It reads what attributevalue
// writes for the struct's tags (TestWorkerDecoderMatchesReflection keeps the two
// in step) and, like it, ignores attributes it does not know.
func (w *Worker) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	m, ok := av.(*types.AttributeValueMemberM)
	if !ok {
		return fmt.Errorf("worker record: want a map, got %T", av)
	}
	*w = Worker{}
	for name, v := range m.Value {
		set, known := workerFields[name]
		if !known {
			continue
		}
		if _, null := v.(*types.AttributeValueMemberNULL); null {
			continue
		}
		if err := set(w, v); err != nil {
			return fmt.Errorf("worker record: %s: %w", name, err)
		}
	}
	return nil
}

func avString(v types.AttributeValue) (string, error) {
	s, ok := v.(*types.AttributeValueMemberS)
	if !ok {
		return "", fmt.Errorf("want a string, got %T", v)
	}
	return s.Value, nil
}

func avNumber(v types.AttributeValue) (string, error) {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return "", fmt.Errorf("want a number, got %T", v)
	}
	return n.Value, nil
}

func avTime(v types.AttributeValue) (time.Time, error) {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return time.Parse(time.RFC3339Nano, x.Value)
	case *types.AttributeValueMemberN:
		sec, err := strconv.ParseFloat(x.Value, 64)
		if err != nil {
			return time.Time{}, err
		}
		return time.Unix(0, int64(sec*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("want a time, got %T", v)
}

func strField(f func(*Worker) *string) func(*Worker, types.AttributeValue) error {
	return func(w *Worker, v types.AttributeValue) (err error) {
		*f(w), err = avString(v)
		return err
	}
}

func timeField(f func(*Worker) *time.Time) func(*Worker, types.AttributeValue) error {
	return func(w *Worker, v types.AttributeValue) (err error) {
		*f(w), err = avTime(v)
		return err
	}
}

func floatField(f func(*Worker) *float64) func(*Worker, types.AttributeValue) error {
	return func(w *Worker, v types.AttributeValue) error {
		s, err := avNumber(v)
		if err != nil {
			return err
		}
		*f(w), err = strconv.ParseFloat(s, 64)
		return err
	}
}

func intField(f func(*Worker) *int64) func(*Worker, types.AttributeValue) error {
	return func(w *Worker, v types.AttributeValue) error {
		s, err := avNumber(v)
		if err != nil {
			return err
		}
		*f(w), err = strconv.ParseInt(s, 10, 64)
		return err
	}
}

func bytesField(f func(*Worker) *[]byte) func(*Worker, types.AttributeValue) error {
	return func(w *Worker, v types.AttributeValue) error {
		b, ok := v.(*types.AttributeValueMemberB)
		if !ok {
			return fmt.Errorf("want binary, got %T", v)
		}
		*f(w) = append([]byte(nil), b.Value...)
		return nil
	}
}

// workerFields decodes each attribute of a worker record, by name.
var workerFields = map[string]func(*Worker, types.AttributeValue) error{
	"pool":        strField(func(w *Worker) *string { return &w.Pool }),
	"worker":      strField(func(w *Worker) *string { return &w.Key }),
	"workerGroup": strField(func(w *Worker) *string { return &w.WorkerGroup }),
	"workerId":    strField(func(w *Worker) *string { return &w.WorkerID }),
	"providerId":  strField(func(w *Worker) *string { return &w.ProviderID }),
	"state": func(w *Worker, v types.AttributeValue) error {
		s, err := avString(v)
		w.State = State(s)
		return err
	},
	"capacity":         floatField(func(w *Worker) *float64 { return &w.Capacity }),
	"created":          timeField(func(w *Worker) *time.Time { return &w.Created }),
	"lastModified":     timeField(func(w *Worker) *time.Time { return &w.LastModified }),
	"lastChecked":      timeField(func(w *Worker) *time.Time { return &w.LastChecked }),
	"expires":          timeField(func(w *Worker) *time.Time { return &w.Expires }),
	"ttl":              intField(func(w *Worker) *int64 { return &w.TTL }),
	"instanceId":       strField(func(w *Worker) *string { return &w.InstanceID }),
	"region":           strField(func(w *Worker) *string { return &w.Region }),
	"availabilityZone": strField(func(w *Worker) *string { return &w.AvailabilityZone }),
	"instanceType":     strField(func(w *Worker) *string { return &w.InstanceType }),
	"imageId":          strField(func(w *Worker) *string { return &w.ImageID }),
	"accountId":        strField(func(w *Worker) *string { return &w.AccountID }),
	"privateIp":        strField(func(w *Worker) *string { return &w.PrivateIP }),
	"spot": func(w *Worker, v types.AttributeValue) error {
		b, ok := v.(*types.AttributeValueMemberBOOL)
		if !ok {
			return fmt.Errorf("want a boolean, got %T", v)
		}
		w.Spot = b.Value
		return nil
	},
	"price":                floatField(func(w *Worker) *float64 { return &w.Price }),
	"optionId":             strField(func(w *Worker) *string { return &w.OptionID }),
	"launchToken":          strField(func(w *Worker) *string { return &w.LaunchToken }),
	"ec2State":             strField(func(w *Worker) *string { return &w.EC2State }),
	"ec2StateTime":         timeField(func(w *Worker) *time.Time { return &w.EC2StateTime }),
	"launchTime":           timeField(func(w *Worker) *time.Time { return &w.LaunchTime }),
	"runningTime":          timeField(func(w *Worker) *time.Time { return &w.RunningTime }),
	"stoppingTime":         timeField(func(w *Worker) *time.Time { return &w.StoppingTime }),
	"terminatedTime":       timeField(func(w *Worker) *time.Time { return &w.TerminatedTime }),
	"interruptionDeadline": timeField(func(w *Worker) *time.Time { return &w.InterruptionDeadline }),
	"rebalanceTime":        timeField(func(w *Worker) *time.Time { return &w.RebalanceTime }),
	"registrationDeadline": timeField(func(w *Worker) *time.Time { return &w.RegistrationDeadline }),
	"registered":           timeField(func(w *Worker) *time.Time { return &w.Registered }),
	"terminateAfter":       timeField(func(w *Worker) *time.Time { return &w.TerminateAfter }),
	"stopReason":           strField(func(w *Worker) *string { return &w.StopReason }),
	"secretTokenHash":      bytesField(func(w *Worker) *[]byte { return &w.SecretTokenHash }),
	"staticSecretHash":     bytesField(func(w *Worker) *[]byte { return &w.StaticSecretHash }),
	"version":              intField(func(w *Worker) *int64 { return &w.Version }),
}
