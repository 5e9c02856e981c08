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

func avFloat(v types.AttributeValue) (float64, error) {
	s, err := avNumber(v)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(s, 64)
}

func avInt(v types.AttributeValue) (int64, error) {
	s, err := avNumber(v)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

// field sets the field f picks to the attribute as decode reads it.
func field[T any](decode func(types.AttributeValue) (T, error), f func(*Worker) *T) func(*Worker, types.AttributeValue) error {
	return func(w *Worker, v types.AttributeValue) (err error) {
		*f(w), err = decode(v)
		return err
	}
}

func avBytes(v types.AttributeValue) ([]byte, error) {
	b, ok := v.(*types.AttributeValueMemberB)
	if !ok {
		return nil, fmt.Errorf("want binary, got %T", v)
	}
	return append([]byte(nil), b.Value...), nil
}

func avBool(v types.AttributeValue) (bool, error) {
	b, ok := v.(*types.AttributeValueMemberBOOL)
	if !ok {
		return false, fmt.Errorf("want a boolean, got %T", v)
	}
	return b.Value, nil
}

// workerFields decodes each attribute of a worker record, by name.
var workerFields = map[string]func(*Worker, types.AttributeValue) error{
	"pool":        field(avString, func(w *Worker) *string { return &w.Pool }),
	"worker":      field(avString, func(w *Worker) *string { return &w.Key }),
	"workerGroup": field(avString, func(w *Worker) *string { return &w.WorkerGroup }),
	"workerId":    field(avString, func(w *Worker) *string { return &w.WorkerID }),
	"providerId":  field(avString, func(w *Worker) *string { return &w.ProviderID }),
	"state": func(w *Worker, v types.AttributeValue) error {
		s, err := avString(v)
		w.State = State(s)
		return err
	},
	"capacity":               field(avFloat, func(w *Worker) *float64 { return &w.Capacity }),
	"created":                field(avTime, func(w *Worker) *time.Time { return &w.Created }),
	"lastModified":           field(avTime, func(w *Worker) *time.Time { return &w.LastModified }),
	"lastChecked":            field(avTime, func(w *Worker) *time.Time { return &w.LastChecked }),
	"expires":                field(avTime, func(w *Worker) *time.Time { return &w.Expires }),
	"ttl":                    field(avInt, func(w *Worker) *int64 { return &w.TTL }),
	"instanceId":             field(avString, func(w *Worker) *string { return &w.InstanceID }),
	"region":                 field(avString, func(w *Worker) *string { return &w.Region }),
	"availabilityZone":       field(avString, func(w *Worker) *string { return &w.AvailabilityZone }),
	"instanceType":           field(avString, func(w *Worker) *string { return &w.InstanceType }),
	"imageId":                field(avString, func(w *Worker) *string { return &w.ImageID }),
	"accountId":              field(avString, func(w *Worker) *string { return &w.AccountID }),
	"privateIp":              field(avString, func(w *Worker) *string { return &w.PrivateIP }),
	"spot":                   field(avBool, func(w *Worker) *bool { return &w.Spot }),
	"price":                  field(avFloat, func(w *Worker) *float64 { return &w.Price }),
	"optionId":               field(avString, func(w *Worker) *string { return &w.OptionID }),
	"launchConfigId":         field(avString, func(w *Worker) *string { return &w.LaunchConfigID }),
	"launchToken":            field(avString, func(w *Worker) *string { return &w.LaunchToken }),
	"ec2State":               field(avString, func(w *Worker) *string { return &w.EC2State }),
	"ec2StateTime":           field(avTime, func(w *Worker) *time.Time { return &w.EC2StateTime }),
	"launchTime":             field(avTime, func(w *Worker) *time.Time { return &w.LaunchTime }),
	"runningTime":            field(avTime, func(w *Worker) *time.Time { return &w.RunningTime }),
	"stoppingTime":           field(avTime, func(w *Worker) *time.Time { return &w.StoppingTime }),
	"terminatedTime":         field(avTime, func(w *Worker) *time.Time { return &w.TerminatedTime }),
	"interruptionDeadline":   field(avTime, func(w *Worker) *time.Time { return &w.InterruptionDeadline }),
	"rebalanceTime":          field(avTime, func(w *Worker) *time.Time { return &w.RebalanceTime }),
	"registrationDeadline":   field(avTime, func(w *Worker) *time.Time { return &w.RegistrationDeadline }),
	"registered":             field(avTime, func(w *Worker) *time.Time { return &w.Registered }),
	"terminateAfter":         field(avTime, func(w *Worker) *time.Time { return &w.TerminateAfter }),
	"stopReason":             field(avString, func(w *Worker) *string { return &w.StopReason }),
	"secretTokenHash":        field(avBytes, func(w *Worker) *[]byte { return &w.SecretTokenHash }),
	"staticSecretHash":       field(avBytes, func(w *Worker) *[]byte { return &w.StaticSecretHash }),
	"registrationSecretHash": field(avBytes, func(w *Worker) *[]byte { return &w.RegistrationSecretHash }),
	"workerConfigHash":       field(avString, func(w *Worker) *string { return &w.WorkerConfigHash }),
	"shouldTerminate":        field(avBool, func(w *Worker) *bool { return &w.ShouldTerminate }),
	"terminateReason":        field(avString, func(w *Worker) *string { return &w.TerminateReason }),
	"surplusSince":           field(avTime, func(w *Worker) *time.Time { return &w.SurplusSince }),
	"version":                field(avInt, func(w *Worker) *int64 { return &w.Version }),
	"livePool":               field(avString, func(w *Worker) *string { return &w.LivePool }),
	attrChangeShard:          field(avString, func(w *Worker) *string { return &w.ChangeShard }),
	attrChangedAt:            field(avInt, func(w *Worker) *int64 { return &w.ChangedAt }),
}

// ProvisionerAttributes are the attributes of a worker record the provisioner
// reads: what LiveWorkers and ChangedWorkers decode, and what the changes index
// projects besides its keys (the template tests hold the two together). They are
// all that its updates of a record decide from (the life cycle, and
// ec2events.Apply's EC2 times); nothing the API alone needs (hashes of secrets,
// launch tokens, image, account, price) is among them.
var ProvisionerAttributes = []string{
	"pool", "worker", "workerGroup", "workerId", "providerId", "state", "capacity",
	"created", "lastModified", "lastChecked", "expires", "ttl",
	"instanceId", "region", "availabilityZone", "privateIp", "optionId", "launchConfigId",
	"ec2State", "ec2StateTime", "interruptionDeadline", "launchTime", "runningTime",
	"stoppingTime", "terminatedTime", "rebalanceTime",
	"registrationDeadline", "registered", "terminateAfter", "stopReason",
	"shouldTerminate", "terminateReason", "surplusSince", "version", "livePool",
	attrChangeShard, attrChangedAt,
}

// partialFields decodes the provisioner's attributes only.
var partialFields = func() map[string]func(*Worker, types.AttributeValue) error {
	out := make(map[string]func(*Worker, types.AttributeValue) error, len(ProvisionerAttributes))
	for _, a := range ProvisionerAttributes {
		out[a] = workerFields[a]
	}
	return out
}()

// decodePartialWorker decodes the provisioner's attributes of a worker record
// into a partial Worker.
func decodePartialWorker(m map[string]types.AttributeValue) (Worker, error) {
	w := Worker{Partial: true}
	for name, set := range partialFields {
		v, ok := m[name]
		if !ok {
			continue
		}
		if _, null := v.(*types.AttributeValueMemberNULL); null {
			continue
		}
		if err := set(&w, v); err != nil {
			return Worker{}, fmt.Errorf("worker record: %s: %w", name, err)
		}
	}
	return w, nil
}
